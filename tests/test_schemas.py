"""The published contract: schemas documented, DATACARD.md in step, and no silent breaking change."""

from __future__ import annotations

import copy

import pytest

from pipelines.settings import PROJECT_ROOT
from pipelines.snapshot.card import render_column_docs, with_generated_columns
from schemas import TABLES
from schemas.columns import description
from schemas.compat import compatibility_problems, current_contract, load_lock


@pytest.mark.parametrize("table", list(TABLES))
def test_every_column_has_a_description(table: str) -> None:
    undocumented = [f.name for f in TABLES[table].schema if len(description(f)) < 10]
    assert not undocumented, f"{table}: describe these columns in schemas/: {undocumented}"


@pytest.mark.parametrize("table", list(TABLES))
def test_keys_are_columns(table: str) -> None:
    spec = TABLES[table]
    assert set(spec.primary_key) <= set(spec.columns) and set(spec.sort_key) <= set(spec.columns)
    assert all(not spec.schema.field(k).nullable for k in spec.primary_key)


def test_datacard_column_docs_match_schemas() -> None:
    card = (PROJECT_ROOT / "DATACARD.md").read_text(encoding="utf-8")
    assert with_generated_columns(card) == card, (
        "DATACARD.md's column docs differ from schemas/: run `make card`"
    )
    for name in TABLES:
        assert f"### `{name}`" in render_column_docs()


def test_schema_changes_match_schema_version() -> None:
    problems = compatibility_problems(load_lock(), current_contract())
    assert not problems, "\n".join(problems)
    assert load_lock() == current_contract(), (
        "schemas/ changed compatibly with SCHEMA_VERSION; record it with `make schema-lock`"
    )


def test_compatibility_rules() -> None:
    old = current_contract()
    removed = copy.deepcopy(old)
    removed["tables"]["papers"].pop("title")
    assert compatibility_problems(old, removed)
    removed["schema_version"] = "1.0.0"
    assert not compatibility_problems(old, removed)
    retyped = copy.deepcopy(old)
    retyped["tables"]["papers"]["latest_version"] = "int64"
    assert any("retyped" in p for p in compatibility_problems(old, retyped))
    added = copy.deepcopy(old)
    added["tables"]["papers"]["not_yet_a_column"] = "string"
    assert any("minor" in p for p in compatibility_problems(old, added))
    major, minor, _ = (int(x) for x in old["schema_version"].split("."))
    added["schema_version"] = f"{major}.{minor + 1}.0"
    assert not compatibility_problems(old, added)
