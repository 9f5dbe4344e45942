"""Asset tests: the real Dagster assets, materialized with ``materialize()`` on an ephemeral instance."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest

from assets.definitions import (
    curation_assets,
    defs,
    harvest_assets,
    snapshot_asset,
    table_assets,
    table_checks,
)
from assets.resources import CommonsHome, HttpFetcher
from pipelines.batches import save_batch
from pipelines.local_input import plan_local_input
from pipelines.settings import DataRoot

ARXIV_HARVEST = next(a for a in harvest_assets if dg.AssetKey("arxiv_harvest") in a.keys)


def _resources(home: Path) -> dict[str, object]:
    return {"commons": CommonsHome(home=str(home)), "http": HttpFetcher()}


def _harvest(instance: dg.DagsterInstance, root: DataRoot, folder: Path) -> str:
    plan = plan_local_input(folder)
    assert [b.source for b in plan.batches] == ["arxiv"]
    batch = plan.batches[0]
    save_batch(root, batch)
    instance.add_dynamic_partitions("arxiv_batches", [batch.key])
    result = dg.materialize(
        [ARXIV_HARVEST], instance=instance, partition_key=batch.key, resources=_resources(root.path)
    )
    assert result.success
    return batch.key


def test_definitions_load_and_validate() -> None:
    repo = defs.get_repository_def()
    keys = {k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()}
    assert {"arxiv_harvest", "papers", "fetches", "snapshot"} <= keys
    harvest = ARXIV_HARVEST
    assert harvest.op.pool == "oaipmh.arxiv.org"
    assert harvest.code_versions_by_key[dg.AssetKey("arxiv_harvest")]
    checks = {c.name for c in repo.asset_graph.asset_check_keys}
    assert {"papers_schema", "papers_unique_keys", "papers_provenance", "fetches_errors_explained"} <= checks
    assert {"papers_identifiers_unique", "links_resolved", "tags_evidence", "merges_unique_keys"} <= checks
    assert {"work_map", "merges", "merged_ids", "duplicates", "tags", "relevance", "languages"} <= keys


def test_harvest_tables_checks_snapshot(tmp_path: Path, arxiv_fixtures: Path) -> None:
    root = DataRoot(tmp_path / "home").ensure()
    with dg.DagsterInstance.ephemeral() as instance:
        key = _harvest(instance, root, arxiv_fixtures)
        mats = instance.get_latest_materialization_event(dg.AssetKey("arxiv_harvest"))
        assert mats is not None
        result = dg.materialize(
            [*table_assets, *curation_assets, snapshot_asset, *table_checks],
            instance=instance,
            resources=_resources(root.path),
            run_config={
                "ops": {
                    "snapshot": {"config": {"out_dir": str(tmp_path / "snaps"), "version": "v2026.01.01"}}
                }
            },
        )
        assert result.success
        evaluations = result.get_asset_check_evaluations()
        assert evaluations and all(e.passed for e in evaluations), [e.description for e in evaluations]
        papers = result.asset_materializations_for_node("papers")[0].metadata
        assert papers["dagster/row_count"].value == 136
        assert "dagster/column_schema" in papers and "dagster/uri" in papers
        snap = Path(str(result.asset_materializations_for_node("snapshot")[0].metadata["path"].value))
        assert snap == tmp_path / "snaps" / "v2026.01.01"
        manifest = json.loads((snap / "manifest.json").read_text())
        assert manifest["tables"]["papers"]["rows"] == 136
        assert manifest["inputs"][0]["partition"] == key
        # No absolute local paths leak into a release.
        assert str(arxiv_fixtures.parent) not in (snap / "manifest.json").read_text()


def test_blocking_check_stops_the_snapshot(tmp_path: Path, arxiv_fixtures: Path) -> None:
    """Raw bytes missing from the store fail the provenance check, and no snapshot is written."""
    root = DataRoot(tmp_path / "home").ensure()
    with dg.DagsterInstance.ephemeral() as instance:
        _harvest(instance, root, arxiv_fixtures)
        victim = next(p for p in (root.raw / "sha256").rglob("*") if p.is_file())
        victim.unlink()
        result = dg.materialize(
            [*table_assets, *curation_assets, snapshot_asset, *table_checks],
            instance=instance,
            resources=_resources(root.path),
            run_config={"ops": {"snapshot": {"config": {"out_dir": str(tmp_path / "snaps")}}}},
            raise_on_error=False,
        )
        assert not result.success
        failed = [e for e in result.get_asset_check_evaluations() if not e.passed]
        assert [e.check_name for e in failed] == ["papers_provenance"] or {e.check_name for e in failed} == {
            "papers_provenance",
            "fetches_provenance",
        }
        assert not result.asset_materializations_for_node("snapshot")
        assert not (tmp_path / "snaps").exists() or not any((tmp_path / "snaps").iterdir())


def test_partition_removed_from_instance_drops_out(tmp_path: Path, arxiv_fixtures: Path) -> None:
    """Tables are built from the partitions that exist now, not from whatever is left in staging."""
    root = DataRoot(tmp_path / "home").ensure()
    with dg.DagsterInstance.ephemeral() as instance:
        key = _harvest(instance, root, arxiv_fixtures)
        instance.delete_dynamic_partition("arxiv_batches", key)
        result = dg.materialize(
            [*table_assets, *curation_assets], instance=instance, resources=_resources(root.path)
        )
        assert result.success
        assert pq.ParquetFile(root.tables / "papers" / "papers.parquet").metadata.num_rows == 0


@pytest.mark.parametrize("asset_key", ["arxiv_harvest", "papers", "fetches", "snapshot"])
def test_assets_are_documented(asset_key: str) -> None:
    node = defs.get_repository_def().asset_graph.get(dg.AssetKey(asset_key))
    assert node.description


def test_dagster_finds_and_validates_the_code_location_from_pyproject(tmp_path: Path) -> None:
    """`dagster definitions validate` with no flags: pyproject.toml's [tool.dagster] names assets.definitions."""
    import os
    import subprocess
    import sys

    from pipelines.settings import PROJECT_ROOT

    dagster = str(Path(sys.executable).with_name("dagster"))
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    result = subprocess.run(
        [dagster, "definitions", "validate"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "Validation successful for code location research_commons" in result.stderr + result.stdout
