"""Curation across a work's rows, on the real recordings: enrichment fills the main row, one parse per
paper, references resolved inside the corpus, and the license gate on full text at release."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import duckdb
import pytest

from pipelines.curate.combine import build_curated_table, precedence_sql
from pipelines.curate.works import best_parse_sql, papers_candidates_sql, references_candidates_sql
from pipelines.harvest import harvest_batch
from pipelines.settings import DataRoot
from pipelines.snapshot.writer import read_manifest, write_snapshot
from pipelines.sources.base import BatchSpec
from pipelines.sources.registry import get_source
from schemas import TABLES, table_spec
from tests.conftest import fixture_dir

FOLDERS = {
    "arxiv": "arxiv_oai",
    "openalex": "openalex",
    "semantic_scholar": "semantic_scholar",
    "grobid_tei": "grobid_tei",
    "pdf": "pdfs",
}


def _s2_record_of_an_arxiv_paper(folder: Path) -> Path:
    """The real Semantic Scholar paper object, re-pointed at an arXiv paper of the arXiv recordings (the
    recordings themselves describe no common paper)."""
    paper = json.loads(gzip.decompress((fixture_dir("semantic_scholar") / "s2_Paper.json.gz").read_bytes()))
    paper.update(externalIds={"ArXiv": "1111.2011"}, citations=[], references=[])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "s2_paper_of_1111.2011.json").write_text(json.dumps(paper))
    return folder


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    root = DataRoot(tmp_path_factory.mktemp("home")).ensure()
    out: dict[str, list[Path]] = {t: [] for t in TABLES}
    inputs = [(source, fixture_dir(folder)) for source, folder in FOLDERS.items()]
    inputs.append(("semantic_scholar", _s2_record_of_an_arxiv_paper(tmp_path_factory.mktemp("s2"))))
    for i, (source, folder) in enumerate(inputs):
        batch = BatchSpec(
            source=source, kind="local", key=f"t{i}", paths=(str(folder),), options={"claim": "all"}
        )
        for table, path in harvest_batch(get_source(source), batch, root).outputs.items():
            out[table].append(path)
    return out


def _curate(staged: dict[str, list[Path]], out: Path) -> dict[str, Path]:
    papers_spec = table_spec("papers")
    sql = {
        "papers": papers_candidates_sql(
            papers_spec.columns,
            precedence_sql(papers_spec),
            staged["papers"],
            staged["paper_texts"],
            staged["references"],
        ),
        "paper_texts": best_parse_sql(staged["paper_texts"]),
        "references": references_candidates_sql(staged["references"], staged["papers"]),
    }
    paths = {}
    for table in TABLES:
        paths[table] = out / f"{table}.parquet"
        build_curated_table(table_spec(table), staged[table], paths[table], sql.get(table))
    return paths


def test_enrichment_fills_the_arxiv_row_without_replacing_it(
    staged: dict[str, list[Path]], tmp_path: Path
) -> None:
    tables = _curate(staged, tmp_path)
    con = duckdb.connect()
    rows = con.execute(
        f"SELECT work_id, source, s2_paper_id, enriched_by FROM '{tables['papers']}' WHERE enriched_by IS NOT NULL"
    ).fetchall()
    enriched = {r[0]: r for r in rows}
    _work_id, source, s2_id, enriched_by = enriched["arxiv:1111.2011"]
    assert source == "arxiv", "the arXiv row stays the work's main row"
    assert s2_id == "2d5673caa9e6af3a7b82a43f19ee920992db07ad" and enriched_by == ["semantic_scholar"]
    title = con.execute(
        f"SELECT title FROM '{tables['papers']}' WHERE work_id = 'arxiv:1111.2011'"
    ).fetchone()
    assert title is not None and title[0].startswith("Quantum Criticality for Extended Nodes")
    # One row per work, whatever the number of sources describing it.
    assert con.execute(f"SELECT count(*) - count(DISTINCT work_id) FROM '{tables['papers']}'").fetchone() == (
        0,
    )


def test_one_parse_per_paper_and_references_resolved_in_corpus(
    staged: dict[str, list[Path]], tmp_path: Path
) -> None:
    tables = _curate(staged, tmp_path)
    con = duckdb.connect()
    mixed = con.execute(
        f"SELECT work_id FROM '{tables['paper_texts']}' GROUP BY 1 HAVING count(DISTINCT raw_sha256) > 1"
    ).fetchall()
    assert mixed == [], "paragraphs of different parses never mix"
    # GROBID's structured parse wins over page text for a paper parsed both ways.
    both = con.execute(
        f"""SELECT work_id, first(text_quality) FROM read_parquet({[str(p) for p in staged["paper_texts"]]})
            GROUP BY 1 HAVING count(DISTINCT text_quality) = 2"""
    ).fetchall()
    for work_id, _ in both:
        kept = con.execute(
            f"SELECT DISTINCT text_quality FROM '{tables['paper_texts']}' WHERE work_id = ?", [work_id]
        )
        assert kept.fetchall() == [("structured",)]
    dangling = con.execute(
        f"""SELECT count(*) FROM '{tables["references"]}' r
            WHERE cited_work_id IS NOT NULL AND cited_work_id NOT IN (SELECT work_id FROM '{tables["papers"]}')"""
    ).fetchone()
    assert dangling == (0,)


def test_license_gate_releases_text_only_where_the_license_allows(
    staged: dict[str, list[Path]], tmp_path: Path
) -> None:
    tables = _curate(staged, tmp_path / "curated")
    con = duckdb.connect()
    with_text = [
        r[0]
        for r in con.execute(f"SELECT DISTINCT work_id FROM '{tables['paper_texts']}' ORDER BY 1").fetchall()
    ]
    assert len(with_text) >= 3
    open_work = with_text[0]
    # The recordings state no open license; as if the first paper's metadata said CC-BY-4.0.
    relicensed = tmp_path / "papers-staged.parquet"
    con.execute(
        f"""COPY (SELECT * REPLACE (
                CASE WHEN work_id = '{open_work}' THEN 'CC-BY-4.0' ELSE license END AS license,
                work_id = '{open_work}' OR text_redistributable AS text_redistributable)
            FROM read_parquet({[str(p) for p in staged["papers"]]})) TO '{relicensed}' (FORMAT parquet)"""
    )
    tables = _curate({**staged, "papers": [relicensed]}, tmp_path / "curated2")
    snap = write_snapshot(tmp_path / "snaps", tables, version="v2026.03.01")
    released = con.execute(f"SELECT DISTINCT work_id FROM '{snap}/data/paper_texts/*.parquet'").fetchall()
    assert released == [(open_work,)]
    flags = dict(con.execute(f"SELECT work_id, has_full_text FROM '{snap}/data/papers/*.parquet'").fetchall())
    assert flags[open_work] is True
    assert all(not flags.get(w) for w in with_text[1:]), "unlicensed text is kept out, and flagged so"
    manifest = read_manifest(snap)
    assert manifest["tables"]["paper_texts"]["rows"] > 0
    refs = con.execute(f"SELECT count(DISTINCT work_id) FROM '{snap}/data/references/*.parquet'").fetchone()
    assert refs is not None and refs[0] >= 3, "references are metadata: released for every paper"


def test_full_text_build_records_every_bad_document(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    commons = str(Path(sys.executable).with_name("commons"))
    env = {k: v for k, v in os.environ.items() if k != "COMMONS_GROBID_URL"}
    env["COMMONS_HOME"] = str(tmp_path / "home")
    result = subprocess.run(
        [
            commons,
            "build",
            "--from",
            str(fixture_dir("grobid_tei")),
            "--from",
            str(fixture_dir("pdfs")),
            "--out",
            str(tmp_path / "snaps"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    snap = Path(result.stdout.strip().splitlines()[-1])
    con = duckdb.connect()
    statuses = dict(
        con.execute(
            f"SELECT url_or_path, status FROM '{snap}/data/fetches/*.parquet' WHERE source IN ('pdf', 'grobid_tei')"
        ).fetchall()
    )
    for bad in (
        "pdfs/zero-size-pdf.pdf",
        "pdfs/broken-pdf.pdf",
        "pdfs/pdfminer_encrypted_aes-128.pdf",
        "grobid_tei/grobidclient_citation_list_example.tei.xml",
    ):
        assert statuses[bad] == "error", bad
    assert sum(1 for s in statuses.values() if s == "ok") >= 20
    refs = con.execute(f"SELECT count(*) FROM '{snap}/data/references/*.parquet'").fetchone()
    assert refs is not None and refs[0] > 100
