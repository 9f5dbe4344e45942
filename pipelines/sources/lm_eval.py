"""lm-evaluation-harness results files: EleutherAI's harness, behind the Open LLM Leaderboard and many papers.

Reads the `results_<date>.json` files the harness writes (current format, with configs, n-shot, sample
counts and the run's configuration) and the legacy `{results, versions}` format into `results`, one row per
task, metric and filter. See ``pipelines/parse/lm_eval_results.py``. Local input only.
"""

from __future__ import annotations

from collections.abc import Iterator

from pipelines.parse.lm_eval_results import (
    PARSER_NAME,
    PARSER_VERSION,
    is_lm_eval_results,
    parse_lm_eval_results,
)
from pipelines.sources.base import ParseContext, RawDocument, Source, SourceLicense, TableRow
from pipelines.sources.registry import register


@register
class LmEvalSource(Source):
    name = "lm_eval"
    description = (
        "lm-evaluation-harness results JSON (current and legacy formats): every task, group, metric and "
        "filter with stderr, n-shot, sample counts, model and model arguments, harness version and date."
    )
    tables = ("results",)
    license = SourceLicense(
        metadata_spdx="LicenseRef-per-results-file",
        terms_url="https://github.com/EleutherAI/lm-evaluation-harness",
        text_redistribution="results files hold numbers and configuration, no text; the license of the "
        "batch is the one stated with `commons build --license`, else `unknown`",
    )
    local_inputs = "lm-evaluation-harness `results_*.json` files (any name; recognised by content)"
    fixtures = ("../shared/fixtures/eval_logs/lmeval_*",)
    parser_name = PARSER_NAME
    parser_version = PARSER_VERSION

    def recognizes(self, name: str, head: bytes) -> bool:
        return is_lm_eval_results(head)

    def parse(self, doc: RawDocument, ctx: ParseContext) -> Iterator[TableRow]:
        yield from parse_lm_eval_results(doc.body(), doc.sha256, ctx, doc.url_or_path)
