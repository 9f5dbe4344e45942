"""Harvest partitions' specs and live watermarks, stored as JSON under the data root."""

from __future__ import annotations

import json
from pathlib import Path

from pipelines.atomic import atomic_write_text
from pipelines.settings import DataRoot
from pipelines.sources.base import BatchSpec


def _batch_path(root: DataRoot, source: str, key: str) -> Path:
    return root.batches / source / f"{key}.json"


def save_batch(root: DataRoot, batch: BatchSpec) -> None:
    atomic_write_text(
        _batch_path(root, batch.source, batch.key), json.dumps(batch.to_json(), indent=2, sort_keys=True)
    )


def load_batch(root: DataRoot, source: str, key: str) -> BatchSpec:
    path = _batch_path(root, source, key)
    try:
        return BatchSpec.from_json(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise FileNotFoundError(
            f"partition {key!r} of source {source!r} has no batch spec at {path}; add it with `commons build`"
        ) from None


def load_watermarks(root: DataRoot, source: str) -> dict[str, str]:
    path = root.watermarks / f"{source}.json"
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in data.items()}


def save_watermark(root: DataRoot, source: str, key: str, value: str) -> None:
    marks = load_watermarks(root, source)
    marks[key] = value
    atomic_write_text(root.watermarks / f"{source}.json", json.dumps(marks, indent=2, sort_keys=True))
