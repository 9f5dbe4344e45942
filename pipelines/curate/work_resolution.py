"""Entity resolution over the staged `papers` rows of every source: which source-assigned work ids are one work.

Each distinct staged `work_id` is a record; its identifiers are those its rows carry (arXiv id, DOIs,
OpenAlex and Semantic Scholar ids, and the id in the work id itself). ``resolve.resolve_records`` unites
records that share an identifier or match on title, year, authors and pages, and refuses unions that would
give one work two arXiv (OpenAlex, S2, LessWrong) ids. A cluster's work id is its members' best by
``WORK_ID_PRIORITY``, so it is stable: adding a record only changes a work's id when the new record has a
better kind of identifier (a DOI-keyed work gains its arXiv preprint), and the old id is then kept in
`merged_ids`.

Writes four Parquet files: the work map (record id -> work id, only for ids that change; the other curation
steps join it), `merges`, `merged_ids` and `identifier_conflicts`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.curate.combine import connect, files_sql
from pipelines.curate.resolve import Resolution, ResolutionRecord, resolve_records
from pipelines.snapshot.parquet import ParquetTableWriter
from schemas import table_spec

RESOLVER_VERSION = "1"
# A cluster's work id is its members' first by this order of id kinds (then the smallest id): the order
# in which work ids are documented to be chosen (schemas/papers.py).
WORK_ID_PRIORITY = ("arxiv", "doi", "lesswrong", "openalex", "s2", "hash", "pdf")
_RANK = {kind: i for i, kind in enumerate(WORK_ID_PRIORITY)}
# The work id's own prefix names an identifier the record carries.
_PREFIX_KINDS = {"arxiv": "arxiv", "doi": "doi", "lesswrong": "lesswrong", "openalex": "openalex", "s2": "s2"}

WORK_MAP_SCHEMA = pa.schema(
    [pa.field("record_id", pa.string(), nullable=False), pa.field("work_id", pa.string(), nullable=False)]
)


def work_id_rank(work_id: str) -> tuple[int, str]:
    kind = work_id.partition(":")[0]
    return (_RANK.get(kind, len(_RANK)), work_id)


@dataclass(frozen=True)
class ResolutionSummary:
    records: int
    works: int
    merges: int
    merged_ids: int
    carried_over: int
    conflicts: int
    stats: dict[str, int | float]


def staged_records_sql(staged_papers: Sequence[Path]) -> str:
    """One row per staged work id: its identifiers and the metadata fuzzy matching compares."""
    return f"""
        WITH rows AS (SELECT * FROM read_parquet({files_sql(staged_papers)}, union_by_name = true))
        SELECT
            work_id,
            first(title ORDER BY title IS NULL, raw_sha256, source_record_id) AS title,
            first(year(coalesce(created, CAST(published_at AS DATE)))
                  ORDER BY coalesce(created, CAST(published_at AS DATE)) IS NULL, raw_sha256) AS year,
            first(list_transform(authors, lambda a: a.name) ORDER BY len(authors) DESC NULLS LAST, raw_sha256)
                AS authors,
            first(coalesce(venue, journal_ref) ORDER BY venue IS NULL, journal_ref IS NULL, raw_sha256) AS venue,
            first(work_type ORDER BY work_type IS NULL, raw_sha256) AS work_type,
            list_distinct(list(arxiv_id) FILTER (WHERE arxiv_id IS NOT NULL)) AS arxiv_ids,
            list_distinct(flatten(list(coalesce(dois, []) || CASE WHEN doi IS NULL THEN [] ELSE [doi] END)))
                AS dois,
            list_distinct(list(openalex_id) FILTER (WHERE openalex_id IS NOT NULL)) AS openalex_ids,
            list_distinct(list(s2_paper_id) FILTER (WHERE s2_paper_id IS NOT NULL)) AS s2_ids
        FROM rows GROUP BY work_id ORDER BY work_id
    """


def _record(row: dict[str, Any]) -> ResolutionRecord:
    work_id: str = row["work_id"]
    identifiers: list[tuple[str, str]] = []
    kind, _, value = work_id.partition(":")
    if kind in _PREFIX_KINDS and value:
        identifiers.append((_PREFIX_KINDS[kind], value))
    identifiers += [("arxiv", v) for v in row["arxiv_ids"] or ()]
    identifiers += [("doi", v) for v in row["dois"] or ()]
    identifiers += [("openalex", v) for v in row["openalex_ids"] or ()]
    identifiers += [("s2", v) for v in row["s2_ids"] or ()]
    return ResolutionRecord(
        record_id=work_id,
        title=row["title"],
        year=row["year"],
        authors=tuple(a for a in row["authors"] or () if a),
        venue=row["venue"],
        entry_type=row["work_type"],
        identifiers=tuple(sorted(set(identifiers))),
    )


def staged_records(staged_papers: Sequence[Path]) -> list[ResolutionRecord]:
    if not staged_papers:
        return []
    con = connect()
    try:
        table = con.sql(staged_records_sql(staged_papers)).to_arrow_table()
    finally:
        con.close()
    return [_record(row) for row in table.to_pylist()]


def work_map(resolution: Resolution) -> dict[str, str]:
    """record id -> the work id of its cluster (the best member by ``WORK_ID_PRIORITY``)."""
    best: dict[str, str] = {}
    for record, cluster in resolution.cluster_of.items():
        current = best.get(cluster)
        if current is None or work_id_rank(record) < work_id_rank(current):
            best[cluster] = record
    return {record: best[cluster] for record, cluster in resolution.cluster_of.items()}


def _previous_redirects(path: Path | None) -> dict[str, str]:
    if path is None or not path.is_file():
        return {}
    table = pq.read_table(path, columns=["merged_id", "work_id"])
    return dict(zip(table.column("merged_id").to_pylist(), table.column("work_id").to_pylist(), strict=True))


def _follow(target: str, mapping: dict[str, str], redirects: dict[str, str]) -> str:
    """Where ``target`` lives now: its current work, or through the redirects (cycles stop)."""
    seen: set[str] = set()
    while target not in mapping and target in redirects and target not in seen:
        seen.add(target)
        target = redirects[target]
    return mapping.get(target, target)


def merged_id_rows(mapping: dict[str, str], previous: dict[str, str]) -> list[dict[str, Any]]:
    """Absorbed ids of this build, then the previous build's redirects whose record is gone, retargeted."""
    rows = {
        record: {"merged_id": record, "work_id": work, "carried_over": False}
        for record, work in mapping.items()
        if record != work
    }
    for old, target in previous.items():
        if old in mapping:
            continue  # the record is still here: this build decides where it belongs
        rows[old] = {"merged_id": old, "work_id": _follow(target, mapping, previous), "carried_over": True}
    return [{**rows[k], "resolver_version": RESOLVER_VERSION} for k in sorted(rows)]


def _write(table: str, rows: list[dict[str, Any]], out: Path) -> None:
    spec = table_spec(table)
    with ParquetTableWriter(out, spec) as writer:
        if rows:
            writer.add_batch(pa.RecordBatch.from_pylist(rows, schema=spec.schema))


def write_work_resolution(
    staged_papers: Sequence[Path],
    map_out: Path,
    merges_out: Path,
    merged_ids_out: Path,
    conflicts_out: Path,
    previous_merged_ids: Path | None = None,
) -> ResolutionSummary:
    """Resolve the staged works and write the work map, `merges`, `merged_ids` and `identifier_conflicts`.

    ``previous_merged_ids``: the last build's `merged_ids`, whose redirects are kept when their record has
    left the corpus (read before ``merged_ids_out`` is replaced, which may be the same path).
    """
    previous = _previous_redirects(previous_merged_ids)
    records = staged_records(staged_papers)
    resolution = resolve_records(records, priority=work_id_rank)
    mapping = work_map(resolution)
    changed = sorted((r, w) for r, w in mapping.items() if r != w)
    map_out.parent.mkdir(parents=True, exist_ok=True)
    tmp = map_out.with_name(map_out.name + ".tmp")
    pq.write_table(
        pa.table(
            {"record_id": [r for r, _ in changed], "work_id": [w for _, w in changed]}, schema=WORK_MAP_SCHEMA
        ),
        tmp,
    )
    tmp.replace(map_out)
    merges = [
        {
            "work_id": mapping[m.record_a],
            "record_a": m.record_a,
            "record_b": m.record_b,
            "method": m.method,
            "score": float(m.score),
            "resolver_version": RESOLVER_VERSION,
        }
        for m in resolution.merges
    ]
    _write("merges", merges, merges_out)
    redirects = merged_id_rows(mapping, previous)
    _write("merged_ids", redirects, merged_ids_out)
    conflicts = [
        {
            "record_a": c.record_a,
            "record_b": c.record_b,
            "identifier": c.kind,
            "value_a": c.value_a,
            "value_b": c.value_b,
            "reason": c.reason,
            "resolver_version": RESOLVER_VERSION,
        }
        for c in resolution.conflicts
    ]
    # One row per (pair, identifier kind): the first reason stands.
    unique = {(c["record_a"], c["record_b"], c["identifier"]): c for c in reversed(conflicts)}
    _write("identifier_conflicts", [unique[k] for k in sorted(unique)], conflicts_out)
    return ResolutionSummary(
        records=len(records),
        works=len(set(mapping.values())),
        merges=len(merges),
        merged_ids=len(redirects),
        carried_over=sum(1 for r in redirects if r["carried_over"]),
        conflicts=len(unique),
        stats=dict(resolution.stats),
    )


def remap_sql(relation: str, work_map_path: Path | None, columns: Sequence[str]) -> str:
    """``relation`` (a query) with each of ``columns`` that names an absorbed record replaced by its work id."""
    if work_map_path is None or not work_map_path.is_file() or not columns:
        return relation
    path = "'" + str(work_map_path).replace("'", "''") + "'"
    joins = "\n".join(
        f"LEFT JOIN read_parquet({path}) AS __m{i} ON __m{i}.record_id = __r.{c}"
        for i, c in enumerate(columns)
    )
    replaced = ", ".join(f"coalesce(__m{i}.work_id, __r.{c}) AS {c}" for i, c in enumerate(columns))
    return f"SELECT __r.* REPLACE ({replaced}) FROM ({relation}) AS __r\n{joins}"
