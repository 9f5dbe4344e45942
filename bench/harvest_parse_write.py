"""harvest-parse-write: the arXiv harvest of a local OAI-PMH corpus, beside the machine's floor.

Measured in one run, each measurement in a fresh process, interleaved round by round so that a noisy
neighbour slows every figure of a round rather than one figure of all rounds:

- the pipeline: ``pipelines.harvest.harvest_batch`` on the corpus folder (raw store write, parse,
  staged Parquet write, fetch log), the real code path of ``commons build``;
- the floors: lxml ``iterparse`` over the same bytes with no work (every end event, elements cleared;
  and record end events only), and a raw sha256 of the same bytes;
- curation: ``build_curated_table`` of the staged papers (dedupe by key in DuckDB with one thread, sort,
  deterministic Parquet), beside a plain ``pyarrow.parquet.write_table`` of the same table.

Goals (issue 2): at least 20,000 records/s on one core, within 3x of the lxml floor, peak memory under
500 MB at 1,000,000 records.
"""

from __future__ import annotations

import io
import pstats
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from bench.corpus import Corpus, CorpusSpec, generate
from bench.harness import (
    BenchConfig,
    Measurement,
    ResultRow,
    StageReport,
    rate,
    ratio,
    run_worker,
)

NAME = "harvest-parse-write"
GOAL_RECORDS_PER_S = 20_000
GOAL_FLOOR_RATIO = 3.0
GOAL_PEAK_MB = 500
GOAL_PEAK_AT_RECORDS = 1_000_000
PROFILE_TOP = 25


def _say(message: str) -> None:
    print(f"bench[{NAME}]: {message}", file=sys.stderr, flush=True)


def warm_page_cache(corpus: Corpus) -> None:
    """Read every page once so the first measured run does not pay for the disk alone."""
    for page in corpus.page_files():
        page.read_bytes()


def _measure(measurement: Measurement, task: str, args: dict[str, Any]) -> dict[str, Any]:
    result = run_worker(task, args)
    measurement.add(result)
    _say(
        f"  {measurement.name:<22} {result['seconds']:8.2f} s  "
        f"{measurement.records / result['seconds']:>10,.0f} rec/s  peak {result['peak_rss_mb']:,.0f} MB"
    )
    return result


def _check_rows(what: str, got: int, expected: int) -> None:
    if got != expected:
        raise RuntimeError(f"{what} produced {got:,} rows from a corpus of {expected:,} records")


def run(config: BenchConfig) -> StageReport:
    corpus = generate(CorpusSpec(config.records), config.bench_dir, log=_say)
    _say(
        f"corpus {corpus.path}: {corpus.records:,} records, {corpus.pages:,} pages, {corpus.bytes / 1e6:,.0f} MB"
        + ("" if corpus.generated else " (reused)")
    )
    warm_page_cache(corpus)
    n = corpus.records
    m = {
        name: Measurement(name, n)
        for name in (
            "pipeline",
            "iterparse_all",
            "iterparse_records",
            "sha256",
            "curate",
            "parquet_write",
        )
    }
    work = config.work_dir
    work.mkdir(parents=True, exist_ok=True)
    corpus_arg = str(corpus.path)
    for round_no in range(1, config.runs + 1):
        _say(f"round {round_no}/{config.runs}")
        _measure(m["iterparse_all"], "iterparse_floor", {"corpus": corpus_arg, "mode": "all"})
        _measure(m["iterparse_records"], "iterparse_floor", {"corpus": corpus_arg, "mode": "records"})
        _measure(m["sha256"], "sha256_floor", {"corpus": corpus_arg})
        data_root = work / f"data-root-{round_no}"
        shutil.rmtree(data_root, ignore_errors=True)
        try:
            result = _measure(m["pipeline"], "pipeline", {"corpus": corpus_arg, "data_root": str(data_root)})
            _check_rows("the pipeline", result["rows"], n)
            if result["errors"]:
                raise RuntimeError(
                    f"the pipeline reported errors on the generated corpus: {result['first_errors']}"
                )
            shutil.rmtree(data_root / "raw", ignore_errors=True)  # the corpus's second copy; not needed below
            staged = result["staged_papers"]
            curated = work / f"curated-{round_no}.parquet"
            result = _measure(m["curate"], "curate", {"staged": staged, "out": str(curated)})
            _check_rows("curation", result["rows"], n)
            curated.unlink(missing_ok=True)
            plain = work / f"plain-{round_no}.parquet"
            _measure(m["parquet_write"], "parquet_floor", {"staged": staged, "out": str(plain)})
            plain.unlink(missing_ok=True)
        finally:
            shutil.rmtree(data_root, ignore_errors=True)

    details: dict[str, Any] = {
        "corpus": {"path": corpus_arg, "records": n, "pages": corpus.pages, "bytes": corpus.bytes},
        "measurements": {name: meas.summary() for name, meas in m.items()},
    }
    if config.profile:
        details["profile"] = profile(config, corpus)
    return StageReport(NAME, rows(config, m), details)


def rows(config: BenchConfig, m: dict[str, Measurement]) -> list[ResultRow]:
    pipe, floor, floor_rec, sha = m["pipeline"], m["iterparse_all"], m["iterparse_records"], m["sha256"]
    cur, plain = m["curate"], m["parquet_write"]
    floor_ratio = ratio(pipe.seconds, floor.seconds)
    at_scale = config.records >= GOAL_PEAK_AT_RECORDS
    size = f"{config.records:,} records"
    return [
        ResultRow(
            f"harvest-parse-write, throughput ({size}, 1 core)",
            rate(pipe.records_per_s),
            goal=f"≥ {GOAL_RECORDS_PER_S:,} rec/s",
            met=pipe.records_per_s >= GOAL_RECORDS_PER_S,
        ),
        ResultRow(
            "harvest-parse-write vs lxml iterparse (all end events, cleared)",
            rate(pipe.records_per_s),
            f"{rate(floor.records_per_s)}",
            f"{floor_ratio:.1f}x",
            f"≤ {GOAL_FLOOR_RATIO:g}x",
            floor_ratio <= GOAL_FLOOR_RATIO,
        ),
        ResultRow(
            "harvest-parse-write vs lxml iterparse (record events only)",
            rate(pipe.records_per_s),
            rate(floor_rec.records_per_s),
            f"{ratio(pipe.seconds, floor_rec.seconds):.1f}x",
        ),
        ResultRow(
            "harvest-parse-write vs sha256 of the same bytes",
            rate(pipe.records_per_s),
            rate(sha.records_per_s),
            f"{ratio(pipe.seconds, sha.seconds):.0f}x",
        ),
        ResultRow(
            "harvest-parse-write, peak memory (RSS high-water mark)",
            f"{pipe.peak_rss_mb:,.0f} MB",
            f"{floor.peak_rss_mb:,.0f} MB (iterparse)",
            goal=f"< {GOAL_PEAK_MB} MB at 1M records",
            met=(pipe.peak_rss_mb < GOAL_PEAK_MB) if at_scale else None,
        ),
        ResultRow(
            "curate papers (dedupe + sort + Parquet, DuckDB 1 thread)",
            rate(cur.records_per_s),
            f"{rate(plain.records_per_s)} (plain pyarrow write)",
            f"{ratio(cur.seconds, plain.seconds):.1f}x",
        ),
        ResultRow(
            "curate papers, peak memory",
            f"{cur.peak_rss_mb:,.0f} MB",
            f"{plain.peak_rss_mb:,.0f} MB (plain write, whole table in memory)",
        ),
    ]


def profile(config: BenchConfig, corpus: Corpus) -> dict[str, Any]:
    """The pipeline once under cProfile: the functions that dominate, by own time and by cumulative time."""
    data_root = config.work_dir / "data-root-profile"
    shutil.rmtree(data_root, ignore_errors=True)
    out = config.bench_dir / f"harvest-{corpus.records}.prof"
    _say(f"profiling the pipeline under cProfile ({corpus.records:,} records) -> {out}")
    started = time.perf_counter()
    try:
        result = run_worker(
            "profile_pipeline",
            {"corpus": str(corpus.path), "data_root": str(data_root), "profile_out": str(out)},
        )
    finally:
        shutil.rmtree(data_root, ignore_errors=True)
    text = io.StringIO()
    stats = pstats.Stats(str(out), stream=text)
    stats.strip_dirs().sort_stats("tottime").print_stats(PROFILE_TOP)
    stats.sort_stats("cumulative").print_stats(PROFILE_TOP)
    report = config.bench_dir / f"harvest-{corpus.records}.profile.txt"
    report.write_text(text.getvalue(), encoding="utf-8")
    print(text.getvalue())
    return {
        "prof": str(out),
        "report": str(report),
        "seconds_under_profiler": result["seconds"],
        "wall_seconds": time.perf_counter() - started,
        "records": corpus.records,
        "top_by_tottime": _top(Path(out)),
    }


def _top(path: Path, limit: int = PROFILE_TOP) -> list[dict[str, Any]]:
    stats = pstats.Stats(str(path))
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in raw.values()) or 1.0
    rows = sorted(raw.items(), key=lambda item: item[1][2], reverse=True)[:limit]
    return [
        {
            "function": f"{Path(file).name}:{line}({func})",
            "calls": entry[1],
            "tottime_s": round(entry[2], 3),
            "cumtime_s": round(entry[3], 3),
            "share_of_total": round(entry[2] / total, 3),
        }
        for (file, line, func), entry in rows
    ]
