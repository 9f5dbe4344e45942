"""Epoch AI's benchmark data (CSV exports of the Benchmarking Hub and its external-benchmark tables) into
`results` rows and `links`.

Columns are found by their header names, never by position (Epoch's files order them differently), and a
file whose header matches none of the layouts below is an error naming the file and the columns seen.

- **Benchmarking Hub runs** (`id, task, model, Scores, logs, job, started_at, Status, task version`): one row
  per scorer in `Scores` (`choice:0.85±0.02,model_graded:0.85±0.05`): `scorer` the scorer, metric `mean`
  (Epoch reports each scorer's mean score with its standard error after `±`), `run_id` `epoch:<id>`. The
  runs are Inspect runs that Epoch ran: `solver` is not stated, `config_json` records `{"runner": "inspect_ai"}`.
  `started_at` (`17 November 2025 4:28pm`) is read as UTC (the export states no zone). Links: `run_log` to
  the Inspect log (`url:<logs URL>`: Epoch names a log by its own run id, which is not provably the log's
  `eval_id`, so the link goes to the log's address, not to an `inspect:` run key), and `uses_code` to the
  GitHub repository of the job that ran it (`github:<owner>/<name>`).
- **External benchmark tables** (`id, Name, <score column>, Model version, Shots, Source, Source link`): one
  row per record with status `reported`: the score column's header is the metric (`EM`, `Accuracy`, ...),
  a value written with `%` has unit `percent`; `run_id` `epoch_external:<benchmark>:<record id>` where the
  benchmark is the file's name without Epoch's prefixes (`mmlu.csv` → `mmlu`): Epoch keeps one file per
  benchmark and the rows do not repeat its name. A `Source link` to arXiv or a DOI gives a `reported_in`
  link to that paper.
- **Model versions** (`id, Model, Version release date, Hugging Face developer id, ...`): a lookup table, not
  results: recognised and recorded as empty (a document is parsed alone, so it cannot yet rename other
  files' models).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

from pipelines.curate.identifiers import normalize_doi, parse_arxiv_id
from pipelines.parse.results_common import config_json, normalise_model_id, number, result_id, run_date
from pipelines.sources.base import ParseContext, ParseError, Row, TableRow

PARSER_NAME = "epoch_csv"
PARSER_VERSION = "1"
RUNS_COLUMNS = {"id", "task", "model", "Scores", "Status"}
EXTERNAL_COLUMNS = {"id", "Name", "Source"}
MODEL_VERSIONS_COLUMNS = {"id", "Model", "Hugging Face developer id"}
_SCORE = re.compile(
    r"(?P<scorer>[^:,]+):(?P<value>[-+]?[\d.]+(?:[eE][-+]?\d+)?)(?:±(?P<stderr>[\d.]+(?:[eE][-+]?\d+)?))?"
)
_GITHUB_JOB = re.compile(r"https?://github\.com/(?P<owner>[\w.-]+)/(?P<name>[\w.-]+)/actions/")
_NON_SCORE = {
    "id",
    "Name",
    "Model version",
    "Shots",
    "Notes",
    "Source",
    "Source link",
    "Model",
    "Date",
    "Organization",
}
_STATUS = {
    "success": "success",
    "error": "error",
    "failed": "error",
    "cancelled": "cancelled",
    "running": "started",
}


def header_of(head: bytes) -> list[str]:
    first = head.decode("utf-8-sig", "replace").splitlines()[0] if head else ""
    try:
        return next(csv.reader([first]))
    except (StopIteration, csv.Error):
        return []


def epoch_layout(head: bytes) -> str | None:
    columns = set(header_of(head))
    if columns >= RUNS_COLUMNS:
        return "runs"
    if columns >= MODEL_VERSIONS_COLUMNS:
        return "model_versions"
    if columns >= EXTERNAL_COLUMNS and "Source link" in columns:
        return "external"
    return None


def parse_epoch_csv(data: bytes, ctx: ParseContext, name: str) -> Iterator[TableRow]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ParseError(f"{name}: not UTF-8 text ({exc})") from exc
    if not text.strip():
        raise ParseError(f"{name}: empty file")
    try:
        records = list(csv.DictReader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise ParseError(f"{name}: malformed CSV ({exc})") from exc
    layout = epoch_layout(data[:4096])
    license = ctx.options.get("license") if ctx.options else None
    lic = {
        "license": license or "CC-BY-4.0",
        "license_source": "stated at ingest (commons build --license)"
        if license
        else "Epoch AI data license (https://epoch.ai/data, CC BY 4.0)",
    }
    if layout == "runs":
        yield from _runs(records, lic, ctx, name)
    elif layout == "external":
        yield from _external(records, lic, ctx, name)
    elif layout == "model_versions":
        ctx.empty = True
        ctx.notes.append(f"{name}: Epoch's model versions table: a lookup table, not results")
    else:
        raise ParseError(f"{name}: not a known Epoch AI layout; columns: {', '.join(header_of(data[:4096]))}")


def _runs(
    records: list[dict[str, Any]], lic: dict[str, str], ctx: ParseContext, name: str
) -> Iterator[TableRow]:
    for line, rec in enumerate(records, start=2):
        run = (rec.get("id") or "").strip()
        if not run or rec.get("task") is None:
            ctx.notes.append(f"{name}: line {line} has no id or is cut short; skipped")
            continue
        run_id = f"epoch:{run}"
        model = (rec.get("model") or "").strip() or "unknown"
        model_id, provider = normalise_model_id(model)
        started = _epoch_date(rec.get("started_at"))
        status = _STATUS.get(
            (rec.get("Status") or "").strip().lower(), (rec.get("Status") or "unknown").strip().lower()
        )
        task = rec["task"].strip()
        base = {
            "run_id": run_id,
            "framework": "epoch",
            "task": task,
            "task_version": (rec.get("task version") or "").strip() or None,
            "subtask": "",
            "benchmark": task.lower(),
            "model_source_name": model,
            "model_id": model_id,
            "model_provider": provider,
            "config_json": config_json(
                {"runner": "inspect_ai", "manual_evaluation": rec.get("Manual evaluation") or None}
            ),
            "status": status,
            "started_at": started,
            "run_date": run_date(started),
            "confidence": 1.0,
            "source_record_id": run,
            "source_url": (rec.get("log viewer") or "").strip() or None,
            **lic,
        }
        scores = list(_SCORE.finditer(rec.get("Scores") or ""))
        if not scores:
            yield (
                "results",
                {
                    **base,
                    "result_id": result_id(run_id, task, "", "", "", ""),
                    "scorer": "",
                    "metric": "",
                    "metric_filter": "",
                    "value_text": rec.get("Scores") or None,
                    "evidence": f"line {line}: Scores",
                },
            )
        for m in scores:
            value, _ = number(m.group("value"))
            stderr, _ = number(m.group("stderr"))
            scorer = m.group("scorer").strip()
            yield (
                "results",
                {
                    **base,
                    "result_id": result_id(run_id, task, "", scorer, "mean", ""),
                    "scorer": scorer,
                    "metric": "mean",
                    "metric_filter": "",
                    "value": value,
                    "value_text": m.group(0),
                    "stderr": stderr,
                    "higher_is_better": True,
                    "evidence": f"line {line}: Scores",
                },
            )
        logs = (rec.get("logs") or "").strip()
        if logs:
            yield "links", _link(run_id, f"url:{logs}", "run_log", "logs", logs, lic)
        job = _GITHUB_JOB.match((rec.get("job") or "").strip())
        if job:
            repo = f"github:{job.group('owner').lower()}/{job.group('name').lower()}"
            yield "links", _link(run_id, repo, "uses_code", "job", job.group(0), lic)


def _external(
    records: list[dict[str, Any]], lic: dict[str, str], ctx: ParseContext, name: str
) -> Iterator[TableRow]:
    benchmark = _benchmark_from_name(name)
    columns = list(records[0].keys()) if records else []
    metric_columns = [c for c in columns if c and c not in _NON_SCORE]
    if not metric_columns:
        raise ParseError(
            f"{name}: an external benchmark table without a score column; columns: {', '.join(columns)}"
        )
    metric = metric_columns[0]
    for line, rec in enumerate(records, start=2):
        record = (rec.get("id") or "").strip()
        if not record or rec.get(metric) is None:
            ctx.notes.append(f"{name}: line {line} has no id or is cut short; skipped")
            continue
        run_id = f"epoch_external:{benchmark}:{record}"
        model = (rec.get("Model version") or "").strip() or (rec.get("Name") or "").strip() or "unknown"
        model_id, provider = normalise_model_id(model)
        raw = (rec.get(metric) or "").strip()
        value, text = number(raw)
        source_link = (rec.get("Source link") or "").strip() or None
        yield (
            "results",
            {
                "result_id": result_id(run_id, benchmark, "", "", metric, ""),
                "run_id": run_id,
                "framework": "epoch",
                "task": benchmark,
                "subtask": "",
                "benchmark": benchmark,
                "scorer": "",
                "metric": metric,
                "metric_filter": "",
                "value": value,
                "value_text": text,
                "unit": "percent" if raw.endswith("%") else None,
                "n_shot": _int(rec.get("Shots")),
                "model_source_name": model,
                "model_id": model_id,
                "model_provider": provider,
                "config_json": config_json(
                    {
                        "reported_by": rec.get("Source") or None,
                        "notes": rec.get("Notes") or None,
                        "name": rec.get("Name") or None,
                    }
                ),
                "status": "reported",
                "evidence": f"line {line}: {metric}",
                "confidence": 1.0,
                "source_record_id": record,
                "source_url": source_link,
                **lic,
            },
        )
        paper = _paper_id(source_link) if source_link else None
        if paper:
            yield "links", _link(run_id, paper, "reported_in", "Source link", source_link or "", lic)


def _benchmark_from_name(name: str) -> str:
    stem = PurePosixPath(name).stem.lower()
    for prefix in ("epoch_external_benchmark_", "external_benchmark_", "epoch_"):
        if stem.startswith(prefix):
            stem = stem[len(prefix) :]
    return stem or "unknown"


def _epoch_date(value: Any) -> datetime | None:
    text = " ".join(str(value or "").split())
    for fmt in ("%d %B %Y %I:%M%p", "%d %B %Y %H:%M", "%d %B %Y"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


def _int(value: Any) -> int | None:
    f, _ = number(value)
    return int(f) if f is not None and f == int(f) else None


def _paper_id(url: str) -> str | None:
    if "arxiv.org/" in url:
        arxiv = parse_arxiv_id(url)
        return arxiv.work_id if arxiv else None
    if "doi.org/" in url:
        doi = normalize_doi(url)
        return f"doi:{doi}" if doi else None
    return None


def _link(src: str, dst: str, kind: str, column: str, text: str, lic: dict[str, str]) -> Row:
    return {
        "src_id": src,
        "dst_id": dst,
        "link_type": kind,
        "evidence": f"csv column {column}",
        "evidence_text": text,
        "confidence": 1.0,
        "source_record_id": src,
        "source_url": text if text.startswith("http") else None,
        **lic,
    }
