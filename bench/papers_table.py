"""A curated ``papers`` table of N papers, built the way ``commons build`` builds it, kept for later runs.

``ensure_papers(config)`` generates (or reuses) the arXiv OAI-PMH corpus of ``bench.corpus``, harvests it
with ``pipelines.harvest.harvest_batch`` (the harness's ``pipeline`` task, in a fresh process) and curates
the staged rows with ``pipelines.curate.combine.build_curated_table``, as ``bench.harvest_parse_write``
does. The staged and curated files stay in ``<bench dir>/papers_<N>/`` with a stamp of the corpus they came
from, so the release and query benchmarks share one build and a second run skips it (a 1M-paper build
takes about 5 minutes here).

``set_cdc(False)`` turns the Parquet writer's content-defined chunking off in this process (the side copy
that shows what it buys); everything else about the writer stays as the pipeline has it.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.corpus import STAMP_NAME, CorpusSpec, generate
from bench.fresh import run_fresh, timed
from bench.harness import BenchConfig, run_worker

PREP_VERSION = "1"
PREP_STAMP = ".papers.json"


@dataclass(frozen=True)
class PapersTable:
    folder: Path
    records: int
    staged: Path  # harvest_batch's staged papers (unsorted, as harvested)
    curated: Path  # build_curated_table's output, content-defined chunking on (the pipeline's setting)
    built: bool  # False when an earlier run's files were reused
    build_seconds: dict[str, float]


def set_cdc(enabled: bool) -> None:
    """Content-defined chunking of the snapshot Parquet writer on or off, for this process."""
    from pipelines.snapshot import parquet

    if enabled:
        return
    original = parquet._writer_options

    def without_cdc() -> dict[str, Any]:
        return {**original(), "use_content_defined_chunking": False}

    parquet._writer_options = without_cdc


def curate(args: dict[str, Any]) -> dict[str, Any]:
    """(fresh process) ``build_curated_table`` of one table from staged files, CDC on or off."""
    set_cdc(bool(args.get("cdc", True)))
    from pipelines.curate.combine import build_curated_table
    from schemas import table_spec

    spec = table_spec(args.get("table", "papers"))
    out = Path(args["out"])
    staged = [Path(p) for p in args["staged"]]

    def work() -> dict[str, Any]:
        rows = build_curated_table(spec, staged, out)
        return {"rows": rows, "bytes": out.stat().st_size}

    return timed(work)


def _stamp(corpus_path: Path, records: int) -> dict[str, Any]:
    corpus_stamp = json.loads((corpus_path / STAMP_NAME).read_text(encoding="utf-8"))
    return {"version": PREP_VERSION, "records": records, "corpus": corpus_stamp}


def ensure_papers(config: BenchConfig, log: Callable[[str], None]) -> PapersTable:
    corpus = generate(CorpusSpec(config.records), config.bench_dir, log=log)
    folder = config.bench_dir / f"papers_{config.records}"
    staged, curated = folder / "staged-papers.parquet", folder / "papers.parquet"
    stamp = _stamp(corpus.path, config.records)
    try:
        existing = json.loads((folder / PREP_STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        existing = None
    if existing == stamp and staged.is_file() and curated.is_file():
        log(f"reusing the curated papers table in {folder}")
        return PapersTable(folder, config.records, staged, curated, False, {})
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    data_root = config.work_dir / "papers-data-root"
    shutil.rmtree(data_root, ignore_errors=True)
    log(f"harvesting {corpus.records:,} records (harvest_batch, fresh process) into {data_root}")
    started = time.perf_counter()
    try:
        result = run_worker("pipeline", {"corpus": str(corpus.path), "data_root": str(data_root)})
        if result["rows"] != config.records or result["errors"]:
            raise RuntimeError(
                f"the harvest gave {result['rows']:,} rows and {result['errors']} errors: {result['first_errors']}"
            )
        shutil.move(result["staged_papers"], staged)
    finally:
        shutil.rmtree(data_root, ignore_errors=True)
    seconds = {"harvest": time.perf_counter() - started}
    log(f"curating {config.records:,} papers (build_curated_table, fresh process)")
    built = run_fresh("bench.papers_table:curate", {"staged": [str(staged)], "out": str(curated)})
    seconds["curate"] = built["seconds"]
    (folder / PREP_STAMP).write_text(json.dumps(stamp, indent=2, sort_keys=True), encoding="utf-8")
    log(f"papers table {curated}: {built['bytes'] / 1e6:,.0f} MB")
    return PapersTable(folder, config.records, staged, curated, True, seconds)
