"""Write a versioned snapshot: data/<table>/*.parquet, manifest.json, views.sql, README.md. All or nothing."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from pipelines.atomic import atomic_directory
from pipelines.settings import PROJECT_ROOT, pipeline_version
from pipelines.snapshot.card import render_card
from schemas import SCHEMA_VERSION, table_spec

MANIFEST = "manifest.json"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def next_version(out_root: Path, today: datetime | None = None) -> str:
    """CalVer ``vYYYY.MM.DD``; a second snapshot on one day gets ``.2``, then ``.3``."""
    day = (today or datetime.now(UTC)).strftime("v%Y.%m.%d")
    if not (out_root / day).exists():
        return day
    n = 2
    while (out_root / f"{day}.{n}").exists():
        n += 1
    return f"{day}.{n}"


def render_views_sql(version: str, tables: Sequence[str]) -> str:
    lines = [
        f"-- Research Commons {version}: one DuckDB view per table.",
        "-- Local: run `duckdb -init views.sql` inside this folder (or `commons query`, which sets file_search_path).",
        "-- Hub:   replace 'data/' with 'hf://datasets/<repo>@<version>/data/' (needs DuckDB's httpfs extension).",
    ]
    for name in tables:
        lines.append(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM read_parquet('data/{name}/*.parquet');")
    return "\n".join(lines) + "\n"


def latest_snapshot(out_root: Path) -> Path | None:
    """The newest complete snapshot under ``out_root`` (by its manifest's version), if any."""
    candidates = [p for p in out_root.glob("v*") if (p / MANIFEST).is_file() and not p.name.startswith(".")]
    if not candidates:
        return None

    def order(p: Path) -> tuple[int, ...]:
        parts = [int(x) if x.isdigit() else 0 for x in p.name[1:].split(".")]
        return (*parts[:3], parts[3] if len(parts) > 3 else 1)

    return max(candidates, key=order)


def write_snapshot(
    out_root: Path,
    tables: Mapping[str, Path],
    inputs: Sequence[Mapping[str, Any]] = (),
    watermarks: Mapping[str, Any] | None = None,
    version: str | None = None,
    card_template: Path | None = None,
) -> Path:
    """Copy curated tables into ``out_root/<version>/`` with manifest, views.sql and README.md."""
    out_root.mkdir(parents=True, exist_ok=True)
    version = version or next_version(out_root)
    target = out_root / version
    template = (card_template or PROJECT_ROOT / "DATACARD.md").read_text(encoding="utf-8")
    with atomic_directory(target) as tmp:
        manifest_tables: dict[str, Any] = {}
        for name, src in tables.items():
            spec = table_spec(name)
            rel = Path("data") / name / f"{name}-00000.parquet"
            dst = tmp / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
            rows = pq.ParquetFile(dst).metadata.num_rows
            manifest_tables[name] = {
                "rows": rows,
                "primary_key": list(spec.primary_key),
                "sort_key": list(spec.sort_key),
                "columns": {f.name: str(f.type) for f in spec.schema},
                "files": [
                    {
                        "path": rel.as_posix(),
                        "sha256": file_sha256(dst),
                        "bytes": dst.stat().st_size,
                        "rows": rows,
                    }
                ],
            }
        manifest = {
            "version": version,
            "schema_version": SCHEMA_VERSION,
            "pipeline_version": pipeline_version(),
            "tables": manifest_tables,
            "inputs": list(inputs),
            "watermarks": dict(watermarks or {}),
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        (tmp / "views.sql").write_text(render_views_sql(version, list(tables)), encoding="utf-8")
        (tmp / "README.md").write_text(render_card(template, manifest), encoding="utf-8")
    return target
