"""The table registry: which tables exist, their keys, sort order and Parquet sizing."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from schemas.columns import description
from schemas.curation import (
    DUPLICATES_SCHEMA,
    IDENTIFIER_CONFLICTS_SCHEMA,
    LANGUAGES_SCHEMA,
    MERGED_IDS_SCHEMA,
    MERGES_SCHEMA,
    RELEVANCE_SCHEMA,
    TAGS_SCHEMA,
)
from schemas.fetches import FETCHES_SCHEMA
from schemas.links import LINKS_SCHEMA
from schemas.papers import PAPERS_SCHEMA
from schemas.repositories import REPOSITORIES_SCHEMA
from schemas.results import RESULT_SAMPLES_SCHEMA, RESULTS_SCHEMA
from schemas.texts import PAPER_TEXTS_SCHEMA, REFERENCES_SCHEMA

# Semver of the published contract. Major: a column removed or retyped. Minor: a column or table added.
SCHEMA_VERSION = "0.5.0"


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
            name="paper_texts",
            description="One row per paragraph (or caption, table, formula, PDF page) of a paper's full text, in "
            "document order; only for papers whose license allows redistributing their text.",
            schema=PAPER_TEXTS_SCHEMA,
            primary_key=("work_id", "section_index", "paragraph_index"),
            sort_key=("work_id", "section_index", "paragraph_index"),
            row_group_bytes=16 * 1024 * 1024,
        ),
        TableSpec(
            name="references",
            description="One row per bibliography entry of a paper, resolved to the cited work where it is in the corpus.",
            schema=REFERENCES_SCHEMA,
            primary_key=("work_id", "reference_index"),
            sort_key=("work_id", "reference_index"),
        ),
        TableSpec(
            name="links",
            description="Typed edges between papers, repositories and results (citations, code, evaluations), "
            "each with its evidence.",
            schema=LINKS_SCHEMA,
            primary_key=("src_id", "dst_id", "link_type"),
            sort_key=("src_id", "link_type", "dst_id"),
        ),
        TableSpec(
            name="repositories",
            description="One row per code repository linked from a paper (GitHub, GitLab, Hugging Face): metadata, "
            "license, README where its license allows, and the crawl status.",
            schema=REPOSITORIES_SCHEMA,
            primary_key=("repo_id",),
            sort_key=("repo_id",),
        ),
        TableSpec(
            name="results",
            description="One row per (evaluation run, task, metric, filter): the value, its standard error, the model "
            "and the run's configuration, from Inspect logs, lm-evaluation-harness, HELM, Epoch AI and papers' tables.",
            schema=RESULTS_SCHEMA,
            primary_key=("result_id",),
            sort_key=("run_id", "result_id"),
        ),
        TableSpec(
            name="result_samples",
            description="One row per sample and epoch of an Inspect run: input, target, output (or their hashes), "
            "scores and explanations: the transcripts behind the numbers.",
            schema=RESULT_SAMPLES_SCHEMA,
            primary_key=("run_id", "sample_id", "epoch"),
            sort_key=("run_id", "sample_id", "epoch"),
            row_group_bytes=16 * 1024 * 1024,
        ),
        TableSpec(
            name="merges",
            description="One row per merge entity resolution made: the two records that became one work, the "
            "method (a shared identifier or a fuzzy match) and its score.",
            schema=MERGES_SCHEMA,
            primary_key=("record_a", "record_b"),
            sort_key=("work_id", "record_a", "record_b"),
        ),
        TableSpec(
            name="merged_ids",
            description="Work ids absorbed by another work, each with the work that absorbed it, so ids from "
            "older snapshots and links never dangle.",
            schema=MERGED_IDS_SCHEMA,
            primary_key=("merged_id",),
            sort_key=("merged_id",),
        ),
        TableSpec(
            name="identifier_conflicts",
            description="Merges a shared identifier asked for and resolution refused, because the records carry "
            "different values of an identifier a work has only one of (e.g. one DOI, two arXiv ids).",
            schema=IDENTIFIER_CONFLICTS_SCHEMA,
            primary_key=("record_a", "record_b", "identifier"),
            sort_key=("record_a", "record_b", "identifier"),
        ),
        TableSpec(
            name="duplicates",
            description="Texts that duplicate another record's exactly or nearly (abstracts, full text, "
            "paragraphs): each duplicate with its survivor, similarity and method. Nothing is dropped: "
            "filter on this table to deduplicate.",
            schema=DUPLICATES_SCHEMA,
            primary_key=("record_id", "field", "kind"),
            sort_key=("field", "kind", "record_id"),
        ),
        TableSpec(
            name="tags",
            description="Attribute table: safety research areas and artifacts (benchmarks, datasets, models, "
            "methods) each paper's text names, with score, evidence spans and taxonomy version.",
            schema=TAGS_SCHEMA,
            primary_key=("record_id", "tag"),
            sort_key=("record_id", "tag"),
        ),
        TableSpec(
            name="relevance",
            description="Attribute table: how likely each paper is AI-safety research, from its tags, and the "
            "in_scope flag that decides which records get the expensive stages.",
            schema=RELEVANCE_SCHEMA,
            primary_key=("record_id",),
            sort_key=("record_id",),
        ),
        TableSpec(
            name="languages",
            description="Attribute table: the detected language of each paper's title, abstract and full text.",
            schema=LANGUAGES_SCHEMA,
            primary_key=("record_id", "field"),
            sort_key=("record_id", "field"),
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
