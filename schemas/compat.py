"""Schema compatibility against the last published contract (schemas/published.json).

Removing or retyping a column (or a table) is breaking and needs a major ``SCHEMA_VERSION`` bump;
adding one needs at least a minor bump. ``commons schema-lock`` records the current schemas once the
version says so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from schemas.registry import SCHEMA_VERSION, TABLES

LOCK_PATH = Path(__file__).with_name("published.json")


@dataclass
class SchemaChanges:
    breaking: list[str] = field(default_factory=list)
    additive: list[str] = field(default_factory=list)


def current_contract() -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "tables": {name: {f.name: str(f.type) for f in spec.schema} for name, spec in TABLES.items()},
    }


def load_lock(path: Path = LOCK_PATH) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def write_lock(path: Path = LOCK_PATH) -> None:
    path.write_text(json.dumps(current_contract(), indent=2, sort_keys=True) + "\n", encoding="utf-8")


def diff_contracts(old: Mapping[str, Any], new: Mapping[str, Any]) -> SchemaChanges:
    changes = SchemaChanges()
    for table, columns in old["tables"].items():
        if table not in new["tables"]:
            changes.breaking.append(f"table {table} removed")
            continue
        for column, type_ in columns.items():
            now = new["tables"][table].get(column)
            if now is None:
                changes.breaking.append(f"{table}.{column} removed")
            elif now != type_:
                changes.breaking.append(f"{table}.{column} retyped from {type_} to {now}")
        for column in new["tables"][table].keys() - columns.keys():
            changes.additive.append(f"{table}.{column} added")
    for table in new["tables"].keys() - old["tables"].keys():
        changes.additive.append(f"table {table} added")
    return changes


def parse_semver(version: str) -> tuple[int, int, int]:
    major, minor, patch = (int(x) for x in version.split("."))
    return major, minor, patch


def compatibility_problems(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """What is wrong with publishing ``new`` after ``old``: empty when the version bump matches the change."""
    changes = diff_contracts(old, new)
    was, now = parse_semver(old["schema_version"]), parse_semver(new["schema_version"])
    problems = []
    if changes.breaking and now[0] <= was[0]:
        problems.append(
            f"breaking schema change ({'; '.join(sorted(changes.breaking))}) needs a major SCHEMA_VERSION bump "
            f"(now {new['schema_version']}, published {old['schema_version']})"
        )
    elif changes.additive and not changes.breaking and now[:2] <= was[:2]:
        problems.append(
            f"schema additions ({'; '.join(sorted(changes.additive))}) need at least a minor SCHEMA_VERSION bump "
            f"(now {new['schema_version']}, published {old['schema_version']})"
        )
    if now < was:
        problems.append(
            f"SCHEMA_VERSION {new['schema_version']} is older than published {old['schema_version']}"
        )
    return problems
