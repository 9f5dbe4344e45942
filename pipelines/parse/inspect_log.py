"""Inspect AI evaluation logs (UK AISI's format, `.eval` and `.json`) into `results` and `result_samples` rows.

What is read from where (log format versions 1-3; the header fields have kept their names since 2024):

- **The run** (`header.json` of a `.eval` zip, the top level of a `.json` log; `_journal/start.json` when a
  `.eval` has no header yet, i.e. the run never finished: status `started`): `eval` (task, task version,
  model, model args, dataset, config, packages), `plan` (solver steps, generation config), `results`
  (sample counts and, per scorer, its metrics), `stats` (start and end, token usage per model), `status`
  and `error`.
- **Results rows**: one per scorer and metric. Inspect computes `stderr` as a metric of a scorer; it is the
  standard error of the scorer's mean, so it becomes the `stderr` column of that scorer's `accuracy` (or
  `mean`) row and gets no row of its own; a scorer with a `stderr` but neither of those keeps it as a row.
  Scores reduced over epochs by several reducers name the reducer in `metric_filter` (`reducer=mean`).
  A run with no scores (errored, cancelled, or no scorer) is kept as one row with metric `""`, its status and
  its error, so failed runs stay visible.
- **Samples** (`samples/<id>_epoch_<n>.json` members of a `.eval`, the `samples` list of a `.json`): input,
  target, output (the first choice's message), messages, scores with answers and explanations, error, limit,
  times, token usage, metadata. Strings stored once as `attachment://<hash>` are resolved from the sample's
  `attachments`.

A `.eval` is read member by member: a log of 100,000 samples is never held parsed in memory at once (the
zip's compressed bytes are). Members are read in (sample id, epoch) order, not zip order, so the rows'
order is the same however the log was written. A `.json` log is one JSON document and is parsed whole.

Keys come from the log: `run_id` is `inspect:<eval_id>` (Inspect 0.3.7x and later) or, for older logs
that have none, `inspect:task-<task_id>` (the random id Inspect gives each task of a run). A run written
both as `.eval` and `.json` has the same key in both.

Secrets: model arguments and configuration keys that can carry credentials (`api_key`, `token`, ...)
and the model's base URL are left out of every row.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from pipelines.curate.licenses import permits_redistribution
from pipelines.parse.results_common import (
    config_json,
    normalise_model_id,
    number,
    parse_timestamp,
    result_id,
    run_date,
    sha256_text,
)
from pipelines.sources.base import ParseContext, ParseError, Row, TableRow

PARSER_NAME = "inspect_log"
PARSER_VERSION = "1"
KNOWN_VERSIONS = frozenset({1, 2, 3})
MAX_TEXT_CHARS = 65_536
_ZSTD = 93  # zip compression method number of Zstandard
_SECRET_KEY = re.compile(r"key|token|secret|password|auth|credential", re.IGNORECASE)
_SAMPLE_MEMBER = re.compile(r"^samples/(?P<id>.+)_epoch_(?P<epoch>\d+)\.json$")
_SCORE_LETTERS = {"C": 1.0, "I": 0.0, "P": 0.5, "N": 0.0}
_MEAN_METRICS = ("accuracy", "mean")
_GENERATION_COLUMNS = {"temperature": float, "top_p": float, "top_k": int, "max_tokens": int, "seed": int}


def is_eval_zip(head: bytes) -> bool:
    return head.startswith(b"PK\x03\x04") and (b"_journal/start.json" in head or b"header.json" in head)


def is_json_log(head: bytes) -> bool:
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    return start.startswith(b"{") and b'"eval"' in head and b'"version"' in head and b'"status"' in head


def parse_inspect_log(data: bytes, ctx: ParseContext, name: str) -> Iterator[TableRow]:
    """Rows of one Inspect log (`.eval` zip or `.json`), samples streamed for a `.eval`."""
    if data.startswith(b"PK"):
        yield from _parse_eval_zip(data, ctx, name)
    else:
        yield from _parse_json_log(data, ctx, name)


# -- the two containers ---------------------------------------------------------------------------------


def _parse_eval_zip(data: bytes, ctx: ParseContext, name: str) -> Iterator[TableRow]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError) as exc:
        raise ParseError(f"{name}: not a readable .eval zip ({exc}); the file may be truncated") from exc
    with archive:
        members = {info.filename: info for info in archive.infolist()}
        if "header.json" in members:
            header = _read_member(archive, members["header.json"], name)
        elif "_journal/start.json" in members:
            header = _read_member(archive, members["_journal/start.json"], name)
            header.setdefault("status", "started")
            ctx.notes.append(f"{name}: no header.json (the run did not finish); read _journal/start.json")
        else:
            raise ParseError(
                f"{name}: a zip without header.json or _journal/start.json is not an Inspect log"
            )
        run = _run(header, ctx, name)
        yield from _result_rows(header, run)
        samples = sorted(
            (
                (m.group("id"), int(m.group("epoch")), info)
                for n, info in members.items()
                if (m := _SAMPLE_MEMBER.match(n))
            ),
            key=lambda t: (_id_order(t[0]), t[1]),
        )
        for _, _, info in samples:
            sample = _read_member(archive, info, name)
            yield "result_samples", _sample_row(sample, run)


def _parse_json_log(data: bytes, ctx: ParseContext, name: str) -> Iterator[TableRow]:
    try:
        log = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ParseError(f"{name}: not valid JSON ({exc}); the file may be truncated") from exc
    if not isinstance(log, dict) or not isinstance(log.get("eval"), dict):
        raise ParseError(f"{name}: JSON without an `eval` object is not an Inspect log")
    run = _run(log, ctx, name)
    yield from _result_rows(log, run)
    samples = log.get("samples") or []
    ordered = sorted(
        (s for s in samples if isinstance(s, dict)),
        key=lambda s: (_id_order(str(s.get("id"))), int(s.get("epoch") or 1)),
    )
    for sample in ordered:
        yield "result_samples", _sample_row(sample, run)


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str) -> dict[str, Any]:
    try:
        raw = _read_zstd_member(archive, info) if info.compress_type == _ZSTD else archive.read(info)
        value = json.loads(raw)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise ParseError(f"{name}: cannot read {info.filename} ({exc}); the file may be truncated") from exc
    if not isinstance(value, dict):
        raise ParseError(f"{name}: {info.filename} is not a JSON object")
    return value


def _read_zstd_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """A Zstandard-compressed member (newer Inspect versions may write them; Python 3.11's zipfile cannot)."""
    import zstandard

    fp = archive.fp
    if fp is None:
        raise OSError("zip file is closed")
    fp.seek(info.header_offset)
    local = fp.read(30)
    if local[:4] != b"PK\x03\x04":
        raise zipfile.BadZipFile(f"bad local header for {info.filename}")
    name_len = int.from_bytes(local[26:28], "little")
    extra_len = int.from_bytes(local[28:30], "little")
    fp.seek(info.header_offset + 30 + name_len + extra_len)
    compressed = fp.read(info.compress_size)
    return zstandard.ZstdDecompressor().decompress(compressed, max_output_size=info.file_size)


def _obj(value: Any) -> dict[str, Any]:
    """A JSON object, or an empty one where the log has something else (or nothing)."""
    return value if isinstance(value, dict) else {}


def _id_order(sample_id: str) -> tuple[int, int, str]:
    return (0, int(sample_id), "") if sample_id.lstrip("-").isdigit() else (1, 0, sample_id)


# -- the run --------------------------------------------------------------------------------------------


def _run(header: Mapping[str, Any], ctx: ParseContext, name: str) -> dict[str, Any]:
    """What every row of the log shares: keys, model, configuration, status, dates, provenance."""
    version = header.get("version")
    if version not in KNOWN_VERSIONS:
        ctx.notes.append(
            f"{name}: Inspect log format version {version!r} is not one this reader knows; read as v2"
        )
    ev = header.get("eval")
    if not isinstance(ev, dict) or not ev.get("task"):
        raise ParseError(f"{name}: the log's `eval` names no task")
    eval_id, task_id = ev.get("eval_id"), ev.get("task_id")
    if eval_id:
        run_id = f"inspect:{eval_id}"
    elif task_id:
        run_id = f"inspect:task-{task_id}"
    else:
        raise ParseError(f"{name}: the log has neither eval_id nor task_id to key the run by")
    plan = _obj(header.get("plan"))
    generation = {**(plan.get("config") or {}), **(ev.get("model_generate_config") or {})}
    config = dict(ev.get("config") or {})
    model = str(ev.get("model") or "")
    model_args = {k: v for k, v in (ev.get("model_args") or {}).items() if not _SECRET_KEY.search(k)}
    model_id, provider = normalise_model_id(model)
    stats = _obj(header.get("stats"))
    started, completed = parse_timestamp(stats.get("started_at")), parse_timestamp(stats.get("completed_at"))
    usage = _sum_usage((stats.get("model_usage") or {}).values())
    dataset = _obj(ev.get("dataset"))
    results = _obj(header.get("results"))
    error = header.get("error")
    license = ctx.options.get("license") if ctx.options else None
    leftover = {
        "task_args": ev.get("task_args"),
        "eval_config": {
            k: v for k, v in config.items() if k not in ("limit", "epochs") and not _SECRET_KEY.search(k)
        },
        "generate_config": {
            k: v for k, v in generation.items() if k not in _GENERATION_COLUMNS and not _SECRET_KEY.search(k)
        },
        "model_args": model_args,
        "task_file": ev.get("task_file"),
        "revision": ev.get("revision"),
    }
    limit = config.get("limit")
    return {
        "run_id": run_id,
        "source_run_id": ev.get("run_id"),
        "task": str(ev["task"]),
        "task_version": None if ev.get("task_version") is None else str(ev.get("task_version")),
        "benchmark": str(dataset.get("name") or ev["task"]).lower(),
        "dataset_name": dataset.get("name"),
        "dataset_location": dataset.get("location"),
        "dataset_revision": dataset.get("revision"),
        "framework_version": (ev.get("packages") or {}).get("inspect_ai"),
        "model_source_name": model,
        "model_id": model_id,
        "model_provider": provider,
        "model_args": json.dumps(model_args, sort_keys=True) if model_args else None,
        "solver": _solver(plan, ev),
        **{col: _typed(generation.get(col), kind) for col, kind in _GENERATION_COLUMNS.items()},
        "limit": limit if isinstance(limit, int) else None,
        "epochs": config.get("epochs") if isinstance(config.get("epochs"), int) else None,
        "config_json": config_json(leftover),
        "status": str(header.get("status") or "started"),
        "error_message": error.get("message") if isinstance(error, dict) else (str(error) if error else None),
        "started_at": started,
        "completed_at": completed,
        "run_date": run_date(started, parse_timestamp(ev.get("created"))),
        "n_samples": results.get("completed_samples"),
        "n_samples_total": results.get("total_samples") or dataset.get("samples"),
        **usage,
        "confidence": 1.0,
        "source_record_id": run_id,
        "source_url": None,
        "license": license or "unknown",
        "license_source": "stated at ingest (commons build --license)"
        if license
        else "not stated in the log",
        "text_allowed": permits_redistribution(license),
    }


_RUN_COLUMNS = [
    "run_id",
    "source_run_id",
    "task",
    "task_version",
    "benchmark",
    "dataset_name",
    "dataset_location",
    "dataset_revision",
    "framework_version",
    "model_source_name",
    "model_id",
    "model_provider",
    "model_args",
    "solver",
    "temperature",
    "top_p",
    "top_k",
    "max_tokens",
    "seed",
    "limit",
    "epochs",
    "config_json",
    "status",
    "error_message",
    "started_at",
    "completed_at",
    "run_date",
    "n_samples",
    "n_samples_total",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "confidence",
    "source_record_id",
    "source_url",
    "license",
    "license_source",
]


def _solver(plan: Mapping[str, Any], ev: Mapping[str, Any]) -> str | None:
    steps = [s.get("solver") for s in plan.get("steps") or [] if isinstance(s, dict) and s.get("solver")]
    if steps:
        return " -> ".join(str(s) for s in steps)
    solver = ev.get("solver")
    return str(solver) if solver else None


def _typed(value: Any, kind: type) -> Any:
    if value is None or isinstance(value, bool):
        return None
    try:
        return kind(value)
    except (TypeError, ValueError):
        return None


def _sum_usage(usages: Iterable[Any]) -> dict[str, int | None]:
    totals: dict[str, int | None] = {"input_tokens": None, "output_tokens": None, "total_tokens": None}
    for usage in usages:
        if not isinstance(usage, dict):
            continue
        for key in totals:
            value = usage.get(key)
            if isinstance(value, int):
                totals[key] = (totals[key] or 0) + value
    return totals


def _result_rows(header: Mapping[str, Any], run: Mapping[str, Any]) -> Iterator[TableRow]:
    base = {k: run[k] for k in _RUN_COLUMNS}
    results = _obj(header.get("results"))
    scores = [s for s in results.get("scores") or [] if isinstance(s, dict)]
    reducers: dict[Any, set[Any]] = {}
    for score in scores:
        reducers.setdefault(score.get("name"), set()).add(score.get("reducer"))
    emitted = False
    for index, score in enumerate(scores):
        scorer = str(score.get("name") or score.get("scorer") or "")
        reducer = score.get("reducer")
        metric_filter = f"reducer={reducer}" if reducer and len(reducers[score.get("name")]) > 1 else ""
        metrics = {k: v for k, v in (score.get("metrics") or {}).items() if isinstance(v, dict)}
        stderr_value = None
        if "stderr" in metrics and any(m in metrics for m in _MEAN_METRICS):
            stderr_value, _ = number(metrics.pop("stderr").get("value"))
            mean_metric = next(m for m in _MEAN_METRICS if m in metrics)
        else:
            mean_metric = None
        for metric_name, metric in metrics.items():
            value, text = number(metric.get("value"))
            yield (
                "results",
                {
                    **base,
                    "result_id": result_id(
                        run["run_id"], run["task"], "", scorer, metric_name, metric_filter
                    ),
                    "framework": "inspect_ai",
                    "subtask": "",
                    "scorer": scorer,
                    "metric": str(metric_name),
                    "metric_filter": metric_filter,
                    "value": value,
                    "value_text": text,
                    "unit": None,
                    "stderr": stderr_value if metric_name == mean_metric else None,
                    "higher_is_better": None,
                    "n_samples": score.get("scored_samples", run["n_samples"]),
                    "evidence": f"results.scores[{index}].metrics.{metric_name}",
                },
            )
            emitted = True
    if not emitted:
        yield (
            "results",
            {
                **base,
                "result_id": result_id(run["run_id"], run["task"], "", "", "", ""),
                "framework": "inspect_ai",
                "subtask": "",
                "scorer": "",
                "metric": "",
                "metric_filter": "",
                "value": None,
                "value_text": None,
                "evidence": "results (no scores)",
            },
        )


# -- samples --------------------------------------------------------------------------------------------


def _sample_row(sample: Mapping[str, Any], run: Mapping[str, Any]) -> Row:
    attachments = _obj(sample.get("attachments"))
    sample_id = str(sample.get("id"))
    epoch = int(sample.get("epoch") or 1)
    input_text = _input_text(sample.get("input"), attachments)
    target = sample.get("target")
    target_text = (
        "\n".join(str(t) for t in target)
        if isinstance(target, list)
        else (None if target is None else str(target))
    )
    output_text = _output_text(sample.get("output"), attachments)
    messages = sample.get("messages") if isinstance(sample.get("messages"), list) else None
    error = sample.get("error")
    limit = sample.get("limit")
    usage = _sum_usage((sample.get("model_usage") or {}).values())
    metadata = sample.get("metadata")
    allowed = run["text_allowed"]
    return {
        "run_id": run["run_id"],
        "sample_id": sample_id,
        "epoch": epoch,
        "sample_uuid": sample.get("uuid"),
        "task": run["task"],
        "model_source_name": run["model_source_name"],
        "input_text": _publishable(input_text, allowed),
        "input_sha256": sha256_text(input_text),
        "input_chars": len(input_text),
        "target_text": _publishable(target_text, allowed),
        "target_sha256": sha256_text(target_text) if target_text is not None else None,
        "output_text": _publishable(output_text, allowed),
        "output_sha256": sha256_text(output_text) if output_text is not None else None,
        "output_chars": len(output_text) if output_text is not None else None,
        "n_messages": len(messages) if messages is not None else None,
        "scores": _scores(sample.get("scores"), attachments),
        "error": (error.get("message") if isinstance(error, dict) else str(error)) if error else None,
        "limit": (limit.get("type") if isinstance(limit, dict) else str(limit)) if limit else None,
        "total_time_s": _typed(sample.get("total_time"), float),
        "working_time_s": _typed(sample.get("working_time"), float),
        **usage,
        "metadata_json": config_json(metadata) if isinstance(metadata, dict) else None,
        "source_record_id": f"{run['run_id']}#{sample_id}#{epoch}",
        "source_url": None,
        "license": run["license"],
        "license_source": run["license_source"],
    }


def _publishable(text: str | None, allowed: bool) -> str | None:
    if text is None or not allowed or len(text) > MAX_TEXT_CHARS:
        return None
    return text


def _resolve(value: Any, attachments: Mapping[str, Any]) -> Any:
    if isinstance(value, str) and value.startswith("attachment://"):
        return attachments.get(value[len("attachment://") :], value)
    return value


def _content_text(content: Any, attachments: Mapping[str, Any]) -> str:
    content = _resolve(content, attachments)
    if isinstance(content, str):
        return content
    parts = []
    for item in content if isinstance(content, list) else []:
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind == "text":
            parts.append(str(_resolve(item.get("text", ""), attachments)))
        elif kind == "reasoning":
            parts.append(str(_resolve(item.get("reasoning", ""), attachments)))
        elif kind in ("image", "audio", "video", "document"):
            parts.append(f"[{kind}]")
    return "\n".join(parts)


def _input_text(value: Any, attachments: Mapping[str, Any]) -> str:
    value = _resolve(value, attachments)
    if isinstance(value, str):
        return value
    lines = []
    for message in value if isinstance(value, list) else []:
        if isinstance(message, dict):
            lines.append(f"{message.get('role', '')}: {_content_text(message.get('content'), attachments)}")
    return "\n".join(lines)


def _output_text(output: Any, attachments: Mapping[str, Any]) -> str | None:
    if not isinstance(output, dict):
        return None
    if isinstance(output.get("completion"), str):
        return str(_resolve(output["completion"], attachments))
    choices = output.get("choices") or []
    if not choices or not isinstance(choices[0], dict):
        return None
    message = choices[0].get("message") or {}
    return _content_text(message.get("content"), attachments) if isinstance(message, dict) else None


def _scores(scores: Any, attachments: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    if not isinstance(scores, dict):
        return None
    out = []
    for scorer, score in scores.items():
        if not isinstance(score, dict):
            continue
        value = _resolve(score.get("value"), attachments)
        answer, explanation = score.get("answer"), _resolve(score.get("explanation"), attachments)
        out.append(
            {
                "scorer": str(scorer),
                "value": json.dumps(value, sort_keys=True, ensure_ascii=False),
                "value_float": _score_float(value),
                "answer": None if answer is None else str(answer),
                "explanation": None if explanation is None else str(explanation),
            }
        )
    return out


def _score_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, str):
        return _SCORE_LETTERS.get(value.strip().upper())
    if isinstance(value, (int, float)):
        f, _ = number(value)
        return f
    return None
