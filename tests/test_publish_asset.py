"""The Dagster release path end to end: harvest, tables, snapshot, then the hub_release asset publishing to a
local stand-in for the Hugging Face Hub on 127.0.0.1 (tests/hub_server.py), driven by the real client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import huggingface_hub.constants as hf_constants
import pytest

from assets.definitions import (
    curation_assets,
    defs,
    harvest_assets,
    snapshot_asset,
    table_assets,
    table_checks,
)
from assets.publish import hub_release, snapshot_release_ready
from assets.resources import CommonsHome, HttpFetcher
from pipelines.batches import save_batch
from pipelines.local_input import plan_local_input
from pipelines.settings import DataRoot
from tests.hub_server import HubServer

TOKEN = "hf_assetTOKEN987"
REPO = "commons/research-commons"


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[HubServer]:
    monkeypatch.setattr(hf_constants, "HF_HUB_DISABLE_XET", True)  # the stand-in speaks LFS, not Xet
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    with HubServer(token=TOKEN) as server:
        yield server


def _release(instance: dg.DagsterInstance, root: DataRoot, folder: Path, out: Path) -> Path:
    batch = plan_local_input(folder).batches[0]
    save_batch(root, batch)
    instance.add_dynamic_partitions("arxiv_batches", [batch.key])
    resources = {"commons": CommonsHome(home=str(root.path)), "http": HttpFetcher()}
    harvest = next(a for a in harvest_assets if dg.AssetKey("arxiv_harvest") in a.keys)
    assert dg.materialize([harvest], instance=instance, partition_key=batch.key, resources=resources).success
    result = dg.materialize(
        [*table_assets, *curation_assets, snapshot_asset, *table_checks],
        instance=instance,
        resources=resources,
        run_config={"ops": {"snapshot": {"config": {"out_dir": str(out), "version": "v2026.02.01"}}}},
    )
    assert result.success
    return Path(str(result.asset_materializations_for_node("snapshot")[0].metadata["path"].value))


def test_hub_release_publishes_the_latest_snapshot(
    hub: HubServer, tmp_path: Path, arxiv_fixtures: Path
) -> None:
    root = DataRoot(tmp_path / "home").ensure()
    with dg.DagsterInstance.ephemeral() as instance:
        snap = _release(instance, root, arxiv_fixtures, tmp_path / "snaps")
        result = dg.materialize(
            [hub_release, snapshot_release_ready],
            instance=instance,
            selection=dg.AssetSelection.assets(hub_release)
            | dg.AssetSelection.checks(snapshot_release_ready),
            run_config={"ops": {"hub_release": {"config": {"repo": REPO, "endpoint": hub.url}}}},
        )
        assert result.success
        meta = result.asset_materializations_for_node("hub_release")[0].metadata
        assert meta["tag"].value == snap.name
        assert hub.tags(REPO) == {snap.name: hub.head(REPO)}
        assert len(hub.commits(REPO)) == 2  # the repository's initial commit, then this snapshot's
        assert TOKEN not in str(meta)


def test_tampered_snapshot_is_not_published(hub: HubServer, tmp_path: Path, arxiv_fixtures: Path) -> None:
    root = DataRoot(tmp_path / "home").ensure()
    with dg.DagsterInstance.ephemeral() as instance:
        snap = _release(instance, root, arxiv_fixtures, tmp_path / "snaps")
        papers = next((snap / "data" / "papers").glob("*.parquet"))
        papers.write_bytes(papers.read_bytes() + b"tampered")
        result = dg.materialize(
            [hub_release, snapshot_release_ready],
            instance=instance,
            selection=dg.AssetSelection.assets(hub_release)
            | dg.AssetSelection.checks(snapshot_release_ready),
            run_config={"ops": {"hub_release": {"config": {"repo": REPO, "endpoint": hub.url}}}},
            raise_on_error=False,
        )
        assert not result.success
        failed = [e for e in result.get_asset_check_evaluations() if not e.passed]
        assert [e.check_name for e in failed] == ["snapshot_release_ready"]
        assert "does not match the sha256" in (failed[0].description or "")
        assert not result.asset_materializations_for_node("hub_release")
        assert not hub.exists(REPO) or not hub.tags(REPO)


def test_publish_schedule_is_off_by_default() -> None:
    schedule = defs.resolve_schedule_def("nightly_publish")
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
