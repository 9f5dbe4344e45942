"""The GitHub source: the real recorded API sessions in ../shared/fixtures/github_api, and the live crawl
driven against a small local server on 127.0.0.1 that speaks GitHub's REST protocol (ETag/304, rate-limit
headers, a secondary limit, a rename's 301, 404 and 451), serving real recorded bodies where there are some.
GitHub itself cannot be reached from the tests."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from pipelines.curate.combine import build_curated_table
from pipelines.curate.repositories import merged_repositories_sql
from pipelines.fetch.http import PoliteFetcher
from pipelines.harvest import harvest_batch
from pipelines.settings import DataRoot
from pipelines.sources.base import BatchSpec, ParseContext, RawDocument, Row
from pipelines.sources.registry import get_source
from schemas import table_spec
from tests.conftest import FakeTime, fixture_dir

SOURCE = get_source("github")
DATE = "Tue, 24 Nov 2026 12:00:00 GMT"
RESET_EPOCH = 1795525200  # 2026-11-24T12:00:00Z + 3,600 s: one hour after DATE


def parse_file(path: Path) -> list[Row]:
    data = path.read_bytes()
    doc = RawDocument(data, hashlib.sha256(data).hexdigest(), path.name, "file")
    return [row for _, row in SOURCE.parse(doc, ParseContext())]


def test_recorded_sessions() -> None:
    folder = fixture_dir("github_api")
    [moved, new] = parse_file(folder / "github3py_cassette_Repository_license.json")
    assert (moved["repo_id"], moved["status"], moved["moved_to"]) == (
        "github:github3py/github3.py",
        "moved",
        "github:github3py/github3py",
    )
    assert (new["repo_id"], new["license_spdx"], new["license"], new["text_redistributable"]) == (
        "github:github3py/github3py",
        "BSD-3-Clause",
        "BSD-3-Clause",
        True,
    )
    [repo] = parse_file(folder / "github3py_cassette_Repository_readme.json")
    assert repo["readme_path"] == "README.rst" and repo["readme_chars"] == 1978
    assert repo["readme_text"] is None, "no license stated in the 2018 metadata: README withheld"
    assert repo["full_name"] == "sigmavirus24/github3.py" and repo["stars"] == 748
    [repo] = parse_file(folder / "github3py_cassette_Repository_latest_release.json")
    assert repo["latest_release_tag"] == "0.9.3"
    search = parse_file(folder / "github3py_cassette_GitHub_search_repositories.json")
    assert len(search) == 8 and all(r["status"] == "ok" for r in search)
    assert parse_file(folder / "github3py_cassette_GitHub_licenses.json") == []


def test_partial_documents_merge_into_one_row(tmp_path: Path) -> None:
    root = DataRoot(tmp_path / "home").ensure()
    batch = BatchSpec("github", "local", "fixtures", (str(fixture_dir("github_api")),), {"claim": "all"})
    summary = harvest_batch(SOURCE, batch, root)
    assert summary.errors == []
    out = tmp_path / "repositories.parquet"
    staged = [summary.outputs["repositories"]]
    build_curated_table(table_spec("repositories"), staged, out, merged_repositories_sql(staged))
    rows = {r["repo_id"]: r for r in pq.read_table(out).to_pylist()}
    github3 = rows["github:sigmavirus24/github3.py"]
    # Metadata, README, latest release and head commit came from different recordings.
    assert github3["full_name"] == "sigmavirus24/github3.py"
    assert github3["readme_chars"] == 1978 and github3["latest_release_tag"] == "0.9.3"
    assert github3["head_commit"] is not None
    assert rows["github:sigmavirus24/betamax"]["status"] == "moved"
    assert len(rows) == len(set(rows))


# -- a local server that speaks GitHub's REST API ------------------------------------------------------------


class FakeGitHub:
    """Repositories by path; ETags; an optional rate-limit episode, secondary limit, rename, 404 and 451."""

    def __init__(self) -> None:
        repo = json.loads(
            (
                fixture_dir("github_api")
                / "decoded"
                / "GitHub_repository__0__repos_sigmavirus24_github3_py.json"
            ).read_text()
        )["body"]
        repo = {**repo, "license": {"spdx_id": "BSD-3-Clause"}, "default_branch": "main"}
        readme = json.loads(
            (
                fixture_dir("github_api")
                / "decoded"
                / "Repository_readme__1__repos_sigmavirus24_github3_py_readme.json"
            ).read_text()
        )["body"]
        extra = "\n\nPaper: https://arxiv.org/abs/2401.01234\n"
        readme = {
            **readme,
            "content": base64.b64encode(base64.b64decode(readme["content"]) + extra.encode()).decode(),
        }
        self.bodies: dict[str, Any] = {
            "/repos/sigmavirus24/github3.py": repo,
            "/repos/sigmavirus24/github3.py/languages": {"Python": 900000, "Makefile": 1200},
            "/repos/sigmavirus24/github3.py/readme": readme,
            "/repos/sigmavirus24/github3.py/releases/latest": {
                "tag_name": "4.0.1",
                "name": "4.0.1",
                "published_at": "2023-04-26T00:00:00Z",
            },
            "/repos/sigmavirus24/github3.py/commits/main": {
                "sha": "a" * 40,
                "commit": {"committer": {"date": "2024-01-02T03:04:05Z"}},
            },
            "/repositories/999": {**repo, "full_name": "newowner/renamed", "id": 999, "default_branch": None},
        }
        self.requests: list[tuple[str, str | None, str | None]] = []  # (path, If-None-Match, Authorization)
        self.rate_limited_once: set[str] = set()
        self.secondary_once: set[str] = set()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(
                    (self.path, self.headers.get("If-None-Match"), self.headers.get("Authorization"))
                )
                path = self.path.split("?", 1)[0]
                if path in server.rate_limited_once:
                    server.rate_limited_once.discard(path)
                    return self._send(
                        403,
                        {"message": "API rate limit exceeded"},
                        {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(RESET_EPOCH)},
                    )
                if path in server.secondary_once:
                    server.secondary_once.discard(path)
                    return self._send(
                        403, {"message": "You have exceeded a secondary rate limit"}, {"Retry-After": "30"}
                    )
                if path == "/repos/oldowner/renamed":
                    self.send_response(301)
                    self.send_header("Location", f"http://{self.headers['Host']}/repositories/999")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if path == "/repos/someone/blocked":
                    return self._send(451, {"message": "Repository access blocked"})
                body = server.bodies.get(path)
                if body is None:
                    return self._send(404, {"message": "Not Found"})
                etag = '"' + hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16] + '"'
                if self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.send_header("Date", DATE)
                    self.end_headers()
                    return
                self._send(
                    200,
                    body,
                    {"ETag": etag, "X-RateLimit-Remaining": "4999", "X-RateLimit-Reset": str(RESET_EPOCH)},
                )

            def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response_only(status)  # no second, real-time Date header
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Date", DATE)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeGitHub]:
    server = FakeGitHub()
    monkeypatch.setenv("COMMONS_GITHUB_URL", server.url)
    monkeypatch.setenv("COMMONS_HOME", str(tmp_path / "home"))
    yield server
    server.close()


def _fetcher(clock: FakeTime) -> PoliteFetcher:
    return PoliteFetcher(
        "test", default_min_interval_s=0.0, sleep=clock.sleep, clock=clock.clock, auth_env="GITHUB_TOKEN"
    )


def _crawl(ids: str, clock: FakeTime, tmp_path: Path) -> tuple[list[Row], Any]:
    root = DataRoot(tmp_path / "home").ensure()
    [batch] = SOURCE.live_batches({"ids": ids})
    summary = harvest_batch(SOURCE, batch, root, fetcher=_fetcher(clock))
    rows = pq.read_table(summary.outputs["repositories"]).to_pylist()
    return rows, summary


def test_crawl_then_recrawl_is_answered_by_304s(github: FakeGitHub, tmp_path: Path) -> None:
    clock = FakeTime()
    first, summary = _crawl("github:sigmavirus24/github3.py", clock, tmp_path)
    assert summary.errors == []
    assert len(github.requests) == 5 and all(inm is None for _, inm, _ in github.requests)
    [repo] = first
    assert repo["license_spdx"] == "BSD-3-Clause" and repo["text_redistributable"]
    assert repo["readme_text"] and "arxiv.org/abs/2401.01234" in repo["readme_text"]
    assert repo["cited_arxiv_ids"] == ["2401.01234"]
    assert [lang["language"] for lang in repo["languages"]] == ["Python", "Makefile"]
    assert (repo["head_commit"], repo["latest_release_tag"]) == ("a" * 40, "4.0.1")
    assert repo["etag"]
    github.requests.clear()
    again, summary = _crawl("github:sigmavirus24/github3.py", clock, tmp_path)
    # Five conditional requests, all answered 304: no quota spent, and the very same rows.
    assert len(github.requests) == 5 and all(inm for _, inm, _ in github.requests)
    assert again == first
    fetches = pq.read_table(summary.outputs["fetches"]).to_pylist()
    assert [f["status"] for f in fetches] == ["not_modified"]


def test_rate_limits_are_waited_out(github: FakeGitHub, tmp_path: Path) -> None:
    clock = FakeTime()
    github.rate_limited_once.add("/repos/sigmavirus24/github3.py")
    github.secondary_once.add("/repos/sigmavirus24/github3.py/languages")
    rows, summary = _crawl("github:sigmavirus24/github3.py", clock, tmp_path)
    assert summary.errors == [] and rows[0]["status"] == "ok" and rows[0]["languages"]
    # Waited until the reset (capped at the fetcher's 600 s), then for the secondary limit's Retry-After.
    assert 600.0 in clock.sleeps and 30.0 in clock.sleeps


def test_moved_missing_and_blocked_repositories_are_kept(github: FakeGitHub, tmp_path: Path) -> None:
    clock = FakeTime()
    rows, _ = _crawl("github:oldowner/renamed github:ghost/gone github:someone/blocked", clock, tmp_path)
    by_id = {r["repo_id"]: r for r in rows}
    assert by_id["github:oldowner/renamed"]["status"] == "moved"
    assert by_id["github:oldowner/renamed"]["moved_to"] == "github:newowner/renamed"
    assert by_id["github:newowner/renamed"]["status"] == "ok"
    assert (by_id["github:ghost/gone"]["status"], by_id["github:ghost/gone"]["http_status"]) == (
        "not_found",
        404,
    )
    assert by_id["github:someone/blocked"]["status"] == "blocked"
    assert "blocked" in by_id["github:someone/blocked"]["error"]


def test_token_is_sent_and_never_stored_or_logged(
    github: FakeGitHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    token = "ghp_secretTOKEN1234567890"
    monkeypatch.setenv("GITHUB_TOKEN", token)
    github.rate_limited_once.add("/repos/sigmavirus24/github3.py")
    with caplog.at_level(logging.DEBUG):
        rows, _ = _crawl("github:sigmavirus24/github3.py github:ghost/gone", FakeTime(), tmp_path)
    assert all(auth == f"Bearer {token}" for _, _, auth in github.requests)
    assert token not in caplog.text
    assert token not in json.dumps(rows, default=str)
    home = tmp_path / "home"
    assert not any(token.encode() in p.read_bytes() for p in home.rglob("*") if p.is_file())
