"""tagging: safety tagging of abstracts (taxonomy phrases through spaCy's tokenizer and PhraseMatcher).

``python -m bench.tagging [--quick] [--runs N] [--dir DIR]``

- **Tagging**: the abstracts of the arXiv fixtures (``arxiv_oai``) and the titles and summaries of the
  Alignment Forum post index (``alignment_forum``), repeated to ``ABSTRACTS`` texts (``QUICK_ABSTRACTS`` with
  ``--quick``), through ``SafetyTagger.tag_many`` (one field per record, batches of 256): MB/s of UTF-8 text
  on one core (CPU time), and tags found.
- **Floor**: spaCy's tokenizer alone over the same texts (``nlp.tokenizer.pipe``, the same tokenizer the
  tagger uses): tagging cannot be faster than tokenising.
- **Peer**: a plain keyword scan, ``str.lower()`` then ``phrase in text`` for every taxonomy phrase: no
  tokens, no word boundaries, no offsets (so "interp" is found inside "interpolation").

Goal (issue "Curation ... tagging"): tagging at ≥ 1 MB/s per core. The full run tags 200,000 texts (not
1,000,000: at the measured rate a million take several minutes per run and per measurement, and the rate
does not depend on the count); the row says how many.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.corpus import DEFAULT_FIXTURES
from bench.fresh import run_rounds, standalone_main, timed
from bench.harness import BenchConfig, ResultRow, StageReport, ratio

NAME = "tagging"
ABSTRACTS = 200_000
QUICK_ABSTRACTS = 50_000
GOAL_MB_PER_S = 1.0


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def fixtures() -> Path:
    return Path(os.environ.get("COMMONS_FIXTURES", DEFAULT_FIXTURES))


def base_texts() -> list[str]:
    """Every distinct real abstract (arXiv) and title + summary (Alignment Forum) in the fixtures."""
    from pipelines.sources.base import ParseContext, RawDocument
    from pipelines.sources.registry import get_source

    arxiv = get_source("arxiv")
    texts: dict[str, None] = {}
    for page in sorted((fixtures() / "arxiv_oai").iterdir()):
        try:
            for table, row in arxiv.parse(
                RawDocument(page.read_bytes(), "", page.name, "file"), ParseContext()
            ):
                if table == "papers" and row.get("abstract"):
                    texts[row["abstract"]] = None
        except Exception:
            continue  # the recordings include deliberately broken pages
    with gzip.open(fixtures() / "alignment_forum" / "alignment-forum-posts.csv.gz") as raw:
        for row in csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8")):
            text = f"{row['title']}. {row['summary']}".strip()
            if len(text) > 40:
                texts[text] = None
    return list(texts)


def texts(count: int) -> list[str]:
    base = base_texts()
    return [base[i % len(base)] for i in range(count)]


def scan(args: dict[str, Any]) -> dict[str, Any]:
    """(fresh process) ``mode``: ``tagger`` (SafetyTagger.tag_many), ``tokenizer`` (the floor), ``keywords``."""
    from pipelines.curate.tagging import SafetyTagger

    corpus = texts(args["count"])
    tagger = SafetyTagger()
    size = sum(len(t.encode("utf-8")) for t in corpus)
    phrases = sorted({p.lower() for e in tagger.taxonomy.entries for p in e.phrases})
    mode = args["mode"]

    def work() -> dict[str, Any]:
        found = 0
        if mode == "tagger":
            records = ((str(i), {"abstract": t}) for i, t in enumerate(corpus))
            for _ in tagger.tag_many(records, batch_size=256):
                found += 1
        elif mode == "tokenizer":
            for doc in tagger.tokenizer.pipe(corpus, batch_size=256):
                found += len(doc)
        else:
            for text in corpus:
                low = text.lower()
                found += sum(1 for p in phrases if p in low)
        return {"documents": len(corpus), "bytes": size, "found": found, "distinct": len(set(corpus))}

    return timed(work)


def run(config: BenchConfig) -> StageReport:
    count = QUICK_ABSTRACTS if config.quick else ABSTRACTS
    plan = {mode: ("scan", {"count": count, "mode": mode}) for mode in ("tagger", "tokenizer", "keywords")}
    results = run_rounds("bench.tagging", plan, config.runs)
    return StageReport(NAME, rows(results), {"runs": results})


def _med(runs: list[dict[str, Any]], key: str = "cpu_seconds") -> float:
    return statistics.median(float(r[key]) for r in runs)


def _mb_per_s(runs: list[dict[str, Any]]) -> float:
    seconds = _med(runs)
    return runs[0]["bytes"] / 1e6 / seconds if seconds > 0 else float("inf")


def rows(results: dict[str, list[dict[str, Any]]]) -> list[ResultRow]:
    tagger, floor, keywords = results["tagger"], results["tokenizer"], results["keywords"]
    first = tagger[0]
    rate = _mb_per_s(tagger)
    return [
        ResultRow(
            f"tagging: abstracts tagged ({first['documents']:,} texts, {first['bytes'] / 1e6:,.0f} MB from "
            f"{first['distinct']:,} real ones; 1 core, CPU time; {first['found']:,} tags)",
            f"{rate:,.2f} MB/s ({first['documents'] / _med(tagger):,.0f} texts/s)",
            f"{_mb_per_s(floor):,.2f} MB/s (spaCy tokenizer alone)",
            f"{ratio(_med(tagger), _med(floor)):.1f}x floor",
            f"≥ {GOAL_MB_PER_S:g} MB/s per core",
            rate >= GOAL_MB_PER_S,
        ),
        ResultRow(
            "tagging: keyword scan peer (str.lower() + `in` per taxonomy phrase; no offsets or word "
            f"boundaries; {keywords[0]['found']:,} hits)",
            f"{_mb_per_s(keywords):,.2f} MB/s",
            f"{_mb_per_s(tagger):,.2f} MB/s (tagger)",
            f"{ratio(_med(keywords), _med(tagger)):.1f}x tagger",
        ),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    return standalone_main(
        "bench.tagging", (__doc__ or "").split("\n")[0], run, argv, (QUICK_ABSTRACTS, ABSTRACTS)
    )


if __name__ == "__main__":
    raise SystemExit(main())
