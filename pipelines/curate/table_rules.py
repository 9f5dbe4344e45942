"""Which files each curated table is built from, and its own curation rule: shared by the Dagster assets
(assets/tables.py, assets/curation.py) and by anything that runs the same build without Dagster (the
end-to-end benchmark), so the two cannot drift apart."""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

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
from pipelines.curate.combine import precedence_sql
from pipelines.curate.linked_repos import empty_table, links_candidates_sql, repositories_candidates_sql
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


def staged_files_of(
    root: DataRoot, table: str, sources: Sequence[Source], partitions: Mapping[str, Sequence[str]]
) -> list[Path]:
    """Staged files of ``table`` from the partitions that currently exist (``partitions``: source name ->
    partition keys), so a deleted partition drops out."""
    files = []
    for source in feeding_sources(table, sources):
        for key in sorted(partitions.get(source.name, ())):
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


# Checks that inform and never block a release.
INFORMATIONAL_CHECKS = frozenset({"coverage"})


@dataclass(frozen=True)
class TableCheck:
    name: str
    description: str
    run: Callable[[TableSpec, Path, DataRoot], CheckOutcome]

    @property
    def blocking(self) -> bool:
        return self.name not in INFORMATIONAL_CHECKS


def table_checks(table: str) -> list[TableCheck]:
    """The checks on a curated table: each one's name, what it checks, and the function (spec, path,
    data root) -> outcome. Blocking unless informational: a table that fails them never reaches a snapshot."""
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

    return [TableCheck(name, description, run) for name, description, run in checks]
