"""What every stage benchmark shares: configuration, fresh-process measurements, medians, the result table."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RESULT_PREFIX = "BENCH-RESULT "


@dataclass(frozen=True)
class BenchConfig:
    records: int
    runs: int
    bench_dir: Path
    quick: bool = False
    profile: bool = False

    @property
    def work_dir(self) -> Path:
        """Scratch space for data roots and outputs of single runs; emptied after each run."""
        return self.bench_dir / "work"


@dataclass
class Measurement:
    """One thing measured ``runs`` times, each in a fresh Python process."""

    name: str
    records: int
    runs: list[dict[str, Any]] = field(default_factory=list)

    def add(self, result: Mapping[str, Any]) -> None:
        self.runs.append(dict(result))

    @property
    def seconds(self) -> float:
        return statistics.median(r["seconds"] for r in self.runs)

    @property
    def records_per_s(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else float("inf")

    @property
    def peak_rss_mb(self) -> float:
        return statistics.median(r["peak_rss_mb"] for r in self.runs)

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "records": self.records,
            "median_seconds": self.seconds,
            "records_per_s": self.records_per_s,
            "median_peak_rss_mb": self.peak_rss_mb,
            "runs": self.runs,
        }


@dataclass(frozen=True)
class ResultRow:
    """One line of the printed table and of BENCHMARKS.md."""

    stage: str
    figure: str
    floor: str = "—"
    ratio: str = "—"
    goal: str = "—"
    met: bool | None = None  # None: no goal, or the goal applies at another size

    @property
    def met_text(self) -> str:
        return {True: "yes", False: "NO", None: "—"}[self.met]


@dataclass
class StageReport:
    """What one benchmark module returns: its table rows and its machine-readable details."""

    name: str
    rows: list[ResultRow]
    details: dict[str, Any]


def ratio(slow_seconds: float, fast_seconds: float) -> float:
    """How many times longer the measured path took than its floor or peer (1.0 = as fast)."""
    return slow_seconds / fast_seconds if fast_seconds > 0 else float("inf")


def rate(value: float) -> str:
    return f"{value:,.0f} rec/s"


def run_worker(task: str, args: Mapping[str, Any], env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Run ``python -m bench.worker TASK ARGS`` in a fresh interpreter and return its result.

    A fresh process per measurement makes the peak memory (VmHWM, read inside the child) belong to that
    measurement alone, and keeps one measurement's caches and heap from helping the next.
    """
    child_env = {**os.environ, **(env or {})}
    child_env.setdefault("COMMONS_PIPELINE_VERSION", "bench")  # no `git describe` inside a timed run
    child_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(PROJECT_ROOT), child_env.get("PYTHONPATH")) if p
    )
    proc = subprocess.run(
        [sys.executable, "-m", "bench.worker", task, json.dumps(dict(args))],
        cwd=PROJECT_ROOT,
        env=child_env,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(
            f"bench worker {task!r} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}{proc.stdout[-2000:]}"
        )
    result: dict[str, Any] = json.loads(lines[-1][len(RESULT_PREFIX) :])
    return result


def machine() -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gb: float | None = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ram_gb": ram_gb,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_avg_at_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def package_versions(names: Sequence[str]) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "absent"
    return out


HEADERS = ("stage", "figure", "floor or peer", "ratio", "goal", "met?")


def _cells(row: ResultRow) -> tuple[str, ...]:
    return (row.stage, row.figure, row.floor, row.ratio, row.goal, row.met_text)


def format_table(rows: Sequence[ResultRow]) -> str:
    cells = [HEADERS, *(_cells(r) for r in rows)]
    widths = [max(len(c[i]) for c in cells) for i in range(len(HEADERS))]
    lines = ["  ".join(c[i].ljust(widths[i]) for i in range(len(HEADERS))).rstrip() for c in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_markdown(rows: Sequence[ResultRow]) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in _cells(r)) + " |" for r in rows]
    return "\n".join(lines)


def write_results(config: BenchConfig, command: str, reports: Sequence[StageReport]) -> Path:
    """``<bench dir>/results.json`` (everything) and ``results.md`` (the table, for BENCHMARKS.md), twice."""
    rows = [row for report in reports for row in report.rows]
    payload = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "records": config.records,
        "runs": config.runs,
        "quick": config.quick,
        "machine": machine(),
        "packages": package_versions(["lxml", "pyarrow", "duckdb", "dagster"]),
        "rows": [{**asdict(r), "met": r.met} for r in rows],
        "stages": {report.name: report.details for report in reports},
    }
    config.bench_dir.mkdir(parents=True, exist_ok=True)
    text, table = json.dumps(payload, indent=2, default=str), format_markdown(rows) + "\n"
    # results.json is the latest run; results-<N>.json keeps the latest run at each size, so a quick
    # run does not overwrite the figures of a full one.
    for stem in ("results", f"results-{config.records}"):
        (config.bench_dir / f"{stem}.json").write_text(text, encoding="utf-8")
        (config.bench_dir / f"{stem}.md").write_text(table, encoding="utf-8")
    return config.bench_dir / "results.json"
