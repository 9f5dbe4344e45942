"""The ``pdf`` source end to end through ``harvest_batch`` over the real PDFs in ../shared/fixtures/pdfs.

With a fake GROBID server on 127.0.0.1 (see tests/test_grobid_client.py; no network) rows come from the
recorded TEI; without one, from page text. Bad PDFs are recorded as errors in the staged fetches and the
batch completes. The live path (arXiv PDFs) is tested against a local server on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from pipelines.fetch.http import FetchError, PoliteFetcher
from pipelines.fetch.raw_store import RawStore
from pipelines.harvest import HarvestSummary, harvest_batch, staging_path
from pipelines.local_input import plan_local_input
from pipelines.settings import DataRoot
from pipelines.sources import pdf
from pipelines.sources.base import ParseContext, ParseError, RawDocument
from pipelines.sources.registry import detect_source, get_source
from tests.conftest import FIXTURES, fixture_dir
from tests.test_grobid_client import FakeGrobid, closed_port_url, recorded_pairs, serve_fake_grobid

BAD = {
    "zero-size-pdf.pdf": "empty file (zero bytes)",
    "broken-pdf.pdf": "not a PDF",
    "pdfminer_encrypted_aes-128.pdf": "encrypted PDF",
}
ARXIV_NAMED = {
    "2206.10883v3.pdf": "arxiv:2206.10883",
    "arxiv_1111.2011v2.pdf": "arxiv:1111.2011",
    "1903.10676.pdf": "arxiv:1903.10676",
}


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DataRoot:
    """A fresh data root (the TEI cache lives there), and no GROBID unless a test configures one."""
    monkeypatch.setenv("COMMONS_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("COMMONS_PIPELINE_VERSION", "test")
    monkeypatch.delenv("COMMONS_GROBID_URL", raising=False)
    monkeypatch.delenv("COMMONS_PDF_MAX_BYTES", raising=False)
    return DataRoot(tmp_path / "data").ensure()


def _harvest(root: DataRoot) -> tuple[HarvestSummary, dict[str, list[dict[str, Any]]]]:
    plan = plan_local_input(fixture_dir("pdfs"))
    assert [b.source for b in plan.batches] == ["pdf"] and not plan.unclaimed
    batch = plan.batches[0]
    summary = harvest_batch(get_source("pdf"), batch, root)
    tables = {
        table: pq.read_table(staging_path(root, "pdf", table, batch.key)).to_pylist()
        for table in ("papers", "paper_texts", "references", "fetches")
    }
    return summary, tables


def _by_file(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Rows grouped by the PDF they came from (via raw_sha256)."""
    names = {hashlib.sha256(p.read_bytes()).hexdigest(): p.name for p in (FIXTURES / "pdfs").iterdir()}
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        out.setdefault(names[row["raw_sha256"]], []).append(row)
    return out


def _fetch_by_file(fetches: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {Path(f["url_or_path"]).name: f for f in fetches}


def _without_volatile(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "retrieved_at"} for r in rows]


def test_without_grobid_every_readable_pdf_gives_page_rows(root: DataRoot) -> None:
    summary, tables = _harvest(root)
    all_pdfs = sorted(p.name for p in fixture_dir("pdfs").iterdir())
    assert summary.documents == len(all_pdfs)  # every file, the bad ones included, reached the parser
    assert tables["papers"] == [] and tables["references"] == []
    texts = _by_file(tables["paper_texts"])
    assert set(texts) == set(all_pdfs) - set(BAD)
    for name, rows in texts.items():
        assert {r["parser"] for r in rows} == {"pdf_text"}
        assert {r["text_quality"] for r in rows} == {"page_text"}
        assert {r["license"] for r in rows} == {"unknown"}
        expected = ARXIV_NAMED.get(name) or f"pdf:{rows[0]['raw_sha256'][:16]}"
        assert {r["work_id"] for r in rows} == {expected}, name
    assert texts["2206.10883v3.pdf"][0]["source_record_id"] == "arxiv:2206.10883v3"
    assert texts["2206.10883v3.pdf"][0]["source_url"] == "https://arxiv.org/pdf/2206.10883v3"
    assert texts["N18-3011.pdf"][0]["source_record_id"].startswith("sha256:")
    fetches = _fetch_by_file(tables["fetches"])
    for name, problem in BAD.items():
        assert fetches[name]["status"] == "error"
        assert name in fetches[name]["error"] and problem in fetches[name]["error"]
    assert all(f["status"] == "ok" for n, f in fetches.items() if n not in BAD)
    assert {f["parser"] for n, f in fetches.items() if n not in BAD} == {"pdf_text"}
    assert len(summary.errors) == len(BAD)


def test_with_grobid_rows_come_from_the_recorded_tei(root: DataRoot, monkeypatch: pytest.MonkeyPatch) -> None:
    pairs = {pdf_path.name: tei for pdf_path, tei in recorded_pairs()}
    assert len(pairs) >= 5
    reader = pdf._tei_reader()
    with serve_fake_grobid() as fake:
        monkeypatch.setenv("COMMONS_GROBID_URL", fake.url)
        summary, tables = _harvest(root)
        uploaded = {u.filename for u in fake.uploads}
    # Files that are not PDFs never reach GROBID: they fail before.
    assert not uploaded & {"zero-size-pdf.pdf", "broken-pdf.pdf"}
    fetches = _fetch_by_file(tables["fetches"])
    store = RawStore(root.raw)
    cache = pdf.TeiCache(root)
    for name, tei in pairs.items():
        pdf_sha = hashlib.sha256((FIXTURES / "pdfs" / name).read_bytes()).hexdigest()
        cached = cache.get(pdf_sha)
        assert cached is not None and cached.tei == tei.read_bytes(), name  # the TEI, byte for byte
        assert store.get(cached.tei_sha256 or "") == tei.read_bytes()
        assert cached.grobid_version == "0.8.0"
        entry = json.loads(cache.path_for(pdf_sha).read_text())
        assert ["consolidateHeader", "0"] in entry["params"]
        assert fetches[name]["status"] == "ok", fetches[name]["error"]
    texts = _by_file(tables["paper_texts"])
    references = _by_file(tables["references"])
    for name in pairs:
        rows = texts[name]
        if reader is None:  # pipelines.parse.grobid_tei is not there yet: TEI cached, rows are page text
            assert {r["parser"] for r in rows} == {"pdf_text"}
            continue
        assert {r["parser"] for r in rows} == {"grobid_tei"}
        assert {r["parser_version"] for r in rows} == {f"grobid-0.8.0+tei-{reader[1]}"}
        assert {r["text_quality"] for r in rows} == {"structured"}
        assert {r["license"] for r in rows} == {"unknown"}
        assert references.get(name), f"{name}: the recorded TEI has a bibliography"
    # PDFs the fake has no recording for got GROBID's error, recorded per document; the batch went on.
    for name, fetch in fetches.items():
        if name not in pairs and name not in BAD:
            assert fetch["status"] == "error" and "GROBID GENERAL" in fetch["error"], name
    assert summary.documents == len(fetches)


def test_cached_tei_is_reused_offline_and_gives_the_same_rows(
    root: DataRoot, monkeypatch: pytest.MonkeyPatch
) -> None:
    pairs = {pdf_path.name for pdf_path, _ in recorded_pairs()}
    with serve_fake_grobid() as fake:
        monkeypatch.setenv("COMMONS_GROBID_URL", fake.url)
        _, first = _harvest(root)
        sent = len(fake.uploads)
    assert sent > 0
    # The server is gone and not configured: the recorded PDFs still parse from the cached TEI.
    monkeypatch.delenv("COMMONS_GROBID_URL")
    _, second = _harvest(root)
    for table in ("papers", "paper_texts", "references"):
        before = {n: _without_volatile(r) for n, r in _by_file(first[table]).items() if n in pairs}
        after = {n: _without_volatile(r) for n, r in _by_file(second[table]).items() if n in pairs}
        assert before == after, table
    # The others failed transiently at the fake (GENERAL), which is not remembered: now page text.
    assert "papermage.pdf" not in pairs
    assert {r["parser"] for r in _by_file(second["paper_texts"])["papermage.pdf"]} == {"pdf_text"}


def test_an_unreachable_grobid_falls_back_to_page_text(
    root: DataRoot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMMONS_GROBID_URL", closed_port_url())
    summary, tables = _harvest(root)
    assert {r["parser"] for r in tables["paper_texts"]} == {"pdf_text"}
    assert len(summary.errors) == len(BAD)


def _parse(name: str) -> list[tuple[str, dict[str, Any]]]:
    data = (fixture_dir("pdfs") / name).read_bytes()
    doc = RawDocument(
        data=data, sha256=hashlib.sha256(data).hexdigest(), url_or_path=f"pdfs/{name}", kind="file"
    )
    return list(get_source("pdf").parse(doc, ParseContext()))


def test_permanent_grobid_errors_are_per_document_and_remembered(
    root: DataRoot, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve_fake_grobid(FakeGrobid()) as fake:
        fake.plan(("error", 500, "[NO_BLOCKS] PDF parsing resulted in empty content"))
        monkeypatch.setenv("COMMONS_GROBID_URL", fake.url)
        with pytest.raises(ParseError, match=r"pdfs/papermage.pdf: GROBID NO_BLOCKS"):
            _parse("papermage.pdf")
    monkeypatch.delenv("COMMONS_GROBID_URL")
    # Offline, the same bytes give the same error: it was remembered with the PDF's hash.
    with pytest.raises(ParseError, match=r"pdfs/papermage.pdf: GROBID NO_BLOCKS.*remembered"):
        _parse("papermage.pdf")


def test_grobid_busy_is_a_per_document_error_not_remembered(
    root: DataRoot, monkeypatch: pytest.MonkeyPatch
) -> None:
    pdf_path, _ = recorded_pairs()[0]
    with serve_fake_grobid() as fake:
        monkeypatch.setenv("COMMONS_GROBID_URL", fake.url)
        monkeypatch.setattr(pdf, "client_for", lambda config: _fast_client(config))
        fake.plan(*[("503", "0")] * 3)
        with pytest.raises(ParseError, match="GROBID BUSY"):
            _parse(pdf_path.name)
        rows = _parse(pdf_path.name)  # asked again, and answered
    assert rows


def _fast_client(config: Any) -> Any:
    from dataclasses import replace

    from pipelines.parse.grobid_client import GrobidClient

    return GrobidClient(replace(config, max_retries=2), sleep=lambda s: None)


def test_pdfs_above_the_size_limit_are_refused(root: DataRoot, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMMONS_PDF_MAX_BYTES", "200000")
    with pytest.raises(ParseError, match=r"pdfs/2206.10883v3.pdf: 1,710,470 bytes, above the PDF size limit"):
        _parse("2206.10883v3.pdf")
    assert _parse("N18-3011.pdf")  # 174,773 bytes


def test_arxiv_ids_from_names() -> None:
    cases = {
        "2206.10883v3.pdf": ("2206.10883", 3),
        "pdfs/arxiv_1111.2011v2.pdf": ("1111.2011", 2),
        "1903.10676.pdf": ("1903.10676", None),
        "https://arxiv.org/pdf/2206.10883v3": ("2206.10883", 3),
        "https://arxiv.org/pdf/hep-th/9901001v1": ("hep-th/9901001", 1),
        "hep-th_9901001v2.pdf": ("hep-th/9901001", 2),
        "http://127.0.0.1:8000/2401.01234v1": ("2401.01234", 1),
    }
    for name, (arxiv_id, version) in cases.items():
        parsed = pdf.arxiv_id_from_name(name)
        assert parsed is not None and (parsed.id, parsed.version) == (arxiv_id, version), name
    for name in (
        "2020.acl-main.207.pdf",
        "N18-3011.pdf",
        "papermage.pdf",
        "e5910c027af0ee9c1901c57f6579d903aedee7f4.pdf",
    ):
        assert pdf.arxiv_id_from_name(name) is None, name


def test_recognizes_pdfs_and_nothing_else_in_the_shared_fixtures() -> None:
    fixture_dir("pdfs")
    source = get_source("pdf")
    claimed = set()
    for path in sorted(p for p in FIXTURES.rglob("*") if p.is_file()):
        if source.recognizes(path.name, path.read_bytes()[:4096]):
            claimed.add(path.relative_to(FIXTURES).as_posix())
    assert claimed == {f"pdfs/{p.name}" for p in (FIXTURES / "pdfs").iterdir()}
    assert detect_source(FIXTURES / "pdfs" / "N18-3011.pdf") is source


def test_an_arxiv_named_pdf_keys_its_tei_rows_by_the_arxiv_id(
    root: DataRoot, monkeypatch: pytest.MonkeyPatch
) -> None:
    if pdf._tei_reader() is None:
        pytest.skip("pipelines.parse.grobid_tei is absent")
    data = (fixture_dir("pdfs") / "2206.10883v3.pdf").read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    tei = (fixture_dir("grobid_tei") / "N18-3011.tei.xml").read_bytes()  # any full-text TEI will do
    with serve_fake_grobid() as fake:
        fake.recordings[digest] = tei
        monkeypatch.setenv("COMMONS_GROBID_URL", fake.url)
        rows = _parse("2206.10883v3.pdf")
    assert {t for t, _ in rows} == {"papers", "paper_texts", "references"}
    assert {r["work_id"] for _, r in rows} == {"arxiv:2206.10883"}
    assert {r["source_record_id"] for _, r in rows} == {"arxiv:2206.10883v3"}
    assert {r["raw_sha256"] for _, r in rows if "raw_sha256" in r} <= {digest}
    papers = [r for t, r in rows if t == "papers"]
    assert papers[0]["arxiv_id"] == "2206.10883"
    assert papers[0]["license"] == "unknown" and papers[0]["text_redistributable"] is False


# -- live: arXiv PDFs ------------------------------------------------------------------------------


@pytest.fixture
def arxiv_pdf_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """A local stand-in for arxiv.org/pdf on 127.0.0.1: serves 2206.10883v3.pdf, 404 for other ids."""
    body = (fixture_dir("pdfs") / "2206.10883v3.pdf").read_bytes()
    requested: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requested.append(self.path)
            status, data = (200, body) if self.path == "/pdf/2206.10883v3" else (404, b"not found")
            self.send_response(status)
            self.send_header("Content-Type", "application/pdf" if status == 200 else "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    monkeypatch.setenv("COMMONS_ARXIV_PDF_URL", f"http://127.0.0.1:{server.server_address[1]}/pdf")
    try:
        yield requested
    finally:
        server.shutdown()
        server.server_close()


def test_live_batches() -> None:
    source = get_source("pdf")
    (batch,) = source.live_batches({"ids": "2206.10883v3, 1111.2011v2 2206.10883v3"})
    assert batch.options == {"ids": "1111.2011v2 2206.10883v3"} and batch.key.startswith("pdf-arxiv-")
    assert source.live_batches({"ids": "1111.2011v2 2206.10883v3"})[0].key == batch.key
    with pytest.raises(ValueError, match="no version"):
        source.live_batches({"ids": "2206.10883"})
    with pytest.raises(ValueError, match="not an arXiv id"):
        source.live_batches({"ids": "N18-3011"})
    with pytest.raises(ValueError, match="needs ids"):
        source.live_batches({})


def test_live_harvest_fetches_parses_and_records_a_missing_pdf(
    root: DataRoot, arxiv_pdf_server: list[str]
) -> None:
    source = get_source("pdf")
    (batch,) = source.live_batches({"ids": "2206.10883v3 2206.99999v1"})
    fetcher = PoliteFetcher(user_agent="test", min_interval_s={"127.0.0.1": 0.01}, max_attempts=1)
    summary = harvest_batch(source, batch, root, fetcher=fetcher)
    assert arxiv_pdf_server == ["/pdf/2206.10883v3", "/pdf/2206.99999v1"]
    texts = pq.read_table(staging_path(root, "pdf", "paper_texts", batch.key)).to_pylist()
    assert len(texts) == 37 and {r["work_id"] for r in texts} == {"arxiv:2206.10883"}
    assert texts[0]["source_url"].endswith("/pdf/2206.10883v3")
    assert texts[0]["source_record_id"] == "arxiv:2206.10883v3"
    fetches = pq.read_table(staging_path(root, "pdf", "fetches", batch.key)).to_pylist()
    missing = [f for f in fetches if f["url_or_path"].endswith("2206.99999v1")]
    assert missing and missing[0]["status"] == "error" and "HTTP 404" in missing[0]["error"]
    assert summary.documents == 2


def test_live_fetch_stops_on_a_server_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMMONS_ARXIV_PDF_URL", f"{closed_port_url()}/pdf")
    source = get_source("pdf")
    (batch,) = source.live_batches({"ids": "2206.10883v3"})
    fetcher = PoliteFetcher(user_agent="test", min_interval_s={"127.0.0.1": 0.01}, max_attempts=1)
    with pytest.raises(FetchError):
        list(source.fetch(batch, fetcher, None))


def test_a_local_batch_uses_grobid_at_its_concurrency(
    root: DataRoot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before parsing one by one, the harvest sends the batch's PDFs to GROBID as many at a time as configured."""
    with serve_fake_grobid() as fake:
        fake.delay_s = 0.1
        monkeypatch.setenv("COMMONS_GROBID_URL", fake.url)
        monkeypatch.setenv("COMMONS_GROBID_CONCURRENCY", "3")
        summary, _ = _harvest(root)
    assert fake.max_in_flight == 3
    known = {pdf_path.name for pdf_path, _ in recorded_pairs()}
    sent = [u.filename for u in fake.uploads if u.filename in known]
    assert sorted(sent) == sorted(known), "each PDF GROBID parsed is sent once: parse reads the cache"
    assert summary.documents == 14
