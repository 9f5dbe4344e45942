"""OpenAlex: identifiers, citation counts, open-access status and license, venue and references of works.

OpenAlex (CC0) knows most papers the dataset holds, under an OpenAlex work id (``W…``) and usually a DOI:
this source adds what arXiv metadata lacks (the published venue and DOI, citation counts, the
open-access license, the works a paper cites). A work's row is keyed like every other source's
(``pipelines.curate.identifiers.work_id_for``: arXiv id first, then DOI), so it lands on the same
``work_id`` as the arXiv row and the curation step fills that row's enrichment columns from it. The arXiv
id comes from an arXiv DOI (``10.48550/arXiv.<id>``) or an arxiv.org location; OpenAlex states none
in ``ids``.

Rows:

- ``papers``: one row per work entity, with ``openalex_id``, ``cited_by_count``, ``oa_status``,
  ``doi``, ``venue``, the abstract rebuilt from ``abstract_inverted_index`` and topics as ``subjects``.
  A work known by neither arXiv id, DOI nor (title, first author, year) is keyed ``openalex:W…``.
- ``links``: one ``cites`` edge per entry of ``referenced_works``, from the work's ``work_id`` to
  ``openalex:W…`` (OpenAlex names cited works by OpenAlex id only; the curation step can resolve them
  through ``papers.openalex_id``).

Local input: single-entity responses (``/works/W…``) and list responses (``/works?filter=…``, a page of
``results``). Other OpenAlex entities (authors, sources, institutions, concepts, topics, publishers,
funders) are recognised as OpenAlex files but are not works: they give no rows and the document is
recorded as empty (``ctx.empty``), with a note saying what the entity is.

Live: ``/works?filter=doi:…|…`` and ``filter=openalex:W…|…``, 50 ids per request (one request per 50
works instead of 50). OpenAlex takes no arXiv id, so arXiv ids are looked up by their arXiv DOI.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from datetime import date
from typing import Any, ClassVar
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from pipelines.curate.identifiers import normalize_doi, parse_arxiv_id, work_id_for
from pipelines.curate.licenses import license_from_url
from pipelines.fetch.http import PoliteFetcher
from pipelines.parse.arxiv_oai import split_display_name
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
    id_list_batch,
)
from pipelines.sources.registry import register

log = logging.getLogger(__name__)

PARSER_VERSION = "1.0.0"  # bump whenever parse() output changes: partitions are then re-parsed

OPENALEX_API = "https://api.openalex.org"
URL_ENV = "COMMONS_OPENALEX_URL"
KEY_ENV = "OPENALEX_API_KEY"
CONTACT_ENV = "COMMONS_CONTACT_EMAIL"
IDS_PER_REQUEST = 50  # OpenAlex's documented maximum of OR-ed values in one filter
PER_PAGE = 100  # the documented maximum page size; 50 ids rarely give more than 50 works
MAX_PAGES = 5

METADATA_LICENSE = "CC0-1.0"
METADATA_LICENSE_SOURCE = "OpenAlex data is CC0 (https://openalex.org/about, the API's `license: CC0`)"
CITES_EVIDENCE = "openalex referenced_works"

# The first letter of an OpenAlex id names the kind of entity (V: the venues of the schema before 2023).
ENTITY_KINDS = {
    "W": "work",
    "A": "author",
    "S": "source",
    "I": "institution",
    "C": "concept",
    "P": "publisher",
    "F": "funder",
    "T": "topic",
    "K": "keyword",
    "V": "venue",
}
_OPENALEX_ID = re.compile(r"^(?:https?://(?:www\.)?openalex\.org/)?([A-Za-z])(\d+)$")
_ARXIV_DOI = re.compile(r"^10\.48550/arxiv\.(.+)$", re.IGNORECASE)
_ARXIV_URL = re.compile(r"arxiv\.org/(?:abs|pdf)/(.+?)(?:\.pdf)?/?$", re.IGNORECASE)
# Characters that end a value in OpenAlex's filter syntax (`,` between filters, `|` between values) or
# that the API refuses in ids (`&`): such a DOI cannot be looked up through it.
_FILTER_UNSAFE = re.compile(r"[,|&]")
# Preprint servers and repositories are where a work is deposited, not where it was published: they are
# no `venue` (arXiv rows have none either).
_PREPRINT_SERVERS = (
    "arxiv",
    "biorxiv",
    "medrxiv",
    "chemrxiv",
    "techrxiv",
    "psyarxiv",
    "ssrn",
    "research square",
    "preprints.org",
    "osf preprints",
)


# -- licenses of open-access copies (shared with the Semantic Scholar source) ---------------------------

_CC_VERSIONED = re.compile(r"^cc-?(by(?:-?nc)?(?:-?sa|-?nd)?)-?(\d)\.?(\d)$")
_CC_UNVERSIONED = re.compile(r"^cc-?by(?:-?nc)?(?:-?sa|-?nd)?$")


def oa_license(value: Any) -> tuple[str, bool, str]:
    """(SPDX id or `unknown`, whether full text may be redistributed, a note) for a stated OA license.

    OpenAlex (and Semantic Scholar, from the same Unpaywall data) name licenses without a version:
    `cc-by`, `cc-by-nc-nd`, `CCBY`, `publisher-specific-oa`, `other-oa`, ... CC licenses differ between
    versions, so an unversioned `cc-by` is `unknown` rather than a guessed CC-BY-4.0. CC0 has one version
    (1.0); MIT and Apache-2.0 name one license each. Redistribution follows the project's license gate
    (``license_from_url``): CC0 and CC-BY/CC-BY-SA 3.0 or 4.0; plus MIT and Apache-2.0 (DESIGN.md).
    """
    if not isinstance(value, str) or not value.strip():
        return "unknown", False, "no license stated"
    raw = value.strip()
    key = re.sub(r"[\s_]+", "-", raw.lower())
    if key in ("cc0", "cc-0", "cc0-1.0", "cc-zero", "cc-zero-1.0"):
        lic = license_from_url("https://creativecommons.org/publicdomain/zero/1.0/")
        return lic.spdx, lic.text_redistributable, f"{raw!r} is CC0 (one version: 1.0)"
    m = _CC_VERSIONED.match(key)
    if m:
        kind = m.group(1).replace("-", "")
        parts = [p for p in ("by", "nc", "sa", "nd") if p in kind]
        lic = license_from_url(
            f"https://creativecommons.org/licenses/{'-'.join(parts)}/{m.group(2)}.{m.group(3)}/"
        )
        return lic.spdx, lic.text_redistributable, f"{raw!r} names its version"
    if _CC_UNVERSIONED.match(key):
        return "unknown", False, f"{raw!r} states no version, and CC licenses differ between versions"
    if key == "mit":
        return "MIT", True, f"{raw!r} is the MIT license"
    if key in ("apache-2.0", "apache-2-0", "apache2", "apache-2"):
        return "Apache-2.0", True, f"{raw!r} is Apache-2.0"
    return "unknown", False, f"{raw!r} is not a license with an SPDX id"


# -- small helpers (shared with the Semantic Scholar source) -------------------------------------------


def collapse(value: Any) -> str | None:
    """Whitespace collapsed; None for anything but a non-blank string."""
    if not isinstance(value, str):
        return None
    return " ".join(value.split()) or None


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one (absent and mistyped fields read as absent)."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def as_date(value: Any) -> date | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError:
        return None


def arxiv_from_doi(doi: str | None) -> str | None:
    """The arXiv id behind an arXiv DataCite DOI (10.48550/arXiv.<id>), else None."""
    if not doi:
        return None
    m = _ARXIV_DOI.match(doi)
    parsed = parse_arxiv_id(m.group(1)) if m else None
    return parsed.id if parsed else None


def is_preprint_server(name: str) -> bool:
    lowered = name.lower()
    return any(server in lowered for server in _PREPRINT_SERVERS)


def work_key(
    arxiv_id: str | None, doi: str | None, title: str | None, keyname: str | None, year: int | None
) -> str | None:
    """``work_id_for`` where its answer is a stable key: arXiv id, DOI, or a title hash with all three parts.

    A hash of a title alone (no first author or year) would never match another source's row of the same
    work and only adds a second key for it; the caller then keys by the source's own id instead.
    """
    if arxiv_id or doi:
        return work_id_for(arxiv_id, doi)
    if title and keyname and year:
        return work_id_for(None, None, title, keyname, year)
    return None


# -- the source ----------------------------------------------------------------------------------------


@register
class OpenAlexSource(Source):
    name = "openalex"
    description = (
        "OpenAlex works: OpenAlex id, DOI, venue, cited-by count, open-access status and license, topics, "
        "abstract, and `cites` links from referenced_works; keyed by arXiv id or DOI so they enrich the "
        "arXiv rows of the same works."
    )
    tables = ("papers", "links")
    license = SourceLicense(
        metadata_spdx=METADATA_LICENSE,
        terms_url="https://openalex.org/about",
        text_redistribution=(
            "never from this source: it serves metadata only; each row's `license` is the open-access "
            "license OpenAlex states for the work (`unknown` where it states none or no version)"
        ),
    )
    live = LiveAccess(
        hosts=("api.openalex.org",),
        # OpenAlex allows 100 requests per second per client; 10 per second keeps well inside it (the
        # former "polite pool" rate). Singleton lookups are free; list/filter requests cost credits of
        # the daily allowance, which an API key (OPENALEX_API_KEY, free) raises from a test-sized budget
        # to 10,000 list requests a day: 500,000 works at 50 ids per request.
        min_interval_s=0.1,
        auth_env=KEY_ENV,
        description=(
            "GET /works?filter=doi:…|… (arXiv ids as their 10.48550/arXiv DOI) and filter=openalex:W…|…, "
            "50 ids per request, per_page=100; `api_key` from OPENALEX_API_KEY (optional, strongly "
            "recommended; never logged), `mailto` from COMMONS_CONTACT_EMAIL (not stored in the fetch log)"
        ),
        base_url_env=URL_ENV,
    )
    local_inputs = (
        "OpenAlex API JSON: single-entity responses (/works/W…; other entities are recognised and skipped) "
        "and list responses ({meta, results}) of works"
    )
    fixtures = ("../shared/fixtures/openalex",)
    live_fixture = "../shared/fixtures/openalex/openalex_work_W2741809807.json"
    example_live_options: ClassVar[Mapping[str, str]] = {"ids": "doi:10.7717/peerj.4375 W2755950973"}
    curation_rank = 2  # enrichment: fills a work's identifiers and counts, never its main row
    parser_name = "openalex"
    parser_version = PARSER_VERSION

    # -- local input -------------------------------------------------------------------------------

    def recognizes(self, name: str, head: bytes) -> bool:
        text = head[3:] if head.startswith(b"\xef\xbb\xbf") else head
        stripped = text.lstrip()
        if not stripped.startswith(b"{"):
            return False
        # A single entity opens with its own OpenAlex id; a list response with `meta` and a first result
        # whose id is an OpenAlex id.
        entity = re.match(rb'\{\s*"id"\s*:\s*"https://openalex\.org/[A-Za-z]\d+"', stripped)
        listing = re.match(rb'\{\s*"meta"\s*:', stripped) and re.search(
            rb'"results"\s*:\s*\[\s*\{\s*"id"\s*:\s*"https://openalex\.org/[A-Za-z]\d+"', stripped
        )
        return bool(entity or listing)

    def parse(self, doc: RawDocument, ctx: ParseContext) -> Iterator[TableRow]:
        where = doc.url_or_path
        payload = doc.body()
        if payload.startswith(b"\xef\xbb\xbf"):
            payload = payload[3:]
        if not payload.strip():
            raise ParseError(f"{where}: empty document")
        try:
            data = json.loads(payload)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ParseError(f"{where}: not valid JSON ({exc})") from exc
        entities = _entities(data, where)
        skipped: Counter[str] = Counter()
        works = 0
        for entity in entities:
            oa_id = _openalex_id(entity.get("id"), where)
            kind = ENTITY_KINDS.get(oa_id[0], "unknown")
            if kind != "work":
                skipped[kind] += 1
                continue
            works += 1
            paper = _work_row(entity, oa_id, where, ctx)
            yield "papers", paper
            for link in _cites_links(entity, paper, where):
                yield "links", link
        for kind, n in sorted(skipped.items()):
            ctx.notes.append(
                f"{where}: {n} OpenAlex {kind} entit{'y' if n == 1 else 'ies'}, not a work: no rows"
            )
        if works == 0:
            ctx.empty = True

    # -- live --------------------------------------------------------------------------------------

    def live_batches(self, options: Mapping[str, str]) -> list[BatchSpec]:
        ids_text = options.get("ids") or ""
        if not ids_text.strip():
            raise ValueError(
                "openalex enriches known works: give their ids (--ids 'arxiv:2401.01234 doi:10.… W…'); "
                "it has no harvest by date"
            )
        return [
            id_list_batch(
                self.name, "openalex-ids", (_normalize_id(r) for r in ids_text.replace(",", " ").split())
            )
        ]

    def fetch(self, batch: BatchSpec, fetcher: PoliteFetcher, watermark: str | None) -> Iterator[RawDocument]:
        """Works of the batch's ids: `filter=doi:` (DOIs and arXiv DOIs) and `filter=openalex:` requests."""
        base = (os.environ.get(URL_ENV) or OPENALEX_API).rstrip("/")
        common = {"per_page": str(PER_PAGE)}
        contact = (os.environ.get(CONTACT_ENV) or "").strip()
        if contact:
            common["mailto"] = contact
        key = (os.environ.get(KEY_ENV) or "").strip()
        if key:
            common["api_key"] = key  # a secret-looking name: the fetcher keeps it out of URLs and messages
        dois: list[str] = []
        works: list[str] = []
        for item in batch.options.get("ids", "").split():
            scheme, _, value = item.partition(":")
            if scheme == "openalex":
                works.append(value)
            elif scheme == "arxiv":
                dois.append(f"10.48550/arxiv.{value}")
            elif _FILTER_UNSAFE.search(value):
                log.warning("openalex: DOI %s holds , | or &, which OpenAlex cannot look up; skipped", value)
            else:
                dois.append(value)
        for field, values in (("doi", dois), ("openalex", works)):
            for start in range(0, len(values), IDS_PER_REQUEST):
                chunk = values[start : start + IDS_PER_REQUEST]
                params = {"filter": f"{field}:" + "|".join(chunk), **common}
                for page in range(1, MAX_PAGES + 1):
                    if page > 1:
                        params["page"] = str(page)
                    doc = fetcher.get(f"{base}/works", params=params)
                    yield _without_param(doc, "mailto")
                    if not _has_more_pages(doc, page):
                        break


# -- parsing ---------------------------------------------------------------------------------------


def _entities(data: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(data, dict) and "results" in data:
        results = data["results"]
        if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
            raise ParseError(f"{where}: an OpenAlex list response's `results` is not a list of objects")
        return results
    if isinstance(data, dict) and "id" in data:
        return [data]
    if isinstance(data, dict) and ("error" in data or "message" in data):
        problem = "; ".join(str(data[k]) for k in ("error", "message") if data.get(k))
        raise ParseError(f"{where}: OpenAlex error: {problem[:500]}")
    raise ParseError(f"{where}: not an OpenAlex API response (no entity `id` and no `results`)")


def _openalex_id(value: Any, where: str) -> str:
    m = _OPENALEX_ID.match(value.strip()) if isinstance(value, str) else None
    if not m:
        raise ParseError(f"{where}: {value!r} is not an OpenAlex id (https://openalex.org/W…)")
    return m.group(1).upper() + m.group(2)


def _work_row(work: dict[str, Any], oa_id: str, where: str, ctx: ParseContext) -> Row:
    ids = as_dict(work.get("ids"))
    doi = normalize_doi(str(ids.get("doi") or work.get("doi") or ""))
    arxiv_id = _arxiv_id(work, ids, doi)
    title = collapse(work.get("title")) or collapse(work.get("display_name"))
    authors = _authors(work.get("authorships"))
    year = as_int(work.get("publication_year"))
    keyname = authors[0]["keyname"] if authors else None
    work_id = work_key(arxiv_id, doi, title, keyname, year) or f"openalex:{oa_id}"
    abstract, missing = abstract_from_inverted_index(work.get("abstract_inverted_index"))
    if missing:
        ctx.notes.append(f"{where}: {oa_id}: abstract_inverted_index lacks {missing} word position(s)")
    open_access = as_dict(work.get("open_access"))
    spdx, redistributable, license_source, license_url = _work_license(work)
    return {
        "work_id": work_id,
        "arxiv_id": arxiv_id,
        "doi": doi,
        "dois": [doi] if doi else None,
        "title": title,
        "abstract": abstract,
        "authors": authors,
        "subjects": _topics(work.get("topics")),
        "created": as_date(work.get("publication_date")),
        "work_type": collapse(work.get("type")),
        "venue": _venue(work),
        "openalex_id": oa_id,
        "cited_by_count": as_int(work.get("cited_by_count")),
        "oa_status": collapse(open_access.get("oa_status")),
        "license_url": license_url,
        "metadata_format": "openalex_work",
        "metadata_license": METADATA_LICENSE,
        "text_redistributable": redistributable,
        "source_record_id": oa_id,
        "source_url": f"https://openalex.org/{oa_id}",
        "license": spdx,
        "license_source": license_source,
    }


def _arxiv_id(work: dict[str, Any], ids: dict[str, Any], doi: str | None) -> str | None:
    """From an `arxiv` id (should OpenAlex add one), the arXiv DOI, or an arxiv.org location, in that order."""
    stated = ids.get("arxiv")
    if isinstance(stated, str):
        parsed = parse_arxiv_id(stated)
        if parsed:
            return parsed.id
    from_doi = arxiv_from_doi(doi)
    if from_doi:
        return from_doi
    locations = [
        work.get("primary_location"),
        work.get("best_oa_location"),
        *(as_list(work.get("locations"))),
    ]
    for location in locations:
        if not isinstance(location, dict):
            continue
        for url_field in ("landing_page_url", "pdf_url"):
            url = location.get(url_field)
            m = _ARXIV_URL.search(url) if isinstance(url, str) else None
            parsed = parse_arxiv_id(m.group(1)) if m else None
            if parsed:
                return parsed.id
    return None


def _authors(authorships: Any) -> list[Row]:
    authors = []
    for authorship in as_list(authorships):
        if not isinstance(authorship, dict):
            continue
        author = as_dict(authorship.get("author"))
        name = collapse(author.get("display_name")) or collapse(authorship.get("raw_author_name"))
        if not name:
            continue
        # What the paper states (raw affiliation strings) before OpenAlex's matched institutions.
        affiliations = [
            a for a in (collapse(s) for s in as_list(authorship.get("raw_affiliation_strings"))) if a
        ]
        if not affiliations:
            institutions = [i for i in as_list(authorship.get("institutions")) if isinstance(i, dict)]
            affiliations = [a for a in (collapse(i.get("display_name")) for i in institutions) if a]
        authors.append(split_display_name(name, affiliations))
    return authors


def _topics(topics: Any) -> list[str] | None:
    names = [collapse(t.get("display_name")) for t in as_list(topics) if isinstance(t, dict)]
    kept = [n for n in names if n]
    return kept or None


def _venue(work: dict[str, Any]) -> str | None:
    """The first location (primary first) hosted by a source that is not a repository or preprint server."""
    for location in [work.get("primary_location"), *as_list(work.get("locations"))]:
        source = location.get("source") if isinstance(location, dict) else None
        if not isinstance(source, dict) or source.get("type") == "repository":
            continue
        name = collapse(source.get("display_name"))
        if name and not is_preprint_server(name):
            return name
    host = work.get("host_venue")  # the work schema before 2023 (since removed from the API)
    if isinstance(host, dict):
        name = collapse(host.get("display_name"))
        if name and not is_preprint_server(name):
            return name
    return None


def _work_license(work: dict[str, Any]) -> tuple[str, bool, str, str | None]:
    """(license, redistributable, license_source, license_url) from the best OA copy, else the primary one."""
    for field in ("best_oa_location", "primary_location"):
        location = work.get(field)
        if not isinstance(location, dict):
            continue
        stated = location.get("license")
        if isinstance(stated, str) and stated.strip():
            spdx, redistributable, note = oa_license(stated)
            license_id = location.get("license_id")
            url = license_id.strip() if isinstance(license_id, str) and license_id.strip() else None
            return spdx, redistributable, f"OpenAlex {field}.license: {note}", url
    return (
        "unknown",
        False,
        "OpenAlex states no license for this work (best_oa_location and primary_location have none)",
        None,
    )


def abstract_from_inverted_index(index: Any) -> tuple[str | None, int]:
    """(the abstract's text with words in position order, how many positions no word fills)."""
    if not isinstance(index, dict) or not index:
        return None, 0
    words: dict[int, str] = {}
    for word, positions in index.items():
        if not isinstance(word, str):
            continue
        for position in as_list(positions):
            if isinstance(position, int) and not isinstance(position, bool) and position >= 0:
                words.setdefault(position, word)  # the first word stated for a position keeps it
    if not words:
        return None, 0
    missing = max(words) + 1 - len(words)
    return collapse(" ".join(words[p] for p in sorted(words))), missing


def _cites_links(work: dict[str, Any], paper: Row, where: str) -> Iterator[Row]:
    seen: set[str] = set()
    for value in as_list(work.get("referenced_works")):
        cited = _openalex_id(value, where)
        if cited in seen or cited == paper["openalex_id"]:
            continue
        seen.add(cited)
        yield {
            "src_id": paper["work_id"],
            "dst_id": f"openalex:{cited}",
            "link_type": "cites",
            "evidence": CITES_EVIDENCE,
            "confidence": 1.0,
            "source_record_id": paper["source_record_id"],
            "source_url": paper["source_url"],
            "license": METADATA_LICENSE,
            "license_source": METADATA_LICENSE_SOURCE,
        }


# -- live helpers ----------------------------------------------------------------------------------


def _normalize_id(raw: str) -> str:
    """`arxiv:<id>`, `doi:<doi>` or `openalex:W…` for one id as a user writes it."""
    text = raw.strip()
    lowered = text.lower()
    if lowered.startswith("openalex:"):
        text = text[len("openalex:") :]
    m = _OPENALEX_ID.match(text)
    if m and m.group(1).upper() == "W":
        return f"openalex:W{m.group(2)}"
    return arxiv_or_doi_key(text, raw, "an OpenAlex work id (W…)")


def arxiv_or_doi_key(text: str, raw: str, other_kind: str) -> str:
    """`arxiv:<id>` or `doi:<doi>` (an arXiv DOI counts as the arXiv id) for an id a user wrote; ValueError
    naming ``raw`` and the service's own id kind otherwise."""
    lowered = text.lower()
    if lowered.startswith("arxiv:") or (
        not lowered.startswith(("doi:", "10.", "http")) and parse_arxiv_id(text)
    ):
        parsed = parse_arxiv_id(text)
        if parsed is None:
            raise ValueError(f"{raw!r} is not an arXiv id")
        return f"arxiv:{parsed.id}"
    doi = normalize_doi(text)
    if doi is None:
        raise ValueError(f"{raw!r} is not an arXiv id, a DOI or {other_kind}")
    arxiv_id = arxiv_from_doi(doi)
    return f"arxiv:{arxiv_id}" if arxiv_id else f"doi:{doi}"


def _has_more_pages(doc: RawDocument, page: int) -> bool:
    try:
        meta = json.loads(doc.data).get("meta")
        count, per_page = int(meta["count"]), int(meta["per_page"])
    except (ValueError, TypeError, KeyError, AttributeError, UnicodeDecodeError):
        return False  # not a list response (parse() reports what it is)
    return page * per_page < count


def _without_param(doc: RawDocument, name: str) -> RawDocument:
    """The document with query parameter ``name`` removed from its URL (the contact address is not logged).

    The other ``name=value`` segments stay byte for byte as sent, as in ``redact_url``.
    """
    parts = urlsplit(doc.url_or_path)
    segments = parts.query.split("&")
    kept = [s for s in segments if s and unquote_plus(s.partition("=")[0]) != name]
    if len(kept) == len([s for s in segments if s]):
        return doc
    return dataclasses.replace(doc, url_or_path=urlunsplit(parts._replace(query="&".join(kept))))
