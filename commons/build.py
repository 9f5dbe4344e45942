"""``commons build``: register the requested batches as partitions, harvest them, release a snapshot — all through Dagster."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import dagster as dg

from pipelines import build_state
from pipelines.batches import load_watermarks, save_batch
from pipelines.harvest import harvest_is_current
from pipelines.local_input import plan_local_input
from pipelines.settings import DataRoot
from pipelines.sources.base import BatchSpec
from pipelines.sources.registry import all_sources, get_source


class BuildError(Exception):
    pass


@dataclass
class BuildReport:
    snapshot: Path | None = None
    failed_partitions: list[str] = field(default_factory=list)
    failed_checks: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def split_from_spec(spec: str) -> tuple[str | None, Path]:
    """``SOURCE:PATH`` forces a source; a plain path is detected from content."""
    head, sep, rest = spec.partition(":")
    if sep and head in all_sources():
        return head, Path(rest)
    return None, Path(spec)


def local_batches(specs: Sequence[str], warn: list[str], license: str = "") -> list[BatchSpec]:
    """One batch per source per ``--from`` root. ``license``: the SPDX license the caller states for files
    that do not state their own (eval logs, say); sources that can use it read it from the batch options."""
    if license:
        from pipelines.curate.licenses import license_problem

        problem = license_problem(license)
        if problem:
            raise BuildError(f"--license {license!r} is not an SPDX license expression: {problem}")
    batches: list[BatchSpec] = []
    for spec in specs:
        forced, path = split_from_spec(spec)
        if not path.exists():
            raise BuildError(f"--from {spec}: {path} does not exist")
        plan = plan_local_input(path, forced)
        if not plan.batches:
            warn.append(f"--from {spec}: no registered source recognises any file in {path}")
        for unclaimed in plan.unclaimed:
            warn.append(f"--from {spec}: no source recognises {unclaimed}; skipped")
        for batch in plan.batches:
            if license:
                batch = BatchSpec(
                    source=batch.source,
                    kind=batch.kind,
                    key=batch.key,
                    paths=batch.paths,
                    options={**batch.options, "license": license},
                )
            batches.append(batch)
    return batches


def live_batches(root: DataRoot, source_names: Sequence[str], options: dict[str, str]) -> list[BatchSpec]:
    batches: list[BatchSpec] = []
    live_sources = [s.name for s in all_sources().values() if s.live]
    if not source_names and len(live_sources) > 1:
        # Live options (sets, dates, ids) mean different things to different sources: say which.
        raise BuildError(f"--live needs --source (one of: {', '.join(live_sources)}); repeat it for several")
    names = source_names or live_sources
    for name in names:
        source = get_source(name)
        if source.live is None:
            raise BuildError(f"source {name!r} has no live path; use --from with local input")
        opts = dict(options)
        if name == "github" and not opts.get("ids"):
            opts["ids"] = repos_wanted(root)
            if not opts["ids"]:
                raise BuildError(
                    "live github: no in-scope paper links a GitHub repository yet (build papers first, or "
                    "give --ids github:owner/name,...)"
                )
            batches.extend(source.live_batches(opts))
            continue
        if name == "pdf" and not opts.get("ids"):
            opts["ids"] = pdfs_wanted(root)
            if not opts["ids"]:
                raise BuildError(
                    "live pdf: no in-scope redistributable paper lacks full text (or no papers yet; "
                    "give --ids ARXIV_ID,... to fetch others)"
                )
            batches.extend(source.live_batches(opts))
            continue
        if not opts.get("from") and not opts.get("ids"):
            mark = load_watermarks(root, name).get(source.watermark_key(opts))
            if not mark:
                raise BuildError(
                    f"live {name}: no stored watermark yet; give --since YYYY-MM-DD for the first harvest"
                )
            # Re-harvest the watermark's whole month: a month is one partition, replaced as a whole.
            opts["from"] = date.fromisoformat(mark).replace(day=1).isoformat()
        batches.extend(source.live_batches(opts))
    return batches


def repos_wanted(root: DataRoot) -> str:
    """The GitHub repositories in-scope papers link to: what a crawl fetches (ETags make repeats cheap)."""
    from pipelines.curate import scope

    tables = root.tables
    return " ".join(
        scope.repos_wanted(
            tables / "code_links" / "code_links.parquet", tables / "relevance" / "relevance.parquet"
        )
    )


def pdfs_wanted(root: DataRoot, limit: int = 1000) -> str:
    """arXiv ids (latest version) of in-scope papers whose license allows redistributing their text and that
    have no text yet, most relevant first: the PDFs a full-text harvest should fetch."""
    from pipelines.curate import scope

    tables = root.tables
    return " ".join(
        scope.pdfs_wanted(
            tables / "papers" / "papers.parquet", tables / "relevance" / "relevance.parquet", limit
        )
    )


def _quiet_config(verbose: bool) -> dict[str, object]:
    return {"loggers": {"console": {"config": {"log_level": "INFO" if verbose else "WARNING"}}}}


def _failure_reason(result: dg.ExecuteInProcessResult) -> str:
    """The description a step failed with (a release gate's report, say), else its error message."""
    for event in result.all_events:
        if not event.is_step_failure:
            continue
        data = event.step_failure_data
        if data.user_failure_data is not None and data.user_failure_data.description:
            return data.user_failure_data.description
        return data.error.message.strip() if data.error else event.message or ""
    return "see `dagster dev`"


def run_build(
    instance: dg.DagsterInstance,
    root: DataRoot,
    batches: Sequence[BatchSpec],
    out_dir: Path | None,
    version: str | None,
    verbose: bool = False,
    gate_config: dict[str, object] | None = None,
) -> BuildReport:
    from assets.definitions import defs  # imported late: DAGSTER_HOME must be set first

    report = BuildReport()
    for batch in batches:
        save_batch(root, batch)
        partitions = f"{batch.source}_batches"
        if not instance.has_dynamic_partition(partitions, batch.key):
            instance.add_dynamic_partitions(partitions, [batch.key])

    for i, batch in enumerate(batches, 1):
        print(
            f"[{i}/{len(batches)}] harvest {batch.source} partition {batch.key}", file=sys.stderr, flush=True
        )
        if harvest_is_current(get_source(batch.source), batch, root):
            # The inputs and parser are those of its last harvest: no run is launched for it.
            print("  unchanged since its last harvest; not harvested again", file=sys.stderr)
            continue
        job = defs.resolve_job_def(f"harvest_{batch.source}")
        result = job.execute_in_process(
            instance=instance,
            partition_key=batch.key,
            run_config=_quiet_config(verbose),
            raise_on_error=False,
        )
        if not result.success:
            report.failed_partitions.append(batch.key)
            print(
                f"  harvest of {batch.key} failed (run {result.run_id}); see `dagster dev`", file=sys.stderr
            )
            continue
        for mat in result.asset_materializations_for_node(f"{batch.source}_harvest"):
            meta = mat.metadata
            docs = meta["documents"].value if "documents" in meta else "?"
            rows = meta["dagster/row_count"].value if "dagster/row_count" in meta else "?"
            errs = meta["errors"].value if "errors" in meta else 0
            print(f"  {docs} documents, {rows} rows, {errs} errors", file=sys.stderr)

    out_root = (out_dir or root.snapshots).resolve()
    state = build_state.state_path(root.tables, out_root)
    release_inputs = _release_inputs(instance, root)
    fp = build_state.release_fingerprint(
        release_inputs, _state_files(root), {"out": str(out_root), "gates": gate_config or {}}
    )
    previous = None if version else build_state.unchanged_release(state, fp)
    if previous is not None:
        print(f"release: nothing changed since {previous.name}; not run", file=sys.stderr, flush=True)
        report.snapshot = previous
        return report
    print("release: curate tables, run checks, write snapshot", file=sys.stderr, flush=True)
    snapshot_config: dict[str, object] = {}
    if out_dir is not None:
        snapshot_config["out_dir"] = str(out_dir.resolve())
    if version:
        snapshot_config["version"] = version
    snapshot_config.update(gate_config or {})
    run_config = {**_quiet_config(verbose), "ops": {"snapshot": {"config": snapshot_config}}}
    result = defs.resolve_job_def("release").execute_in_process(
        instance=instance, run_config=run_config, raise_on_error=False
    )
    for evaluation in result.get_asset_check_evaluations():
        if not evaluation.passed:
            report.failed_checks.append(f"{evaluation.check_name}: {evaluation.description}")
    for mat in result.asset_materializations_for_node("snapshot"):
        report.snapshot = Path(str(mat.metadata["path"].value))
    if report.snapshot is None and not report.failed_checks and not result.success:
        raise BuildError(f"release failed: {_failure_reason(result)}")
    if result.success and report.snapshot is not None and not version:
        build_state.record_release(state, fp, release_inputs, report.snapshot)
    return report


def _release_inputs(instance: dg.DagsterInstance, root: DataRoot) -> list[Path]:
    """The staged files of every partition that currently exists: what a release reads."""
    from assets.tables import staged_files
    from schemas import TABLES

    sources = list(all_sources().values())
    return sorted({p for table in TABLES for p in staged_files(instance, root, table, sources)})


def _state_files(root: DataRoot) -> list[Path]:
    """Batch specs and watermarks: the snapshot's manifest records them."""
    return sorted(
        p
        for folder in (root.batches, root.watermarks)
        if folder.is_dir()
        for p in folder.rglob("*")
        if p.is_file()
    )
