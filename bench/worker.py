"""One measurement in a fresh process: ``python -m bench.worker TASK '{"arg": ...}'``.

Imports and setup happen before the clock starts; the result (seconds, CPU seconds, peak RSS of this
process, task details) is printed as one JSON line prefixed ``BENCH-RESULT``. Peak RSS is the process's
high-water mark (VmHWM), so it includes the interpreter and imported libraries, as a real run would.
"""

from __future__ import annotations

import cProfile
import hashlib
import io
import json
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.harness import RESULT_PREFIX

Task = Callable[[dict[str, Any]], dict[str, Any]]


def _status_kb(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def peak_rss_mb() -> float:
    hwm = _status_kb("VmHWM")
    if hwm is None:  # not Linux: ru_maxrss is in kilobytes on Linux, bytes on macOS
        hwm = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // (1024 if sys.platform == "darwin" else 1)
    return hwm / 1024


def rss_mb() -> float:
    now = _status_kb("VmRSS")
    return (now or 0) / 1024


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _pages(corpus: str) -> list[Path]:
    return sorted(Path(corpus).glob("page-*.xml"))


def iterparse_floor(args: dict[str, Any]) -> dict[str, Any]:
    """The same bytes through lxml's iterparse with no work: read each page, visit every end event.

    ``mode="all"``: every element's end event, each element cleared (the plain path of the issue).
    ``mode="records"``: only ``record`` end events (lxml filters in C), each record freed with its
    earlier siblings, as a streaming parser that does nothing with its records would.
    """
    from lxml import etree

    pages = _pages(args["corpus"])
    records_only = args.get("mode") == "records"

    def work() -> dict[str, Any]:
        events = 0
        for page in pages:
            data = page.read_bytes()
            if records_only:
                for _, elem in etree.iterparse(io.BytesIO(data), events=("end",), tag="{*}record"):
                    events += 1
                    elem.clear()
                    parent = elem.getparent()
                    while parent is not None and elem.getprevious() is not None:
                        del parent[0]
            else:
                for _, elem in etree.iterparse(io.BytesIO(data), events=("end",)):
                    events += 1
                    elem.clear()
        return {"events": events, "pages": len(pages)}

    return _timed(work)


def sha256_floor(args: dict[str, Any]) -> dict[str, Any]:
    """The same bytes read and hashed: what any pass over the corpus costs at least."""
    pages = _pages(args["corpus"])

    def work() -> dict[str, Any]:
        total = 0
        for page in pages:
            data = page.read_bytes()
            hashlib.sha256(data).hexdigest()
            total += len(data)
        return {"bytes": total}

    return _timed(work)


def _harvest(args: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    from pipelines.harvest import harvest_batch
    from pipelines.settings import DataRoot, pipeline_version
    from pipelines.sources.base import BatchSpec
    from pipelines.sources.registry import get_source

    pipeline_version()  # cached for the process
    source = get_source("arxiv")
    batch = BatchSpec(
        source="arxiv", kind="local", key="bench", paths=(args["corpus"],), options={"claim": "all"}
    )
    root = DataRoot(Path(args["data_root"]))

    def work() -> dict[str, Any]:
        summary = harvest_batch(source, batch, root)
        return {
            "documents": summary.documents,
            "rows": summary.rows.get("papers", 0),
            "errors": len(summary.errors),
            "first_errors": summary.errors[:3],
            "staged_papers": str(summary.outputs["papers"]),
            "staged_papers_bytes": summary.outputs["papers"].stat().st_size,
            "staged_fetches": str(summary.outputs["fetches"]),
        }

    return work


def pipeline(args: dict[str, Any]) -> dict[str, Any]:
    """The real code path: raw store write, parse, staged Parquet write, fetch log."""
    return _timed(_harvest(args))


def profile_pipeline(args: dict[str, Any]) -> dict[str, Any]:
    """``pipeline`` under cProfile; the stats go to ``args["profile_out"]``."""
    work = _harvest(args)
    profiler = cProfile.Profile()

    def profiled() -> dict[str, Any]:
        profiler.enable()
        try:
            return work()
        finally:
            profiler.disable()

    result = _timed(profiled)
    profiler.dump_stats(args["profile_out"])
    return result


def curate(args: dict[str, Any]) -> dict[str, Any]:
    """``build_curated_table`` on the staged papers: dedupe by key (DuckDB, 1 thread), sort, write."""
    from pipelines.curate.combine import build_curated_table
    from schemas import table_spec

    spec = table_spec("papers")
    out = Path(args["out"])

    def work() -> dict[str, Any]:
        rows = build_curated_table(spec, [Path(args["staged"])], out)
        return {"rows": rows, "bytes": out.stat().st_size}

    return _timed(work)


def parquet_floor(args: dict[str, Any]) -> dict[str, Any]:
    """A plain ``pyarrow.parquet.write_table`` of the staged table, loaded before the clock starts.

    Same codec as the pipeline (zstd, pyarrow's default level); pyarrow's defaults otherwise (no page
    index, one row group per 1M rows), and no dedupe or sort.
    """
    import pyarrow.parquet as pq

    table = pq.read_table(args["staged"])
    out = Path(args["out"])
    compression = args.get("compression", "zstd")

    def work() -> dict[str, Any]:
        pq.write_table(table, out, compression=compression)
        return {"rows": table.num_rows, "bytes": out.stat().st_size, "compression": compression}

    return _timed(work)


def _timed(work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
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


TASKS: dict[str, Task] = {
    "iterparse_floor": iterparse_floor,
    "sha256_floor": sha256_floor,
    "pipeline": pipeline,
    "profile_pipeline": profile_pipeline,
    "curate": curate,
    "parquet_floor": parquet_floor,
}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in TASKS:
        print(f"usage: python -m bench.worker {{{','.join(TASKS)}}} JSON_ARGS", file=sys.stderr)
        return 2
    result = TASKS[argv[0]](json.loads(argv[1]))
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
