"""The GROBID client against a fake GROBID server on 127.0.0.1 (no network): the real client code runs.

The fake answers ``/api/isalive``, ``/api/version`` and ``/api/processFulltextDocument`` with the TEI
GROBID recorded for a known PDF (the pairs in ../shared/fixtures/pdfs and grobid_tei, matched by the
uploaded file's SHA-256 or name), and can be told to answer 503 (with or without Retry-After), 500 with
GROBID's error codes, 204, or to stall past the client's timeout. It counts requests in flight.
grobid-client-python, the reference client, is driven against the same fake to show it speaks GROBID's
protocol as that client does.
"""

from __future__ import annotations

import contextlib
import email.parser
import email.policy
import hashlib
import json
import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pipelines.parse.grobid_client import (
    GROBID_ERROR_CODES,
    GrobidClient,
    GrobidConfig,
    GrobidError,
    GrobidResult,
    GrobidUnavailable,
)
from tests.conftest import FIXTURES, fixture_dir


def _stem(name: str) -> str:
    for suffix in (".grobid.tei.xml", ".tei.xml", ".pdf"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def recorded_pairs() -> list[tuple[Path, Path]]:
    """(PDF, the TEI GROBID made of it) for every PDF in the fixtures whose TEI was recorded too."""
    pdfs, teis = FIXTURES / "pdfs", FIXTURES / "grobid_tei"
    if not (pdfs.is_dir() and teis.is_dir()):
        return []
    by_stem = {_stem(p.name): p for p in teis.iterdir()}
    return [(p, by_stem[_stem(p.name)]) for p in sorted(pdfs.iterdir()) if _stem(p.name) in by_stem]


@dataclass
class Upload:
    """One processFulltextDocument request as the fake server received it."""

    fields: list[tuple[str, str]]
    filename: str | None
    content_type: str | None
    sha256: str
    size: int


@dataclass
class FakeGrobid:
    """A fake GROBID server on 127.0.0.1. ``script`` holds planned answers; then recordings are served.

    Planned answers: ``("503", retry_after or None)``, ``("error", status, body)``, ``("204",)``,
    ``("stall", seconds)``, ``("ok",)``. Without a plan, a known PDF (by SHA-256, else by file name) gets
    its recorded TEI and any other PDF a 500 ``[GENERAL]`` body, as a GROBID would fail on it.
    """

    recordings: dict[str, bytes] = field(default_factory=dict)  # PDF sha256 -> TEI bytes
    by_name: dict[str, bytes] = field(default_factory=dict)  # PDF file name stem -> TEI bytes
    version_body: bytes = b'{"version":"0.8.0","revision":"abc1234"}'
    alive_status: int = 200
    delay_s: float = 0.0  # time to "process" each document
    script: deque[tuple[object, ...]] = field(default_factory=deque)
    uploads: list[Upload] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _release: threading.Event = field(default_factory=threading.Event)

    def plan(self, *answers: tuple[object, ...]) -> None:
        self.script.extend(answers)

    def _answer_for(self, upload: Upload) -> tuple[object, ...]:
        with self._lock:
            if self.script:
                return self.script.popleft()
        return ("ok",)

    def tei_for(self, upload: Upload) -> bytes | None:
        if upload.sha256 in self.recordings:
            return self.recordings[upload.sha256]
        return self.by_name.get(_stem(upload.filename or ""))


def _parse_multipart(content_type: str, body: bytes) -> Upload:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    fields: list[tuple[str, str]] = []
    filename = ctype = None
    data = b""
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        decoded = part.get_payload(decode=True)
        payload = decoded if isinstance(decoded, bytes) else b""
        if name == "input":
            filename, ctype, data = part.get_filename(), part.get_content_type(), payload
        else:
            fields.append((str(name), payload.decode()))
    return Upload(fields, filename, ctype, hashlib.sha256(data).hexdigest(), len(data))


@pytest.fixture
def fake_grobid() -> Iterator[FakeGrobid]:
    with serve_fake_grobid() as fake:
        yield fake


class serve_fake_grobid:  # used like a function: `with serve_fake_grobid() as fake`
    """Start a FakeGrobid on 127.0.0.1 with the fixtures' recorded PDF/TEI pairs; stop it on exit."""

    def __init__(self, fake: FakeGrobid | None = None) -> None:
        self.fake = fake or FakeGrobid()
        for pdf, tei in recorded_pairs():
            tei_bytes = tei.read_bytes()
            self.fake.recordings[hashlib.sha256(pdf.read_bytes()).hexdigest()] = tei_bytes
            self.fake.by_name[_stem(pdf.name)] = tei_bytes

    def __enter__(self) -> FakeGrobid:
        fake = self.fake

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if body:
                    self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path == "/api/isalive":
                    self._send(fake.alive_status, b"true" if fake.alive_status == 200 else b"")
                elif self.path == "/api/version":
                    self._send(200, fake.version_body)
                else:
                    self._send(404, b"not found")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if self.path != "/api/processFulltextDocument":
                    self._send(404, b"not found")
                    return
                upload = _parse_multipart(self.headers.get("Content-Type", ""), body)
                with fake._lock:
                    fake.uploads.append(upload)
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                try:
                    self._process(upload)
                finally:
                    with fake._lock:
                        fake.in_flight -= 1

            def _process(self, upload: Upload) -> None:
                answer = fake._answer_for(upload)
                kind = answer[0]
                if kind == "503":
                    retry_after = answer[1] if len(answer) > 1 else None
                    self._send(503, b"", {"Retry-After": str(retry_after)} if retry_after is not None else {})
                elif kind == "error":
                    self._send(int(str(answer[1])), str(answer[2]).encode())
                elif kind == "204":
                    self._send(204)
                elif kind == "stall":
                    fake._release.wait(float(str(answer[1])))
                    with contextlib.suppress(OSError):  # the client has given up
                        self._send(200, b"<TEI/>")
                else:
                    if fake.delay_s:
                        time.sleep(fake.delay_s)
                    tei = fake.tei_for(upload)
                    if tei is None:
                        self._send(500, b"[GENERAL] the fake GROBID has no recording for this PDF")
                    else:
                        self._send(200, tei, {"Content-Type": "application/xml"})

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()
        fake.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        return fake

    def __exit__(self, *exc: object) -> None:
        self.fake._release.set()
        self.server.shutdown()
        self.server.server_close()


def _client(fake: FakeGrobid, sleeps: list[float] | None = None, **config: object) -> GrobidClient:
    settings: dict[str, object] = {"backoff_base_s": 0.01, "backoff_cap_s": 0.05, **config}
    sink = sleeps if sleeps is not None else []
    return GrobidClient(GrobidConfig(url=fake.url, **settings), sleep=sink.append)  # type: ignore[arg-type]


def _pairs() -> list[tuple[Path, Path]]:
    fixture_dir("pdfs")
    fixture_dir("grobid_tei")
    pairs = recorded_pairs()
    assert len(pairs) >= 5, "the fixtures hold at least five PDFs with their recorded TEI"
    return pairs


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# -- answers ---------------------------------------------------------------------------------------


def test_returns_the_recorded_tei_bytes_for_every_known_pdf(fake_grobid: FakeGrobid) -> None:
    client = _client(fake_grobid)
    for pdf, tei in _pairs():
        result = client.process(pdf.read_bytes(), f"pdfs/{pdf.name}")
        assert isinstance(result, GrobidResult)
        assert result.tei == tei.read_bytes(), pdf.name
        assert result.pdf_sha256 == hashlib.sha256(pdf.read_bytes()).hexdigest()
        assert result.grobid_version == "0.8.0"
        assert result.attempts == 1
    assert len(fake_grobid.uploads) == len(_pairs())


def test_sends_consolidation_off_explicitly_and_the_documented_fields(fake_grobid: FakeGrobid) -> None:
    pdf, _ = _pairs()[0]
    result = _client(fake_grobid).process(pdf.read_bytes(), f"some/folder/{pdf.name}")
    upload = fake_grobid.uploads[0]
    fields = dict(upload.fields)
    # Explicit zeros: left out, the server's defaults would call CrossRef for every document.
    assert fields["consolidateHeader"] == "0"
    assert fields["consolidateCitations"] == "0"
    assert fields["includeRawCitations"] == "1"
    assert fields["segmentSentences"] == "0"
    assert [v for k, v in upload.fields if k == "teiCoordinates"] == ["figure", "formula"]
    assert upload.filename == pdf.name  # the multipart part carries the file name, not our folder
    assert upload.content_type == "application/pdf"
    assert upload.size == pdf.stat().st_size
    assert result.params == tuple(upload.fields)


def test_consolidation_can_be_switched_on_explicitly(fake_grobid: FakeGrobid) -> None:
    pdf, _ = _pairs()[0]
    _client(fake_grobid, consolidate_header=1, consolidate_citations=2).process(pdf.read_bytes(), pdf.name)
    fields = dict(fake_grobid.uploads[0].fields)
    assert (fields["consolidateHeader"], fields["consolidateCitations"]) == ("1", "2")


def test_503_then_200_backs_off_and_succeeds(fake_grobid: FakeGrobid) -> None:
    pdf, tei = _pairs()[0]
    fake_grobid.plan(("503", None), ("503", None), ("ok",))
    sleeps: list[float] = []
    result = _client(fake_grobid, sleeps).process(pdf.read_bytes(), pdf.name)
    assert result.tei == tei.read_bytes()
    assert result.attempts == 3
    assert len(fake_grobid.uploads) == 3
    # Exponential backoff with jitter in the upper half: 0.01 then 0.02 ceilings.
    assert 0.005 <= sleeps[0] <= 0.01 and 0.01 <= sleeps[1] <= 0.02


def test_503_honours_retry_after_in_seconds_and_as_a_date(fake_grobid: FakeGrobid) -> None:
    pdf, tei = _pairs()[0]
    future = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    fake_grobid.plan(("503", "7"), ("503", future), ("ok",))
    sleeps: list[float] = []
    result = _client(fake_grobid, sleeps).process(pdf.read_bytes(), pdf.name)
    assert result.tei == tei.read_bytes()
    assert sleeps[0] == 7.0
    assert 20 <= sleeps[1] <= 31


def test_retry_after_is_capped(fake_grobid: FakeGrobid) -> None:
    pdf, _ = _pairs()[0]
    fake_grobid.plan(("503", "100000"), ("ok",))
    sleeps: list[float] = []
    _client(fake_grobid, sleeps, max_retry_after_s=5.0).process(pdf.read_bytes(), pdf.name)
    assert sleeps == [5.0]


def test_retries_on_503_are_bounded(fake_grobid: FakeGrobid) -> None:
    pdf, _ = _pairs()[0]
    fake_grobid.plan(*[("503", None)] * 50)
    sleeps: list[float] = []
    with pytest.raises(GrobidError) as info:
        _client(fake_grobid, sleeps, max_retries=3).process(pdf.read_bytes(), "pdfs/busy.pdf")
    assert info.value.code == "BUSY"
    assert info.value.http_status == 503
    assert "pdfs/busy.pdf" in str(info.value)
    assert len(fake_grobid.uploads) == 4  # the first attempt and three retries, no more
    assert len(sleeps) == 3


# GROBID's error bodies name the GrobidExceptionStatus in brackets; older servers answer NO_BLOCKS with 400
# and TIMEOUT / TOO_MANY_BLOCKS with 409 instead of 500.
@pytest.mark.parametrize("code", GROBID_ERROR_CODES)
@pytest.mark.parametrize("status", [500, 400, 409])
def test_grobid_error_codes_become_per_document_errors(
    fake_grobid: FakeGrobid, code: str, status: int
) -> None:
    pdf, _ = _pairs()[0]
    fake_grobid.plan(("error", status, f"[{code}] GROBID failed on /opt/grobid/tmp/origin123.pdf"))
    with pytest.raises(GrobidError) as info:
        _client(fake_grobid).process(pdf.read_bytes(), "pdfs/bad.pdf")
    error = info.value
    assert (error.code, error.http_status, error.document) == (code, status, "pdfs/bad.pdf")
    assert str(error).startswith(f"pdfs/bad.pdf: GROBID {code}")
    assert len(fake_grobid.uploads) == 1  # a document's error is not retried
    assert error.permanent == (
        code
        in {"BAD_INPUT_DATA", "NO_BLOCKS", "TOO_MANY_BLOCKS", "TOO_MANY_TOKENS", "PDFALTO_CONVERSION_FAILURE"}
    )


def test_an_error_without_a_grobid_code_keeps_the_http_status(fake_grobid: FakeGrobid) -> None:
    pdf, _ = _pairs()[0]
    fake_grobid.plan(("error", 502, "<html>Bad Gateway</html>"))
    with pytest.raises(GrobidError) as info:
        _client(fake_grobid).process(pdf.read_bytes(), pdf.name)
    assert info.value.code == "HTTP_502"


def test_204_is_a_no_content_error(fake_grobid: FakeGrobid) -> None:
    pdf, _ = _pairs()[0]
    fake_grobid.plan(("204",))
    with pytest.raises(GrobidError) as info:
        _client(fake_grobid).process(pdf.read_bytes(), "pdfs/empty-result.pdf")
    assert (info.value.code, info.value.http_status) == ("NO_CONTENT", 204)
    assert "pdfs/empty-result.pdf" in str(info.value)


def test_a_stall_beyond_the_timeout_is_a_client_timeout(fake_grobid: FakeGrobid) -> None:
    pdf, _ = _pairs()[0]
    fake_grobid.plan(("stall", 5.0))
    started = time.monotonic()
    with pytest.raises(GrobidError) as info:
        _client(fake_grobid, timeout_s=0.3).process(pdf.read_bytes(), pdf.name)
    assert info.value.code == "CLIENT_TIMEOUT"
    assert not info.value.permanent
    assert time.monotonic() - started < 3.0
    assert len(fake_grobid.uploads) == 1


def test_a_200_that_is_not_tei_is_an_error(fake_grobid: FakeGrobid) -> None:
    fake_grobid.by_name["odd"] = b"<html>proxy login</html>"
    with pytest.raises(GrobidError) as info:
        _client(fake_grobid).process(b"%PDF-1.4 not really", "odd.pdf")
    assert info.value.code == "NOT_TEI"


# -- limits ----------------------------------------------------------------------------------------


def test_oversized_and_empty_pdfs_are_refused_without_a_request(fake_grobid: FakeGrobid) -> None:
    client = _client(fake_grobid, max_pdf_bytes=1000)
    with pytest.raises(GrobidError) as info:
        client.process(b"%PDF-1.7\n" + b"0" * 2000, "pdfs/huge.pdf")
    assert info.value.code == "TOO_LARGE" and "pdfs/huge.pdf" in str(info.value)
    with pytest.raises(GrobidError) as info:
        client.process(b"", "pdfs/empty.pdf")
    assert info.value.code == "EMPTY_INPUT"
    assert fake_grobid.uploads == []


def test_concurrency_never_exceeds_the_configured_number(fake_grobid: FakeGrobid) -> None:
    pairs = _pairs()
    fake_grobid.delay_s = 0.15
    client = _client(fake_grobid, max_concurrency=3)
    documents = [(pdf.name, pdf.read_bytes()) for pdf, _ in pairs] * 2
    started = time.monotonic()
    results = client.process_many(documents)
    elapsed = time.monotonic() - started
    assert fake_grobid.max_in_flight == 3  # reached, never exceeded
    assert len(fake_grobid.uploads) == len(documents)
    # Results in input order, each the recorded TEI of its PDF.
    expected = [tei.read_bytes() for _, tei in pairs] * 2
    assert [r.tei for r in results if isinstance(r, GrobidResult)] == expected
    assert elapsed < len(documents) * 0.15  # ran in parallel


def test_concurrency_is_shared_by_threads_using_one_client(fake_grobid: FakeGrobid) -> None:
    pdf, _ = _pairs()[0]
    data = pdf.read_bytes()
    fake_grobid.delay_s = 0.1
    client = _client(fake_grobid, max_concurrency=2)
    threads = [threading.Thread(target=client.process, args=(data, pdf.name)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(fake_grobid.uploads) == 6
    assert fake_grobid.max_in_flight <= 2


def test_process_many_turns_failures_into_entries(fake_grobid: FakeGrobid) -> None:
    pdf, tei = _pairs()[0]
    fake_grobid.plan(("ok",), ("error", 500, "[NO_BLOCKS] empty"), ("204",))
    client = _client(fake_grobid, max_concurrency=1)
    results = client.process_many(
        [
            ("a.pdf", pdf.read_bytes()),
            ("b.pdf", pdf.read_bytes()),
            ("c.pdf", pdf.read_bytes()),
            ("d.pdf", b""),
        ]
    )
    assert isinstance(results[0], GrobidResult) and results[0].tei == tei.read_bytes()
    assert [(r.code, r.document) for r in results[1:] if isinstance(r, GrobidError)] == [
        ("NO_BLOCKS", "b.pdf"),
        ("NO_CONTENT", "c.pdf"),
        ("EMPTY_INPUT", "d.pdf"),
    ]


# -- server state ----------------------------------------------------------------------------------


def test_is_alive_and_version(fake_grobid: FakeGrobid) -> None:
    client = _client(fake_grobid)
    assert client.is_alive()
    assert client.version() == "0.8.0"
    fake_grobid.alive_status = 503
    assert client.is_alive()  # remembered for alive_ttl_s
    assert not client.is_alive(refresh=True)


def test_version_as_plain_text(fake_grobid: FakeGrobid) -> None:
    fake_grobid.version_body = b"0.7.2\n"
    assert _client(fake_grobid).version() == "0.7.2"


def test_an_unreachable_server_is_not_alive_and_unavailable() -> None:
    config = GrobidConfig(url=closed_port_url(), connect_timeout_s=2.0)
    client = GrobidClient(config)
    assert not client.is_alive()
    assert client.version() == "unknown"
    with pytest.raises(GrobidUnavailable) as info:
        client.process(b"%PDF-1.7 ...", "pdfs/x.pdf")
    assert info.value.code == "UNAVAILABLE" and "pdfs/x.pdf" in str(info.value)
    results = client.process_many([("a.pdf", b"%PDF-1.7"), ("b.pdf", b"%PDF-1.7")])
    assert all(isinstance(r, GrobidUnavailable) for r in results)


def test_configuration_from_the_environment() -> None:
    assert GrobidConfig.from_env({}) is None
    assert GrobidConfig.from_env({"COMMONS_GROBID_URL": " "}) is None
    config = GrobidConfig.from_env(
        {
            "COMMONS_GROBID_URL": "http://grobid:8070/",
            "COMMONS_GROBID_CONCURRENCY": "8",
            "COMMONS_GROBID_TIMEOUT_S": "240",
            "COMMONS_PDF_MAX_BYTES": "1000000",
        }
    )
    assert config is not None
    assert (config.url, config.max_concurrency, config.timeout_s, config.max_pdf_bytes) == (
        "http://grobid:8070",
        8,
        240.0,
        1_000_000,
    )
    with pytest.raises(ValueError, match="COMMONS_GROBID_CONCURRENCY"):
        GrobidConfig.from_env({"COMMONS_GROBID_URL": "http://g", "COMMONS_GROBID_CONCURRENCY": "many"})


def test_nothing_of_the_documents_is_logged(
    fake_grobid: FakeGrobid, caplog: pytest.LogCaptureFixture
) -> None:
    pdf, _ = _pairs()[0]
    fake_grobid.plan(("503", None), ("ok",))
    with caplog.at_level(logging.DEBUG):
        _client(fake_grobid).process(pdf.read_bytes(), pdf.name)
    assert "busy" in caplog.text.lower()
    assert "%PDF" not in caplog.text and "<TEI" not in caplog.text


def test_errors_pickle() -> None:
    import pickle

    for error in (GrobidError("NO_BLOCKS", "a.pdf", "empty", 500), GrobidUnavailable("a.pdf", "refused")):
        again = pickle.loads(pickle.dumps(error))
        assert (type(again), str(again), again.code) == (type(error), str(error), error.code)


# -- the reference client --------------------------------------------------------------------------


def test_the_reference_client_speaks_to_the_fake_server(fake_grobid: FakeGrobid) -> None:
    """grobid-client-python's own request against the fake: same protocol, and why its layer was replaced."""
    grobid_client = pytest.importorskip("grobid_client.grobid_client")
    pdf, tei = _pairs()[0]
    reference = grobid_client.GrobidClient(grobid_server=fake_grobid.url, check_server=False, timeout=30)
    _, status, text = reference.process_pdf(
        "processFulltextDocument",
        str(pdf),
        consolidate_header=False,
        consolidate_citations=False,
        include_raw_citations=True,
    )
    assert status == 200 and text.encode() == tei.read_bytes()
    upload = fake_grobid.uploads[0]
    assert upload.filename is not None and upload.filename.endswith(pdf.name)
    assert upload.content_type == "application/pdf"
    # "Off" is not sent at all, so the server's defaults (CrossRef calls) apply: ours sends 0.
    assert "consolidateHeader" not in dict(upload.fields)
    _client(fake_grobid).process(pdf.read_bytes(), pdf.name)
    ours = fake_grobid.uploads[1]
    assert {k for k, _ in upload.fields} <= {k for k, _ in ours.fields}
    assert json.loads(fake_grobid.version_body)["version"] == "0.8.0"
