"""Shared test helpers: the real recorded fixtures in ../shared/fixtures, read by path, never copied."""

from __future__ import annotations

from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = PROJECT_ROOT.parent / "shared" / "fixtures"


def fixture_dir(name: str) -> Path:
    """A folder of ../shared/fixtures, or skip the test saying why."""
    path = FIXTURES / name
    if not path.is_dir():
        pytest.skip(
            f"{path} is absent: these tests read the real recorded fixtures in ../shared/fixtures by path"
        )
    return path


@pytest.fixture
def arxiv_fixtures() -> Path:
    return fixture_dir("arxiv_oai")


class FakeTime:
    """An injected clock for PoliteFetcher: sleeping records the wait and advances time at once."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
