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
    # The work's own metadata source first (see Source.curation_rank); newest metadata next; then the
    # record with the most fields filled; then the richest format; then
    # content hash, for a total order.
    "papers": (
        "{source_rank}, coalesce(oai_datestamp, updated, created) DESC NULLS LAST, {richness} DESC, "
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
    from pipelines.sources.registry import all_sources

    richness = " + ".join(f"({_quote(c)} IS NOT NULL)::INTEGER" for c in spec.columns)
    ranked = [(name, s.curation_rank) for name, s in all_sources().items() if s.curation_rank]
    source_rank = (
        "CASE source " + " ".join(f"WHEN '{name}' THEN {rank}" for name, rank in ranked) + " ELSE 0 END"
        if ranked
        else "0"
    )
    return PRECEDENCE.get(spec.name, "raw_sha256").format(richness=f"({richness})", source_rank=source_rank)


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
    con = connect()
    try:
        sql = _curated_sql(con, spec, files_sql(staged), candidates_sql)
        reader = con.sql(sql).to_arrow_reader(BATCH_ROWS)
        with ParquetTableWriter(out_path, spec) as writer:
            for batch in reader:
                writer.add_batch(batch)
        return writer.rows_written
    finally:
        con.close()


_DUP_KEYS = "__curate_dup_keys"
_SOURCE = "__curate_source"


def _curated_sql(
    con: duckdb.DuckDBPyConnection, spec: TableSpec, files: str, candidates_sql: str | None
) -> str:
    """The query giving one row per primary key, sorted: the staged files' rows, or ``candidates_sql``'s.

    A key's representative is the first of its rows by the table's precedence, then by a hash of the whole
    row, so the choice never depends on file or thread order. The window that picks it, and above all that
    hash (a VARCHAR cast of every column, 55% of the query when it ran on every row), only run on the keys
    that occur more than once: rows of the other keys are kept as they are, which is what the window would
    have chosen. Duplicate keys are found first (NULLs in a key match each other, as in PARTITION BY).
    """
    columns = ", ".join(_quote(c) for c in spec.columns)
    key = ", ".join(_quote(c) for c in spec.primary_key)
    order = ", ".join(_quote(c) for c in (*spec.sort_key, *spec.primary_key))
    precedence = precedence_sql(spec)
    if candidates_sql:
        # One query, so the candidates (themselves a query over all staged rows) are computed once.
        source = _SOURCE
        prefix = f"""
            WITH {_SOURCE} AS MATERIALIZED (SELECT * FROM ({candidates_sql})),
            {_DUP_KEYS} AS (SELECT {key} FROM {_SOURCE} GROUP BY {key} HAVING count(*) > 1)
        """
    else:
        # A scan of the key columns alone; usually there are none, and the rows need only sorting.
        source = f"read_parquet({files})"
        prefix = ""
        con.execute(
            f"CREATE TEMP TABLE {_DUP_KEYS} AS "
            f"SELECT {key} FROM {source} AS staged GROUP BY {key} HAVING count(*) > 1"
        )
        if con.execute(f"SELECT count(*) FROM {_DUP_KEYS}").fetchall()[0][0] == 0:
            return f"SELECT {columns} FROM {source} AS staged ORDER BY {order}"
    duplicate = " AND ".join(
        f"{_DUP_KEYS}.{_quote(c)} IS NOT DISTINCT FROM staged.{_quote(c)}" for c in spec.primary_key
    )
    return f"""
        {prefix}
        SELECT {columns} FROM {source} AS staged
        WHERE NOT EXISTS (SELECT 1 FROM {_DUP_KEYS} WHERE {duplicate})
        UNION ALL
        SELECT {columns} FROM {source} AS staged
        WHERE EXISTS (SELECT 1 FROM {_DUP_KEYS} WHERE {duplicate})
        QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY {precedence}, md5(CAST(staged AS VARCHAR))) = 1
        ORDER BY {order}
    """
