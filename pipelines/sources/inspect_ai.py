"""Inspect AI evaluation logs: UK AISI's format, used across the field for safety evaluations.

Reads `.eval` (zip) and `.json` logs into `results` (one row per scorer and metric of a run) and
`result_samples` (one row per sample and epoch: input, target, output, scores, explanations). See
``pipelines/parse/inspect_log.py`` for what is read from where. Local input only: logs live in folders and
buckets the people running evaluations publish; point `commons build --from` at them.

Logs do not state a license: a row's `license` is what the person running the build states with
`commons build --license SPDX` (e.g. the license of the repository the logs come from), else `unknown`;
transcript text is published only under a license that allows it, hashes and lengths always.
"""

from __future__ import annotations

from collections.abc import Iterator

from pipelines.parse.inspect_log import (
    PARSER_NAME,
    PARSER_VERSION,
    is_eval_zip,
    is_json_log,
    parse_inspect_log,
)
from pipelines.sources.base import ParseContext, RawDocument, Source, SourceLicense, TableRow
from pipelines.sources.registry import register


@register
class InspectAiSource(Source):
    name = "inspect_ai"
    description = (
        "Inspect AI evaluation logs (.eval zip, deflate or zstd, finished or still running; .json; format "
        "versions 1-3): per run, every scorer's metrics with stderr, model, dataset, solver and generation "
        "config, status and error, timings and token usage; per sample and epoch, input, target, output, "
        "scores and explanations, error, limit, times and tokens."
    )
    tables = ("results", "result_samples")
    license = SourceLicense(
        metadata_spdx="LicenseRef-per-log",
        terms_url="https://inspect.aisi.org.uk/eval-logs.html",
        text_redistribution=(
            "per batch: the license stated with `commons build --license` (logs state none); transcript text "
            "only under a license that allows redistribution (CC-BY, CC0, MIT, Apache-2.0, BSD, ...), "
            "else only hashes and lengths"
        ),
    )
    local_inputs = "Inspect logs: `*.eval` zip files and `*.json` logs (samples streamed from both)"
    fixtures = ("../shared/fixtures/eval_logs/inspect_*",)
    parser_name = PARSER_NAME
    parser_version = PARSER_VERSION

    def recognizes(self, name: str, head: bytes) -> bool:
        if name.endswith(".eval") and head.startswith(b"PK"):
            return True
        return is_eval_zip(head) or is_json_log(head)

    def parse(self, doc: RawDocument, ctx: ParseContext) -> Iterator[TableRow]:
        yield from parse_inspect_log(doc.body(), ctx, doc.url_or_path)
