"""Download a published snapshot (all of it, or some tables) from a Hugging Face dataset repo."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

from huggingface_hub import snapshot_download
from huggingface_hub.errors import HfHubHTTPError

REPO_TYPE = "dataset"
# Always downloaded with a table subset: what a user needs to read and query the tables.
METADATA_FILES = ("manifest.json", "README.md", "views.sql")
_TABLE_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


class DownloadError(RuntimeError):
    """The snapshot could not be downloaded; the message names the repo and revision."""


def table_patterns(tables: Sequence[str] | None) -> list[str] | None:
    """``allow_patterns`` for ``snapshot_download``: None (everything) or the tables plus metadata."""
    if tables is None:
        return None
    bad = [t for t in tables if not _TABLE_NAME.match(t)]
    if bad:
        raise DownloadError(f"not table names: {', '.join(bad)}")
    return [f"data/{t}/*" for t in tables] + list(METADATA_FILES)


def download_snapshot(
    repo_id: str,
    revision: str = "main",
    tables: Sequence[str] | None = None,
    *,
    local_dir: Path,
    endpoint: str | None = None,
    token: str | None = None,
    cache_dir: Path | None = None,
) -> Path:
    """Download ``repo_id`` at ``revision`` (a snapshot tag such as ``v2026.11.23``, or a branch) into
    ``local_dir``, with the client's progress bars. With ``tables``, only ``data/<table>/*`` plus
    manifest.json, README.md and views.sql; a table the snapshot does not have is an error."""
    patterns = table_patterns(tables)
    try:
        path = Path(
            snapshot_download(
                repo_id,
                repo_type=REPO_TYPE,
                revision=revision,
                allow_patterns=patterns,
                local_dir=local_dir,
                endpoint=endpoint,
                token=token,
                cache_dir=cache_dir,
            )
        )
    except (HfHubHTTPError, OSError, ValueError) as exc:
        detail = " ".join(str(exc).split())
        if token:
            detail = detail.replace(token, "***")
        raise DownloadError(f"downloading {repo_id}@{revision} failed: {detail}") from exc
    if tables:
        manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
        missing = [t for t in tables if t not in manifest.get("tables", {})]
        if missing:
            raise DownloadError(
                f"{repo_id}@{revision} has no table {', '.join(missing)}; "
                f"it has {', '.join(sorted(manifest.get('tables', {})))}"
            )
    return path
