"""The code location: ``dagster dev`` and ``dagster definitions validate`` find it through pyproject.toml."""

import dagster as dg

from assets.curation import CURATION_TABLES, WORK_MAP, build_curation_assets
from assets.harvest import build_harvest_asset, harvest_asset_key
from assets.publish import hub_release, nightly_publish, publish_job, snapshot_release_ready
from assets.resources import CommonsHome, HttpFetcher
from assets.snapshot import build_snapshot_asset
from assets.tables import CODE_LINKS, build_code_links_asset, build_table_asset, build_table_checks
from pipelines.sources.registry import all_sources
from schemas import TABLES

SOURCES = list(all_sources().values())

harvest_assets = [build_harvest_asset(s) for s in SOURCES]
table_assets = [build_table_asset(t, SOURCES) for t in TABLES if t not in CURATION_TABLES]
curation_assets = build_curation_assets(SOURCES)
code_links_asset = build_code_links_asset()
table_checks = [check for t in TABLES for check in build_table_checks(t)]
snapshot_asset = build_snapshot_asset(SOURCES)

harvest_jobs = [
    dg.define_asset_job(
        name=f"harvest_{s.name}",
        selection=dg.AssetSelection.assets(harvest_asset_key(s)),
        description=f"Harvest one partition of {s.name} into staging.",
    )
    for s in SOURCES
]

release_job = dg.define_asset_job(
    name="release",
    selection=dg.AssetSelection.assets(*TABLES, WORK_MAP, CODE_LINKS, "snapshot")
    - dg.AssetSelection.checks(snapshot_release_ready),
    description="Resolve works, curate every table from the staged partitions, tag and deduplicate, run the "
    "blocking checks, write a snapshot.",
)

defs = dg.Definitions(
    assets=[*harvest_assets, *table_assets, *curation_assets, code_links_asset, snapshot_asset, hub_release],
    asset_checks=[*table_checks, snapshot_release_ready],
    jobs=[*harvest_jobs, release_job, publish_job],
    schedules=[nightly_publish],
    resources={"commons": CommonsHome(), "http": HttpFetcher()},
)
