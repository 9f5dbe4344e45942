"""arXiv: paper metadata from OAI-PMH (live and recorded pages) and from arXiv API Atom feeds."""

from __future__ import annotations

import calendar
import json
import os
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from typing import ClassVar

from pipelines.curate.identifiers import parse_arxiv_id
from pipelines.fetch.http import PoliteFetcher
from pipelines.parse import arxiv_atom, arxiv_oai
from pipelines.sources.base import (
    BatchSpec,
    LiveAccess,
    ParseContext,
    ParseError,
    RawDocument,
    Source,
    SourceLicense,
    TableRow,
    id_list_batch,
)
from pipelines.sources.oai_pmh import get_record, harvest_list_records
from pipelines.sources.registry import register

DEFAULT_OAI_URL = "https://oaipmh.arxiv.org/oai"
METADATA_PREFIXES = ("arXiv", "arXivRaw", "oai_dc")


@register
class ArxivSource(Source):
    name = "arxiv"
    description = (
        "arXiv paper metadata: OAI-PMH ListRecords/GetRecord (arXiv, arXivRaw, oai_dc) and API Atom feeds."
    )
    tables = ("papers",)
    license = SourceLicense(
        metadata_spdx="CC0-1.0",
        terms_url="https://info.arxiv.org/help/api/tou.html",
        text_redistribution="per paper: only under the CC license stated in the record's <license>",
    )
    live = LiveAccess(
        hosts=("oaipmh.arxiv.org", "export.arxiv.org"),
        min_interval_s=3.0,
        description="OAI-PMH ListRecords by set and from/until dates, resumption tokens, one request per 3 s",
        base_url_env="COMMONS_ARXIV_OAI_URL",
    )
    local_inputs = (
        "OAI-PMH XML responses (ListRecords/GetRecord), arXiv API Atom feeds, "
        "and recorded API responses as JSON {url, status_code, body}"
    )
    fixtures = ("../shared/fixtures/arxiv_oai",)
    live_fixture = "../shared/fixtures/arxiv_oai/atomiklabs_oai_ListRecords_oai_dc_cs_2024-01-25_with_resumptionToken.xml"
    example_live_options: ClassVar[Mapping[str, str]] = {
        "set": "cs",
        "from": "2024-01-25",
        "until": "2024-01-26",
        "metadata_prefix": "oai_dc",
    }
    parser_name = "arxiv"
    parser_version = f"oai-{arxiv_oai.PARSER_VERSION}+atom-{arxiv_atom.PARSER_VERSION}"

    def recognizes(self, name: str, head: bytes) -> bool:
        lowered = head.lower()
        if b"http://www.openarchives.org/oai/2.0/" in lowered and b"arxiv" in lowered:
            return True
        if b"http://www.w3.org/2005/atom" in lowered and b"arxiv" in lowered:
            return True
        return lowered.lstrip().startswith(b"{") and b"arxiv.org/api/query" in lowered

    def parse(self, doc: RawDocument, ctx: ParseContext) -> Iterator[TableRow]:
        body = doc.body()
        where = doc.url_or_path
        http_status = doc.http_status
        if body.lstrip()[:1] == b"{":
            body, http_status = _unwrap_recorded_response(body, where)
            ctx.http_status = http_status
        head = body[:4096]
        if b"OAI-PMH" in head:
            ctx.parser, ctx.parser_version = arxiv_oai.PARSER_NAME, arxiv_oai.PARSER_VERSION
            rows = arxiv_oai.parse_oai_page(body, ctx, where)
        elif b"<feed" in head:
            ctx.parser, ctx.parser_version = arxiv_atom.PARSER_NAME, arxiv_atom.PARSER_VERSION
            rows = arxiv_atom.parse_atom_feed(body, ctx, where)
        elif not body.strip():
            raise ParseError(f"{where}: empty document")
        else:
            raise ParseError(f"{where}: not an arXiv OAI-PMH response or Atom feed")
        for row in rows:
            row["parser"], row["parser_version"] = ctx.parser, ctx.parser_version
            yield "papers", row
        if http_status is not None and http_status >= 400:
            raise ParseError(f"{where}: HTTP {http_status}")

    def live_batches(self, options: Mapping[str, str]) -> list[BatchSpec]:
        prefix = options.get("metadata_prefix", "arXiv")
        if prefix not in METADATA_PREFIXES:
            raise ValueError(f"metadata prefix {prefix!r} is not one of {', '.join(METADATA_PREFIXES)}")
        if options.get("ids"):
            return [self._ids_batch(options["ids"], prefix)]
        set_spec = options.get("set") or None
        start = options.get("from")
        if not start:
            raise ValueError("a live arXiv harvest needs a from date (or a stored watermark)")
        first = date.fromisoformat(start)
        last = date.fromisoformat(options["until"]) if options.get("until") else datetime.now(UTC).date()
        if last < first:
            raise ValueError(f"until {last} is before from {first}")
        batches = []
        for window_start, window_end in month_windows(first, last):
            slug = (set_spec or "all").replace(":", "-")
            key = f"arxiv-oai-{slug}-{prefix.lower()}-{window_start:%Y-%m}"
            batches.append(
                BatchSpec(
                    source=self.name,
                    kind="live",
                    key=key,
                    options={
                        "metadata_prefix": prefix,
                        "set": set_spec or "",
                        "from": window_start.isoformat(),
                        "until": window_end.isoformat(),
                    },
                )
            )
        return batches

    def _ids_batch(self, ids_text: str, prefix: str) -> BatchSpec:
        """Targeted records by arXiv id (OAI-PMH GetRecord): one partition for the whole list."""
        ids = []
        for raw in ids_text.replace(",", " ").split():
            parsed = parse_arxiv_id(raw)
            if parsed is None:
                raise ValueError(f"{raw!r} is not an arXiv id")
            ids.append(parsed.id)
        return id_list_batch(self.name, f"arxiv-ids-{prefix.lower()}", ids, metadata_prefix=prefix)

    def fetch(self, batch: BatchSpec, fetcher: PoliteFetcher, watermark: str | None) -> Iterator[RawDocument]:
        opts = batch.options
        base_url = os.environ.get("COMMONS_ARXIV_OAI_URL") or DEFAULT_OAI_URL
        if opts.get("ids"):
            for arxiv_id in opts["ids"].split():
                yield get_record(
                    fetcher, base_url, f"oai:arXiv.org:{arxiv_id}", opts.get("metadata_prefix", "arXiv")
                )
            return
        yield from harvest_list_records(
            fetcher,
            base_url,
            metadata_prefix=opts.get("metadata_prefix", "arXiv"),
            set_spec=opts.get("set") or None,
            from_date=opts.get("from") or None,
            until_date=opts.get("until") or None,
        )

    def watermark_key(self, options: Mapping[str, str]) -> str:
        return f"{options.get('set') or 'all'}|{options.get('metadata_prefix', 'arXiv')}"

    def next_watermark(self, batch: BatchSpec, previous: str | None) -> str | None:
        until = batch.options.get("until")  # targeted id batches have none and leave the watermark alone
        if not until:
            return previous
        return max(previous, until) if previous else until


def month_windows(first: date, last: date) -> list[tuple[date, date]]:
    """Calendar-month windows covering [first, last], clipped at both ends."""
    windows = []
    cursor = first
    while cursor <= last:
        month_end = date(cursor.year, cursor.month, calendar.monthrange(cursor.year, cursor.month)[1])
        windows.append((cursor, min(month_end, last)))
        cursor = date(month_end.year + (month_end.month == 12), month_end.month % 12 + 1, 1)
    return windows


def _unwrap_recorded_response(body: bytes, where: str) -> tuple[bytes, int | None]:
    """A recorded API response {url, status_code, body} (as arxiv.py's test fixtures store them)."""
    try:
        wrapper = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ParseError(f"{where}: not valid JSON ({exc})") from exc
    if not isinstance(wrapper, dict) or not isinstance(wrapper.get("body"), str):
        raise ParseError(f"{where}: JSON is not a recorded response with a 'body' string")
    status = wrapper.get("status_code")
    return _recorded_body_bytes(wrapper["body"]), status if isinstance(status, int) else None


def _recorded_body_bytes(text: str) -> bytes:
    """The response bytes behind a recorded ``body`` string.

    arxiv.py's recorder stores ``response.content.decode("latin-1")`` and replays it with
    ``.encode("latin-1")``, so encoding back to Latin-1 gives the exact bytes arXiv sent (UTF-8 XML).
    Encoding the text as UTF-8 instead would double-encode every non-ASCII character ("José" would read
    "JosÃ©"). A recorder that stored properly decoded text is recognised because its text either
    has characters beyond Latin-1 or does not round-trip to valid UTF-8; that text is encoded as UTF-8.
    """
    try:
        raw = text.encode("latin-1")
        raw.decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text.encode("utf-8")
    return raw
