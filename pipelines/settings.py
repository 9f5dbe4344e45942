"""Where state lives: one data root holds the raw store, staging tables, the Dagster instance and snapshots."""

from __future__ import annotations

import functools
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _default_data_root() -> Path:
    # In a checkout (editable install) state goes to data/ in the project; installed elsewhere, to ./data.
    if (PROJECT_ROOT / "pyproject.toml").exists():
        return PROJECT_ROOT / "data"
    return Path.cwd() / "data"


@dataclass(frozen=True)
class DataRoot:
    """All state of one environment. Two data roots share nothing."""

    path: Path

    @classmethod
    def from_env(cls) -> DataRoot:
        home = os.environ.get("COMMONS_HOME")
        return cls(Path(home).expanduser().resolve() if home else _default_data_root())

    @property
    def raw(self) -> Path:
        return self.path / "raw"

    @property
    def staging(self) -> Path:
        """Per-source, per-partition Parquet written by harvest assets."""
        return self.path / "staging"

    @property
    def tables(self) -> Path:
        """Curated tables, one folder per table, that snapshots copy."""
        return self.path / "tables"

    @property
    def batches(self) -> Path:
        """One JSON spec per harvest partition: what that partition reads."""
        return self.path / "batches"

    @property
    def watermarks(self) -> Path:
        return self.path / "watermarks"

    @property
    def dagster_home(self) -> Path:
        return self.path / "dagster"

    @property
    def snapshots(self) -> Path:
        return self.path / "snapshots"

    def ensure(self) -> DataRoot:
        for p in (self.raw, self.staging, self.tables, self.batches, self.watermarks, self.dagster_home):
            p.mkdir(parents=True, exist_ok=True)
        return self


@functools.cache
def pipeline_version() -> str:
    """`git describe` of the code, so every row says which pipeline built it."""
    env = os.environ.get("COMMONS_PIPELINE_VERSION")
    if env:
        return env
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--tags", "--dirty"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("research-commons")
        except PackageNotFoundError:
            return "unknown"
