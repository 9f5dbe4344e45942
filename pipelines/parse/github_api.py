"""GitHub REST API responses into `repositories` rows.

A document is a set of responses: a betamax cassette (`http_interactions`, bodies base64 and often gzip),
one decoded response (`{request_uri, status, recorded_at, body}`), or the bundle the live crawl writes
per repository (`{"format": "github-api-bundle/1", "responses": [...]}`). Responses are grouped by the
repository they are about, and each repository gives one row with the columns its responses know:

- `/repos/{owner}/{name}` and `/repositories/{id}` (metadata): full name, description, homepage,
  license (`license.spdx_id`), topics, stars, forks, open issues, archived and fork flags, the parent of a
  fork, created/pushed dates, default branch, numeric id, and the ETag a re-crawl sends;
  `/search/repositories` items are metadata too.
- `/languages` (bytes per language, largest first), `/readme` (base64 content: SHA-256, length, arXiv ids and
  DOIs it cites; the text itself only where the repository's license allows redistributing it),
  `/releases/latest`, `/license`, and the head commit from `/commits/{ref}`, `/commits` (first entry) or
  `/branches` (the default branch's entry).
- Status: 404 → `not_found`, 451 → `blocked` (kept, with the error), 301 → `moved` with `moved_to` (the new
  full name, found in the redirected `/repositories/{id}` response of the same document), and the moved
  repository's own row under its new name. Other failures → `error`.

A README that is empty, or binary (not UTF-8, or with NUL bytes), has no text; the document's notes say so.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from pipelines.curate.licenses import permits_redistribution
from pipelines.fetch.http import parse_http_date
from pipelines.parse.repo_links import readme_citations
from pipelines.parse.results_common import parse_timestamp
from pipelines.sources.base import ParseContext, ParseError, Row, TableRow

PARSER_NAME = "github_api"
PARSER_VERSION = "1"
BUNDLE_FORMAT = "github-api-bundle/1"
API_HOST = "api.github.com"
_REPO_PATH = re.compile(r"^/repos/(?P<owner>[^/]+)/(?P<name>[^/]+)(?P<rest>/.*)?$")
_ID_PATH = re.compile(r"^/repositories/(?P<id>\d+)(?P<rest>/.*)?$")
_STATUS = {404: "not_found", 451: "blocked", 301: "moved", 302: "moved", 307: "moved"}


@dataclass(frozen=True)
class ApiResponse:
    url: str
    status: int
    headers: dict[str, str]  # lower-cased names
    body: Any  # parsed JSON, or None
    retrieved_at: datetime | None


# -- documents to responses --------------------------------------------------------------------------------


def responses_of(data: bytes, name: str) -> list[ApiResponse]:
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ParseError(f"{name}: not valid JSON ({exc}); the file may be truncated") from exc
    if isinstance(doc, dict) and "http_interactions" in doc:
        return [_from_cassette(i, name) for i in doc["http_interactions"] if isinstance(i, dict)]
    if isinstance(doc, dict) and "request_uri" in doc:
        return [
            ApiResponse(
                str(doc["request_uri"]),
                int(doc.get("status") or 0),
                {},
                doc.get("body"),
                parse_timestamp(doc.get("recorded_at")),
            )
        ]
    if isinstance(doc, dict) and doc.get("format") == BUNDLE_FORMAT:
        return [_from_bundle(r, name) for r in doc.get("responses") or []]
    raise ParseError(f"{name}: not a GitHub API recording (cassette, decoded response or crawl bundle)")


def _from_cassette(interaction: dict[str, Any], name: str) -> ApiResponse:
    request, response = interaction.get("request") or {}, interaction.get("response") or {}
    headers = {str(k).lower(): str(v) for k, v in (response.get("headers") or {}).items()}
    body = response.get("body") or {}
    raw: bytes
    if body.get("base64_string"):
        try:
            raw = base64.b64decode(body["base64_string"])
        except (binascii.Error, ValueError) as exc:
            raise ParseError(f"{name}: a response body is not valid base64 ({exc})") from exc
    else:
        raw = str(body.get("string") or "").encode()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise ParseError(f"{name}: a response body is corrupt gzip ({exc})") from exc
    status = response.get("status") or {}
    code = status.get("code") if isinstance(status, dict) else status
    return ApiResponse(
        str(request.get("uri") or ""),
        int(code or 0),
        headers,
        _json_or_none(raw),
        parse_http_date(headers.get("date")) or parse_timestamp(interaction.get("recorded_at")),
    )


def _from_bundle(response: dict[str, Any], name: str) -> ApiResponse:
    headers = {str(k).lower(): str(v) for k, v in (response.get("headers") or {}).items()}
    return ApiResponse(
        str(response.get("url") or ""),
        int(response.get("status") or 0),
        headers,
        response.get("body"),
        parse_http_date(headers.get("date")),
    )


def _json_or_none(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None


# -- responses to rows ----------------------------------------------------------------------------------------


def _repo_key(full_name: str) -> str:
    return f"github:{full_name.lower()}"


def parse_github(data: bytes, ctx: ParseContext, name: str) -> Iterator[TableRow]:
    responses = responses_of(data, name)
    by_id: dict[str, str] = {}
    for r in responses:
        if r.status == 200 and isinstance(r.body, dict) and r.body.get("full_name") and r.body.get("id"):
            by_id[str(r.body["id"])] = _repo_key(str(r.body["full_name"]))
    rows: dict[str, Row] = {}
    for r in responses:
        path = urlsplit(r.url).path
        if path == "/search/repositories" and isinstance(r.body, dict):
            for item in r.body.get("items") or []:
                if isinstance(item, dict) and item.get("full_name"):
                    _metadata(rows, _repo_key(str(item["full_name"])), item, r)
            continue
        repo, rest = _repository_of(path, by_id)
        if repo is None:
            if _ID_PATH.match(path) or _REPO_PATH.match(path):
                ctx.notes.append(f"{name}: {path}: repository id not resolvable in this document; skipped")
            continue
        if not rest:
            if r.status == 200 and isinstance(r.body, dict):
                own = _repo_key(str(r.body.get("full_name") or repo.split(":", 1)[1]))
                _metadata(rows, own, r.body, r)
                if own != repo:  # answered under another name: a rename the client followed
                    _status(rows, repo, 301, r, moved_to=own)
            else:
                _status(rows, repo, r.status, r, moved_to=_moved_to(r, by_id))
            continue
        if r.status != 200:
            continue
        row = rows.setdefault(repo, _base(repo, r))
        _subresource(row, rest, r.body, ctx, name)
    if not rows:
        ctx.empty = True
        ctx.notes.append(f"{name}: no repository responses in this recording")
    for repo in sorted(rows):
        yield "repositories", _finish(rows[repo])


def _repository_of(path: str, by_id: dict[str, str]) -> tuple[str | None, str]:
    m = _REPO_PATH.match(path)
    if m:
        return _repo_key(f"{m.group('owner')}/{m.group('name')}"), m.group("rest") or ""
    m = _ID_PATH.match(path)
    if m:
        return by_id.get(m.group("id")), m.group("rest") or ""
    return None, ""


def _base(repo: str, r: ApiResponse) -> Row:
    owner, _, name = repo.split(":", 1)[1].partition("/")
    return {
        "repo_id": repo,
        "host": "github",
        "owner": owner,
        "name": name,
        "status": "ok",
        "source_record_id": repo,
        "source_url": f"https://github.com/{owner}/{name}",
        "retrieved_at": r.retrieved_at,
        "_readme": None,
    }


def _metadata(rows: dict[str, Row], repo: str, body: dict[str, Any], r: ApiResponse) -> None:
    row = rows.setdefault(repo, _base(repo, r))
    license = body.get("license") if isinstance(body.get("license"), dict) else None
    parent = body.get("parent") if isinstance(body.get("parent"), dict) else None
    row.update(
        status="ok",
        http_status=r.status,
        full_name=body.get("full_name"),
        host_id=body.get("id"),
        description=body.get("description"),
        homepage=body.get("homepage") or None,
        license_spdx=license.get("spdx_id") if license else None,
        topics=sorted(body.get("topics") or []) or None,
        stars=body.get("stargazers_count"),
        forks=body.get("forks_count"),
        open_issues=body.get("open_issues_count"),
        archived=body.get("archived"),
        is_fork=body.get("fork"),
        fork_parent=_repo_key(str(parent["full_name"])) if parent and parent.get("full_name") else None,
        created_at=parse_timestamp(body.get("created_at")),
        pushed_at=parse_timestamp(body.get("pushed_at")),
        default_branch=body.get("default_branch"),
        etag=r.headers.get("etag"),
        source_url=body.get("html_url") or row["source_url"],
        retrieved_at=r.retrieved_at or row["retrieved_at"],
    )


def _moved_to(r: ApiResponse, by_id: dict[str, str]) -> str | None:
    target = r.headers.get("location") or (r.body.get("url") if isinstance(r.body, dict) else None) or ""
    path = urlsplit(str(target)).path
    m = _ID_PATH.match(path)
    if m:
        return by_id.get(m.group("id"))
    m = _REPO_PATH.match(path)
    return _repo_key(f"{m.group('owner')}/{m.group('name')}") if m else None


def _status(
    rows: dict[str, Row], repo: str, status: int, r: ApiResponse, moved_to: str | None = None
) -> None:
    row = rows.setdefault(repo, _base(repo, r))
    message = r.body.get("message") if isinstance(r.body, dict) else None
    row["status"] = _STATUS.get(status, "error")
    row["http_status"] = status
    if row["status"] == "moved":
        row["moved_to"] = moved_to
        row["error"] = None if moved_to else f"moved permanently ({message or 'no new name given'})"
    else:
        row["error"] = f"HTTP {status}: {message or 'no message'}"


def _subresource(row: Row, rest: str, body: Any, ctx: ParseContext, name: str) -> None:
    if rest == "/languages" and isinstance(body, dict):
        row["languages"] = [
            {"language": k, "bytes": int(v)}
            for k, v in sorted(body.items(), key=lambda kv: (-int(kv[1]), kv[0]))
            if isinstance(v, int)
        ]
    elif rest == "/readme" and isinstance(body, dict):
        row["_readme"] = body
    elif rest == "/releases/latest" and isinstance(body, dict):
        row["latest_release_tag"] = body.get("tag_name")
        row["latest_release_name"] = body.get("name")
        row["latest_release_at"] = parse_timestamp(body.get("published_at"))
    elif rest == "/license" and isinstance(body, dict) and isinstance(body.get("license"), dict):
        row.setdefault("license_spdx", body["license"].get("spdx_id"))
    elif rest.startswith("/commits") and body:
        commit = body[0] if isinstance(body, list) else body
        if isinstance(commit, dict) and ("/" not in rest[1:] or rest.startswith("/commits/")):
            row["head_commit"] = commit.get("sha")
            row["head_commit_at"] = parse_timestamp(
                ((commit.get("commit") or {}).get("committer") or {}).get("date")
            )
    elif rest.startswith("/branches") and isinstance(body, list):
        default = row.get("default_branch")
        for branch in body:
            if isinstance(branch, dict) and branch.get("name") == default:
                row.setdefault("head_commit", (branch.get("commit") or {}).get("sha"))


def _finish(row: Row) -> Row:
    readme = row.pop("_readme", None)
    spdx = row.get("license_spdx")
    allowed = permits_redistribution(spdx) if spdx and spdx != "NOASSERTION" else False
    texts = [row.get("description") or ""]
    if readme is not None:
        content = readme.get("content") or ""
        try:
            raw = (
                base64.b64decode(content)
                if readme.get("encoding", "base64") == "base64"
                else str(content).encode()
            )
        except (binascii.Error, ValueError):
            raw = b""
        row["readme_path"] = readme.get("path")
        if raw:
            import hashlib

            row["readme_sha256"] = hashlib.sha256(raw).hexdigest()
            try:
                text = None if b"\x00" in raw else raw.decode("utf-8")
            except UnicodeDecodeError:
                text = None
            if text is not None:
                row["readme_chars"] = len(text)
                row["readme_text"] = text if allowed else None
                texts.append(text)
    arxiv, dois = readme_citations("\n".join(texts))
    row["cited_arxiv_ids"] = arxiv or None
    row["cited_dois"] = dois or None
    row["text_redistributable"] = allowed
    row["license"] = spdx if spdx and spdx != "NOASSERTION" else "unknown"
    row["license_source"] = (
        "GitHub's license detection (license.spdx_id)"
        if spdx
        else "GitHub detected no license (or not fetched)"
    )
    return row
