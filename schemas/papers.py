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
            "Stable key of the work: `arxiv:<id>` for arXiv papers, `lesswrong:<post id>` for LessWrong and "
            "Alignment Forum posts (one id on both sites), `doi:<doi>` for others, else `hash:<16 hex>` of "
            "normalised title, first author and year; `openalex:W...` / `s2:<id>` for works only those services "
            "know; `pdf:<16 hex of the PDF's SHA-256>` for a PDF with no other identity. When entity resolution "
            "unites records, the work keeps the first of their ids by kind (arxiv, doi, lesswrong, openalex, s2, "
            "hash, pdf) and the others go to `merged_ids`.",
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
        col(
            "dois",
            pa.list_(pa.string()),
            "Every DOI of the work's records across sources (e.g. a preprint's and the published version's), "
            "normalised like `doi`, sorted.",
        ),
        col("title", pa.string(), "Title, whitespace collapsed; TeX left as the authors wrote it."),
        col(
            "abstract",
            pa.string(),
            "Abstract, whitespace collapsed; TeX left as the authors wrote it. For forum posts (`work_type` "
            "`post`), the excerpt of the post's opening text that the source serves, not an author-written abstract.",
        ),
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
        col(
            "created",
            pa.date32(),
            "Date the first version was submitted (for forum posts: the UTC date of `published_at`).",
        ),
        col("updated", pa.date32(), "Date of the latest version, where known."),
        col(
            "oai_datestamp",
            pa.date32(),
            "OAI-PMH datestamp: when the source last changed this metadata record.",
        ),
        col(
            "metadata_format",
            pa.string(),
            "Format of the source record: `arXiv`, `arXivRaw`, `oai_dc` (OAI-PMH) or `atom` (arXiv API); for "
            "posts `lesswrong_graphql` (a LessWrong GraphQL response) or `lesswrong_post_index_csv` (post index CSV); "
            "`grobid_tei` (the header of a GROBID parse), `openalex_work`, `s2_paper`.",
        ),
        col(
            "work_type",
            pa.string(),
            "Kind of work: `preprint` (arXiv), `post` (a LessWrong / Alignment Forum post), `article` (a parsed "
            "document without an arXiv id), or the type OpenAlex / Semantic Scholar state (e.g. `journal-article`).",
        ),
        col(
            "venue",
            pa.string(),
            "Where the work was published, where that is a venue rather than a preprint server: "
            "`Alignment Forum` or `LessWrong` for posts (a post on both sites is `Alignment Forum`); "
            "null for arXiv preprints.",
        ),
        col(
            "published_at",
            TIMESTAMP,
            "Exact publication time (UTC) where the source gives one (a post's `postedAt`); null otherwise.",
        ),
        col(
            "score",
            pa.int64(),
            "The community's net vote score when the source record was read: LessWrong karma (`baseScore`; "
            "the Alignment Forum's own AF karma is not this); null for sources without votes. Changes over time.",
        ),
        col(
            "comment_count",
            pa.int64(),
            "Number of comments on the work at the source when the record was read, where the source counts them.",
        ),
        col(
            "word_count",
            pa.int64(),
            "Length of the work's text in words, as the source counts it (LessWrong `wordCount`).",
        ),
        col("openalex_id", pa.string(), "OpenAlex work id (`W...`), from the OpenAlex source."),
        col(
            "s2_paper_id",
            pa.string(),
            "Semantic Scholar paper id (40 hex characters), from Semantic Scholar.",
        ),
        col(
            "cited_by_count",
            pa.int64(),
            "Citations counted by OpenAlex (or Semantic Scholar when OpenAlex has none).",
        ),
        col(
            "oa_status",
            pa.string(),
            "Open-access status as OpenAlex states it (`gold`, `green`, `hybrid`, `bronze`, `closed`).",
        ),
        col(
            "enriched_by",
            pa.list_(pa.string()),
            "Sources whose rows for the same work (after entity resolution) filled this row's enrichment columns "
            "(`arxiv_id`, `openalex_id`, `s2_paper_id`, `cited_by_count`, `oa_status`, `doi`, `venue`); the row's "
            "provenance is its main source's.",
        ),
        col("has_full_text", pa.bool_(), "Whether `paper_texts` holds this work's text in this snapshot."),
        col(
            "text_parser",
            pa.string(),
            "Parser of the work's text in `paper_texts`: `grobid_tei` (structured) or `pdf_text` (page text fallback).",
        ),
        col("n_paragraphs", pa.int32(), "Rows of this work in `paper_texts`."),
        col("n_references", pa.int32(), "Rows of this work in `references` (its bibliography entries)."),
        *PROVENANCE_FIELDS,
    ]
)
