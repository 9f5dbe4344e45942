"""OpenAlex: tests of what is specific to this source.

The source contract (tests/test_source_contract.py) already runs for it: its fixtures parse offline into
valid, deterministic rows with provenance; bad input gives a clear error; live fetching respects its rate
limit. Here are the facts of real records, read by path from the recordings in ../shared/fixtures/openalex
(the tests skip, saying why, where that folder is absent; expected values are read from the JSON itself
where they can be), and the live path, driven against a local HTTP server on 127.0.0.1 (an ephemeral
port; no test touches the network) that answers `/works` with the recorded work.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyarrow as pa
import pytest
import requests

from pipelines.fetch.http import FetchError, PoliteFetcher
from pipelines.fetch.raw_store import sha256_hex
from pipelines.local_input import input_files
from pipelines.sources import openalex
from pipelines.sources.base import ParseContext, ParseError, RawDocument
from pipelines.sources.registry import detect_source, get_source
from schemas import table_spec
from tests.conftest import FIXTURES, FakeTime, fixture_dir

SOURCE = get_source("openalex")
WORK = "openalex_work_W2741809807.json"
HANDMADE = "openalex_work_W2755950973_HANDMADE.json"
ENTITIES = {
    "openalex_entity_A5023888391.json": "author",
    "openalex_entity_C71924100.json": "concept",
    "openalex_entity_F4320332161.json": "funder",
    "openalex_entity_I27837315.json": "institution",
    "openalex_entity_P4310319965.json": "publisher",
    "openalex_entity_S137773608.json": "source",
    "openalex_entity_T11636.json": "topic",
}


def _doc(data: bytes, name: str) -> RawDocument:
    return RawDocument(data=data, sha256=sha256_hex(data), url_or_path=name, kind="file")


def _parse(data: bytes, name: str, ctx: ParseContext | None = None) -> list[tuple[str, dict[str, Any]]]:
    return list(SOURCE.parse(_doc(data, name), ctx or ParseContext()))


@pytest.fixture(scope="module")
def folder() -> Path:
    return fixture_dir("openalex")


@pytest.fixture(scope="module")
def work_json(folder: Path) -> dict[str, Any]:
    """The recorded work, read with json (independently of the source)."""
    return json.loads((folder / WORK).read_bytes())


@pytest.fixture(scope="module")
def work_rows(folder: Path) -> list[tuple[str, dict[str, Any]]]:
    return _parse((folder / WORK).read_bytes(), WORK)


def _papers(rows: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    return [row for table, row in rows if table == "papers"]


def _links(rows: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    return [row for table, row in rows if table == "links"]


# ---- the recorded work W2741809807 ("The state of OA", PeerJ 2018) ----


def test_work_row_has_the_recorded_facts(work_rows: list[tuple[str, dict[str, Any]]]) -> None:
    (paper,) = _papers(work_rows)
    assert paper["work_id"] == "doi:10.7717/peerj.4375"
    assert paper["openalex_id"] == "W2741809807" == paper["source_record_id"]
    assert paper["source_url"] == "https://openalex.org/W2741809807"
    assert paper["doi"] == "10.7717/peerj.4375" and paper["dois"] == ["10.7717/peerj.4375"]
    assert paper["arxiv_id"] is None
    assert paper["title"] == (
        "The state of OA: a large-scale analysis of the prevalence and impact of Open Access articles"
    )
    assert paper["cited_by_count"] == 962
    assert paper["oa_status"] == "gold"
    assert paper["venue"] == "PeerJ"
    assert paper["created"] == date(2018, 2, 13)
    assert paper["work_type"] == "article"
    assert paper["metadata_format"] == "openalex_work"
    assert paper["metadata_license"] == "CC0-1.0"
    assert paper["subjects"][0] == "scientometrics and bibliometrics research"


def test_work_authors_in_order_with_stated_affiliations(
    work_rows: list[tuple[str, dict[str, Any]]], work_json: dict[str, Any]
) -> None:
    (paper,) = _papers(work_rows)
    names = [a["author"]["display_name"] for a in work_json["authorships"]]
    assert [a["name"] for a in paper["authors"]] == names
    first = paper["authors"][0]
    assert (first["name"], first["forenames"], first["keyname"]) == ("Heather Piwowar", "Heather", "Piwowar")
    assert first["affiliations"] == ["Impactstory, Sanford, NC, USA"]


def test_abstract_is_rebuilt_in_word_order(
    work_rows: list[tuple[str, dict[str, Any]]], work_json: dict[str, Any]
) -> None:
    (paper,) = _papers(work_rows)
    abstract = paper["abstract"]
    assert abstract.startswith(
        "Despite growing interest in Open Access (OA) to scholarly literature, there is"
    )
    assert abstract.endswith("as a way to inform OA policy and practice.")
    positions = sum(len(v) for v in work_json["abstract_inverted_index"].values())
    assert len(abstract.split()) == positions == 258
    assert "at least 28% of the scholarly literature is OA (19M in total)" in abstract


def test_license_is_unknown_when_openalex_states_no_version(
    work_rows: list[tuple[str, dict[str, Any]]],
) -> None:
    (paper,) = _papers(work_rows)
    # best_oa_location.license is "cc-by": which CC-BY version is not stated, so no version is guessed.
    assert paper["license"] == "unknown"
    assert paper["license_source"].startswith("OpenAlex best_oa_location.license: 'cc-by' states no version")
    assert paper["license_url"] == "https://openalex.org/licenses/cc-by"
    assert paper["text_redistributable"] is False


def test_referenced_works_become_cites_links(
    work_rows: list[tuple[str, dict[str, Any]]], work_json: dict[str, Any]
) -> None:
    links = _links(work_rows)
    referenced = [w.rsplit("/", 1)[1] for w in work_json["referenced_works"]]
    assert len(links) == len(referenced) == work_json["referenced_works_count"] == 45
    assert [link["dst_id"] for link in links] == [f"openalex:{w}" for w in referenced]
    assert {link["src_id"] for link in links} == {"doi:10.7717/peerj.4375"}
    assert {(link["link_type"], link["evidence"], link["confidence"]) for link in links} == {
        ("cites", "openalex referenced_works", 1.0)
    }
    assert {(link["source_record_id"], link["license"]) for link in links} == {("W2741809807", "CC0-1.0")}
    assert all(link["license_source"].startswith("OpenAlex data is CC0") for link in links)


def _fill_provenance(row: dict[str, Any], data: bytes) -> dict[str, Any]:
    """What the harvester adds (pipelines/harvest.py `_stage_document`)."""
    filled = dict(row)
    filled.update(source="openalex", raw_sha256=sha256_hex(data), pipeline_version="test")
    filled.setdefault("retrieved_at", None)
    filled.setdefault("parser", SOURCE.parser_name)
    filled.setdefault("parser_version", SOURCE.parser_version)
    return filled


@pytest.mark.parametrize("name", [WORK, HANDMADE])
def test_rows_fit_the_published_schemas(folder: Path, name: str) -> None:
    data = (folder / name).read_bytes()
    rows = _parse(data, name)
    for table in ("papers", "links"):
        table_rows = [_fill_provenance(r, data) for t, r in rows if t == table]
        batch = pa.RecordBatch.from_pylist(table_rows, schema=table_spec(table).schema)
        assert batch.num_rows == len(table_rows) > 0


# ---- the hand-made work (old schema: host_venue, no `title`, a gap in the abstract) ----


def test_handmade_work_parses_with_what_it_has(folder: Path) -> None:
    ctx = ParseContext()
    rows = _parse((folder / HANDMADE).read_bytes(), HANDMADE, ctx)
    (paper,) = _papers(rows)
    assert paper["work_id"] == "doi:10.1103/physrevlett.118.091101"  # the `doi` it states, as stated
    assert paper["title"].startswith(
        "GW170104: Observation of a 50-Solar-Mass Binary Black Hole"
    )  # display_name
    assert paper["venue"] == "Physical Review Letters"
    assert paper["cited_by_count"] == 850
    assert paper["license"] == "unknown" and paper["license_url"] is None
    assert "no license" in paper["license_source"]
    assert [a["name"] for a in paper["authors"]] == ["B. P. Abbott"]
    assert paper["abstract"].startswith("We present the observation of GW170104")
    assert ctx.notes == [f"{HANDMADE}: W2755950973: abstract_inverted_index lacks 1 word position(s)"]
    assert len(_links(rows)) == 5


# ---- other entities, list responses, errors ----


@pytest.mark.parametrize(("name", "kind"), sorted(ENTITIES.items()))
def test_non_work_entities_give_no_rows_and_say_why(folder: Path, name: str, kind: str) -> None:
    ctx = ParseContext()
    assert _parse((folder / name).read_bytes(), name, ctx) == []
    assert ctx.empty
    assert ctx.notes == [f"{name}: 1 OpenAlex {kind} entity, not a work: no rows"]


def test_list_response_gives_the_same_rows_as_the_single_work(
    folder: Path, work_json: dict[str, Any], work_rows: list[tuple[str, dict[str, Any]]]
) -> None:
    author = json.loads((folder / "openalex_entity_A5023888391.json").read_bytes())
    body = json.dumps({"meta": {"count": 2, "page": 1, "per_page": 100}, "results": [work_json, author]})
    assert SOURCE.recognizes("works.json", body.encode()[:4096])
    ctx = ParseContext()
    assert _parse(body.encode(), "works.json", ctx) == work_rows
    assert not ctx.empty and ctx.notes == ["works.json: 1 OpenAlex author entity, not a work: no rows"]


def test_empty_list_response_is_empty_not_an_error() -> None:
    ctx = ParseContext()
    assert (
        _parse(b'{"meta": {"count": 0, "page": 1, "per_page": 100}, "results": []}', "none.json", ctx) == []
    )
    assert ctx.empty


def test_error_response_is_a_parse_error_naming_the_document() -> None:
    body = b'{"error": "Invalid query parameters error.", "message": "doi is not a valid field"}'
    with pytest.raises(ParseError, match=r"^bad\.json: OpenAlex error: Invalid query parameters error"):
        _parse(body, "bad.json")


def test_arxiv_locations_and_arxiv_dois_key_the_row_like_the_arxiv_source(work_json: dict[str, Any]) -> None:
    """The arXiv row of 1111.2011 (a real arXiv API record) and OpenAlex rows of the same paper meet."""
    atom = fixture_dir("arxiv_oai") / "arxiv_api_atom_id_list_1111.2011v2.xml"
    data = atom.read_bytes()
    (arxiv_row,) = [r for _, r in get_source("arxiv").parse(_doc(data, atom.name), ParseContext())]
    assert arxiv_row["work_id"] == "arxiv:1111.2011"

    published = dict(work_json, doi=f"https://doi.org/{arxiv_row['doi']}", ids={})
    published["locations"] = [
        *work_json["locations"],
        {"landing_page_url": "https://arxiv.org/abs/1111.2011v2", "source": {"type": "repository"}},
    ]
    datacite = dict(work_json, doi="https://doi.org/10.48550/arXiv.1111.2011", ids={}, locations=[])
    for variant in (published, datacite):
        (paper,) = _papers(_parse(json.dumps(variant).encode(), "variant.json"))
        assert paper["work_id"] == arxiv_row["work_id"]
        assert paper["arxiv_id"] == "1111.2011"


def test_a_work_without_arxiv_id_or_doi_is_keyed_by_title_author_year_or_its_openalex_id(
    work_json: dict[str, Any],
) -> None:
    no_ids = dict(work_json, doi=None, ids={}, locations=[], primary_location=None, best_oa_location=None)
    (paper,) = _papers(_parse(json.dumps(no_ids).encode(), "no-ids.json"))
    assert paper["work_id"].startswith("hash:")
    bare = dict(no_ids, authorships=[])
    (paper,) = _papers(_parse(json.dumps(bare).encode(), "bare.json"))
    assert paper["work_id"] == "openalex:W2741809807"


@pytest.mark.parametrize(
    ("stated", "spdx", "redistributable"),
    [
        ("cc-by", "unknown", False),
        ("cc-by-nc-nd", "unknown", False),
        ("CCBY", "unknown", False),
        ("cc0", "CC0-1.0", True),
        ("cc-by-4.0", "CC-BY-4.0", True),
        ("CC BY-SA 3.0", "CC-BY-SA-3.0", True),
        ("cc-by-nc-4.0", "CC-BY-NC-4.0", False),
        ("mit", "MIT", True),
        ("publisher-specific-oa", "unknown", False),
        ("other-oa", "unknown", False),
        ("public-domain", "unknown", False),
        (None, "unknown", False),
    ],
)
def test_oa_license_names_a_version_only_where_one_is_stated(
    stated: str | None, spdx: str, redistributable: bool
) -> None:
    assert openalex.oa_license(stated)[:2] == (spdx, redistributable)


# ---- which local files the source claims ----


def test_recognizes_its_own_files_and_nothing_else_in_the_shared_fixtures(folder: Path) -> None:
    claimed = []
    for path in input_files(FIXTURES):
        source = detect_source(path)
        if source is not None and source.name == "openalex":
            claimed.append(path.relative_to(FIXTURES).as_posix())
    assert sorted(claimed) == sorted(f"openalex/{p.name}" for p in input_files(folder))


# ---- live: partitions and a local OpenAlex on 127.0.0.1 ----


def test_live_batches_normalise_ids_into_one_batch() -> None:
    (batch,) = SOURCE.live_batches(
        {
            "ids": "arXiv:1706.03762v5 https://doi.org/10.7717/PeerJ.4375, W2741809807 10.48550/arXiv.2401.01234"
        }
    )
    assert batch.options["ids"] == (
        "arxiv:1706.03762 arxiv:2401.01234 doi:10.7717/peerj.4375 openalex:W2741809807"
    )
    assert batch.key.startswith("openalex-ids-")
    assert SOURCE.live_batches({"ids": "W2741809807 doi:10.7717/peerj.4375 1706.03762"})[0].key != batch.key
    with pytest.raises(ValueError, match="give their ids"):
        SOURCE.live_batches({"from": "2024-01-01"})
    with pytest.raises(ValueError, match="not an arXiv id, a DOI or an OpenAlex work id"):
        SOURCE.live_batches({"ids": "nonsense"})


API_KEY = "oa-test-key-3f9c1d"
CONTACT = "maintainer@example.org"


@dataclass
class OpenAlexServer:
    """`/works?filter=…` answered with the recorded work as a list response; or a fixed error status."""

    work: dict[str, Any]
    fail_with: int | None = None
    queries: list[dict[str, list[str]]] = field(default_factory=list)
    url: str = ""

    def answer(self, path: str) -> tuple[int, bytes]:
        query = parse_qs(urlsplit(path).query)
        self.queries.append(query)
        if self.fail_with is not None:
            return self.fail_with, b'{"error": "Forbidden", "message": "rate limit"}'
        count = len(query["filter"][0].partition(":")[2].split("|"))
        per_page = int(query["per_page"][0])
        page = int(query.get("page", ["1"])[0])
        results = [self.work] * max(0, min(per_page, count - (page - 1) * per_page))
        body = {"meta": {"count": count, "page": page, "per_page": per_page}, "results": results}
        return 200, json.dumps(body).encode()


@pytest.fixture
def openalex_server(work_json: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[OpenAlexServer]:
    state = OpenAlexServer(work=work_json)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = state.answer(self.path) if self.path.startswith("/works?") else (404, b"{}")
            self.send_response_only(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Date", "Mon, 05 Feb 2024 10:00:00 GMT")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv(openalex.URL_ENV, state.url)
    monkeypatch.setenv(openalex.KEY_ENV, API_KEY)
    monkeypatch.setenv(openalex.CONTACT_ENV, CONTACT)
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def _fetcher(fake_time: FakeTime, max_attempts: int = 1) -> PoliteFetcher:
    session = requests.Session()
    session.trust_env = False  # no proxy from the environment between us and 127.0.0.1
    assert SOURCE.live is not None
    return PoliteFetcher(
        "research-commons-tests/0.1",
        min_interval_s={"127.0.0.1": SOURCE.live.min_interval_s},
        session=session,
        sleep=fake_time.sleep,
        clock=fake_time.clock,
        max_attempts=max_attempts,
        backoff_base_s=0.01,
    )


def test_live_fetch_filters_by_doi_and_openalex_id_and_keeps_secrets_out_of_the_log(
    openalex_server: OpenAlexServer,
) -> None:
    (batch,) = SOURCE.live_batches({"ids": "doi:10.7717/peerj.4375 arxiv:1706.03762 W2755950973"})
    fake_time = FakeTime()

    docs = list(SOURCE.fetch(batch, _fetcher(fake_time), None))

    assert len(docs) == 2
    filters = [q["filter"][0] for q in openalex_server.queries]
    # arXiv ids go by their arXiv DOI: OpenAlex takes no arXiv id.
    assert filters == ["doi:10.48550/arxiv.1706.03762|10.7717/peerj.4375", "openalex:W2755950973"]
    for query in openalex_server.queries:
        assert query["per_page"] == ["100"]
        assert query["api_key"] == [API_KEY]  # sent ...
        assert query["mailto"] == [CONTACT]
    for doc in docs:  # ... but neither the key nor the contact address is in the fetch log's URL
        assert API_KEY not in doc.url_or_path and CONTACT not in doc.url_or_path
        assert doc.url_or_path.startswith(f"{openalex_server.url}/works?")
        assert "filter=" in doc.url_or_path and "per_page=100" in doc.url_or_path
        assert doc.retrieved_at == datetime(2024, 2, 5, 10, 0, tzinfo=UTC)
    assert SOURCE.live is not None and fake_time.sleeps == [pytest.approx(SOURCE.live.min_interval_s)]

    rows = [row for doc in docs for row in SOURCE.parse(doc, ParseContext())]
    papers = _papers(rows)
    assert [p["openalex_id"] for p in papers] == ["W2741809807"] * 3
    assert len(_links(rows)) == 3 * 45


def test_live_fetch_sends_50_ids_per_request_and_follows_pages(openalex_server: OpenAlexServer) -> None:
    dois = [f"doi:10.5555/commons.{n}" for n in range(120)]
    (batch,) = SOURCE.live_batches({"ids": " ".join(dois)})

    docs = list(SOURCE.fetch(batch, _fetcher(FakeTime()), None))

    sizes = [len(q["filter"][0].split("|")) for q in openalex_server.queries]
    assert sizes == [50, 50, 20] and len(docs) == 3
    openalex_server.queries.clear()
    # A filter matching more works than a page holds is paged.
    original = openalex.PER_PAGE
    try:
        openalex.PER_PAGE = 20
        docs = list(
            SOURCE.fetch(SOURCE.live_batches({"ids": " ".join(dois[:50])})[0], _fetcher(FakeTime()), None)
        )
    finally:
        openalex.PER_PAGE = original
    assert [q.get("page", ["1"])[0] for q in openalex_server.queries] == ["1", "2", "3"]
    assert len(docs) == 3


def test_live_errors_and_retries_never_show_the_api_key(
    openalex_server: OpenAlexServer, caplog: pytest.LogCaptureFixture
) -> None:
    (batch,) = SOURCE.live_batches({"ids": "doi:10.7717/peerj.4375"})
    openalex_server.fail_with = 503  # retried, logged, then given up
    # The project's own loggers at every level; third-party ones at INFO. (urllib3 logs each request line,
    # query string and all, at DEBUG: a query-string key shows there if DEBUG is switched on globally.)
    with (
        caplog.at_level(logging.INFO),
        caplog.at_level(logging.DEBUG, logger="commons"),
        caplog.at_level(logging.DEBUG, logger="pipelines"),
        pytest.raises(FetchError) as raised,
    ):
        list(SOURCE.fetch(batch, _fetcher(FakeTime(), max_attempts=2), None))
    assert len(openalex_server.queries) == 2
    assert all(q["api_key"] == [API_KEY] for q in openalex_server.queries)
    assert "HTTP 503" in str(raised.value)
    assert "retrying" in caplog.text
    for text in (str(raised.value), raised.value.url, caplog.text):
        assert API_KEY not in text
