"""Alignment Forum / LessWrong: posts as works, the community's main venue for AI-alignment research writing.

Much safety research appears only as forum posts (agendas, results, critiques), so they are works in
``papers`` alongside preprints. One post id names a post on both sites: the Alignment Forum is a view of
LessWrong's posts with an ``af`` flag, so a post is one work (``lesswrong:<_id>``) with ``venue`` saying
whether it is on the Alignment Forum.

Local input: LessWrong GraphQL responses (a single ``post`` or a page of ``posts``) and the post index CSV
that tools export from that API. Live: the GraphQL ``posts`` query, a month of posts at a time, paged by
offset. Post bodies are never stored: the API states no license for them.
"""

from __future__ import annotations

import csv
import io
import json
import os
import zlib
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, ClassVar

from pipelines.fetch.http import FetchError, PoliteFetcher
from pipelines.parse.arxiv_oai import split_display_name
from pipelines.sources.arxiv import month_windows
from pipelines.sources.base import (
    BatchSpec,
    LiveAccess,
    ParseContext,
    ParseError,
    RawDocument,
    Row,
    Source,
    SourceLicense,
    TableRow,
)
from pipelines.sources.registry import register

PARSER_VERSION = "1.0.0"  # bump whenever parse() output changes: partitions are then re-parsed

AF_GRAPHQL_URL = "https://www.alignmentforum.org/graphql"
# The Alignment Forum's deployment only ever lists Alignment Forum posts, so all LessWrong posts need LessWrong's.
LW_GRAPHQL_URL = "https://www.lesswrong.com/graphql"
URL_ENV = "COMMONS_ALIGNMENT_FORUM_URL"
PAGE_SIZE = 50
MAX_PAGES = 100  # 5,000 posts in one month window: far above any real month; stop rather than loop forever

# The post index CSV (one line per post, as exported from the API by e.g. rapturt9/mcp-alignmentforum).
INDEX_COLUMNS = (
    "_id",
    "slug",
    "title",
    "summary",
    "pageUrl",
    "author",
    "authorSlug",
    "karma",
    "voteCount",
    "commentsCount",
    "postedAt",
    "wordCount",
    "af",
)
_INDEX_REQUIRED = ("_id", "title", "pageUrl", "postedAt")

# The post fields parse() reads; the same as a recorded `post` response has, plus `af` and co-authors.
POSTS_QUERY = """query CommonsPosts($terms: JSON) {
  posts(input: {terms: $terms}) {
    results {
      _id
      slug
      title
      pageUrl
      postedAt
      af
      baseScore
      voteCount
      commentCount
      contents { wordCount plaintextDescription }
      user { displayName slug }
      coauthors { displayName slug }
    }
  }
}"""

VENUE_AF = "Alignment Forum"
VENUE_LW = "LessWrong"
METADATA_LICENSE = "LicenseRef-LessWrong-terms"
LICENSE_SOURCE = (
    "not stated: the LessWrong / Alignment Forum API gives no license for posts, and under the site's "
    "terms of use (https://www.lesswrong.com/termsOfUse) authors keep the rights to what they post"
)


@register
class AlignmentForumSource(Source):
    name = "alignment_forum"
    description = (
        "Alignment Forum and LessWrong posts as works: title, author, date, excerpt, karma, comment and "
        "word counts, from the LessWrong GraphQL API or its exports (no post bodies)."
    )
    tables = ("papers",)
    license = SourceLicense(
        metadata_spdx=METADATA_LICENSE,
        terms_url="https://www.lesswrong.com/termsOfUse",
        text_redistribution=(
            "never: the API states no license for posts and authors keep their rights, so post bodies "
            "are not stored; rows carry license `unknown`"
        ),
    )
    live = LiveAccess(
        hosts=("www.alignmentforum.org", "www.lesswrong.com"),
        # LessWrong publishes no rate limit; the author of the recorded post index reports 429s for bulk
        # clients of this endpoint. A month of Alignment Forum posts is one to three pages, so one request
        # per 5 s costs minutes, not hours, even for a backfill to 2017.
        min_interval_s=5.0,
        description=(
            "GraphQL `posts` query (view `new`), one calendar month of postedAt per partition, 50 posts "
            "per page by offset; Alignment Forum posts from www.alignmentforum.org (option af_only=false: "
            "all LessWrong posts from www.lesswrong.com)"
        ),
        base_url_env=URL_ENV,
    )
    local_inputs = (
        "LessWrong / Alignment Forum GraphQL responses (`post` or `posts` query, JSON) and the post index "
        "CSV (_id,slug,title,summary,pageUrl,author,...,af; plain or gzipped)"
    )
    fixtures = ("../shared/fixtures/alignment_forum",)
    live_fixture = "../shared/fixtures/alignment_forum/lw_graphql_raw_response_agi-ruin.json"
    example_live_options: ClassVar[Mapping[str, str]] = {"from": "2022-06-01", "until": "2022-06-30"}
    parser_name = "alignment_forum"
    parser_version = PARSER_VERSION

    # -- local input -------------------------------------------------------------------------------

    def recognizes(self, name: str, head: bytes) -> bool:
        head = _head_text(head)
        stripped = head.lstrip()
        if stripped.startswith(b"{"):
            if b'"post"' not in head and b'"posts"' not in head:
                return False
            lowered = head.lower()
            on_site = b"lesswrong.com" in lowered or b"alignmentforum.org" in lowered
            return on_site or (b'"_id"' in head and b'"slug"' in head)
        first_line = stripped.split(b"\n", 1)[0].rstrip(b"\r")
        columns = [c.strip().strip('"') for c in first_line.decode("utf-8", "replace").split(",")]
        return tuple(columns[:5]) == INDEX_COLUMNS[:5]

    def parse(self, doc: RawDocument, ctx: ParseContext) -> Iterator[TableRow]:
        where = doc.url_or_path
        payload, truncated = _payload(doc)
        if payload.startswith(b"\xef\xbb\xbf"):
            payload = payload[3:]
        if not payload.strip():
            raise ParseError(f"{where}: empty document")
        if payload.lstrip()[:1] == b"{":
            if truncated:
                raise ParseError(f"{where}: gzip data ends early (truncated)")
            rows = _graphql_rows(payload, where)
        elif self.recognizes(where, payload[:4096]):
            rows = _index_rows(payload, truncated, where)
        else:
            raise ParseError(f"{where}: not a LessWrong GraphQL response (JSON) or a post index CSV")
        count = 0
        for row in rows:
            count += 1
            yield "papers", row
        if count == 0:
            ctx.empty = True

    # -- live --------------------------------------------------------------------------------------

    def live_batches(self, options: Mapping[str, str]) -> list[BatchSpec]:
        if options.get("ids"):
            raise ValueError(
                "alignment_forum has no targeted fetch by id (--ids): harvest it by date (--since), "
                "or choose the sources with --source"
            )
        af_only = _flag(options.get("af_only", ""), default=True, name="af_only")
        start = options.get("from")
        if not start:
            raise ValueError("a live Alignment Forum harvest needs a from date (or a stored watermark)")
        first = date.fromisoformat(start)
        last = date.fromisoformat(options["until"]) if options.get("until") else datetime.now(UTC).date()
        if last < first:
            raise ValueError(f"until {last} is before from {first}")
        scope = "" if af_only else "lw-"
        return [
            BatchSpec(
                source=self.name,
                kind="live",
                key=f"{self.name}-posts-{scope}{window_start:%Y-%m}",
                options={
                    "from": window_start.isoformat(),
                    "until": window_end.isoformat(),
                    "af_only": "true" if af_only else "false",
                },
            )
            for window_start, window_end in month_windows(first, last)
        ]

    def fetch(self, batch: BatchSpec, fetcher: PoliteFetcher, watermark: str | None) -> Iterator[RawDocument]:
        """Pages of the `posts` query for the batch's days, by offset, until a page is not full."""
        opts = batch.options
        af_only = _flag(opts.get("af_only", ""), default=True, name="af_only")
        url = os.environ.get(URL_ENV) or (AF_GRAPHQL_URL if af_only else LW_GRAPHQL_URL)
        first = date.fromisoformat(opts["from"])
        last = date.fromisoformat(opts["until"])
        terms: dict[str, Any] = {
            "view": "new",
            # Instants, not dates: ForumMagnum (LessWrong's code) selects postedAt >= after and < before,
            # so the window is [first day 00:00Z, the day after the last 00:00Z) and months do not overlap.
            "after": _instant(first),
            "before": _instant(last + timedelta(days=1)),
            "limit": PAGE_SIZE,
        }
        if af_only:
            terms["af"] = True
        seen: set[str] = set()
        for page in range(MAX_PAGES):
            terms["offset"] = page * PAGE_SIZE
            doc = fetcher.post(url, {"query": POSTS_QUERY, "variables": {"terms": dict(terms)}})
            yield doc
            ids = _page_ids(doc)
            # A page we cannot read, or one that is not full, is the last: parse() reports a bad one.
            if ids is None or len(ids) < PAGE_SIZE:
                return
            if seen.issuperset(ids):
                raise FetchError(
                    doc.url_or_path,
                    f"page at offset {terms['offset']} repeats earlier posts: the service ignores `offset`",
                    method="POST",
                )
            seen.update(ids)
        raise FetchError(
            url,
            f"more than {MAX_PAGES} pages of {PAGE_SIZE} posts between {first} and {last}; stopped "
            "(raise MAX_PAGES if a month really has this many posts)",
            method="POST",
        )

    def watermark_key(self, options: Mapping[str, str]) -> str:
        return "af" if _flag(options.get("af_only", ""), default=True, name="af_only") else "all"

    def next_watermark(self, batch: BatchSpec, previous: str | None) -> str | None:
        until = batch.options.get("until")
        if not until:
            return previous
        return max(previous, until) if previous else until


# -- parsing ---------------------------------------------------------------------------------------


def _head_text(head: bytes) -> bytes:
    """The first bytes of the payload: gunzips a gzip head (possibly cut short), drops a UTF-8 BOM."""
    if head[:2] == b"\x1f\x8b":
        try:
            head = zlib.decompressobj(wbits=31).decompress(head, 4096)
        except zlib.error:
            return b""
    return head[3:] if head.startswith(b"\xef\xbb\xbf") else head


def _payload(doc: RawDocument) -> tuple[bytes, bool]:
    """(payload bytes, whether a gzip stream ended early). What a truncated gzip still holds is kept."""
    try:
        return doc.body(), False
    except ParseError:
        partial = zlib.decompressobj(wbits=31)
        try:
            data = partial.decompress(doc.data)
        except zlib.error:
            data = b""
        if not data:
            raise
        return data, True


def _graphql_rows(payload: bytes, where: str) -> Iterator[Row]:
    try:
        response = json.loads(payload)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ParseError(f"{where}: not valid JSON ({exc})") from exc
    if not isinstance(response, dict):
        raise ParseError(f"{where}: a GraphQL response is a JSON object, got {type(response).__name__}")
    errors = response.get("errors")
    data = response.get("data")
    posts: list[Any] = []
    if isinstance(data, dict) and isinstance(data.get("posts"), dict):
        results = data["posts"].get("results")
        if not isinstance(results, list):
            raise ParseError(f"{where}: data.posts.results is not a list")
        posts = results
    elif isinstance(data, dict) and isinstance(data.get("post"), dict):
        result = data["post"].get("result")
        posts = [result] if result is not None else []
    elif not errors and not (isinstance(data, dict) and ("post" in data or "posts" in data)):
        raise ParseError(f"{where}: not a LessWrong GraphQL response: no data.post or data.posts")
    for post in posts:
        if not isinstance(post, dict):
            raise ParseError(f"{where}: a post is not a JSON object")
        yield _graphql_row(post, where)
    if errors:
        raise ParseError(f"{where}: GraphQL errors: {_error_messages(errors)}")


def _error_messages(errors: Any) -> str:
    if not isinstance(errors, list):
        return str(errors)[:500]
    messages = [str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors]
    return "; ".join(messages)[:1000]


def _graphql_row(post: dict[str, Any], where: str) -> Row:
    contents = post.get("contents")
    if not isinstance(contents, dict):
        contents = {}
    people = [post.get("user"), *(post.get("coauthors") or [])]
    names = [p.get("displayName") for p in people if isinstance(p, dict)]
    af = post.get("af")
    return _post_row(
        where,
        metadata_format="lesswrong_graphql",
        post_id=post.get("_id"),
        slug=post.get("slug"),
        title=post.get("title"),
        excerpt=contents.get("plaintextDescription"),
        page_url=post.get("pageUrl"),
        authors=[n for n in names if isinstance(n, str)],
        posted_at=post.get("postedAt"),
        af=af if isinstance(af, bool) else None,
        score=_integer(post.get("baseScore"), "baseScore", where),
        comment_count=_integer(post.get("commentCount"), "commentCount", where),
        word_count=_integer(contents.get("wordCount"), "wordCount", where),
    )


def _index_rows(payload: bytes, truncated: bool, where: str) -> Iterator[Row]:
    if truncated:
        # Whole lines only. The last record may still be cut inside a quoted field, so it is dropped.
        payload = payload[: payload.rfind(b"\n") + 1]
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParseError(f"{where}: not UTF-8 text ({exc})") from exc
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [c.strip() for c in next(reader, [])]
    missing = [c for c in _INDEX_REQUIRED if c not in header]
    if missing:
        raise ParseError(f"{where}: post index CSV without column(s) {', '.join(missing)}")
    # Each record is converted once the next one has been read, so a truncated file's last one never is.
    held: tuple[list[str], int] | None = None
    records = 0
    try:
        for fields in reader:
            if not fields:
                continue
            if held is not None:
                yield _index_row(header, *held, where)
                records += 1
            held = (fields, reader.line_num)
    except csv.Error as exc:
        raise ParseError(f"{where}: line {reader.line_num}: {exc}") from exc
    if truncated:
        raise ParseError(f"{where}: gzip data ends early (truncated) after {records} complete records")
    if held is not None:
        yield _index_row(header, *held, where)


def _index_row(header: list[str], fields: list[str], line: int, where: str) -> Row:
    if len(fields) != len(header):
        raise ParseError(f"{where}: line {line}: {len(fields)} fields where the header has {len(header)}")
    record = dict(zip(header, fields, strict=True))
    return _post_row(
        where,
        metadata_format="lesswrong_post_index_csv",
        post_id=record["_id"],
        slug=record.get("slug"),
        title=record["title"],
        excerpt=record.get("summary"),
        page_url=record["pageUrl"],
        authors=[record["author"]] if record.get("author", "").strip() else [],
        posted_at=record["postedAt"],
        af=_csv_flag(record.get("af"), where, line),
        score=_integer(record.get("karma"), "karma", where),
        comment_count=_integer(record.get("commentsCount"), "commentsCount", where),
        word_count=_integer(record.get("wordCount"), "wordCount", where),
    )


def _post_row(
    where: str,
    *,
    metadata_format: str,
    post_id: Any,
    slug: Any,
    title: Any,
    excerpt: Any,
    page_url: Any,
    authors: list[str],
    posted_at: Any,
    af: bool | None,
    score: int | None,
    comment_count: int | None,
    word_count: int | None,
) -> Row:
    if not isinstance(post_id, str) or not post_id.strip():
        raise ParseError(f"{where}: a post has no _id")
    post_id = post_id.strip()
    published = _timestamp(posted_at)
    url = page_url.strip() if isinstance(page_url, str) and page_url.strip() else None
    if url is None:
        url = f"https://www.lesswrong.com/posts/{post_id}" + (
            f"/{slug}" if isinstance(slug, str) and slug else ""
        )
    return {
        # One id on LessWrong and the Alignment Forum: the post's own id is the key on both.
        "work_id": f"lesswrong:{post_id}",
        "title": _collapse(title),
        "abstract": _collapse(excerpt),
        "authors": [split_display_name(name) for name in (_collapse(a) for a in authors) if name],
        "created": published.date() if published else None,
        "published_at": published,
        "work_type": "post",
        "venue": _venue(af, url),
        "score": score,
        "comment_count": comment_count,
        "word_count": word_count,
        "metadata_format": metadata_format,
        "metadata_license": METADATA_LICENSE,
        "license": "unknown",
        "license_source": LICENSE_SOURCE,
        "text_redistributable": False,
        "source_record_id": post_id,
        "source_url": url,
    }


def _venue(af: bool | None, url: str) -> str | None:
    """`Alignment Forum` for AF posts (also on LessWrong), `LessWrong` for the rest; None if not known."""
    if af is not None:
        return VENUE_AF if af else VENUE_LW
    if "alignmentforum.org" in url.lower():
        return VENUE_AF
    return None  # a LessWrong response without the `af` field does not say whether the post is on the AF


def _collapse(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return " ".join(value.split()) or None


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _integer(value: Any, field: str, where: str) -> int | None:
    """A count or score: JSON numbers (karma may be a float) and CSV digits; empty is None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return round(value)
    text = str(value).strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        try:
            return round(float(text))
        except ValueError:
            raise ParseError(f"{where}: {field} {text[:40]!r} is not a number") from None


def _csv_flag(value: str | None, where: str, line: int) -> bool | None:
    text = (value or "").strip().lower()
    if not text:
        return None
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise ParseError(f"{where}: line {line}: af {value!r} is not True or False")


def _flag(value: str, default: bool, name: str) -> bool:
    text = value.strip().lower()
    if not text:
        return default
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise ValueError(f"option {name}={value!r}: use true or false")


def _instant(day: date) -> str:
    return datetime.combine(day, time(0, tzinfo=UTC)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _page_ids(doc: RawDocument) -> list[str] | None:
    """Post ids on one fetched page (a `post` response counts as a page of one); None if unreadable."""
    try:
        response = json.loads(doc.body())
        data = response["data"]
        if isinstance(data.get("posts"), dict):
            return [str(p.get("_id")) for p in data["posts"]["results"]]
        result = data["post"]["result"]
        return [str(result.get("_id"))] if result else []
    except (ParseError, ValueError, KeyError, TypeError, AttributeError):
        return None
