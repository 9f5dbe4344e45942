"""Alignment Forum / LessWrong: tests of what is specific to this source.

The source contract (tests/test_source_contract.py) already runs for it with no wiring: its fixtures
parse offline into valid, deterministic rows with provenance; bad input gives a clear error; live fetching
respects its rate limit. Here are the facts of real records, read by path from the recordings in
../shared/fixtures/alignment_forum (the tests skip, saying why, where that folder is absent), and the live
path, driven against a local HTTP server on 127.0.0.1 (an ephemeral port; no test touches the network)
that answers the GraphQL `posts` query with pages built from the real post index.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests

from pipelines import harvest
from pipelines.fetch.http import FetchError, PoliteFetcher
from pipelines.fetch.raw_store import sha256_hex
from pipelines.local_input import input_files
from pipelines.settings import DataRoot
from pipelines.sources import alignment_forum as af
from pipelines.sources.base import BatchSpec, ParseContext, ParseError, RawDocument
from pipelines.sources.registry import detect_source, get_source
from schemas import table_spec
from tests.conftest import FIXTURES, FakeTime, fixture_dir

GRAPHQL_POST = "lw_graphql_raw_response_agi-ruin.json"
INDEX_CSV = "alignment-forum-posts.csv.gz"
AGI_RUIN_ID = "uMQ3cqWDPHhjtiesc"
SOURCE = get_source("alignment_forum")


def _doc(data: bytes, name: str) -> RawDocument:
    return RawDocument(data=data, sha256=sha256_hex(data), url_or_path=name, kind="file")


def _parse(data: bytes, name: str) -> list[dict[str, Any]]:
    return [row for _, row in SOURCE.parse(_doc(data, name), ParseContext())]


def _parse_until_error(data: bytes, name: str) -> tuple[list[dict[str, Any]], ParseError | None]:
    rows: list[dict[str, Any]] = []
    try:
        for _, row in SOURCE.parse(_doc(data, name), ParseContext()):
            rows.append(row)
    except ParseError as exc:
        return rows, exc
    return rows, None


@pytest.fixture(scope="module")
def folder() -> Path:
    return fixture_dir("alignment_forum")


@pytest.fixture(scope="module")
def index_records(folder: Path) -> list[dict[str, str]]:
    """The post index CSV's data rows, read with the csv module (independently of the source)."""
    text = gzip.decompress((folder / INDEX_CSV).read_bytes()).decode("utf-8")
    return list(csv.DictReader(io.StringIO(text, newline="")))


@pytest.fixture(scope="module")
def index_rows(folder: Path) -> list[dict[str, Any]]:
    return _parse((folder / INDEX_CSV).read_bytes(), INDEX_CSV)


# ---- the recorded GraphQL `post` response ----


def test_agi_ruin_post_from_graphql(folder: Path) -> None:
    rows = _parse((folder / GRAPHQL_POST).read_bytes(), GRAPHQL_POST)
    assert len(rows) == 1
    row = rows[0]
    assert row["work_id"] == f"lesswrong:{AGI_RUIN_ID}"
    assert row["source_record_id"] == AGI_RUIN_ID
    assert (
        row["source_url"] == f"https://www.lesswrong.com/posts/{AGI_RUIN_ID}/agi-ruin-a-list-of-lethalities"
    )
    assert row["title"] == "AGI Ruin: A List of Lethalities"
    assert row["authors"] == [
        {
            "name": "Eliezer Yudkowsky",
            "keyname": "Yudkowsky",
            "forenames": "Eliezer",
            "suffix": None,
            "affiliations": [],
        }
    ]
    assert row["published_at"] == datetime(2022, 6, 5, 22, 5, 52, 224000, tzinfo=UTC)
    assert row["created"] == date(2022, 6, 5)
    assert (row["score"], row["comment_count"], row["word_count"]) == (956, 711, 9087)
    assert (row["work_type"], row["metadata_format"]) == ("post", "lesswrong_graphql")
    # The recording did not ask for the `af` flag and its URL is LessWrong's: whether it is on the AF is unknown.
    assert row["venue"] is None
    # The excerpt LessWrong serves (contents.plaintextDescription), whitespace and no-break spaces collapsed.
    assert row["abstract"].startswith(
        "Preamble: (If you're already familiar with all basics and don't want any preamble, skip ahead to "
        "Section B for technical difficulties of alignment proper.) I have several times failed"
    )
    assert "\n" not in row["abstract"] and "\xa0" not in row["abstract"]
    assert len(row["abstract"]) <= 2000
    # License: not stated by the API, so unknown; the post body (htmlBody) is never stored.
    assert row["license"] == "unknown" and row["text_redistributable"] is False
    assert row["license_source"].startswith("not stated")
    assert row["metadata_license"] == "LicenseRef-LessWrong-terms"
    assert not any(isinstance(v, str) and "<strong>" in v for v in row.values())
    assert "retrieved_at" not in row  # the recording has no date of its own; the harvester leaves it null
    assert set(row) <= set(table_spec("papers").columns)


# ---- the post index CSV ----


def test_index_csv_gives_one_row_per_data_row(
    index_records: list[dict[str, str]], index_rows: list[dict[str, Any]]
) -> None:
    assert len(index_rows) == len(index_records) > 4000
    assert [r["source_record_id"] for r in index_rows] == [r["_id"] for r in index_records]
    assert len({r["work_id"] for r in index_rows}) == len(index_rows)
    assert all(r["work_id"] == f"lesswrong:{r['source_record_id']}" for r in index_rows)
    assert [r["source_url"] for r in index_rows] == [r["pageUrl"] for r in index_records]
    assert {r["metadata_format"] for r in index_rows} == {"lesswrong_post_index_csv"}
    # Every value fits the published papers schema.
    pa.RecordBatch.from_pylist(index_rows, schema=table_spec("papers").schema)


def test_index_csv_af_flags_become_venues(
    index_records: list[dict[str, str]], index_rows: list[dict[str, Any]]
) -> None:
    expected = Counter({"True": "Alignment Forum", "False": "LessWrong"}.get(r["af"]) for r in index_records)
    assert Counter(r["venue"] for r in index_rows) == expected
    assert expected["Alignment Forum"] == len(index_records)  # this index lists Alignment Forum posts only


def test_index_csv_counts_scores_and_missing_excerpts(
    index_records: list[dict[str, str]], index_rows: list[dict[str, Any]]
) -> None:
    assert [r["score"] for r in index_rows] == [int(r["karma"]) for r in index_records]
    assert min(r["score"] for r in index_rows) < 0  # downvoted posts keep their negative karma
    assert [r["comment_count"] for r in index_rows] == [int(r["commentsCount"]) for r in index_records]
    assert [r["word_count"] for r in index_rows] == [int(r["wordCount"]) for r in index_records]
    no_summary = sum(1 for r in index_records if not r["summary"].strip())
    assert no_summary > 0
    assert sum(1 for r in index_rows if r["abstract"] is None) == no_summary
    assert all(r["published_at"].tzinfo is not None for r in index_rows)


def test_index_csv_unusual_titles(index_rows: list[dict[str, Any]]) -> None:
    titles = {r["source_record_id"]: r["title"] for r in index_rows}
    values = set(titles.values())
    # Recorded with a trailing newline inside the quoted field.
    assert "Test your best methods on our hard CoT interp tasks" in values
    # Curly quotes kept; the trailing space dropped.
    assert (
        "“Features” aren’t always the true computational primitives of a model, but that might be fine anyways"
        in values
    )
    # A no-break space is whitespace.
    assert "Should we benchmark conceptual capabilities using judgment prediction tasks?" in values
    assert all(t == " ".join(t.split()) for t in values)


def test_index_csv_and_graphql_agree_on_the_same_post(folder: Path, index_rows: list[dict[str, Any]]) -> None:
    from_csv = next(r for r in index_rows if r["source_record_id"] == AGI_RUIN_ID)
    from_graphql = _parse((folder / GRAPHQL_POST).read_bytes(), GRAPHQL_POST)[0]
    for column in ("work_id", "title", "authors", "published_at", "created", "score", "comment_count"):
        assert from_csv[column] == from_graphql[column], column
    assert from_csv["word_count"] == from_graphql["word_count"] == 9087
    assert from_csv["venue"] == "Alignment Forum"
    # The index stores a shorter excerpt (cut at 500 characters) of the same opening text.
    assert from_csv["abstract"].removesuffix("...")[:200] == from_graphql["abstract"][:200]


def test_plain_and_gzipped_index_give_the_same_rows(folder: Path, index_rows: list[dict[str, Any]]) -> None:
    plain = gzip.decompress((folder / INDEX_CSV).read_bytes())
    assert _parse(plain, "alignment-forum-posts.csv") == index_rows


def test_truncated_index_keeps_complete_records_and_names_the_file(
    folder: Path, index_rows: list[dict[str, Any]]
) -> None:
    data = (folder / INDEX_CSV).read_bytes()
    rows, error = _parse_until_error(data[: len(data) // 2], "half.csv.gz")
    assert error is not None and "half.csv.gz" in str(error) and "truncated" in str(error)
    assert 0 < len(rows) < len(index_rows)
    assert rows == index_rows[: len(rows)]


# ---- which local files the source claims ----


def test_recognizes_its_own_files_and_nothing_else_in_the_shared_fixtures(folder: Path) -> None:
    claimed = []
    for path in input_files(FIXTURES):
        source = detect_source(path)
        if source is not None and source.name == "alignment_forum":
            claimed.append(path.relative_to(FIXTURES).as_posix())
    assert sorted(claimed) == [f"alignment_forum/{INDEX_CSV}", f"alignment_forum/{GRAPHQL_POST}"]


# ---- GraphQL shapes and errors ----


def _graphql_post(record: dict[str, str], af_flag: bool | None = None) -> dict[str, Any]:
    """A `posts` result in the live query's shape, built from one real post index record."""
    post: dict[str, Any] = {
        "_id": record["_id"],
        "slug": record["slug"],
        "title": record["title"],
        "pageUrl": record["pageUrl"],
        "postedAt": record["postedAt"],
        "baseScore": int(record["karma"]),
        "voteCount": int(record["voteCount"]),
        "commentCount": int(record["commentsCount"]),
        "contents": {"wordCount": int(record["wordCount"]), "plaintextDescription": record["summary"]},
        "user": {"displayName": record["author"], "slug": record["authorSlug"]},
        "coauthors": [],
    }
    if af_flag is not None:
        post["af"] = af_flag
    return post


def test_posts_list_shape_parses_with_af_flag_and_coauthors(index_records: list[dict[str, str]]) -> None:
    first, second = index_records[:2]
    lw_only = _graphql_post(second, af_flag=False)
    lw_only["coauthors"] = [{"displayName": "Ada Lovelace", "slug": "ada"}]
    body = json.dumps({"data": {"posts": {"results": [_graphql_post(first, af_flag=True), lw_only]}}})
    rows = _parse(body.encode(), "posts-page.json")
    assert [r["source_record_id"] for r in rows] == [first["_id"], second["_id"]]
    assert [r["venue"] for r in rows] == ["Alignment Forum", "LessWrong"]
    assert [a["name"] for a in rows[1]["authors"]] == [second["author"], "Ada Lovelace"]


def test_graphql_errors_are_a_parse_error_naming_the_document() -> None:
    body = b'{"errors": [{"message": "Cannot query field \\"nonsense\\" on type \\"Post\\"."}], "data": null}'
    rows, error = _parse_until_error(body, "errors.json")
    assert rows == []
    assert error is not None
    assert str(error) == 'errors.json: GraphQL errors: Cannot query field "nonsense" on type "Post".'


def test_empty_posts_page_is_empty_not_an_error() -> None:
    ctx = ParseContext()
    rows = list(SOURCE.parse(_doc(b'{"data": {"posts": {"results": []}}}', "empty-page.json"), ctx))
    assert rows == [] and ctx.empty


# ---- live: partitions and the local GraphQL server ----


def test_live_batches_are_month_windows() -> None:
    batches = SOURCE.live_batches({"from": "2024-01-15", "until": "2024-03-02"})
    assert [b.key for b in batches] == [
        "alignment_forum-posts-2024-01",
        "alignment_forum-posts-2024-02",
        "alignment_forum-posts-2024-03",
    ]
    assert [dict(b.options) for b in batches] == [
        {"from": "2024-01-15", "until": "2024-01-31", "af_only": "true"},
        {"from": "2024-02-01", "until": "2024-02-29", "af_only": "true"},
        {"from": "2024-03-01", "until": "2024-03-02", "af_only": "true"},
    ]
    everything = SOURCE.live_batches({"from": "2024-01-01", "until": "2024-01-31", "af_only": "false"})
    assert [b.key for b in everything] == ["alignment_forum-posts-lw-2024-01"]
    assert SOURCE.watermark_key({"af_only": "false"}) == "all" and SOURCE.watermark_key({}) == "af"
    assert SOURCE.next_watermark(batches[1], "2024-01-31") == "2024-02-29"
    with pytest.raises(ValueError, match="from date"):
        SOURCE.live_batches({"until": "2024-01-31"})
    with pytest.raises(ValueError, match="no targeted fetch by id"):
        SOURCE.live_batches({"ids": "arXiv:1401.2122", "from": ""})
    with pytest.raises(ValueError, match="af_only"):
        SOURCE.live_batches({"from": "2024-01-01", "af_only": "maybe"})


@dataclass
class GraphQLServer:
    """A local GraphQL endpoint on 127.0.0.1 serving `posts` pages by the query's limit and offset."""

    posts: list[dict[str, Any]]
    ignore_offset: bool = False
    errors: list[dict[str, Any]] | None = None
    bodies: list[bytes] = field(default_factory=list)
    content_types: list[str] = field(default_factory=list)
    url: str = ""

    def answer(self, body: bytes) -> bytes:
        self.bodies.append(body)
        if self.errors is not None:
            return json.dumps({"errors": self.errors, "data": None}).encode()
        terms = json.loads(body)["variables"]["terms"]
        offset = 0 if self.ignore_offset else terms["offset"]
        page = self.posts[offset : offset + terms["limit"]]
        return json.dumps({"data": {"posts": {"results": page}}}).encode()


HTTP_DATE = "Mon, 05 Feb 2024 10:00:00 GMT"


@pytest.fixture
def graphql_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[GraphQLServer]:
    state = GraphQLServer(posts=[])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            state.content_types.append(self.headers.get("Content-Type", ""))
            reply = state.answer(body) if self.path == "/graphql" else b"not found"
            self.send_response_only(200 if self.path == "/graphql" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Date", HTTP_DATE)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/graphql"
    monkeypatch.setenv(af.URL_ENV, state.url)
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def _fetcher(fake_time: FakeTime) -> PoliteFetcher:
    session = requests.Session()
    session.trust_env = False  # no proxy from the environment between us and 127.0.0.1
    assert SOURCE.live is not None
    return PoliteFetcher(
        "research-commons-tests/0.1",
        min_interval_s={"127.0.0.1": SOURCE.live.min_interval_s},
        session=session,
        sleep=fake_time.sleep,
        clock=fake_time.clock,
        max_attempts=1,
    )


def _january_batch(af_only: str = "true") -> BatchSpec:
    return SOURCE.live_batches({"from": "2024-01-01", "until": "2024-01-31", "af_only": af_only})[0]


def test_live_fetch_pages_by_offset_until_a_short_page(
    graphql_server: GraphQLServer, index_records: list[dict[str, str]]
) -> None:
    graphql_server.posts = [_graphql_post(r, af_flag=i % 3 != 0) for i, r in enumerate(index_records[:73])]
    fake_time = FakeTime()

    docs = list(SOURCE.fetch(_january_batch(), _fetcher(fake_time), None))

    assert len(docs) == 2  # 50 posts, then 23: the short page is the last
    bodies = [json.loads(b) for b in graphql_server.bodies]
    assert [b["variables"]["terms"]["offset"] for b in bodies] == [0, 50]
    assert bodies[0]["variables"]["terms"] == {
        "view": "new",
        "after": "2024-01-01T00:00:00.000Z",
        "before": "2024-02-01T00:00:00.000Z",
        "limit": 50,
        "offset": 0,
        "af": True,
    }
    assert all(b["query"] == af.POSTS_QUERY for b in bodies)
    assert "posts(input: {terms: $terms})" in af.POSTS_QUERY and "htmlBody" not in af.POSTS_QUERY
    assert graphql_server.content_types == ["application/json"] * 2
    # The second request waited out the declared spacing for the host.
    assert SOURCE.live is not None and fake_time.sleeps == [SOURCE.live.min_interval_s]
    # Each page is its own entry in the fetch log: the URL names the query by its body's hash.
    assert [d.url_or_path for d in docs] == [
        f"{graphql_server.url}#sha256={sha256_hex(body)[:16]}" for body in graphql_server.bodies
    ]
    assert docs[0].retrieved_at == datetime(2024, 2, 5, 10, 0, tzinfo=UTC)

    rows = [row for doc in docs for _, row in SOURCE.parse(doc, ParseContext())]
    assert [r["source_record_id"] for r in rows] == [r["_id"] for r in index_records[:73]]
    assert [r["venue"] for r in rows] == ["LessWrong" if i % 3 == 0 else "Alignment Forum" for i in range(73)]
    assert [r["score"] for r in rows] == [int(r["karma"]) for r in index_records[:73]]


def test_live_harvest_stages_rows_with_the_http_date(
    graphql_server: GraphQLServer,
    index_records: list[dict[str, str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(harvest, "pipeline_version", lambda: "test-version")
    graphql_server.posts = [_graphql_post(r, af_flag=True) for r in index_records[:50]]
    root = DataRoot(tmp_path / "data")
    batch = _january_batch()

    summary = harvest.harvest_batch(SOURCE, batch, root, fetcher=_fetcher(FakeTime()))

    assert summary.complete and not summary.errors
    assert summary.documents == 2 and summary.rows == {"papers": 50}  # a full page, then an empty one
    papers = pq.read_table(harvest.staging_path(root, "alignment_forum", "papers", batch.key)).to_pylist()
    assert {p["retrieved_at"] for p in papers} == {datetime(2024, 2, 5, 10, 0, tzinfo=UTC)}
    assert {p["source"] for p in papers} == {"alignment_forum"}
    fetches = pq.read_table(harvest.staging_path(root, "alignment_forum", "fetches", batch.key)).to_pylist()
    assert [f["status"] for f in fetches] == ["ok", "empty"]
    assert all("#sha256=" in f["url_or_path"] for f in fetches)


def test_live_graphql_errors_stop_paging_and_are_a_parse_error(graphql_server: GraphQLServer) -> None:
    graphql_server.errors = [{"message": 'Cannot query field "coauthors" on type "Post".'}]

    docs = list(SOURCE.fetch(_january_batch(), _fetcher(FakeTime()), None))

    assert len(docs) == 1
    with pytest.raises(ParseError) as raised:
        list(SOURCE.parse(docs[0], ParseContext()))
    assert str(raised.value).startswith(docs[0].url_or_path + ": GraphQL errors: Cannot query field")


def test_live_fetch_stops_when_the_service_ignores_offset(
    graphql_server: GraphQLServer, index_records: list[dict[str, str]]
) -> None:
    graphql_server.posts = [_graphql_post(r) for r in index_records[:60]]
    graphql_server.ignore_offset = True

    with pytest.raises(FetchError, match="ignores `offset`"):
        list(SOURCE.fetch(_january_batch(), _fetcher(FakeTime()), None))
    assert len(graphql_server.bodies) == 2


def test_live_endpoints_alignment_forum_by_default_lesswrong_for_all_posts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No server at all: a stand-in fetcher records where fetch() would send its queries."""
    monkeypatch.delenv(af.URL_ENV, raising=False)

    class Recorder:
        def __init__(self) -> None:
            self.calls: list[tuple[str, Any]] = []

        def post(self, url: str, json_body: Any, headers: Any = None) -> RawDocument:
            self.calls.append((url, json_body))
            return _doc(b'{"data": {"posts": {"results": []}}}', url)

    recorder = Recorder()
    list(SOURCE.fetch(_january_batch(), cast(PoliteFetcher, recorder), None))
    list(SOURCE.fetch(_january_batch("false"), cast(PoliteFetcher, recorder), None))
    assert [url for url, _ in recorder.calls] == [
        "https://www.alignmentforum.org/graphql",
        "https://www.lesswrong.com/graphql",
    ]
    assert "af" not in recorder.calls[1][1]["variables"]["terms"]
    assert SOURCE.live is not None
    assert set(SOURCE.live.hosts) == {"www.alignmentforum.org", "www.lesswrong.com"}
