"""GitHub: the repositories papers link to, from the REST API (metadata, languages, README, latest release,
head commit) into `repositories`.

Local input: recorded API sessions (betamax cassettes, decoded responses) and the bundles a crawl wrote,
so the whole path runs offline (see ``pipelines/parse/github_api.py``).

Live (`commons build --live --source github`, the repositories the curated links point at, or `--ids
github:owner/name ...`): per repository, `/repos/{owner}/{name}`, then `/languages`, `/readme`,
`/releases/latest` and `/commits/{default branch}`, bundled into one document so parsing stays pure.

- **Conditional requests.** Every 200 response's ETag and body are kept under the data root
  (`state/github_etags.json`, bodies in the raw store); the next crawl sends `If-None-Match`, and a 304
  (which GitHub does not count against the quota) is answered from the stored response, so an unchanged
  repository costs no quota and gives the same bundle, byte for byte, and the same rows.
- **Rate limits** are respected by waiting: with `X-RateLimit-Remaining: 0` every request to the host waits
  until `X-RateLimit-Reset`; a 403/429 saying so, or a secondary limit's 403 with `Retry-After`, is retried
  after that wait (the shared fetcher, ``pipelines/fetch/http.py``).
- **Token** from `GITHUB_TOKEN` when set (sent as a bearer token, never logged or stored), anonymous
  otherwise. `COMMONS_GITHUB_URL` points the crawl at another API root (tests use a local server).
- **Moved and deleted** repositories: a rename is followed (the bundle records the name asked for and the
  one that answered, so the row says `moved` with `moved_to`); 404 and 451 are kept as rows with their
  status and error, and the rest of the batch goes on.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

from pipelines.atomic import atomic_write_text
from pipelines.fetch.http import FetchError, PoliteFetcher, parse_http_date
from pipelines.fetch.raw_store import RawStore, sha256_hex
from pipelines.parse.github_api import BUNDLE_FORMAT, PARSER_NAME, PARSER_VERSION, parse_github
from pipelines.settings import DataRoot
from pipelines.sources.base import (
    BatchSpec,
    LiveAccess,
    ParseContext,
    RawDocument,
    Source,
    SourceLicense,
    TableRow,
    id_list_batch,
)
from pipelines.sources.registry import register

API_ROOT = "https://api.github.com"
URL_ENV = "COMMONS_GITHUB_URL"
TOKEN_ENV = "GITHUB_TOKEN"
_HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
_KEPT_HEADERS = ("etag", "date", "location", "last-modified")


class EtagStore:
    """Per URL: the ETag and the stored response (status, kept headers, body's raw-store key) of its last 200."""

    def __init__(self, root: DataRoot) -> None:
        self.path = root.path / "state" / "github_etags.json"
        self.raw = RawStore(root.raw)
        self._entries: dict[str, dict[str, Any]] = (
            json.loads(self.path.read_text(encoding="utf-8")) if self.path.is_file() else {}
        )

    def get(self, url: str) -> dict[str, Any] | None:
        entry = self._entries.get(url)
        if entry is None or entry["body_sha256"] not in self.raw:
            return None
        return entry

    def body(self, entry: dict[str, Any]) -> bytes:
        return self.raw.get(entry["body_sha256"])

    def put(self, url: str, etag: str, headers: dict[str, str], body: bytes) -> None:
        self._entries[url] = {"etag": etag, "headers": headers, "body_sha256": self.raw.put(body)}

    def save(self) -> None:
        atomic_write_text(self.path, json.dumps(self._entries, indent=1, sort_keys=True) + "\n")


@register
class GitHubSource(Source):
    name = "github"
    description = (
        "GitHub repositories (REST API): metadata, SPDX license, topics, languages, stars and forks, archived "
        "and fork flags, dates, default branch and head commit, README (where its license allows), latest "
        "release; renamed, deleted and blocked repositories kept with their status."
    )
    tables = ("repositories",)
    license = SourceLicense(
        # Repository metadata is facts GitHub serves under its terms; README text is the repository's
        # own, published only under the repository's license when that allows redistribution.
        metadata_spdx="LicenseRef-GitHub-API-terms",
        terms_url="https://docs.github.com/en/site-policy/github-terms/github-terms-of-service",
        text_redistribution="README text only where the repository's own license allows redistribution "
        "(permissive or CC-BY/CC0); otherwise its SHA-256 and length",
    )
    live = LiveAccess(
        hosts=("api.github.com",),
        min_interval_s=1.0,
        auth_env=TOKEN_ENV,
        description="GitHub REST API v3: 5 requests per repository, conditional (ETag) on re-crawls",
        base_url_env=URL_ENV,
    )
    local_inputs = "GitHub API recordings: betamax cassettes, decoded responses, crawl bundles (JSON)"
    fixtures = ("../shared/fixtures/github_api",)
    live_fixture = (
        "../shared/fixtures/github_api/decoded/GitHub_repository__0__repos_sigmavirus24_github3_py.json"
    )
    example_live_options: ClassVar[Mapping[str, str]] = {"ids": "github:sigmavirus24/github3.py"}
    parser_name = PARSER_NAME
    parser_version = PARSER_VERSION
    pool = "api.github.com"

    def recognizes(self, name: str, head: bytes) -> bool:
        text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
        if not text.startswith(b"{"):
            return False
        if b'"http_interactions"' in head or b'"request_uri"' in head:
            return b"api.github.com" in head
        return text.startswith(b'{"format": "' + BUNDLE_FORMAT.encode())

    def parse(self, doc: RawDocument, ctx: ParseContext) -> Iterator[TableRow]:
        yield from parse_github(doc.body(), ctx, doc.url_or_path)

    def live_batches(self, options: Mapping[str, str]) -> list[BatchSpec]:
        ids = [i.strip() for i in options.get("ids", "").replace(",", " ").split() if i.strip()]
        repos = sorted({i.lower() for i in ids if i.startswith("github:") and i.count("/") == 1})
        if not repos:
            raise ValueError(
                "live github needs --ids github:owner/name[,...] (or repositories linked from papers)"
            )
        return [id_list_batch(self.name, "repos", repos)]

    def fetch(self, batch: BatchSpec, fetcher: PoliteFetcher, watermark: str | None) -> Iterator[RawDocument]:
        base = (os.environ.get(URL_ENV) or API_ROOT).rstrip("/")
        store = EtagStore(DataRoot.from_env().ensure())
        try:
            for repo in batch.options.get("ids", "").split():
                owner, _, name = repo.split(":", 1)[1].partition("/")
                yield self._repository(base, owner, name, fetcher, store)
                store.save()
        finally:
            store.save()

    def _repository(
        self, base: str, owner: str, name: str, fetcher: PoliteFetcher, store: EtagStore
    ) -> RawDocument:
        path = f"/repos/{quote(owner)}/{quote(name)}"
        responses = [self._get(base, path, fetcher, store)]
        meta = responses[0]
        all_cached = meta.pop("_cached")
        if meta["status"] == 200 and isinstance(meta["body"], dict):
            answered = str(meta["body"].get("full_name") or f"{owner}/{name}")
            own = f"/repos/{answered}"
            branch = meta["body"].get("default_branch")
            subpaths = ["/languages", "/readme", "/releases/latest"]
            if branch:
                subpaths.append(f"/commits/{quote(str(branch), safe='')}")
            for sub in subpaths:
                reply = self._get(base, own + sub, fetcher, store)
                cached = reply.pop("_cached")
                all_cached = all_cached and cached
                responses.append(reply)
        bundle = {"format": BUNDLE_FORMAT, "responses": responses}
        data = json.dumps(bundle, ensure_ascii=False).encode()

        return RawDocument(
            data=data,
            sha256=sha256_hex(data),
            url_or_path=f"{base}{path}",
            kind="http",
            http_status=304 if all_cached else int(meta["status"]),
            content_type="application/json",
            retrieved_at=parse_http_date(meta["headers"].get("date")),
        )

    def _get(self, base: str, path: str, fetcher: PoliteFetcher, store: EtagStore) -> dict[str, Any]:
        """One response as the bundle records it; 304 answered from the store, errors kept as responses."""
        url = base + path
        cached = store.get(url)
        try:
            doc = fetcher.get(url, headers=_HEADERS, etag=cached["etag"] if cached else None)
        except FetchError as exc:
            body = _json(exc.body or b"")
            return {"url": url, "status": exc.http_status or 0, "headers": {}, "body": body, "_cached": False}
        if doc.http_status == 304 and cached is not None:
            return {
                "url": url,
                "status": 200,
                "headers": cached["headers"],
                "body": _json(store.body(cached)),
                "_cached": True,
            }
        final_path = urlsplit(doc.url_or_path).path
        headers = {"date": _http_date(doc)}
        if doc.etag:
            headers["etag"] = doc.etag
        if final_path != urlsplit(url).path:
            headers["location"] = doc.url_or_path  # a redirect the client followed (a renamed repository)
        headers = {k: v for k, v in headers.items() if v}
        if doc.etag and doc.http_status == 200:
            store.put(url, doc.etag, headers, doc.data)
        return {
            "url": url,
            "status": doc.http_status or 200,
            "headers": headers,
            "body": _json(doc.data),
            "_cached": False,
        }


def _json(data: bytes) -> Any:
    try:
        return json.loads(data) if data else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None


def _http_date(doc: RawDocument) -> str:
    from email.utils import format_datetime

    return format_datetime(doc.retrieved_at, usegmt=True) if doc.retrieved_at else ""
