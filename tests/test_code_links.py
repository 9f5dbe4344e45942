"""Code links from curated papers (``pipelines.curate.code_links``) and their official/mentioned role.

The inputs are the real fixtures of ../shared/fixtures, read by path: the arXiv recordings, the GROBID full
texts, OpenAlex and Semantic Scholar works, harvested and curated into `papers`, `paper_texts` and
`references` Parquet files with the real schemas. Where a rule needs a case the fixtures do not hold (a
repository mentioned in several fields, a README citing a DOI, an author's own repository), small Parquet
files are written with ``ParquetTableWriter`` from those real rows, changed as each test says. The last
tests run the same through ``pipelines.curate.linked_repos`` (a `not_crawled` row per linked repository).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.curate.code_links import (
    PARSER_VERSION,
    code_links_from_papers,
    linked_repositories,
    official_role_sql,
)
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

SOURCES = (
    ("arxiv", "arxiv_oai"),
    ("grobid_tei", "grobid_tei"),
    ("openalex", "openalex"),
    ("semantic_scholar", "semantic_scholar"),
)
REPOSITORY = {
    "source": "github",
    "source_record_id": "recorded",
    "raw_sha256": "ab" * 32,
    "parser": "github_api",
    "parser_version": "1",
    "pipeline_version": "test",
    "license": "MIT",
    "license_source": "test",
    "host": "github",
    "status": "ok",
    "text_redistributable": True,
}
SPECTER_TITLE = "SPECTER: Document-level Representation Learning using Citation-informed Transformers"
LITERATURE_GRAPH_TITLE = "Construction of the Literature Graph in Semantic Scholar"


@pytest.fixture(scope="module")
def curated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = DataRoot(tmp_path_factory.mktemp("home")).ensure()
    staged: dict[str, list[Path]] = {"papers": [], "paper_texts": [], "references": []}
    for i, (source, folder) in enumerate(SOURCES):
        batch = BatchSpec(source, "local", f"b{i}", (str(fixture_dir(folder)),), {"claim": "all"})
        for table, path in harvest_batch(get_source(source), batch, root).outputs.items():
            if table in staged:
                staged[table].append(path)
    out = {t: root.tables / f"{t}.parquet" for t in staged}
    for table, files in staged.items():
        build_curated_table(table_spec(table), files, out[table])
    return out


@pytest.fixture(scope="module")
def found(curated: dict[str, Path]) -> tuple[list[dict[str, Any]], Counter[str]]:
    counts: Counter[str] = Counter()
    rows = list(
        code_links_from_papers([curated["papers"]], [curated["paper_texts"]], [curated["references"]], counts)
    )
    return rows, counts


def _rows(path: Path, where: str = "true") -> list[dict[str, Any]]:
    con = connect()
    try:
        return con.sql(f"SELECT * FROM read_parquet('{path}') WHERE {where}").to_arrow_table().to_pylist()
    finally:
        con.close()


def _work_id(curated: dict[str, Path], title: str) -> str:
    [row] = _rows(curated["papers"], f"title = '{title}'")
    return str(row["work_id"])


def test_links_found_in_real_abstracts_comments_and_full_text(
    curated: dict[str, Path], found: tuple[list[dict[str, Any]], Counter[str]]
) -> None:
    rows, counts = found
    specter, graph = _work_id(curated, SPECTER_TITLE), _work_id(curated, LITERATURE_GRAPH_TITLE)
    summary = sorted(
        (
            r["src_id"],
            r["dst_id"],
            r["evidence"].split(":")[0],
            r["evidence_text"],
            r["evidence_start"],
            r["confidence"],
        )
        for r in rows
    )
    assert summary == sorted(
        [
            (
                "arxiv:2401.14038",
                "github:regan-zhang/hadis",
                "abstract",
                "https://github.com/Regan-Zhang/HaDis",
                1294,
                1.0,
            ),
            (
                "arxiv:1706.00679",
                "github:ydecastro/super-resolution-testing",
                "comments",
                "https://github.com/ydecastro/super-resolution-testing",
                72,
                1.0,
            ),
            (specter, "github:allenai/scidocs", "paper_texts", "https://github.com/allenai/scidocs", 0, 0.9),
            # joined across the PDF's line wrap: less sure
            (
                specter,
                "github:ukplab/sentence-transformers",
                "paper_texts",
                "https://github.com/ UKPLab/sentence-transformers",
                86,
                0.7,
            ),
            (specter, "github:allenai/specter", "paper_texts", "https://github.com/allenai/specter", 57, 0.9),
            (
                graph,
                "github:allenai/openie-standalone",
                "paper_texts",
                "https://github.com/allenai/ openie-standalone",
                29,
                0.7,
            ),
        ]
    )
    assert counts == Counter({"pages_site": 1}), "opendatalab.github.io in an abstract: recorded, not linked"
    assert [r["src_id"] for r in rows] == sorted(r["src_id"] for r in rows), "sorted by (src_id, dst_id)"


def test_evidence_points_at_the_field_and_provenance_is_the_rows(
    curated: dict[str, Path], found: tuple[list[dict[str, Any]], Counter[str]]
) -> None:
    rows, _ = found
    for link in rows:
        field, _, row_id = link["evidence"].partition(":")
        if field in ("abstract", "comments"):
            [origin] = _rows(curated["papers"], f"work_id = '{link['src_id']}'")
            text = origin[field]
        else:
            [origin] = _rows(curated[field], f"paragraph_id = '{row_id}'")
            text = origin["text"]
        assert text[link["evidence_start"] : link["evidence_end"]] == link["evidence_text"]
        for column in ("source", "source_record_id", "source_url", "retrieved_at", "raw_sha256", "license"):
            assert link[column] == origin[column], column
        assert (link["parser"], link["parser_version"], link["link_type"], link["role"]) == (
            "repo_links",
            PARSER_VERSION,
            "code",
            None,
        )
    footnote = next(r for r in rows if r["dst_id"] == "github:allenai/specter")
    [paragraph] = _rows(curated["paper_texts"], f"paragraph_id = '{footnote['evidence'].split(':')[1]}'")
    assert (
        paragraph["text"]
        == "Learning rate linear warmup followed by linear decay. 11 https://github.com/allenai/specter"
    )


def test_rows_fit_the_links_schema(tmp_path: Path, found: tuple[list[dict[str, Any]], Counter[str]]) -> None:
    rows, _ = found
    assert all(list(r) == LINKS_SCHEMA.names for r in rows)
    batch = pa.RecordBatch.from_pylist(rows, schema=LINKS_SCHEMA)
    batch.validate(full=True)
    for field in LINKS_SCHEMA:
        if not field.nullable:
            assert batch.column(field.name).null_count == 0, field.name
    keys = [(r["src_id"], r["dst_id"], r["link_type"]) for r in rows]
    assert len(keys) == len(set(keys))
    out = tmp_path / "links.parquet"
    with ParquetTableWriter(out, table_spec("links")) as writer:
        for row in rows:
            writer.add(row)
    assert pq.read_schema(out).names == LINKS_SCHEMA.names


def test_deterministic_and_the_crawl_list(curated: dict[str, Path], tmp_path: Path) -> None:
    inputs = ([curated["papers"]], [curated["paper_texts"]], [curated["references"]])
    assert list(code_links_from_papers(*inputs)) == list(code_links_from_papers(*inputs))
    out = tmp_path / "code_links.parquet"
    assert write_code_links(*inputs, out) == 6
    assert linked_repositories([out]) == [
        "github:allenai/openie-standalone",
        "github:allenai/scidocs",
        "github:allenai/specter",
        "github:regan-zhang/hadis",
        "github:ukplab/sentence-transformers",
        "github:ydecastro/super-resolution-testing",
    ]


def _write(path: Path, table: str, rows: list[dict[str, Any]]) -> Path:
    with ParquetTableWriter(path, table_spec(table)) as writer:
        for row in rows:
            writer.add(row)
    return path


def test_the_first_mention_is_kept(curated: dict[str, Path], tmp_path: Path) -> None:
    """The SPECTER paper's own rows, with mentions added: the abstract wins over everything, then comments;
    in the full text the earlier section wins over a later one; references come last."""
    specter = _work_id(curated, SPECTER_TITLE)
    [paper] = _rows(curated["papers"], f"work_id = '{specter}'")
    paragraphs = _rows(curated["paper_texts"], f"work_id = '{specter}'")
    references = _rows(curated["references"], f"work_id = '{specter}'")
    early = dict(paragraphs[0], section_index=0, paragraph_index=0, paragraph_id="0" * 32)
    early["text"] = (
        "Code and data: https://github.com/allenai/scidocs (see section 5) and huggingface.co/allenai/specter."
    )
    cited = dict(references[0], raw="Cohan et al. 2020. SPECTER. https://github.com/allenai/specter")
    own = dict(references[1], raw="Gao et al. Code at https://gitlab.com/nlp/group/simcse/-/tree/main.")
    paper.update(
        abstract=str(paper["abstract"]) + " Data: https://huggingface.co/datasets/allenai/scirepeval."
    )
    paper.update(
        comments="ACL 2020. https://huggingface.co/datasets/allenai/scirepeval, github.com/allenai/specter"
    )
    papers = _write(tmp_path / "papers.parquet", "papers", [paper])
    texts = _write(tmp_path / "paper_texts.parquet", "paper_texts", [*paragraphs, early])
    refs = _write(tmp_path / "references.parquet", "references", [cited, own, *references[2:]])
    by_repo = {r["dst_id"]: r for r in code_links_from_papers([papers], [texts], [refs])}
    assert {k: (v["evidence"], v["confidence"]) for k, v in by_repo.items()} == {
        "hf-datasets:allenai/scirepeval": ("abstract", 1.0),
        "github:allenai/specter": ("comments", 1.0),
        "github:allenai/scidocs": ("paper_texts:" + "0" * 32, 0.9),
        "hf:allenai/specter": ("paper_texts:" + "0" * 32, 0.9),
        "github:ukplab/sentence-transformers": (
            by_repo["github:ukplab/sentence-transformers"]["evidence"],
            0.7,
        ),
        "gitlab:nlp/group/simcse": ("references:" + str(own["reference_id"]), 0.8),
    }
    assert by_repo["hf:allenai/specter"]["evidence_text"] == "huggingface.co/allenai/specter"
    assert (
        by_repo["gitlab:nlp/group/simcse"]["evidence_text"]
        == "https://gitlab.com/nlp/group/simcse/-/tree/main"
    )
    assert by_repo["gitlab:nlp/group/simcse"]["evidence_start"] == own["raw"].index("https://gitlab")


def _link(src: str, dst: str, like: dict[str, Any]) -> dict[str, Any]:
    """A code link the fixtures' text does not hold, with the provenance of a real one."""
    return dict(
        like,
        src_id=src,
        dst_id=dst,
        evidence="abstract",
        evidence_text=None,
        evidence_start=None,
        evidence_end=None,
    )


@pytest.fixture(scope="module")
def judged(
    curated: dict[str, Path],
    found: tuple[list[dict[str, Any]], Counter[str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[tuple[str, str], tuple[str, str | None]]:
    """Roles of the real links plus a few constructed ones, against recorded-looking repositories."""
    folder = tmp_path_factory.mktemp("roles")
    rows, _ = found
    specter = _work_id(curated, SPECTER_TITLE)
    state_of_oa = "doi:10.7717/peerj.4375"  # OpenAlex work W2741809807
    distorted = _work_id(curated, "Distorted Democracies")  # a Semantic Scholar work with a two-word title
    extra = [
        _link(state_of_oa, "github:ourresearch/oadoi", rows[0]),
        _link(specter, "github:armancohan/specter-notes", rows[0]),
        _link("arxiv:1706.00679", "github:yohanndecastro/notebooks", rows[0]),
        _link("arxiv:1706.00679", "github:jeanmarcazais/x", rows[0]),
        _link("arxiv:2401.14038", "github:zhang/hadis-fork", rows[0]),
        _link(distorted, "github:someone/distorted", rows[0]),
    ]
    links = _write(folder / "code_links.parquet", "links", [*rows, *extra])
    repositories = [
        # HaDis's README cites its paper's arXiv id
        {
            "repo_id": "github:regan-zhang/hadis",
            "owner": "Regan-Zhang",
            "name": "HaDis",
            "cited_arxiv_ids": ["2401.14038"],
        },
        # SPECTER's README names the paper by its title (with Markdown around it)
        {
            "repo_id": "github:allenai/specter",
            "owner": "allenai",
            "name": "specter",
            "readme_text": f"# {SPECTER_TITLE.upper()}\n\nThis repository contains code for **{SPECTER_TITLE}** (ACL 2020).",
        },
        # the benchmark SPECTER uses, and a model it compares with whose README cites its own paper
        {
            "repo_id": "github:allenai/scidocs",
            "owner": "allenai",
            "name": "scidocs",
            "description": "A benchmark.",
        },
        {
            "repo_id": "github:ukplab/sentence-transformers",
            "owner": "UKPLab",
            "name": "sentence-transformers",
            "readme_text": "Sentence-BERT: Sentence Embeddings using Siamese BERT-Networks, arXiv:1908.10084",
            "cited_arxiv_ids": ["1908.10084"],
            "cited_dois": ["10.18653/v1/d19-1410"],
        },
        # openie-standalone moved; the repository it moved to names the literature-graph paper
        {
            "repo_id": "github:allenai/openie-standalone",
            "owner": "allenai",
            "name": "openie-standalone",
            "status": "moved",
            "moved_to": "github:allenai/openie",
        },
        {
            "repo_id": "github:allenai/openie",
            "owner": "allenai",
            "name": "openie",
            "description": f"Open IE, as used for {LITERATURE_GRAPH_TITLE.lower()}.",
        },
        # Unpaywall's code cites the State of OA paper by DOI
        {
            "repo_id": "github:ourresearch/oadoi",
            "owner": "ourresearch",
            "name": "oadoi",
            "cited_dois": ["10.7717/peerj.4375"],
        },
        # a title too short to be evidence
        {
            "repo_id": "github:someone/distorted",
            "owner": "someone",
            "name": "distorted",
            "readme_text": "Distorted Democracies",
        },
    ]
    repos = _write(
        folder / "repositories.parquet", "repositories", [{**REPOSITORY, **r} for r in repositories]
    )
    con = connect()
    try:
        result = con.execute(official_role_sql(links, repos, curated["papers"], with_reason=True)).fetchall()
        columns = [d[0] for d in con.description]
    finally:
        con.close()
    assert columns == [*LINKS_SCHEMA.names, "role_reason"]
    index = {name: i for i, name in enumerate(columns)}
    return {
        (r[index["src_id"]], r[index["dst_id"]]): (r[index["role"]], r[index["role_reason"]]) for r in result
    }


def test_official_when_the_repository_cites_the_paper(
    judged: dict[tuple[str, str], tuple[str, str | None]],
) -> None:
    roles = {dst: role for (_src, dst), role in judged.items()}
    assert roles["github:regan-zhang/hadis"] == ("official", "arxiv_id")
    assert roles["github:ourresearch/oadoi"] == ("official", "doi")
    assert roles["github:allenai/specter"] == ("official", "title")
    assert roles["github:allenai/openie-standalone"] == ("official", "title"), "judged by where it moved"


def test_official_when_an_author_owns_it(judged: dict[tuple[str, str], tuple[str, str | None]]) -> None:
    roles = {dst: role for (_src, dst), role in judged.items()}
    assert roles["github:armancohan/specter-notes"] == ("official", "owner")  # Arman Cohan, not crawled
    assert roles["github:yohanndecastro/notebooks"] == ("official", "owner")  # Yohann De Castro
    assert roles["github:jeanmarcazais/x"] == ("official", "owner")  # Jean-Marc Azaïs
    # Yohann De Castro's real login, and a surname alone: the rule does not guess
    assert roles["github:ydecastro/super-resolution-testing"] == ("mentioned", None)
    assert roles["github:zhang/hadis-fork"] == ("mentioned", None)


def test_mentioned_otherwise(judged: dict[tuple[str, str], tuple[str, str | None]]) -> None:
    roles = {dst: role for (_src, dst), role in judged.items()}
    assert roles["github:allenai/scidocs"] == ("mentioned", None)
    assert roles["github:ukplab/sentence-transformers"] == ("mentioned", None), "it cites another paper"
    assert roles["github:someone/distorted"] == ("mentioned", None), "a two-word title is no evidence"
    assert len(judged) == 12


def _curate_links(curated: dict[str, Path], staged_repos: list[Path], tmp_path: Path) -> tuple[Path, Path]:
    code_links = tmp_path / "code_links.parquet"
    write_code_links([curated["papers"]], [curated["paper_texts"]], [curated["references"]], code_links)
    repos = tmp_path / "repositories.parquet"
    build_curated_table(
        table_spec("repositories"),
        [code_links],  # any file: the candidates query replaces the staged rows
        repos,
        repositories_candidates_sql(staged_repos, code_links, tmp_path / "scratch"),
    )
    links = tmp_path / "links.parquet"
    build_curated_table(
        table_spec("links"),
        [code_links],
        links,
        links_candidates_sql([], code_links, repos, curated["papers"], tmp_path / "scratch"),
    )
    return repos, links


def test_through_the_curation_step_uncrawled_repositories_are_mentioned(
    curated: dict[str, Path], tmp_path: Path
) -> None:
    repos, links = _curate_links(curated, [], tmp_path)
    statuses = {r["status"] for r in _rows(repos)}
    assert statuses == {"not_crawled"}
    code = _rows(links, "link_type = 'code'")
    assert {r["role"] for r in code} == {"mentioned"}, (
        "a repository not crawled cannot point back at the paper"
    )
    assert len(code) == 6
    assert pq.read_schema(links).names == LINKS_SCHEMA.names


def test_through_the_curation_step_crawled_repositories_decide(
    curated: dict[str, Path], tmp_path: Path
) -> None:
    staged = _write(
        tmp_path / "repositories-staged.parquet",
        "repositories",
        [
            {
                **REPOSITORY,
                "repo_id": "github:regan-zhang/hadis",
                "owner": "regan-zhang",
                "name": "hadis",
                "full_name": "Regan-Zhang/HaDis",
                "cited_arxiv_ids": ["2401.14038"],
            },
            {
                **REPOSITORY,
                "repo_id": "github:allenai/scidocs",
                "owner": "allenai",
                "name": "scidocs",
                "full_name": "allenai/scidocs",
                "readme_text": "A benchmark.",
            },
        ],
    )
    repos, links = _curate_links(curated, [staged], tmp_path)
    roles = {r["dst_id"]: r["role"] for r in _rows(links, "link_type = 'code'")}
    assert roles["github:regan-zhang/hadis"] == "official"
    assert roles["github:allenai/scidocs"] == "mentioned"
    statuses = {r["repo_id"]: r["status"] for r in _rows(repos)}
    assert statuses["github:regan-zhang/hadis"] == "ok"
    assert statuses["github:ydecastro/super-resolution-testing"] == "not_crawled"
