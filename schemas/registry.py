"""The table registry: which tables exist, their keys, sort order and Parquet sizing."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from schemas.columns import description
from schemas.fetches import FETCHES_SCHEMA
from schemas.papers import PAPERS_SCHEMA

# Semver of the published contract. Major: a column removed or retyped. Minor: a column or table added.
SCHEMA_VERSION = "0.2.0"


@dataclass(frozen=True)
class TableSpec:
    name: str
    description: str
    schema: pa.Schema
    primary_key: tuple[str, ...]
    # Rows are sorted by this (then the primary key) in every file, so users' filters skip row groups.
    sort_key: tuple[str, ...]
    # Target uncompressed bytes per row group: small for full text, larger for metadata.
    row_group_bytes: int = 64 * 1024 * 1024

    @property
    def columns(self) -> list[str]:
        return list(self.schema.names)


TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (
        TableSpec(
            name="papers",
            description="One row per work: a paper across its versions and sources, with structured authors, "
            "identifiers, license and provenance.",
            schema=PAPERS_SCHEMA,
            primary_key=("work_id",),
            sort_key=("work_id",),
        ),
        TableSpec(
            name="fetches",
            description="One row per distinct HTTP response or local file read that fed the dataset, "
            "with its status, error and content hash.",
            schema=FETCHES_SCHEMA,
            primary_key=("fetch_id",),
            sort_key=("source", "url_or_path", "fetch_id"),
        ),
    )
}


def table_spec(name: str) -> TableSpec:
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"unknown table {name!r}; known tables: {', '.join(sorted(TABLES))}") from None


def _type_name(type_: pa.DataType) -> str:
    return str(type_).replace("timestamp[us, tz=UTC]", "timestamp (UTC)").replace("item: ", "")


def column_docs(name: str) -> list[tuple[str, str, str]]:
    """(column, type, description) for every column of a table, in schema order."""
    return [(f.name, _type_name(f.type), description(f)) for f in table_spec(name).schema]
