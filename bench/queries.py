"""queries: DuckDB latency of typical questions on a local snapshot, beside the same data as JSON Lines.

``python -m bench.queries [--quick] [--records N] [--runs N] [--dir DIR]``

The snapshot holds the curated ``papers`` table of N papers (``bench.papers_table``: the arXiv corpus through
``harvest_batch`` and ``build_curated_table``, the same table as ``bench.release``'s snapshot A) and, because
the arXiv metadata has no bibliographies, generated ``references`` and ``links`` tables:

- ``references``: one paper in ten (chosen by a hash of its ``work_id``) has a bibliography of 10 to 30
  entries, as GROBID would give for the papers with full text; 60% of the entries resolve to a paper of the
  corpus (``cited_work_id``, title, authors, year, DOI and arXiv id taken from it), the others are
  unresolved (no ``cited_work_id``); every column of the schema is filled as the TEI reader fills it;
- ``links``: a ``cites`` edge for every resolved entry, with the evidence the TEI reader would record.

Both go through ``build_curated_table`` and the snapshot through ``write_snapshot``, so their files are what a
release holds. The peer is the same three tables exported as JSON Lines with DuckDB (``COPY ... TO 'x.jsonl'
(FORMAT json)``), the format the earlier safety datasets shipped, and queried in place with
``read_json_auto``. The Parquet side is opened as ``commons query`` opens a snapshot (``views.sql``).

Questions (DuckDB defaults on both sides, so both cores; every result fetched in full):

- ``by_category_year``: papers per primary category and year;
- ``paper_references``: one paper by id with its bibliography (``papers`` joined to ``"references"``);
- ``title_search``: ``title ILIKE '%safety%'``;
- ``citation_neighbours``: the papers a paper cites and the papers citing it, with their titles, through
  ``links``.

Each round runs every question once in a fresh process per format (Parquet first, then JSON Lines, so a noisy
neighbour slows both sides of a round); latency is the median over the rounds (5 for Parquet and 3 for JSON Lines,
whose rounds take minutes at 1M papers; 1 with ``--quick``). Both sides must return the same rows.
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.fresh import run_fresh, standalone_main
from bench.harness import BenchConfig, ResultRow, StageReport, ratio
from bench.papers_table import PapersTable, ensure_papers

NAME = "queries"
FULL_QUERY_RUNS = 5
FULL_JSONL_RUNS = 3  # each JSON Lines round reads several GB at 1M papers: about two minutes
SNAPSHOT_VERSION = "v2026.01.01"
TABLES = ("papers", "references", "links")
DATA_VERSION = "1"
CITING_EVERY = 10  # one paper in ten has a bibliography
RESOLVED_PERCENT = 60
SEARCH_WORD = "safety"

QUESTIONS: dict[str, str] = {
    "by_category_year": (
        "SELECT primary_category, year(created) AS year, count(*) AS papers FROM papers "
        "GROUP BY ALL ORDER BY papers DESC, primary_category, year"
    ),
    "paper_references": (
        'SELECT p.work_id, p.title, r.reference_index, r.title AS cited_title, r.cited_work_id, r."year" '
        'FROM papers p JOIN "references" r ON r.work_id = p.work_id '
        "WHERE p.work_id = '{work_id}' ORDER BY r.reference_index"
    ),
    "title_search": (
        f"SELECT work_id, title, created FROM papers WHERE title ILIKE '%{SEARCH_WORD}%' ORDER BY work_id"
    ),
    "citation_neighbours": (
        "SELECT n.work_id, n.title, d.direction FROM ("
        "SELECT dst_id AS work_id, 'cites' AS direction FROM links "
        "WHERE src_id = '{work_id}' AND link_type = 'cites' "
        "UNION ALL SELECT src_id, 'cited_by' FROM links "
        "WHERE dst_id = '{work_id}' AND link_type = 'cites') d "
        "JOIN papers n USING (work_id) ORDER BY d.direction, n.work_id"
    ),
}
DESCRIPTIONS = {
    "by_category_year": "papers by category and year (GROUP BY)",
    "paper_references": 'a paper by id with its references (JOIN "references")',
    "title_search": f"title ILIKE '%{SEARCH_WORD}%'",
    "citation_neighbours": "citation neighbours through links (both directions, with titles)",
}


def _say(message: str) -> None:
    print(f"bench[{NAME}]: {message}", file=sys.stderr, flush=True)


def _lit(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


# -- generated bibliographies -------------------------------------------------------------------------

_PROVENANCE = """
    'pdf' AS source,
    'sha256:' || sha256(c.work_id || ':pdf') AS source_record_id,
    NULL::VARCHAR AS source_url,
    TIMESTAMPTZ '2026-01-01 00:00:00+00' AS retrieved_at,
    sha256(c.work_id || ':pdf') AS raw_sha256,
    'grobid_tei' AS parser,
    'grobid-0.8.0+tei-1.0.0' AS parser_version,
    'bench' AS pipeline_version,
    'unknown' AS license,
    'pdf source: a PDF states no redistribution license; the paper''s metadata source decides' AS license_source
"""


def generate_staged(curated: Path, out_dir: Path) -> dict[str, Path]:
    """Staged ``references`` and ``links`` (unsorted Parquet) generated from the curated papers."""
    from pipelines.curate.combine import connect

    out_dir.mkdir(parents=True, exist_ok=True)
    refs, links = out_dir / "staged-references.parquet", out_dir / "staged-links.parquet"
    con = connect(memory_limit="4GB", threads=2)
    try:
        con.execute(
            "CREATE TABLE p AS SELECT (row_number() OVER (ORDER BY work_id) - 1)::BIGINT AS i, work_id, arxiv_id, "
            f"doi, title, authors, year(created) AS year, journal_ref FROM read_parquet({_lit(curated)})"
        )
        n = con.execute("SELECT count(*) FROM p").fetchall()[0][0]
        con.execute(
            "CREATE TABLE citing AS SELECT work_id, k::INTEGER AS k FROM ("
            f"SELECT work_id, unnest(range((10 + hash(work_id || ':n') % 21)::BIGINT)) AS k FROM p "
            f"WHERE hash(work_id) % {CITING_EVERY} = 0)"
        )
        con.execute(
            f"""
            COPY (
                SELECT
                    c.work_id,
                    c.k AS reference_index,
                    substr(sha256(sha256(c.work_id || ':pdf') || ':ref:' || c.k), 1, 32) AS reference_id,
                    CASE WHEN resolved THEN q.work_id END AS cited_work_id,
                    q.title,
                    list_transform(q.authors[1:4], lambda a: {{'name': a.name, 'keyname': a.keyname}}) AS authors,
                    q.year::INTEGER AS year,
                    q.journal_ref AS venue,
                    CASE WHEN resolved THEN q.doi END AS doi,
                    CASE WHEN resolved THEN q.arxiv_id END AS arxiv_id,
                    concat_ws('. ', array_to_string(list_transform(q.authors[1:4], lambda a: a.name), ', '),
                              q.title, q.journal_ref, q.year::VARCHAR) AS raw,
                    {_PROVENANCE}
                FROM (
                    SELECT work_id, k, hash(work_id || ':' || k) AS h,
                           h % 100 < {RESOLVED_PERCENT} AS resolved
                    FROM citing
                ) c JOIN p q ON q.i = c.h % {n}
            ) TO {_lit(refs)} (FORMAT parquet, COMPRESSION zstd)
            """
        )
        con.execute(
            f"""
            COPY (
                SELECT
                    c.work_id AS src_id,
                    c.cited_work_id AS dst_id,
                    'cites' AS link_type,
                    'grobid reference ' || c.reference_index AS evidence,
                    NULL::VARCHAR AS evidence_text,
                    NULL::INTEGER AS evidence_start,
                    NULL::INTEGER AS evidence_end,
                    1.0::DOUBLE AS confidence,
                    {_PROVENANCE}
                FROM read_parquet({_lit(refs)}) c
                WHERE c.cited_work_id IS NOT NULL
            ) TO {_lit(links)} (FORMAT parquet, COMPRESSION zstd)
            """
        )
    finally:
        con.close()
    return {"references": refs, "links": links}


# -- tasks run in fresh processes ---------------------------------------------------------------------


def write_query_snapshot(args: dict[str, Any]) -> dict[str, Any]:
    """(fresh process) ``write_snapshot`` of papers, references and links."""
    from bench.fresh import timed
    from pipelines.snapshot.writer import write_snapshot

    tables = {name: Path(path) for name, path in args["tables"].items()}

    def work() -> dict[str, Any]:
        return {"path": str(write_snapshot(Path(args["out_root"]), tables, version=SNAPSHOT_VERSION))}

    return timed(work)


def export_jsonl(args: dict[str, Any]) -> dict[str, Any]:
    """(fresh process) Every table of the snapshot as JSON Lines, with DuckDB's COPY."""
    import duckdb

    from bench.fresh import timed

    snapshot, out_dir = Path(args["snapshot"]), Path(args["out_dir"])
    out_dir.mkdir(parents=True, exist_ok=True)

    def work() -> dict[str, Any]:
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        sizes = {}
        for table in TABLES:
            target = out_dir / f"{table}.jsonl"
            files = snapshot / "data" / table / "*.parquet"
            con.execute(f"COPY (SELECT * FROM read_parquet({_lit(files)})) TO {_lit(target)} (FORMAT json)")
            sizes[table] = target.stat().st_size
        con.close()
        return {"bytes": sizes}

    return timed(work)


def ask(args: dict[str, Any]) -> dict[str, Any]:
    """(fresh process) Every question once over one format; per question: seconds, rows, a checksum."""
    import hashlib

    import duckdb

    from bench.worker import peak_rss_mb

    fmt, questions = args["format"], args["questions"]
    started = time.perf_counter()
    if fmt == "parquet":
        from commons.query import open_snapshot

        con = open_snapshot(Path(args["snapshot"]))
    else:
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        for table in TABLES:
            path = Path(args["jsonl_dir"]) / f"{table}.jsonl"
            con.execute(f'CREATE VIEW "{table}" AS SELECT * FROM read_json_auto({_lit(path)})')
    open_seconds = time.perf_counter() - started
    out: dict[str, Any] = {}
    for name, sql in questions.items():
        t0 = time.perf_counter()
        rows = con.execute(sql).fetchall()
        seconds = time.perf_counter() - t0
        digest = hashlib.sha256(repr([tuple(str(v) for v in row) for row in rows]).encode()).hexdigest()[:16]
        out[name] = {"seconds": seconds, "rows": len(rows), "digest": digest}
    threads = con.execute("SELECT current_setting('threads')").fetchall()[0][0]
    con.close()
    return {
        "format": fmt,
        "open_seconds": open_seconds,
        "threads": threads,
        "peak_rss_mb": peak_rss_mb(),
        "questions": out,
    }


# -- the benchmark ------------------------------------------------------------------------------------


def _prepare(papers: PapersTable) -> tuple[Path, Path, dict[str, Any]]:
    """The snapshot (papers, references, links) and its JSON Lines export, kept for later runs."""
    folder = papers.folder / "queries"
    stamp_path = folder / ".queries.json"
    stamp = {"version": DATA_VERSION, "papers": papers.curated.stat().st_size}
    snapshot, jsonl = folder / "snapshots" / SNAPSHOT_VERSION, folder / "jsonl"
    info_path = folder / "info.json"
    try:
        reusable = not papers.built and json.loads(stamp_path.read_text(encoding="utf-8")) == stamp
    except (OSError, ValueError):
        reusable = False
    if reusable and (snapshot / "manifest.json").is_file() and info_path.is_file():
        _say(f"reusing the query snapshot and its JSON Lines in {folder}")
        info: dict[str, Any] = json.loads(info_path.read_text(encoding="utf-8"))
        return snapshot, jsonl, info
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    _say("generating references and links from the papers")
    t0 = time.perf_counter()
    staged = generate_staged(papers.curated, folder / "staged")
    info = {"generate_seconds": time.perf_counter() - t0}
    tables = {"papers": papers.curated}
    for table in ("references", "links"):
        tables[table] = folder / f"{table}.parquet"
        _say(f"curating {table} (build_curated_table, fresh process)")
        result = run_fresh(
            "bench.papers_table:curate",
            {"table": table, "staged": [str(staged[table])], "out": str(tables[table])},
        )
        info[f"{table}_rows"] = result["rows"]
    shutil.rmtree(folder / "staged")
    _say("write_snapshot (fresh process)")
    info["snapshot"] = run_fresh(
        "bench.queries:write_query_snapshot",
        {"out_root": str(folder / "snapshots"), "tables": {k: str(v) for k, v in tables.items()}},
    )
    for table in ("references", "links"):
        tables[table].unlink()
    _say("exporting JSON Lines (DuckDB COPY, fresh process)")
    info["export"] = run_fresh(
        "bench.queries:export_jsonl", {"snapshot": str(snapshot), "out_dir": str(jsonl)}
    )
    info["parquet_bytes"] = {
        t: sum(p.stat().st_size for p in (snapshot / "data" / t).glob("*.parquet")) for t in TABLES
    }
    info["papers_rows"] = papers.records
    info["work_id"] = _pick_paper(snapshot)
    info_path.write_text(json.dumps(info, indent=2), encoding="utf-8")
    stamp_path.write_text(json.dumps(stamp), encoding="utf-8")
    return snapshot, jsonl, info


def _pick_paper(snapshot: Path) -> str:
    """The paper the by-id questions ask about: the middle one of those that both cite and are cited."""
    import duckdb

    con = duckdb.connect()
    links = _lit(snapshot / "data" / "links" / "*.parquet")
    ids = con.execute(
        f"SELECT src_id FROM read_parquet({links}) WHERE src_id IN (SELECT dst_id FROM read_parquet({links})) "
        "GROUP BY src_id ORDER BY src_id"
    ).fetchall()
    con.close()
    if not ids:
        raise RuntimeError("no paper both cites and is cited in the generated links")
    return str(ids[len(ids) // 2][0])


def run(config: BenchConfig) -> StageReport:
    papers = ensure_papers(config, _say)
    snapshot, jsonl, info = _prepare(papers)
    questions = {name: sql.replace("{work_id}", info["work_id"]) for name, sql in QUESTIONS.items()}
    runs = 1 if config.quick else max(config.runs, FULL_QUERY_RUNS)
    jsonl_runs = 1 if config.quick else min(runs, max(config.runs, FULL_JSONL_RUNS))
    rounds: dict[str, list[dict[str, Any]]] = {"parquet": [], "jsonl": []}
    for round_no in range(1, runs + 1):
        _say(f"round {round_no}/{runs}")
        for fmt in ("parquet", "jsonl") if round_no <= jsonl_runs else ("parquet",):
            result = run_fresh(
                "bench.queries:ask",
                {"format": fmt, "questions": questions, "snapshot": str(snapshot), "jsonl_dir": str(jsonl)},
            )
            rounds[fmt].append(result)
            _say(
                f"  {fmt:<8} "
                + "  ".join(f"{q} {r['seconds']:.3f} s" for q, r in result["questions"].items())
                + f"  peak {result['peak_rss_mb']:,.0f} MB"
            )
    for name in questions:
        answers = {
            (r["questions"][name]["rows"], r["questions"][name]["digest"]) for f in rounds for r in rounds[f]
        }
        if len(answers) != 1:
            raise RuntimeError(f"{name}: Parquet and JSON Lines gave different answers: {answers}")
    details = {"data": info, "snapshot": str(snapshot), "questions": questions, "rounds": rounds}
    return StageReport(NAME, rows(config, info, rounds), details)


def _median(rounds: list[dict[str, Any]], question: str) -> float:
    return statistics.median(r["questions"][question]["seconds"] for r in rounds)


def _latency(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms" if seconds < 10 else f"{seconds:,.1f} s"


def rows(
    config: BenchConfig, info: dict[str, Any], rounds: dict[str, list[dict[str, Any]]]
) -> list[ResultRow]:
    n = f"{config.records:,} papers"
    runs, jsonl_runs = len(rounds["parquet"]), len(rounds["jsonl"])
    out = []
    for name in QUESTIONS:
        parquet, jsonl = _median(rounds["parquet"], name), _median(rounds["jsonl"], name)
        answered = rounds["parquet"][0]["questions"][name]["rows"]
        out.append(
            ResultRow(
                f"query: {DESCRIPTIONS[name]} ({n}; {answered:,} rows; median of {runs} / {jsonl_runs})",
                f"{_latency(parquet)} (Parquet snapshot)",
                f"{_latency(jsonl)} (same data as JSON Lines, read_json_auto)",
                f"{ratio(jsonl, parquet):.1f}x",
            )
        )
    pq_bytes, js_bytes = sum(info["parquet_bytes"].values()), sum(info["export"]["bytes"].values())
    out.append(
        ResultRow(
            f"query data on disk ({n}, {info['references_rows']:,} references, {info['links_rows']:,} links)",
            f"{pq_bytes / 1e6:,.0f} MB (Parquet)",
            f"{js_bytes / 1e6:,.0f} MB (JSON Lines)",
            f"{js_bytes / pq_bytes:.1f}x",
        )
    )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    return standalone_main("bench.queries", __doc__.split("\n")[0], run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
