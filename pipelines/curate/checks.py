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


def check_result_values(path: Path) -> CheckOutcome:
    """Values and standard errors are finite numbers; a row without a value says what the source gave
    instead (`value_text`) unless the run itself failed; proportions lie in [0, 1] and percentages in
    [0, 100]."""
    con = connect()
    try:
        row = con.execute(
            f"""
            SELECT
                count(*),
                count(*) FILTER (WHERE isnan(value) OR isinf(value) OR isnan(stderr) OR isinf(stderr)),
                count(*) FILTER (WHERE value IS NULL AND value_text IS NULL AND metric <> ''
                                 AND status IN ('success', 'reported')),
                count(*) FILTER (WHERE unit = 'proportion' AND NOT value BETWEEN 0 AND 1),
                count(*) FILTER (WHERE unit = 'percent' AND NOT value BETWEEN 0 AND 100),
                count(*) FILTER (WHERE stderr < 0),
                count(*) FILTER (WHERE confidence NOT BETWEEN 0 AND 1)
            FROM read_parquet({_sql_path(path)})
            """
        ).fetchone()
    finally:
        con.close()
    assert row is not None
    rows, non_finite, unexplained, bad_proportion, bad_percent, negative_stderr, bad_confidence = row
    problems = {
        "non_finite": non_finite,
        "value_missing_unexplained": unexplained,
        "proportion_out_of_range": bad_proportion,
        "percent_out_of_range": bad_percent,
        "negative_stderr": negative_stderr,
        "confidence_out_of_range": bad_confidence,
    }
    failing = {k: v for k, v in problems.items() if v}
    return CheckOutcome(
        not failing,
        f"{rows} results, values finite and in range" if not failing else f"{rows} results: {failing}",
        {"rows": rows, **problems},
    )


def check_linked_repositories(repositories: Path, links: Path) -> CheckOutcome:
    """Every repository a `code` link points at has a `repositories` row (crawled, failed with its status
    and error, or `not_crawled` yet); the counts say how far the crawl is."""
    con = connect()
    try:
        row = con.execute(
            f"""
            WITH linked AS (
                SELECT DISTINCT dst_id FROM read_parquet({_sql_path(links)}) WHERE link_type = 'code'
            ),
            repos AS (SELECT repo_id, status, error FROM read_parquet({_sql_path(repositories)}))
            SELECT count(*), count(*) FILTER (WHERE r.repo_id IS NULL),
                count(*) FILTER (WHERE r.status = 'not_crawled'),
                count(*) FILTER (WHERE r.status NOT IN ('ok', 'moved', 'not_crawled')),
                count(*) FILTER (WHERE r.status NOT IN ('ok', 'moved', 'not_crawled')
                                 AND coalesce(r.error, '') = ''),
                list(l.dst_id ORDER BY l.dst_id) FILTER (WHERE r.repo_id IS NULL)[:5]
            FROM linked l LEFT JOIN repos r ON r.repo_id = l.dst_id
            """
        ).fetchone()
    finally:
        con.close()
    assert row is not None
    linked, missing, not_crawled, failed, unexplained, examples = row
    ok = missing == 0 and unexplained == 0
    return CheckOutcome(
        ok,
        f"{linked} linked repositories: {missing} without a row, {not_crawled} not crawled yet, "
        f"{failed} failed ({unexplained} without an error message)",
        {
            "linked": linked,
            "missing": missing,
            "not_crawled": not_crawled,
            "failed": failed,
            "unexplained": unexplained,
            "examples": examples or [],
        },
    )


def check_repository_licenses(path: Path) -> CheckOutcome:
    """Crawled repositories state their license (`license_spdx`, or null when the host found none) and the
    row's `license` agrees with it; README text is published only where that license allows."""
    con = connect()
    try:
        row = con.execute(
            f"""
            SELECT count(*) FILTER (WHERE status = 'ok'),
                count(*) FILTER (WHERE status = 'ok' AND license_spdx IS NOT NULL),
                count(*) FILTER (WHERE status = 'ok' AND license <> CASE
                    WHEN license_spdx IS NULL OR license_spdx = 'NOASSERTION' THEN 'unknown' ELSE license_spdx END),
                count(*) FILTER (WHERE readme_text IS NOT NULL AND NOT text_redistributable)
            FROM read_parquet({_sql_path(path)})
            """
        ).fetchone()
    finally:
        con.close()
    assert row is not None
    crawled, licensed, disagreeing, leaked = row
    ok = disagreeing == 0 and leaked == 0
    return CheckOutcome(
        ok,
        f"{crawled} crawled repositories, {licensed} with a license; {disagreeing} rows whose license "
        f"disagrees with license_spdx; {leaked} READMEs published without a license that allows it",
        {"crawled": crawled, "licensed": licensed, "disagreeing": disagreeing, "readme_leaks": leaked},
    )


def check_identifiers_unique(
    papers: Path, conflicts: Path | None = None, merged_ids: Path | None = None
) -> CheckOutcome:
    """No two works share an arXiv id, DOI, OpenAlex id or Semantic Scholar id: resolution merged them.

    Works that resolution refused to merge (an `identifier_conflicts` row, its records followed through
    `merged_ids`) are explained and do not fail the check; they are counted in the metadata.
    """
    p = _sql_path(papers)
    redirect = (
        f"SELECT merged_id, work_id FROM read_parquet({_sql_path(merged_ids)})"
        if merged_ids is not None and merged_ids.is_file()
        else "SELECT NULL::VARCHAR AS merged_id, NULL::VARCHAR AS work_id WHERE false"
    )
    explained = (
        f"""
        SELECT coalesce(m.work_id, c.record) AS work_id FROM (
            SELECT record_a AS record FROM read_parquet({_sql_path(conflicts)})
            UNION SELECT record_b FROM read_parquet({_sql_path(conflicts)})
        ) c LEFT JOIN ({redirect}) m ON m.merged_id = c.record
        """
        if conflicts is not None and conflicts.is_file()
        else "SELECT NULL::VARCHAR AS work_id WHERE false"
    )
    con = connect()
    try:
        shared = con.execute(
            f"""
            WITH ids AS (
                SELECT work_id, 'arxiv' AS kind, arxiv_id AS value FROM read_parquet({p}) WHERE arxiv_id IS NOT NULL
                UNION ALL
                SELECT DISTINCT work_id, 'doi', unnest(list_distinct(coalesce(dois, []) ||
                    CASE WHEN doi IS NULL THEN []::VARCHAR[] ELSE [doi] END))
                FROM read_parquet({p})
                UNION ALL
                SELECT work_id, 'openalex', openalex_id FROM read_parquet({p}) WHERE openalex_id IS NOT NULL
                UNION ALL
                SELECT work_id, 's2', s2_paper_id FROM read_parquet({p}) WHERE s2_paper_id IS NOT NULL
            )
            SELECT kind, value, list_sort(list(DISTINCT work_id)) AS works,
                bool_and(work_id IN ({explained})) AS explained
            FROM ids GROUP BY kind, value HAVING count(DISTINCT work_id) > 1 ORDER BY kind, value
            """
        ).fetchall()
    finally:
        con.close()
    unexplained = [(kind, value, works) for kind, value, works, ok in shared if not ok]
    examples = [f"{kind} {value}: {', '.join(works[:5])}" for kind, value, works in unexplained[:20]]
    return CheckOutcome(
        not unexplained,
        "every identifier names one work, but for refused conflicts"
        if not unexplained
        else f"{len(unexplained)} identifiers are shared by several works (first: {examples[0]})",
        {
            "shared_identifiers": len(unexplained),
            "shared_by_refused_conflicts": len(shared) - len(unexplained),
            "examples": examples,
        },
    )


def check_links_resolved(links: Path, merged_ids: Path, papers: Path) -> CheckOutcome:
    """No link names an absorbed work id: every endpoint that resolution moved was re-pointed.

    Endpoints outside the corpus are not dangling (Semantic Scholar and OpenAlex name papers that cite
    ours; a PDF read without metadata has text but no `papers` row); code links from a work without a
    `papers` row are counted in the metadata.
    """
    merged = (
        f"SELECT merged_id FROM read_parquet({_sql_path(merged_ids)})"
        if merged_ids.is_file()
        else "SELECT NULL::VARCHAR AS merged_id WHERE false"
    )
    con = connect()
    try:
        absorbed = con.execute(
            f"""
            SELECT src_id, dst_id, link_type FROM read_parquet({_sql_path(links)})
            WHERE src_id IN ({merged}) OR dst_id IN ({merged}) ORDER BY ALL LIMIT 20
            """
        ).fetchall()
        without_paper = con.execute(
            f"""
            SELECT count(*) FROM read_parquet({_sql_path(links)})
            WHERE link_type = 'code'
              AND src_id NOT IN (SELECT work_id FROM read_parquet({_sql_path(papers)}))
            """
        ).fetchall()[0][0]
    finally:
        con.close()
    problems = [f"{s} -{t}-> {d} names an absorbed work id" for s, d, t in absorbed]
    return CheckOutcome(
        not problems,
        "every link names current work ids" if not problems else problems[0],
        {"dangling_examples": problems, "code_links_without_papers_row": int(without_paper)},
    )


def check_tag_evidence(tags: Path) -> CheckOutcome:
    """Every tag has at least one evidence span, inside its text, a score in (0, 1] and a taxonomy version."""
    con = connect()
    try:
        bad = con.execute(
            f"""
            SELECT record_id, tag FROM read_parquet({_sql_path(tags)})
            WHERE len(evidence) = 0 OR score <= 0 OR score > 1 OR taxonomy_version = ''
               OR len(list_filter(evidence, lambda e: e.start < 0 OR e."end" <= e.start
                                  OR length(e.text) <> e."end" - e.start)) > 0
            ORDER BY ALL LIMIT 20
            """
        ).fetchall()
    finally:
        con.close()
    return CheckOutcome(
        not bad,
        "every tag has evidence" if not bad else f"tag {bad[0][1]} of {bad[0][0]} lacks valid evidence",
        {"examples": [f"{r} {t}" for r, t in bad]},
    )
