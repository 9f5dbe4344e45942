"""Attribute tables beside the curated records (dolma's design): tags with evidence, relevance, language.

Each reads the curated `papers` (and `paper_texts`) a record batch at a time and writes its own table, so a
threshold (a tag's score, `in_scope`, a language's confidence) changes in a query, not by re-tagging.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from pipelines.curate.combine import connect
from pipelines.curate.language import LanguageDetector, language_rows
from pipelines.curate.tagging import SafetyTagger, relevance_of
from pipelines.snapshot.parquet import ParquetTableWriter
from schemas import table_spec

BATCH_ROWS = 4096
# The language of a paper's body is judged on its first paragraphs: enough text for a confident guess.
FULL_TEXT_SAMPLE_CHARS = 2000
FULL_TEXT_SAMPLE_PARAGRAPHS = 8


def _paper_fields(papers: Path) -> Iterator[dict[str, Any]]:
    if not papers.is_file():
        return
    file = pq.ParquetFile(papers)
    for batch in file.iter_batches(batch_size=BATCH_ROWS, columns=["work_id", "title", "abstract"]):
        yield from batch.to_pylist()


def write_tags(
    papers: Path, tags_out: Path, relevance_out: Path, tagger: SafetyTagger | None = None
) -> tuple[int, int]:
    """Tag every paper's title and abstract; one `relevance` row per paper (0.0 without tags)."""
    tagger = tagger or SafetyTagger()
    version = tagger.taxonomy.version
    records = (
        (p["work_id"], {"title": p["title"], "abstract": p["abstract"]}) for p in _paper_fields(papers)
    )
    with (
        ParquetTableWriter(tags_out, table_spec("tags")) as tags_writer,
        ParquetTableWriter(relevance_out, table_spec("relevance")) as relevance_writer,
    ):
        for work_id, tags in tagger.tag_records(records):
            for tag in tags:
                tags_writer.add(tag.as_row())
            relevance_writer.add(relevance_of(work_id, tags, taxonomy_version=version).as_row())
    return tags_writer.rows_written, relevance_writer.rows_written


def _text_fields(papers: Path, texts: Path) -> Iterator[tuple[str, str, str | None]]:
    """(work_id, field, text) for title, abstract and a sample of the body, in work id order."""
    con = connect()
    try:
        body = "SELECT NULL::VARCHAR AS work_id, NULL::VARCHAR AS full_text WHERE false"
        if texts.is_file():
            # The first paragraphs of each body, joined.
            body = f"""
                SELECT work_id, left(string_agg(text, ' ' ORDER BY section_index, paragraph_index),
                                     {FULL_TEXT_SAMPLE_CHARS}) AS full_text
                FROM (
                    SELECT work_id, section_index, paragraph_index, text FROM read_parquet('{texts}')
                    WHERE kind = 'paragraph'
                    QUALIFY row_number() OVER (PARTITION BY work_id ORDER BY section_index, paragraph_index)
                        <= {FULL_TEXT_SAMPLE_PARAGRAPHS}
                ) GROUP BY work_id
            """
        reader = con.sql(
            f"""
            SELECT p.work_id, p.title, p.abstract, b.full_text
            FROM read_parquet('{papers}') p LEFT JOIN ({body}) b USING (work_id)
            ORDER BY p.work_id
            """
        ).to_arrow_reader(BATCH_ROWS)
        for batch in reader:
            for row in batch.to_pylist():
                yield row["work_id"], "title", row["title"]
                yield row["work_id"], "abstract", row["abstract"]
                yield row["work_id"], "full_text", row["full_text"]
    finally:
        con.close()


def write_languages(papers: Path, texts: Path, out: Path, detector: LanguageDetector | None = None) -> int:
    """The language of each paper's title, abstract and body (where it has them)."""
    with ParquetTableWriter(out, table_spec("languages")) as writer:
        if papers.is_file():
            for row in language_rows(_text_fields(papers, texts), detector):
                writer.add(row)
    return writer.rows_written
