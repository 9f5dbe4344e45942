"""Whether a whole release would reproduce the last one: then `commons build` does not launch it.

Every step already skips itself when its inputs are unchanged (pipelines/incremental.py), but launching
the release job still costs a fixed few seconds a step (about 60 steps with the checks). A release is
a function of the staged partitions that currently exist, the batch specs and watermarks, the code, and
the snapshot settings; when none of these changed since a release that wrote a snapshot which is still
there, the build answers with that snapshot and runs nothing.

The code is identified by the bytes of every source file of the project's packages (``CODE_DIRS``), not
by `git describe`: an uncommitted edit changes it too.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pipelines import incremental

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CODE_DIRS = ("pipelines", "assets", "schemas", "commons")
CODE_SUFFIXES = (".py", ".yaml", ".yml", ".sql", ".md", ".json")
# Settings from the environment that change what a release writes.
ENV_SETTINGS = ("COMMONS_HF_REPO", "COMMONS_PIPELINE_VERSION")


def code_fingerprint(project_root: Path = PROJECT_ROOT) -> str:
    """SHA-256 over the relative path and bytes of every source file under ``CODE_DIRS``, sorted."""
    digest = hashlib.sha256()
    for folder in CODE_DIRS:
        base = project_root / folder
        if not base.is_dir():
            continue
        for path in sorted(p for p in base.rglob("*") if p.suffix in CODE_SUFFIXES and p.is_file()):
            if "__pycache__" in path.parts:
                continue
            digest.update(str(path.relative_to(project_root)).encode("utf-8") + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def release_fingerprint(
    staged: Sequence[Path], state_files: Iterable[Path], settings: Mapping[str, Any]
) -> str:
    """The fingerprint of a release's inputs: the staged files (by identity), the batch specs and
    watermarks (by content: every build rewrites them, with the same bytes when nothing changed), the
    code and the settings."""
    env = {name: os.environ.get(name) for name in ENV_SETTINGS}
    state = {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(state_files)}
    versions = {"code": code_fingerprint(), "settings": dict(settings), "env": env, "state": state}
    return incremental.fingerprint(sorted(staged), versions)


def state_path(data_root_tables: Path, out_root: Path) -> Path:
    digest = hashlib.sha256(str(out_root.resolve()).encode("utf-8")).hexdigest()[:16]
    return data_root_tables / "_releases" / f"build-{digest}.json"


def unchanged_release(state: Path, fp: str) -> Path | None:
    """The snapshot of the last release whose inputs had fingerprint ``fp``, if it still exists."""
    recorded = incremental.load(state, sidecar=state)
    if not recorded or recorded.get("fingerprint") != fp:
        return None
    snapshot = Path(str(recorded.get("data", {}).get("snapshot", "")))
    return snapshot if snapshot.is_dir() and (snapshot / "manifest.json").is_file() else None


def record_release(state: Path, fp: str, inputs: Sequence[Path], snapshot: Path) -> None:
    state.parent.mkdir(parents=True, exist_ok=True)
    incremental.record(
        snapshot / "manifest.json", fp, inputs, data={"snapshot": str(snapshot)}, sidecar=state
    )
