"""Write a versioned snapshot: data/<table>/*.parquet, manifest.json, views.sql, README.md. All or nothing."""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from pipelines import incremental
from pipelines.atomic import atomic_directory
from pipelines.curate.combine import connect
from pipelines.curate.works import released_texts_sql
from pipelines.settings import PROJECT_ROOT, pipeline_version
from pipelines.snapshot.card import render_card
from pipelines.snapshot.changelog import render_changelog, render_entry
from pipelines.snapshot.croissant import render_croissant
from pipelines.snapshot.diff import TableDiff, diff_table
from pipelines.snapshot.gates import GatePolicy, ReleaseGateError, evaluate_gates
from pipelines.snapshot.parquet import ParquetTableWriter
from schemas import SCHEMA_VERSION, TableSpec, table_spec
from schemas.compat import current_contract

MANIFEST = "manifest.json"
# Files on the Hub should be 100-500 MB: large enough to keep file counts low, small enough to stream.
MAX_FILE_BYTES = 400 * 1024 * 1024


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


def hub_data_url(repo_id: str, version: str) -> str:
    """Where a published snapshot's data lives for DuckDB (httpfs): the version tag pins the files."""
    return f"hf://datasets/{repo_id}@{version}/data/"


def render_views_sql(version: str, tables: Sequence[str], data_url: str = "data/") -> str:
    where = "the Hugging Face Hub" if data_url.startswith("hf://") else "this folder"
    lines = [f"-- Research Commons {version}: one DuckDB view per table, over the files in {where}."]
    if data_url.startswith("hf://"):
        lines.append("-- Needs DuckDB's httpfs extension (INSTALL httpfs; LOAD httpfs; once online).")
        lines.append("INSTALL httpfs;")
        lines.append("LOAD httpfs;")
    else:
        lines.append(
            "-- Run `duckdb -init views.sql` inside this folder (or `commons query`, which sets file_search_path)."
        )
    for name in tables:
        lines.append(
            # Quoted: `references` is an SQL keyword (query it as "references").
            f"CREATE OR REPLACE VIEW \"{name}\" AS SELECT * FROM read_parquet('{data_url}{name}/*.parquet');"
        )
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


def shard_parquet(src: Path, out_dir: Path, name: str, spec: TableSpec, max_file_bytes: int) -> list[Path]:
    """Copy a table into ``<name>-NNNNN.parquet`` files of at most about ``max_file_bytes``, split at row groups.

    A table that fits is copied byte for byte; a larger one is rewritten a row group at a time (same writer
    settings, same order), so the shards are deterministic too.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    if src.stat().st_size <= max_file_bytes:
        dst = out_dir / f"{name}-00000.parquet"
        shutil.copyfile(src, dst)
        return [dst]
    source = pq.ParquetFile(src)
    shards: list[Path] = []
    writer: ParquetTableWriter | None = None
    written = 0
    for i in range(source.metadata.num_row_groups):
        group = source.metadata.row_group(i)
        size = sum(group.column(c).total_compressed_size for c in range(group.num_columns))
        if writer is None or (written and written + size > max_file_bytes):
            if writer is not None:
                writer.close()
            shards.append(out_dir / f"{name}-{len(shards):05d}.parquet")
            writer = ParquetTableWriter(shards[-1], spec, row_group_bytes=1 << 62)
            written = 0
        for batch in source.read_row_group(i).combine_chunks().to_batches():
            writer.add_batch(batch)
        writer.flush_row_group()
        written += size
    if writer is not None:
        writer.close()
    return shards


def table_counts(path: Path) -> dict[str, Any]:
    """Rows of a curated table, and rows per source where the table has a ``source`` column."""
    rows = pq.ParquetFile(path).metadata.num_rows
    out: dict[str, Any] = {"rows": rows}
    if "source" in pq.read_schema(path).names:
        con = connect()
        try:
            out["sources"] = dict(
                con.execute(
                    f"SELECT source, count(*) FROM read_parquet('{path}') GROUP BY 1 ORDER BY 1"
                ).fetchall()
            )
        finally:
            con.close()
    return out


def read_manifest(snapshot: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((snapshot / MANIFEST).read_text(encoding="utf-8"))
    return data


def release_tables(tables: Mapping[str, Path], scratch: Path) -> dict[str, Path]:
    """The files a release publishes: the curated tables, with full text only where its license allows."""
    released = dict(tables)
    if "paper_texts" in tables and "papers" in tables:
        gated = scratch / "paper_texts.parquet"
        spec = table_spec("paper_texts")
        con = connect()
        try:
            reader = con.sql(released_texts_sql(tables["paper_texts"], tables["papers"])).to_arrow_reader(
                8192
            )
            with ParquetTableWriter(gated, spec) as writer:
                for batch in reader:
                    writer.add_batch(batch)
        finally:
            con.close()
        released["paper_texts"] = gated
    return released


def write_snapshot(
    out_root: Path,
    tables: Mapping[str, Path],
    inputs: Sequence[Mapping[str, Any]] = (),
    watermarks: Mapping[str, Any] | None = None,
    version: str | None = None,
    card_template: Path | None = None,
    gate_policy: GatePolicy | None = None,
    hub_repo: str | None = None,
    max_file_bytes: int = MAX_FILE_BYTES,
    reuse_state: Path | None = None,
) -> Path:
    """Release curated tables as ``out_root/<version>/``: data, diffs against the previous snapshot,
    manifest, CHANGELOG.md, views.sql, README.md and croissant.json. All or nothing.

    Release gates are evaluated against the previous snapshot first; a blocking gate raises
    ``ReleaseGateError`` and nothing is written.

    ``reuse_state``: a file (outside the snapshots, under the data root) where each release records what
    it was written from. With it and no explicit ``version``, when the latest snapshot under ``out_root``
    was written from the very same table files (unchanged since: path, size, mtime), inputs, watermarks,
    settings, card template, schema and pipeline version, no new version is written and the latest
    snapshot's path is returned (``release_is_current`` says so beforehand). A new version would hold the
    same bytes with empty diffs; not writing it keeps the version history meaningful and costs nothing.
    """
    missing = [f"{name}: {path}" for name, path in tables.items() if not path.is_file()]
    if missing:
        raise FileNotFoundError(f"curated tables missing, no snapshot written: {', '.join(missing)}")
    out_root.mkdir(parents=True, exist_ok=True)
    settings = _release_settings(
        tables, inputs, watermarks, card_template, gate_policy, hub_repo, max_file_bytes
    )
    files = [*tables.values(), card_template or PROJECT_ROOT / "DATACARD.md"]
    found = incremental.identities(files)
    fp = incremental.fingerprint_of(found, settings)
    if reuse_state is not None and version is None:
        current = _current_release(out_root, fp, reuse_state)
        if current is not None:
            return current
    with tempfile.TemporaryDirectory(prefix=".release-", dir=out_root) as scratch:
        target = _write_release(
            out_root,
            release_tables(tables, Path(scratch)),
            inputs,
            watermarks,
            version,
            card_template,
            gate_policy,
            hub_repo,
            max_file_bytes,
        )
    if reuse_state is not None:
        incremental.record(target / MANIFEST, fp, found, versions=settings, sidecar=reuse_state)
    return target


def _release_settings(
    tables: Mapping[str, Path],
    inputs: Sequence[Mapping[str, Any]],
    watermarks: Mapping[str, Any] | None,
    card_template: Path | None,
    gate_policy: GatePolicy | None,
    hub_repo: str | None,
    max_file_bytes: int,
) -> dict[str, Any]:
    policy = gate_policy or GatePolicy()
    return {
        "tables": list(tables),
        "inputs": list(inputs),
        "watermarks": dict(watermarks or {}),
        "card_template": str(card_template or ""),
        "gates": {
            "max_shrink": policy.max_shrink,
            "max_source_shrink": policy.max_source_shrink,
            "max_duplicate_shift": policy.max_duplicate_shift,
            "overrides": dict(policy.overrides),
        },
        "hub_repo": hub_repo or "",
        "max_file_bytes": max_file_bytes,
        "schema": SCHEMA_VERSION,
        "pipeline_version": pipeline_version(),
    }


def _current_release(out_root: Path, fp: str, state: Path) -> Path | None:
    latest = latest_snapshot(out_root)
    if latest is None or not incremental.is_current(latest / MANIFEST, fp, sidecar=state):
        return None
    return latest


def release_is_current(
    out_root: Path, tables: Mapping[str, Path], reuse_state: Path, **options: Any
) -> Path | None:
    """The latest snapshot under ``out_root`` if ``write_snapshot(out_root, tables, reuse_state=...,
    **options)`` would return it without writing, else ``None``."""
    settings = _release_settings(
        tables,
        options.get("inputs", ()),
        options.get("watermarks"),
        options.get("card_template"),
        options.get("gate_policy"),
        options.get("hub_repo"),
        options.get("max_file_bytes", MAX_FILE_BYTES),
    )
    files = [*tables.values(), options.get("card_template") or PROJECT_ROOT / "DATACARD.md"]
    return _current_release(out_root, incremental.fingerprint(files, settings), reuse_state)


def _write_release(
    out_root: Path,
    tables: Mapping[str, Path],
    inputs: Sequence[Mapping[str, Any]],
    watermarks: Mapping[str, Any] | None,
    version: str | None,
    card_template: Path | None,
    gate_policy: GatePolicy | None,
    hub_repo: str | None,
    max_file_bytes: int,
) -> Path:
    version = version or next_version(out_root)
    target = out_root / version
    previous_dir = latest_snapshot(out_root)
    previous = read_manifest(previous_dir) if previous_dir is not None else None
    counts = {name: table_counts(src) for name, src in tables.items()}
    contract = current_contract()
    contract["tables"] = {name: contract["tables"][name] for name in tables}
    gates = evaluate_gates(counts, contract, previous, gate_policy or GatePolicy())
    if any(g.blocks for g in gates):
        raise ReleaseGateError(gates)
    template = (card_template or PROJECT_ROOT / "DATACARD.md").read_text(encoding="utf-8")
    with atomic_directory(target) as tmp:
        manifest_tables: dict[str, Any] = {}
        diffs: dict[str, TableDiff] = {}
        for name, src in tables.items():
            spec = table_spec(name)
            shards = shard_parquet(src, tmp / "data" / name, name, spec, max_file_bytes)
            manifest_tables[name] = {
                **counts[name],
                "primary_key": list(spec.primary_key),
                "sort_key": list(spec.sort_key),
                "columns": {f.name: str(f.type) for f in spec.schema},
                "files": [
                    {
                        "path": shard.relative_to(tmp).as_posix(),
                        "sha256": file_sha256(shard),
                        "bytes": shard.stat().st_size,
                        "rows": pq.ParquetFile(shard).metadata.num_rows,
                    }
                    for shard in shards
                ],
            }
            if previous_dir is not None and previous is not None:
                old_files = [
                    previous_dir / f["path"] for f in previous["tables"].get(name, {}).get("files", [])
                ]
                diffs[name] = diff_table(spec, old_files, shards, tmp / "diff" / name)
                manifest_tables[name]["diff"] = {
                    **diffs[name].counts,
                    "files": [f"diff/{name}/{f}" for f in diffs[name].files.values()],
                }
        manifest: dict[str, Any] = {
            "version": version,
            "previous_version": previous["version"] if previous else None,
            "schema_version": SCHEMA_VERSION,
            "pipeline_version": pipeline_version(),
            "tables": manifest_tables,
            "inputs": list(inputs),
            "watermarks": dict(watermarks or {}),
            "hub_repo": hub_repo,
            "release_gates": [g.to_json() for g in gates],
            "gate_overrides": [
                {"gate": g.gate, "reason": g.reason, "report": g.report} for g in gates if g.overridden
            ],
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        previous_changelog = (
            (previous_dir / "CHANGELOG.md").read_text(encoding="utf-8")
            if previous_dir is not None and (previous_dir / "CHANGELOG.md").exists()
            else None
        )
        entry = render_entry(manifest, previous, diffs, gates)
        (tmp / "CHANGELOG.md").write_text(render_changelog(entry, previous_changelog), encoding="utf-8")
        (tmp / "views.sql").write_text(render_views_sql(version, list(tables)), encoding="utf-8")
        if hub_repo:
            views = render_views_sql(version, list(tables), hub_data_url(hub_repo, version))
            (tmp / "views_hub.sql").write_text(views, encoding="utf-8")
        (tmp / "README.md").write_text(render_card(template, manifest), encoding="utf-8")
        croissant = render_croissant(
            manifest, "An open dataset of AI-safety research material with provenance."
        )
        (tmp / "croissant.json").write_text(json.dumps(croissant, indent=2) + "\n", encoding="utf-8")
    return target


def verify_snapshot(snapshot: Path) -> list[str]:
    """Why ``snapshot`` must not be released: missing or altered files, a blocking release gate. Empty if ready."""
    if not (snapshot / MANIFEST).is_file():
        return [f"{snapshot} has no {MANIFEST}: it is not a complete snapshot"]
    manifest = read_manifest(snapshot)
    problems = []
    for name, table in manifest.get("tables", {}).items():
        for f in table.get("files", []):
            path = snapshot / f["path"]
            if not path.is_file():
                problems.append(f"{name}: {f['path']} is missing")
            elif file_sha256(path) != f["sha256"]:
                problems.append(f"{name}: {f['path']} does not match the sha256 in {MANIFEST}")
    for gate in manifest.get("release_gates", []):
        if not gate.get("passed") and not gate.get("overridden"):
            problems.append(f"release gate {gate.get('gate')} failed: {'; '.join(gate.get('report', []))}")
    return problems
