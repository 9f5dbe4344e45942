"""``papers``: one row per work (a paper across its versions and sources)."""

from __future__ import annotations

import pyarrow as pa

from schemas.columns import PROVENANCE_FIELDS, TIMESTAMP, col

AUTHOR = pa.struct(
    [
        pa.field("name", pa.string()),
        pa.field("keyname", pa.string()),
        pa.field("forenames", pa.string()),
        pa.field("suffix", pa.string()),
        pa.field("affiliations", pa.list_(pa.string())),
    ]
)

VERSION = pa.struct(
    [
        pa.field("version", pa.string()),
        pa.field("submitted", TIMESTAMP),
        pa.field("size", pa.string()),
    ]
)

PAPERS_SCHEMA = pa.schema(
    [
        col(
            "work_id",
            pa.string(),
            "Stable key of the work: `arxiv:<id>` for arXiv papers, `doi:<doi>` for others, else a hash of "
            "normalised title, first author and year.",
            False,
        ),
        col(
            "arxiv_id",
            pa.string(),
            "arXiv identifier without version, e.g. `2401.01234` or `hep-th/9901001`.",
        ),
        col(
            "arxiv_versions",
            pa.list_(VERSION),
            "Known versions (`v1`, `v2`, ...) with submission time and size where the source gives them "
            "(arXivRaw gives all; the API gives only the latest, so earlier ones have no date).",
        ),
        col("latest_version", pa.int32(), "Number of the latest known arXiv version."),
        col("doi", pa.string(), "First DOI of the work, lower-cased, without `https://doi.org/`."),
        col("dois", pa.list_(pa.string()), "All DOIs the source gives for the work, normalised like `doi`."),
        col("title", pa.string(), "Title, whitespace collapsed; TeX left as the authors wrote it."),
        col("abstract", pa.string(), "Abstract, whitespace collapsed; TeX left as the authors wrote it."),
        col(
            "authors",
            pa.list_(AUTHOR),
            "Authors in order: display `name`, `keyname` (surname or collaboration), `forenames`, `suffix`, "
            "`affiliations`. Where a source gives only a display name the split is by the last word.",
        ),
        col("categories", pa.list_(pa.string()), "arXiv category codes, primary first (e.g. `cs.LG`)."),
        col("primary_category", pa.string(), "Primary arXiv category code."),
        col(
            "subjects",
            pa.list_(pa.string()),
            "Free-text subject names where the source gives names instead of codes (OAI-PMH `oai_dc`).",
        ),
        col("comments", pa.string(), "Authors' comments (pages, figures, venue)."),
        col("journal_ref", pa.string(), "Journal reference as given by the authors."),
        col("report_no", pa.string(), "Report number(s)."),
        col("msc_class", pa.string(), "Mathematics Subject Classification codes."),
        col("acm_class", pa.string(), "ACM Computing Classification codes."),
        col("license_url", pa.string(), "License URL exactly as the source states it."),
        col(
            "metadata_license",
            pa.string(),
            "SPDX id of the license of this row's metadata (arXiv metadata is CC0-1.0).",
        ),
        col(
            "text_redistributable",
            pa.bool_(),
            "Whether `license` allows redistributing the paper's full text (gates `paper_texts`).",
        ),
        col("created", pa.date32(), "Date the first version was submitted."),
        col("updated", pa.date32(), "Date of the latest version, where known."),
        col(
            "oai_datestamp",
            pa.date32(),
            "OAI-PMH datestamp: when the source last changed this metadata record.",
        ),
        col(
            "metadata_format",
            pa.string(),
            "Format of the source record: `arXiv`, `arXivRaw`, `oai_dc` (OAI-PMH) or `atom` (arXiv API).",
        ),
        *PROVENANCE_FIELDS,
    ]
)
