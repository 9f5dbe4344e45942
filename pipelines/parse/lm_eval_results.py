"""lm-evaluation-harness results files (`results_<date>.json`, the legacy `{results, versions}` format, and the
harness's own expected-results files) into `results` rows.

- One row per (task, metric, filter): a key `exact_match,strict-match` is metric `exact_match` after the
  filter `strict-match` (`none` is written as `none`, as the harness does); its standard error is the
  matching `exact_match_stderr,strict-match` (the harness writes `N/A` when it did not bootstrap one: null,
  with nothing invented). Legacy files have no filter (`metric_filter` empty). `alias`, `name`,
  `sample_len` and other non-metric keys are not rows.
- Groups (`groups`, or a task listed in `group_subtasks` with subtasks) are rows too, with their aggregate
  metrics; their subtasks are rows of their own (`task` is always the name the harness reports under).
- Per task: `versions` → `task_version`, `n-shot` → `n_shot`, `higher_is_better[task][metric]`,
  `n-samples[task]` → `n_samples` (effective) and `n_samples_total` (original), `configs[task]` →
  the dataset (`dataset_path`, `dataset_name`, revision in `dataset_kwargs`).
- Per file: `config` (model, `model_args` as a string or object, batch size, limit, seeds, `gen_kwargs`),
  `model_name`, `lm_eval_version` (else `git_hash`), `date` (Unix seconds) → `run_date`/`started_at`.

The run's key is `lm_eval:` + the first 16 hex of the file's SHA-256: the results file itself is the run's
only identity (the harness writes no run id), so re-ingesting the same file updates the same rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from pipelines.parse.results_common import (
    config_json,
    normalise_model_id,
    number,
    parse_timestamp,
    result_id,
    run_date,
)
from pipelines.sources.base import ParseContext, ParseError, TableRow

PARSER_NAME = "lm_eval_results"
PARSER_VERSION = "1"
_NOT_METRICS = frozenset({"alias", "name", "sample_len", "sample_count", "samples"})
_SECRET_ARGS = ("key", "token", "secret", "password")


def is_lm_eval_results(head: bytes) -> bool:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text.startswith(b"{"):
        return False
    first_key = text[1:200].lstrip().split(b":", 1)[0].strip()
    if first_key not in (b'"results"', b'"groups"', b'"higher_is_better"', b'"group_subtasks"', b'"configs"'):
        return False
    return any(
        marker in head for marker in (b"_stderr", b'"alias"', b'"versions"', b'"n-shot"', b"higher_is_better")
    )


def parse_lm_eval_results(data: bytes, sha256: str, ctx: ParseContext, name: str) -> Iterator[TableRow]:
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ParseError(f"{name}: not valid JSON ({exc}); the file may be truncated") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), dict):
        raise ParseError(f"{name}: no `results` object: not an lm-evaluation-harness results file")
    run_id = f"lm_eval:{sha256[:16]}"
    config = _obj(doc.get("config"))
    model_args_raw = config.get("model_args")
    model_args = _model_args_text(model_args_raw)
    model_name = doc.get("model_name") or _pretrained(model_args_raw) or config.get("model") or "unknown"
    model_id, provider = normalise_model_id(str(model_name), model_args)
    if model_id is None and isinstance(model_name, str) and "/" in model_name and provider is None:
        # `model_name` of an HF-backed run is the repo id the harness loaded (`pretrained=`).
        model_id, _ = normalise_model_id(None, f"pretrained={model_name}")
    gen = _gen_kwargs(config.get("gen_kwargs"))
    started = parse_timestamp(doc.get("date"))
    license = ctx.options.get("license") if ctx.options else None
    base = {
        "run_id": run_id,
        "framework": "lm_eval",
        "framework_version": doc.get("lm_eval_version") or doc.get("git_hash"),
        "model_source_name": str(model_name),
        "model_id": model_id,
        "model_provider": config.get("model") or doc.get("model_source") or provider,
        "model_args": model_args,
        "temperature": _float(gen.get("temperature")),
        "top_p": _float(gen.get("top_p")),
        "top_k": _int(gen.get("top_k")),
        "max_tokens": _int(gen.get("max_gen_toks") or gen.get("max_new_tokens") or gen.get("max_tokens")),
        "seed": _int(config.get("random_seed")),
        "batch_size": None if config.get("batch_size") is None else str(config.get("batch_size")),
        "limit": _int(config.get("limit")),
        "config_json": config_json(
            {
                **{
                    k: v
                    for k, v in config.items()
                    if k not in ("model", "model_args", "batch_size", "limit", "random_seed", "gen_kwargs")
                },
                "gen_kwargs": {
                    k: v
                    for k, v in gen.items()
                    if k
                    not in ("temperature", "top_p", "top_k", "max_gen_toks", "max_new_tokens", "max_tokens")
                },
                "fewshot_as_multiturn": doc.get("fewshot_as_multiturn"),
                "chat_template_sha": doc.get("chat_template_sha"),
                "system_instruction_sha": doc.get("system_instruction_sha"),
                "transformers_version": doc.get("transformers_version"),
            }
        ),
        "status": "success",
        "started_at": started,
        "run_date": run_date(started),
        "confidence": 1.0,
        "source_record_id": run_id,
        "source_url": None,
        "license": license or "unknown",
        "license_source": "stated at ingest (commons build --license)"
        if license
        else "not stated in the results file",
    }
    versions = _obj(doc.get("versions"))
    n_shot = _obj(doc.get("n-shot"))
    higher = _obj(doc.get("higher_is_better"))
    n_samples = _obj(doc.get("n-samples"))
    configs = _obj(doc.get("configs"))
    sections = [("results", doc["results"]), ("groups", _obj(doc.get("groups")))]
    seen: set[str] = set()
    emitted = 0
    for section, tasks in sections:
        for task, metrics in tasks.items():
            if not isinstance(metrics, dict):
                ctx.notes.append(f"{name}: {section}.{task} is not an object; skipped")
                continue
            task_config = _obj(configs.get(task))
            samples = _obj(n_samples.get(task))
            for key, raw in metrics.items():
                metric, _, metric_filter = key.partition(",")
                if metric in _NOT_METRICS or metric.endswith("_stderr"):
                    continue
                row_key = result_id(run_id, task, "", "", metric, metric_filter)
                if row_key in seen:  # a group listed under both `results` and `groups`
                    continue
                seen.add(row_key)
                value, text = number(raw)
                stderr_key = f"{metric}_stderr,{metric_filter}" if metric_filter else f"{metric}_stderr"
                stderr, _ = number(metrics.get(stderr_key))
                better = _obj(higher.get(task)).get(metric)
                yield (
                    "results",
                    {
                        **base,
                        "result_id": row_key,
                        "task": str(task),
                        "task_version": None if versions.get(task) is None else str(versions.get(task)),
                        "subtask": "",
                        "benchmark": str(task_config.get("dataset_path") or task).lower(),
                        "dataset_name": task_config.get("dataset_name"),
                        "dataset_location": task_config.get("dataset_path"),
                        "dataset_revision": _obj(task_config.get("dataset_kwargs")).get("revision"),
                        "scorer": "",
                        "metric": metric,
                        "metric_filter": metric_filter,
                        "value": value,
                        "value_text": text,
                        "stderr": stderr,
                        "higher_is_better": better if isinstance(better, bool) else None,
                        "n_samples": _int(samples.get("effective")),
                        "n_samples_total": _int(samples.get("original")),
                        "n_shot": _int(n_shot.get(task)),
                        "evidence": f"{section}.{task}[{json.dumps(key)}]",
                    },
                )
                emitted += 1
    if emitted == 0:
        ctx.empty = True
        ctx.notes.append(f"{name}: the results file holds no metric")


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _float(value: Any) -> float | None:
    f, _ = number(value)
    return f


def _int(value: Any) -> int | None:
    f, _ = number(value)
    return int(f) if f is not None and f == int(f) else None


def _model_args_text(raw: Any) -> str | None:
    """`model_args` as the harness's `k=v,k=v` string, credentials left out."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, Mapping):
        pairs = [(str(k), v) for k, v in raw.items()]
    else:
        pairs = [tuple(p.split("=", 1)) if "=" in p else (p, "") for p in str(raw).split(",")]  # type: ignore[misc]
    kept = [f"{k}={v}" for k, v in pairs if not any(s in k.lower() for s in _SECRET_ARGS)]
    return ",".join(kept) or None


def _pretrained(raw: Any) -> str | None:
    if isinstance(raw, Mapping):
        value = raw.get("pretrained") or raw.get("model")
        return str(value) if value else None
    return None


def _gen_kwargs(raw: Any) -> dict[str, Any]:
    """`gen_kwargs` as the harness accepts them: an object or a `k=v,k=v` string."""
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str) and raw.strip():
        out: dict[str, Any] = {}
        for part in raw.split(","):
            key, sep, value = part.partition("=")
            if sep:
                out[key.strip()] = value.strip()
        return out
    return {}
