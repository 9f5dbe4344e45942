"""End to end: the installed ``commons`` command builds snapshots through Dagster and queries them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import duckdb
import pyarrow.parquet as pq
import pytest

COMMONS = str(Path(sys.executable).with_name("commons"))


def run_commons(
    *args: str, home: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "COMMONS_HOME": str(home), **(env or {})}
    return subprocess.run([COMMONS, *args], capture_output=True, text=True, env=full_env, timeout=300)


def expected_arxiv_ids(folder: Path) -> set[str]:
    """Distinct arXiv ids in the recorded responses, found without the project's parser."""
    ids: set[str] = set()
    for path in folder.iterdir():
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".json":
            text = json.loads(text)["body"]
        ids |= set(re.findall(r"<identifier>\s*oai:arXiv\.org:([^<\s]+)\s*</identifier>", text))
        for entry in re.findall(r"<entry>.*?</entry>", text, flags=re.S):
            m = re.search(r"<id>https?://arxiv\.org/abs/([^<]+?)(?:v\d+)?</id>", entry)
            if m:
                ids.add(m.group(1))
    return ids


@pytest.fixture(scope="module")
def two_builds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    from tests.conftest import fixture_dir

    fixtures = fixture_dir("arxiv_oai")
    home = tmp_path_factory.mktemp("home")
    out = tmp_path_factory.mktemp("snaps")
    first = run_commons("build", "--from", str(fixtures), "--out", str(out), home=home)
    assert first.returncode == 0, first.stderr
    # A second data root, so the second build does all the work again (in the same data root an unchanged
    # rebuild writes no new version: tests/test_incremental.py); same snapshots root, so it is compared.
    home = tmp_path_factory.mktemp("home2")
    second = run_commons("build", "--from", str(fixtures), "--out", str(out), home=home)
    assert second.returncode == 0, second.stderr
    return Path(first.stdout.strip().splitlines()[-1]), Path(second.stdout.strip().splitlines()[-1]), home


def test_one_papers_row_per_distinct_arxiv_id(
    two_builds: tuple[Path, Path, Path], arxiv_fixtures: Path
) -> None:
    snap, _, _ = two_builds
    con = duckdb.connect()
    ids = {r[0] for r in con.execute(f"SELECT arxiv_id FROM '{snap}/data/papers/*.parquet'").fetchall()}
    assert ids == expected_arxiv_ids(arxiv_fixtures)
    rows = con.execute(f"SELECT count(*) FROM '{snap}/data/papers/*.parquet'").fetchone()
    assert rows is not None and rows[0] == len(ids)


def test_second_build_is_a_new_version_with_identical_parquet(two_builds: tuple[Path, Path, Path]) -> None:
    first, second, _ = two_builds
    assert first.name != second.name and second.name.startswith(first.name)
    first_files = sorted(p.relative_to(first) for p in (first / "data").rglob("*.parquet"))
    assert first_files == sorted(p.relative_to(second) for p in (second / "data").rglob("*.parquet"))
    assert first_files
    for rel in first_files:
        assert (first / rel).read_bytes() == (second / rel).read_bytes(), rel
    manifest = json.loads((second / "manifest.json").read_text())
    assert manifest["previous_version"] == first.name
    for table in manifest["tables"].values():
        assert (table["diff"]["added"], table["diff"]["updated"], table["diff"]["deleted"]) == (0, 0, 0)
    assert "Compared with " + first.name in (second / "CHANGELOG.md").read_text()


def test_snapshot_files_are_as_promised(two_builds: tuple[Path, Path, Path]) -> None:
    snap, _, _ = two_builds
    manifest = json.loads((snap / "manifest.json").read_text())
    assert manifest["version"] == snap.name
    for name, table in manifest["tables"].items():
        for f in table["files"]:
            path = snap / f["path"]
            meta = pq.ParquetFile(path).metadata
            assert meta.num_rows == f["rows"]
            if meta.num_row_groups == 0:
                continue  # a table with no rows yet (e.g. paper_texts without full-text input)
            assert meta.row_group(0).column(0).compression == "ZSTD"
            col = meta.row_group(0).column(0)
            assert col.has_offset_index and col.has_column_index, name
            assert b"created" not in (meta.metadata or {})
    keys = pq.read_table(snap / "data/papers/papers-00000.parquet", columns=["work_id"]).column(0).to_pylist()
    assert keys == sorted(keys)
    assert not list(snap.parent.glob(".*.tmp")), "no temporary snapshot folders are left behind"


def test_commons_query_formats(two_builds: tuple[Path, Path, Path]) -> None:
    _, snap, home = two_builds
    # Without --snapshot: the latest snapshot under the data root (here none, so --snapshot is given).
    out = run_commons(
        "query",
        "--snapshot",
        str(snap),
        "--format",
        "json",
        "SELECT work_id, len(authors) AS n FROM papers WHERE arxiv_id = '1401.2122'",
        home=home,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [{"work_id": "arxiv:1401.2122", "n": 1}]
    out = run_commons(
        "query",
        "--snapshot",
        str(snap),
        "--format",
        "csv",
        "SELECT status, count(*) AS n FROM fetches GROUP BY 1 ORDER BY 1",
        home=home,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["status,n", "empty,1", "error,1", "ok,14"]
    out = run_commons("query", "--snapshot", str(snap), "SELECT count(*) AS papers FROM papers", home=home)
    assert out.returncode == 0 and "(1 row)" in out.stdout
    bad = run_commons("query", "--snapshot", str(snap), "SELECT * FROM nonexistent", home=home)
    assert bad.returncode != 0 and "nonexistent" in bad.stderr


def test_views_sql_works_from_the_snapshot_folder(two_builds: tuple[Path, Path, Path]) -> None:
    snap, _, _ = two_builds
    cwd = os.getcwd()
    try:
        os.chdir(snap)
        con = duckdb.connect()
        con.execute((snap / "views.sql").read_text())
        row = con.execute("SELECT count(*) FROM papers").fetchone()
        assert row is not None and row[0] > 0
    finally:
        os.chdir(cwd)


def test_load_dataset_offline(two_builds: tuple[Path, Path, Path], tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    snap, _, _ = two_builds
    os.environ.setdefault("HF_HOME", str(tmp_path / "hf"))
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    papers = datasets.load_dataset(str(snap), "papers", split="train", cache_dir=str(tmp_path / "cache"))
    assert papers.num_rows == json.loads((snap / "manifest.json").read_text())["tables"]["papers"]["rows"]
    assert "authors" in papers.column_names


def test_bad_input_is_recorded_and_the_batch_goes_on(tmp_path: Path, arxiv_fixtures: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    good = arxiv_fixtures / "hepcrawl_oai_ListRecords_arXiv_hep-ex.xml"
    (folder / "good.xml").write_bytes(good.read_bytes())
    (folder / "empty.xml").write_bytes(b"")
    (folder / "truncated.xml").write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    result = run_commons(
        "build", "--from", str(folder), "--out", str(tmp_path / "snaps"), home=tmp_path / "home"
    )
    assert result.returncode == 0, result.stderr
    snap = Path(result.stdout.strip().splitlines()[-1])
    con = duckdb.connect()
    rows = dict(
        con.execute(
            f"SELECT url_or_path, coalesce(error, status) FROM '{snap}/data/fetches/*.parquet'"
        ).fetchall()
    )
    assert rows["mixed/good.xml"] == "ok"
    assert "mixed/empty.xml" in rows["mixed/empty.xml"] and "empty" in rows["mixed/empty.xml"]
    assert "mixed/truncated.xml" in rows["mixed/truncated.xml"] and "line" in rows["mixed/truncated.xml"]
    papers = con.execute(f"SELECT count(*) FROM '{snap}/data/papers/*.parquet'").fetchone()
    assert papers is not None and papers[0] >= 3


def test_missing_input_is_a_clear_error(tmp_path: Path) -> None:
    result = run_commons("build", "--from", str(tmp_path / "nope"), home=tmp_path / "home")
    assert result.returncode != 0
    assert "nope" in result.stderr and "does not exist" in result.stderr


class _OaiServer:
    """A local OAI-PMH endpoint on 127.0.0.1 answering with real recorded arXiv pages (the live path, offline)."""

    def __init__(self, first_page: bytes, second_page: bytes, token: str) -> None:
        self.requests: list[dict[str, list[str]]] = []
        pages = {"first": first_page, "second": second_page}
        requests = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                params = parse_qs(urlparse(self.path).query)
                requests.append(params)
                body = pages["second"] if params.get("resumptionToken") == [token] else pages["first"]
                self.send_response(200)
                self.send_header("Content-Type", "text/xml; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/oai"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def oai_server(arxiv_fixtures: Path) -> Iterator[_OaiServer]:
    server = _OaiServer(
        (
            arxiv_fixtures / "atomiklabs_oai_ListRecords_oai_dc_cs_2024-01-25_with_resumptionToken.xml"
        ).read_bytes(),
        (arxiv_fixtures / "hepcrawl_oai_ListRecords_arXiv_hep-ex.xml").read_bytes(),
        "6960524|1001",
    )
    yield server
    server.close()


def test_live_harvest_pages_through_and_keeps_a_watermark(tmp_path: Path, oai_server: _OaiServer) -> None:
    home = tmp_path / "home"
    env = {"COMMONS_ARXIV_OAI_URL": oai_server.url}
    args = [
        "build",
        "--live",
        "--source",
        "arxiv",
        "--set",
        "cs",
        "--metadata-prefix",
        "oai_dc",
        "--out",
        str(tmp_path / "snaps"),
    ]
    result = run_commons(*args, "--since", "2024-01-25", "--until", "2024-01-26", home=home, env=env)
    assert result.returncode == 0, result.stderr
    first, second = oai_server.requests[:2]
    assert first == {
        "verb": ["ListRecords"],
        "metadataPrefix": ["oai_dc"],
        "set": ["cs"],
        "from": ["2024-01-25"],
        "until": ["2024-01-26"],
    }
    assert second == {"verb": ["ListRecords"], "resumptionToken": ["6960524|1001"]}
    snap = Path(result.stdout.strip().splitlines()[-1])
    row = duckdb.connect().execute(f"SELECT count(*) FROM '{snap}/data/papers/*.parquet'").fetchone()
    assert row is not None and row[0] == 8
    marks = json.loads((home / "watermarks" / "arxiv.json").read_text())
    assert marks == {"cs|oai_dc": "2024-01-26"}
    # Continuing from the watermark re-harvests its month as one partition.
    again = run_commons(*args, "--until", "2024-01-31", home=home, env=env)
    assert again.returncode == 0, again.stderr
    assert oai_server.requests[2]["from"] == ["2024-01-01"]


def test_live_targeted_ids_use_get_record(tmp_path: Path, arxiv_fixtures: Path) -> None:
    record = (arxiv_fixtures / "hepcrawl_oai_GetRecord_arXiv_1401.2122.xml").read_bytes()
    server = _OaiServer(record, record, "unused")
    try:
        result = run_commons(
            "build",
            "--live",
            "--source",
            "arxiv",
            "--ids",
            "arXiv:1401.2122v3",
            "--out",
            str(tmp_path / "snaps"),
            home=tmp_path / "home",
            env={"COMMONS_ARXIV_OAI_URL": server.url},
        )
    finally:
        server.close()
    assert result.returncode == 0, result.stderr
    assert server.requests == [
        {"verb": ["GetRecord"], "identifier": ["oai:arXiv.org:1401.2122"], "metadataPrefix": ["arXiv"]}
    ]
    snap = Path(result.stdout.strip().splitlines()[-1])
    rows = duckdb.connect().execute(f"SELECT work_id, license FROM '{snap}/data/papers/*.parquet'").fetchall()
    assert rows == [("arxiv:1401.2122", "LicenseRef-arXiv-nonexclusive-distrib-1.0")]
    assert not (tmp_path / "home" / "watermarks" / "arxiv.json").exists(), (
        "targeted fetches move no watermark"
    )


def test_live_pdf_harvest_fetches_only_redistributable_papers(tmp_path: Path, arxiv_fixtures: Path) -> None:
    """PDF acquisition: after a metadata build, `--live --source pdf` asks a local stand-in for arxiv.org
    (127.0.0.1) for exactly the in-scope papers whose license allows redistributing their text. The
    recordings' physics papers are out of scope, so one of the two redistributable ones is marked in scope
    in the build's `relevance` table (as the tagger would mark a safety paper); the other is not fetched."""
    from tests.conftest import fixture_dir

    home = tmp_path / "home"
    first = run_commons("build", "--from", str(arxiv_fixtures), "--out", str(tmp_path / "snaps"), home=home)
    assert first.returncode == 0, first.stderr
    snap = Path(first.stdout.strip().splitlines()[-1])
    wanted = (
        duckdb.connect()
        .execute(f"SELECT arxiv_id FROM '{snap}/data/papers/*.parquet' WHERE text_redistributable ORDER BY 1")
        .fetchall()
    )
    assert len(wanted) >= 2, "the recordings hold CC-BY papers"
    relevance = home / "tables" / "relevance" / "relevance.parquet"
    con = duckdb.connect()
    assert con.execute(f"SELECT count(*) FROM '{relevance}' WHERE in_scope").fetchone() == (0,)
    chosen = [wanted[0][0]]  # one in scope, the other redistributable paper out
    rewritten = tmp_path / "relevance.parquet"
    con.execute(
        f"""COPY (SELECT * REPLACE (record_id = 'arxiv:{chosen[0]}' AS in_scope,
                CASE WHEN record_id = 'arxiv:{chosen[0]}' THEN 0.9 ELSE relevance END AS relevance)
            FROM '{relevance}') TO '{rewritten}' (FORMAT parquet)"""
    )
    rewritten.replace(relevance)
    pdf = (fixture_dir("pdfs") / "arxiv_1111.2011v2.pdf").read_bytes()
    paths: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            paths.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/pdf")
            self.send_header("Content-Length", str(len(pdf)))
            self.end_headers()
            self.wfile.write(pdf)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = {"COMMONS_ARXIV_PDF_URL": f"http://127.0.0.1:{server.server_address[1]}/pdf"}
        second = run_commons(
            "build", "--live", "--source", "pdf", "--out", str(tmp_path / "snaps"), home=home, env=env
        )
    finally:
        server.shutdown()
        server.server_close()
    assert second.returncode == 0, second.stderr
    assert sorted(p.rsplit("/", 1)[-1].rsplit("v", 1)[0] for p in paths) == chosen
