"""Curation assets: entity resolution before the tables, duplicates and attribute tables after them.

Thin wrappers: the work is in pipelines/curate (work_resolution, text_duplicates, attributes).
"""

from collections.abc import Iterator, Sequence

import dagster as dg

from assets.harvest import harvest_asset_key
from assets.metadata import table_metadata
from assets.resources import CommonsHome
from assets.tables import WORK_MAP, curated_path, derived_path, feeding_sources, staged_files
from pipelines.curate.attributes import write_languages, write_tags
from pipelines.curate.tagging import TAGGER_VERSION, load_taxonomy
from pipelines.curate.text_duplicates import write_duplicates
from pipelines.curate.work_resolution import RESOLVER_VERSION, write_work_resolution
from pipelines.sources.base import Source
from schemas import table_spec

RESOLUTION_TABLES = ("merges", "merged_ids", "identifier_conflicts")
ATTRIBUTE_TABLES = ("duplicates", "tags", "relevance", "languages")
# Tables these assets write; the generic table assets build the others.
CURATION_TABLES = (*RESOLUTION_TABLES, *ATTRIBUTE_TABLES)
GROUP = "curation"


def build_resolution_asset(sources: Sequence[Source]) -> dg.AssetsDefinition:
    feeding = feeding_sources("papers", sources)

    @dg.multi_asset(
        name="work_resolution",
        group_name=GROUP,
        specs=[
            dg.AssetSpec(
                WORK_MAP,
                group_name=GROUP,
                deps=[harvest_asset_key(s) for s in feeding],
                description="Source-assigned work id -> resolved work id (internal; joined by every table "
                "keyed by work).",
                code_version=RESOLVER_VERSION,
                kinds={"parquet"},
            ),
            *(
                dg.AssetSpec(
                    t,
                    group_name=GROUP,
                    deps=[WORK_MAP],
                    description=table_spec(t).description,
                    code_version=RESOLVER_VERSION,
                    kinds={"parquet"},
                )
                for t in RESOLUTION_TABLES
            ),
        ],
    )
    def _resolve(context: dg.AssetExecutionContext, commons: CommonsHome) -> Iterator[dg.MaterializeResult]:
        root = commons.root()
        outs = {t: curated_path(root, t) for t in RESOLUTION_TABLES}
        map_out = derived_path(root, WORK_MAP)
        summary = write_work_resolution(
            staged_files(context.instance, root, "papers", sources),
            map_out,
            outs["merges"],
            outs["merged_ids"],
            outs["identifier_conflicts"],
            previous_merged_ids=outs["merged_ids"],
        )
        context.log.info(
            f"resolution: {summary.records} records -> {summary.works} works, {summary.merges} merges, "
            f"{summary.conflicts} conflicts refused, {summary.carried_over} redirects carried over"
        )
        yield dg.MaterializeResult(
            asset_key=WORK_MAP,
            metadata={
                "records": summary.records,
                "works": summary.works,
                "dagster/uri": dg.MetadataValue.path(str(map_out)),
                "stats": dg.MetadataValue.json(summary.stats),
            },
        )
        for t in RESOLUTION_TABLES:
            yield dg.MaterializeResult(asset_key=t, metadata=table_metadata(table_spec(t), outs[t]))

    return _resolve


def build_tags_asset() -> dg.AssetsDefinition:
    taxonomy = load_taxonomy()

    @dg.multi_asset(
        name="safety_tags",
        group_name=GROUP,
        specs=[
            dg.AssetSpec(
                t,
                group_name=GROUP,
                deps=["papers"],
                description=table_spec(t).description,
                # Re-tag when the taxonomy or the tagger's rules change.
                code_version=f"{TAGGER_VERSION}+taxonomy-{taxonomy.version}",
                kinds={"spacy", "parquet"},
            )
            for t in ("tags", "relevance")
        ],
    )
    def _tags(context: dg.AssetExecutionContext, commons: CommonsHome) -> Iterator[dg.MaterializeResult]:
        root = commons.root()
        tags_out, relevance_out = curated_path(root, "tags"), curated_path(root, "relevance")
        n_tags, n_records = write_tags(curated_path(root, "papers"), tags_out, relevance_out)
        context.log.info(f"tags: {n_tags} tags on {n_records} papers (taxonomy {taxonomy.version})")
        yield dg.MaterializeResult(asset_key="tags", metadata=table_metadata(table_spec("tags"), tags_out))
        yield dg.MaterializeResult(
            asset_key="relevance", metadata=table_metadata(table_spec("relevance"), relevance_out)
        )

    return _tags


def build_languages_asset() -> dg.AssetsDefinition:
    @dg.asset(
        name="languages",
        group_name=GROUP,
        deps=["papers", "paper_texts"],
        code_version="1",
        kinds={"parquet"},
        description=table_spec("languages").description,
    )
    def _languages(context: dg.AssetExecutionContext, commons: CommonsHome) -> dg.MaterializeResult:
        root = commons.root()
        out = curated_path(root, "languages")
        rows = write_languages(curated_path(root, "papers"), curated_path(root, "paper_texts"), out)
        context.log.info(f"languages: {rows} fields judged")
        return dg.MaterializeResult(metadata=table_metadata(table_spec("languages"), out))

    return _languages


def build_duplicates_asset() -> dg.AssetsDefinition:
    @dg.asset(
        name="duplicates",
        group_name=GROUP,
        deps=["papers", "paper_texts"],
        code_version="1",
        kinds={"parquet"},
        description=table_spec("duplicates").description,
    )
    def _duplicates(context: dg.AssetExecutionContext, commons: CommonsHome) -> dg.MaterializeResult:
        root = commons.root()
        out = curated_path(root, "duplicates")
        summary = write_duplicates(curated_path(root, "papers"), curated_path(root, "paper_texts"), out)
        context.log.info(f"duplicates: {summary.rows} rows {summary.by_field}")
        return dg.MaterializeResult(
            metadata={
                **table_metadata(table_spec("duplicates"), out),
                "by_field": dg.MetadataValue.json(summary.by_field),
                "minhash": dg.MetadataValue.json(summary.near_params),
            }
        )

    return _duplicates


def build_curation_assets(sources: Sequence[Source]) -> list[dg.AssetsDefinition]:
    return [
        build_resolution_asset(sources),
        build_tags_asset(),
        build_languages_asset(),
        build_duplicates_asset(),
    ]
