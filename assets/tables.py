"""Curated tables built from every source's staged partitions, guarded by blocking checks."""

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
    check_errors_explained,
    check_full_text_coverage,
    check_identifiers_unique,
    check_linked_repositories,
    check_links_resolved,
    check_provenance,
    check_repository_licenses,
    check_result_values,
    check_schema,
    check_tag_evidence,
    check_unique_keys,
)
from pipelines.curate.combine import build_curated_table, precedence_sql
from pipelines.curate.linked_repos import (
    CODE_LINKS_VERSION,
    empty_table,
    links_candidates_sql,
    repositories_candidates_sql,
    write_code_links,
)
from pipelines.curate.paper_tables import write_paper_table_results
from pipelines.curate.work_resolution import remap_sql
from pipelines.curate.works import best_parse_sql, papers_candidates_sql, references_candidates_sql
from pipelines.fetch.raw_store import RawStore
from pipelines.harvest import staging_path
from pipelines.settings import DataRoot
from pipelines.sources.base import Source
from schemas import SCHEMA_VERSION, TableSpec, table_spec
from schemas.columns import PROVENANCE_COLUMNS


def curated_path(root: DataRoot, table: str) -> Path:
    return root.tables / table / f"{table}.parquet"


def feeding_sources(table: str, sources: Sequence[Source]) -> list[Source]:
    # Every source logs its fetches; other tables are fed by the sources that declare them.
    return [s for s in sources if table == "fetches" or table in s.tables]


def staged_files(
    instance: dg.DagsterInstance, root: DataRoot, table: str, sources: Sequence[Source]
) -> list[Path]:
    """Staged files of the partitions that currently exist, so a deleted partition drops out."""
    files = []
    for source in feeding_sources(table, sources):
        for key in sorted(instance.get_dynamic_partitions(f"{source.name}_batches")):
            path = staging_path(root, source.name, table, key)
            if path.exists():
                files.append(path)
    return files


# Tables whose curation reads other tables' staged rows too (papers counts its text and references).
READS_ALSO: dict[str, tuple[str, ...]] = {
    "papers": ("paper_texts", "references"),
    "references": ("papers",),
}
# Tables whose curation reads curated tables (or the code_links step) downstream of the sources.
READS_CURATED: dict[str, tuple[str, ...]] = {
    "results": ("paper_texts",),
    "repositories": ("code_links",),
    "links": ("code_links", "repositories", "papers"),
}
CODE_LINKS = "code_links"
# Entity resolution's map from source-assigned to resolved work ids (assets/curation.py writes it); the
# tables keyed by work join it.
WORK_MAP = "work_map"
RESOLVED_TABLES = ("papers", "paper_texts", "references", "links")


def derived_path(root: DataRoot, name: str) -> Path:
    """Intermediate Parquet a curation step writes for another (not published)."""
    return root.tables / "_derived" / f"{name}.parquet"


def candidates_sql(table: str, staged: dict[str, list[Path]], root: DataRoot | None = None) -> str | None:
    """The table's own curation rule over the staged rows, if it has one (see pipelines/curate/works.py)."""
    work_map = derived_path(root, WORK_MAP) if root is not None else None
    if table == "papers" and staged["papers"]:
        spec = table_spec("papers")
        return papers_candidates_sql(
            spec.columns,
            precedence_sql(spec),
            staged["papers"],
            staged["paper_texts"],
            staged["references"],
            work_map,
        )
    if table == "paper_texts" and staged["paper_texts"]:
        return best_parse_sql(staged["paper_texts"], work_map)
    if table == "references" and staged["references"]:
        return references_candidates_sql(staged["references"], staged["papers"], work_map)
    if table == "repositories" and root is not None:
        return repositories_candidates_sql(
            staged["repositories"], curated_path(root, CODE_LINKS), _scratch(root)
        )
    if table == "links" and root is not None:
        links = links_candidates_sql(
            staged["links"],
            curated_path(root, CODE_LINKS),
            curated_path(root, "repositories"),
            curated_path(root, "papers"),
            _scratch(root),
        )
        return remap_sql(links, work_map, ("src_id", "dst_id"))
    return None


def _scratch(root: DataRoot) -> Path:
    return root.tables / "_derived"


def derived_inputs(table: str, root: DataRoot) -> list[Path]:
    """Rows a table gets from other curated tables rather than from a source: results read from papers'
    tables. Written first, then curated with the staged rows."""
    if table == "results":
        out = derived_path(root, "paper_table_results")
        write_paper_table_results([curated_path(root, "paper_texts")], out)
        return [out]
    if table in ("repositories", "links"):
        # Their rows come also from code links: the query runs even when no source staged any.
        return [empty_table(table, _scratch(root))]
    return []


def table_inputs(table: str, staged: dict[str, list[Path]], root: DataRoot) -> list[Path]:
    """Every file a table's curation reads: the staged partitions of the tables it reads, the curated
    tables and intermediate files it joins, and the work map (the fingerprint of its inputs)."""
    paths = [p for t in sorted(staged) for p in staged[t]]
    paths += [curated_path(root, t) for t in READS_CURATED.get(table, ())]
    if table in RESOLVED_TABLES:
        paths.append(derived_path(root, WORK_MAP))
    return paths


def table_versions(table: str, code_version: str) -> dict[str, str]:
    return {"table": table, "code": code_version, "schema": SCHEMA_VERSION}


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
    checks: list[tuple[str, str, Callable[[TableSpec, Path, DataRoot], CheckOutcome]]] = [
        ("schema", "Columns, types and nullability match schemas/.", lambda s, p, r: check_schema(s, p)),
        ("unique_keys", "Primary key is unique and never null.", lambda s, p, r: check_unique_keys(s, p)),
    ]
    if set(PROVENANCE_COLUMNS) <= set(spec.columns):
        checks.append(
            (
                "provenance",
                "Provenance columns are filled and every row's raw bytes are in the raw store.",
                lambda s, p, r: check_provenance(s, p, RawStore(r.raw)),
            )
        )
    if table == "fetches":
        checks.append(
            (
                "errors_explained",
                "Every failed fetch says what went wrong.",
                lambda s, p, r: check_errors_explained(p),
            )
        )
    if table == "results":
        checks.append(
            (
                "values",
                "Values and standard errors are finite, in range for their unit, and a missing value is explained.",
                lambda s, p, r: check_result_values(p),
            )
        )
    if table == "repositories":
        checks.append(
            (
                "licenses",
                "Crawled repositories state their license and README text is published only where it allows.",
                lambda s, p, r: check_repository_licenses(p),
            )
        )
    if table == "links":
        checks.append(
            (
                "repositories_present",
                "Every repository a code link points at has a repositories row (crawled, failed with its "
                "error, or not crawled yet).",
                lambda s, p, r: check_linked_repositories(curated_path(r, "repositories"), p),
            )
        )
    if table == "papers":
        checks.append(
            (
                "identifiers_unique",
                "No two works share an arXiv id, DOI, OpenAlex or Semantic Scholar id.",
                lambda s, p, r: check_identifiers_unique(
                    p, curated_path(r, "identifier_conflicts"), curated_path(r, "merged_ids")
                ),
            )
        )
    if table == "links":
        checks.append(
            (
                "resolved",
                "No link names an absorbed work id (see merged_ids): every moved endpoint was re-pointed.",
                lambda s, p, r: check_links_resolved(
                    p, curated_path(r, "merged_ids"), curated_path(r, "papers")
                ),
            )
        )
    if table == "tags":
        checks.append(
            (
                "evidence",
                "Every tag has evidence spans inside its text, a score in (0, 1] and a taxonomy version.",
                lambda s, p, r: check_tag_evidence(p),
            )
        )
    if table == "paper_texts":
        checks.append(
            (
                "coverage",
                "Redistributable papers with text, with a recorded failure, or not attempted yet (informational).",
                lambda s, p, r: check_full_text_coverage(
                    curated_path(r, "papers"), curated_path(r, "fetches")
                ),
            )
        )

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

        informational = name == "coverage"
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
