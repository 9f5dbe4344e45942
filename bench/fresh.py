"""Run one function of a benchmark module in a fresh Python process, and run a benchmark module on its own.

``run_fresh("bench.release:diff", {...})`` starts ``python -m bench.fresh bench.release:diff '{...}'``: the
child imports the module, calls the function with the arguments and prints its result (a JSON object) as
one line prefixed ``BENCH-RESULT``, as ``bench.worker`` does for the harness's own tasks. A fresh process
per measurement makes the peak memory (VmHWM, read in the child) that measurement's alone. Functions time
their own work with ``timed`` so that imports and setup stay outside the clock.

``standalone_main`` is what ``python -m bench.release [--quick]`` (and the other stage modules) run: the
harness's options, one stage, its table printed, and ``results-<stage>.json``/``.md`` plus
``results-<stage>-<N>.json``/``.md`` written in the bench folder, beside the harness's ``results.json``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from bench.corpus import default_bench_dir
from bench.harness import (
    PROJECT_ROOT,
    RESULT_PREFIX,
    BenchConfig,
    StageReport,
    format_markdown,
    format_table,
    machine,
    package_versions,
)
from bench.worker import peak_rss_mb, rss_mb

FULL_RECORDS = 1_000_000
QUICK_RECORDS = 20_000
FULL_RUNS = 3
QUICK_RUNS = 1


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def timed(work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run ``work`` once: wall and CPU seconds, this process's peak RSS, and what ``work`` returned."""
    rss_before = rss_mb()
    cpu0, t0 = _cpu_seconds(), time.perf_counter()
    details = work()
    seconds, cpu = time.perf_counter() - t0, _cpu_seconds() - cpu0
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "peak_rss_mb": peak_rss_mb(),
        "rss_before_mb": rss_before,
        **details,
    }


def run_fresh(target: str, args: Mapping[str, Any], env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``module:function`` called with ``args`` in a new interpreter; its JSON result."""
    child_env = {**os.environ, **(env or {})}
    child_env.setdefault("COMMONS_PIPELINE_VERSION", "bench")  # no `git describe` inside a timed run
    child_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(PROJECT_ROOT), child_env.get("PYTHONPATH")) if p
    )
    proc = subprocess.run(
        [sys.executable, "-m", "bench.fresh", target, json.dumps(dict(args))],
        cwd=PROJECT_ROOT,
        env=child_env,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(
            f"bench task {target!r} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}{proc.stdout[-2000:]}"
        )
    result: dict[str, Any] = json.loads(lines[-1][len(RESULT_PREFIX) :])
    return result


def _call(target: str, args: dict[str, Any]) -> dict[str, Any]:
    module_name, _, function = target.partition(":")
    if not module_name.startswith("bench.") or not function:
        raise SystemExit(f"usage: python -m bench.fresh bench.MODULE:FUNCTION JSON_ARGS (got {target!r})")
    func = cast(
        Callable[[dict[str, Any]], dict[str, Any]], getattr(importlib.import_module(module_name), function)
    )
    return func(args)


def parse_args(prog: str, description: str, argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=prog, description=description)
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
    args = parser.parse_args(argv)
    if args.records is not None and args.records < 1:
        parser.error("--records must be at least 1")
    if args.runs is not None and args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def config_from(args: argparse.Namespace, sizes: tuple[int, int] | None = None) -> BenchConfig:
    quick_records, full_records = sizes or (QUICK_RECORDS, FULL_RECORDS)
    return BenchConfig(
        records=args.records or (quick_records if args.quick else full_records),
        runs=args.runs or (QUICK_RUNS if args.quick else FULL_RUNS),
        bench_dir=(args.dir or default_bench_dir()).resolve(),
        quick=args.quick,
    )


def write_stage_results(config: BenchConfig, command: str, report: StageReport, seconds: float) -> Path:
    """``results-<stage>.json``/``.md`` (latest run) and ``results-<stage>-<N>.json``/``.md`` (latest at N)."""
    payload = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "records": config.records,
        "runs": config.runs,
        "quick": config.quick,
        "wall_seconds": seconds,
        "machine": machine(),
        "packages": package_versions(["lxml", "pyarrow", "duckdb", "numpy", "pypdfium2", "hf-xet"]),
        "rows": [{**asdict(r), "met": r.met} for r in report.rows],
        "stages": {report.name: report.details},
    }
    config.bench_dir.mkdir(parents=True, exist_ok=True)
    text, table = json.dumps(payload, indent=2, default=str), format_markdown(report.rows) + "\n"
    for stem in (f"results-{report.name}", f"results-{report.name}-{config.records}"):
        (config.bench_dir / f"{stem}.json").write_text(text, encoding="utf-8")
        (config.bench_dir / f"{stem}.md").write_text(table, encoding="utf-8")
    return config.bench_dir / f"results-{report.name}-{config.records}.json"


def standalone_main(
    module: str,
    description: str,
    run: Callable[[BenchConfig], StageReport],
    argv: Sequence[str] | None,
    sizes: tuple[int, int] | None = None,
) -> int:
    """``python -m <module> [--quick] [--records N] [--runs N] [--dir DIR]``: one stage, its table, its files.

    ``sizes``: the (quick, full) number of records when the stage counts something else than the corpus's.
    """
    args = parse_args(f"python -m {module}", description, argv)
    config = config_from(args, sizes)
    command = shlex.join(["python", "-m", module, *(sys.argv[1:] if argv is None else argv)])
    print(
        f"{module}: {config.records:,} records, median of {config.runs} run(s), in {config.bench_dir}",
        file=sys.stderr,
    )
    started = time.perf_counter()
    report = run(config)
    seconds = time.perf_counter() - started
    path = write_stage_results(config, command, report, seconds)
    print()
    print(format_table(report.rows))
    print()
    print(f"{module}: done in {seconds:,.0f} s; results in {path}")
    return 0


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m bench.fresh bench.MODULE:FUNCTION JSON_ARGS", file=sys.stderr)
        return 2
    result = _call(argv[0], json.loads(argv[1]))
    print(RESULT_PREFIX + json.dumps(result, default=str), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))


def run_rounds(
    module: str,
    plan: Mapping[str, tuple[str, Mapping[str, Any]]],
    runs: int,
    describe: Callable[[dict[str, Any]], str] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Each measurement of ``plan`` (name -> (task in ``module``, args)) in a fresh process, ``runs``
    rounds of all of them in turn (so a noisy moment hits every measurement alike); results by name.
    Progress goes to stderr: the time, CPU time and peak memory, then ``describe(result)`` if given."""
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in plan}
    width = max((len(name) for name in plan), default=0) + 2
    for round_no in range(1, runs + 1):
        print(f"round {round_no}/{runs}", file=sys.stderr, flush=True)
        for name, (task, args) in plan.items():
            result = run_fresh(f"{module}:{task}", args)
            results[name].append(result)
            cpu = f"  cpu {result['cpu_seconds']:8.3f} s" if "cpu_seconds" in result else ""
            extra = f"  {describe(result)}" if describe else ""
            print(
                f"  {name:<{width}}{result['seconds']:8.3f} s{cpu}  peak {result['peak_rss_mb']:,.0f} MB{extra}",
                file=sys.stderr,
                flush=True,
            )
    return results
