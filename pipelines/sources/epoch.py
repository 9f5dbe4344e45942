"""Epoch AI's benchmark data: the Benchmarking Hub's runs (Inspect runs of frontier models, with links to
their logs) and the external benchmark tables Epoch collects from leaderboards and papers.

See ``pipelines/parse/epoch_csv.py`` for the layouts read. Local input: the CSV exports from
https://epoch.ai/data (Epoch publishes them under CC BY 4.0).
"""

from __future__ import annotations

from collections.abc import Iterator

from pipelines.parse.epoch_csv import PARSER_NAME, PARSER_VERSION, epoch_layout, parse_epoch_csv
from pipelines.sources.base import ParseContext, RawDocument, Source, SourceLicense, TableRow
from pipelines.sources.registry import register


@register
class EpochSource(Source):
    name = "epoch"
    description = (
        "Epoch AI benchmark CSVs: Benchmarking Hub runs (per scorer: mean and stderr, model, task version, "
        "date, links to the Inspect log and the job's repository) and external benchmark tables."
    )
    tables = ("results", "links")
    license = SourceLicense(
        metadata_spdx="CC-BY-4.0",
        terms_url="https://epoch.ai/data",
        text_redistribution="numbers and names only, under CC BY 4.0 with attribution to Epoch AI",
    )
    local_inputs = "Epoch AI CSV exports (benchmark runs, external benchmark tables, model versions)"
    fixtures = ("../shared/fixtures/eval_logs/epoch_*",)
    parser_name = PARSER_NAME
    parser_version = PARSER_VERSION

    def recognizes(self, name: str, head: bytes) -> bool:
        return epoch_layout(head) is not None

    def parse(self, doc: RawDocument, ctx: ParseContext) -> Iterator[TableRow]:
        yield from parse_epoch_csv(doc.body(), ctx, doc.url_or_path)
