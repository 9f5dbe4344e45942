"""Near-duplicate texts (abstracts, full texts, post excerpts) by MinHash + LSH, verified by exact Jaccard.

A record's text is normalised (``normalise_for_shingles``), cut into word 5-gram shingles (``shingles``),
and signed with 128 MinHash values (rensa's ``RMinHash``; ``signatures``). Locality-sensitive hashing
(banding: 32 bands of 4 rows) turns signatures into candidate pairs; every candidate is verified against
the exact Jaccard similarity of the two shingle sets (or, with ``verify="estimated"``, against the
signatures' estimate), and the pairs at or above the threshold (0.8) become connected components
(``near_duplicate_clusters``).

Why these parameters (see ``MinHashParams``):

- **Shingles: word 5-grams** over the normalised text. Abstracts are short (about 100–300 words): word
  5-grams give about one shingle per word, so a signature costs little to compute, and two unrelated
  abstracts share almost none (stock phrases such as "in this paper we propose" are a handful of
  shingles among hundreds), so the background similarity stays near 0 and the candidate stream is
  dominated by real near duplicates. Character n-grams (e.g. 9-grams) are more tolerant of typos, but give
  about five times as many shingles per text and a much higher background similarity between unrelated
  texts on the same topic. What a near duplicate means here is a crosspost, a mirrored copy, a new version
  with light edits: those keep long runs of identical words, which is what word 5-grams detect. One edited
  word changes up to five shingles, so Jaccard 0.8 on word 5-grams is roughly "about 2–3 % of the words
  edited".
- **Threshold: Jaccard 0.8** of the shingle sets is a near duplicate.
- **Bands and rows: b = 32, r = 4** (b × r = 128). The probability that a pair at Jaccard s becomes a
  candidate is P(s) = 1 - (1 - s^r)^b (``candidate_probability``):

  ====  =========  ==========  ==========================================
  s     b=32, r=4  b=16, r=8   b=9, r=13 (datasketch's default at 0.8)
  ====  =========  ==========  ==========================================
  0.9   1.000000   0.99988     0.93
  0.8   1.000000   0.947       0.40
  0.7   0.99985    0.61        0.08
  0.6   0.988      0.24        0.012
  0.5   0.873      0.06        0.001
  0.3   0.229      0.001       0.000001
  0.1   0.0032     0.0000      0.0000
  ====  =========  ==========  ==========================================

  With 128 permutations the only splits are r ∈ {1, 2, 4, 8, ...}; r = 8 catches only 94.7 % of the pairs
  at s = 0.8, r = 4 catches them all but with probability 1 - 5e-8 and pairs at 0.7 with 0.99985. The price
  is more candidates below the threshold (about 23 % of pairs at 0.3), which the exact verification
  removes: candidates cost a set intersection each, a missed pair is lost for good.

Large buckets: a band bucket with more than ``max_bucket`` members (e.g. hundreds of exact copies of a
boilerplate text) would give m(m-1)/2 candidate pairs; such a bucket instead pairs each member with its
first member (the smallest id) only: m - 1 candidates. The cluster is still found (every member is
verified against the same first member); pairs among the other members of that bucket are not listed,
and ``NearDuplicates.stats["capped_buckets"]`` counts the buckets so handled.

Records with empty or whitespace-only text (or text with no word at all after normalisation) have no
shingles: they are reported in ``empty_ids`` and never paired.

Output is independent of the input's order: records are sorted by id first, pairs are ``(id_a, id_b)`` with
``id_a < id_b`` in sorted order, and a cluster's id is its smallest member id.
"""

from __future__ import annotations

import importlib.metadata
import itertools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

Verify = Literal["exact", "estimated"]

_NON_WORD = re.compile(r"[^\w\s]+")
_CHUNK = 10_000  # documents per rensa call: bounds the Python lists the digests come back as
_EMPTY_VALUE = np.uint32(0xFFFFFFFF)  # a signature row of a record with no shingles (never banded)
_MASK64 = (1 << 64) - 1


def candidate_probability(s: float, bands: int, rows: int) -> float:
    """Probability that a pair at Jaccard ``s`` shares at least one band: 1 - (1 - s^rows)^bands."""
    if not 0.0 <= s <= 1.0:
        raise ValueError(f"Jaccard similarity must be in [0, 1], got {s}")
    return float(1.0 - (1.0 - s**rows) ** bands)


def _rensa_version() -> str:
    try:
        return importlib.metadata.version("rensa")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - rensa is a dependency
        return "unknown"


@dataclass(frozen=True)
class MinHashParams:
    """MinHash + LSH parameters; the module docstring says why these defaults.

    - ``num_perm``: 128 MinHash values per signature (128 × uint32 = 512 bytes).
    - ``shingle_words``: word n-gram size (5). A text with fewer words has one shingle, all its words.
    - ``seed``: rensa's permutation seed; signatures are comparable only under the same seed.
    - ``threshold``: Jaccard similarity of shingle sets at or above which two texts are near duplicates.
    - ``bands`` × ``rows`` = ``num_perm``: 32 × 4, so that P(candidate | s = threshold) ≥ 0.99.
    - ``max_bucket``: band buckets above this size pair members with the first member only.
    - ``verify``: ``"exact"`` (Jaccard of the shingle sets, recomputed for candidates) or ``"estimated"``
      (share of equal signature values).
    """

    num_perm: int = 128
    shingle_words: int = 5
    seed: int = 20251124
    threshold: float = 0.8
    bands: int = 32
    rows: int = 4
    max_bucket: int = 200
    verify: Verify = "exact"

    def __post_init__(self) -> None:
        if self.bands * self.rows != self.num_perm:
            raise ValueError(
                f"bands × rows must equal num_perm: {self.bands} × {self.rows} != {self.num_perm}"
            )
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {self.threshold}")
        if self.shingle_words < 1 or self.max_bucket < 2:
            raise ValueError("shingle_words must be ≥ 1 and max_bucket ≥ 2")
        if self.verify not in ("exact", "estimated"):
            raise ValueError(f"verify must be 'exact' or 'estimated', got {self.verify!r}")

    def candidate_probability(self, s: float) -> float:
        return candidate_probability(s, self.bands, self.rows)

    def as_provenance(self) -> dict[str, Any]:
        """Every parameter, the library and its version, and the S-curve at the threshold."""
        return {
            **asdict(self),
            "shingles": f"word {self.shingle_words}-grams of NFKC-casefolded text, punctuation removed",
            "signature_bytes": self.num_perm * 4,
            "library": "rensa.RMinHash",
            "rensa_version": _rensa_version(),
            "candidate_probability_at_threshold": self.candidate_probability(self.threshold),
        }


@dataclass(frozen=True)
class NearDuplicates:
    """Verified near-duplicate pairs, their connected components, and the records with no text.

    ``pairs``: ``(id_a, id_b, jaccard, estimated)`` with ``id_a < id_b``, sorted; ``jaccard`` is the value
    the pair was accepted on: the exact Jaccard of the shingle sets when ``verification == "exact"``, the
    estimate otherwise; ``estimated`` is always the signatures' estimate.
    ``clusters``: ``(cluster_id, member_id)`` for components of two or more records, the cluster's id its
    smallest member id, sorted.
    """

    pairs: list[tuple[str, str, float, float]]
    clusters: list[tuple[str, str]]
    empty_ids: list[str]
    verification: Verify
    stats: dict[str, int] = field(default_factory=dict)


def normalise_for_shingles(text: str) -> str:
    """NFKC, casefold, punctuation (anything but letters, digits, ``_`` and space) to spaces, one space."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_NON_WORD.sub(" ", folded).split())


def _words(text: str) -> list[str]:
    return _NON_WORD.sub(" ", unicodedata.normalize("NFKC", text).casefold()).split()


def shingles(text: str, params: MinHashParams = MinHashParams()) -> list[str]:
    """Word n-grams of the normalised text, in order (repeats kept); none for a text with no words."""
    words = _words(text)
    k = params.shingle_words
    if not words:
        return []
    if len(words) <= k:
        return [" ".join(words)]
    return [" ".join(words[i : i + k]) for i in range(len(words) - k + 1)]


def shingle_set(text: str, params: MinHashParams = MinHashParams()) -> frozenset[str]:
    return frozenset(shingles(text, params))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """Exact Jaccard similarity of two shingle sets (0.0 when both are empty)."""
    if not a and not b:
        return 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


def signatures(texts: Sequence[str], params: MinHashParams = MinHashParams()) -> npt.NDArray[np.uint32]:
    """MinHash signatures, shape (len(texts), num_perm), uint32; a text with no shingles gets all 0xFFFFFFFF."""
    from rensa import RMinHash

    out = np.full((len(texts), params.num_perm), _EMPTY_VALUE, dtype=np.uint32)
    for start in range(0, len(texts), _CHUNK):
        chunk = [shingles(t, params) for t in texts[start : start + _CHUNK]]
        present = [i for i, s in enumerate(chunk) if s]
        if not present:
            continue
        matrix = RMinHash.digest_matrix_from_token_sets(
            [chunk[i] for i in present], params.num_perm, params.seed
        )
        out[start + np.asarray(present, dtype=np.int64)] = np.asarray(matrix.to_rows(), dtype=np.uint32)
    return out


def _mix64(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """splitmix64's finaliser, vectorised (uint64 arithmetic wraps)."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def band_keys(sigs: npt.NDArray[np.uint32], band: int, rows: int) -> npt.NDArray[np.uint64]:
    """One uint64 key per signature for one band: its ``rows`` values combined by a 64-bit mixing hash.

    Two signatures equal on the band have equal keys; unequal bands collide with probability ~2^-64 (and a
    collision only adds a candidate, which verification rejects).
    """
    part = sigs[:, band * rows : (band + 1) * rows].astype(np.uint64)
    key = np.full(len(sigs), np.uint64((0x9E3779B97F4A7C15 * (band + 1)) & _MASK64), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for col in range(rows):
            key = _mix64(key ^ part[:, col])
    return key


def _bucket_pairs(
    order: npt.NDArray[np.int64], starts: npt.NDArray[np.int64], sizes: npt.NDArray[np.int64], max_bucket: int
) -> tuple[list[npt.NDArray[np.int64]], int]:
    """All pairs within each bucket (rows of ``order`` from each start), or a star for buckets > max_bucket."""
    out: list[npt.NDArray[np.int64]] = []
    capped = 0
    for m in np.unique(sizes).tolist():
        group_starts = starts[sizes == m]
        if m <= max_bucket:
            members = order[group_starts[:, None] + np.arange(m)]  # (groups, m), ascending within a group
            a, b = np.triu_indices(m, 1)
            out.append(np.stack([members[:, a].ravel(), members[:, b].ravel()], axis=1))
        else:
            capped += len(group_starts)
            for s in group_starts.tolist():
                members = order[s : s + m]
                out.append(np.stack([np.full(m - 1, members[0]), members[1:]], axis=1))
    return out, capped


def candidate_pairs(
    sigs: npt.NDArray[np.uint32],
    params: MinHashParams = MinHashParams(),
    mask: npt.NDArray[np.bool_] | None = None,
) -> tuple[npt.NDArray[np.int64], dict[str, int]]:
    """LSH candidates: unique (i, j), i < j, rows of ``sigs`` equal on at least one band; and counts.

    ``mask`` selects the rows taking part (records with shingles); others are never paired.
    """
    n = len(sigs)
    index = np.arange(n, dtype=np.int64) if mask is None else np.flatnonzero(mask).astype(np.int64)
    sub = sigs[index]
    codes: list[npt.NDArray[np.int64]] = []
    capped = 0
    raw = 0
    for band in range(params.bands):
        keys = band_keys(sub, band, params.rows)
        order = np.argsort(keys, kind="stable").astype(np.int64)
        sorted_keys = keys[order]
        if len(sorted_keys) < 2:
            continue
        boundary = np.flatnonzero(sorted_keys[1:] != sorted_keys[:-1]) + 1
        starts = np.concatenate([[0], boundary]).astype(np.int64)
        sizes = np.diff(np.concatenate([starts, [len(sorted_keys)]])).astype(np.int64)
        multi = sizes >= 2
        if not multi.any():
            continue
        pairs, c = _bucket_pairs(order, starts[multi], sizes[multi], params.max_bucket)
        capped += c
        for p in pairs:
            i, j = index[p[:, 0]], index[p[:, 1]]
            lo, hi = np.minimum(i, j), np.maximum(i, j)
            codes.append(np.unique(lo * n + hi))
            raw += len(p)
    if not codes:
        return np.empty((0, 2), dtype=np.int64), {"band_pairs": 0, "candidates": 0, "capped_buckets": capped}
    unique = np.unique(np.concatenate(codes))
    result = np.stack([unique // n, unique % n], axis=1)
    return result, {"band_pairs": raw, "candidates": len(result), "capped_buckets": capped}


def estimated_jaccard(sigs: npt.NDArray[np.uint32], pairs: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """Share of equal signature values for each pair (the MinHash estimate of the Jaccard similarity)."""
    out = np.empty(len(pairs), dtype=np.float64)
    step = 100_000
    for s in range(0, len(pairs), step):
        p = pairs[s : s + step]
        out[s : s + step] = (sigs[p[:, 0]] == sigs[p[:, 1]]).mean(axis=1)
    return out


def connected_components(n: int, pairs: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Label of each of ``n`` nodes: the smallest node index of its component (min-label propagation)."""
    labels = np.arange(n, dtype=np.int64)
    if len(pairs) == 0:
        return labels
    u, v = pairs[:, 0], pairs[:, 1]
    while True:
        low = np.minimum(labels[u], labels[v])
        before = labels.copy()
        np.minimum.at(labels, u, low)
        np.minimum.at(labels, v, low)
        while True:  # pointer jumping: every node points to its label's label until stable
            jumped = labels[labels]
            if np.array_equal(jumped, labels):
                break
            labels = jumped
        if np.array_equal(before, labels):
            return labels


def verify_pairs(
    texts: Sequence[str],
    sigs: npt.NDArray[np.uint32],
    pairs: npt.NDArray[np.int64],
    params: MinHashParams = MinHashParams(),
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The candidates at or above the threshold: (pairs, accepted-on Jaccard, estimated Jaccard).

    ``exact``: shingle sets are built only for the records in some candidate pair, once each.
    """
    est = estimated_jaccard(sigs, pairs)
    if params.verify == "estimated":
        keep = est >= params.threshold
        return pairs[keep], est[keep], est[keep]
    sets: dict[int, frozenset[str]] = {}
    for i in np.unique(pairs).tolist():
        sets[i] = shingle_set(texts[i], params)
    exact = np.fromiter(
        (jaccard(sets[i], sets[j]) for i, j in pairs.tolist()), dtype=np.float64, count=len(pairs)
    )
    keep = exact >= params.threshold
    return pairs[keep], exact[keep], est[keep]


def near_duplicate_clusters(
    ids: Sequence[str], texts: Sequence[str], params: MinHashParams = MinHashParams()
) -> NearDuplicates:
    """Near-duplicate pairs and clusters of the records ``ids`` (unique) with texts ``texts``."""
    if len(ids) != len(texts):
        raise ValueError(f"{len(ids)} ids but {len(texts)} texts")
    return clusters_from_signatures(ids, texts, signatures(texts, params), params)


def clusters_from_signatures(
    ids: Sequence[str],
    texts: Sequence[str],
    sigs: npt.NDArray[np.uint32],
    params: MinHashParams = MinHashParams(),
) -> NearDuplicates:
    """``near_duplicate_clusters`` given the records' signatures (``signatures(texts, params)``, same order)."""
    if not len(ids) == len(texts) == len(sigs):
        raise ValueError(f"{len(ids)} ids, {len(texts)} texts, {len(sigs)} signatures")
    order = sorted(range(len(ids)), key=lambda k: ids[k])
    sorted_ids = [ids[k] for k in order]
    if any(a == b for a, b in itertools.pairwise(sorted_ids)):
        raise ValueError("ids must be unique")
    sorted_texts = [texts[k] for k in order]
    sigs = sigs[np.asarray(order, dtype=np.int64)] if len(order) else sigs
    has_text = ~(sigs == _EMPTY_VALUE).all(axis=1)
    # A text could in theory hash to all 0xFFFFFFFF: decide emptiness from the shingles, not the signature.
    for k in np.flatnonzero(~has_text).tolist():
        has_text[k] = bool(shingles(sorted_texts[k], params))
    empty_ids = [sorted_ids[k] for k in np.flatnonzero(~has_text).tolist()]
    cands, stats = candidate_pairs(sigs, params, has_text)
    kept, accepted, est = verify_pairs(sorted_texts, sigs, cands, params)
    labels = connected_components(len(sorted_ids), kept)
    pairs = [
        (sorted_ids[i], sorted_ids[j], float(a), float(e))
        for (i, j), a, e in zip(kept.tolist(), accepted.tolist(), est.tolist(), strict=True)
    ]
    pairs.sort()
    members = np.unique(kept) if len(kept) else np.empty(0, dtype=np.int64)
    clusters = sorted((sorted_ids[int(labels[m])], sorted_ids[int(m)]) for m in members.tolist())
    stats = {**stats, "records": len(ids), "empty": len(empty_ids), "pairs": len(pairs)}
    return NearDuplicates(pairs, clusters, empty_ids, params.verify, stats)
