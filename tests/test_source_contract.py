"""The contract every registered source gets for free: built-in and contributed sources alike.

A failure message says what to fix. Live fetching is checked against a local server on 127.0.0.1 that
answers with the source's recorded response, so no test touches the network.
"""

from __future__ import annotations

import pytest

from pipelines.sources import contract
from pipelines.sources.base import Source
from pipelines.sources.registry import all_sources

SOURCES = list(all_sources().values())
IDS = [s.name for s in SOURCES]


def _fixture_files(source: Source) -> list:
    files, absent = contract.fixture_paths(source)
    if absent and not files:
        pytest.skip(
            f"{source.name}: fixture folders {absent} are absent (../shared/fixtures is read by path)"
        )
    return files


def _explain(source: Source, problems: list[str]) -> str:
    return f"source {source.name!r} breaks the source contract (see CONTRIBUTING.md):\n  - " + "\n  - ".join(
        problems
    )


@pytest.mark.parametrize("source", SOURCES, ids=IDS)
def test_declares_what_reviewers_need(source: Source) -> None:
    problems = contract.check_declaration(source)
    assert not problems, _explain(source, problems)


@pytest.mark.parametrize("source", SOURCES, ids=IDS)
def test_fixtures_parse_offline_into_valid_deterministic_rows(source: Source) -> None:
    files = _fixture_files(source)
    assert files, _explain(source, [f"no fixture files in {source.fixtures}: record real input there"])
    problems = [p for path in files for p in contract.check_fixture(source, path)]
    assert not problems, _explain(source, problems)


@pytest.mark.parametrize("source", SOURCES, ids=IDS)
def test_bad_input_is_a_clear_error(source: Source) -> None:
    files = _fixture_files(source)
    problems = [p for path in files[:3] for p in contract.check_bad_input(source, path)]
    assert not problems, _explain(source, problems)


@pytest.mark.parametrize("source", [s for s in SOURCES if s.live], ids=[s.name for s in SOURCES if s.live])
def test_live_fetching_respects_the_declared_rate_limit(source: Source) -> None:
    _fixture_files(source)
    problems = contract.check_live_rate_limit(source)
    assert not problems, _explain(source, problems)
