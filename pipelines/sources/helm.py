"""HELM (Stanford CRFM's Holistic Evaluation of Language Models) benchmark output.

Reads a run's files (`run_spec.json`, `stats.json`, `scenario.json`, grouped into one document per run)
and the leaderboard group tables (`groups/*.json`) into `results`, and the scenario papers the tables cite
into `links`. See ``pipelines/parse/helm_output.py``. Local input only: point `--from` at a copy of
`benchmark_output` (HELM publishes it in a public bucket).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pipelines.parse.helm_output import (
    PARSER_NAME,
    PARSER_VERSION,
    bundle_run,
    group_run_files,
    helm_role,
    parse_helm,
)
from pipelines.sources.base import ParseContext, RawDocument, Source, SourceLicense, TableRow
from pipelines.sources.registry import register


@register
class HelmSource(Source):
    name = "helm"
    description = (
        "HELM benchmark output: per run (run_spec.json + stats.json + scenario.json), every statistic per "
        "split and perturbation with its count, mean and stderr, the model and adapter settings; group "
        "leaderboard tables, with links to the scenarios' papers."
    )
    tables = ("results", "links")
    license = SourceLicense(
        metadata_spdx="Apache-2.0",
        terms_url="https://github.com/stanford-crfm/helm/blob/main/LICENSE",
        text_redistribution="results hold numbers and configuration, no text; the batch's license is the one "
        "stated with `commons build --license`, else `unknown` (HELM's code and output are Apache-2.0)",
    )
    local_inputs = (
        "HELM `benchmark_output`: run folders (run_spec.json, stats.json, scenario.json, display_predictions.json; "
        "files of one run are read together) and groups/*.json leaderboard tables"
    )
    fixtures = ("../shared/fixtures/eval_logs/helm_*",)
    parser_name = PARSER_NAME
    parser_version = PARSER_VERSION

    def recognizes(self, name: str, head: bytes) -> bool:
        return helm_role(name, head) is not None

    def group_local_files(self, files: list[Path]) -> list[list[Path]]:
        return group_run_files(files)

    def bundle_local(self, names: list[str], contents: list[bytes]) -> bytes:
        return bundle_run(names, contents)

    def parse(self, doc: RawDocument, ctx: ParseContext) -> Iterator[TableRow]:
        yield from parse_helm(doc.body(), ctx, doc.url_or_path)
