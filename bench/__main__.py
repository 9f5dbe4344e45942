"""``python -m bench [--quick] [--records N] [--dir DIR] [--only NAME] [--profile]``.

Runs every registered stage benchmark, prints one table (stage, figure, floor or peer, ratio, goal,
met?) and writes ``<bench dir>/results.json`` and ``results.md``.
"""

from __future__ import annotations

import argparse
import importlib
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import cast

from bench.corpus import default_bench_dir
from bench.harness import BenchConfig, StageReport, format_table, write_results

# Each stage benchmark is a module with NAME and run(config) -> StageReport. Later stages (end to end,
# incremental, parallelism) add their module here.
BENCHMARKS: tuple[str, ...] = (
    "bench.harvest_parse_write",
    "bench.release",
    "bench.queries",
    "bench.fulltext",
    "bench.results",
    "bench.repo_links",
    "bench.curation_keys",
    "bench.near_duplicates",
    "bench.tagging",
    "bench.resolution",
    "bench.end_to_end",
)

FULL_RECORDS = 1_000_000
QUICK_RECORDS = 20_000
FULL_RUNS = 3
QUICK_RUNS = 1


def _load(module_name: str) -> tuple[str, Callable[[BenchConfig], StageReport]]:
    module = importlib.import_module(module_name)
    return str(module.NAME), cast(Callable[[BenchConfig], StageReport], module.run)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="Benchmarks of the pipeline's stages."
    )
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_RECORDS:,} records, {QUICK_RUNS} run")
    parser.add_argument(
        "--records", type=int, help=f"corpus size (default {FULL_RECORDS:,}; quick {QUICK_RECORDS:,})"
    )
    parser.add_argument(
        "--runs", type=int, help=f"runs per measurement, median reported (default {FULL_RUNS})"
    )
    parser.add_argument(
        "--dir",
        type=Path,
        help="where corpora and results go (default $COMMONS_BENCH_DIR or /tmp/commons-bench)",
    )
    parser.add_argument("--only", action="append", metavar="NAME", help="run only this stage (repeatable)")
    parser.add_argument(
        "--profile", action="store_true", help="also profile the measured pipeline with cProfile"
    )
    args = parser.parse_args(argv)
    if args.records is not None and args.records < 1:
        parser.error("--records must be at least 1")
    if args.runs is not None and args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    config = BenchConfig(
        records=args.records or (QUICK_RECORDS if args.quick else FULL_RECORDS),
        runs=args.runs or (QUICK_RUNS if args.quick else FULL_RUNS),
        bench_dir=(args.dir or default_bench_dir()).resolve(),
        quick=args.quick,
        profile=args.profile,
    )
    stages = [_load(name) for name in BENCHMARKS]
    known = {name for name, _ in stages}
    unknown = set(args.only or ()) - known
    if unknown:
        print(
            f"bench: unknown stage(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}",
            file=sys.stderr,
        )
        return 2
    command = shlex.join(["python", "-m", "bench", *(sys.argv[1:] if argv is None else argv)])
    print(
        f"bench: {config.records:,} records, median of {config.runs} run(s), in {config.bench_dir}",
        file=sys.stderr,
    )
    started = time.perf_counter()
    reports = [run(config) for name, run in stages if not args.only or name in args.only]
    path = write_results(config, command, reports)
    print()
    print(format_table([row for report in reports for row in report.rows]))
    print()
    print(f"bench: done in {time.perf_counter() - started:,.0f} s; results in {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
