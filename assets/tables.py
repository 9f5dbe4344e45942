"""Curated tables built from every source's staged partitions, guarded by blocking checks.

Which files a table reads and its curation rule live in pipelines/curate/table_rules.py; this module
only wires them into assets and checks.
"""

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path

import dagster as dg

from assets.harvest import harvest_asset_key
from assets.metadata import table_metadata
from assets.resources import CommonsHome
from pipelines import incremental
from pipelines.curate.checks import (
    CheckOutcome,
)
from pipelines.curate.combine import build_curated_table
from pipelines.curate.linked_repos import CODE_LINKS_VERSION, write_code_links
from pipelines.curate.table_rules import (
    CODE_LINKS,
    INFORMATIONAL_CHECKS,
    READS_ALSO,
    READS_CURATED,
    RESOLVED_TABLES,
    WORK_MAP,
    candidates_sql,
    curated_path,
    derived_inputs,
    feeding_sources,
    staged_files_of,
    table_checks,
    table_inputs,
    table_versions,
)
from pipelines.settings import DataRoot
from pipelines.sources.base import Source
from schemas import SCHEMA_VERSION, TableSpec, table_spec


def staged_files(
    instance: dg.DagsterInstance, root: DataRoot, table: str, sources: Sequence[Source]
) -> list[Path]:
    """Staged files of the partitions that currently exist in the instance."""
    partitions = {s.name: instance.get_dynamic_partitions(f"{s.name}_batches") for s in sources}
    return staged_files_of(root, table, sources, partitions)


def build_table_asset(table: str, sources: Sequence[Source]) -> dg.AssetsDefinition:
    spec = table_spec(table)
    feeding = {s.name: s for t in (table, *READS_ALSO.get(table, ())) for s in feeding_sources(t, sources)}
    upstream = [harvest_asset_key(s) for s in feeding.values()]
    upstream += [dg.AssetKey(t) for t in READS_CURATED.get(table, ())]
    if table in RESOLVED_TABLES:
        upstream.append(dg.AssetKey(WORK_MAP))

    code_version = "3" if table in READS_CURATED else "2"

    @dg.asset(
        name=table,
        group_name="tables",
        deps=upstream,
        code_version=code_version,
        kinds={"duckdb", "parquet"},
        description=spec.description,
    )
    def _table(context: dg.AssetExecutionContext, commons: CommonsHome) -> dg.MaterializeResult:
        root = commons.root()
        staged_by_table = {
            t: staged_files(context.instance, root, t, sources) for t in (table, *READS_ALSO.get(table, ()))
        }
        for t in ("papers", "paper_texts", "references", "links", "repositories"):
            staged_by_table.setdefault(t, [])
        out = curated_path(root, table)

        def build() -> dict[str, int]:
            staged = staged_by_table[table] + derived_inputs(table, root)
            rows = build_curated_table(spec, staged, out, candidates_sql(table, staged_by_table, root))
            context.log.info(f"{table}: {rows} rows from {len(staged)} staged partitions")
            return {"rows": rows, "staged_partitions": len(staged)}

        outcome = incremental.run(
            out, table_inputs(table, staged_by_table, root), table_versions(table, code_version), build
        )
        if outcome.skipped:
            context.log.info(f"{table}: inputs and code unchanged since the last build; not rebuilt")
        return dg.MaterializeResult(
            metadata={
                **table_metadata(spec, out),
                "staged_partitions": int(outcome.data.get("staged_partitions", 0)),
                "skipped": outcome.skipped,
            }
        )

    return _table


def build_code_links_asset() -> dg.AssetsDefinition:
    """Links from papers to the code repositories their text names (not published itself: the `links`
    table carries them, with their official/mentioned role, once the repositories are known)."""

    @dg.asset(
        name=CODE_LINKS,
        group_name="tables",
        deps=[dg.AssetKey("papers"), dg.AssetKey("paper_texts"), dg.AssetKey("references")],
        code_version=CODE_LINKS_VERSION,
        kinds={"parquet"},
        description="Repository URLs found in abstracts, comments, full text and references, with evidence.",
    )
    def _code_links(context: dg.AssetExecutionContext, commons: CommonsHome) -> dg.MaterializeResult:
        root = commons.root()
        out = curated_path(root, CODE_LINKS)
        papers, texts, references = (curated_path(root, t) for t in ("papers", "paper_texts", "references"))

        def build() -> dict[str, int]:
            rows = write_code_links([papers], [texts], [references], out)
            context.log.info(f"{CODE_LINKS}: {rows} paper-to-repository links")
            return {"rows": rows}

        outcome = incremental.run(
            out, [papers, texts, references], table_versions(CODE_LINKS, CODE_LINKS_VERSION), build
        )
        if outcome.skipped:
            context.log.info(f"{CODE_LINKS}: inputs and code unchanged since the last build; not rebuilt")
        return dg.MaterializeResult(
            metadata={**table_metadata(table_spec("links"), out), "skipped": outcome.skipped}
        )

    return _code_links


def _as_result(outcome: CheckOutcome, skipped: bool = False) -> dg.AssetCheckResult:
    metadata = {
        k: dg.MetadataValue.json(v) if isinstance(v, (list, dict)) else v for k, v in outcome.metadata.items()
    }
    if skipped:  # the checked files are those of the last evaluation: its outcome, not evaluated again
        metadata["skipped"] = True
    return dg.AssetCheckResult(passed=outcome.passed, description=outcome.description, metadata=metadata)


def _check_deps(table: str, informational: bool) -> list[dg.AssetKey] | None:
    if informational:
        return [dg.AssetKey("papers"), dg.AssetKey("fetches")]
    if table == "links":
        return [dg.AssetKey("merged_ids"), dg.AssetKey("papers")]
    if table == "papers":
        return [dg.AssetKey("identifier_conflicts"), dg.AssetKey("merged_ids")]
    return None


# Bump when a check function changes what it decides for the same files (re-runs cached checks).
CHECKS_VERSION = "1"


def check_inputs(table: str, name: str, path: Path, root: DataRoot) -> list[Path] | None:
    """The files a check reads, so an unchanged outcome can be reused; ``None``: it reads more (the
    provenance check looks every row's bytes up in the raw store) and always runs."""
    if name == "provenance":
        return None
    extra = {
        ("links", "repositories_present"): ["repositories"],
        ("papers", "identifiers_unique"): ["identifier_conflicts", "merged_ids"],
        ("links", "resolved"): ["merged_ids", "papers"],
        ("paper_texts", "coverage"): ["papers", "fetches"],
    }.get((table, name), [])
    return [path, *(curated_path(root, t) for t in extra)]


def build_table_checks(table: str) -> list[dg.AssetChecksDefinition]:
    """Blocking checks: a table that fails them never reaches a snapshot."""
    spec = table_spec(table)
    checks = [(c.name, c.description, c.run) for c in table_checks(table)]

    defs = []
    for name, description, run in checks:

        def _make(
            run: Callable[[TableSpec, Path, DataRoot], CheckOutcome], name: str
        ) -> Callable[..., dg.AssetCheckResult]:
            def _check(commons: CommonsHome) -> dg.AssetCheckResult:
                root = commons.root()
                path = curated_path(root, table)
                reads = check_inputs(table, name, path, root)
                if reads is None:  # reads more than files (the raw store): always run
                    return _as_result(run(spec, path, root))
                outcome = incremental.memo(
                    root.tables / "_checks" / f"{table}_{name}.json",
                    reads,
                    {"check": f"{table}_{name}", "code": CHECKS_VERSION, "schema": SCHEMA_VERSION},
                    lambda: dataclasses.asdict(run(spec, path, root)),
                )
                return _as_result(CheckOutcome(**outcome.data), skipped=outcome.skipped)

            return _check

        informational = name in INFORMATIONAL_CHECKS
        defs.append(
            dg.asset_check(
                asset=dg.AssetKey(table),
                name=f"{table}_{name}",
                description=description,
                blocking=not informational,
                additional_deps=_check_deps(table, informational),
            )(_make(run, name))
        )
    return defs
