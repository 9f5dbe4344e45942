"""Releases: diffs and CHANGELOG against the previous snapshot, release gates, Croissant, every table loadable.

Tables are built from the real recorded arXiv and Alignment Forum responses, then changed the way real
releases go wrong (rows lost, a source gone, a column retyped).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import duckdb
import pytest

from pipelines.curate.combine import build_curated_table
from pipelines.harvest import harvest_batch
from pipelines.settings import DataRoot
from pipelines.snapshot.gates import GatePolicy, ReleaseGateError
from pipelines.snapshot.writer import read_manifest, write_snapshot
from pipelines.sources.base import BatchSpec
from pipelines.sources.registry import get_source
from schemas import TABLES, table_spec
from tests.conftest import fixture_dir


@pytest.fixture(scope="module")
def curated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """papers and fetches built from both real sources' recordings."""
    root = DataRoot(tmp_path_factory.mktemp("home")).ensure()
    staged: dict[str, list[Path]] = {t: [] for t in TABLES}
    for source, folder in (("arxiv", "arxiv_oai"), ("alignment_forum", "alignment_forum")):
        batch = BatchSpec(
            source=source, kind="local", key="t", paths=(str(fixture_dir(folder)),), options={"claim": "all"}
        )
        summary = harvest_batch(get_source(source), batch, root)
        for table, path in summary.outputs.items():
            staged[table].append(path)
    out = {}
    for table in TABLES:
        out[table] = root.tables / f"{table}.parquet"
        build_curated_table(table_spec(table), staged[table], out[table])
    return out


def _rewrite(src: Path, dst: Path, sql: str) -> Path:
    """A changed copy of a curated table: ``sql`` selects from ``t``."""
    con = duckdb.connect()
    con.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet('{src}')")
    changed = dst.with_suffix(".changed.parquet")
    con.execute(f"COPY ({sql}) TO '{changed}' (FORMAT parquet)")
    build_curated_table(table_spec(src.stem), [changed], dst)
    return dst


def test_first_snapshot_then_identical_one(curated: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "snaps"
    first = write_snapshot(out, curated, version="v2026.01.01")
    assert "First snapshot." in (first / "CHANGELOG.md").read_text()
    assert not (first / "diff").exists()
    second = write_snapshot(out, curated, version="v2026.01.02")
    manifest = read_manifest(second)
    assert manifest["previous_version"] == "v2026.01.01"
    assert manifest["tables"]["papers"]["sources"] == {"alignment_forum": 4274, "arxiv": 136}
    for table in manifest["tables"].values():
        assert (table["diff"]["added"], table["diff"]["updated"], table["diff"]["deleted"]) == (0, 0, 0)
    changelog = (second / "CHANGELOG.md").read_text()
    assert changelog.index("## v2026.01.02") < changelog.index("## v2026.01.01"), "newest first, history kept"


def test_diff_counts_and_rows_are_exact(curated: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "snaps"
    write_snapshot(out, curated, version="v2026.01.01")
    changed = dict(curated)
    changed["papers"] = _rewrite(
        curated["papers"],
        tmp_path / "papers.parquet",
        """
        SELECT * REPLACE (CASE WHEN work_id IN ('arxiv:1401.2122', 'lesswrong:uMQ3cqWDPHhjtiesc')
                          THEN title || ' (revised)' ELSE title END AS title)
        FROM t WHERE work_id NOT IN ('arxiv:1601.03238', 'arxiv:cond-mat/0603029')
        """,
    )
    snap = write_snapshot(out, changed, version="v2026.01.02", gate_policy=GatePolicy(max_shrink=0.01))
    diff = read_manifest(snap)["tables"]["papers"]["diff"]
    assert (diff["added"], diff["updated"], diff["deleted"]) == (0, 2, 2)
    con = duckdb.connect()
    updated = con.execute(
        f"SELECT work_id, title FROM '{snap}/diff/papers/updated.parquet' ORDER BY 1"
    ).fetchall()
    assert [w for w, _ in updated] == ["arxiv:1401.2122", "lesswrong:uMQ3cqWDPHhjtiesc"]
    assert all(t.endswith("(revised)") for _, t in updated)
    deleted = con.execute(
        f"SELECT work_id, title FROM '{snap}/diff/papers/deleted.parquet' ORDER BY 1"
    ).fetchall()
    assert [w for w, _ in deleted] == ["arxiv:1601.03238", "arxiv:cond-mat/0603029"]
    assert all(t for _, t in deleted), "deleted rows are whole rows, full text included"
    changelog = (snap / "CHANGELOG.md").read_text()
    assert "| `papers` | `arxiv` | 0 | 1 | 2 |" in changelog
    assert "| `papers` | `alignment_forum` | 0 | 1 | 0 |" in changelog


def test_shrinking_table_is_stopped_unless_overridden(curated: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "snaps"
    write_snapshot(out, curated, version="v2026.01.01")
    shrunk = dict(curated)
    shrunk["papers"] = _rewrite(
        curated["papers"], tmp_path / "papers.parquet", "SELECT * FROM t WHERE hash(work_id) % 3 <> 0"
    )
    with pytest.raises(ReleaseGateError, match=r"table papers shrank from 4410 to \d+ rows"):
        write_snapshot(out, shrunk, version="v2026.01.02")
    assert sorted(p.name for p in out.iterdir()) == ["v2026.01.01"], "a stopped release writes nothing"
    snap = write_snapshot(
        out,
        shrunk,
        version="v2026.01.02",
        gate_policy=GatePolicy(
            overrides={"row_counts": "upstream withdrew records", "sources": "same cause"}
        ),
    )
    overrides = read_manifest(snap)["gate_overrides"]
    assert [o["gate"] for o in overrides] == ["row_counts", "sources"]
    assert overrides[0]["reason"] == "upstream withdrew records"
    assert "overridden (upstream withdrew records)" in (snap / "CHANGELOG.md").read_text()


def test_a_source_that_disappears_is_stopped(curated: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "snaps"
    write_snapshot(out, curated, version="v2026.01.01")
    lost = dict(curated)
    lost["papers"] = _rewrite(
        curated["papers"], tmp_path / "papers.parquet", "SELECT * FROM t WHERE source = 'arxiv'"
    )
    with pytest.raises(ReleaseGateError) as err:
        write_snapshot(
            out, lost, version="v2026.01.02", gate_policy=GatePolicy(overrides={"row_counts": "test"})
        )
    assert "source alignment_forum disappeared from papers (had 4274 rows)" in str(err.value)


def test_retyped_column_needs_a_major_version(curated: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "snaps"
    first = write_snapshot(out, curated, version="v2026.01.01")
    manifest = read_manifest(first)
    # As if the previous release had published latest_version as int64: this release retypes it.
    manifest["tables"]["papers"]["columns"]["latest_version"] = "int64"
    (first / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    with pytest.raises(ReleaseGateError, match=r"papers\.latest_version retyped from int64 to int32"):
        write_snapshot(out, curated, version="v2026.01.02")


def test_gate_policy_rejects_unknown_gates_and_empty_reasons() -> None:
    with pytest.raises(ValueError, match="unknown gate"):
        GatePolicy(overrides={"row_count": "typo"})
    with pytest.raises(ValueError, match="reason"):
        GatePolicy(overrides={"schema": " "})


def test_croissant_validates_and_reads_every_table(curated: dict[str, Path], tmp_path: Path) -> None:
    mlc = pytest.importorskip("mlcroissant")
    snap = write_snapshot(tmp_path / "snaps", curated, version="v2026.01.01")
    croissant = json.loads((snap / "croissant.json").read_text())
    files = {d["contentUrl"]: d["sha256"] for d in croissant["distribution"]}
    for table in read_manifest(snap)["tables"].values():
        for f in table["files"]:
            assert files[f["path"]] == f["sha256"]
    dataset = mlc.Dataset(jsonld=snap / "croissant.json")
    for table, info in read_manifest(snap)["tables"].items():
        if not info["rows"]:
            continue  # no full-text input in this build; the record set is still declared and validated
        records = list(itertools.islice(dataset.records(record_set=table), 3))
        assert len(records) == 3, table
        assert f"{table}/{table_spec(table).primary_key[0]}" in records[0]


def test_load_dataset_works_for_every_table(
    curated: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    snap = write_snapshot(tmp_path / "snaps", curated, version="v2026.01.01")
    for table, info in read_manifest(snap)["tables"].items():
        if not info["rows"]:
            assert f"config_name: {table}\n" not in (snap / "README.md").read_text()
            continue
        ds = datasets.load_dataset(str(snap), table, split="train", cache_dir=str(tmp_path / "cache"))
        assert ds.num_rows == info["rows"], table
