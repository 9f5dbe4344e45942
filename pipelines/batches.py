"""Harvest partitions' specs and live watermarks, stored as JSON under the data root."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

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


def snapshot_inputs(
    root: DataRoot, sources: Sequence[str], partitions: Mapping[str, Sequence[str]]
) -> tuple[list[dict[str, Any]], dict[str, dict[str, str]]]:
    """What a snapshot's manifest records of its inputs: each current partition's batch (file names only,
    so no local absolute path leaks into a release) and each source's watermarks."""
    inputs: list[dict[str, Any]] = []
    watermarks: dict[str, dict[str, str]] = {}
    for source in sources:
        for key in sorted(partitions.get(source, ())):
            batch = load_batch(root, source, key)
            inputs.append(
                {
                    "source": source,
                    "partition": key,
                    "kind": batch.kind,
                    "inputs": [Path(p).name for p in batch.paths],
                    "options": dict(batch.options),
                }
            )
        marks = load_watermarks(root, source)
        if marks:
            watermarks[source] = marks
    return inputs, watermarks
