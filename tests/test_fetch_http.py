"""Tests of the polite fetcher against a scripted HTTP server on 127.0.0.1 (ephemeral port, no network).

Waits go through an injected fake ``sleep``/``clock`` pair that records every wait and advances time
instantly, so the tests verify backoff, Retry-After and spacing without sleeping for real.
"""

from __future__ import annotations

import logging
import pickle
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import pairwise
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from pipelines.fetch.http import FetchError, PoliteFetcher, is_secret_param, redact_url
from pipelines.fetch.raw_store import sha256_hex
from tests.conftest import FakeTime


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # wait this long before answering (to provoke client timeouts)


@dataclass(frozen=True)
class SeenRequest:
    host: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    arrived_at: float  # time.monotonic() on the server
    method: str = "GET"
    body: bytes = b""


class ScriptedServer:
    """An HTTP server on 127.0.0.1 that answers each path from a script; the last reply repeats."""

    def __init__(self) -> None:
        self.scripts: dict[str, list[Reply]] = {}
        self.requests: list[SeenRequest] = []
        self.release = threading.Event()  # set at teardown so delayed handlers stop waiting
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)

    def script(self, path: str, *replies: Reply) -> None:
        self.scripts[path] = list(replies)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def seen(self, path: str) -> list[SeenRequest]:
        return [request for request in self.requests if request.path == path]

    def _next_reply(self, path: str) -> Reply:
        with self._lock:
            queue = self.scripts.get(path)
            if not queue:
                return Reply(404, b"no script for this path")
            return queue.pop(0) if len(queue) > 1 else queue[0]

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._answer("GET", b"")

            def do_POST(self) -> None:
                self._answer("POST", self.rfile.read(int(self.headers.get("Content-Length") or 0)))

            def _answer(self, method: str, body: bytes) -> None:
                parts = urlsplit(self.path)
                server.requests.append(
                    SeenRequest(
                        host=self.headers.get("Host", "").rsplit(":", 1)[0],
                        path=parts.path,
                        query=parse_qs(parts.query, keep_blank_values=True),
                        headers=dict(self.headers.items()),
                        arrived_at=time.monotonic(),
                        method=method,
                        body=body,
                    )
                )
                reply = server._next_reply(parts.path)
                if reply.delay_s and server.release.wait(reply.delay_s):
                    return
                try:
                    self.send_response_only(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as running:
        yield running


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


def make_fetcher(fake_time: FakeTime, **options: object) -> PoliteFetcher:
    session = requests.Session()
    session.trust_env = False  # no proxy from the environment between us and 127.0.0.1
    settings: dict[str, object] = {"default_min_interval_s": 0.0, "timeout_s": 5.0, **options}
    return PoliteFetcher(
        "research-commons-tests/0.1 (mailto:tests@example.org)",
        session=session,
        sleep=fake_time.sleep,
        clock=fake_time.clock,
        **settings,  # type: ignore[arg-type]
    )


HTTP_DATE = "Wed, 21 Oct 2015 07:28:00 GMT"


def test_success_returns_exact_bytes_and_transport_facts(server: ScriptedServer, fake_time: FakeTime) -> None:
    body = b"<OAI-PMH>\x00\xff bytes as sent</OAI-PMH>"
    server.script("/page", Reply(200, body, {"Content-Type": "text/xml; charset=utf-8", "Date": HTTP_DATE}))

    doc = make_fetcher(fake_time).get(server.url("/page"), params={"verb": "Identify"})

    assert doc.kind == "http"
    assert doc.http_status == 200
    assert doc.data == body
    assert doc.sha256 == sha256_hex(body)
    assert doc.content_type == "text/xml; charset=utf-8"
    assert doc.url_or_path == server.url("/page") + "?verb=Identify"
    assert doc.retrieved_at == datetime(2015, 10, 21, 7, 28, tzinfo=UTC)
    assert server.requests[0].headers["User-Agent"].startswith("research-commons-tests/")
    assert "Authorization" not in server.requests[0].headers


@pytest.mark.parametrize("date_headers", [{}, {"Date": "not a date"}])
def test_retrieved_at_is_none_without_a_usable_date(
    server: ScriptedServer, fake_time: FakeTime, date_headers: dict[str, str]
) -> None:
    server.script("/page", Reply(200, b"ok", date_headers))
    assert make_fetcher(fake_time).get(server.url("/page")).retrieved_at is None


def test_retry_after_seconds_is_honoured(server: ScriptedServer, fake_time: FakeTime) -> None:
    server.script("/busy", Reply(503, b"busy", {"Retry-After": "7"}), Reply(200, b"done"))

    doc = make_fetcher(fake_time, default_min_interval_s=3.0).get(server.url("/busy"))

    assert doc.data == b"done"
    assert fake_time.sleeps == [7.0]
    assert len(server.seen("/busy")) == 2


def test_retry_after_http_date_is_honoured_against_the_server_date(
    server: ScriptedServer, fake_time: FakeTime
) -> None:
    sent_at = datetime(2024, 1, 27, 17, 53, 42, tzinfo=UTC)
    retry_at = datetime(2024, 1, 27, 17, 55, 42, tzinfo=UTC)
    headers = {
        "Date": format_datetime(sent_at, usegmt=True),
        "Retry-After": format_datetime(retry_at, usegmt=True),
    }
    server.script("/busy", Reply(503, b"busy", headers), Reply(200, b"done"))

    make_fetcher(fake_time).get(server.url("/busy"))

    assert fake_time.sleeps == [120.0]


def test_retry_after_is_capped(server: ScriptedServer, fake_time: FakeTime) -> None:
    server.script("/busy", Reply(429, b"slow down", {"Retry-After": "86400"}), Reply(200, b"done"))

    make_fetcher(fake_time, max_retry_after_s=30.0).get(server.url("/busy"))

    assert fake_time.sleeps == [30.0]


def test_retry_after_pushes_back_the_hosts_next_slot(server: ScriptedServer, fake_time: FakeTime) -> None:
    server.script("/busy", Reply(503, b"busy", {"Retry-After": "40"}))
    server.script("/other", Reply(200, b"ok"))
    fetcher = make_fetcher(fake_time, max_attempts=1)

    with pytest.raises(FetchError, match="HTTP 503 Service Unavailable after 1 attempts"):
        fetcher.get(server.url("/busy"))
    assert fake_time.sleeps == []

    fetcher.get(server.url("/other"))  # same host: waits out the Retry-After
    assert fake_time.sleeps == [40.0]
    fetcher.get(server.url("/other", host="localhost"))  # another host: not held back
    assert fake_time.sleeps == [40.0]


def test_server_error_then_success_backs_off_once(server: ScriptedServer, fake_time: FakeTime) -> None:
    server.script("/flaky", Reply(500, b"oops"), Reply(200, b"fine"))

    doc = make_fetcher(fake_time, backoff_base_s=2.0).get(server.url("/flaky"))

    assert doc.data == b"fine"
    assert len(fake_time.sleeps) == 1
    assert 1.0 <= fake_time.sleeps[0] <= 2.0


def test_too_many_requests_without_retry_after_backs_off(server: ScriptedServer, fake_time: FakeTime) -> None:
    server.script("/limited", Reply(429, b"slow down"), Reply(200, b"fine"))

    assert make_fetcher(fake_time).get(server.url("/limited")).data == b"fine"
    assert len(fake_time.sleeps) == 1


def test_backoff_is_capped_and_attempts_bounded(server: ScriptedServer, fake_time: FakeTime) -> None:
    server.script("/down", Reply(502, b"bad gateway"))
    fetcher = make_fetcher(fake_time, max_attempts=6, backoff_base_s=1.0, backoff_cap_s=4.0)

    with pytest.raises(FetchError) as raised:
        fetcher.get(server.url("/down"))

    assert len(server.seen("/down")) == 6
    assert len(fake_time.sleeps) == 5
    for retry, waited in enumerate(fake_time.sleeps):
        ceiling = min(4.0, 2.0**retry)
        assert ceiling / 2 <= waited <= ceiling
    assert raised.value.http_status == 502
    assert raised.value.body == b"bad gateway"
    assert str(raised.value) == f"GET {server.url('/down')}: HTTP 502 Bad Gateway after 6 attempts"


def test_client_error_fails_at_once_with_url_and_body(server: ScriptedServer, fake_time: FakeTime) -> None:
    server.script("/missing", Reply(404, b"no such record"))

    with pytest.raises(FetchError) as raised:
        make_fetcher(fake_time).get(server.url("/missing"), params={"id": "2401.01234"})

    assert str(raised.value) == f"GET {server.url('/missing')}?id=2401.01234: HTTP 404 Not Found"
    assert raised.value.http_status == 404
    assert raised.value.body == b"no such record"
    assert len(server.seen("/missing")) == 1
    assert fake_time.sleeps == []


def test_slow_response_times_out_after_bounded_attempts(server: ScriptedServer, fake_time: FakeTime) -> None:
    server.script("/slow", Reply(200, b"too late", delay_s=2.0))

    with pytest.raises(FetchError) as raised:
        make_fetcher(fake_time, timeout_s=0.2, max_attempts=2).get(server.url("/slow"))

    assert str(raised.value) == f"GET {server.url('/slow')}: timed out after 0.2s after 2 attempts"
    assert raised.value.http_status is None
    assert len(server.seen("/slow")) == 2


def test_conditional_request_returns_not_modified(server: ScriptedServer, fake_time: FakeTime) -> None:
    server.script("/feed", Reply(304, headers={"ETag": '"v1"', "Date": HTTP_DATE}))
    last_modified = "Tue, 20 Oct 2015 07:28:00 GMT"

    doc = make_fetcher(fake_time).get(server.url("/feed"), etag='"v1"', last_modified=last_modified)

    assert doc.http_status == 304
    assert doc.data == b""
    assert doc.sha256 == sha256_hex(b"")
    assert doc.retrieved_at == datetime(2015, 10, 21, 7, 28, tzinfo=UTC)
    sent = server.seen("/feed")[0].headers
    assert sent["If-None-Match"] == '"v1"'
    assert sent["If-Modified-Since"] == last_modified


def test_min_interval_spaces_requests_per_host(server: ScriptedServer, fake_time: FakeTime) -> None:
    server.script("/page", Reply(200, b"ok"))
    fetcher = make_fetcher(fake_time, min_interval_s={"127.0.0.1": 3.0}, default_min_interval_s=0.0)

    fetcher.get(server.url("/page"))
    fetcher.get(server.url("/page", host="localhost"))
    fetcher.get(server.url("/page"))
    fetcher.get(server.url("/page", host="localhost"))
    fetcher.get(server.url("/page"))

    # Only the 127.0.0.1 requests wait, each for the full spacing; localhost is never held back.
    assert fake_time.sleeps == [3.0, 3.0]
    assert [request.host for request in server.requests] == ["127.0.0.1", "localhost"] * 2 + ["127.0.0.1"]


def test_spacing_holds_across_threads_and_hosts_do_not_block_each_other(server: ScriptedServer) -> None:
    """Real clock and threads: 127.0.0.1 is spaced 0.25 s apart, localhost runs freely meanwhile."""
    server.script("/page", Reply(200, b"ok"))
    session = requests.Session()
    session.trust_env = False
    fetcher = PoliteFetcher(
        "research-commons-tests/0.1",
        min_interval_s={"127.0.0.1": 0.25},
        default_min_interval_s=0.0,
        session=session,
    )
    urls = [server.url("/page")] * 3 + [server.url("/page", host="localhost")] * 3
    threads = [threading.Thread(target=fetcher.get, args=(url,)) for url in urls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    spaced = sorted(request.arrived_at for request in server.requests if request.host == "127.0.0.1")
    free = [request.arrived_at for request in server.requests if request.host == "localhost"]
    assert len(spaced) == 3 and len(free) == 3
    assert all(later - earlier >= 0.23 for earlier, later in pairwise(spaced))
    assert max(free) < spaced[-1]


def test_secrets_never_reach_messages_or_logs(
    server: ScriptedServer,
    fake_time: FakeTime,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("COMMONS_TEST_TOKEN", "bearer-SEKRIT-3")
    server.script("/private", Reply(503, b"busy", {"Retry-After": "1"}), Reply(403, b"forbidden"))
    fetcher = make_fetcher(fake_time, auth_env="COMMONS_TEST_TOKEN")
    caplog.set_level(logging.WARNING, logger="commons.fetch")

    with pytest.raises(FetchError) as raised:
        fetcher.get(server.url("/private") + "?api_key=SEKRIT-1&q=x", params={"access_token": "SEKRIT-2"})

    assert server.seen("/private")[0].headers["Authorization"] == "Bearer bearer-SEKRIT-3"
    assert server.seen("/private")[0].query["api_key"] == ["SEKRIT-1"]
    assert str(raised.value) == f"GET {server.url('/private')}?q=x: HTTP 403 Forbidden"
    assert "retrying in 1.0s" in caplog.text
    for text in (str(raised.value), repr(raised.value), raised.value.url, caplog.text):
        assert "SEKRIT" not in text


def test_connection_failure_message_is_scrubbed(fake_time: FakeTime) -> None:
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]

    with pytest.raises(FetchError) as raised:
        make_fetcher(fake_time, max_attempts=2).get(f"http://127.0.0.1:{closed_port}/x?token=SEKRIT&q=1")

    message = str(raised.value)
    assert message.startswith(f"GET http://127.0.0.1:{closed_port}/x?q=1: connection failed (")
    assert message.endswith("after 2 attempts")
    assert "SEKRIT" not in message
    assert raised.value.__suppress_context__  # the chained error quotes the full URL
    assert len(fake_time.sleeps) == 1


def test_post_sends_canonical_json_and_names_the_query_in_url_or_path(
    server: ScriptedServer, fake_time: FakeTime
) -> None:
    answer = b'{"data": {"posts": {"results": []}}}'
    server.script("/graphql", Reply(200, answer, {"Content-Type": "application/json", "Date": HTTP_DATE}))
    fetcher = make_fetcher(fake_time)

    doc = fetcher.post(server.url("/graphql"), {"variables": {"b": 2, "a": "é"}, "query": "{ posts }"})
    same = fetcher.post(server.url("/graphql"), {"query": "{ posts }", "variables": {"a": "é", "b": 2}})
    other = fetcher.post(server.url("/graphql"), {"query": "{ posts }", "variables": {"a": "é", "b": 3}})

    sent = server.seen("/graphql")[0]
    body = '{"query":"{ posts }","variables":{"a":"é","b":2}}'.encode()
    assert sent.method == "POST"
    assert sent.body == body  # sorted keys, compact: one query is always the same bytes
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.headers["User-Agent"].startswith("research-commons-tests/")
    assert doc.data == answer and doc.sha256 == sha256_hex(answer) and doc.http_status == 200
    assert doc.url_or_path == server.url("/graphql") + "#sha256=" + sha256_hex(body)[:16]
    assert doc.retrieved_at == datetime(2015, 10, 21, 7, 28, tzinfo=UTC)
    assert same.url_or_path == doc.url_or_path
    assert other.url_or_path != doc.url_or_path


def test_post_shares_spacing_retries_and_secret_scrubbing_with_get(
    server: ScriptedServer,
    fake_time: FakeTime,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("COMMONS_TEST_TOKEN", "bearer-SEKRIT-3")
    server.script("/page", Reply(200, b"ok"))
    server.script("/graphql", Reply(503, b"busy", {"Retry-After": "7"}), Reply(200, b"{}"))
    server.script("/bad", Reply(400, b'{"errors": []}'))
    fetcher = make_fetcher(
        fake_time, min_interval_s={"127.0.0.1": 3.0}, auth_env="COMMONS_TEST_TOKEN", max_attempts=3
    )
    caplog.set_level(logging.WARNING, logger="commons.fetch")

    fetcher.get(server.url("/page"))
    doc = fetcher.post(server.url("/graphql") + "?api_key=SEKRIT-1", {"query": "{ posts }"})

    # One host, one spacing for GET and POST; then the 503's Retry-After; the retry sends the same body.
    assert fake_time.sleeps == [3.0, 7.0]
    posts = server.seen("/graphql")
    assert [r.method for r in posts] == ["POST", "POST"] and posts[0].body == posts[1].body
    assert posts[0].headers["Authorization"] == "Bearer bearer-SEKRIT-3"
    assert doc.data == b"{}"
    assert "SEKRIT" not in doc.url_or_path
    assert f"POST {server.url('/graphql')}#sha256=" in caplog.text

    with pytest.raises(FetchError) as raised:
        fetcher.post(server.url("/bad"), {"query": "{ nonsense }"})
    assert str(raised.value).startswith(f"POST {server.url('/bad')}#sha256=")
    assert str(raised.value).endswith(": HTTP 400 Bad Request")
    assert raised.value.body == b'{"errors": []}' and raised.value.method == "POST"
    assert len(server.seen("/bad")) == 1  # a client error is not retried
    for text in (str(raised.value), caplog.text):
        assert "SEKRIT" not in text


def test_fetch_error_survives_pickling() -> None:
    error = FetchError("https://example.org/x", "HTTP 404 Not Found", 404, b"gone")
    copy = pickle.loads(pickle.dumps(error))
    assert (str(copy), copy.url, copy.http_status, copy.body) == (str(error), error.url, 404, b"gone")
    posted = pickle.loads(
        pickle.dumps(FetchError("https://example.org/graphql", "HTTP 400", 400, method="POST"))
    )
    assert str(posted) == "POST https://example.org/graphql: HTTP 400" and posted.method == "POST"


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("token", True),
        ("access_token", True),
        ("apiKey", True),
        ("api_key", True),
        ("client_secret", True),
        ("password", True),
        ("X-Amz-Signature", True),
        ("resumptionToken", False),
        ("pageToken", False),
        ("keywords", False),
        ("author", False),
        ("verb", False),
    ],
)
def test_secret_parameter_names(name: str, secret: bool) -> None:
    assert is_secret_param(name) is secret


def test_redact_url_keeps_everything_but_credentials() -> None:
    url = "https://user:pw@oaipmh.arxiv.org/oai?verb=ListRecords&resumptionToken=6960524%7C1001&key=k#top"
    assert (
        redact_url(url) == "https://oaipmh.arxiv.org/oai?verb=ListRecords&resumptionToken=6960524%7C1001#top"
    )


def test_credentials_in_caller_headers_never_reach_messages() -> None:
    """An API key sent as a header (x-api-key) is scrubbed even where the HTTP library quotes it."""
    fetcher = PoliteFetcher(user_agent="t", default_min_interval_s=0, max_attempts=1)
    with pytest.raises(FetchError) as err:
        fetcher.get("http://127.0.0.1:9/x", headers={"x-api-key": "hdrSECRETvalue\n"})
    assert "hdrSECRETvalue" not in str(err.value)


def test_urllib3_request_lines_are_logged_without_keys(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    logger = logging.getLogger("urllib3.connectionpool")
    with caplog.at_level(logging.DEBUG, logger="urllib3.connectionpool"):
        logger.debug(
            '%s://%s "%s %s" %s', "https", "api.openalex.org", "GET", "/works?api_key=qSECRETq&page=2", 200
        )
    assert "qSECRETq" not in caplog.text and "page=2" in caplog.text
