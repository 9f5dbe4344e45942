"""The Dagster instance of a data root: ``<data root>/dagster`` with the project's dagster.yaml."""

from __future__ import annotations

import os
import shutil

import dagster as dg

from pipelines.settings import PROJECT_ROOT, DataRoot


def use_data_root(root: DataRoot) -> dg.DagsterInstance:
    """Point DAGSTER_HOME at the data root's instance (creating it from dagster.yaml) and open it."""
    root.ensure()
    home = root.dagster_home
    template = PROJECT_ROOT / "dagster.yaml"
    target = home / "dagster.yaml"
    if template.exists() and (not target.exists() or target.read_bytes() != template.read_bytes()):
        shutil.copyfile(template, target)
    os.environ["DAGSTER_HOME"] = str(home)
    os.environ["COMMONS_HOME"] = str(root.path)
    return dg.DagsterInstance.get()
