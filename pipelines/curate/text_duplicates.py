"""The `duplicates` table: texts of the curated corpus that repeat another record's, exactly or nearly.

- **Exact** (``content_key``: NFKC, case-folded, whitespace-collapsed text under blake2b-128) for abstracts,
  bodies and single paragraphs (of at least ``MIN_PARAGRAPH_CHARS``; shorter ones are headings and
  boilerplate that repeat by nature).
- **Near** (MinHash + LSH, verified by exact Jaccard; near_duplicates.py) for abstracts and bodies: one
  record per exact cluster (its survivor) takes part, so an exact duplicate is reported once, as exact.

Nothing is dropped: each cluster keeps one survivor and every other member becomes a row naming it. The
survivor is chosen by ``survivor_rank``: a published work (neither preprint nor post) before a preprint
before a post; then the richer record (more of DOI, venue, abstract, authors, full text, OpenAlex and S2
ids); then the smaller work id. Bodies are compared on their first ``BODY_CHARS`` characters (the part that
identifies a document; MinHash over whole books would cost memory for nothing).
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.atomic import atomic_path
from pipelines.curate.combine import connect
from pipelines.curate.exact_duplicates import CONTENT_KEY_VERSION, content_key
from pipelines.curate.near_duplicates import (
    MinHashParams,
    clusters_from_signatures,
    near_duplicate_clusters,
    signatures,
)
from pipelines.snapshot.parquet import ParquetTableWriter
from schemas import table_spec

# Bump when this module changes the rows it writes for the same inputs (forces a recomputation).
DUPLICATES_VERSION = "1"
MIN_PARAGRAPH_CHARS = 100
BODY_CHARS = 50_000
BATCH_ROWS = 8192
_TYPE_RANK = {"preprint": 1, "post": 2}
DEFAULT_PARAMS = MinHashParams()
# Computes MinHash signatures of texts (``signatures``, or ``SignatureCache.sign``).
Signer = Callable[[list[str]], npt.NDArray[np.uint32]]


@dataclass(frozen=True)
class DuplicateSummary:
    rows: int
    by_field: dict[str, dict[str, int]]
    near_params: dict[str, Any]


def exact_method() -> str:
    return f"content_key v{CONTENT_KEY_VERSION} (blake2b-128 of NFKC, case-folded, whitespace-collapsed text)"


def near_method(params: MinHashParams) -> str:
    p = params.as_provenance()
    return (
        f"minhash rensa {p['rensa_version']} num_perm={params.num_perm} bands={params.bands} rows={params.rows} "
        f"word_{params.shingle_words}grams threshold={params.threshold} verify={params.verify} seed={params.seed}"
    )


def survivor_ranks(papers: Path) -> dict[str, tuple[int, int, str]]:
    """work_id -> the key that orders survivors (smallest first)."""
    if not papers.is_file():
        return {}
    con = connect()
    try:
        rows = con.sql(
            f"""
            SELECT work_id, work_type,
                (doi IS NOT NULL)::INT + (venue IS NOT NULL)::INT + (abstract IS NOT NULL)::INT
                + (len(authors) > 0)::INT + coalesce(has_full_text, false)::INT
                + (openalex_id IS NOT NULL)::INT + (s2_paper_id IS NOT NULL)::INT AS richness
            FROM read_parquet('{papers}')
            """
        ).fetchall()
    finally:
        con.close()
    return {w: (_TYPE_RANK.get(t or "", 0), -int(r or 0), w) for w, t, r in rows}


def _exact_clusters(keyed: Iterable[tuple[str, str]]) -> list[tuple[str, list[str]]]:
    by_key: dict[str, list[str]] = defaultdict(list)
    for record_id, key in keyed:
        by_key[key].append(record_id)
    return [(key, members) for key, members in by_key.items() if len(members) > 1]


def _rank_of(record_id: str, ranks: Mapping[str, tuple[int, int, str]]) -> tuple[int, int, str]:
    work_id = record_id.split("#", 1)[0]
    base = ranks.get(work_id, (0, 0, work_id))
    return (base[0], base[1], record_id)


def exact_rows(
    field: str, texts: Mapping[str, str], ranks: Mapping[str, tuple[int, int, str]]
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Rows for the exact duplicates among ``texts`` (record id -> text), and each record's survivor."""
    return exact_key_rows(field, ((rid, content_key(text)) for rid, text in texts.items()), ranks)


def exact_key_rows(
    field: str, keyed: Iterable[tuple[str, str | None]], ranks: Mapping[str, tuple[int, int, str]]
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Rows for the records of ``keyed`` (record id, content key) that share a key, and each one's survivor."""
    rows = []
    survivor_of: dict[str, str] = {}
    for key, members in _exact_clusters((rid, k) for rid, k in keyed if k):
        members.sort(key=lambda r: _rank_of(r, ranks))
        survivor = members[0]
        for member in members[1:]:
            survivor_of[member] = survivor
            rows.append(
                {
                    "record_id": member,
                    "field": field,
                    "kind": "exact",
                    "duplicate_of": survivor,
                    "similarity": 1.0,
                    "cluster_size": len(members),
                    "content_key": key,
                    "method": exact_method(),
                }
            )
    return rows, survivor_of


def near_rows(
    field: str,
    texts: Mapping[str, str],
    ranks: Mapping[str, tuple[int, int, str]],
    params: MinHashParams,
    sign: Signer | None = None,
) -> list[dict[str, Any]]:
    """Rows for the near duplicates among ``texts``: per cluster, every member but the survivor.

    ``sign``: computes the texts' MinHash signatures (default ``signatures``; ``SignatureCache.sign``
    reuses the previous run's)."""
    if len(texts) < 2:
        return []
    ids = sorted(texts)
    ordered = [texts[i] for i in ids]
    if sign is None:
        found = near_duplicate_clusters(ids, ordered, params)
    else:
        found = clusters_from_signatures(ids, ordered, sign(ordered), params)
    best: dict[tuple[str, str], float] = {}
    for a, b, jaccard, _ in found.pairs:
        best[(a, b)] = jaccard
    members_of: dict[str, list[str]] = defaultdict(list)
    for cluster_id, member in found.clusters:
        members_of[cluster_id].append(member)
    rows = []
    for members in members_of.values():
        members.sort(key=lambda r: _rank_of(r, ranks))
        survivor = members[0]
        for member in members[1:]:
            pair = (min(member, survivor), max(member, survivor))
            similarity = best.get(pair)
            if similarity is None:  # joined to the survivor through other members
                similarity = max(j for (a, b), j in best.items() if member in (a, b))
            rows.append(
                {
                    "record_id": member,
                    "field": field,
                    "kind": "near",
                    "duplicate_of": survivor,
                    "similarity": round(float(similarity), 6),
                    "cluster_size": len(members),
                    "content_key": None,
                    "method": near_method(params),
                }
            )
    return rows


def _column_texts(papers: Path, column: str) -> dict[str, str]:
    if not papers.is_file():
        return {}
    table = pq.read_table(papers, columns=["work_id", column])
    return {
        w: t
        for w, t in zip(table.column("work_id").to_pylist(), table.column(column).to_pylist(), strict=True)
        if t and t.strip()
    }


def _bodies(texts: Path) -> dict[str, str]:
    if not texts.is_file():
        return {}
    con = connect()
    try:
        rows = con.sql(
            f"""
            SELECT work_id, left(string_agg(text, ' ' ORDER BY section_index, paragraph_index), {BODY_CHARS})
            FROM read_parquet('{texts}') WHERE kind = 'paragraph' GROUP BY work_id
            """
        ).fetchall()
    finally:
        con.close()
    return {w: t for w, t in rows if t and t.strip()}


def _paragraphs(texts: Path) -> Iterator[tuple[str, str]]:
    if not texts.is_file():
        return
    file = pq.ParquetFile(texts)
    columns = ["work_id", "section_index", "paragraph_index", "kind", "text"]
    for batch in file.iter_batches(batch_size=BATCH_ROWS, columns=columns):
        for row in batch.to_pylist():
            text = row["text"]
            if row["kind"] == "paragraph" and text and len(text) >= MIN_PARAGRAPH_CHARS:
                yield f"{row['work_id']}#{row['section_index']}.{row['paragraph_index']}", text


def duplicate_rows(
    papers: Path, texts: Path, params: MinHashParams = DEFAULT_PARAMS, sign: Signer | None = None
) -> tuple[list[dict[str, Any]], dict[str, dict[str, int]]]:
    ranks = survivor_ranks(papers)
    rows: list[dict[str, Any]] = []
    counts: dict[str, dict[str, int]] = {}
    for field, records in (("abstract", _column_texts(papers, "abstract")), ("full_text", _bodies(texts))):
        exact, survivor_of = exact_rows(field, records, ranks)
        near = near_rows(
            field, {r: t for r, t in records.items() if r not in survivor_of}, ranks, params, sign
        )
        rows += exact + near
        counts[field] = {"records": len(records), "exact": len(exact), "near": len(near)}
    # Paragraph keys only: a dictionary of 16-byte keys, not of texts.
    keyed = ((rid, content_key(text)) for rid, text in _paragraphs(texts))
    paragraph_rows, _ = exact_key_rows("paragraph", keyed, ranks)
    rows += paragraph_rows
    counts["paragraph"] = {"exact": len(paragraph_rows)}
    rows.sort(key=lambda r: (r["field"], r["kind"], r["record_id"]))
    return rows, counts


def write_duplicates(
    papers: Path, texts: Path, out: Path, params: MinHashParams = DEFAULT_PARAMS, *, reuse: bool = True
) -> DuplicateSummary:
    """The `duplicates` table. With ``reuse`` (the default), MinHash signatures of texts seen by the
    previous run (``<out>.signatures.parquet``, keyed by a hash of the exact text and the parameters) are
    read back instead of computed; the table is the same either way."""
    cache = SignatureCache(signatures_path(out), params, reuse)
    rows, counts = duplicate_rows(papers, texts, params, cache.sign)
    spec = table_spec("duplicates")
    with ParquetTableWriter(out, spec) as writer:
        for start in range(0, len(rows), BATCH_ROWS):
            writer.add_batch(pa.RecordBatch.from_pylist(rows[start : start + BATCH_ROWS], schema=spec.schema))
    cache.save()
    return DuplicateSummary(len(rows), counts, params.as_provenance())


def duplicates_version(params: MinHashParams = DEFAULT_PARAMS) -> str:
    """What the `duplicates` table depends on besides its inputs: this module's rules and parameters."""
    settings = json.dumps(
        {
            "content_key": CONTENT_KEY_VERSION,
            "min_paragraph_chars": MIN_PARAGRAPH_CHARS,
            "body_chars": BODY_CHARS,
            "minhash": params.as_provenance(),
        },
        sort_keys=True,
        default=str,
    )
    return f"{DUPLICATES_VERSION}+{hashlib.blake2b(settings.encode(), digest_size=8).hexdigest()}"


SIGNATURES_SUFFIX = ".signatures.parquet"


def signatures_path(out: Path) -> Path:
    return out.with_name(out.name + SIGNATURES_SUFFIX)


def _text_hash(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class SignatureCache:
    """MinHash signatures by exact text (BLAKE2b-128), for one set of parameters, kept between runs.

    ``sign(texts)`` returns what ``signatures(texts, params)`` would, computing only the texts not in the
    previous run's file; ``save()`` writes the signatures of every text signed in this run (so texts that
    left the corpus leave the file). Signatures are per text, independent of the other texts.
    """

    def __init__(self, path: Path, params: MinHashParams, reuse: bool = True) -> None:
        self.path = path
        self.params = params
        self.version = duplicates_version(params)
        self.computed = 0
        self.reused = 0
        self._old: dict[bytes, int] = {}
        self._old_sigs = np.empty((0, params.num_perm), dtype=np.uint32)
        self._keys: list[bytes] = []
        self._sigs: list[npt.NDArray[np.uint32]] = []
        if reuse and path.is_file():
            try:
                table = pq.read_table(path)
                meta = table.schema.metadata or {}
                if meta.get(b"version", b"").decode() == self.version and table.num_rows:
                    keys = table.column("key").combine_chunks()
                    sigs = table.column("signature").combine_chunks()
                    width = params.num_perm * 4
                    raw = np.frombuffer(sigs.buffers()[1], dtype=np.uint8)
                    start = sigs.offset * width
                    self._old_sigs = (
                        raw[start : start + len(sigs) * width].view(np.uint32).reshape(len(sigs), -1)
                    )
                    self._old = {k: i for i, k in enumerate(keys.to_pylist())}
            except (OSError, ValueError, KeyError, pa.ArrowException):
                self._old = {}

    def sign(self, texts: list[str]) -> npt.NDArray[np.uint32]:
        keys = [_text_hash(t) for t in texts]
        out = np.empty((len(texts), self.params.num_perm), dtype=np.uint32)
        hit = [i for i, k in enumerate(keys) if k in self._old]
        miss = [i for i, k in enumerate(keys) if k not in self._old]
        if hit:
            out[np.asarray(hit, dtype=np.int64)] = self._old_sigs[
                np.asarray([self._old[keys[i]] for i in hit], dtype=np.int64)
            ]
        if miss:
            out[np.asarray(miss, dtype=np.int64)] = signatures([texts[i] for i in miss], self.params)
        self.reused += len(hit)
        self.computed += len(miss)
        self._keys.extend(keys)
        self._sigs.append(out)
        return out

    def save(self) -> None:
        seen: dict[bytes, int] = {}
        for i, k in enumerate(self._keys):
            seen.setdefault(k, i)
        order = sorted(seen)
        allsigs = np.concatenate(self._sigs) if self._sigs else self._old_sigs[:0]
        picked = allsigs[np.asarray([seen[k] for k in order], dtype=np.int64)] if order else allsigs[:0]
        width = self.params.num_perm * 4
        signature = pa.FixedSizeBinaryArray.from_buffers(
            pa.binary(width), len(order), [None, pa.py_buffer(np.ascontiguousarray(picked).tobytes())]
        )
        table = pa.table(
            {"key": pa.array(order, type=pa.binary(16)), "signature": signature},
            metadata={"version": self.version},
        )
        with atomic_path(self.path) as tmp:
            pq.write_table(table, tmp, compression="none")
