"""One harvest asset per registered source, partitioned by batch, writing staged Parquet and a fetch log."""

import logging
from typing import Any

import dagster as dg

from assets.metadata import table_metadata
from assets.partitions import batches_partitions
from assets.resources import CommonsHome, HttpFetcher
from pipelines.batches import load_batch, load_watermarks, save_watermark
from pipelines.harvest import harvest_batch
from pipelines.sources.base import Source
from schemas import table_spec

# Progress for people watching a terminal (`commons build` shows it); Dagster's log has the same lines.
progress_log = logging.getLogger("commons.progress")


def harvest_asset_key(source: Source) -> dg.AssetKey:
    return dg.AssetKey(f"{source.name}_harvest")


def build_harvest_asset(source: Source) -> dg.AssetsDefinition:
    pool = source.pool or (source.live.hosts[0] if source.live else None)

    @dg.asset(
        key=harvest_asset_key(source),
        group_name="sources",
        partitions_def=batches_partitions(source.name),
        code_version=source.parser_version,
        pool=pool,
        retry_policy=dg.RetryPolicy(
            max_retries=3, delay=30, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
        )
        if source.live
        else None,
        kinds={"python", "parquet"},
        description=f"{source.description} Reads: {source.local_inputs}. Feeds: {', '.join(source.tables)}.",
    )
    def _harvest(
        context: dg.AssetExecutionContext, commons: CommonsHome, http: HttpFetcher
    ) -> dg.MaterializeResult:
        root = commons.root()
        batch = load_batch(root, source.name, context.partition_key)
        watermark_key = source.watermark_key(batch.options)
        watermark = load_watermarks(root, source.name).get(watermark_key) if batch.kind == "live" else None

        def progress(n: int, name: str) -> None:
            if n % 100 == 0 or batch.kind == "live":
                message = f"{batch.key}: {n} documents, now {name}"
                context.log.info(message)
                progress_log.info(message)

        summary = harvest_batch(
            source,
            batch,
            root,
            fetcher=http.fetcher() if batch.kind == "live" else None,
            watermark=watermark,
            on_document=progress,
        )
        for error in summary.errors:
            context.log.warning(error if not summary.skipped else f"(previous harvest) {error}")
        if batch.kind == "live" and summary.complete:
            new_mark = source.next_watermark(batch, watermark)
            if new_mark:
                save_watermark(root, source.name, watermark_key, new_mark)
        if batch.kind == "live" and not summary.complete:
            # Pages already harvested are staged; failing lets the retry policy try the window again.
            raise dg.Failure(
                description=f"live harvest {batch.key} stopped early: {summary.errors[-1] if summary.errors else ''}"
            )
        if summary.skipped:
            message = f"{batch.key}: inputs and parser unchanged since the last harvest; not read again"
            context.log.info(message)
            progress_log.info(message)
        metadata: dict[str, Any] = {
            "documents": summary.documents,
            "errors": len(summary.errors),
            "batch": dg.MetadataValue.json(batch.to_json()),
            "skipped": summary.skipped,
        }
        for table, path in summary.outputs.items():
            metadata.update({f"{table}/{k}": v for k, v in table_metadata(table_spec(table), path).items()})
        metadata["dagster/row_count"] = sum(summary.rows.values())
        return dg.MaterializeResult(metadata=metadata)

    return _harvest
