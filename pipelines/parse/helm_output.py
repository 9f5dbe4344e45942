"""HELM (Stanford CRFM) benchmark output into `results` rows and `links` to the scenarios' papers.

Two kinds of document:

- **A run** (`benchmark_output/runs/<suite>/<run name>/`): HELM writes one run as several files, and only
  together do they say what was measured on which model: `run_spec.json` (run name, model, adapter and
  scenario), `stats.json` (one entry per statistic, split and perturbation: count, mean, stddev, ...) and
  `scenario.json`. The local reader groups the files of one run (same folder and file-name prefix, see
  ``group_run_files``) into one document, a bundle `{"format": "helm-run-bundle/1", "files": {role: text}}`,
  so parsing stays pure over one document's bytes. One `results` row per statistic with a count: `metric`
  the statistic's name, `metric_filter` its split (and sub-split, perturbation), `value` its mean,
  `n_samples` its count, `stderr` stddev/√count (HELM's stddev is over instances; null for one instance).
  A run's key is `helm:<run name>@<first 12 hex of the stats' SHA-256>`: HELM's files do not name their
  suite, and the same run name is re-run in each suite, so the statistics themselves tell runs apart.
  A `stats.json` alone is read too, as a run of unknown model (its name does not say).
- **A group table** (`groups/<group>.json`, or a list of them: the leaderboard tables): one row per model
  row and numeric column, status `reported`, keyed by the run the cell names (`run_spec_names`) and the
  table's content hash. Column descriptions cite the scenarios' papers as Markdown links: each becomes a
  `links` row `evaluates` from the run to `arxiv:<id>`, `doi:<doi>` or `url:<url>`.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pipelines.curate.identifiers import normalize_doi, parse_arxiv_id
from pipelines.parse.results_common import config_json, normalise_model_id, number, result_id
from pipelines.sources.base import ParseContext, ParseError, Row, TableRow

PARSER_NAME = "helm_output"
PARSER_VERSION = "1"
BUNDLE_FORMAT = "helm-run-bundle/1"
ROLES = ("run_spec", "stats", "scenario", "display_predictions")
_ROLE_SUFFIX = re.compile(r"(?P<prefix>.*?)(?P<role>run_spec|stats|scenario|display_predictions)\.json$")
_STATS_HEAD = re.compile(rb'^\s*\[\s*\{\s*"name"\s*:\s*\{\s*"name"')
_MD_LINK = re.compile(r"\[(?P<text>[^\]]+)\]\((?P<url>https?://[^)\s]+)\)")


def helm_role(name: str, head: bytes) -> str | None:
    """Which HELM file this is (`run_spec`, `stats`, `scenario`, `display_predictions`, `group_table`,
    `bundle`), from its content; None when it is not HELM output."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b'{"format": "' + BUNDLE_FORMAT.encode()):
        return "bundle"
    if _STATS_HEAD.match(text):
        return "stats"
    if text.startswith(b"{") and b'"scenario_spec"' in head and b'"adapter_spec"' in head:
        return "run_spec"
    if text.startswith(b"{") and b'"definition_path"' in head and b'"tags"' in head:
        return "scenario"
    if text.startswith(b"[") and b'"instance_id"' in head and b'"predicted_text"' in head:
        return "display_predictions"
    if text.startswith((b"{", b"[")) and b'"title"' in head and b'"header"' in head and b'"markdown"' in head:
        return "group_table"
    return None


def group_run_files(files: list[Path]) -> list[list[Path]]:
    """The files of one run (same folder, same name before `run_spec.json`/`stats.json`/...) together."""
    groups: dict[tuple[Path, str], list[Path]] = {}
    alone: list[list[Path]] = []
    for path in files:
        m = _ROLE_SUFFIX.match(path.name)
        if m:
            groups.setdefault((path.parent, m.group("prefix")), []).append(path)
        else:
            alone.append([path])
    return sorted([sorted(g) for g in groups.values()] + alone)


def bundle_run(names: list[str], contents: list[bytes]) -> bytes:
    files: dict[str, str] = {}
    for name, data in zip(names, contents, strict=True):
        m = _ROLE_SUFFIX.match(Path(name).name)
        role = m.group("role") if m else Path(name).name
        files[role] = data.decode("utf-8", "replace")
    # `format` first (the reader recognises a bundle by its opening), the files in a fixed order.
    ordered = {"format": BUNDLE_FORMAT, "files": dict(sorted(files.items()))}
    return json.dumps(ordered, ensure_ascii=False).encode()


def parse_helm(data: bytes, ctx: ParseContext, name: str) -> Iterator[TableRow]:
    role = helm_role(name, data[:4096])
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ParseError(f"{name}: not valid JSON ({exc}); the file may be truncated") from exc
    if role == "bundle":
        files = doc.get("files") or {}
        yield from _run_rows(files, ctx, name)
    elif role == "stats":
        yield from _run_rows({"stats": data.decode("utf-8-sig")}, ctx, name)
    elif role == "group_table":
        for table in doc if isinstance(doc, list) else [doc]:
            yield from _group_table_rows(table, hashlib.sha256(data).hexdigest()[:12], ctx, name)
    elif role in ("run_spec", "scenario", "display_predictions"):
        ctx.empty = True
        ctx.notes.append(f"{name}: a HELM {role} file without its run's stats.json: nothing to measure")
    else:
        raise ParseError(f"{name}: not HELM output (no run_spec, stats, scenario or group table)")


def _license(ctx: ParseContext) -> dict[str, str]:
    license = ctx.options.get("license") if ctx.options else None
    return {
        "license": license or "unknown",
        "license_source": "stated at ingest (commons build --license)"
        if license
        else "not stated in HELM output",
    }


def _load(files: dict[str, str], role: str, name: str) -> Any:
    text = files.get(role)
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(f"{name}: the run's {role}.json is not valid JSON ({exc}); truncated?") from exc


def _run_rows(files: dict[str, str], ctx: ParseContext, name: str) -> Iterator[TableRow]:
    stats = _load(files, "stats", name)
    if stats is None:
        ctx.empty = True
        ctx.notes.append(f"{name}: a HELM run without stats.json: nothing to measure")
        return
    if not isinstance(stats, list):
        raise ParseError(f"{name}: stats.json is not a list of statistics")
    spec = _load(files, "run_spec", name) or {}
    scenario = _load(files, "scenario", name) or {}
    adapter = spec.get("adapter_spec") or {}
    run_name = spec.get("name")
    stats_hash = hashlib.sha256(files["stats"].encode()).hexdigest()[:12]
    run_id = f"helm:{run_name or 'unnamed'}@{stats_hash}"
    model = adapter.get("model") or adapter.get("model_deployment")
    if not model:
        ctx.notes.append(f"{name}: no run_spec.json beside stats.json: the model is unknown")
    model_id, provider = normalise_model_id(model)
    group = (run_name or "").split(":", 1)
    scenario_args = (spec.get("scenario_spec") or {}).get("args") or {}
    base = {
        "run_id": run_id,
        "framework": "helm",
        "task": group[0] if run_name else (scenario.get("name") or "unknown"),
        "subtask": ",".join(f"{k}={v}" for k, v in sorted(scenario_args.items())),
        "benchmark": str(scenario.get("name") or group[0] or "unknown").lower(),
        "dataset_name": scenario.get("name"),
        "dataset_location": scenario.get("definition_path"),
        "scorer": "",
        "model_source_name": str(model or "unknown"),
        "model_id": model_id,
        "model_provider": provider,
        "solver": adapter.get("method"),
        "temperature": _num(adapter.get("temperature")),
        "max_tokens": _int(adapter.get("max_tokens")),
        "n_shot": _int(adapter.get("max_train_instances")),
        "limit": _int(adapter.get("max_eval_instances")),
        "epochs": _int(adapter.get("num_trials")),
        "config_json": config_json(
            {
                "adapter_spec": {
                    k: v
                    for k, v in adapter.items()
                    if k
                    not in (
                        "model",
                        "temperature",
                        "max_tokens",
                        "max_train_instances",
                        "max_eval_instances",
                        "method",
                        "num_trials",
                    )
                },
                "metric_specs": spec.get("metric_specs"),
                "groups": spec.get("groups"),
                "scenario_class": (spec.get("scenario_spec") or {}).get("class_name"),
            }
        ),
        "status": "success",
        "confidence": 1.0,
        "source_record_id": run_id,
        "source_url": None,
        **_license(ctx),
    }
    seen: set[str] = set()
    for index, stat in enumerate(stats):
        if not isinstance(stat, dict) or not isinstance(stat.get("name"), dict):
            ctx.notes.append(f"{name}: stats[{index}] is not a statistic; skipped")
            continue
        key = stat["name"]
        count = stat.get("count")
        if not count or "mean" not in stat:
            continue  # a statistic with no instances measured nothing
        metric_filter = ",".join(
            part
            for part in (
                f"split={key['split']}" if key.get("split") else "",
                f"sub_split={key['sub_split']}" if key.get("sub_split") else "",
                f"perturbation={(key.get('perturbation') or {}).get('name')}"
                if key.get("perturbation")
                else "",
            )
            if part
        )
        metric = str(key.get("name"))
        row_key = result_id(run_id, str(base["task"]), str(base["subtask"]), "", metric, metric_filter)
        if row_key in seen:
            continue
        seen.add(row_key)
        value, text = number(stat.get("mean"))
        stddev, _ = number(stat.get("stddev"))
        yield (
            "results",
            {
                **base,
                "result_id": row_key,
                "metric": metric,
                "metric_filter": metric_filter,
                "value": value,
                "value_text": text,
                "stderr": stddev / math.sqrt(count) if stddev is not None and count > 1 else None,
                "n_samples": _int(count),
                "evidence": f"stats[{index}]",
            },
        )


def _group_table_rows(table: Any, table_hash: str, ctx: ParseContext, name: str) -> Iterator[TableRow]:
    if not isinstance(table, dict) or not isinstance(table.get("header"), list):
        raise ParseError(f"{name}: a HELM group table needs `header` and `rows`")
    header = table["header"]
    title = str(table.get("title") or table.get("name") or "table")
    skipped = 0
    links_done: set[tuple[str, str]] = set()
    for r, row in enumerate(table.get("rows") or []):
        if not isinstance(row, list) or not row or not isinstance(row[0], dict):
            continue
        model = str(row[0].get("value") or "")
        for c, cell in enumerate(row[1:], start=1):
            if c >= len(header) or not isinstance(cell, dict):
                continue
            value, text = number(cell.get("value"))
            if value is None:
                skipped += 1
                continue
            column = header[c] if isinstance(header[c], dict) else {}
            meta = column.get("metadata") or {}
            metric = str(meta.get("metric") or column.get("value") or f"column {c}")
            task = str(meta.get("run_group") or title)
            runs = cell.get("run_spec_names") or []
            run_name = runs[0] if runs else f"{task}:model={model}"
            run_id = f"helm:{run_name}@table-{table_hash}"
            lower = column.get("lower_is_better")
            model_id, provider = normalise_model_id(model)
            yield (
                "results",
                {
                    "result_id": result_id(run_id, task, "", "", metric, title),
                    "run_id": run_id,
                    "source_run_id": ",".join(runs) or None,
                    "framework": "helm",
                    "task": task,
                    "subtask": "",
                    "benchmark": task.lower(),
                    "scorer": "",
                    "metric": metric,
                    "metric_filter": title,
                    "value": value,
                    "value_text": text,
                    "higher_is_better": (not lower) if isinstance(lower, bool) else None,
                    "model_source_name": model,
                    "model_id": model_id,
                    "model_provider": provider,
                    "status": "reported",
                    "evidence": f"{title}: row {r}, column {c}",
                    "evidence_text": f"{model} | {column.get('value')} | {cell.get('value')}",
                    "confidence": 1.0,
                    "source_record_id": f"{title}#{r}.{c}",
                    "source_url": None,
                    **_license(ctx),
                },
            )
            for link in _MD_LINK.finditer(str(column.get("description") or "")):
                dst = _paper_id(link.group("url"))
                if (run_id, dst) in links_done:
                    continue
                links_done.add((run_id, dst))
                yield "links", _link(run_id, dst, link, c, ctx)
    if skipped:
        ctx.notes.append(f"{name}: {title}: {skipped} cells without a number skipped")


def _paper_id(url: str) -> str:
    arxiv = parse_arxiv_id(url) if "arxiv.org/" in url else None
    if arxiv:
        return arxiv.work_id
    doi = normalize_doi(url) if "doi.org/" in url else None
    return f"doi:{doi}" if doi else f"url:{url}"


def _link(run_id: str, dst: str, link: re.Match[str], column: int, ctx: ParseContext) -> Row:
    return {
        "src_id": run_id,
        "dst_id": dst,
        "link_type": "evaluates",
        "evidence": f"header[{column}].description",
        "evidence_text": link.group(0),
        "evidence_start": link.start(),
        "evidence_end": link.end(),
        "confidence": 0.9,
        "source_record_id": run_id,
        "source_url": link.group("url"),
        **_license(ctx),
    }


def _num(value: Any) -> float | None:
    f, _ = number(value)
    return f


def _int(value: Any) -> int | None:
    f = _num(value)
    return int(f) if f is not None and f == int(f) else None
