"""Code links from curated papers (real arXiv records and GROBID full text of the fixtures), the repositories
they point at (a `not_crawled` row until a crawl reaches them), and the official/mentioned role."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from pipelines.curate.code_links import code_links_from_papers, linked_repositories
from pipelines.curate.combine import build_curated_table, connect
from pipelines.curate.linked_repos import links_candidates_sql, repositories_candidates_sql, write_code_links
from pipelines.harvest import harvest_batch
from pipelines.settings import DataRoot
from pipelines.snapshot.parquet import ParquetTableWriter
from pipelines.sources.base import BatchSpec
from pipelines.sources.registry import get_source
from schemas import table_spec
from schemas.links import LINKS_SCHEMA
from tests.conftest import fixture_dir

BASE = {
    "source": "github",
    "source_record_id": "x",
    "raw_sha256": "ab" * 32,
    "parser": "github_api",
    "parser_version": "1",
    "pipeline_version": "test",
    "license": "MIT",
    "license_source": "test",
    "host": "github",
    "text_redistributable": True,
}


@pytest.fixture(scope="module")
def curated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = DataRoot(tmp_path_factory.mktemp("home")).ensure()
    staged: dict[str, list[Path]] = {"papers": [], "paper_texts": [], "references": []}
    for i, (source, folder) in enumerate((("arxiv", "arxiv_oai"), ("grobid_tei", "grobid_tei"))):
        batch = BatchSpec(source, "local", f"b{i}", (str(fixture_dir(folder)),), {"claim": "all"})
        for table, path in harvest_batch(get_source(source), batch, root).outputs.items():
            if table in staged:
                staged[table].append(path)
    out = {t: root.tables / f"{t}.parquet" for t in staged}
    for table, files in staged.items():
        build_curated_table(table_spec(table), files, out[table])
    out["code_links"] = root.tables / "code_links.parquet"
    write_code_links([out["papers"]], [out["paper_texts"]], [out["references"]], out["code_links"])
    return out


def test_links_from_real_abstracts_comments_and_full_text(curated: dict[str, Path]) -> None:
    rows = pq.read_table(curated["code_links"]).to_pylist()
    by_repo = {r["dst_id"]: r for r in rows}
    assert by_repo["github:regan-zhang/hadis"]["evidence"] == "abstract"
    assert by_repo["github:regan-zhang/hadis"]["evidence_text"] == "https://github.com/Regan-Zhang/HaDis"
    assert by_repo["github:ydecastro/super-resolution-testing"]["evidence"] == "comments"
    specter = by_repo["github:allenai/specter"]
    assert specter["evidence"].startswith("paper_texts:") and specter["confidence"] == 0.9
    assert linked_repositories([curated["code_links"]]) == sorted(by_repo)
    # The offsets point at the matched text of the field named.
    con = duckdb.connect()
    [(abstract,)] = con.execute(
        f"SELECT abstract FROM '{curated['papers']}' WHERE work_id = 'arxiv:2401.14038'"
    ).fetchall()
    hadis = by_repo["github:regan-zhang/hadis"]
    assert abstract[hadis["evidence_start"] : hadis["evidence_end"]] == hadis["evidence_text"]
    assert all(r["src_id"] and r["link_type"] == "code" for r in rows)
    assert list(code_links_from_papers([curated["papers"]], [], [])) == [
        r for r in code_links_from_papers([curated["papers"]], [], [])
    ], "deterministic"


def _repositories(tmp_path: Path, rows: list[dict[str, object]]) -> Path:
    path = tmp_path / "repositories-staged.parquet"
    with ParquetTableWriter(path, table_spec("repositories")) as writer:
        for row in rows:
            writer.add({**BASE, **row})
    return path


def _curate(curated: dict[str, Path], staged_repos: list[Path], tmp_path: Path) -> tuple[Path, Path]:
    repos = tmp_path / "repositories.parquet"
    build_curated_table(
        table_spec("repositories"),
        [curated["code_links"]],  # any file: the candidates query replaces the staged rows
        repos,
        repositories_candidates_sql(staged_repos, curated["code_links"], tmp_path / "scratch"),
    )
    links = tmp_path / "links.parquet"
    build_curated_table(
        table_spec("links"),
        [curated["code_links"]],
        links,
        links_candidates_sql([], curated["code_links"], repos, curated["papers"], tmp_path / "scratch"),
    )
    return repos, links


def test_not_crawled_rows_and_mentioned_roles(curated: dict[str, Path], tmp_path: Path) -> None:
    repos, links = _curate(curated, [], tmp_path)
    con = connect()
    statuses = con.execute(f"SELECT DISTINCT status FROM '{repos}'").fetchall()
    assert statuses == [("not_crawled",)]
    roles = con.execute(f"SELECT DISTINCT role FROM '{links}' WHERE link_type = 'code'").fetchall()
    assert roles == [("mentioned",)], "a repository that was not crawled cannot point back at the paper"
    assert pq.read_schema(links).names == LINKS_SCHEMA.names


def test_official_when_the_repository_points_back(curated: dict[str, Path], tmp_path: Path) -> None:
    staged = _repositories(
        tmp_path,
        [
            # HaDis's README cites its paper's arXiv id.
            {
                "repo_id": "github:regan-zhang/hadis",
                "owner": "regan-zhang",
                "name": "hadis",
                "status": "ok",
                "full_name": "Regan-Zhang/HaDis",
                "cited_arxiv_ids": ["2401.14038"],
                "license_spdx": "MIT",
            },
            # SPECTER's README names the paper by its title.
            {
                "repo_id": "github:allenai/specter",
                "owner": "allenai",
                "name": "specter",
                "status": "ok",
                "full_name": "allenai/SPECTER",
                "license_spdx": "MIT",
                "readme_text": "Code for SPECTER: Document-level Representation Learning using Citation-informed "
                "Transformers (ACL 2020).",
            },
            # SciDocs is the benchmark the SPECTER paper uses: named, not its code.
            {
                "repo_id": "github:allenai/scidocs",
                "owner": "allenai",
                "name": "scidocs",
                "status": "ok",
                "full_name": "allenai/scidocs",
                "license_spdx": "MIT",
                "readme_text": "A benchmark.",
            },
        ],
    )
    repos, links = _curate(curated, [staged], tmp_path)
    con = connect()
    roles = dict(con.execute(f"SELECT dst_id, role FROM '{links}' WHERE link_type = 'code'").fetchall())
    assert roles["github:regan-zhang/hadis"] == "official"
    assert roles["github:allenai/specter"] == "official"
    assert roles["github:allenai/scidocs"] == "mentioned"
    assert roles["github:ydecastro/super-resolution-testing"] == "mentioned"
    statuses = dict(con.execute(f"SELECT repo_id, status FROM '{repos}'").fetchall())
    assert statuses["github:regan-zhang/hadis"] == "ok"
    assert statuses["github:ydecastro/super-resolution-testing"] == "not_crawled"
