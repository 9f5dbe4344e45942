"""release: a re-release with 1% of the papers changed: the time to compute its diff, and the bytes a publish sends.

``python -m bench.release [--quick] [--records N] [--runs N] [--dir DIR]``

Setup (not timed as a figure): the curated ``papers`` table of N papers (``bench.papers_table``: the arXiv
corpus through ``harvest_batch`` and ``build_curated_table``) is snapshot A (``write_snapshot``). Snapshot B
is the same table with 1% of its rows changed: the titles of 0.5% updated, 0.25% deleted, 0.25% added
under new ids (copies of existing rows with new arXiv ids); the changed rows are re-curated with
``build_curated_table`` (sort, deterministic Parquet) and written with ``write_snapshot`` on top of A, so
B carries ``diff/papers/{added,updated,deleted}.parquet`` as a real re-release does. Two spreads:

- ``uniform``: the changed rows anywhere in the table (updates, deletes, and new ids next to existing ones);
- ``recent``: updates and deletes among the newest 10% of papers (the highest arXiv ids) and new ids after
  the last month, as arXiv grows (new versions are mostly of recent papers; new papers get new ids);
- ``slice``: updates and deletes within one contiguous 2% of the table in its middle (say, one month's
  records corrected at the source), new ids after the last month: a change that shifts every row after it,
  which is where content-defined chunking should matter.

Measured:

- **diff**: ``pipelines.snapshot.diff.diff_table`` of A's and B's data files (what ``write_snapshot`` runs
  per table), in a fresh process, median of the runs; beside the floor of reading and hashing every row of
  both files with the same DuckDB settings (``SELECT bit_xor(hash(t))``), the least a row-level diff reads.
- **bytes a publish sends**: every file of B against every file of A at the chunk level the Hub
  deduplicates on (``bench.cdc``: gear-hash chunks of about 64 KiB; a chunk already in A, or earlier in B,
  is not sent); beside the floor, the changed rows themselves as Parquet (B's ``diff/`` files), and beside
  the snapshot's size. The goal (issue 7): within a few times the changed data (taken as ≤ 3x).
- the same with the Parquet writer's content-defined chunking off (A and B re-curated and re-released with
  ``use_content_defined_chunking=False``), to show what it buys;
- the snapshot writes themselves (A without a previous snapshot, B with its diff), once each.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.cdc import ChunkSet, chunks
from bench.fresh import run_fresh, standalone_main, timed
from bench.harness import BenchConfig, ResultRow, StageReport, ratio
from bench.papers_table import PapersTable, ensure_papers, set_cdc

NAME = "release"
SEED = 20261124
UPDATED, DELETED, ADDED = 0.005, 0.0025, 0.0025
RECENT_SHARE = 0.10  # "recent": updates and deletes among the newest 10% of papers
SLICE_SHARE = 0.02  # "slice": updates and deletes within 2% of the table, in its middle
SCENARIOS = ("uniform", "recent", "slice")
CDC_MODES = (True, False)
GOAL_SENT_RATIO = 3.0
DIFF_SCENARIO = "uniform"  # the diff is timed on this one (its time hardly depends on where the changes are)
CHANGES_VERSION = "2"
VERSION_A, VERSION_B = "v2026.01.01", "v2026.02.01"  # CalVer, as write_snapshot names snapshots


def _say(message: str) -> None:
    print(f"bench[{NAME}]: {message}", file=sys.stderr, flush=True)


def _mode(cdc: bool) -> str:
    return "cdc" if cdc else "nocdc"


# -- the changed table --------------------------------------------------------------------------------


def _next_free(arxiv_id: str, taken: set[str]) -> str:
    """A new-style id of the same month not yet in use, right after ``arxiv_id`` (sorts next to it)."""
    month, number = arxiv_id.split(".")
    n = int(number)
    while True:
        n += 1
        if n > 99_999:
            raise ValueError(f"no free id after {arxiv_id}")
        candidate = f"{month}.{n:05d}"
        if candidate not in taken:
            taken.add(candidate)
            return candidate


def _month_after(ids: Sequence[str]) -> str:
    last = max(i.split(".")[0] for i in ids)
    year, month = int(last[:2]), int(last[2:])
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return f"{year:02d}{month:02d}"


def plan_changes(work_ids: Sequence[str], arxiv_ids: Sequence[str], scenario: str) -> dict[str, Any]:
    """Which rows change: ``updated`` and ``deleted`` work ids, ``added`` (source work id, new arXiv id)."""
    n = len(work_ids)
    n_upd, n_del, n_add = (max(1, round(n * share)) for share in (UPDATED, DELETED, ADDED))
    rng = random.Random(f"{SEED}-{scenario}")
    order = sorted(range(n), key=lambda i: work_ids[i])  # the table's sort order
    if scenario == "uniform":
        picked = rng.sample(order, n_upd + n_del + n_add)
        updated, deleted, sources = picked[:n_upd], picked[n_upd : n_upd + n_del], picked[n_upd + n_del :]
        taken = set(arxiv_ids)
        added = [(work_ids[i], _next_free(arxiv_ids[i], taken)) for i in sources]
    elif scenario in ("recent", "slice"):
        if scenario == "recent":
            within = order[int(n * (1 - RECENT_SHARE)) :]
        else:
            first = int(n * (0.5 - SLICE_SHARE / 2))
            within = order[first : first + max(n_upd + n_del, int(n * SLICE_SHARE))]
        picked = rng.sample(within, n_upd + n_del)
        updated, deleted = picked[:n_upd], picked[n_upd:]
        month = _month_after(arxiv_ids)
        sources = rng.sample(order, n_add)
        added = [(work_ids[i], f"{month}.{k + 1:05d}") for k, i in enumerate(sources)]
    else:
        raise ValueError(f"unknown scenario {scenario!r}")
    return {
        "updated": [work_ids[i] for i in updated],
        "deleted": [work_ids[i] for i in deleted],
        "added": added,
    }


def make_changed_staged(curated: Path, out: Path, scenario: str) -> dict[str, int]:
    """Write ``out``: the rows of B (unsorted Parquet, as a staging file), from A's curated table."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipelines.curate.combine import connect

    keys = pq.read_table(curated, columns=["work_id", "arxiv_id"])
    work_ids = keys.column("work_id").to_pylist()
    arxiv_ids = keys.column("arxiv_id").to_pylist()
    plan = plan_changes(work_ids, arxiv_ids, scenario)
    con = connect(memory_limit="2GB", threads=os.cpu_count() or 1)
    try:
        con.register("upd", pa.table({"work_id": plan["updated"]}))
        con.register("del", pa.table({"work_id": plan["deleted"]}))
        con.register(
            "addmap",
            pa.table({"src": [s for s, _ in plan["added"]], "new_id": [a for _, a in plan["added"]]}),
        )
        src = "read_parquet('" + str(curated).replace("'", "''") + "')"
        out.parent.mkdir(parents=True, exist_ok=True)
        con.execute(
            f"""
            COPY (
                SELECT a.* REPLACE (
                    CASE WHEN a.work_id IN (SELECT work_id FROM upd) THEN 'Revised: ' || a.title ELSE a.title END
                    AS title)
                FROM {src} a
                WHERE a.work_id NOT IN (SELECT work_id FROM del)
                UNION ALL
                SELECT a.* REPLACE (
                    'arxiv:' || m.new_id AS work_id,
                    m.new_id AS arxiv_id,
                    replace(a.source_record_id, a.arxiv_id, m.new_id) AS source_record_id,
                    replace(a.source_url, a.arxiv_id, m.new_id) AS source_url)
                FROM {src} a JOIN addmap m ON a.work_id = m.src
            ) TO '{out}' (FORMAT parquet, COMPRESSION zstd)
            """
        )
        rows = con.execute(f"SELECT count(*) FROM read_parquet('{out}')").fetchall()[0][0]
    finally:
        con.close()
    return {
        "rows": int(rows),
        "updated": len(plan["updated"]),
        "deleted": len(plan["deleted"]),
        "added": len(plan["added"]),
    }


# -- tasks run in fresh processes ---------------------------------------------------------------------


def snapshot(args: dict[str, Any]) -> dict[str, Any]:
    """(fresh process) ``write_snapshot`` of the papers table into ``out_root`` as ``version``."""
    set_cdc(bool(args["cdc"]))
    from pipelines.snapshot.writer import read_manifest, write_snapshot

    out_root, table = Path(args["out_root"]), Path(args["papers"])

    def work() -> dict[str, Any]:
        target = write_snapshot(out_root, {"papers": table}, version=args["version"])
        manifest = read_manifest(target)
        return {"path": str(target), "diff": manifest["tables"]["papers"].get("diff")}

    return timed(work)


def diff(args: dict[str, Any]) -> dict[str, Any]:
    """(fresh process) ``diff_table`` of the papers table between two data files."""
    from pipelines.snapshot.diff import diff_table
    from schemas import table_spec

    spec = table_spec("papers")
    out_dir = Path(args["out_dir"])
    shutil.rmtree(out_dir, ignore_errors=True)

    def work() -> dict[str, Any]:
        result = diff_table(spec, [Path(args["old"])], [Path(args["new"])], out_dir)
        return {"counts": result.counts}

    try:
        return timed(work)
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)


def hash_floor(args: dict[str, Any]) -> dict[str, Any]:
    """(fresh process) Read and hash every row of both files: what any row-level diff reads at least."""
    from pipelines.curate.combine import connect

    con = connect()

    def work() -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in ("old", "new"):
            path = str(args[name]).replace("'", "''")
            rows, digest = con.execute(
                f"SELECT count(*), bit_xor(hash(t)) FROM read_parquet('{path}') t"
            ).fetchall()[0]
            out[f"{name}_rows"] = int(rows)
            out[f"{name}_hash"] = str(digest)
        return out

    try:
        return timed(work)
    finally:
        con.close()


# -- bytes a publish would send -----------------------------------------------------------------------


def _files(snapshot_dir: Path) -> list[str]:
    return sorted(p.relative_to(snapshot_dir).as_posix() for p in snapshot_dir.rglob("*") if p.is_file())


def _kind(name: str) -> str:
    return "data" if name.startswith("data/") else "diff" if name.startswith("diff/") else "metadata"


def snapshot_chunks(snapshot_dir: Path) -> ChunkSet:
    """The chunks of every file of a snapshot (what the repository holds after it was published)."""
    out = ChunkSet()
    for name in _files(snapshot_dir):
        out.add_file(snapshot_dir / name, name)
    return out


def publish_bytes(before: ChunkSet, current: Path) -> dict[str, Any]:
    """Bytes of ``current``'s chunks that neither ``before`` nor an earlier file of ``current`` holds."""
    seen: set[bytes] = set()
    files: dict[str, dict[str, int]] = {}
    for name in _files(current):
        data = (current / name).read_bytes()
        sent = new = total = 0
        for digest, size in chunks(data):
            total += 1
            if digest in before.sizes or digest in seen:
                continue
            seen.add(digest)
            sent += size
            new += 1
        files[name] = {"bytes": len(data), "sent": sent, "chunks": total, "new_chunks": new}
    by_kind: dict[str, dict[str, int]] = {}
    for name, f in files.items():
        agg = by_kind.setdefault(_kind(name), {"bytes": 0, "sent": 0})
        agg["bytes"] += f["bytes"]
        agg["sent"] += f["sent"]
    return {
        "previous_bytes": before.total_bytes,
        "snapshot_bytes": sum(f["bytes"] for f in files.values()),
        "sent": sum(f["sent"] for f in files.values()),
        "changed_rows_bytes": by_kind.get("diff", {}).get("bytes", 0),
        "by_kind": by_kind,
        "files": files,
    }


# -- the benchmark ------------------------------------------------------------------------------------


def _prepare_tables(config: BenchConfig, papers: PapersTable) -> dict[str, Path]:
    """Curated tables A and B (per scenario), CDC on and off; kept beside the papers table for later runs."""
    folder = papers.folder / "release"
    stamp_path = folder / ".release.json"
    stamp = {"version": CHANGES_VERSION, "seed": SEED, "papers": papers.curated.stat().st_size}
    tables: dict[str, Path] = {}
    for cdc in CDC_MODES:
        tables[f"A-{_mode(cdc)}"] = papers.curated if cdc else folder / "papers-A-nocdc.parquet"
        for scenario in SCENARIOS:
            tables[f"B-{scenario}-{_mode(cdc)}"] = folder / f"papers-B-{scenario}-{_mode(cdc)}.parquet"
    try:
        reusable = json.loads(stamp_path.read_text(encoding="utf-8")) == stamp and not papers.built
    except (OSError, ValueError):
        reusable = False
    if reusable and all(p.is_file() for p in tables.values()):
        _say(f"reusing tables A and B in {folder}")
        return tables
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    _say("curating A with content-defined chunking off (fresh process)")
    run_fresh(
        "bench.papers_table:curate",
        {"staged": [str(papers.staged)], "out": str(tables["A-nocdc"]), "cdc": False},
    )
    for scenario in SCENARIOS:
        staged = folder / f"staged-B-{scenario}.parquet"
        counts = make_changed_staged(papers.curated, staged, scenario)
        _say(f"B ({scenario}): {counts}")
        for cdc in CDC_MODES:
            _say(f"curating B ({scenario}, {_mode(cdc)}) (fresh process)")
            run_fresh(
                "bench.papers_table:curate",
                {"staged": [str(staged)], "out": str(tables[f"B-{scenario}-{_mode(cdc)}"]), "cdc": cdc},
            )
        staged.unlink()
    stamp_path.write_text(json.dumps(stamp), encoding="utf-8")
    return tables


def _data_file(snapshot_dir: Path) -> Path:
    files = sorted((snapshot_dir / "data" / "papers").glob("*.parquet"))
    if len(files) != 1:
        raise RuntimeError(f"expected one papers data file in {snapshot_dir}, found {len(files)}")
    return files[0]


def run(config: BenchConfig) -> StageReport:
    papers = ensure_papers(config, _say)
    tables = _prepare_tables(config, papers)
    snaps = config.work_dir / "release-snapshots"
    shutil.rmtree(snaps, ignore_errors=True)
    writes: dict[str, dict[str, Any]] = {}
    published: dict[str, dict[str, Any]] = {}
    snapshot_dirs: dict[str, Path] = {}
    try:
        for cdc in CDC_MODES:
            mode = _mode(cdc)
            root_a = snaps / mode / "A"
            _say(f"write_snapshot A ({mode}, no previous snapshot)")
            writes[f"A-{mode}"] = run_fresh(
                "bench.release:snapshot",
                {
                    "out_root": str(root_a),
                    "papers": str(tables[f"A-{mode}"]),
                    "version": VERSION_A,
                    "cdc": cdc,
                },
            )
            snapshot_dirs[f"A-{mode}"] = root_a / VERSION_A
            chunks_a = snapshot_chunks(root_a / VERSION_A)
            for scenario in SCENARIOS:
                key = f"B-{scenario}-{mode}"
                root_b = snaps / mode / scenario
                root_b.mkdir(parents=True)
                os.symlink(root_a / VERSION_A, root_b / VERSION_A)  # A is B's previous snapshot
                _say(f"write_snapshot B ({scenario}, {mode}, with its diff)")
                writes[key] = run_fresh(
                    "bench.release:snapshot",
                    {"out_root": str(root_b), "papers": str(tables[key]), "version": VERSION_B, "cdc": cdc},
                )
                snapshot_dirs[key] = root_b / VERSION_B
                _say(f"chunking A and B ({scenario}, {mode})")
                published[key] = publish_bytes(chunks_a, root_b / VERSION_B)
                p = published[key]
                _say(
                    f"  sent {p['sent'] / 1e6:,.1f} MB of {p['snapshot_bytes'] / 1e6:,.1f} MB; "
                    f"changed rows {p['changed_rows_bytes'] / 1e6:,.2f} MB"
                )

        diffs: list[dict[str, Any]] = []
        floors: list[dict[str, Any]] = []
        old = _data_file(snapshot_dirs["A-cdc"])
        new = _data_file(snapshot_dirs[f"B-{DIFF_SCENARIO}-cdc"])
        for round_no in range(1, config.runs + 1):
            _say(f"round {round_no}/{config.runs}")
            floors.append(run_fresh("bench.release:hash_floor", {"old": str(old), "new": str(new)}))
            _say(f"  hash floor  {floors[-1]['seconds']:7.2f} s")
            result = run_fresh(
                "bench.release:diff",
                {"old": str(old), "new": str(new), "out_dir": str(config.work_dir / "release-diff")},
            )
            diffs.append(result)
            _say(
                f"  diff_table  {result['seconds']:7.2f} s  peak {result['peak_rss_mb']:,.0f} MB  {result['counts']}"
            )
    finally:
        shutil.rmtree(snaps, ignore_errors=True)

    details: dict[str, Any] = {
        "papers": {
            "records": config.records,
            "curated": str(papers.curated),
            "curated_bytes": papers.curated.stat().st_size,
            "build_seconds": papers.build_seconds,
        },
        "changes": {
            "updated": UPDATED,
            "deleted": DELETED,
            "added": ADDED,
            "recent_share": RECENT_SHARE,
            "slice_share": SLICE_SHARE,
        },
        "snapshot_writes": writes,
        "publish": published,
        "diff_runs": diffs,
        "hash_floor_runs": floors,
    }
    return StageReport(NAME, rows(config, writes, published, diffs, floors), details)


def _median(runs: list[dict[str, Any]], key: str = "seconds") -> float:
    return statistics.median(r[key] for r in runs)


def _mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB" if n >= 1e5 else f"{n / 1e3:,.0f} KB"


def rows(
    config: BenchConfig,
    writes: dict[str, dict[str, Any]],
    published: dict[str, dict[str, Any]],
    diffs: list[dict[str, Any]],
    floors: list[dict[str, Any]],
) -> list[ResultRow]:
    n = config.records
    size = f"{n:,} papers"
    out: list[ResultRow] = []
    floor_s = _median(floors)
    seconds, peak = _median(diffs), _median(diffs, "peak_rss_mb")
    out.append(
        ResultRow(
            f"release diff ({size}, 1% changed; diff_table, DuckDB 1 thread)",
            f"{seconds:,.1f} s ({n / seconds:,.0f} rows/s, peak {peak:,.0f} MB)",
            f"{floor_s:,.1f} s (read + hash every row of A and B)",
            f"{ratio(seconds, floor_s):.1f}x",
        )
    )
    for scenario in SCENARIOS:
        for cdc in CDC_MODES:
            p = published[f"B-{scenario}-{_mode(cdc)}"]
            sent, floor, whole = p["sent"], p["changed_rows_bytes"], p["snapshot_bytes"]
            data = p["by_kind"].get("data", {"sent": 0, "bytes": 0})
            sent_ratio = sent / floor if floor else float("inf")
            out.append(
                ResultRow(
                    f"publish bytes, 1% changed, {scenario} (CDC {'on' if cdc else 'off'})",
                    f"{_mb(sent)} ({sent / whole:.0%} of the {_mb(whole)} snapshot; data file "
                    f"{data['sent'] / data['bytes']:.0%} re-sent)",
                    f"{_mb(floor)} (changed rows as Parquet, diff/)",
                    f"{sent_ratio:.1f}x",
                    f"≤ {GOAL_SENT_RATIO:g}x the changed data",
                    sent_ratio <= GOAL_SENT_RATIO,
                )
            )
    a, b = writes["A-cdc"], writes["B-uniform-cdc"]
    out.append(
        ResultRow(
            f"write_snapshot B with its diff ({size}, uniform; 1 run)",
            f"{b['seconds']:,.1f} s (peak {b['peak_rss_mb']:,.0f} MB)",
            f"{a['seconds']:,.1f} s (snapshot A, no previous)",
            f"{ratio(b['seconds'], a['seconds']):.1f}x",
        )
    )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    return standalone_main("bench.release", __doc__.split("\n")[0], run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
