"""curation_keys: exact-duplicate content keys and language detection of text records, one core.

``python -m bench.curation_keys [--quick] [--runs N] [--dir DIR]``

- **Exact-duplicate keys**: the real abstracts of the fixtures (arXiv ``arxiv_oai`` and the Semantic
  Scholar paper recording, whose citing papers include Spanish, Portuguese, German, Chinese ...
  abstracts), repeated to 1,000,000 (50,000 with ``--quick``), through ``content_keys_column``
  (NFKC, casefold, whitespace collapse, BLAKE2b-128 hex). Beside it the floor: ``hashlib.blake2b`` of
  the same text's UTF-8 bytes with no normalisation (encode + hash + hex digest, the part of the work
  that no normalisation can avoid). MB/s of UTF-8 input per core (CPU time). Goal ≥ 25 MB/s.
- **Language**: a subsample of the same abstracts, 20,000 (5,000 with ``--quick``), and as many arXiv
  titles (short text: the high-accuracy models), through ``LanguageDetector.detect_many`` (default
  ``auto`` mode, single-threaded). Lingua loads its models lazily; a warm-up on each distinct text before the
  clock loads the models that kind of text needs (low-accuracy ones for abstracts, high-accuracy ones for
  titles), and its seconds are reported apart; the peak memory is that of one kind (a run over both
  holds both sets of models, ~0.5 GB; the abstracts hold both too, since one of them is shorter than
  ``LONG_TEXT_CHARS`` once cleaned: abstracts alone in ``low`` mode peak at ~0.08 GB). Records/s and MB/s per core (CPU time), and
  the process's peak memory. No stated goal.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from bench.fresh import run_rounds, standalone_main, timed
from bench.harness import BenchConfig, ResultRow, StageReport, ratio
from bench.repo_links import fixtures

NAME = "curation_keys"
RECORDS = 1_000_000
QUICK_RECORDS = 50_000
LANGUAGE_RECORDS = 20_000
QUICK_LANGUAGE_RECORDS = 5_000
GOAL_KEYS_MB_S = 25.0


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _real_texts() -> tuple[list[str], list[str]]:
    """(abstracts, titles) of the arXiv fixtures and the Semantic Scholar paper recording, deduplicated."""
    from pipelines.sources.base import ParseContext, RawDocument
    from pipelines.sources.registry import get_source

    arxiv = get_source("arxiv")
    abstracts: dict[str, None] = {}
    titles: dict[str, None] = {}
    for page in sorted((fixtures() / "arxiv_oai").iterdir()):
        try:
            for table, row in arxiv.parse(
                RawDocument(page.read_bytes(), "", page.name, "file"), ParseContext()
            ):
                if table == "papers":
                    if row.get("abstract"):
                        abstracts[str(row["abstract"])] = None
                    if row.get("title"):
                        titles[str(row["title"])] = None
        except Exception:
            continue  # the recordings include deliberately broken pages
    s2 = fixtures() / "semantic_scholar" / "s2_Paper.json.gz"
    if s2.is_file():
        paper = json.loads(gzip.decompress(s2.read_bytes()))
        for p in [paper, *paper.get("citations", []), *paper.get("references", [])]:
            if p.get("abstract") and len(p["abstract"]) >= 100:
                abstracts[str(p["abstract"])] = None
    return list(abstracts), list(titles)


def corpus(count: int, kind: str = "abstracts") -> list[str]:
    """``count`` real abstracts (or titles), repeated in order."""
    abstracts, titles = _real_texts()
    texts = abstracts if kind == "abstracts" else titles
    return [texts[i % len(texts)] for i in range(count)]


def keys(args: dict[str, Any]) -> dict[str, Any]:
    """(fresh process) ``content_keys_column`` (``mode=keys``) or raw BLAKE2b (``mode=floor``)."""
    from pipelines.curate.exact_duplicates import DIGEST_SIZE, content_keys_column

    texts = corpus(args["count"])
    n_bytes = sum(len(t.encode("utf-8")) for t in texts)
    n_ascii = sum(t.isascii() for t in texts)

    def work() -> dict[str, Any]:
        if args["mode"] == "keys":
            out = content_keys_column(texts)
        else:
            blake2b = hashlib.blake2b
            out = [blake2b(t.encode("utf-8"), digest_size=DIGEST_SIZE).hexdigest() for t in texts]
        return {"records": len(out), "distinct": len(set(out))}

    result = timed(work)
    result.update(bytes=n_bytes, ascii_records=n_ascii)
    return result


def language(args: dict[str, Any]) -> dict[str, Any]:
    """(fresh process) ``LanguageDetector().detect_many`` over ``count`` abstracts or titles."""
    from pipelines.curate.language import LanguageDetector

    texts = corpus(args["count"], args["kind"])
    n_bytes = sum(len(t.encode("utf-8")) for t in texts)
    detector = LanguageDetector()
    t0 = time.perf_counter()
    distinct = list(dict.fromkeys(texts))
    detector.detect_many(distinct)  # every distinct text once: loads every model the run needs
    warmup = time.perf_counter() - t0

    def work() -> dict[str, Any]:
        guesses = detector.detect_many(texts)
        counts = Counter(g.language if g else None for g in guesses)
        return {"records": len(texts), "languages": {str(k): v for k, v in counts.most_common(10)}}

    result = timed(work)
    result.update(bytes=n_bytes, warmup_seconds=warmup, distinct_texts=len(distinct))
    return result


def run(config: BenchConfig) -> StageReport:
    n_keys = QUICK_RECORDS if config.quick else RECORDS
    n_lang = QUICK_LANGUAGE_RECORDS if config.quick else LANGUAGE_RECORDS
    plan: dict[str, tuple[str, dict[str, Any]]] = {
        "keys": ("keys", {"count": n_keys, "mode": "keys"}),
        "keys_floor": ("keys", {"count": n_keys, "mode": "floor"}),
        "language_abstracts": ("language", {"count": n_lang, "kind": "abstracts"}),
        "language_titles": ("language", {"count": n_lang, "kind": "titles"}),
    }
    results = run_rounds("bench.curation_keys", plan, config.runs)
    return StageReport(NAME, rows(results), {"runs": results})


def _med(runs: list[dict[str, Any]], key: str = "cpu_seconds") -> float:
    return statistics.median(float(r[key]) for r in runs)


def rows(results: dict[str, list[dict[str, Any]]]) -> list[ResultRow]:
    k, f = results["keys"], results["keys_floor"]
    records, mb = k[0]["records"], k[0]["bytes"] / 1e6
    keys_mb_s, floor_mb_s = mb / _med(k), mb / _med(f)
    out = [
        ResultRow(
            f"curation_keys: exact-duplicate keys of {records:,} abstracts ({mb:,.0f} MB UTF-8, "
            f"{k[0]['ascii_records'] / records:.0%} ASCII; 1 core, CPU time)",
            f"{keys_mb_s:,.1f} MB/s ({records / _med(k):,.0f} rec/s)",
            f"{floor_mb_s:,.1f} MB/s (BLAKE2b of the UTF-8 bytes, no normalisation)",
            f"{ratio(_med(k), _med(f)):.1f}x floor",
            f"≥ {GOAL_KEYS_MB_S:.0f} MB/s",
            keys_mb_s >= GOAL_KEYS_MB_S,
        )
    ]
    for name, label in (("language_abstracts", "abstracts"), ("language_titles", "titles")):
        r = results[name]
        n, mb = r[0]["records"], r[0]["bytes"] / 1e6
        top = ", ".join(f"{lang} {count:,}" for lang, count in list(r[0]["languages"].items())[:4])
        out.append(
            ResultRow(
                f"curation_keys: language of {n:,} {label} (subsample; lingua auto mode, 1 core, CPU time; "
                f"{top}; model load {_med(r, 'warmup_seconds'):.1f} s apart)",
                f"{n / _med(r):,.0f} rec/s, {mb / _med(r):,.2f} MB/s",
                f"peak {_med(r, 'peak_rss_mb'):,.0f} MB",
            )
        )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    return standalone_main("bench.curation_keys", __doc__.split("\n")[0], run, argv, (QUICK_RECORDS, RECORDS))


if __name__ == "__main__":
    raise SystemExit(main())
