"""The curation tables written from a curated `papers` table of the real arXiv recordings: duplicates with
their survivors, tags with evidence, relevance for every paper, and languages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipelines.curate.attributes import write_languages, write_tags
from pipelines.curate.checks import check_schema, check_tag_evidence, check_unique_keys
from pipelines.curate.combine import build_curated_table, precedence_sql
from pipelines.curate.scope import pdfs_wanted
from pipelines.curate.text_duplicates import write_duplicates
from pipelines.curate.works import papers_candidates_sql
from pipelines.harvest import harvest_batch
from pipelines.settings import DataRoot
from pipelines.sources.base import BatchSpec
from pipelines.sources.registry import get_source
from schemas import table_spec
from tests.conftest import fixture_dir


def _rows(path: Path, where: str = "true") -> list[dict[str, Any]]:
    return (
        duckdb.sql(f"SELECT * FROM read_parquet('{path}') WHERE {where} ORDER BY ALL")
        .to_arrow_table()
        .to_pylist()
    )


@pytest.fixture(scope="module")
def arxiv_papers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = DataRoot(tmp_path_factory.mktemp("home")).ensure()
    batch = BatchSpec(
        source="arxiv",
        kind="local",
        key="t",
        paths=(str(fixture_dir("arxiv_oai")),),
        options={"claim": "all"},
    )
    staged = harvest_batch(get_source("arxiv"), batch, root).outputs["papers"]
    spec = table_spec("papers")
    out = root.tables / "papers.parquet"
    build_curated_table(
        spec, [staged], out, papers_candidates_sql(spec.columns, precedence_sql(spec), [staged], [], [])
    )
    return out


@pytest.fixture(scope="module")
def with_copies(arxiv_papers: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The curated papers plus two copies of one real paper: its journal version under a DOI (same
    abstract, so an exact duplicate) and a crosspost whose abstract has one word changed (a near one)."""
    out = tmp_path_factory.mktemp("copies") / "papers.parquet"
    con = duckdb.connect()
    (work_id,) = con.execute(
        f"""SELECT work_id FROM read_parquet('{arxiv_papers}')
            WHERE len(string_split(abstract, '. ')) >= 8 ORDER BY work_id LIMIT 1"""
    ).fetchone() or (None,)
    assert work_id
    con.execute(
        f"""
        COPY (
            SELECT * FROM read_parquet('{arxiv_papers}')
            UNION ALL
            SELECT * REPLACE ('doi:10.9999/journal.' || arxiv_id AS work_id, 'journal-article' AS work_type,
                              '10.9999/journal.' || arxiv_id AS doi)
            FROM read_parquet('{arxiv_papers}') WHERE work_id = '{work_id}'
            UNION ALL
            SELECT * REPLACE ('lesswrong:copy' AS work_id, 'post' AS work_type,
                              regexp_replace(abstract, ' the ', ' this ') AS abstract)
            FROM read_parquet('{arxiv_papers}') WHERE work_id = '{work_id}'
            ORDER BY work_id
        ) TO '{out}' (FORMAT parquet)
        """
    )
    return out, work_id


def test_exact_duplicate_keeps_the_published_version(with_copies: tuple[Path, str], tmp_path: Path) -> None:
    papers, work_id = with_copies
    out = tmp_path / "duplicates.parquet"
    summary = write_duplicates(papers, tmp_path / "no_texts.parquet", out)
    assert check_schema(table_spec("duplicates"), out).passed
    assert check_unique_keys(table_spec("duplicates"), out).passed
    exact = _rows(out, "field = 'abstract' AND kind = 'exact'")
    journal = f"doi:10.9999/journal.{work_id.removeprefix('arxiv:')}"
    # Published before preprint: the preprint is the recorded duplicate, nothing is dropped.
    assert [(r["record_id"], r["duplicate_of"], r["similarity"], r["cluster_size"]) for r in exact] == [
        (work_id, journal, 1.0, 2)
    ]
    assert exact[0]["content_key"] and exact[0]["method"].startswith("content_key v1")
    near = _rows(out, "field = 'abstract' AND kind = 'near'")
    assert [(r["record_id"], r["duplicate_of"]) for r in near] == [("lesswrong:copy", journal)]
    assert 0.8 <= near[0]["similarity"] < 1.0
    assert "num_perm=128 bands=32 rows=4" in near[0]["method"] and "rensa" in near[0]["method"]
    assert summary.by_field["abstract"] == {
        "records": summary.by_field["abstract"]["records"],
        "exact": 1,
        "near": 1,
    }


def test_no_duplicates_among_distinct_papers(arxiv_papers: Path, tmp_path: Path) -> None:
    out = tmp_path / "duplicates.parquet"
    assert write_duplicates(arxiv_papers, tmp_path / "none.parquet", out).rows == 0


def test_tags_have_evidence_and_every_paper_has_relevance(arxiv_papers: Path, tmp_path: Path) -> None:
    tags, relevance = tmp_path / "tags.parquet", tmp_path / "relevance.parquet"
    n_tags, n_records = write_tags(arxiv_papers, tags, relevance)
    papers = _rows(arxiv_papers)
    assert n_records == len(papers) and n_tags > 0
    for table, path in (("tags", tags), ("relevance", relevance)):
        assert check_schema(table_spec(table), path).passed
        assert check_unique_keys(table_spec(table), path).passed
    assert check_tag_evidence(tags).passed
    by_id = {p["work_id"]: p for p in papers}
    for tag in _rows(tags):
        for ev in tag["evidence"]:
            assert by_id[tag["record_id"]][ev["field"]][ev["start"] : ev["end"]] == ev["text"]
    scores = {r["record_id"]: r for r in _rows(relevance)}
    tagged_areas = {t["record_id"] for t in _rows(tags, "kind = 'area'")}
    assert all(
        scores[r]["relevance"] == 0.0 for r in scores if r not in {t["record_id"] for t in _rows(tags)}
    )
    assert {r for r, s in scores.items() if s["in_scope"]} <= tagged_areas | {
        t["record_id"] for t in _rows(tags)
    }


def test_a_corrupted_evidence_span_fails_the_check(arxiv_papers: Path, tmp_path: Path) -> None:
    tags, relevance = tmp_path / "tags.parquet", tmp_path / "relevance.parquet"
    write_tags(arxiv_papers, tags, relevance)
    broken = tmp_path / "broken.parquet"
    duckdb.sql(
        f"""COPY (SELECT * REPLACE (list_transform(evidence, lambda e: struct_pack(field := e.field,
                start := e.start, "end" := e."end" + 1, text := e.text)) AS evidence)
            FROM read_parquet('{tags}')) TO '{broken}' (FORMAT parquet)"""
    )
    assert not check_tag_evidence(broken).passed


def test_languages_of_titles_and_abstracts(arxiv_papers: Path, tmp_path: Path) -> None:
    out = tmp_path / "languages.parquet"
    rows = write_languages(arxiv_papers, tmp_path / "no_texts.parquet", out)
    assert (
        check_schema(table_spec("languages"), out).passed
        and check_unique_keys(table_spec("languages"), out).passed
    )
    abstracts = _rows(out, "field = 'abstract'")
    assert rows == len(_rows(out)) and abstracts
    english = sum(1 for r in abstracts if r["language"] == "en")
    assert english / len(abstracts) > 0.95, "arXiv abstracts of the recordings are English"
    assert all(r["detector"] and r["detector_version"] for r in abstracts)


def test_expensive_stages_take_in_scope_papers_first(arxiv_papers: Path, tmp_path: Path) -> None:
    """PDFs are fetched for in-scope papers only, most relevant first, once relevance exists; before it,
    for every candidate."""
    tags, relevance = tmp_path / "tags.parquet", tmp_path / "relevance.parquet"
    write_tags(arxiv_papers, tags, relevance)
    candidates = pdfs_wanted(arxiv_papers, None, limit=10_000)
    assert len(candidates) >= 2, "the recordings hold redistributable arXiv papers without text"
    # The recordings' physics is out of scope; raise two candidates' relevance (the second above the first)
    # to see the order, keeping every other row as tagged.
    first, second = (c.rsplit("v", 1)[0] for c in candidates[:2])
    raised = tmp_path / "raised.parquet"
    duckdb.sql(
        f"""COPY (SELECT * REPLACE (
                CASE record_id WHEN 'arxiv:{first}' THEN 0.6 WHEN 'arxiv:{second}' THEN 0.9 ELSE relevance END
                    AS relevance,
                in_scope OR record_id IN ('arxiv:{first}', 'arxiv:{second}') AS in_scope)
            FROM read_parquet('{relevance}')) TO '{raised}' (FORMAT parquet)"""
    )
    in_scope = {r["record_id"] for r in _rows(raised, "in_scope")}
    chosen = pdfs_wanted(arxiv_papers, raised, limit=10_000)
    assert [c.rsplit("v", 1)[0] for c in chosen][:2] == [second, first]
    assert {f"arxiv:{c.rsplit('v', 1)[0]}" for c in chosen} == {
        f"arxiv:{c.rsplit('v', 1)[0]}" for c in candidates
    } & in_scope
    assert pdfs_wanted(arxiv_papers, relevance, limit=10_000) == [
        c
        for c in candidates
        if f"arxiv:{c.rsplit('v', 1)[0]}" in {r["record_id"] for r in _rows(relevance, "in_scope")}
    ]
