"""Checks on a written table, as plain functions: the Dagster asset checks and the tests both call these."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from pipelines.curate.combine import connect
from pipelines.fetch.raw_store import RawStore
from schemas import TableSpec
from schemas.columns import PROVENANCE_COLUMNS

# Provenance columns that may legitimately be null: a local file with no date of its own has no
# retrieved_at, and some records have no URL of their own.
NULLABLE_PROVENANCE = {"retrieved_at", "source_url"}


@dataclass
class CheckOutcome:
    passed: bool
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)


def _sql_path(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def check_schema(spec: TableSpec, path: Path) -> CheckOutcome:
    actual = pq.read_schema(path)
    problems = []
    expected = {f.name: f for f in spec.schema}
    for name in expected.keys() - set(actual.names):
        problems.append(f"missing column {name}")
    for name in set(actual.names) - expected.keys():
        problems.append(f"unexpected column {name}")
    for f in actual:
        want = expected.get(f.name)
        if want is not None and not f.type.equals(want.type):
            problems.append(f"{f.name}: type {f.type}, expected {want.type}")
        if want is not None and f.nullable != want.nullable:
            problems.append(f"{f.name}: nullable={f.nullable}, expected {want.nullable}")
    if not problems and actual.names != spec.schema.names:
        problems.append("columns are not in schema order")
    return CheckOutcome(
        not problems,
        "schema matches schemas/" if not problems else "; ".join(sorted(problems)),
        {"problems": sorted(problems)},
    )


def check_unique_keys(spec: TableSpec, path: Path) -> CheckOutcome:
    key = ", ".join(f'"{c}"' for c in spec.primary_key)
    con = connect()
    try:
        row = con.execute(
            f"SELECT count(*), count(*) - count(DISTINCT ({key})), "
            f"count(*) FILTER (WHERE {' OR '.join(f'{c} IS NULL' for c in spec.primary_key)}) "
            f"FROM read_parquet({_sql_path(path)})"
        ).fetchone()
        assert row is not None
        rows, duplicates, null_keys = row
        examples = [
            r[0]
            for r in con.execute(
                f"SELECT CAST(({key}) AS VARCHAR) FROM read_parquet({_sql_path(path)}) "
                f"GROUP BY {key} HAVING count(*) > 1 ORDER BY 1 LIMIT 5"
            ).fetchall()
        ]
    finally:
        con.close()
    ok = duplicates == 0 and null_keys == 0
    desc = (
        f"{rows} rows, keys unique"
        if ok
        else f"{duplicates} duplicate and {null_keys} null keys, e.g. {examples}"
    )
    return CheckOutcome(
        ok, desc, {"rows": rows, "duplicate_keys": duplicates, "null_keys": null_keys, "examples": examples}
    )


def check_provenance(spec: TableSpec, path: Path, raw_store: RawStore) -> CheckOutcome:
    required = [c for c in PROVENANCE_COLUMNS if c in spec.columns and c not in NULLABLE_PROVENANCE]
    con = connect()
    try:
        counts = con.execute(
            "SELECT "
            + ", ".join(f'count(*) FILTER (WHERE "{c}" IS NULL)' for c in required)
            + f" FROM read_parquet({_sql_path(path)})"
        ).fetchone()
        hashes = [
            r[0]
            for r in con.execute(
                f"SELECT DISTINCT raw_sha256 FROM read_parquet({_sql_path(path)})"
            ).fetchall()
        ]
    finally:
        con.close()
    assert counts is not None
    nulls = {c: n for c, n in zip(required, counts, strict=True) if n}
    missing_raw = [h for h in hashes if h not in raw_store]
    ok = not nulls and not missing_raw
    desc = (
        "provenance present and every raw_sha256 is in the raw store"
        if ok
        else (f"null provenance: {nulls}; raw bytes missing for {len(missing_raw)} hashes")
    )
    return CheckOutcome(
        ok, desc, {"null_counts": nulls, "missing_raw": missing_raw[:5], "raw_documents": len(hashes)}
    )


def check_errors_explained(path: Path) -> CheckOutcome:
    """Every failed fetch says what went wrong."""
    con = connect()
    try:
        row = con.execute(
            f"SELECT count(*) FILTER (WHERE status = 'error'), "
            f"count(*) FILTER (WHERE status = 'error' AND (error IS NULL OR error = '')) "
            f"FROM read_parquet({_sql_path(path)})"
        ).fetchone()
    finally:
        con.close()
    assert row is not None
    errors, unexplained = row
    return CheckOutcome(
        unexplained == 0,
        f"{errors} errors recorded, {unexplained} without a message",
        {"errors": errors, "unexplained": unexplained},
    )


def check_full_text_coverage(papers: Path, fetches: Path) -> CheckOutcome:
    """Redistributable papers: how many have released text, how many failed with a recorded error, how many
    were never attempted (their PDF not yet fetched). Passes when none failed without a record."""
    con = connect()
    try:
        row = con.execute(
            f"""
            WITH wanted AS (
                SELECT work_id, arxiv_id, has_full_text FROM read_parquet({_sql_path(papers)})
                WHERE text_redistributable
            ),
            attempts AS (
                SELECT url_or_path, status FROM read_parquet({_sql_path(fetches)})
                WHERE source IN ('pdf', 'grobid_tei')
            ),
            marked AS (
                SELECT w.work_id, w.has_full_text,
                    bool_or(a.status = 'error') AS failed
                FROM wanted w LEFT JOIN attempts a
                    ON w.arxiv_id IS NOT NULL AND contains(replace(a.url_or_path, '/', '_'), replace(w.arxiv_id, '/', '_'))
                GROUP BY ALL
            )
            SELECT count(*), count(*) FILTER (WHERE has_full_text),
                count(*) FILTER (WHERE NOT has_full_text AND failed),
                count(*) FILTER (WHERE NOT has_full_text AND failed IS NOT TRUE)
            FROM marked
            """
        ).fetchone()
    finally:
        con.close()
    assert row is not None
    wanted, with_text, failed, not_attempted = row
    return CheckOutcome(
        True,
        f"{wanted} redistributable papers: {with_text} with text, {failed} failed (recorded in fetches), "
        f"{not_attempted} not attempted yet",
        {"redistributable": wanted, "with_text": with_text, "failed": failed, "not_attempted": not_attempted},
    )
