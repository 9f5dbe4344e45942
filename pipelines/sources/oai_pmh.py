"""Generic OAI-PMH harvesting: ListRecords paging by resumptionToken, GetRecord, and flow control.

Any OAI-PMH repository works here; what is source-specific (the metadata format's parsing) lives in the
source module. The harvest yields each page's raw bytes as soon as they arrive, so the caller stores
them before anything can go wrong with the next request.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from lxml import etree

from pipelines.fetch.http import PoliteFetcher
from pipelines.sources.base import ParseError, RawDocument

log = logging.getLogger("commons.oai_pmh")

NO_RECORDS_MATCH = "noRecordsMatch"

_ROOT_TAG = "OAI-PMH"
# Records (and ListIdentifiers headers) are only matched so they can be freed while streaming.
_STREAMED_TAGS = ("{*}responseDate", "{*}error", "{*}resumptionToken", "{*}record", "{*}header")


@dataclass(frozen=True)
class OaiControl:
    """The flow-control parts of one OAI-PMH response."""

    resumption_token: str | None  # None on the last page (element empty or absent)
    complete_list_size: int | None
    cursor: int | None
    error_code: str | None  # the first <error code=...>, e.g. noRecordsMatch, badResumptionToken
    error_message: str | None
    response_date: datetime | None


def read_oai_control(data: bytes) -> OaiControl:
    """Read resumptionToken, error and responseDate of an OAI-PMH response, whatever its namespace prefixes.

    Streams the document and frees records as it goes, so a large page costs little memory. Raises
    ``ParseError`` for malformed XML or a document that is not an OAI-PMH response.
    """
    if not data.strip():
        raise ParseError("empty response where an OAI-PMH document was expected")
    resumption_token: str | None = None
    complete_list_size: int | None = None
    cursor: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    response_date: datetime | None = None

    events = etree.iterparse(
        io.BytesIO(data), events=("end",), tag=_STREAMED_TAGS, resolve_entities=False, no_network=True
    )
    try:
        for _, element in events:
            name = etree.QName(element).localname
            # Depth guards: a record's metadata may contain its own <error> or <responseDate>.
            depth = sum(1 for _ in element.iterancestors())
            if name == "responseDate" and depth == 1:
                response_date = _parse_utc_datetime(element.text)
            elif name == "error" and depth == 1 and error_code is None:
                error_code = element.get("code") or "unknown"
                error_message = (element.text or "").strip() or None
            elif name == "resumptionToken" and depth == 2:
                resumption_token = (element.text or "").strip() or None
                complete_list_size = _optional_int(element.get("completeListSize"))
                cursor = _optional_int(element.get("cursor"))
            elif name in ("record", "header") and depth <= 2:
                element.clear()
                while element.getprevious() is not None:
                    parent = element.getparent()
                    assert parent is not None  # an element with a previous sibling has a parent
                    del parent[0]
    except etree.XMLSyntaxError as exc:
        raise ParseError(f"malformed OAI-PMH response: {exc}") from exc

    root = events.root
    if root is None or etree.QName(root).localname != _ROOT_TAG:
        found = etree.QName(root).localname if root is not None else "nothing"
        raise ParseError(f"not an OAI-PMH response: root element is <{found}>, expected <{_ROOT_TAG}>")
    return OaiControl(
        resumption_token=resumption_token,
        complete_list_size=complete_list_size,
        cursor=cursor,
        error_code=error_code,
        error_message=error_message,
        response_date=response_date,
    )


def harvest_list_records(
    fetcher: PoliteFetcher,
    base_url: str,
    metadata_prefix: str,
    set_spec: str | None,
    from_date: str | None,
    until_date: str | None,
    max_pages: int | None = None,
) -> Iterator[RawDocument]:
    """Every page of a ListRecords harvest, in order, each yielded as soon as it is fetched.

    The first request carries the selective arguments; later ones carry only the resumptionToken, as
    the protocol requires. The harvest ends after the page without a token, after a page with an OAI
    error (``noRecordsMatch`` is the normal empty answer; the caller's parser records any other), or
    after ``max_pages``. ``FetchError`` and ``ParseError`` (unreadable page) propagate after the pages
    already yielded.
    """
    params: dict[str, str] = {"verb": "ListRecords", "metadataPrefix": metadata_prefix}
    if set_spec:
        params["set"] = set_spec
    if from_date:
        params["from"] = from_date
    if until_date:
        params["until"] = until_date

    pages = 0
    previous_token: str | None = None
    while True:
        page = fetcher.get(base_url, params=params)
        pages += 1
        yield page
        try:
            control = read_oai_control(page.body())
        except ParseError as exc:
            raise ParseError(f"{page.url_or_path}: {exc}") from exc
        log.info(
            "OAI-PMH %s page %d: token=%r completeListSize=%s error=%s",
            base_url,
            pages,
            control.resumption_token,
            control.complete_list_size,
            control.error_code,
        )
        if control.error_code is not None or control.resumption_token is None:
            return
        if max_pages is not None and pages >= max_pages:
            return
        if control.resumption_token == previous_token:
            raise ParseError(
                f"{page.url_or_path}: server repeated resumptionToken {control.resumption_token!r}; "
                "stopping instead of looping"
            )
        previous_token = control.resumption_token
        params = {"verb": "ListRecords", "resumptionToken": control.resumption_token}


def get_record(fetcher: PoliteFetcher, base_url: str, identifier: str, metadata_prefix: str) -> RawDocument:
    """One record by its OAI identifier (``verb=GetRecord``); OAI errors are left to the caller's parser."""
    return fetcher.get(
        base_url,
        params={"verb": "GetRecord", "identifier": identifier, "metadataPrefix": metadata_prefix},
    )


def _optional_int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


def _parse_utc_datetime(text: str | None) -> datetime | None:
    if not text or not text.strip():
        return None
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
