"""Entity resolution across sources, on the real recordings, through the curation rules that use it: one
row per work with every identifier, a `merges` row for each merge, absorbed ids kept in `merged_ids`, links
re-pointed, and a conflict refused and reported."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipelines.curate.checks import check_identifiers_unique, check_links_resolved
from pipelines.curate.combine import build_curated_table, precedence_sql
from pipelines.curate.work_resolution import remap_sql, write_work_resolution
from pipelines.curate.works import papers_candidates_sql
from pipelines.harvest import harvest_batch
from pipelines.settings import DataRoot
from pipelines.sources.base import BatchSpec
from pipelines.sources.registry import get_source
from schemas import TABLES, table_spec
from tests.conftest import fixture_dir

# An arXiv preprint of the recordings and the DOI of its journal version (Annals of Physics), which the
# arXiv record itself states.
PREPRINT = "arxiv:0807.2873"
JOURNAL_DOI = "10.1016/j.aop.2008.08.003"
OTHER_PREPRINT = "1005.5383"
TURING_DOI = "doi:10.1093/mind/lix.236.433"
TURING_S2 = "2d5673caa9e6af3a7b82a43f19ee920992db07ad"


def _s2_paper(folder: Path, external_ids: dict[str, str], keep_links: bool = False) -> Path:
    """The real Semantic Scholar paper object, its identifiers replaced by ``external_ids`` (the recordings
    of the two services describe no common paper); its citations and references kept if ``keep_links``."""
    paper = json.loads(gzip.decompress((fixture_dir("semantic_scholar") / "s2_Paper.json.gz").read_bytes()))
    paper.update(externalIds=external_ids)
    if not keep_links:
        paper.update(citations=[], references=[])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "s2_paper.json").write_text(json.dumps(paper))
    return folder


def _stage(root: DataRoot, inputs: list[tuple[str, Path]]) -> dict[str, list[Path]]:
    out: dict[str, list[Path]] = {t: [] for t in TABLES}
    for i, (source, folder) in enumerate(inputs):
        batch = BatchSpec(
            source=source, kind="local", key=f"t{i}", paths=(str(folder),), options={"claim": "all"}
        )
        for table, path in harvest_batch(get_source(source), batch, root).outputs.items():
            out[table].append(path)
    return out


def _resolve(staged: dict[str, list[Path]], out: Path) -> dict[str, Path]:
    paths = {t: out / f"{t}.parquet" for t in ("work_map", "merges", "merged_ids", "identifier_conflicts")}
    write_work_resolution(
        staged["papers"],
        paths["work_map"],
        paths["merges"],
        paths["merged_ids"],
        paths["identifier_conflicts"],
    )
    spec = table_spec("papers")
    paths["papers"] = out / "papers.parquet"
    build_curated_table(
        spec,
        staged["papers"],
        paths["papers"],
        papers_candidates_sql(
            spec.columns, precedence_sql(spec), staged["papers"], [], [], paths["work_map"]
        ),
    )
    return paths


def _rows(path: Path, where: str = "true") -> list[dict[str, Any]]:
    return duckdb.sql(f"SELECT * FROM read_parquet('{path}') WHERE {where}").to_arrow_table().to_pylist()


@pytest.fixture(scope="module")
def preprint_and_journal(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """arXiv's record of a preprint, and Semantic Scholar's of its journal version known only by DOI."""
    root = DataRoot(tmp_path_factory.mktemp("home")).ensure()
    s2 = _s2_paper(tmp_path_factory.mktemp("s2"), {"DOI": JOURNAL_DOI.upper()}, keep_links=True)
    staged = _stage(root, [("arxiv", fixture_dir("arxiv_oai")), ("semantic_scholar", s2)])
    out_dir = tmp_path_factory.mktemp("out")
    out = _resolve(staged, out_dir)
    out["staged_links"] = out_dir / "staged_links.parquet"
    files = "[" + ", ".join(f"'{p}'" for p in staged["links"]) + "]"
    duckdb.sql(f"COPY (SELECT * FROM read_parquet({files})) TO '{out['staged_links']}' (FORMAT parquet)")
    out["links"] = out_dir / "links.parquet"
    build_curated_table(
        table_spec("links"),
        staged["links"],
        out["links"],
        remap_sql(f"SELECT * FROM read_parquet({files})", out["work_map"], ("src_id", "dst_id")),
    )
    return out


def test_preprint_and_journal_version_are_one_row_with_every_identifier(
    preprint_and_journal: dict[str, Path],
) -> None:
    papers = preprint_and_journal["papers"]
    assert not _rows(papers, f"work_id = 'doi:{JOURNAL_DOI}'"), "the DOI-keyed record was absorbed"
    (row,) = _rows(papers, f"work_id = '{PREPRINT}'")
    assert row["source"] == "arxiv", "the arXiv row stays the main row"
    assert row["arxiv_id"] == "0807.2873" and JOURNAL_DOI in row["dois"]
    assert row["s2_paper_id"] == TURING_S2 and row["enriched_by"] == ["semantic_scholar"]
    assert check_identifiers_unique(papers).passed


def test_the_merge_is_explained_and_the_absorbed_id_stays_resolvable(
    preprint_and_journal: dict[str, Path],
) -> None:
    merges = _rows(preprint_and_journal["merges"])
    assert {(m["record_a"], m["record_b"], m["method"], m["work_id"]) for m in merges} == {
        (PREPRINT, f"doi:{JOURNAL_DOI}", "shared_doi", PREPRINT)
    }
    assert merges[0]["score"] == 1.0 and merges[0]["resolver_version"]
    redirects = _rows(preprint_and_journal["merged_ids"])
    assert [(r["merged_id"], r["work_id"], r["carried_over"]) for r in redirects] == [
        (f"doi:{JOURNAL_DOI}", PREPRINT, False)
    ]
    assert _rows(preprint_and_journal["identifier_conflicts"]) == []


def test_links_of_the_absorbed_record_follow_it(preprint_and_journal: dict[str, Path]) -> None:
    staged = _rows(preprint_and_journal["staged_links"], f"src_id = 'doi:{JOURNAL_DOI}'")
    assert len(staged) >= 5, "Semantic Scholar's references of the paper, under the DOI it knew"
    links = preprint_and_journal["links"]
    assert not _rows(links, f"src_id = 'doi:{JOURNAL_DOI}' OR dst_id = 'doi:{JOURNAL_DOI}'")
    moved = _rows(links, f"src_id = '{PREPRINT}'")
    assert {(r["dst_id"], r["link_type"]) for r in moved} == {(r["dst_id"], r["link_type"]) for r in staged}
    assert check_links_resolved(
        links, preprint_and_journal["merged_ids"], preprint_and_journal["papers"]
    ).passed


def test_a_redirect_outlives_its_record(preprint_and_journal: dict[str, Path], tmp_path: Path) -> None:
    """When the absorbed record leaves the corpus, the next build keeps its redirect (carried over)."""
    root = DataRoot(tmp_path / "home").ensure()
    staged = _stage(root, [("arxiv", fixture_dir("arxiv_oai"))])
    out = {t: tmp_path / f"{t}.parquet" for t in ("work_map", "merges", "merged_ids", "identifier_conflicts")}
    summary = write_work_resolution(
        staged["papers"],
        out["work_map"],
        out["merges"],
        out["merged_ids"],
        out["identifier_conflicts"],
        previous_merged_ids=preprint_and_journal["merged_ids"],
    )
    assert summary.carried_over == 1
    assert [(r["merged_id"], r["work_id"], r["carried_over"]) for r in _rows(out["merged_ids"])] == [
        (f"doi:{JOURNAL_DOI}", PREPRINT, True)
    ]


def test_one_doi_with_two_arxiv_ids_is_a_conflict_not_a_merge(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    root = DataRoot(tmp_path_factory.mktemp("home")).ensure()
    # Semantic Scholar says the journal DOI of 0807.2873 belongs to another arXiv paper.
    s2 = _s2_paper(tmp_path_factory.mktemp("s2"), {"DOI": JOURNAL_DOI, "ArXiv": OTHER_PREPRINT})
    staged = _stage(root, [("arxiv", fixture_dir("arxiv_oai")), ("semantic_scholar", s2)])
    out = _resolve(staged, tmp_path_factory.mktemp("out"))
    work_ids = {r["work_id"] for r in _rows(out["papers"])}
    assert {PREPRINT, f"arxiv:{OTHER_PREPRINT}"} <= work_ids, "never merged blindly"
    conflicts = _rows(out["identifier_conflicts"])
    assert [(c["identifier"], {c["value_a"], c["value_b"]}) for c in conflicts] == [
        ("arxiv", {"0807.2873", OTHER_PREPRINT})
    ]
    assert {conflicts[0]["record_a"], conflicts[0]["record_b"]} == {PREPRINT, f"arxiv:{OTHER_PREPRINT}"}
    assert conflicts[0]["reason"]
    # The DOI now names two works; the check knows why and lets it pass, and says so.
    assert not check_identifiers_unique(out["papers"]).passed
    explained = check_identifiers_unique(out["papers"], out["identifier_conflicts"], out["merged_ids"])
    assert explained.passed and explained.metadata["shared_by_refused_conflicts"] == 1


def test_semantic_scholars_stub_and_full_record_of_one_paper_merge_and_links_follow(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The real recordings hold Turing's paper twice: the full record (keyed by its DOI) and a citation's
    stub (keyed by the same S2 id). They resolve to one work."""
    root = DataRoot(tmp_path_factory.mktemp("home")).ensure()
    staged = _stage(root, [("semantic_scholar", fixture_dir("semantic_scholar"))])
    out_dir = tmp_path_factory.mktemp("out")
    out = _resolve(staged, out_dir)
    (turing,) = _rows(out["papers"], f"s2_paper_id = '{TURING_S2}'")
    assert turing["work_id"] == TURING_DOI
    assert (f"s2:{TURING_S2}", TURING_DOI) in {
        (r["merged_id"], r["work_id"]) for r in _rows(out["merged_ids"])
    }
    merge = [m for m in _rows(out["merges"]) if f"s2:{TURING_S2}" in (m["record_a"], m["record_b"])]
    assert [m["method"] for m in merge] == ["shared_s2_id"]
