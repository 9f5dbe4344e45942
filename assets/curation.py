"""Curation assets: entity resolution before the tables, duplicates and attribute tables after them.

Thin wrappers: the work is in pipelines/curate (work_resolution, text_duplicates, attributes).
"""

from collections.abc import Iterator, Sequence

import dagster as dg

from assets.harvest import harvest_asset_key
from assets.metadata import table_metadata
from assets.resources import CommonsHome
from assets.tables import staged_files
from pipelines import incremental
from pipelines.curate.attributes import languages_version, tagger_version, write_languages, write_tags
from pipelines.curate.table_rules import WORK_MAP, curated_path, derived_path, feeding_sources
from pipelines.curate.tagging import TAGGER_VERSION, load_taxonomy
from pipelines.curate.text_duplicates import duplicates_version, write_duplicates
from pipelines.curate.work_resolution import RESOLVER_VERSION, write_work_resolution
from pipelines.sources.base import Source
from schemas import SCHEMA_VERSION, table_spec

RESOLUTION_TABLES = ("merges", "merged_ids", "identifier_conflicts")
ATTRIBUTE_TABLES = ("duplicates", "tags", "relevance", "languages")
# Tables these assets write; the generic table assets build the others.
CURATION_TABLES = (*RESOLUTION_TABLES, *ATTRIBUTE_TABLES)
GROUP = "curation"


def _versions(step: str, code: str) -> dict[str, str]:
    return {"step": step, "code": code, "schema": SCHEMA_VERSION}


def _log_skip(context: dg.AssetExecutionContext, step: str, outcome: incremental.Outcome) -> None:
    if outcome.skipped:
        context.log.info(f"{step}: inputs and code unchanged since the last build; not recomputed")


def _record_stats(stats: dict[str, int]) -> dict[str, int]:
    return {"records_judged": stats.get("judged", 0), "records_carried_over": stats.get("carried", 0)}


def _record_metadata(outcome: incremental.Outcome) -> dict[str, int]:
    """Papers judged by this run and carried over from the previous output (none judged when skipped)."""
    judged = 0 if outcome.skipped else int(outcome.data.get("records_judged", 0))
    records = int(outcome.data.get("records", 0)) if "records" in outcome.data else None
    carried = int(outcome.data.get("records_carried_over", 0))
    if outcome.skipped and records is not None:
        carried = records
    return {"records_judged": judged, "records_carried_over": carried}


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
        staged = staged_files(context.instance, root, "papers", sources)

        def resolve() -> dict[str, object]:
            summary = write_work_resolution(
                staged,
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
            return {"records": summary.records, "works": summary.works, "stats": summary.stats}

        outcome = incremental.run(
            map_out, staged, _versions("work_resolution", RESOLVER_VERSION), resolve, also=list(outs.values())
        )
        _log_skip(context, "work_resolution", outcome)
        yield dg.MaterializeResult(
            asset_key=WORK_MAP,
            metadata={
                "records": int(outcome.data.get("records", 0)),
                "works": int(outcome.data.get("works", 0)),
                "dagster/uri": dg.MetadataValue.path(str(map_out)),
                "stats": dg.MetadataValue.json(outcome.data.get("stats", {})),
                "skipped": outcome.skipped,
            },
        )
        for t in RESOLUTION_TABLES:
            yield dg.MaterializeResult(
                asset_key=t, metadata={**table_metadata(table_spec(t), outs[t]), "skipped": outcome.skipped}
            )

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
        papers = curated_path(root, "papers")
        current = load_taxonomy()

        def tag() -> dict[str, object]:
            stats: dict[str, int] = {}
            n_tags, n_records = write_tags(papers, tags_out, relevance_out, taxonomy=current, stats=stats)
            context.log.info(
                f"tags: {n_tags} tags on {n_records} papers (taxonomy {current.version}); "
                f"{stats['judged']} papers tagged, {stats['carried']} unchanged ones carried over"
            )
            return {"tags": n_tags, "records": n_records, **_record_stats(stats)}

        outcome = incremental.run(
            tags_out, [papers], _versions("safety_tags", tagger_version(current)), tag, also=[relevance_out]
        )
        _log_skip(context, "safety_tags", outcome)
        for key, out in (("tags", tags_out), ("relevance", relevance_out)):
            yield dg.MaterializeResult(
                asset_key=key,
                metadata={
                    **table_metadata(table_spec(key), out),
                    **_record_metadata(outcome),
                    "skipped": outcome.skipped,
                },
            )

    return _tags


def build_languages_asset() -> dg.AssetsDefinition:
    @dg.asset(
        name="languages",
        group_name=GROUP,
        deps=["papers", "paper_texts"],
        code_version="2",
        kinds={"parquet"},
        description=table_spec("languages").description,
    )
    def _languages(context: dg.AssetExecutionContext, commons: CommonsHome) -> dg.MaterializeResult:
        root = commons.root()
        out = curated_path(root, "languages")
        papers, texts = curated_path(root, "papers"), curated_path(root, "paper_texts")

        def judge() -> dict[str, object]:
            stats: dict[str, int] = {}
            rows = write_languages(papers, texts, out, stats=stats)
            context.log.info(
                f"languages: {rows} fields; {stats['judged']} papers judged, "
                f"{stats['carried']} unchanged ones carried over"
            )
            return {"rows": rows, "records": stats["records"], **_record_stats(stats)}

        outcome = incremental.run(out, [papers, texts], _versions("languages", languages_version()), judge)
        _log_skip(context, "languages", outcome)
        return dg.MaterializeResult(
            metadata={
                **table_metadata(table_spec("languages"), out),
                **_record_metadata(outcome),
                "skipped": outcome.skipped,
            }
        )

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
        papers, texts = curated_path(root, "papers"), curated_path(root, "paper_texts")

        def find() -> dict[str, object]:
            summary = write_duplicates(papers, texts, out)
            context.log.info(f"duplicates: {summary.rows} rows {summary.by_field}")
            return {"by_field": summary.by_field, "minhash": summary.near_params}

        outcome = incremental.run(out, [papers, texts], _versions("duplicates", duplicates_version()), find)
        _log_skip(context, "duplicates", outcome)
        return dg.MaterializeResult(
            metadata={
                **table_metadata(table_spec("duplicates"), out),
                "by_field": dg.MetadataValue.json(outcome.data.get("by_field", {})),
                "minhash": dg.MetadataValue.json(outcome.data.get("minhash", {})),
                "skipped": outcome.skipped,
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
