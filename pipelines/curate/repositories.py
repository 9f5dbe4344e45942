"""One `repositories` row per repository from the crawl's documents.

A repository's facts arrive in several responses (metadata, languages, README, latest release, head
commit), and a local recording may hold only some of them: each document gives the columns it knows.
Per repository, the main row is the newest metadata row (the one with `full_name`, newest `retrieved_at`,
then lowest `raw_sha256` for a total order); every other column is filled from the newest row that has it,
but only while the main row says the repository exists (`ok` or `moved`), so a deleted repository does not
keep an old README. Provenance columns are the main row's.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pipelines.curate.combine import files_sql
from schemas import table_spec
from schemas.columns import PROVENANCE_COLUMNS


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def merged_repositories_sql(staged: Sequence[Path]) -> str:
    columns = table_spec("repositories").columns
    filled = [
        c
        for c in columns
        if c not in PROVENANCE_COLUMNS and c not in ("repo_id", "status", "http_status", "error")
    ]
    aggregates = ",\n".join(
        f"first({_q(c)} ORDER BY rn) FILTER (WHERE {_q(c)} IS NOT NULL) AS {_q(c)}" for c in filled
    )
    replaced = ", ".join(
        f"CASE WHEN m.status IN ('ok', 'moved') THEN coalesce(m.{_q(c)}, f.{_q(c)}) ELSE m.{_q(c)} END AS {_q(c)}"
        for c in filled
    )
    return f"""
        WITH ranked AS (
            SELECT *, row_number() OVER (
                PARTITION BY repo_id
                ORDER BY (full_name IS NULL AND status = 'ok'), retrieved_at DESC NULLS LAST, raw_sha256
            ) AS rn
            FROM read_parquet({files_sql(staged)})
        ),
        main AS (SELECT * EXCLUDE (rn) FROM ranked WHERE rn = 1),
        fill AS (SELECT repo_id, {aggregates} FROM ranked GROUP BY repo_id)
        SELECT m.* REPLACE ({replaced})
        FROM main m JOIN fill f USING (repo_id)
    """
