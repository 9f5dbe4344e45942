"""The snapshot asset: a versioned, deterministic release of every curated table under the snapshots root."""

from pathlib import Path

import dagster as dg

from assets.resources import CommonsHome
from assets.tables import curated_path
from pipelines.batches import load_batch, load_watermarks
from pipelines.snapshot.writer import write_snapshot
from pipelines.sources.base import Source
from schemas import TABLES


class SnapshotConfig(dg.Config):
    out_dir: str = ""  # snapshots root; empty means snapshots/ under the data root
    version: str = ""  # empty means today's CalVer, vYYYY.MM.DD[.N]


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
        inputs = []
        watermarks = {}
        for source in sources:
            for key in sorted(context.instance.get_dynamic_partitions(f"{source.name}_batches")):
                batch = load_batch(root, source.name, key)
                # Record where input came from without leaking local absolute paths into a release.
                inputs.append(
                    {
                        "source": source.name,
                        "partition": key,
                        "kind": batch.kind,
                        "inputs": [Path(p).name for p in batch.paths],
                        "options": dict(batch.options),
                    }
                )
            marks = load_watermarks(root, source.name)
            if marks:
                watermarks[source.name] = marks
        path = write_snapshot(
            out_root,
            {t: curated_path(root, t) for t in TABLES},
            inputs=inputs,
            watermarks=watermarks,
            version=config.version or None,
        )
        context.log.info(f"snapshot written to {path}")
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(str(path)),
                "dagster/uri": dg.MetadataValue.path(str(path)),
                "version": path.name,
            }
        )

    return _snapshot
