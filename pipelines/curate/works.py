"""Curation rules across tables of one work: which parse of a paper's text is kept, which rows enrich a
work's main row, and the license gate on full text.

- **Resolved work ids.** Every staged row's work id (and a reference's cited work id) is first replaced by
  its work's id from entity resolution's work map (see work_resolution), so the rows of a preprint and its
  published version, or of one paper from arXiv and OpenAlex, are one work's rows.
- **One parse per paper.** A paper may be parsed more than once (GROBID TEI, the PDF text fallback, two
  versions of a PDF). `paper_texts` and `references` keep, per work, all rows of one parse: structured
  (GROBID) before page text, then the lowest raw_sha256, so paragraphs of different parses never mix.
- **Enrichment.** The main row of a work is chosen by the table's precedence (arXiv metadata first); the
  enrichment columns (identifiers and counts only other sources know) are filled from the work's other rows,
  `dois` holds every DOI of every row, and `enriched_by` names those sources. Provenance columns stay the main row's.
- **License gate.** Full text is released only for works whose main row says `text_redistributable`;
  `has_full_text`, `text_parser` and `n_paragraphs` describe what the snapshot holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pipelines.curate.combine import files_sql
from pipelines.curate.work_resolution import remap_sql

ENRICHMENT_COLUMNS = ("arxiv_id", "openalex_id", "s2_paper_id", "cited_by_count", "oa_status", "doi", "venue")
_PARSE_RANK = "CASE WHEN parser LIKE 'grobid%' THEN 0 ELSE 1 END"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def staged_sql(staged: Sequence[Path], work_map: Path | None, columns: Sequence[str] = ("work_id",)) -> str:
    """The staged rows with the work ids of ``columns`` resolved (see work_resolution)."""
    return remap_sql(f"SELECT * FROM read_parquet({files_sql(staged)})", work_map, columns)


def best_parse_sql(
    staged: Sequence[Path], work_map: Path | None = None, columns: Sequence[str] = ("work_id",)
) -> str:
    """Rows of the one parse kept per work (for paper_texts or references), work ids resolved."""
    return f"""
        WITH rows AS ({staged_sql(staged, work_map, columns)}),
        kept AS (
            SELECT work_id, first(raw_sha256 ORDER BY {_PARSE_RANK}, raw_sha256) AS raw_sha256
            FROM rows GROUP BY work_id
        )
        SELECT rows.* FROM rows JOIN kept USING (work_id, raw_sha256)
    """


def released_texts_sql(texts: Path, papers: Path) -> str:
    """The license gate: curated paper_texts rows of works whose text may be redistributed."""
    return f"""
        SELECT t.* FROM read_parquet('{texts}') t
        WHERE t.work_id IN (SELECT work_id FROM read_parquet('{papers}') WHERE text_redistributable)
    """


def references_candidates_sql(
    staged_refs: Sequence[Path], staged_papers: Sequence[Path], work_map: Path | None = None
) -> str:
    """One parse of each bibliography; `cited_work_id` resolved, and kept only where the cited work is in
    the corpus."""
    known = (
        f"SELECT DISTINCT work_id FROM ({staged_sql(staged_papers, work_map)})"
        if staged_papers
        else ("SELECT NULL::VARCHAR AS work_id WHERE false")
    )
    return f"""
        SELECT r.* REPLACE (CASE WHEN r.cited_work_id IN ({known}) THEN r.cited_work_id END AS cited_work_id)
        FROM ({best_parse_sql(staged_refs, work_map, ("work_id", "cited_work_id"))}) r
    """


def papers_candidates_sql(
    columns: Sequence[str],
    precedence: str,
    staged_papers: Sequence[Path],
    staged_texts: Sequence[Path],
    staged_refs: Sequence[Path],
    work_map: Path | None = None,
) -> str:
    """One row per work: its main row, enrichment filled from its other rows, every DOI of every row,
    full-text facts joined. Rows of absorbed work ids count as the work's rows (see work_resolution)."""
    enrich = [c for c in ENRICHMENT_COLUMNS if c in columns]
    enrich_aggs = ",\n".join(
        f"first({_q(c)} ORDER BY rn) FILTER (WHERE {_q(c)} IS NOT NULL) AS {_q(c)}" for c in enrich
    )
    contributed = " OR ".join(f"{_q(c)} IS NOT NULL" for c in enrich) or "false"
    if staged_texts:
        text_stats = f"""
            SELECT t.work_id, count(*)::INTEGER AS n_paragraphs, first(t.parser) AS text_parser
            FROM ({best_parse_sql(staged_texts, work_map)}) t GROUP BY t.work_id
        """
    else:
        text_stats = "SELECT NULL::VARCHAR AS work_id, NULL::INTEGER AS n_paragraphs, NULL::VARCHAR AS text_parser WHERE false"
    if staged_refs:
        ref_stats = f"""
            SELECT r.work_id, count(*)::INTEGER AS n_references
            FROM ({best_parse_sql(staged_refs, work_map)}) r GROUP BY r.work_id
        """
    else:
        ref_stats = "SELECT NULL::VARCHAR AS work_id, NULL::INTEGER AS n_references WHERE false"
    replaced = [f"coalesce(m.{_q(c)}, e.{_q(c)}) AS {_q(c)}" for c in enrich]
    # Every DOI of every row of the work (a preprint's DOI beside the published one), sorted.
    all_dois = (
        "list_sort(list_distinct(flatten(list(coalesce(dois, []) || "
        "CASE WHEN doi IS NULL THEN []::VARCHAR[] ELSE [doi] END)))) AS all_dois,"
        if "dois" in columns
        else ""
    )
    if "dois" in columns:
        replaced.append("CASE WHEN len(e.all_dois) > 0 THEN e.all_dois END AS dois")
    replaced += [
        "CASE WHEN len(list_filter(e.enriched_by, lambda s: s <> m.source)) > 0 "
        "THEN list_filter(e.enriched_by, lambda s: s <> m.source) END AS enriched_by",
        "coalesce(m.text_redistributable AND t.n_paragraphs IS NOT NULL, false) AS has_full_text",
        "CASE WHEN m.text_redistributable THEN t.text_parser END AS text_parser",
        "CASE WHEN m.text_redistributable THEN t.n_paragraphs END AS n_paragraphs",
        "r.n_references AS n_references",
    ]
    return f"""
        WITH staged AS ({staged_sql(staged_papers, work_map)}),
        ranked AS (
            SELECT *, row_number() OVER (
                PARTITION BY work_id ORDER BY {precedence}, md5(CAST(staged AS VARCHAR))
            ) AS rn
            FROM staged
        ),
        main AS (SELECT * EXCLUDE (rn) FROM ranked WHERE rn = 1),
        enrichment AS (
            SELECT work_id,
                {enrich_aggs + "," if enrich_aggs else ""}
                {all_dois}
                list_sort(list(DISTINCT source) FILTER (WHERE rn > 1 AND ({contributed}))) AS enriched_by
            FROM ranked GROUP BY work_id
        ),
        text_stats AS ({text_stats}),
        ref_stats AS ({ref_stats})
        SELECT m.* REPLACE ({", ".join(replaced)})
        FROM main m
        JOIN enrichment e USING (work_id)
        LEFT JOIN text_stats t USING (work_id)
        LEFT JOIN ref_stats r USING (work_id)
    """
