"""Snapshot writing: versions, atomicity, manifest integrity, the rendered card, deterministic Parquet."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.curate.combine import build_curated_table
from pipelines.snapshot.parquet import ParquetTableWriter
from pipelines.snapshot.writer import file_sha256, latest_snapshot, next_version, write_snapshot
from schemas import TABLES, table_spec


def _fetch_row(i: int) -> dict[str, object]:
    return {
        "fetch_id": f"{i:064x}",
        "source": "arxiv",
        "url_or_path": f"folder/file-{i}.xml",
        "kind": "file",
        "status": "ok",
        "raw_sha256": f"{i:064x}",
        "bytes": i,
        "records": i,
        "pipeline_version": "test",
    }


def _tables(tmp_path: Path) -> dict[str, Path]:
    paths = {}
    for name in TABLES:
        path = tmp_path / "tables" / f"{name}.parquet"
        with ParquetTableWriter(path, table_spec(name)) as writer:
            if name == "fetches":
                for i in range(3):
                    writer.add(_fetch_row(i))
        paths[name] = path
    return paths


def test_calver_versions_and_latest(tmp_path: Path) -> None:
    day = datetime(2026, 11, 24, tzinfo=UTC)
    assert next_version(tmp_path, day) == "v2026.11.24"
    tables = _tables(tmp_path)
    out = tmp_path / "snaps"
    for expected in ("v2026.11.24", "v2026.11.24.2", "v2026.11.24.3"):
        assert write_snapshot(out, tables, version=next_version(out, day)).name == expected
    for _ in range(4, 11):
        write_snapshot(out, tables, version=next_version(out, day))
    latest = latest_snapshot(out)
    assert latest is not None and latest.name == "v2026.11.24.10", "numeric, not lexical, order"


def test_interrupted_snapshot_leaves_nothing(tmp_path: Path) -> None:
    tables = _tables(tmp_path)
    tables["papers"] = tmp_path / "missing.parquet"
    out = tmp_path / "snaps"
    with pytest.raises(FileNotFoundError):
        write_snapshot(out, tables, version="v2026.01.01")
    assert not out.exists() or list(out.iterdir()) == []


def test_manifest_views_and_card(tmp_path: Path) -> None:
    snap = write_snapshot(tmp_path / "snaps", _tables(tmp_path), version="v2026.01.01")
    manifest = json.loads((snap / "manifest.json").read_text())
    assert set(manifest["tables"]) == set(TABLES)
    for table in manifest["tables"].values():
        for f in table["files"]:
            assert file_sha256(snap / f["path"]) == f["sha256"]
    con = duckdb.connect()
    con.execute(f"SET file_search_path = '{snap}'")
    con.execute((snap / "views.sql").read_text())
    assert con.execute("SELECT count(*) FROM fetches").fetchone() == (3,)
    card = (snap / "README.md").read_text()
    assert card.startswith("---\n") and "config_name: fetches" in card
    assert "config_name: papers" not in card, "an empty table gets no config: datasets refuses those"
    assert "v2026.01.01" in card and "{{" not in card and "<!-- template:" not in card
    assert "`raw_sha256`" in card  # column docs generated from schemas/


def test_curated_table_is_deduplicated_sorted_and_deterministic(tmp_path: Path) -> None:
    spec = table_spec("fetches")
    staged = []
    for part, ids in enumerate(([5, 1, 3], [3, 2, 5, 4])):
        path = tmp_path / f"staged-{part}.parquet"
        with ParquetTableWriter(path, spec) as writer:
            for i in ids:
                writer.add(_fetch_row(i))
        staged.append(path)
    first, second = tmp_path / "a.parquet", tmp_path / "b.parquet"
    assert build_curated_table(spec, staged, first) == 5
    assert build_curated_table(spec, list(reversed(staged)), second) == 5
    assert first.read_bytes() == second.read_bytes(), "input order must not change the bytes"
    table = pq.read_table(first)
    assert table.column("url_or_path").to_pylist() == sorted(table.column("url_or_path").to_pylist())
    assert table.schema.equals(spec.schema, check_metadata=False)
    assert pq.read_schema(first).field("fetch_id").metadata  # column docs travel with the data


def test_row_groups_are_sized_by_bytes(tmp_path: Path) -> None:
    spec = table_spec("fetches")
    path = tmp_path / "f.parquet"
    with ParquetTableWriter(path, spec, row_group_bytes=64 * 1024) as writer:
        for start in range(0, 20_000, 1000):
            writer.add_batch(
                pa.RecordBatch.from_pylist(
                    [_fetch_row(i) for i in range(start, start + 1000)], schema=spec.schema
                )
            )
    meta = pq.ParquetFile(path).metadata
    assert meta.num_rows == 20_000 and meta.num_row_groups > 5
    sizes = [meta.row_group(i).total_byte_size for i in range(meta.num_row_groups - 1)]
    assert all(s >= 64 * 1024 * 0.5 for s in sizes)


def test_failed_write_keeps_the_previous_file(tmp_path: Path) -> None:
    spec = table_spec("fetches")
    path = tmp_path / "f.parquet"
    with ParquetTableWriter(path, spec) as writer:
        writer.add(_fetch_row(1))
    before = path.read_bytes()
    with pytest.raises(ValueError), ParquetTableWriter(path, spec) as writer:
        writer.add(_fetch_row(2))
        writer.add({"fetch_id": None})  # the key is not nullable
        writer.close()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["f.parquet"]


def test_hub_views_point_at_the_version_tag(tmp_path: Path) -> None:
    snap = write_snapshot(
        tmp_path / "snaps", _tables(tmp_path), version="v2026.01.01", hub_repo="org/commons"
    )
    views = (snap / "views_hub.sql").read_text()
    for table in TABLES:
        expected = f"read_parquet('hf://datasets/org/commons@v2026.01.01/data/{table}/*.parquet')"
        assert f'CREATE OR REPLACE VIEW "{table}" AS SELECT * FROM {expected};' in views
    assert "LOAD httpfs;" in views
    assert json.loads((snap / "manifest.json").read_text())["hub_repo"] == "org/commons"


def test_remote_query_needs_a_versioned_repo() -> None:
    from click.testing import CliRunner

    from commons.cli import main

    result = CliRunner().invoke(main, ["query", "--remote", "org/commons", "SELECT 1"])
    assert result.exit_code != 0 and "ORG/NAME@VERSION" in result.output


def test_large_tables_are_split_into_ordered_shards(tmp_path: Path) -> None:
    spec = table_spec("fetches")
    big = tmp_path / "fetches.parquet"
    with ParquetTableWriter(big, spec, row_group_bytes=32 * 1024) as writer:
        for i in range(20_000):
            writer.add(_fetch_row(i))
    tables = {**_tables(tmp_path), "fetches": big}
    max_bytes = big.stat().st_size // 4
    first = write_snapshot(tmp_path / "a", tables, version="v2026.01.01", max_file_bytes=max_bytes)
    files = json.loads((first / "manifest.json").read_text())["tables"]["fetches"]["files"]
    assert len(files) >= 4 and [f["path"] for f in files] == sorted(f["path"] for f in files)
    assert all((first / f["path"]).stat().st_size <= max_bytes * 1.5 for f in files)
    rows = pq.read_table([str(first / f["path"]) for f in files]).column("fetch_id").to_pylist()
    assert rows == pq.read_table(big).column("fetch_id").to_pylist()
    con = duckdb.connect()
    con.execute(f"SET file_search_path = '{first}'")
    con.execute((first / "views.sql").read_text())
    assert con.execute("SELECT count(*) FROM fetches").fetchone() == (20_000,)
    second = write_snapshot(tmp_path / "b", tables, version="v2026.01.01", max_file_bytes=max_bytes)
    for f in files:
        assert (first / f["path"]).read_bytes() == (second / f["path"]).read_bytes(), (
            "shards are deterministic"
        )
