"""Helpers to declare documented Arrow fields, and the provenance columns every curated table carries."""

from __future__ import annotations

import pyarrow as pa

DESCRIPTION_KEY = b"description"


def col(name: str, type_: pa.DataType, description: str, nullable: bool = True) -> pa.Field:
    """An Arrow field whose description travels with it into every Parquet file's schema."""
    return pa.field(name, type_, nullable=nullable, metadata={DESCRIPTION_KEY: description.encode()})


def description(field: pa.Field) -> str:
    meta = field.metadata or {}
    return meta.get(DESCRIPTION_KEY, b"").decode()


TIMESTAMP = pa.timestamp("us", tz="UTC")

PROVENANCE_FIELDS: list[pa.Field] = [
    col(
        "source",
        pa.string(),
        "Registered name of the source this row came from (see `commons sources`).",
        False,
    ),
    col(
        "source_record_id",
        pa.string(),
        "The record's identifier in its source, e.g. the OAI-PMH identifier `oai:arXiv.org:2401.01234` "
        "or the arXiv API entry id.",
        False,
    ),
    col("source_url", pa.string(), "Canonical URL of the record at its source."),
    col(
        "retrieved_at",
        TIMESTAMP,
        "When the source produced the bytes this row was parsed from: the response's own date "
        "(OAI-PMH responseDate, Atom feed updated, HTTP Date), so re-reading the same bytes gives the same value.",
    ),
    col(
        "raw_sha256",
        pa.string(),
        "SHA-256 of the exact bytes fetched or read; the key of those bytes in the raw store and in `fetches`.",
        False,
    ),
    col("parser", pa.string(), "Name of the parser that produced this row.", False),
    col("parser_version", pa.string(), "Version of that parser; rows are re-parsed when it changes.", False),
    col("pipeline_version", pa.string(), "`git describe` of the pipeline code that built this row.", False),
    col(
        "license",
        pa.string(),
        "SPDX license id (or SPDX `LicenseRef-` expression) of the record's content, or `unknown`.",
        False,
    ),
    col(
        "license_source",
        pa.string(),
        "Where the license value came from (field of the source, or a rule).",
        False,
    ),
]

PROVENANCE_COLUMNS: tuple[str, ...] = tuple(f.name for f in PROVENANCE_FIELDS)
