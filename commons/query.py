"""``commons query``: DuckDB over a snapshot, its tables by name through views.sql."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from pipelines.snapshot.writer import latest_snapshot


def open_snapshot(snapshot: Path) -> duckdb.DuckDBPyConnection:
    views = snapshot / "views.sql"
    if not views.is_file():
        raise FileNotFoundError(f"{snapshot} is not a snapshot: it has no views.sql")
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET file_search_path = ?", [str(snapshot.resolve())])
    con.execute(views.read_text(encoding="utf-8"))
    return con


def open_remote(repo_version: str) -> duckdb.DuckDBPyConnection:
    """Views over a published snapshot on the Hub (``ORG/NAME@vX``), read through DuckDB's httpfs."""
    from pipelines.snapshot.writer import hub_data_url, render_views_sql
    from schemas import TABLES

    repo, sep, version = repo_version.partition("@")
    if not sep or repo.count("/") != 1 or not version:
        raise ValueError(
            f"--remote {repo_version!r}: write ORG/NAME@VERSION, e.g. org/research-commons@v2026.11.24"
        )
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(render_views_sql(version, list(TABLES), hub_data_url(repo, version)))
    return con


def find_snapshot(explicit: Path | None, snapshots_root: Path) -> Path:
    if explicit is not None:
        return explicit
    found = latest_snapshot(snapshots_root)
    if found is None:
        raise FileNotFoundError(f"no snapshot under {snapshots_root}; run `commons build` or pass --snapshot")
    return found


def _plain(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _cell(value: Any, width: int) -> str:
    text = (
        ""
        if value is None
        else (json.dumps(_plain(value)) if isinstance(value, (list, dict)) else str(_plain(value)))
    )
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def format_result(columns: list[str], rows: list[tuple[Any, ...]], fmt: str, width: int = 60) -> str:
    if fmt == "json":
        return json.dumps(
            [dict(zip(columns, map(_plain, r), strict=True)) for r in rows], indent=2, ensure_ascii=False
        )
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        for r in rows:
            writer.writerow([json.dumps(_plain(v)) if isinstance(v, (list, dict)) else _plain(v) for v in r])
        return buf.getvalue().rstrip("\n")
    cells = [[_cell(v, width) for v in r] for r in rows]
    widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(columns)]
    lines = [
        " | ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)),
        "-+-".join("-" * w for w in widths),
    ]
    lines += [" | ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    lines.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(lines)


def run_query(
    snapshot: Path | None, sql: str, remote: str | None = None
) -> tuple[list[str], list[tuple[Any, ...]]]:
    con = open_remote(remote) if remote else open_snapshot(snapshot) if snapshot else None
    if con is None:
        raise FileNotFoundError("no snapshot to query")
    try:
        cur = con.execute(sql)
        columns = [d[0] for d in cur.description] if cur.description else []
        return columns, cur.fetchall()
    finally:
        con.close()
