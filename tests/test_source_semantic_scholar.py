"""Semantic Scholar: tests of what is specific to this source.

The source contract (tests/test_source_contract.py) already runs for it: its fixtures parse offline into
valid, deterministic rows with provenance; bad input gives a clear error; live fetching respects its rate
limit. Here are the facts of real records, read by path from the recordings in
../shared/fixtures/semantic_scholar (the tests skip, saying why, where that folder is absent; expected
values are read from the recordings themselves, with json and yaml, where they can be), and the live path,
driven against a local HTTP server on 127.0.0.1 (an ephemeral port; no test touches the network) that
answers `POST /paper/batch` with a recorded batch response.
"""

from __future__ import annotations

import gzip
import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyarrow as pa
import pytest
import requests
import yaml

from pipelines.fetch.http import FetchError, PoliteFetcher
from pipelines.fetch.raw_store import sha256_hex
from pipelines.local_input import input_files
from pipelines.sources import semantic_scholar as s2
from pipelines.sources.base import ParseContext, ParseError, RawDocument
from pipelines.sources.registry import detect_source, get_source
from schemas import table_spec
from tests.conftest import FIXTURES, FakeTime, fixture_dir

SOURCE = get_source("semantic_scholar")
TURING_ID = "2d5673caa9e6af3a7b82a43f19ee920992db07ad"
TURING_DOI = "10.1093/mind/lix.236.433"
PAPER = "s2_Paper.json.gz"


def _doc(data: bytes, name: str) -> RawDocument:
    return RawDocument(data=data, sha256=sha256_hex(data), url_or_path=name, kind="file")


def _parse(data: bytes, name: str, ctx: ParseContext | None = None) -> list[tuple[str, dict[str, Any]]]:
    return list(SOURCE.parse(_doc(data, name), ctx or ParseContext()))


def _papers(rows: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    return [row for table, row in rows if table == "papers"]


def _links(rows: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    return [row for table, row in rows if table == "links"]


def _bodies(path: Path) -> list[Any]:
    """The JSON bodies of a cassette's responses, read with yaml and json (independently of the source)."""
    cassette = yaml.safe_load(path.read_bytes())
    bodies = []
    for interaction in cassette["interactions"]:
        response = interaction["response"]
        raw = response["body"]["string"] if "body" in response else response["content"]
        bodies.append(json.loads(raw))
    return bodies


@pytest.fixture(scope="module")
def folder() -> Path:
    return fixture_dir("semantic_scholar")


@pytest.fixture(scope="module")
def paper_json(folder: Path) -> dict[str, Any]:
    return json.loads(gzip.decompress((folder / PAPER).read_bytes()))


@pytest.fixture(scope="module")
def paper_rows(folder: Path) -> list[tuple[str, dict[str, Any]]]:
    return _parse((folder / PAPER).read_bytes(), PAPER)


# ---- the full paper object: Turing, "Computing Machinery and Intelligence" (1950) ----


def test_full_paper_row_has_the_recorded_facts(paper_rows: list[tuple[str, dict[str, Any]]]) -> None:
    (paper,) = _papers(paper_rows)
    assert paper["work_id"] == f"doi:{TURING_DOI}"
    assert paper["s2_paper_id"] == TURING_ID == paper["source_record_id"]
    assert paper["source_url"] == f"https://www.semanticscholar.org/paper/{TURING_ID}"
    assert paper["doi"] == TURING_DOI  # externalIds.DOI "10.1093/MIND/LIX.236.433", lower-cased
    assert paper["arxiv_id"] is None
    assert paper["title"] == "Computing Machinery and Intelligence"
    assert paper["cited_by_count"] == 10059
    assert paper["created"] == date(1950, 10, 1)
    assert paper["venue"] == "The Philosophy of Artificial Intelligence"
    assert paper["work_type"] == "journal-article"  # publicationTypes ["JournalArticle", "Review"]
    assert paper["subjects"] == ["Computer Science", "Sociology"]
    assert [(a["name"], a["keyname"]) for a in paper["authors"]] == [("A. Turing", "Turing")]
    assert paper["abstract"].startswith("I propose to consider the question, “Can machines think?”")
    assert paper["metadata_format"] == "s2_paper"
    assert paper["metadata_license"] == "LicenseRef-SemanticScholar-API-License-Agreement"
    assert paper["license"] == "unknown" and paper["text_redistributable"] is False
    assert paper["license_source"].endswith("(no openAccessPdf.license)")


def _node(paper: dict[str, Any]) -> str | None:
    ext = paper.get("externalIds") or {}
    if ext.get("ArXiv"):
        return f"arxiv:{ext['ArXiv']}"
    if ext.get("DOI"):
        return f"doi:{ext['DOI'].lower()}"
    return f"s2:{paper['paperId']}" if paper.get("paperId") else None


def test_nested_references_and_citations_become_cites_links(
    paper_rows: list[tuple[str, dict[str, Any]]], paper_json: dict[str, Any]
) -> None:
    links = _links(paper_rows)
    me = f"doi:{TURING_DOI}"
    outgoing = [link for link in links if link["src_id"] == me]
    incoming = [link for link in links if link["dst_id"] == me]
    assert len(outgoing) + len(incoming) == len(links)

    cited = [n for n in (_node(r) for r in paper_json["references"]) if n]
    assert len(paper_json["references"]) == 14 and len(cited) == 8  # six references S2 could not resolve
    assert [link["dst_id"] for link in outgoing] == cited
    assert {link["evidence"] for link in outgoing} == {"semantic_scholar paper references"}
    assert {link["source_record_id"] for link in outgoing} == {TURING_ID}

    citing = list(dict.fromkeys(n for n in (_node(c) for c in paper_json["citations"]) if n and n != me))
    assert len(paper_json["citations"]) == 1000
    assert [link["src_id"] for link in incoming] == citing
    assert {link["evidence"] for link in incoming} == {"semantic_scholar paper citations"}
    # The citing record's id, and its page.
    first = paper_json["citations"][0]
    assert incoming[0]["source_record_id"] == first["paperId"]
    assert incoming[0]["source_url"] == f"https://www.semanticscholar.org/paper/{first['paperId']}"
    assert {(link["link_type"], link["confidence"], link["license"]) for link in links} == {
        ("cites", 1.0, "LicenseRef-SemanticScholar-API-License-Agreement")
    }


def test_gzipped_and_plain_paper_give_the_same_rows(
    folder: Path, paper_rows: list[tuple[str, dict[str, Any]]]
) -> None:
    plain = gzip.decompress((folder / PAPER).read_bytes())
    assert _parse(plain, PAPER) == paper_rows


def test_paper_with_null_values_parses_with_nulls(folder: Path) -> None:
    name = "s2_PaperWithNullValues.json"
    ctx = ParseContext()
    rows = _parse((folder / name).read_bytes(), name, ctx)
    (paper,) = _papers(rows)
    assert _links(rows) == []
    assert paper["work_id"] == f"s2:{TURING_ID}"  # no external ids, no title: keyed by the S2 id
    assert paper["s2_paper_id"] == TURING_ID
    assert paper["authors"] is None  # `authors: null` is "not given", not "no authors"
    for column in ("title", "doi", "abstract", "cited_by_count", "venue", "created"):
        assert paper[column] is None, column
    assert not ctx.empty


def _fill_provenance(row: dict[str, Any], data: bytes) -> dict[str, Any]:
    """What the harvester adds (pipelines/harvest.py `_stage_document`)."""
    filled = dict(row)
    filled.update(source="semantic_scholar", raw_sha256=sha256_hex(data), pipeline_version="test")
    filled.setdefault("retrieved_at", None)
    filled.setdefault("parser", SOURCE.parser_name)
    filled.setdefault("parser_version", SOURCE.parser_version)
    return filled


def test_rows_of_every_recording_fit_the_published_schemas(folder: Path) -> None:
    tables_seen = set()
    for path in input_files(folder):
        data = path.read_bytes()
        try:
            rows = _parse(data, path.name)
        except ParseError:
            continue  # the 404 cassette; tested below
        for table in ("papers", "links"):
            table_rows = [_fill_provenance(r, data) for t, r in rows if t == table]
            pa.RecordBatch.from_pylist(table_rows, schema=table_spec(table).schema)
            if table_rows:
                tables_seen.add(table)
    assert tables_seen == {"papers", "links"}


# ---- VCR cassettes: recorded requests and responses ----


def test_batch_cassette_gives_one_row_per_paper_and_notes_the_unknown_id(folder: Path) -> None:
    name = "s2_vcr_test_get_papers_not_found_warning.yaml"
    (body,) = _bodies(folder / name)
    assert body[0] is None  # CorpusId:211530585 was not found
    ctx = ParseContext()
    papers = _papers(_parse((folder / name).read_bytes(), name, ctx))
    assert [p["s2_paper_id"] for p in papers] == [b["paperId"] for b in body[1:]]
    assert [p["cited_by_count"] for p in papers] == [b["citationCount"] for b in body[1:]]
    assert [p["doi"] for p in papers] == [b["externalIds"].get("DOI", "").lower() or None for b in body[1:]]
    assert papers[1]["work_id"] == "doi:10.2139/ssrn.2250500"
    assert papers[1]["title"] == "The Miracle of Microfinance? Evidence from a Randomized Evaluation"
    assert ctx.notes == [f"{name}: 1 × id the batch request could not find (null)"]


def test_single_paper_cassette(folder: Path) -> None:
    name = "s2_vcr_test_get_paper.yaml"
    (paper,) = _papers(_parse((folder / name).read_bytes(), name))
    # Requested with fields=title only: no external ids, so keyed by the S2 id.
    assert (paper["work_id"], paper["title"]) == (f"s2:{TURING_ID}", "Computing Machinery and Intelligence")


def test_references_pages_link_the_paper_of_the_request_url(folder: Path) -> None:
    name = "s2_vcr_test_get_paper_references.yaml"
    bodies = _bodies(folder / name)
    assert [(b["offset"], b.get("next")) for b in bodies] == [(0, 50), (50, None)]  # two pages
    cited = [item["citedPaper"]["paperId"] for b in bodies for item in b["data"]]
    known = list(dict.fromkeys(f"s2:{p}" for p in cited if p))
    ctx = ParseContext()
    links = _links(_parse((folder / name).read_bytes(), name, ctx))
    # The request was GET /paper/10.2139/ssrn.2250500/references: the citing paper is that DOI's work.
    assert {link["src_id"] for link in links} == {"doi:10.2139/ssrn.2250500"}
    assert [link["dst_id"] for link in links] == known
    assert {link["evidence"] for link in links} == {"semantic_scholar /paper/{paper_id}/references"}
    assert {link["source_record_id"] for link in links} == {"10.2139/ssrn.2250500"}
    unresolved = sum(1 for p in cited if not p)
    assert unresolved > 0
    assert ctx.notes == [
        f"{name}: {unresolved} × references entry S2 could not resolve (no paperId or external id)"
    ]


def test_citations_pages_link_each_citing_paper_to_the_requested_one(folder: Path) -> None:
    name = "s2_vcr_test_get_paper_citations.yaml"
    bodies = _bodies(folder / name)
    assert len(bodies) == 19 and "next" not in bodies[-1]
    citing = [item["citingPaper"]["paperId"] for b in bodies for item in b["data"]]
    links = _links(_parse((folder / name).read_bytes(), name))
    assert [link["src_id"] for link in links] == list(dict.fromkeys(f"s2:{p}" for p in citing if p))
    # Requested as CorpusID:14514057: that id, as the API takes it, is the cited end.
    assert {link["dst_id"] for link in links} == {"s2:CorpusId:14514057"}
    assert {link["evidence"] for link in links} == {"semantic_scholar /paper/{paper_id}/citations"}
    assert [link["source_record_id"] for link in links] == [link["src_id"][3:] for link in links]


def test_search_and_recommendation_pages_give_paper_rows(folder: Path) -> None:
    for name, key in (
        ("s2_vcr_test_search_paper.yaml", "data"),
        ("s2_vcr_test_search_paper_bulk_retrieval.yaml", "data"),
        ("s2_vcr_test_get_recommended_papers.yaml", "recommendedPapers"),
    ):
        expected = [p["paperId"] for b in _bodies(folder / name) for p in b[key]]
        papers = _papers(_parse((folder / name).read_bytes(), name))
        assert [p["s2_paper_id"] for p in papers] == expected, name
    bulk = _bodies(folder / "s2_vcr_test_search_paper_bulk_retrieval.yaml")[0]
    assert len(bulk["data"]) == 1000 and bulk["token"]


def test_404_cassette_is_an_error_naming_the_file_and_the_requests(folder: Path) -> None:
    name = "s2_vcr_test_not_found.yaml"
    with pytest.raises(ParseError) as raised:
        _parse((folder / name).read_bytes(), name)
    message = str(raised.value)
    assert message.startswith(f"{name}: interaction 1 (GET https://api.semanticscholar.org/graph/v1/paper/0?")
    assert "HTTP 404 Not Found: Paper with id 0 not found" in message
    assert "interaction 2 (GET https://api.semanticscholar.org/graph/v1/author/0?" in message
    assert "HTTP 404 Not Found: Author with id 0 not found" in message


def test_rows_before_an_error_response_are_kept(folder: Path) -> None:
    """A cassette of a found paper, then a 404: the paper's row comes first, then the error."""
    good = yaml.safe_load((folder / "s2_vcr_test_get_paper.yaml").read_bytes())["interactions"]
    bad = yaml.safe_load((folder / "s2_vcr_test_not_found.yaml").read_bytes())["interactions"][:1]
    data = yaml.safe_dump({"interactions": good + bad, "version": 1}).encode()
    rows: list[tuple[str, dict[str, Any]]] = []
    with pytest.raises(ParseError, match=r"interaction 2 .*HTTP 404"):
        for item in SOURCE.parse(_doc(data, "mixed.yaml"), ParseContext()):
            rows.append(item)
    assert [r["s2_paper_id"] for r in _papers(rows)] == [TURING_ID]


@pytest.mark.parametrize(
    ("name", "note"),
    [
        ("s2_Author.json", "Author object: not a paper, no rows"),
        ("s2_Citation.json", "lone Citation/Reference object: names one end of the edge only, no rows"),
        ("s2_Reference.json", "lone Citation/Reference object: names one end of the edge only, no rows"),
        ("s2_Dataset.json", "Datasets API release/dataset description: not a paper, no rows"),
        ("s2_Release.json", "Datasets API release/dataset description: not a paper, no rows"),
    ],
)
def test_objects_that_are_not_papers_give_no_rows_and_say_why(folder: Path, name: str, note: str) -> None:
    ctx = ParseContext()
    assert _parse((folder / name).read_bytes(), name, ctx) == []
    assert ctx.empty and ctx.notes == [f"{name}: 1 × {note}"]


def test_arxiv_external_id_keys_the_row_like_the_arxiv_source(paper_json: dict[str, Any]) -> None:
    atom = fixture_dir("arxiv_oai") / "arxiv_api_atom_id_list_1111.2011v2.xml"
    data = atom.read_bytes()
    (arxiv_row,) = [r for _, r in get_source("arxiv").parse(_doc(data, atom.name), ParseContext())]
    variant = dict(paper_json, externalIds={"ArXiv": "1111.2011", "DOI": arxiv_row["doi"]}, citations=[])
    (paper,) = _papers(_parse(json.dumps(variant).encode(), "variant.json"))
    assert paper["work_id"] == arxiv_row["work_id"] == "arxiv:1111.2011"
    assert (paper["arxiv_id"], paper["doi"]) == ("1111.2011", arxiv_row["doi"])
    # An open-access PDF license S2 states with a version gives the row's license.
    licensed = dict(variant, openAccessPdf={"url": "https://arxiv.org/pdf/1111.2011", "license": "CC-BY-4.0"})
    (paper,) = _papers(_parse(json.dumps(licensed).encode(), "licensed.json"))
    assert (paper["license"], paper["text_redistributable"]) == ("CC-BY-4.0", True)
    unversioned = dict(
        variant, openAccessPdf={"url": "https://x.org/a.pdf", "license": "CCBY", "status": "GREEN"}
    )
    (paper,) = _papers(_parse(json.dumps(unversioned).encode(), "unversioned.json"))
    assert paper["license"] == "unknown" and "'CCBY' states no version" in paper["license_source"]


def test_error_body_and_unknown_json_are_parse_errors() -> None:
    with pytest.raises(ParseError, match=r"^err\.json: Semantic Scholar error: Unrecognized or unsupported"):
        _parse(b'{"error": "Unrecognized or unsupported fields: [garbage]"}', "err.json")
    with pytest.raises(ParseError, match=r"^other\.json: not a Semantic Scholar API response"):
        _parse(b'{"hello": "world"}', "other.json")


# ---- which local files the source claims ----


def test_recognizes_its_own_files_and_nothing_else_in_the_shared_fixtures(folder: Path) -> None:
    claimed = []
    for path in input_files(FIXTURES):
        source = detect_source(path)
        if source is not None and source.name == "semantic_scholar":
            claimed.append(path.relative_to(FIXTURES).as_posix())
    assert sorted(claimed) == sorted(f"semantic_scholar/{p.name}" for p in input_files(folder))


# ---- live: partitions and a local Graph API on 127.0.0.1 ----


def test_live_batches_normalise_ids_into_one_batch() -> None:
    (batch,) = SOURCE.live_batches(
        {"ids": f"arXiv:1706.03762v5, DOI:10.1093/MIND/LIX.236.433 {TURING_ID.upper()}"}
    )
    assert batch.options["ids"] == f"arxiv:1706.03762 doi:{TURING_DOI} s2:{TURING_ID}"
    assert batch.key.startswith("semantic_scholar-ids-")
    with pytest.raises(ValueError, match="give their ids"):
        SOURCE.live_batches({})
    with pytest.raises(ValueError, match="not an arXiv id, a DOI or a Semantic Scholar paper id"):
        SOURCE.live_batches({"ids": "nonsense"})


API_KEY = "s2-test-key-7d2e9a"


@dataclass
class GraphServer:
    """`POST /paper/batch` answered with a recorded batch response body; or a fixed error status."""

    body: bytes
    fail_with: int | None = None
    requests: list[tuple[str, dict[str, Any], dict[str, str]]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def graph_server(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[GraphServer]:
    cassette = yaml.safe_load((folder / "s2_vcr_test_get_papers_not_found_warning.yaml").read_bytes())
    state = GraphServer(body=cassette["interactions"][0]["response"]["body"]["string"].encode())

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            sent = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            state.requests.append((self.path, sent, dict(self.headers.items())))
            ok = urlsplit(self.path).path == "/paper/batch" and state.fail_with is None
            status = 200 if ok else (state.fail_with or 404)
            body = state.body if ok else b'{"error": "Forbidden"}'
            self.send_response_only(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv(s2.URL_ENV, state.url)
    monkeypatch.setenv(s2.KEY_ENV, API_KEY)
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


def test_live_fetch_posts_ids_with_fields_and_the_key_header(graph_server: GraphServer) -> None:
    (batch,) = SOURCE.live_batches({"ids": f"arxiv:1706.03762 doi:10.2139/ssrn.2250500 {TURING_ID}"})
    fake_time = FakeTime()

    docs = list(SOURCE.fetch(batch, _fetcher(fake_time), None))

    ((path, sent, headers),) = graph_server.requests
    assert sent == {"ids": ["ARXIV:1706.03762", "DOI:10.2139/ssrn.2250500", TURING_ID]}
    fields = parse_qs(urlsplit(path).query)["fields"][0].split(",")
    for needed in (
        "paperId",
        "externalIds",
        "citationCount",
        "venue",
        "openAccessPdf",
        "references.externalIds",
    ):
        assert needed in fields
    assert headers["x-api-key"] == API_KEY  # sent ...
    (doc,) = docs
    assert API_KEY not in doc.url_or_path  # ... and not in the fetch log
    assert doc.url_or_path.startswith(f"{graph_server.url}/paper/batch?fields=")
    ctx = ParseContext()
    papers = _papers(list(SOURCE.parse(doc, ctx)))
    assert [p["work_id"] for p in papers] == [
        "doi:10.2139/ssrn.288970",
        "doi:10.2139/ssrn.2250500",
        papers[2]["work_id"],
    ]
    assert ctx.notes == [f"{doc.url_or_path}: 1 × id the batch request could not find (null)"]


def test_live_fetch_sends_50_ids_per_request_one_second_apart(graph_server: GraphServer) -> None:
    ids = " ".join(f"arxiv:2401.{n:05d}" for n in range(120))
    fake_time = FakeTime()

    docs = list(SOURCE.fetch(SOURCE.live_batches({"ids": ids})[0], _fetcher(fake_time), None))

    assert [len(sent["ids"]) for _, sent, _ in graph_server.requests] == [50, 50, 20]
    assert len(docs) == 3
    assert fake_time.sleeps == [pytest.approx(1.0), pytest.approx(1.0)]


def test_live_errors_and_retries_never_show_the_api_key(
    graph_server: GraphServer, caplog: pytest.LogCaptureFixture
) -> None:
    (batch,) = SOURCE.live_batches({"ids": "arxiv:1706.03762"})
    graph_server.fail_with = 429  # retried, logged, then given up
    with caplog.at_level(logging.DEBUG), pytest.raises(FetchError) as raised:
        list(SOURCE.fetch(batch, _fetcher(FakeTime(), max_attempts=2), None))
    assert [headers["x-api-key"] for _, _, headers in graph_server.requests] == [API_KEY, API_KEY]
    assert "HTTP 429" in str(raised.value) and "retrying" in caplog.text
    for text in (str(raised.value), raised.value.url, caplog.text):
        assert API_KEY not in text


def test_a_key_no_header_can_carry_is_refused_without_quoting_it(
    graph_server: GraphServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    bad_key = "s2-secret\r\nX-Injected: 1"
    monkeypatch.setenv(s2.KEY_ENV, bad_key)
    (batch,) = SOURCE.live_batches({"ids": "arxiv:1706.03762"})
    with caplog.at_level(logging.DEBUG), pytest.raises(FetchError) as raised:
        list(SOURCE.fetch(batch, _fetcher(FakeTime()), None))
    assert "S2_API_KEY holds characters an HTTP header cannot carry" in str(raised.value)
    assert "s2-secret" not in str(raised.value) and "s2-secret" not in caplog.text
    assert graph_server.requests == []
