"""Combine staged partitions into one curated table: one row per key, chosen by a stated precedence, sorted by key.

DuckDB does the dedup and the sort out of core (it spills to disk under its memory limit), and the
result streams into the deterministic Parquet writer a batch at a time, so memory stays flat.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import duckdb

from pipelines.snapshot.parquet import ParquetTableWriter
from schemas import TableSpec

# Which staged row represents a key when several do. Stated per table so users can read the rule.
PRECEDENCE: dict[str, str] = {
    # Newest metadata first; then the record with the most fields filled; then the richest format; then
    # content hash, for a total order.
    "papers": (
        "coalesce(oai_datestamp, updated, created) DESC NULLS LAST, {richness} DESC, "
        "CASE metadata_format WHEN 'arXiv' THEN 0 WHEN 'arXivRaw' THEN 1 WHEN 'atom' THEN 2 ELSE 3 END, "
        "raw_sha256, source_record_id"
    ),
    # The same bytes read from the same place: keep the read by the newest parser.
    "fetches": "parser_version DESC NULLS LAST, pipeline_version DESC, records DESC",
}

BATCH_ROWS = 8192


def connect(memory_limit: str = "1GB", threads: int = 1) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(config={"threads": threads, "memory_limit": memory_limit})
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET preserve_insertion_order = false")
    con.execute(f"SET temp_directory = '{tempfile.gettempdir()}/commons-duckdb-{os.getpid()}'")
    return con


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def precedence_sql(spec: TableSpec) -> str:
    """The ORDER BY that picks a key's representative row (see PRECEDENCE)."""
    richness = " + ".join(f"({_quote(c)} IS NOT NULL)::INTEGER" for c in spec.columns)
    return PRECEDENCE.get(spec.name, "raw_sha256").format(richness=f"({richness})")


def files_sql(paths: Sequence[Path]) -> str:
    """A DuckDB list literal of file paths, for read_parquet."""
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


def build_curated_table(
    spec: TableSpec, staged: Sequence[Path], out_path: Path, candidates_sql: str | None = None
) -> int:
    """Write ``out_path`` from the staged files: one row per primary key, sorted by the table's sort key.

    ``candidates_sql``, when given, is a query whose rows replace the staged files' rows (a table's own
    curation rule, e.g. one parse per paper for full text); the dedup and sort rules stay the same.
    """
    if not staged:
        with ParquetTableWriter(out_path, spec):
            return 0
    columns = ", ".join(_quote(c) for c in spec.columns)
    key = ", ".join(_quote(c) for c in spec.primary_key)
    order = ", ".join(_quote(c) for c in (*spec.sort_key, *spec.primary_key))
    precedence = precedence_sql(spec)
    files = "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in staged) + "]"
    # The last tie-breaker is a hash of the whole row, so the choice never depends on file or thread order.
    sql = f"""
        SELECT {columns} FROM {f"({candidates_sql})" if candidates_sql else f"read_parquet({files})"} AS staged
        QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY {precedence}, md5(CAST(staged AS VARCHAR))) = 1
        ORDER BY {order}
    """
    con = connect()
    try:
        reader = con.sql(sql).to_arrow_reader(BATCH_ROWS)
        with ParquetTableWriter(out_path, spec) as writer:
            for batch in reader:
                writer.add_batch(batch)
        return writer.rows_written
    finally:
        con.close()
