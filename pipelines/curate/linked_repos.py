"""Curation across papers, repositories and results: the code links papers' text names, the repositories
they point at (crawled or not yet), the official/mentioned role of each link, and results read from papers'
tables.

- **Code links** come from the curated `papers`, `paper_texts` and `references`
  (``pipelines.curate.code_links``), one per (paper, repository), with the field, offsets and matched text.
- **Repositories**: one row per repository a source crawled (the GitHub source's partial documents merged
  per repository, see ``pipelines.curate.repositories``), plus a `not_crawled` row for every linked
  repository no crawl has reached yet, so every link has a row to point at and the crawl's progress shows.
- **Links**: the sources' own links (citations, results to papers and logs) and the code links, each code
  link marked `official` or `mentioned` against the repository's README and description.
- **Results from papers' tables** (``pipelines.curate.paper_tables``) join the sources' results.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pipelines.curate.code_links import PARSER_VERSION as CODE_LINKS_PARSER_VERSION
from pipelines.curate.code_links import code_links_from_papers, official_role_sql
from pipelines.curate.combine import files_sql
from pipelines.curate.paper_tables import paper_table_results
from pipelines.curate.repositories import merged_repositories_sql
from pipelines.snapshot.parquet import ParquetTableWriter
from schemas import table_spec

CODE_LINKS_VERSION = CODE_LINKS_PARSER_VERSION


def _existing(paths: Sequence[Path]) -> list[Path]:
    return [p for p in paths if p.is_file()]


def write_code_links(
    papers: Sequence[Path], texts: Sequence[Path], references: Sequence[Path], out: Path
) -> int:
    """The code links of the curated papers, written to ``out`` with the `links` schema."""
    with ParquetTableWriter(out, table_spec("links")) as writer:
        for row in code_links_from_papers(_existing(papers), _existing(texts), _existing(references)):
            writer.add(row)
    return writer.rows_written


def write_paper_table_results(texts: Sequence[Path], out: Path) -> int:
    """`results` rows read from the tables of the curated paper texts, written to ``out``."""
    with ParquetTableWriter(out, table_spec("results")) as writer:
        for row in paper_table_results(_existing(texts)):
            writer.add(row)
    return writer.rows_written


def empty_table(name: str, folder: Path) -> Path:
    """An empty Parquet file with a table's schema: gives a query over no staged files its column types."""
    path = folder / f"empty-{name}.parquet"
    if not path.is_file():
        with ParquetTableWriter(path, table_spec(name)):
            pass
    return path


_REPO_ID_PARTS = """
    split_part(l.dst_id, ':', 1) AS prefix,
    string_split(split_part(l.dst_id, ':', 2), '/') AS segments
"""


def repositories_candidates_sql(staged: Sequence[Path], code_links: Path, scratch: Path) -> str:
    """Crawled repositories merged per repo_id, plus a `not_crawled` row per linked repository without one.

    A `not_crawled` row's provenance is the link's: the paper row whose text named the repository.
    """
    files = [*staged, empty_table("repositories", scratch)]
    crawled = merged_repositories_sql(files)
    links = files_sql(_existing([code_links]) or [empty_table("links", scratch)])
    return f"""
        WITH crawled AS ({crawled}),
        linked AS (
            SELECT * FROM (
                SELECT l.*, {_REPO_ID_PARTS},
                    row_number() OVER (PARTITION BY l.dst_id ORDER BY l.src_id, l.evidence) AS rn
                FROM read_parquet({links}) l WHERE l.link_type = 'code'
            ) WHERE rn = 1 AND dst_id NOT IN (SELECT repo_id FROM crawled)
        )
        SELECT * FROM crawled
        UNION ALL BY NAME
        SELECT
            dst_id AS repo_id,
            CASE WHEN prefix LIKE 'hf%' THEN 'huggingface' ELSE prefix END AS host,
            array_to_string(segments[1:len(segments) - 1], '/') AS owner,
            segments[len(segments)] AS name,
            'not_crawled' AS status,
            false AS text_redistributable,
            source, source_record_id, source_url, retrieved_at, raw_sha256,
            parser, parser_version, pipeline_version,
            'unknown' AS license,
            'repository not crawled yet' AS license_source
        FROM linked
    """


def links_candidates_sql(
    staged: Sequence[Path], code_links: Path, repositories: Path, papers: Path, scratch: Path
) -> str:
    """The sources' links and the code links, each code link with its `official`/`mentioned` role."""
    files = [*staged, empty_table("links", scratch)]
    code = _existing([code_links])
    if not code:
        return f"SELECT * FROM read_parquet({files_sql(files)})"
    role = official_role_sql(
        code[0],
        repositories if repositories.is_file() else empty_table("repositories", scratch),
        papers if papers.is_file() else empty_table("papers", scratch),
    )
    return f"""
        SELECT * FROM read_parquet({files_sql(files)})
        UNION ALL BY NAME
        SELECT * FROM ({role})
    """
