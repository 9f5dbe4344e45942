"""Real texts from the fixtures, and sets of them with planted near-duplicate pairs of known Jaccard.

Shared by ``tests/test_near_duplicates.py`` and ``bench/near_duplicates.py``. A planted pair is a real text
and a copy of it that is either

- ``exact``: the same text (a mirrored copy),
- ``reformatted``: the same words with other whitespace (newlines, tabs, runs of spaces, no-break spaces)
  and other letter case (a crosspost re-typeset): Jaccard 1.0 after normalisation,
- ``0.5-0.6`` … ``0.9-1.0``: the text edited word by word (a word deleted, replaced by a word of another
  text, or inserted) until the exact Jaccard of the two shingle sets lands in the band [lo, hi).

Everything is deterministic under the seed.
"""

from __future__ import annotations

import csv
import gzip
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pipelines.curate.near_duplicates import MinHashParams, jaccard, shingle_set, shingles

BANDS: tuple[tuple[float, float], ...] = ((0.5, 0.6), (0.6, 0.7), (0.7, 0.8), (0.8, 0.9), (0.9, 1.0))
DEFAULT_PARAMS = MinHashParams()
KINDS: tuple[str, ...] = ("exact", "reformatted", *(f"{lo:.1f}-{hi:.1f}" for lo, hi in BANDS))


@dataclass(frozen=True)
class PlantedPair:
    id_a: str  # the original (smaller id)
    id_b: str  # the planted copy
    kind: str  # one of KINDS
    jaccard: float  # exact Jaccard of the shingle sets


@dataclass(frozen=True)
class PlantedSet:
    ids: list[str]
    texts: list[str]
    pairs: list[PlantedPair]


def arxiv_abstracts(fixtures: Path) -> list[str]:
    """Abstracts of the arXiv OAI fixture pages, in file order, first occurrence only; broken pages skipped."""
    from pipelines.sources.base import ParseContext, RawDocument
    from pipelines.sources.registry import get_source

    arxiv = get_source("arxiv")
    seen: set[str] = set()
    out: list[str] = []
    for page in sorted((fixtures / "arxiv_oai").iterdir()):
        try:
            for table, row in arxiv.parse(
                RawDocument(page.read_bytes(), "", page.name, "file"), ParseContext()
            ):
                text = row.get("abstract") if table == "papers" else None
                if isinstance(text, str) and text.strip() and text not in seen:
                    seen.add(text)
                    out.append(text)
        except Exception:
            continue  # the recordings include deliberately broken pages
    return out


def fulltext_paragraphs(fixtures: Path) -> list[str]:
    """Paragraphs of the GROBID TEI fixtures (files that fail to parse skipped), first occurrence only."""
    from pipelines.parse.grobid_tei import parse_tei
    from pipelines.sources.base import ParseContext, ParseError

    seen: set[str] = set()
    out: list[str] = []
    for path in sorted((fixtures / "grobid_tei").iterdir()):
        try:
            rows = list(parse_tei(path.read_bytes(), ParseContext(), path.name, raw_sha256="0" * 64))
        except ParseError:
            continue
        for table, row in rows:
            text = row.get("text") if table == "paper_texts" else None
            if isinstance(text, str) and text.strip() and text not in seen:
                seen.add(text)
                out.append(text)
    return out


def alignment_forum_summaries(fixtures: Path) -> list[str]:
    """The ``summary`` (post excerpt) column of the Alignment Forum post index, first occurrence only."""
    path = fixtures / "alignment_forum" / "alignment-forum-posts.csv.gz"
    seen: set[str] = set()
    out: list[str] = []
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            text = row.get("summary") or ""
            if text.strip() and text not in seen:
                seen.add(text)
                out.append(text)
    return out


def distinct_texts(
    texts: Sequence[str], min_words: int = 60, params: MinHashParams = DEFAULT_PARAMS
) -> list[str]:
    """Texts of at least ``min_words`` normalised words, one per distinct shingle set, in input order."""
    seen: set[frozenset[str]] = set()
    out: list[str] = []
    for text in texts:
        sh = shingles(text, params)
        if len(sh) + params.shingle_words - 1 < min_words:
            continue
        key = frozenset(sh)
        if key not in seen:
            seen.add(key)
            out.append(text)
    return out


def reformat(text: str, rng: random.Random) -> str:
    """Same words, other whitespace and letter case."""
    out: list[str] = []
    for word in text.split():
        roll = rng.random()
        word = (
            word.upper()
            if roll < 0.15
            else word.lower()
            if roll < 0.3
            else word.title()
            if roll < 0.4
            else word
        )
        out.append(word)
        out.append(rng.choice([" ", " ", " ", "  ", "\n", "\t", "\u00a0", " \n  "]))
    return rng.choice(["", "\n", "  "]) + "".join(out)


def edit_to_band(
    text: str,
    lo: float,
    hi: float,
    rng: random.Random,
    vocabulary: Sequence[str],
    params: MinHashParams = DEFAULT_PARAMS,
    attempts: int = 50,
) -> tuple[str, float] | None:
    """A copy of ``text`` edited word by word until its exact shingle Jaccard with ``text`` is in [lo, hi)."""
    original = shingle_set(text, params)
    if not original:
        return None
    for _ in range(attempts):
        words = text.split()
        for _step in range(10 * len(words)):
            roll = rng.random()
            pos = rng.randrange(len(words))
            if roll < 0.4 and len(words) > params.shingle_words + 1:
                del words[pos]
            elif roll < 0.8:
                replacement = rng.choice(vocabulary)
                if replacement.casefold() == words[pos].casefold():
                    continue
                words[pos] = replacement
            else:
                words.insert(pos, rng.choice(vocabulary))
            copy = " ".join(words)
            j = jaccard(original, shingle_set(copy, params))
            if j < lo:
                break  # overshot the band: start again from the original
            if j < hi:
                return copy, j
    return None


def plant(
    base_texts: Sequence[str],
    per_kind: int,
    seed: int = 20251124,
    params: MinHashParams = DEFAULT_PARAMS,
    prefix: str = "doc",
) -> PlantedSet:
    """Every base text as a record, and ``per_kind`` planted copies of each kind, each from its own base text.

    Base texts should be distinct (``distinct_texts``); those without a copy are the unrelated background.
    Record ids are ``{prefix}-NNNNNN`` for base texts and ``{prefix}-NNNNNN-{kind}`` for their copies.
    """
    rng = random.Random(seed)
    vocabulary = sorted({w for t in base_texts[: min(len(base_texts), 2000)] for w in t.split()})
    width = max(6, len(str(len(base_texts))))
    ids = [f"{prefix}-{i:0{width}d}" for i in range(len(base_texts))]
    texts = list(base_texts)
    pairs: list[PlantedPair] = []
    order = list(range(len(base_texts)))
    rng.shuffle(order)
    next_base = iter(order)
    for kind in KINDS:
        made = 0
        while made < per_kind:
            try:
                k = next(next_base)
            except StopIteration:
                raise ValueError(
                    f"not enough base texts for {per_kind} planted copies of each kind"
                ) from None
            base = base_texts[k]
            if kind == "exact":
                copy, j = base, 1.0
            elif kind == "reformatted":
                copy = reformat(base, rng)
                j = jaccard(shingle_set(base, params), shingle_set(copy, params))
            else:
                lo, hi = (float(x) for x in kind.split("-"))
                edited = edit_to_band(base, lo, hi, rng, vocabulary, params)
                if edited is None:
                    continue
                copy, j = edited
            copy_id = f"{ids[k]}-{kind}"
            ids.append(copy_id)
            texts.append(copy)
            pairs.append(PlantedPair(ids[k], copy_id, kind, j))
            made += 1
    return PlantedSet(ids, texts, pairs)


def band_of(j: float) -> str:
    """The KINDS band a Jaccard value falls in ("<0.5" below the lowest band, "1.0" for identical sets)."""
    if j >= 1.0:
        return "1.0"
    for lo, hi in BANDS:
        if lo <= j < hi:
            return f"{lo:.1f}-{hi:.1f}"
    return "<0.5"
