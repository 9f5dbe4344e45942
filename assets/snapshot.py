"""The snapshot asset: a versioned, deterministic release of every curated table under the snapshots root."""

import hashlib
import os
from pathlib import Path

import dagster as dg
from pydantic import Field

from assets.resources import CommonsHome
from assets.tables import curated_path
from pipelines.batches import snapshot_inputs
from pipelines.settings import DataRoot
from pipelines.snapshot.gates import GatePolicy, ReleaseGateError
from pipelines.snapshot.writer import latest_snapshot, read_manifest, write_snapshot
from pipelines.sources.base import Source
from schemas import TABLES


class SnapshotConfig(dg.Config):
    out_dir: str = ""  # snapshots root; empty means snapshots/ under the data root
    version: str = ""  # empty means today's CalVer, vYYYY.MM.DD[.N]
    max_shrink: float = 0.05  # release gate: largest fraction of rows a table may lose
    max_source_shrink: float = 0.20  # release gate: largest fraction of a table's rows one source may lose
    max_duplicate_shift: float = 0.05  # release gate: largest change of duplicates rows per papers row
    hub_repo: str = ""  # ORG/NAME the snapshot will be published to (views_hub.sql); empty: $COMMONS_HF_REPO
    override_gates: dict[str, str] = Field(
        default_factory=dict
    )  # gate name -> reason; recorded in the manifest


def release_state_path(root: DataRoot, out_root: Path) -> Path:
    """Where the data root remembers what its latest release into ``out_root`` was written from."""
    digest = hashlib.sha256(str(out_root.resolve()).encode()).hexdigest()[:16]
    return root.tables / "_releases" / f"{digest}.json"


def build_snapshot_asset(sources: list[Source]) -> dg.AssetsDefinition:
    @dg.asset(
        name="snapshot",
        group_name="release",
        deps=[dg.AssetKey(t) for t in TABLES],
        code_version="1",
        kinds={"parquet"},
        description="Versioned snapshot: data/<table>/*.parquet, manifest.json, views.sql, README.md.",
    )
    def _snapshot(
        context: dg.AssetExecutionContext, config: SnapshotConfig, commons: CommonsHome
    ) -> dg.MaterializeResult:
        root = commons.root()
        out_root = Path(config.out_dir).resolve() if config.out_dir else root.snapshots
        partitions = {s.name: context.instance.get_dynamic_partitions(f"{s.name}_batches") for s in sources}
        inputs, watermarks = snapshot_inputs(root, [s.name for s in sources], partitions)
        policy = GatePolicy(
            max_shrink=config.max_shrink,
            max_source_shrink=config.max_source_shrink,
            max_duplicate_shift=config.max_duplicate_shift,
            overrides=dict(config.override_gates),
        )
        previous = latest_snapshot(out_root)
        try:
            path = write_snapshot(
                out_root,
                {t: curated_path(root, t) for t in TABLES},
                inputs=inputs,
                watermarks=watermarks,
                version=config.version or None,
                gate_policy=policy,
                hub_repo=config.hub_repo or os.environ.get("COMMONS_HF_REPO") or None,
                reuse_state=release_state_path(root, out_root),
            )
        except ReleaseGateError as exc:
            raise dg.Failure(
                description=str(exc),
                metadata={"release_gates": dg.MetadataValue.json([r.to_json() for r in exc.results])},
            ) from exc
        skipped = previous is not None and path == previous
        if skipped:
            context.log.info(
                f"tables and inputs unchanged since snapshot {path.name}: no new version ({path})"
            )
        else:
            context.log.info(f"snapshot written to {path}")
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(str(path)),
                "dagster/uri": dg.MetadataValue.path(str(path)),
                "version": path.name,
                "gate_overrides": dg.MetadataValue.json(read_manifest(path)["gate_overrides"]),
                "skipped": skipped,
            }
        )

    return _snapshot
