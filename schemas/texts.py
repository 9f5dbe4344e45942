"""``paper_texts`` and ``references``: a paper's full text, paragraph by paragraph, and its bibliography."""

from __future__ import annotations

import pyarrow as pa

from schemas.columns import PROVENANCE_FIELDS, col

PAPER_TEXTS_SCHEMA = pa.schema(
    [
        col("work_id", pa.string(), "The work this text belongs to (`papers.work_id`).", False),
        col(
            "section_index",
            pa.int32(),
            "Position of the section in the document, from 0 (front matter such as the abstract is section 0 "
            "when the parser reports it; for `pdf_text`, the page number from 1).",
            False,
        ),
        col("paragraph_index", pa.int32(), "Position of the paragraph within its section, from 0.", False),
        col(
            "paragraph_id",
            pa.string(),
            "Deterministic id: SHA-256 of the parsed document's `raw_sha256` and the position, first 32 hex.",
            False,
        ),
        col("section_title", pa.string(), "Heading of the section, as printed."),
        col(
            "section_number",
            pa.string(),
            "Number of the section as printed (e.g. `3.2`), where there is one.",
        ),
        col(
            "kind",
            pa.string(),
            "`paragraph`, `figure_caption`, `table_caption`, `table`, `formula` or `page` (pdf_text: a page's text).",
            False,
        ),
        col("text", pa.string(), "The text, whitespace collapsed; formulas as their text.", False),
        col(
            "table_cells",
            pa.list_(pa.list_(pa.string())),
            "For `kind = table`: the table's cells row by row, as text (the results issue reads these).",
        ),
        col("page", pa.int32(), "Page number from 1, where the parser knows it."),
        col(
            "text_quality",
            pa.string(),
            "`structured` (GROBID: sections, paragraphs, captions) or `page_text` (PDF text fallback, no structure).",
            False,
        ),
        *PROVENANCE_FIELDS,
    ]
)

REFERENCE_AUTHOR = pa.struct([pa.field("name", pa.string()), pa.field("keyname", pa.string())])

REFERENCES_SCHEMA = pa.schema(
    [
        col("work_id", pa.string(), "The citing work (`papers.work_id`).", False),
        col("reference_index", pa.int32(), "Position of the entry in the bibliography, from 0.", False),
        col(
            "reference_id",
            pa.string(),
            "Deterministic id: SHA-256 of the parsed document's `raw_sha256` and the entry's position, first 32 hex.",
            False,
        ),
        col(
            "cited_work_id",
            pa.string(),
            "The cited work's `papers.work_id` when it is in the corpus (matched by arXiv id or DOI), else null.",
        ),
        col("title", pa.string(), "Title of the cited work."),
        col("authors", pa.list_(REFERENCE_AUTHOR), "Authors of the cited work, in order."),
        col("year", pa.int32(), "Publication year."),
        col("venue", pa.string(), "Journal, proceedings or book title."),
        col("doi", pa.string(), "DOI, normalised like `papers.doi`."),
        col("arxiv_id", pa.string(), "arXiv id without version."),
        col("raw", pa.string(), "The entry as printed, where the parser kept it."),
        *PROVENANCE_FIELDS,
    ]
)
