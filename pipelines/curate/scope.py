"""Which records get the expensive stages (PDF download and parse, repository crawl): the in-scope ones.

`relevance.in_scope` (from the safety tags) decides, most relevant first. Before the first release has
tagged anything there is no `relevance` table, and every candidate is taken, as before tagging existed.
"""

from __future__ import annotations

from pathlib import Path

from pipelines.curate.combine import connect


def _in_scope_sql(relevance: Path | None) -> str | None:
    if relevance is None or not relevance.is_file():
        return None
    return f"SELECT record_id, relevance FROM read_parquet('{relevance}') WHERE in_scope"


def pdfs_wanted(papers: Path, relevance: Path | None, limit: int = 1000) -> list[str]:
    """arXiv ids (with the latest version) of in-scope papers whose license allows redistributing their
    text and that have no text yet, most relevant first."""
    if not papers.is_file():
        return []
    scope = _in_scope_sql(relevance)
    join = f"JOIN ({scope}) s ON s.record_id = p.work_id" if scope else ""
    order = "s.relevance DESC, p.work_id" if scope else "p.work_id"
    con = connect()
    try:
        rows = con.execute(
            f"""SELECT p.arxiv_id || 'v' || coalesce(p.latest_version, 1) FROM read_parquet('{papers}') p {join}
                WHERE p.text_redistributable AND NOT coalesce(p.has_full_text, false) AND p.arxiv_id IS NOT NULL
                ORDER BY {order} LIMIT {int(limit)}"""
        ).fetchall()
    finally:
        con.close()
    return [r[0] for r in rows]


def repos_wanted(code_links: Path, relevance: Path | None, host: str = "github:") -> list[str]:
    """The repositories on ``host`` that in-scope papers link to (code links), sorted."""
    if not code_links.is_file():
        return []
    scope = _in_scope_sql(relevance)
    where = f"AND src_id IN (SELECT record_id FROM ({scope}))" if scope else ""
    con = connect()
    try:
        rows = con.execute(
            f"""SELECT DISTINCT dst_id FROM read_parquet('{code_links}')
                WHERE link_type = 'code' AND starts_with(dst_id, ?) {where} ORDER BY dst_id""",
            [host],
        ).fetchall()
    finally:
        con.close()
    return [r[0] for r in rows]
