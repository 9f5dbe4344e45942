"""Curation tables: how works were resolved, which texts duplicate others, and attribute tables (tags,
relevance, language) kept beside the records they describe, so thresholds change without re-tagging."""

from __future__ import annotations

import pyarrow as pa

from schemas.columns import col

MERGES_SCHEMA = pa.schema(
    [
        col("work_id", pa.string(), "The work both records now belong to (`papers.work_id`).", False),
        col(
            "record_a",
            pa.string(),
            "One record, by the id its source gave it (the work id before resolution); `record_a < record_b`.",
            False,
        ),
        col("record_b", pa.string(), "The other record.", False),
        col(
            "method",
            pa.string(),
            "Why they are one work: `shared_arxiv_id`, `shared_doi`, `shared_openalex_id`, `shared_s2_id`, "
            "`shared_lesswrong_id`, `shared_pmid` (an identifier both carry), `fuzzy_title` (normalised title, "
            "year within one, first author and pages agree), `metadata` (no title: authors, year, volume, pages).",
            False,
        ),
        col(
            "score",
            pa.float64(),
            "1.0 for a shared identifier; the title similarity for fuzzy matches.",
            False,
        ),
        col("resolver_version", pa.string(), "Version of the resolution rules that made the merge.", False),
    ]
)

MERGED_IDS_SCHEMA = pa.schema(
    [
        col(
            "merged_id",
            pa.string(),
            "A work id that no longer names its own row: it was absorbed by another work. Links and "
            "snapshots that use it stay resolvable through this table (as OpenAlex keeps `merged_ids`).",
            False,
        ),
        col("work_id", pa.string(), "The work that absorbed it (`papers.work_id`).", False),
        col(
            "carried_over",
            pa.bool_(),
            "True when the record behind `merged_id` is no longer in the corpus and the redirect is kept "
            "from the previous build, so that older snapshots' ids never dangle.",
            False,
        ),
        col("resolver_version", pa.string(), "Version of the resolution rules.", False),
    ]
)

IDENTIFIER_CONFLICTS_SCHEMA = pa.schema(
    [
        col("record_a", pa.string(), "One record (its source-assigned work id).", False),
        col("record_b", pa.string(), "The record a shared identifier would have merged it with.", False),
        col(
            "identifier",
            pa.string(),
            "The identifier kind whose values differ (`arxiv`, `openalex`, `s2`, `lesswrong`, `pmid`).",
            False,
        ),
        col("value_a", pa.string(), "That identifier on record_a's side.", False),
        col("value_b", pa.string(), "That identifier on record_b's side.", False),
        col("reason", pa.string(), "Why the merge was refused, in words.", False),
        col("resolver_version", pa.string(), "Version of the resolution rules.", False),
    ]
)

DUPLICATES_SCHEMA = pa.schema(
    [
        col(
            "record_id",
            pa.string(),
            "The duplicate: a `papers.work_id` (fields `abstract`, `full_text`), or "
            "`<work_id>#<section_index>.<paragraph_index>` for a `paragraph` of `paper_texts`.",
            False,
        ),
        col("field", pa.string(), "`abstract`, `full_text` (a work's body text) or `paragraph`.", False),
        col(
            "kind",
            pa.string(),
            "`exact` (same content key) or `near` (MinHash + LSH candidate, verified by exact Jaccard).",
            False,
        ),
        col(
            "duplicate_of",
            pa.string(),
            "The survivor of its cluster, by the documented priority: published article before preprint "
            "before post, then the richer record, then the smaller id.",
            False,
        ),
        col(
            "similarity",
            pa.float64(),
            "1.0 for exact duplicates; for near duplicates the exact Jaccard similarity of the word 5-gram "
            "sets with the survivor, or with the nearest cluster member when the survivor was not compared.",
            False,
        ),
        col("cluster_size", pa.int32(), "Records in the cluster, the survivor included.", False),
        col(
            "content_key",
            pa.string(),
            "For exact duplicates: blake2b-128 of the NFKC, case-folded, whitespace-collapsed text.",
        ),
        col(
            "method",
            pa.string(),
            "The detector and its parameters, e.g. `content_key v1` or "
            "`minhash rensa 0.5.x num_perm=128 bands=32 rows=4 word_5grams threshold=0.8`.",
            False,
        ),
    ]
)

EVIDENCE = pa.struct(
    [
        pa.field("field", pa.string()),
        pa.field("start", pa.int32()),
        pa.field("end", pa.int32()),
        pa.field("text", pa.string()),
    ]
)

TAGS_SCHEMA = pa.schema(
    [
        col("record_id", pa.string(), "The tagged record (`papers.work_id`).", False),
        col(
            "tag",
            pa.string(),
            "`area/<id>` (a safety research area of the taxonomy), `benchmark/<id>`, `dataset/<id>`, "
            "`model/<id>` or `method/<id>` (an artifact the text names).",
            False,
        ),
        col("kind", pa.string(), "`area`, `benchmark`, `dataset`, `model`, `method` or `entity`.", False),
        col("label", pa.string(), "The taxonomy's human-readable name for the tag.", False),
        col(
            "score",
            pa.float64(),
            "How strongly the text supports the tag, 0 to 1 (combined over its mentions; a title mention "
            "weighs more than one in the abstract). Filter on it: thresholds need no re-tagging.",
            False,
        ),
        col(
            "evidence",
            pa.list_(EVIDENCE),
            "Every mention: the field, character offsets into it (`text == field[start:end]`) and the text.",
            False,
        ),
        col("taxonomy_version", pa.string(), "Version of `safety_taxonomy.yaml` the tag comes from.", False),
        col("tagger", pa.string(), "Name of the tagger.", False),
        col("tagger_version", pa.string(), "Version of the tagger's rules.", False),
    ]
)

RELEVANCE_SCHEMA = pa.schema(
    [
        col("record_id", pa.string(), "The record (`papers.work_id`).", False),
        col(
            "relevance",
            pa.float64(),
            "How likely the record is AI-safety research, 0 to 1, combined from its tags' scores.",
            False,
        ),
        col(
            "in_scope",
            pa.bool_(),
            "relevance at or above the threshold (0.5): the records that get the expensive stages "
            "(PDF, GROBID, repository crawl) first.",
            False,
        ),
        col("areas", pa.list_(pa.string()), "The record's safety areas, highest score first.", False),
        col("taxonomy_version", pa.string(), "Version of the taxonomy the tags come from.", False),
    ]
)

LANGUAGES_SCHEMA = pa.schema(
    [
        col("record_id", pa.string(), "The record (`papers.work_id`).", False),
        col(
            "field",
            pa.string(),
            "`title`, `abstract` or `full_text` (the first 2,000 characters of the body).",
            False,
        ),
        col(
            "language",
            pa.string(),
            "ISO 639-1 code of the detected language, or `und` when the text is empty or too short or the "
            "detector is not confident.",
            False,
        ),
        col("language_iso639_3", pa.string(), "ISO 639-3 code, or `und`.", False),
        col(
            "confidence",
            pa.float64(),
            "The detector's confidence, 0 to 1 (0 when there was nothing to judge).",
            False,
        ),
        col("detector", pa.string(), "The detector (lingua).", False),
        col("detector_version", pa.string(), "Its version.", False),
        col("n_chars", pa.int32(), "Characters of the text judged.", False),
    ]
)
