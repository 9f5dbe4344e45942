"""``commons new-source``: the skeleton it writes imports, registers, and meets the contract once real input is recorded."""

from __future__ import annotations

import csv
import gzip
import importlib.util
import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.sources import contract
from pipelines.sources.registry import all_sources, get_source, unregister
from pipelines.sources.scaffold import scaffold_source
from tests.conftest import fixture_dir


@pytest.fixture
def scaffolded(tmp_path: Path) -> Iterator[Path]:
    scaffold_source("demo_blog", tmp_path)
    module_path = tmp_path / "pipelines" / "sources" / "demo_blog.py"
    spec = importlib.util.spec_from_file_location("scaffolded_demo_blog", module_path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield tmp_path
    unregister("demo_blog")
    sys.modules.pop(spec.name, None)


def test_writes_module_tests_and_fixture_readme(tmp_path: Path) -> None:
    written = scaffold_source("lab_blog", tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in written] == [
        "pipelines/sources/lab_blog.py",
        "tests/test_source_lab_blog.py",
        "tests/fixtures/lab_blog/README.md",
    ]
    assert "class LabBlogSource(Source)" in written[0].read_text()
    assert "What to record" in written[2].read_text()
    with pytest.raises(FileExistsError):
        scaffold_source("lab_blog", tmp_path)
    with pytest.raises(ValueError):
        scaffold_source("Lab Blog", tmp_path)


def test_skeleton_registers_and_says_what_to_fix(scaffolded: Path) -> None:
    assert "demo_blog" in all_sources()
    problems = contract.check_declaration(get_source("demo_blog"))
    assert any("TODO-SPDX-ID" in p for p in problems), problems
    files, _ = contract.fixture_paths(get_source("demo_blog"), scaffolded)
    assert files == [], "the skeleton ships no data: the contributor records real input"


def test_skeleton_meets_the_contract_on_recorded_input(scaffolded: Path) -> None:
    # Input generated from a real recording (the Alignment Forum post index), in the skeleton's JSON Lines shape.
    posts = fixture_dir("alignment_forum") / "alignment-forum-posts.csv.gz"
    reader = csv.DictReader(io.StringIO(gzip.decompress(posts.read_bytes()).decode("utf-8")))
    lines = []
    for row, _ in zip(reader, range(5), strict=False):
        record = {
            "demo_blog_marker": True,
            "id": row["_id"],
            "title": row["title"],
            "abstract": row["summary"],
            "authors": [row["author"]],
            "url": row["pageUrl"],
        }
        lines.append(json.dumps(record))
    folder = scaffolded / "tests" / "fixtures" / "demo_blog"
    (folder / "posts.jsonl").write_text("\n".join(lines) + "\n")
    source = get_source("demo_blog")
    files, _ = contract.fixture_paths(source, scaffolded)
    assert [f.name for f in files] == ["posts.jsonl"]
    assert contract.check_fixture(source, files[0]) == []
    assert contract.check_bad_input(source, files[0]) == []
