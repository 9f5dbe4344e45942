"""Tests of the generic OAI-PMH harvester against a local OAI-PMH server on 127.0.0.1 (no network).

The server answers with real recorded arXiv OAI-PMH responses from ``../shared/fixtures/arxiv_oai``
(read in place, never copied); small protocol error responses are generated here. Waits go through an
injected fake clock, so arXiv's 3 s spacing costs no real time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from pipelines.fetch.http import FetchError, PoliteFetcher
from pipelines.sources.base import ParseError
from pipelines.sources.oai_pmh import get_record, harvest_list_records, read_oai_control
from tests.conftest import FakeTime

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "arxiv_oai"
PAGE_WITH_TOKEN = "atomiklabs_oai_ListRecords_oai_dc_cs_2024-01-25_with_resumptionToken.xml"
LAST_PAGE = "hepcrawl_oai_ListRecords_arXiv_hep-ex.xml"
GET_RECORD = "hepcrawl_oai_GetRecord_arXiv_1401.2122.xml"
ATOM_FEED = "arxiv_api_atom_id_list_1111.2011v2.xml"
FIRST_TOKEN = "6960524|1001"


def fixture_bytes(name: str) -> bytes:
    path = FIXTURES / name
    if not path.is_file():
        pytest.skip(
            f"recorded fixture {path} is absent (expected ../shared/fixtures/arxiv_oai beside the project)"
        )
    return path.read_bytes()


def oai_error(code: str, message: str) -> bytes:
    """A minimal OAI-PMH error response, as the protocol defines it (section 3.6)."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">'
        "<responseDate>2024-01-27T17:54:00Z</responseDate>"
        '<request verb="ListRecords">http://127.0.0.1/oai</request>'
        f'<error code="{code}">{message}</error>'
        "</OAI-PMH>"
    ).encode()


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


Query = dict[str, list[str]]


class OaiServer:
    """An OAI-PMH endpoint at http://127.0.0.1:<port>/oai whose answers come from a test's function."""

    def __init__(self) -> None:
        self.answer: Callable[[Query], Answer] = lambda query: Answer(500, b"no answer scripted")
        self.queries: list[Query] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}/oai"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = parse_qs(urlsplit(self.path).query, keep_blank_values=True)
                server.queries.append(query)
                answer = server.answer(query)
                self.send_response(answer.status)
                self.send_header("Content-Type", "text/xml")
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler

    def __enter__(self) -> OaiServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def server() -> Iterator[OaiServer]:
    with OaiServer() as running:
        yield running


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def fetcher(fake_time: FakeTime) -> PoliteFetcher:
    session = requests.Session()
    session.trust_env = False  # no proxy from the environment between us and 127.0.0.1
    return PoliteFetcher(
        "research-commons-tests/0.1",
        min_interval_s={"127.0.0.1": 3.0},  # arXiv's spacing, on the fake clock
        session=session,
        sleep=fake_time.sleep,
        clock=fake_time.clock,
        timeout_s=5.0,
    )


def by_token(first: Answer, **pages: Answer) -> Callable[[Query], Answer]:
    """Answer the first request with ``first`` and a resumptionToken request from ``pages`` (by token)."""

    def answer(query: Query) -> Answer:
        token = query.get("resumptionToken", [None])[0]
        if token is None:
            return first
        return pages.get(token, Answer(200, oai_error("badResumptionToken", "unknown token")))

    return answer


def harvest(fetcher: PoliteFetcher, server: OaiServer, **options: int) -> Iterator[bytes]:
    for page in harvest_list_records(
        fetcher, server.base_url, "oai_dc", "cs", "2024-01-25", "2024-01-26", **options
    ):
        yield page.data


# read_oai_control


def test_control_of_a_page_with_resumption_token() -> None:
    control = read_oai_control(fixture_bytes(PAGE_WITH_TOKEN))

    assert control.resumption_token == FIRST_TOKEN
    assert control.cursor == 0
    assert control.complete_list_size == 1162
    assert control.error_code is None and control.error_message is None
    assert control.response_date == datetime(2024, 1, 27, 17, 53, 42, tzinfo=UTC)


def test_control_of_a_last_page_without_token() -> None:
    control = read_oai_control(fixture_bytes(LAST_PAGE))

    assert control.resumption_token is None
    assert control.error_code is None
    assert control.response_date == datetime(2017, 12, 14, 13, 0, 41, tzinfo=UTC)


def test_empty_resumption_token_marks_the_last_page() -> None:
    last_page = (
        b'<o:OAI-PMH xmlns:o="http://www.openarchives.org/OAI/2.0/"><o:responseDate>2024-01-27T17:55:00Z'
        b"</o:responseDate><o:ListRecords><o:record/>"
        b'<o:resumptionToken completeListSize="1162" cursor="1001"/></o:ListRecords></o:OAI-PMH>'
    )
    control = read_oai_control(last_page)

    assert control.resumption_token is None
    assert (control.complete_list_size, control.cursor) == (1162, 1001)


def test_error_code_and_message_are_read() -> None:
    control = read_oai_control(oai_error("badResumptionToken", "The token has expired."))

    assert control.error_code == "badResumptionToken"
    assert control.error_message == "The token has expired."
    assert control.resumption_token is None


def test_elements_inside_record_metadata_are_not_mistaken_for_control() -> None:
    page = (
        b'<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><ListRecords><record><metadata>'
        b'<m xmlns="urn:example"><error code="x">data</error><resumptionToken>no</resumptionToken></m>'
        b"</metadata></record></ListRecords></OAI-PMH>"
    )
    control = read_oai_control(page)

    assert control.error_code is None
    assert control.resumption_token is None


def test_truncated_page_raises_parse_error() -> None:
    data = fixture_bytes(PAGE_WITH_TOKEN)

    with pytest.raises(ParseError, match="malformed OAI-PMH response"):
        read_oai_control(data[: len(data) // 2])


def test_document_that_is_not_oai_pmh_raises_parse_error() -> None:
    with pytest.raises(ParseError, match=r"root element is <feed>"):
        read_oai_control(fixture_bytes(ATOM_FEED))
    with pytest.raises(ParseError, match="empty response"):
        read_oai_control(b"")


# harvest_list_records


def test_harvest_follows_the_resumption_token_in_order(server: OaiServer, fetcher: PoliteFetcher) -> None:
    first, last = fixture_bytes(PAGE_WITH_TOKEN), fixture_bytes(LAST_PAGE)
    server.answer = by_token(Answer(200, first), **{FIRST_TOKEN: Answer(200, last)})

    pages = list(harvest_list_records(fetcher, server.base_url, "oai_dc", "cs", "2024-01-25", "2024-01-26"))

    assert [page.data for page in pages] == [first, last]
    assert server.queries[0] == {
        "verb": ["ListRecords"],
        "metadataPrefix": ["oai_dc"],
        "set": ["cs"],
        "from": ["2024-01-25"],
        "until": ["2024-01-26"],
    }
    assert server.queries[1] == {"verb": ["ListRecords"], "resumptionToken": [FIRST_TOKEN]}
    assert "resumptionToken=6960524%7C1001" in pages[1].url_or_path  # a paging token is kept, not redacted


def test_optional_selective_arguments_are_left_out(server: OaiServer, fetcher: PoliteFetcher) -> None:
    server.answer = by_token(Answer(200, fixture_bytes(LAST_PAGE)))

    list(harvest_list_records(fetcher, server.base_url, "arXiv", None, None, None))

    assert server.queries == [{"verb": ["ListRecords"], "metadataPrefix": ["arXiv"]}]


def test_yields_each_page_before_fetching_the_next(server: OaiServer, fetcher: PoliteFetcher) -> None:
    server.answer = by_token(
        Answer(200, fixture_bytes(PAGE_WITH_TOKEN)), **{FIRST_TOKEN: Answer(200, fixture_bytes(LAST_PAGE))}
    )
    pages = harvest(fetcher, server)

    next(pages)
    assert len(server.queries) == 1
    next(pages)
    assert len(server.queries) == 2


def test_bad_resumption_token_error_ends_the_harvest(server: OaiServer, fetcher: PoliteFetcher) -> None:
    error_page = oai_error(
        "badResumptionToken", "The value of the resumptionToken argument is invalid or expired."
    )
    server.answer = by_token(
        Answer(200, fixture_bytes(PAGE_WITH_TOKEN)), **{FIRST_TOKEN: Answer(200, error_page)}
    )

    pages = list(harvest(fetcher, server))

    assert pages[1] == error_page
    assert len(pages) == 2
    assert len(server.queries) == 2


def test_no_records_match_ends_the_harvest_normally(server: OaiServer, fetcher: PoliteFetcher) -> None:
    empty = oai_error(
        "noRecordsMatch", "The combination of the values of the arguments results in an empty list."
    )
    server.answer = by_token(Answer(200, empty))

    assert list(harvest(fetcher, server)) == [empty]
    assert len(server.queries) == 1


def test_unavailable_page_two_is_retried_after_retry_after(
    server: OaiServer, fetcher: PoliteFetcher, fake_time: FakeTime
) -> None:
    first, last = fixture_bytes(PAGE_WITH_TOKEN), fixture_bytes(LAST_PAGE)
    busy_then_last = iter([Answer(503, b"Retry later", {"Retry-After": "10"}), Answer(200, last)])
    server.answer = lambda query: Answer(200, first) if "metadataPrefix" in query else next(busy_then_last)

    assert list(harvest(fetcher, server)) == [first, last]
    assert len(server.queries) == 3
    assert server.queries[2] == {"verb": ["ListRecords"], "resumptionToken": [FIRST_TOKEN]}
    # 3 s spacing before page 2, then the server's 10 s; the retry then finds its slot free.
    assert fake_time.sleeps == [3.0, 10.0]


def test_fetch_error_propagates_after_earlier_pages(server: OaiServer, fetcher: PoliteFetcher) -> None:
    first = fixture_bytes(PAGE_WITH_TOKEN)
    server.answer = by_token(Answer(200, first), **{FIRST_TOKEN: Answer(404, b"gone")})
    received: list[bytes] = []

    with pytest.raises(FetchError, match="HTTP 404"):
        for page in harvest(fetcher, server):
            received.append(page)

    assert received == [first]


def test_unreadable_page_is_yielded_then_raises(server: OaiServer, fetcher: PoliteFetcher) -> None:
    data = fixture_bytes(PAGE_WITH_TOKEN)
    truncated = data[: len(data) // 2]
    server.answer = by_token(Answer(200, truncated))
    received: list[bytes] = []

    with pytest.raises(ParseError, match=r"^http://127\.0\.0\.1:\d+/oai\?verb=ListRecords.*: malformed"):
        for page in harvest(fetcher, server):
            received.append(page)

    assert received == [truncated]


def test_max_pages_stops_early(server: OaiServer, fetcher: PoliteFetcher) -> None:
    server.answer = by_token(Answer(200, fixture_bytes(PAGE_WITH_TOKEN)))

    assert len(list(harvest(fetcher, server, max_pages=1))) == 1
    assert len(server.queries) == 1


def test_repeated_resumption_token_stops_instead_of_looping(
    server: OaiServer, fetcher: PoliteFetcher
) -> None:
    same_page = Answer(200, fixture_bytes(PAGE_WITH_TOKEN))
    server.answer = lambda query: same_page

    with pytest.raises(ParseError, match="repeated resumptionToken"):
        list(harvest(fetcher, server))
    assert len(server.queries) == 2


# get_record


def test_get_record_asks_for_one_identifier(server: OaiServer, fetcher: PoliteFetcher) -> None:
    record = fixture_bytes(GET_RECORD)
    server.answer = lambda query: Answer(200, record)

    doc = get_record(fetcher, server.base_url, "oai:arXiv.org:1401.2122", "arXiv")

    assert doc.data == record
    assert server.queries == [
        {"verb": ["GetRecord"], "identifier": ["oai:arXiv.org:1401.2122"], "metadataPrefix": ["arXiv"]}
    ]
