"""Where a harvested record's time goes: ``python -m bench.breakdown [--records N] [--runs N] [--dir DIR]``.

Times each step of the harvest-parse-write path on its own, in this one process, over the benchmark corpus
(``bench.corpus``; generated if absent), and prints microseconds per record beside the whole pipeline
(``harvest_batch``). Every step is the minimum of ``--runs`` runs, so the figures are what the step costs
on a quiet machine; the steps' sum differs from the whole by what they share (the generators between them,
the garbage collector, caches). Not part of ``python -m bench``: it explains its figure, it does not set one.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.corpus import CorpusSpec, default_bench_dir, generate

DEFAULT_RECORDS = 20_000


def _best(runs: int, work: Callable[[], Any]) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def measure(corpus_dir: Path, runs: int) -> list[tuple[str, float]]:
    """(step, seconds) for each step over the whole corpus, and the whole pipeline last.

    The garbage collector is paused for the steps, as ``harvest_batch`` pauses it for each document.
    """
    import pyarrow as pa

    from pipelines.fetch.raw_store import RawStore
    from pipelines.harvest import harvest_batch, rows_to_batch
    from pipelines.parse import arxiv_oai
    from pipelines.settings import DataRoot
    from pipelines.snapshot.parquet import ParquetTableWriter
    from pipelines.sources.base import BatchSpec, ParseContext
    from pipelines.sources.registry import get_source
    from schemas import table_spec

    pa.array([1])  # pyarrow imports pandas on its first conversion: not a per-record cost
    pages = sorted(corpus_dir.glob("page-*.xml"))
    datas = [p.read_bytes() for p in pages]
    spec = table_spec("papers")
    steps: list[tuple[str, float]] = []
    scratch = Path(tempfile.mkdtemp(prefix="commons-breakdown-"))
    gc.disable()
    try:
        steps.append(("read the pages", _best(runs, lambda: [p.read_bytes() for p in pages])))
        steps.append(
            ("sha256 of each page", _best(runs, lambda: [hashlib.sha256(d).digest() for d in datas]))
        )

        def store() -> None:
            shutil.rmtree(scratch / "raw", ignore_errors=True)
            raw = RawStore(scratch / "raw")
            for d in datas:
                raw.put(d)

        steps.append(("raw store put (sha256 + atomic write)", _best(runs, store)))

        def tree_parse() -> None:
            for d in datas:
                if arxiv_oai._tree_elements(d) is None:
                    raise RuntimeError("a corpus page did not parse as a tree")

        steps.append(("parse: lxml tree of the page + its records", _best(runs, tree_parse)))

        def fields() -> float:
            spent = 0.0
            for d in datas:  # one page's tree at a time, as the parser holds them
                elements = arxiv_oai._tree_elements(d) or []
                started = time.perf_counter()
                for elem in elements:
                    if arxiv_oai.tag_localname(elem.tag) == "record":
                        arxiv_oai._record_row(elem)
                spent += time.perf_counter() - started
            return spent

        steps.append(("parse: fields of each record (_record_row)", min(fields() for _ in range(runs))))

        def parse_all() -> None:
            for d in datas:
                for _row in arxiv_oai.parse_oai_page(d, ParseContext(), "bench"):
                    pass

        steps.append(("parse: whole (parse_oai_page)", _best(runs, parse_all)))
        rows = [row for d in datas for row in arxiv_oai.parse_oai_page(d, ParseContext(), "bench")]
        for row in rows:  # what harvest adds to every row
            row.update(source="arxiv", raw_sha256="0" * 64, pipeline_version="bench", retrieved_at=None)
            row.update(parser=arxiv_oai.PARSER_NAME, parser_version=arxiv_oai.PARSER_VERSION)
        chunks = [rows[i : i + 4096] for i in range(0, len(rows), 4096)]
        steps.append(
            (
                "Arrow: rows to record batches",
                _best(runs, lambda: [rows_to_batch(c, spec.schema) for c in chunks]),
            )
        )
        batches = [rows_to_batch(c, spec.schema) for c in chunks]

        def write() -> None:
            with ParquetTableWriter(scratch / "papers.parquet", spec) as writer:
                for batch in batches:
                    writer.add_batch(batch)

        steps.append(("Parquet: staged write (zstd, page index, CDC)", _best(runs, write)))

        source = get_source("arxiv")
        batch = BatchSpec(
            source="arxiv", kind="local", key="bench", paths=(str(corpus_dir),), options={"claim": "all"}
        )

        gc.enable()

        def pipeline() -> None:
            shutil.rmtree(scratch / "root", ignore_errors=True)
            harvest_batch(source, batch, DataRoot(scratch / "root"))

        steps.append(("whole pipeline (harvest_batch)", _best(runs, pipeline)))
    finally:
        gc.enable()
        shutil.rmtree(scratch, ignore_errors=True)
    return steps


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.breakdown", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--records", type=int, default=DEFAULT_RECORDS, help=f"corpus size (default {DEFAULT_RECORDS:,})"
    )
    parser.add_argument("--runs", type=int, default=5, help="runs per step, the fastest counts (default 5)")
    parser.add_argument(
        "--dir", type=Path, help="where corpora go (default $COMMONS_BENCH_DIR or /tmp/commons-bench)"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("COMMONS_PIPELINE_VERSION", "bench")
    corpus = generate(CorpusSpec(args.records), (args.dir or default_bench_dir()).resolve())
    print(
        f"breakdown: {corpus.records:,} records in {corpus.path}, fastest of {args.runs} runs",
        file=sys.stderr,
    )
    steps = measure(corpus.path, args.runs)
    width = max(len(name) for name, _ in steps)
    print(f"{'step':<{width}}  us/record")
    for name, seconds in steps:
        print(f"{name:<{width}}  {seconds / corpus.records * 1e6:9.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
