"""``links``: typed edges between entities, each with the evidence that produced it."""

from __future__ import annotations

import pyarrow as pa

from schemas.columns import PROVENANCE_FIELDS, col

LINKS_SCHEMA = pa.schema(
    [
        col(
            "src_id",
            pa.string(),
            "Where the edge starts: a `papers.work_id`, `repositories.repo_id` or result key.",
            False,
        ),
        col("dst_id", pa.string(), "Where the edge ends, in the same id spaces as `src_id`.", False),
        col(
            "link_type",
            pa.string(),
            "`cites` (paper→paper), `code` (paper→repository), `evaluates` (result run→paper), `run_log` "
            "(result run→the log it was read from), `uses_code` (result run→repository)",
            False,
        ),
        col(
            "evidence",
            pa.string(),
            "What produced the edge: e.g. `openalex referenced_works`, `semantic_scholar references`, "
            "`grobid reference 12`, or the field the match was found in.",
            False,
        ),
        col("evidence_text", pa.string(), "The matched text, where the edge was found in text."),
        col("evidence_start", pa.int32(), "Character offset of the match in that field, where there is one."),
        col("evidence_end", pa.int32(), "End offset (exclusive) of the match."),
        col(
            "confidence",
            pa.float64(),
            "How sure the producer is, from 0 to 1 (1 for an identifier the source states).",
        ),
        col(
            "role",
            pa.string(),
            "For `code` links: `official` (the repository points back at the paper by arXiv id, DOI or title, "
            "or the paper's authors own it) or `mentioned`; null for other link types.",
        ),
        *PROVENANCE_FIELDS,
    ]
)
