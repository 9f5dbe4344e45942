"""Materialization metadata for a Parquet table: row count, column schema with docs, URI."""

from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow.parquet as pq

from schemas import TableSpec
from schemas.columns import description


def column_schema(spec: TableSpec) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name=f.name, type=str(f.type), description=description(f) or None)
            for f in spec.schema
        ]
    )


def table_metadata(spec: TableSpec, path: Path) -> dict[str, Any]:
    rows = pq.ParquetFile(path).metadata.num_rows if path.exists() else 0
    return {
        "dagster/row_count": rows,
        "dagster/column_schema": column_schema(spec),
        "dagster/uri": dg.MetadataValue.path(str(path)),
        "bytes": path.stat().st_size if path.exists() else 0,
    }
