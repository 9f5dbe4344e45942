"""Inspect AI evaluation logs (UK AISI's format, `.eval` and `.json`) into `results` and `result_samples`.

What is read from where (log format versions 1-3; the header fields have kept their names since 2024):

- **The run**: `header.json` of a `.eval` zip, or the top level of a `.json` log. A `.eval` without
  `header.json` is a run still in progress or killed: its `_journal/start.json` (`eval`, `plan`) is read
  instead, status `started`, and the completed samples are counted from `_journal/summaries/*.json`.
  From the header: `eval` (task, task version, model, model args, dataset, config, packages, revision),
  `plan` (solver steps, generation config), `results` (sample counts and, per scorer, its metrics), `stats`
  (start and end, token usage per model), `status` and `error`. Version-1 shapes are read too
  (`results.scorer` + `results.metrics`, a sample's single `score`, a sample's `transcript`).
- **Results rows**: one per scorer and metric. Inspect computes `stderr` as a metric of a scorer: the
  standard error of the scorer's mean. It becomes the `stderr` column of that scorer's `accuracy` (else
  `mean`) row and gets no row of its own; a scorer with a `stderr` but neither of those keeps it as a row.
  Scores reduced over epochs by several reducers name the reducer in `metric_filter` (`reducer=max`), as
  does a single reducer other than `mean`. `unit` is `proportion` for `accuracy` (Inspect's accuracy is a
  mean of 0-1 scores), null for other metrics, whose scale the log does not state. A run with no scores
  (errored, cancelled, still running, or no scorer) is one row with metric `""`, value null, its status
  and error, so failed runs stay visible.
- **Generation config**: the model's (`eval.model_generate_config`) overridden by the plan's
  (`plan.config`), as Inspect merges them; `temperature`, `top_p`, `top_k`, `max_tokens` and `seed` are
  columns, everything else goes to `config_json` with the task arguments, the eval config (`limit`,
  `epochs` have columns), solver parameters, task id and file, revision, sandbox, tags and metadata.
- **Samples** (`samples/<id>_epoch_<n>.json` members of a `.eval`, the `samples` list of a `.json`): input
  (chat inputs as `role: content` lines, images as `[image]`), target, output (`output.completion`, else
  the first choice's text, else the last assistant message), message count, scores with answers and
  explanations, error, limit, times, token usage, metadata (dropped above 65,536 characters). Strings
  stored once as `attachment://<hash>` are resolved from the sample's `attachments`. `source_url` is null:
  a log does not record where it is kept (Inspect leaves `location` out when it writes one).

Memory: a `.eval` is read member by member, so a log of 100,000 samples is never held parsed at once (its
compressed bytes are). A re-logged sample (the same member name twice) counts once, the last written, as
in Inspect's own reader. Members are read in (sample id, epoch) order, not zip order. Members compressed
with Zstandard (zip method 93, which current Inspect writes and Python 3.11's zipfile cannot read)
are decompressed here, across frames. A `.json` log is streamed with `ijson`: first the top-level keys up
to `samples` (Inspect writes `samples` after every key this reader uses), then the samples one at a time.
JSON has no NaN, but Inspect writes bare `NaN`/`Infinity` for non-finite numbers, which `ijson` refuses:
a log that holds one is read whole with the standard library instead (same rows, more memory).

Keys come from the log: `run_id` is `inspect:<eval_id>` (Inspect 0.3.7x and later), else
`inspect:<run_id>/<task_id>` (Inspect's id of the `eval()` call and its random id of the task in it); never
the file's name or path. A run written both as `.eval` and `.json` has the same keys in both.

Secrets: configuration keys that can carry credentials (`api_key`, `*_token`, `headers`, ...), the model's
base URL, and values that look like keys (`sk-...`, `hf_...`, `Bearer ...`, passwords in URLs) are left out
of every row; error messages get the same value redaction.

Licenses: logs state none. A row's `license` is the one the person running the build states for the
batch (`commons build --license`); transcript text (input, target, output, score answers and explanations)
is kept only when that license permits redistribution and the text is at most 65,536 characters; hashes
and lengths always.
"""

from __future__ import annotations

import io
import json
import lzma
import math
import re
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

import ijson

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
PARSER_VERSION = "2"
KNOWN_VERSIONS = frozenset({1, 2, 3})
MAX_TEXT_CHARS = 65_536
_BOM = b"\xef\xbb\xbf"
_ZIP_METHODS = {0: "stored", 8: "deflate", 9: "deflate64", 12: "bzip2", 14: "lzma", 93: "zstd", 95: "xz"}
_ZSTD = 93
_READABLE_METHODS = frozenset({0, 8, 12, 14, _ZSTD})
_HEADER = "header.json"
_START = "_journal/start.json"
_SAMPLE_MEMBER = re.compile(r"^samples/(?P<id>.+)_epoch_(?P<epoch>\d+)\.json$")
_SUMMARY_MEMBER = re.compile(r"^_journal/summaries/(?P<n>\d+)\.json$")
# Keys whose values can be credentials or private endpoints. `max_tokens`, `reasoning_tokens` and the like
# end in `tokens` and are kept.
_SECRET_KEY = re.compile(
    r"api[_-]?key|apikey|secret|passw(or)?d|credential|auth(?!or)|bearer|cookie|headers?$|(^|_)(key|token)$"
    r"|access_token|session_token|base_url|api_base|endpoint",
    re.IGNORECASE,
)
_SECRET_VALUE = re.compile(
    r"\b(?:sk-[A-Za-z0-9_\-]{16,}|sk-ant-[A-Za-z0-9_\-]{16,}|hf_[A-Za-z0-9]{20,}|gh[pousr]_[A-Za-z0-9]{20,}"
    r"|github_pat_[A-Za-z0-9_]{20,}|AKIA[0-9A-Z]{16}|AIza[0-9A-Za-z_\-]{30,}|xox[abpr]-[A-Za-z0-9\-]{10,})"
    r"|(?i:bearer)\s+[A-Za-z0-9._~+/\-]{8,}=*"
)
_URL_USERINFO = re.compile(r"(?<=://)[^/@\s:]+(?::[^/@\s]*)?@")
_SCORE_WORDS = {"C": 1.0, "I": 0.0, "P": 0.5, "N": 0.0, "yes": 1.0, "true": 1.0, "no": 0.0, "false": 0.0}
_MEAN_METRICS = ("accuracy", "mean")
_GENERATION_COLUMNS: dict[str, type] = {
    "temperature": float,
    "top_p": float,
    "top_k": int,
    "max_tokens": int,
    "seed": int,
}
_MEDIA = ("image", "audio", "video", "document")


def is_eval_zip(head: bytes) -> bool:
    """A zip whose first member is one Inspect writes first (the journal's start, or the header)."""
    return head.startswith(b"PK\x03\x04") and (_START.encode() in head or _HEADER.encode() in head)


def is_json_log(head: bytes) -> bool:
    start = head.removeprefix(_BOM).lstrip(b" \t\r\n")
    return start.startswith(b"{") and all(k in head for k in (b'"eval"', b'"version"', b'"status"'))


def parse_inspect_log(data: bytes, ctx: ParseContext, name: str) -> Iterator[TableRow]:
    """Rows of one Inspect log (`.eval` zip or `.json`): results first, then samples, streamed."""
    if data.startswith(b"PK"):
        yield from _parse_eval_zip(data, ctx, name)
    else:
        yield from _parse_json_log(data, ctx, name)


# -- .eval (zip) ----------------------------------------------------------------------------------------


def _parse_eval_zip(data: bytes, ctx: ParseContext, name: str) -> Iterator[TableRow]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
        raise ParseError(f"{name}: not a readable .eval zip ({exc}); the file may be truncated") from exc
    with archive:
        # The last member of a name wins: Inspect appends a re-logged sample under the same name.
        members = {info.filename: info for info in archive.infolist()}
        completed: int | None = None
        if _HEADER in members:
            header = _read_object(archive, data, members[_HEADER], name)
        elif _START in members:
            header = _read_object(archive, data, members[_START], name)
            header["status"] = header.get("status") or "started"
            completed = _journal_completed(archive, data, members, name)
            ctx.notes.append(f"{name}: no header.json (the run did not finish); read {_START}")
        else:
            raise ParseError(f"{name}: a zip without {_HEADER} or {_START} is not an Inspect log")
        sample_members = sorted(
            (
                (_id_order(m.group("id")), int(m.group("epoch")), info)
                for member, info in members.items()
                if (m := _SAMPLE_MEMBER.match(member))
            ),
            key=lambda t: (t[0], t[1], t[2].filename),
        )
        if completed is None and _HEADER not in members:
            completed = len(sample_members)
        run = _run(header, ctx, name, journal_completed=completed)
        yield from _result_rows(header, run)
        for _, _, info in sample_members:
            yield "result_samples", _sample_row(_read_object(archive, data, info, name), run)


def _journal_completed(
    archive: zipfile.ZipFile, data: bytes, members: Mapping[str, zipfile.ZipInfo], name: str
) -> int | None:
    """Samples a run without a header has completed: distinct (id, epoch) in its journal's summaries."""
    summaries = sorted(
        (int(m.group("n")), info) for member, info in members.items() if (m := _SUMMARY_MEMBER.match(member))
    )
    if not summaries:
        return None
    done: set[tuple[str, Any]] = set()
    for _, info in summaries:
        listed = _read_json(archive, data, info, name)
        for summary in listed if isinstance(listed, list) else []:
            if isinstance(summary, dict):
                done.add((str(summary.get("id")), summary.get("epoch")))
    return len(done)


def _read_object(archive: zipfile.ZipFile, data: bytes, info: zipfile.ZipInfo, name: str) -> dict[str, Any]:
    value = _read_json(archive, data, info, name)
    if not isinstance(value, dict):
        raise ParseError(f"{name}: {info.filename} is not a JSON object")
    return value


def _read_json(archive: zipfile.ZipFile, data: bytes, info: zipfile.ZipInfo, name: str) -> Any:
    try:
        raw = _read_zstd_member(data, info) if info.compress_type == _ZSTD else archive.read(info)
    except NotImplementedError as exc:
        if info.compress_type in _READABLE_METHODS:
            raise ParseError(f"{name}: cannot read {info.filename} ({exc})") from exc
        method = _ZIP_METHODS.get(info.compress_type, "unknown")
        raise ParseError(
            f"{name}: {info.filename} is compressed with zip method {info.compress_type} ({method}), "
            "which this reader cannot decompress"
        ) from exc
    except (
        zipfile.BadZipFile,
        OSError,
        EOFError,
        ValueError,
        RuntimeError,
        zlib.error,
        lzma.LZMAError,
    ) as exc:
        raise ParseError(f"{name}: cannot read {info.filename} ({exc}); the file may be truncated") from exc
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ParseError(f"{name}: {info.filename} is not valid JSON ({exc})") from exc


def _read_zstd_member(data: bytes, info: zipfile.ZipInfo) -> bytes:
    """A Zstandard-compressed member, read from its local header in the zip's bytes, across all its frames
    (Inspect starts a new frame every 200 MiB)."""
    import zstandard

    local = data[info.header_offset : info.header_offset + 30]
    if len(local) < 30 or local[:4] != b"PK\x03\x04":
        raise zipfile.BadZipFile(f"bad local header for {info.filename}")
    start = (
        info.header_offset
        + 30
        + int.from_bytes(local[26:28], "little")
        + int.from_bytes(local[28:30], "little")
    )
    compressed = memoryview(data)[start : start + info.compress_size]
    if len(compressed) < info.compress_size:
        raise zipfile.BadZipFile(f"{info.filename} is cut short")
    try:
        with zstandard.ZstdDecompressor().stream_reader(compressed, read_across_frames=True) as reader:
            raw = reader.read()
    except zstandard.ZstdError as exc:
        raise zipfile.BadZipFile(f"corrupt zstd data in {info.filename}: {exc}") from exc
    if len(raw) != info.file_size or zlib.crc32(raw) != info.CRC:
        raise zipfile.BadZipFile(f"{info.filename} does not decompress to its recorded size and CRC")
    return raw


def _id_order(sample_id: str) -> tuple[int, int, str]:
    """Numeric ids in numeric order, then other ids as text."""
    return (0, int(sample_id), "") if sample_id.isascii() and sample_id.isdigit() else (1, 0, sample_id)


# -- .json ----------------------------------------------------------------------------------------------


def _parse_json_log(data: bytes, ctx: ParseContext, name: str) -> Iterator[TableRow]:
    body = data.removeprefix(_BOM)
    try:
        header, has_samples = _json_header(body)
    except (ijson.JSONError, ValueError, UnicodeDecodeError):
        # Bare NaN/Infinity (or a broken document, which the standard library then names).
        yield from _parse_json_whole(body, ctx, name)
        return
    if header is None:
        raise ParseError(f"{name}: JSON that is not an object is not an Inspect log")
    run = _run(header, ctx, name)
    yield from _result_rows(header, run)
    if not has_samples:
        return
    samples = ijson.items(io.BytesIO(body), "samples.item", use_float=True)
    done = 0
    while True:
        try:
            sample = next(samples)
        except StopIteration:
            return
        except (ijson.JSONError, ValueError, UnicodeDecodeError):
            break
        done += 1
        if isinstance(sample, dict):
            yield "result_samples", _sample_row(sample, run)
    # A sample holds NaN/Infinity, or the document is cut short (then the standard library says where).
    log = _load_whole(body, name)
    ctx.notes.append(f"{name}: a sample holds a non-standard JSON number (NaN/Infinity); read whole")
    for sample in _samples_of(log)[done:]:
        if isinstance(sample, dict):
            yield "result_samples", _sample_row(sample, run)


def _json_header(body: bytes) -> tuple[dict[str, Any] | None, bool]:
    """(the log's top-level keys but `samples`, whether it has samples): events up to `samples`.

    Stops at `samples` once `eval` has been read (Inspect writes every key read here before it); in a log
    that puts `samples` first, the samples are skipped over and the keys after them read."""
    events = ijson.parse(io.BytesIO(body), use_float=True)
    first = next(events, None)
    if first is None or first[1] != "start_map":
        return None, False
    header: dict[str, Any] = {}
    has_samples = False
    for prefix, event, value in events:
        if prefix != "" or event != "map_key":
            break  # the closing brace of the log
        if value == "samples":
            has_samples = True
            if "eval" in header:
                break
            _build(events, keep=False)
        else:
            header[value] = _build(events, keep=True)
    return header, has_samples


def _build(events: Iterator[tuple[str, str, Any]], keep: bool) -> Any:
    """The next value of an ijson event stream, built (or only skipped over)."""
    builder = ijson.ObjectBuilder() if keep else None
    depth = 0
    for _, event, value in events:
        if builder is not None:
            builder.event(event, value)
        if event in ("start_map", "start_array"):
            depth += 1
        elif event in ("end_map", "end_array"):
            depth -= 1
        if depth == 0:
            return builder.value if builder is not None else None
    raise ijson.IncompleteJSONError("document ends inside a value")


def _load_whole(body: bytes, name: str) -> dict[str, Any]:
    try:
        log = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ParseError(f"{name}: not valid JSON ({exc}); the file may be truncated") from exc
    if not isinstance(log, dict):
        raise ParseError(f"{name}: JSON that is not an object is not an Inspect log")
    return log


def _parse_json_whole(body: bytes, ctx: ParseContext, name: str) -> Iterator[TableRow]:
    log = _load_whole(body, name)
    ctx.notes.append(f"{name}: holds a non-standard JSON number (NaN/Infinity); read whole")
    run = _run(log, ctx, name)
    yield from _result_rows(log, run)
    for sample in _samples_of(log):
        if isinstance(sample, dict):
            yield "result_samples", _sample_row(sample, run)


def _samples_of(log: Mapping[str, Any]) -> list[Any]:
    samples = log.get("samples")
    return samples if isinstance(samples, list) else []


# -- the run --------------------------------------------------------------------------------------------


def _obj(value: Any) -> dict[str, Any]:
    """A JSON object, or an empty one where the log has something else (or nothing)."""
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    """A JSON array, or an empty one where the log has something else (or nothing)."""
    return value if isinstance(value, list) else []


def _run(
    header: Mapping[str, Any], ctx: ParseContext, name: str, journal_completed: int | None = None
) -> dict[str, Any]:
    """What every row of the log shares: keys, model, configuration, status, dates, provenance."""
    version = _int(header.get("version"))
    if version not in KNOWN_VERSIONS:
        ctx.notes.append(
            f"{name}: Inspect log format version {header.get('version')!r} is not one this reader knows "
            "(1-3); read with the version-2 field names"
        )
    ev = header.get("eval")
    if not isinstance(ev, dict) or not ev.get("task"):
        raise ParseError(f"{name}: no `eval` object naming a task: not an Inspect log")
    eval_id, source_run_id, task_id = ev.get("eval_id"), ev.get("run_id"), ev.get("task_id")
    if eval_id:
        run_id = f"inspect:{eval_id}"
    elif source_run_id and task_id:
        run_id = f"inspect:{source_run_id}/{task_id}"
    else:
        raise ParseError(f"{name}: the log has neither eval_id nor run_id and task_id to key the run by")
    task = str(ev["task"])
    plan = _obj(header.get("plan"))
    generation = {**_obj(ev.get("model_generate_config")), **_obj(plan.get("config"))}
    config = _obj(ev.get("config"))
    limit, epochs = config.get("limit"), config.get("epochs")
    limit = limit if isinstance(limit, int) and not isinstance(limit, bool) else None
    epochs = epochs if isinstance(epochs, int) and not isinstance(epochs, bool) else None
    model = str(ev.get("model") or "")
    model_args = _scrub(_obj(ev.get("model_args")))
    model_id, provider = normalise_model_id(model)
    stats = _obj(header.get("stats"))
    started, completed = _timestamp(stats.get("started_at")), _timestamp(stats.get("completed_at"))
    dataset = _obj(ev.get("dataset"))
    results = _obj(header.get("results"))
    error = header.get("error")
    error_text = error.get("message") if isinstance(error, dict) else error
    packages = _obj(ev.get("packages"))
    steps = [s for s in _list(plan.get("steps")) if isinstance(s, dict)]
    leftover = {
        "task_args": _scrub(ev.get("task_args")),
        "solver_args": _scrub(ev.get("solver_args")),
        "solver_params": _scrub([s.get("params") or {} for s in steps])
        if any(s.get("params") for s in steps)
        else None,
        "plan_finish": _scrub(plan.get("finish")),
        "eval_config": _scrub(
            {k: v for k, v in config.items() if not (k in ("limit", "epochs") and _int(v) is not None)}
        ),
        "generate_config": _scrub({k: v for k, v in generation.items() if k not in _GENERATION_COLUMNS}),
        "model_roles": _scrub(ev.get("model_roles")),
        "dataset_shuffled": dataset.get("shuffled"),
        "task_id": task_id,
        "task_file": ev.get("task_file"),
        "task_registry_name": ev.get("task_registry_name"),
        "task_display_name": ev.get("task_display_name"),
        "task_attribs": _scrub(ev.get("task_attribs")),
        "revision": _scrub(ev.get("revision")),
        "sandbox": _scrub(ev.get("sandbox")),
        "eval_set_id": ev.get("eval_set_id"),
        "tags": header.get("tags") or ev.get("tags"),
        "metadata": _scrub(header.get("metadata") or ev.get("metadata")),
        "packages": {k: v for k, v in packages.items() if k != "inspect_ai"},
        "invalidated": header.get("invalidated") or None,
        "log_format_version": version,
    }
    completed_samples: Any = results.get("completed_samples")
    total_samples: Any = results.get("total_samples")
    if journal_completed is not None:
        sample_ids = dataset.get("sample_ids")
        completed_samples = journal_completed
        total_samples = len(sample_ids) * (epochs or 1) if isinstance(sample_ids, list) else None
    license = (ctx.options.get("license") or "").strip() or None
    return {
        "run_id": run_id,
        "source_run_id": None if source_run_id is None else str(source_run_id),
        "task": task,
        "task_version": _str(ev.get("task_version")),
        "benchmark": str(dataset.get("name") or task.rsplit("/", 1)[-1]).lower(),
        "dataset_name": _str(dataset.get("name")),
        "dataset_location": _str(dataset.get("location")),
        "dataset_revision": _str(dataset.get("revision")),
        "framework_version": _str(packages.get("inspect_ai")),
        "model_source_name": model,
        "model_id": model_id,
        "model_provider": provider,
        "model_args": json.dumps(model_args, sort_keys=True, ensure_ascii=False, default=str)
        if model_args
        else None,
        "solver": _solver(steps, ev),
        **{col: _typed(generation.get(col), kind) for col, kind in _GENERATION_COLUMNS.items()},
        "limit": limit,
        "epochs": epochs,
        "config_json": config_json(leftover),
        "status": str(header.get("status") or "started"),
        "error_message": _redact(str(error_text)) if error_text else None,
        "started_at": started,
        "completed_at": completed,
        "run_date": run_date(started, _timestamp(ev.get("created"))),
        "n_samples": _int(completed_samples),
        "n_samples_total": _int(total_samples) if total_samples is not None else _int(dataset.get("samples")),
        **_sum_usage(_obj(stats.get("model_usage")).values()),
        "confidence": 1.0,
        "source_record_id": run_id,
        "source_url": None,
        "license": license or "unknown",
        "license_source": "stated at ingest (commons build --license)"
        if license
        else "not stated in the log",
        "text_allowed": permits_redistribution(license),
        "evidence_root": _START if journal_completed is not None else "results",
    }


_RUN_COLUMNS = (
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
    *_GENERATION_COLUMNS,
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
)


def _scrub(value: Any) -> Any:
    """Configuration without what can be a credential: secret-looking keys dropped, key-like values and
    passwords in URLs redacted, at any depth."""
    if isinstance(value, dict):
        return {str(k): _scrub(v) for k, v in value.items() if not _SECRET_KEY.search(str(k))}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    if isinstance(value, str):
        return _redact(value)
    return value


def _redact(text: str) -> str:
    return _URL_USERINFO.sub("", _SECRET_VALUE.sub("[redacted]", text))


def _solver(steps: list[dict[str, Any]], ev: Mapping[str, Any]) -> str | None:
    names = [str(s["solver"]) for s in steps if s.get("solver")]
    if names:
        return " -> ".join(names)
    solver = ev.get("solver")
    return str(solver) if solver else None


def _typed(value: Any, kind: type) -> Any:
    if value is None or isinstance(value, bool):
        return None
    try:
        typed = kind(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return typed if kind is not float or math.isfinite(typed) else None


def _str(value: Any) -> str | None:
    """Text as the log writes it; a number or structure where text belongs as its JSON."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _timestamp(value: Any) -> datetime | None:
    """Inspect writes ISO 8601 text; anything else is not a time."""
    return parse_timestamp(value) if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _sum_usage(usages: Iterable[Any]) -> dict[str, int | None]:
    totals: dict[str, int | None] = {"input_tokens": None, "output_tokens": None, "total_tokens": None}
    for usage in usages:
        if not isinstance(usage, dict):
            continue
        for key in totals:
            value = _int(usage.get(key))
            if value is not None:
                totals[key] = (totals[key] or 0) + value
    return totals


# -- results rows ---------------------------------------------------------------------------------------


def _scores(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """`results.scores`, or the version-1 `results.scorer` with `results.metrics` as one score."""
    if "scores" not in results and isinstance(results.get("scorer"), dict):
        scorer = results["scorer"]
        return [{**scorer, "scorer": scorer.get("name"), "metrics": results.get("metrics") or {}}]
    scores = results.get("scores")
    return [s for s in scores if isinstance(s, dict)] if isinstance(scores, list) else []


def _metrics(score: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    metrics = score.get("metrics")
    if isinstance(metrics, list):  # an early shape: a list of {name, value}
        return {str(m.get("name")): m for m in metrics if isinstance(m, dict)}
    return {str(k): v for k, v in _obj(metrics).items() if isinstance(v, dict)}


def _result_rows(header: Mapping[str, Any], run: Mapping[str, Any]) -> Iterator[TableRow]:
    base = {k: run[k] for k in _RUN_COLUMNS}
    scores = _scores(_obj(header.get("results")))
    reducers: dict[str, set[Any]] = {}
    for score in scores:
        reducers.setdefault(str(score.get("name") or score.get("scorer") or ""), set()).add(
            score.get("reducer")
        )
    seen: set[str] = set()
    for index, score in enumerate(scores):
        scorer = str(score.get("name") or score.get("scorer") or "")
        reducer = score.get("reducer")
        named_reducer = reducer and (len(reducers[scorer]) > 1 or reducer != "mean")
        metric_filter = f"reducer={reducer}" if named_reducer else ""
        metrics = _metrics(score)
        mean_metric = next((m for m in _MEAN_METRICS if m in metrics), None)
        stderr = None
        if mean_metric and "stderr" in metrics:
            stderr, _ = number(metrics.pop("stderr").get("value"))
        scored = _int(score.get("scored_samples"))
        for metric_name, metric in metrics.items():
            key = result_id(run["run_id"], run["task"], "", scorer, metric_name, metric_filter)
            row_filter = metric_filter
            if key in seen:  # two scores of one name and reducer: tell them apart by position
                row_filter = f"{metric_filter};scores[{index}]".lstrip(";")
                key = result_id(run["run_id"], run["task"], "", scorer, metric_name, row_filter)
            seen.add(key)
            value, text = number(metric.get("value"))
            yield (
                "results",
                {
                    **base,
                    "result_id": key,
                    "framework": "inspect_ai",
                    "subtask": "",
                    "scorer": scorer,
                    "metric": metric_name,
                    "metric_filter": row_filter,
                    "value": value,
                    "value_text": text,
                    "unit": "proportion"
                    if metric_name == "accuracy" and value is not None and 0 <= value <= 1
                    else None,
                    "stderr": stderr if metric_name == mean_metric else None,
                    "higher_is_better": None,
                    "n_samples": scored if scored is not None else run["n_samples"],
                    "evidence": f"results.scores[{index}].metrics.{metric_name}",
                },
            )
    if not seen:
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
                "evidence": f"{run['evidence_root']} (no scores)",
            },
        )


# -- samples --------------------------------------------------------------------------------------------


def _sample_row(sample: Mapping[str, Any], run: Mapping[str, Any]) -> Row:
    attachments = _obj(sample.get("attachments")) or _obj(_obj(sample.get("transcript")).get("content"))
    sample_id = str(sample.get("id"))
    epoch = _int(sample.get("epoch")) or 1
    input_text = _input_text(sample.get("input"), attachments)
    target = _resolve(sample.get("target"), attachments)
    if isinstance(target, list):
        target_text: str | None = "\n".join(str(_resolve(t, attachments)) for t in target)
    else:
        target_text = None if target is None else str(target)
    messages = sample.get("messages") if isinstance(sample.get("messages"), list) else None
    output_text = _output_text(sample.get("output"), messages, attachments)
    error = sample.get("error")
    error_text = error.get("message") if isinstance(error, dict) else error
    limit = sample.get("limit")
    limit_type = limit.get("type") if isinstance(limit, dict) else limit
    metadata = sample.get("metadata")
    metadata_text = (
        json.dumps(metadata, sort_keys=True, ensure_ascii=False, default=str)
        if isinstance(metadata, dict) and metadata
        else None
    )
    allowed = run["text_allowed"]
    return {
        "run_id": run["run_id"],
        "sample_id": sample_id,
        "epoch": epoch,
        "sample_uuid": _str(sample.get("uuid")),
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
        "scores": _sample_scores(sample, run, attachments, allowed),
        "error": _redact(str(error_text)) if error_text else None,
        "limit": str(limit_type) if limit_type else None,
        "total_time_s": _typed(sample.get("total_time"), float),
        "working_time_s": _typed(sample.get("working_time"), float),
        **_sum_usage(_obj(sample.get("model_usage")).values()),
        "metadata_json": metadata_text if metadata_text and len(metadata_text) <= MAX_TEXT_CHARS else None,
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


def _content_text(content: Any, attachments: Mapping[str, Any], media: bool) -> str:
    """A message's content as text: a string as is; of a list, the text parts (and with `media`, a
    `[image]`-style marker for each media part), one a line."""
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
        elif media and kind in _MEDIA:
            parts.append(f"[{kind}]")
    return "\n".join(parts)


def _input_text(value: Any, attachments: Mapping[str, Any]) -> str:
    value = _resolve(value, attachments)
    if isinstance(value, str):
        return value
    lines = []
    for message in value if isinstance(value, list) else []:
        if isinstance(message, dict):
            text = _content_text(message.get("content"), attachments, media=True)
            lines.append(f"{message.get('role', '')}: {text}")
    return "\n".join(lines)


def _output_text(output: Any, messages: list[Any] | None, attachments: Mapping[str, Any]) -> str | None:
    """`output.completion`, else the first choice's text (as Inspect derives the completion), else the
    text of the last assistant message."""
    output = _obj(output)
    completion = _resolve(output.get("completion"), attachments)
    if isinstance(completion, str) and completion:
        return completion
    choices = output.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        message = choices[0].get("message")
        if isinstance(message, dict):
            return _content_text(message.get("content"), attachments, media=False)
    for message in reversed(messages or []):
        if isinstance(message, dict) and message.get("role") == "assistant":
            return _content_text(message.get("content"), attachments, media=False)
    return completion if isinstance(completion, str) else None


def _sample_scores(
    sample: Mapping[str, Any], run: Mapping[str, Any], attachments: Mapping[str, Any], allowed: bool
) -> list[dict[str, Any]] | None:
    scores = sample.get("scores")
    if scores is None and isinstance(sample.get("score"), dict):  # version 1: one unnamed score
        scores = {"": sample["score"]}
    if not isinstance(scores, dict):
        return None
    out = []
    for scorer, score in scores.items():
        if not isinstance(score, dict):
            continue
        value = _resolve(score.get("value"), attachments)
        answer = _resolve(score.get("answer"), attachments)
        explanation = _resolve(score.get("explanation"), attachments)
        out.append(
            {
                "scorer": str(scorer),
                "value": json.dumps(value, sort_keys=True, ensure_ascii=False, default=str),
                "value_float": _score_float(value),
                "answer": _publishable(None if answer is None else str(answer), allowed),
                "explanation": _publishable(None if explanation is None else str(explanation), allowed),
            }
        )
    return out


def _score_float(value: Any) -> float | None:
    """A score value as a number, as Inspect's default `value_to_float` reads it (letters C/I/P/N, yes/no,
    true/false, numeric strings); null for lists and dicts and anything else."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        return number(value)[0]
    if isinstance(value, str):
        text = value.strip()
        if text in _SCORE_WORDS:
            return _SCORE_WORDS[text]
        if text.lower() in ("yes", "no", "true", "false"):
            return _SCORE_WORDS[text.lower()]
        try:
            f = float(text)
        except ValueError:
            return None
        return f if math.isfinite(f) else None
    return None
