"""Row-level diffs between two snapshots of a table: added, updated and deleted rows by primary key.

"Updated" means any column differs, except ``pipeline_version``, which changes with every code commit
and would otherwise mark every row updated. Columns whose type changed are reported as schema changes
and left out of the comparison.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from pipelines.curate.combine import BATCH_ROWS, connect
from pipelines.snapshot.parquet import ParquetTableWriter
from schemas import TableSpec

IGNORED_IN_COMPARISON = {"pipeline_version"}
KINDS = ("added", "updated", "deleted")


@dataclass
class TableDiff:
    table: str
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    by_source: dict[str, dict[str, int]] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)


def _files_sql(paths: Sequence[Path]) -> str:
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def diff_table(spec: TableSpec, old: Sequence[Path], new: Sequence[Path], out_dir: Path) -> TableDiff:
    """Write ``out_dir/{added,updated,deleted}.parquet`` and return their counts (also per source)."""
    result = TableDiff(spec.name)
    old_schema = pq.read_schema(old[0]) if old else None
    con = connect()
    try:
        con.execute(f"CREATE VIEW new_rows AS SELECT * FROM read_parquet({_files_sql(new)})")
        if old:
            con.execute(f"CREATE VIEW old_rows AS SELECT * FROM read_parquet({_files_sql(old)})")
        else:
            con.execute("CREATE VIEW old_rows AS SELECT * FROM new_rows WHERE false")
            old_schema = spec.schema
        assert old_schema is not None
        key = ", ".join(_q(k) for k in spec.primary_key)
        comparable = [
            f.name
            for f in spec.schema
            if f.name not in IGNORED_IN_COMPARISON
            and f.name in old_schema.names
            and old_schema.field(f.name).type.equals(f.type)
        ]
        differs = (
            f"row({', '.join('n.' + _q(c) for c in comparable)}) IS DISTINCT FROM "
            f"row({', '.join('o.' + _q(c) for c in comparable)})"
        )
        queries = {
            "added": f"SELECT n.* FROM new_rows n ANTI JOIN old_rows o USING ({key})",
            "updated": f"SELECT n.* FROM new_rows n JOIN old_rows o USING ({key}) WHERE {differs}",
            "deleted": f"SELECT o.* FROM old_rows o ANTI JOIN new_rows n USING ({key})",
        }
        out_dir.mkdir(parents=True, exist_ok=True)
        for kind, sql in queries.items():
            path = out_dir / f"{kind}.parquet"
            schema = old_schema if kind == "deleted" else spec.schema
            columns = ", ".join(_q(c) for c in schema.names)
            reader = con.sql(f"SELECT {columns} FROM ({sql}) ORDER BY {key}").to_arrow_reader(BATCH_ROWS)
            with ParquetTableWriter(path, spec, schema=schema) as writer:
                for batch in reader:
                    writer.add_batch(batch)
            result.counts[kind] = writer.rows_written
            result.files[kind] = path.name
            if "source" in schema.names and writer.rows_written:
                for source, n in con.execute(
                    f"SELECT source, count(*) FROM read_parquet('{path}') GROUP BY 1 ORDER BY 1"
                ).fetchall():
                    result.by_source.setdefault(source, dict.fromkeys(KINDS, 0))[kind] = n
    finally:
        con.close()
    return result
