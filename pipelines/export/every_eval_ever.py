"""Export `results` in the Every Eval Ever schema (v0.3.0), so this data interoperates with that shared datastore.

One JSON document per evaluation run and model (Every Eval Ever describes one model per document; a
paper's table reports several models in one run, so it gives several documents), under
``<out>/<framework>/<run>--<hash>.json``. Each row with a value is one `evaluation_results` entry:

- `evaluation_result_id` is our `result_id`; `evaluation_name` the task (with its subtask);
- `metric_config`: `metric_id` the metric, `metric_name` the metric with its filter, `lower_is_better` from
  `higher_is_better` (false when the source does not say), `score_type` `continuous`, bounds 0-1 for a
  `proportion` and 0-100 for a `percent` (null, i.e. not provided, otherwise);
- `score_details`: the value, and its standard error with the sample count where known;
- `source_data`: the Hugging Face dataset, the URL, or `other` with the dataset's name;
- generation settings where the run states them.

`retrieved_timestamp` is the run's own date (Unix seconds of the rows' `retrieved_at`, else the run's start,
else its date; `0` when the source gives none), never the export's wall time, so the same table exports
to the same bytes. Rows without a finite value are counted, not exported (the schema needs a score).
Instance-level records are not exported yet: they need the full input text, which is withheld where a
log's license does not allow it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from pipelines.atomic import atomic_write_text

SCHEMA_VERSION = "0.3.0"
_ORGANISATION = {
    "epoch": ("Epoch AI", "https://epoch.ai", "third_party"),
    "helm": ("Stanford CRFM (HELM)", "https://crfm.stanford.edu/helm/", "third_party"),
    "paper_table": ("the paper's authors", None, "other"),
}
_HF_REPO = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class ExportSummary:
    documents: int = 0
    results: int = 0
    skipped_without_value: int = 0
    files: list[Path] = field(default_factory=list)


def _rows_by_run(paths: Sequence[Path]) -> Iterator[list[dict[str, Any]]]:
    """All rows of one run at a time (the curated table is sorted by run_id), streamed."""
    current: list[dict[str, Any]] = []
    for path in paths:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=4096):
            for row in batch.to_pylist():
                if current and row["run_id"] != current[0]["run_id"]:
                    yield current
                    current = []
                current.append(row)
    if current:
        yield current


def export_every_eval_ever(results: Sequence[Path], out_dir: Path) -> ExportSummary:
    """Write one Every Eval Ever document per run and model of the `results` Parquet files (sorted by run)."""
    summary = ExportSummary()
    for rows in _rows_by_run(results):
        by_model: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            if row["value"] is None:
                summary.skipped_without_value += 1
                continue
            by_model.setdefault(row["model_source_name"], []).append(row)
        for model, model_rows in sorted(by_model.items()):
            document = run_document(model_rows)
            digest = hashlib.sha256(f"{model_rows[0]['run_id']}\n{model}".encode()).hexdigest()[:10]
            name = _UNSAFE.sub("_", model_rows[0]["run_id"])[:80]
            path = out_dir / _UNSAFE.sub("_", model_rows[0]["framework"]) / f"{name}--{digest}.json"
            atomic_write_text(path, json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
            summary.documents += 1
            summary.results += len(document["evaluation_results"])
            summary.files.append(path)
    return summary


def _timestamp(rows: Sequence[dict[str, Any]]) -> str:
    for column in ("retrieved_at", "started_at", "completed_at"):
        values = [r[column] for r in rows if r.get(column) is not None]
        if values:
            return str(int(max(values).timestamp()))
    dates = [r["run_date"] for r in rows if r.get("run_date") is not None]
    if dates:
        day: date = max(dates)
        return str(int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()))
    return "0"


def _details(values: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in sorted(values.items()) if v is not None and v != ""}


def run_document(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    first = rows[0]
    model_id = first["model_id"] or first["model_source_name"]
    if model_id.startswith("hf:"):
        model_id = model_id[3:]
    retrieved = _timestamp(rows)
    organisation, url, relationship = _ORGANISATION.get(first["framework"], ("unknown", None, "other"))
    source_metadata: dict[str, Any] = {
        "source_name": first["source"],
        "source_type": "documentation" if first["status"] == "reported" else "evaluation_run",
        "source_organization_name": organisation,
        "evaluator_relationship": relationship,
        "additional_details": _details(
            {
                "research_commons_run_id": first["run_id"],
                "source_run_id": first.get("source_run_id"),
                "status": first["status"],
                "license": first["license"],
                "source_url": first.get("source_url"),
                "raw_sha256": first["raw_sha256"],
            }
        ),
    }
    if url:
        source_metadata["source_organization_url"] = url
    document: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "evaluation_id": f"{first['task']}/{model_id}/{retrieved}",
        "retrieved_timestamp": retrieved,
        "source_metadata": source_metadata,
        "eval_library": {"name": first["framework"], "version": first.get("framework_version") or "unknown"},
        "model_info": {
            "name": first["model_source_name"],
            "id": model_id,
            "additional_details": {
                "deployment_type": "unknown",
                "model_availability": "unknown",
                **_details({"model_args": first.get("model_args"), "provider": first.get("model_provider")}),
            },
        },
        "evaluation_results": [_result(r) for r in sorted(rows, key=lambda r: r["result_id"])],
    }
    if first.get("started_at") is not None:
        document["evaluation_timestamp"] = first["started_at"].isoformat()
    elif first.get("run_date") is not None:
        document["evaluation_timestamp"] = first["run_date"].isoformat()
    if first.get("model_provider"):
        document["model_info"]["inference_platform"] = first["model_provider"]
    return document


def _source_data(row: dict[str, Any]) -> dict[str, Any]:
    name = row.get("dataset_name") or row.get("benchmark") or row["task"]
    location = row.get("dataset_location") or ""
    if location.startswith(("http://", "https://")):
        return {"dataset_name": name, "source_type": "url", "url": [location]}
    if _HF_REPO.match(location):
        data: dict[str, Any] = {"dataset_name": name, "source_type": "hf_dataset", "hf_repo": location}
        if row.get("n_samples_total") is not None:
            data["samples_number"] = int(row["n_samples_total"])
        return data
    return {
        "dataset_name": name,
        "source_type": "other",
        "additional_details": _details(
            {"location": location or None, "revision": row.get("dataset_revision")}
        ),
    }


def _result(row: dict[str, Any]) -> dict[str, Any]:
    metric_name = row["metric"] + (f" ({row['metric_filter']})" if row["metric_filter"] else "")
    metric_config: dict[str, Any] = {
        "metric_id": row["metric"] or "value",
        "metric_name": metric_name or "value",
        "lower_is_better": row["higher_is_better"] is False,
        "score_type": "continuous",
        # The schema asks continuous metrics for bounds; null says "not provided" where the unit is unknown.
        "min_score": None,
        "max_score": None,
        "additional_details": _details(
            {"scorer": row["scorer"], "filter": row["metric_filter"], "evidence": row.get("evidence")}
        ),
    }
    if row.get("unit") == "proportion":
        metric_config.update(min_score=0, max_score=1, metric_unit="proportion")
    elif row.get("unit") == "percent":
        metric_config.update(min_score=0, max_score=100, metric_unit="percent")
    score: dict[str, Any] = {"score": row["value"]}
    uncertainty: dict[str, Any] = {}
    if row.get("stderr") is not None:
        uncertainty["standard_error"] = {"value": row["stderr"]}
    if row.get("n_samples") is not None:
        uncertainty["num_samples"] = int(row["n_samples"])
    if uncertainty:
        score["uncertainty"] = uncertainty
    details = _details({"value_text": row.get("value_text"), "confidence": row.get("confidence")})
    if details:
        score["details"] = details
    result: dict[str, Any] = {
        "evaluation_result_id": row["result_id"],
        "evaluation_name": row["task"] + (f" / {row['subtask']}" if row["subtask"] else ""),
        "source_data": _source_data(row),
        "metric_config": metric_config,
        "score_details": score,
    }
    if row.get("started_at") is not None:
        result["evaluation_timestamp"] = row["started_at"].isoformat()
    args = {k: row[k] for k in ("temperature", "top_p", "top_k") if row.get(k) is not None}
    if row.get("max_tokens") is not None and row["max_tokens"] >= 1:
        args["max_tokens"] = int(row["max_tokens"])
    generation: dict[str, Any] = {}
    if args:
        generation["generation_args"] = args
    extra = _details({"solver": row.get("solver"), "n_shot": row.get("n_shot"), "seed": row.get("seed")})
    if extra:
        generation["additional_details"] = extra
    if generation:
        result["generation_config"] = generation
    return result
