"""Semantic Scholar: paper ids, external ids, citation counts, venues and the citation graph.

The Semantic Scholar Academic Graph (S2) links a paper's arXiv id, DOI and S2 paper id and knows who
cites whom, including for preprints that no publisher indexes. This source adds to ``papers`` the S2
paper id (``s2_paper_id``), ``cited_by_count`` (S2's ``citationCount``; the curation step prefers
OpenAlex's where both exist), DOI and venue, and to ``links`` the ``cites`` edges S2 states. Rows are keyed
like every other source's (``work_id_for``: arXiv id from ``externalIds.ArXiv``, then DOI), so they land
on the arXiv row of the same work.

What each kind of response gives:

- Paper objects (``/paper/{id}``, ``/paper/batch``, search and recommendation pages, a full paper with
  nested ``citations``/``references``): a ``papers`` row each, plus ``cites`` links from nested
  references (this paper → cited) and citations (citing → this paper).
- ``/paper/{id}/references`` and ``/paper/{id}/citations`` pages (``{offset, next, data: [{citedPaper}]}``):
  links only; the paper the list belongs to is read from the request URL (a VCR cassette's ``uri``, a
  live document's URL). Cited and citing papers get no ``papers`` rows of their own: they are ends of
  edges, and a row for every paper a corpus paper cites would add works outside the corpus.
- A lone Citation or Reference object (one end of an edge), Author, Dataset and Release objects: no rows;
  the document is recorded as empty with a note saying why.
- VCR cassettes (``interactions: [{request, response}]``, vcrpy's YAML, both its ``body.string`` and its
  httpx ``content`` layouts): each response body is read as above. A response with status 400 or more
  is a ``ParseError`` naming the cassette, the interaction and its request, after the rows of the other
  interactions.

Ids in ``links``: a paper with an arXiv id or DOI in ``externalIds`` is its ``work_id``; any other is
``s2:<paperId>``, or, where only the id a request used is known, ``s2:`` followed by that id as the API
accepts it (``s2:CorpusId:14514057``). A cited paper S2 could not resolve (no paperId, no external id)
gives no edge.

Live: ``POST /graph/v1/paper/batch`` with ``ARXIV:``/``DOI:`` ids, 50 per request, asking for the
fields parsed here and the nested ``references.paperId,references.externalIds``.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import zlib
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import unquote, urlsplit

import yaml

from pipelines.curate.identifiers import normalize_doi, parse_arxiv_id, work_id_for
from pipelines.fetch.http import FetchError, PoliteFetcher
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
from pipelines.sources.openalex import (
    arxiv_from_doi,
    arxiv_or_doi_key,
    as_date,
    as_dict,
    as_int,
    as_list,
    collapse,
    is_preprint_server,
    oa_license,
    work_key,
)
from pipelines.sources.registry import register

PARSER_VERSION = "1.0.0"  # bump whenever parse() output changes: partitions are then re-parsed

S2_GRAPH_API = "https://api.semanticscholar.org/graph/v1"
URL_ENV = "COMMONS_S2_URL"
KEY_ENV = "S2_API_KEY"
KEY_HEADER = "x-api-key"
IDS_PER_REQUEST = 50  # the API takes 500, but returns at most 9,999 nested references per request
PAPER_FIELDS = (
    "paperId,externalIds,url,title,abstract,venue,publicationVenue,year,publicationDate,"
    "publicationTypes,journal,authors,citationCount,referenceCount,isOpenAccess,openAccessPdf,"
    "fieldsOfStudy,references.paperId,references.externalIds"
)

METADATA_LICENSE = "LicenseRef-SemanticScholar-API-License-Agreement"
TERMS_URL = "https://www.semanticscholar.org/product/api/license"
METADATA_LICENSE_SOURCE = (
    f"Semantic Scholar API data, used under the Semantic Scholar API License Agreement ({TERMS_URL}); "
    "the API states no open license for it"
)
_S2_HEX = re.compile(r"^[0-9a-fA-F]{40}$")
_API_KEY_CHARS = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII, no spaces: what an HTTP header can carry
# The parts of an S2 API path after /graph/v1 (or /recommendations/v1) that name an endpoint.
_LISTING_PATH = re.compile(r"/paper/(.+)/(references|citations)$")
_RECOMMENDATIONS_PATH = re.compile(r"/papers/forpaper/(.+)$")
_PAPER_PATH = re.compile(r"/paper/(.+)$")


# -- the source ----------------------------------------------------------------------------------------


@register
class SemanticScholarSource(Source):
    name = "semantic_scholar"
    description = (
        "Semantic Scholar papers: S2 paper id, external ids (arXiv, DOI), citation count, venue, abstract, "
        "and `cites` links from references and citations; keyed by arXiv id or DOI so they enrich the arXiv "
        "rows of the same works."
    )
    tables = ("papers", "links")
    license = SourceLicense(
        metadata_spdx=METADATA_LICENSE,
        terms_url=TERMS_URL,
        text_redistribution=(
            "never from this source: it serves metadata only; each row's `license` is "
            "openAccessPdf.license where S2 states one with an SPDX id, else `unknown`"
        ),
    )
    live = LiveAccess(
        hosts=("api.semanticscholar.org",),
        # An S2 API key is granted at 1 request per second across all endpoints; without a key requests
        # share a pool that answers bursts with 429 (retried with backoff by the fetcher). One request per
        # second either way; a batch of 50 papers per request makes that 180,000 papers an hour.
        min_interval_s=1.0,
        auth_env=KEY_ENV,
        description=(
            "POST /graph/v1/paper/batch?fields=… with {ids: [ARXIV:…, DOI:…]}, 50 ids per request, nested "
            "references; API key from S2_API_KEY sent as the x-api-key header (optional; never logged)"
        ),
        base_url_env=URL_ENV,
    )
    local_inputs = (
        "Semantic Scholar Graph API JSON (paper, paper batch, search, recommendations, references/citations "
        "pages; plain or gzipped) and VCR cassettes (YAML) of recorded API sessions"
    )
    fixtures = ("../shared/fixtures/semantic_scholar",)
    live_fixture = "../shared/fixtures/semantic_scholar/s2_PaperWithNullValues.json"
    example_live_options: ClassVar[Mapping[str, str]] = {
        "ids": " ".join(f"arxiv:1706.{n:05d}" for n in range(3762, 3762 + IDS_PER_REQUEST + 1))
    }
    curation_rank = 2  # enrichment: fills a work's identifiers and counts, never its main row
    parser_name = "semantic_scholar"
    parser_version = PARSER_VERSION

    # -- local input -------------------------------------------------------------------------------

    def recognizes(self, name: str, head: bytes) -> bool:
        text = _head_text(head)
        stripped = text.lstrip()
        if stripped.startswith(b"interactions:"):
            # A VCR cassette of requests to the Semantic Scholar API (its first request's uri or host header;
            # a first request body longer than the head hides both, and --from then needs the source named).
            return b"api.semanticscholar.org" in stripped
        if not stripped.startswith((b"{", b"[")):
            return False
        # The Graph API's own field names, in its camelCase, near the start of the object.
        if re.match(
            rb'[\[\s]*(?:null\s*,\s*)*\{\s*"(paperId|authorId|citingPaper|citedPaper|contexts'
            rb'|contextsWithIntent|recommendedPapers)"',
            stripped,
        ):
            return True
        if re.match(
            rb'\{\s*"(offset|total)"\s*:\s*\d+\s*,\s*("next"\s*:\s*\d+\s*,\s*)?("token"\s*:[^,]*,\s*)?'
            rb'"data"\s*:\s*\[\s*(\{\s*"(paperId|citingPaper|citedPaper|contexts)"|\])',
            stripped,
        ):
            return True
        # S2 dataset and release descriptions (the Datasets API).
        return b"Semantic Scholar Academic Graph Datasets" in text and (
            b'"release_id"' in text or b'"README"' in text
        )

    def parse(self, doc: RawDocument, ctx: ParseContext) -> Iterator[TableRow]:
        where = doc.url_or_path
        payload = doc.body()
        if payload.startswith(b"\xef\xbb\xbf"):
            payload = payload[3:]
        stripped = payload.lstrip()
        if not stripped:
            raise ParseError(f"{where}: empty document")
        reader = _Reader(where, ctx)
        if stripped[:1] in (b"{", b"["):
            data = _json(payload, where)
            url = where if where.startswith(("http://", "https://")) else None
            if doc.http_status is not None and doc.http_status >= 400:
                raise ParseError(f"{where}: HTTP {doc.http_status}: {_error_message(data)}")
            yield from reader.response(data, url)
        elif stripped.startswith(b"interactions:"):
            yield from reader.cassette(payload)
        else:
            raise ParseError(
                f"{where}: not a Semantic Scholar API response (JSON) or a VCR cassette (YAML) of one"
            )
        if reader.rows == 0:
            ctx.empty = True
        for note, n in sorted(reader.skipped.items()):
            ctx.notes.append(f"{where}: {n} × {note}")
        if reader.errors:
            raise ParseError(f"{where}: " + "; ".join(reader.errors))

    # -- live --------------------------------------------------------------------------------------

    def live_batches(self, options: Mapping[str, str]) -> list[BatchSpec]:
        ids_text = options.get("ids") or ""
        if not ids_text.strip():
            raise ValueError(
                "semantic_scholar enriches known works: give their ids (--ids 'arxiv:2401.01234 doi:10.…'); "
                "it has no harvest by date"
            )
        ids = (_normalize_id(raw) for raw in ids_text.replace(",", " ").split())
        return [id_list_batch(self.name, "semantic_scholar-ids", ids)]

    def fetch(self, batch: BatchSpec, fetcher: PoliteFetcher, watermark: str | None) -> Iterator[RawDocument]:
        """`POST /paper/batch` for the batch's ids, 50 at a time, with the API key header where one is set."""
        base = (os.environ.get(URL_ENV) or S2_GRAPH_API).rstrip("/")
        url = f"{base}/paper/batch?fields={PAPER_FIELDS}"
        headers = {}
        key = (os.environ.get(KEY_ENV) or "").strip()
        if key:
            # The fetcher scrubs only its own bearer token from messages, so a key that requests would
            # refuse as a header value (quoting it in the exception) is refused here, without quoting it.
            if not _API_KEY_CHARS.match(key):
                raise FetchError(
                    url, f"{KEY_ENV} holds characters an HTTP header cannot carry", method="POST"
                )
            headers[KEY_HEADER] = key
        ids = [_api_id(item) for item in batch.options.get("ids", "").split()]
        for start in range(0, len(ids), IDS_PER_REQUEST):
            yield fetcher.post(url, {"ids": ids[start : start + IDS_PER_REQUEST]}, headers=headers)


# -- parsing ---------------------------------------------------------------------------------------


def _head_text(head: bytes) -> bytes:
    if head[:2] == b"\x1f\x8b":
        try:
            head = zlib.decompressobj(wbits=31).decompress(head, 4096)
        except zlib.error:
            return b""
    return head[3:] if head.startswith(b"\xef\xbb\xbf") else head


def _json(payload: bytes | str, where: str) -> Any:
    try:
        return json.loads(payload)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ParseError(f"{where}: not valid JSON ({exc})") from exc


def _error_message(data: Any) -> str:
    if isinstance(data, dict):
        parts = [str(data[k]) for k in ("error", "message") if data.get(k)]
        if parts:
            return "; ".join(parts)[:500]
    return "no error message"


def _endpoint(url: str | None) -> tuple[str | None, str | None, str | None]:
    """(endpoint template, the paper id a listing belongs to, listing kind) of an S2 API URL."""
    if not url:
        return None, None, None
    path = unquote(urlsplit(url).path).rstrip("/")
    for prefix in ("/graph/v1", "/recommendations/v1"):
        if prefix in path:
            path = path[path.index(prefix) + len(prefix) :]
    m = _LISTING_PATH.search(path)
    if m:
        return f"/paper/{{paper_id}}/{m.group(2)}", m.group(1), m.group(2)
    for name in ("/paper/batch", "/paper/search/bulk", "/paper/search/match", "/paper/search"):
        if path.endswith(name):
            return name, None, None
    if _RECOMMENDATIONS_PATH.search(path):
        return "/papers/forpaper/{paper_id}", None, None
    if _PAPER_PATH.search(path):
        return "/paper/{paper_id}", None, None
    return None, None, None


def _request_node(paper_id: str) -> str | None:
    """The links id of a paper named by an id as the S2 API accepts it in a request path."""
    text = paper_id.strip()
    if _S2_HEX.match(text):
        return f"s2:{text.lower()}"
    prefix, sep, rest = text.partition(":")
    kind = prefix.lower() if sep else ""
    if kind == "arxiv":
        parsed = parse_arxiv_id(rest)
        return parsed.work_id if parsed else None
    if kind == "doi" or (not sep and text.startswith("10.")):
        doi = normalize_doi(rest if sep else text)
        return work_id_for(arxiv_from_doi(doi), doi) if doi else None
    if kind in ("corpusid", "mag", "acl", "pmid", "pmcid") and rest.strip():
        canonical = {"corpusid": "CorpusId", "mag": "MAG", "acl": "ACL", "pmid": "PMID", "pmcid": "PMCID"}[
            kind
        ]
        return f"s2:{canonical}:{rest.strip()}"
    return None


def _external_ids(paper: dict[str, Any]) -> tuple[str | None, str | None]:
    """(arXiv id, DOI) from a paper's externalIds (an arXiv DOI also gives the arXiv id)."""
    ext = paper.get("externalIds")
    if not isinstance(ext, dict):
        return None, None
    doi = normalize_doi(ext["DOI"]) if isinstance(ext.get("DOI"), str) else None
    parsed = parse_arxiv_id(ext["ArXiv"]) if isinstance(ext.get("ArXiv"), str) else None
    return (parsed.id if parsed else arxiv_from_doi(doi)), doi


def _paper_node(paper: Any) -> str | None:
    """The links id of a (partial) paper object: its work_id by arXiv id or DOI, else `s2:<paperId>`."""
    if not isinstance(paper, dict):
        return None
    arxiv_id, doi = _external_ids(paper)
    if arxiv_id or doi:
        return work_id_for(arxiv_id, doi)
    paper_id = paper.get("paperId")
    return f"s2:{paper_id.lower()}" if isinstance(paper_id, str) and paper_id.strip() else None


def _s2_url(paper_id: str) -> str:
    if _S2_HEX.match(paper_id):
        return f"https://www.semanticscholar.org/paper/{paper_id.lower()}"
    return f"{S2_GRAPH_API}/paper/{paper_id}"


@dataclass
class _Reader:
    """Rows of one document; counts what was skipped and collects per-response errors."""

    where: str
    ctx: ParseContext
    rows: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    _links: set[tuple[str, str]] = field(default_factory=set)

    # -- cassettes --

    def cassette(self, payload: bytes) -> Iterator[TableRow]:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        try:
            cassette = yaml.load(payload, Loader=loader)  # a safe loader: plain data only
        except yaml.YAMLError as exc:
            raise ParseError(f"{self.where}: not valid YAML ({str(exc)[:300]})") from exc
        interactions = cassette.get("interactions") if isinstance(cassette, dict) else None
        if not isinstance(interactions, list):
            raise ParseError(f"{self.where}: a VCR cassette has a list of `interactions`")
        for number, interaction in enumerate(interactions, 1):
            yield from self._interaction(number, interaction)

    def _interaction(self, number: int, interaction: Any) -> Iterator[TableRow]:
        request = interaction.get("request") if isinstance(interaction, dict) else None
        response = interaction.get("response") if isinstance(interaction, dict) else None
        if not isinstance(request, dict) or not isinstance(response, dict):
            self.errors.append(f"interaction {number} has no request and response")
            return
        uri = request.get("uri") if isinstance(request.get("uri"), str) else None
        label = f"interaction {number} ({request.get('method', 'GET')} {uri})"
        status = response.get("status")
        code = status.get("code") if isinstance(status, dict) else response.get("status_code")
        reason = status.get("message", "") if isinstance(status, dict) else ""
        body = response.get("body")
        raw = body.get("string") if isinstance(body, dict) else response.get("content")
        try:
            text = _body_text(raw, response.get("headers"))
        except (OSError, EOFError, UnicodeDecodeError, zlib.error) as exc:
            self.errors.append(f"{label}: unreadable response body ({exc})")
            return
        if not isinstance(code, int):
            self.errors.append(f"{label}: response without a status code")
            return
        data: Any = None
        try:
            data = json.loads(text) if text.strip() else None
        except json.JSONDecodeError as exc:
            if code < 400:
                self.errors.append(f"{label}: response body is not valid JSON ({exc})")
                return
        if code >= 400:
            self.errors.append(f"{label}: HTTP {code} {reason}: {_error_message(data)}".replace(" :", ":"))
            return
        yield from self.response(data, uri)

    # -- responses --

    def response(self, data: Any, url: str | None) -> Iterator[TableRow]:
        endpoint, listed_id, listing = _endpoint(url)
        if isinstance(data, list):
            for item in data:
                if item is None:
                    self.skipped["id the batch request could not find (null)"] += 1
                elif isinstance(item, dict) and "paperId" in item:
                    yield from self.paper(item, endpoint)
                else:
                    raise ParseError(f"{self.where}: a batch response item is not a paper object")
        elif not isinstance(data, dict):
            raise ParseError(
                f"{self.where}: not a Semantic Scholar API response (JSON {type(data).__name__})"
            )
        elif isinstance(data.get("data"), list):
            yield from self.page(data, endpoint, listed_id, listing)
        elif isinstance(data.get("recommendedPapers"), list):
            for item in data["recommendedPapers"]:
                if isinstance(item, dict):
                    yield from self.paper(item, endpoint)
        elif "paperId" in data:
            yield from self.paper(data, endpoint)
        elif "citingPaper" in data or "citedPaper" in data:
            self.skipped["lone Citation/Reference object: names one end of the edge only, no rows"] += 1
        elif "authorId" in data:
            self.skipped["Author object: not a paper, no rows"] += 1
        elif "release_id" in data or ("README" in data and "name" in data):
            self.skipped["Datasets API release/dataset description: not a paper, no rows"] += 1
        elif "error" in data or "message" in data:
            raise ParseError(f"{self.where}: Semantic Scholar error: {_error_message(data)}")
        else:
            raise ParseError(f"{self.where}: not a Semantic Scholar API response (no paperId, data or error)")

    def page(
        self, data: dict[str, Any], endpoint: str | None, listed_id: str | None, listing: str | None
    ) -> Iterator[TableRow]:
        items = [item for item in data["data"] if isinstance(item, dict)]
        kinds = {k for item in items for k in ("citingPaper", "citedPaper") if k in item}
        if not kinds:
            for item in items:
                if "paperId" in item:
                    yield from self.paper(item, endpoint)
                else:
                    self.skipped["listing item that is not a paper"] += 1
            return
        kind = "citations" if "citingPaper" in kinds else "references"
        listed = _request_node(listed_id) if listed_id and listing == kind else None
        if listed is None or listed_id is None:
            self.skipped[f"{kind} page without the paper it lists (no request URL): no edges"] += 1
            return
        evidence = f"semantic_scholar {endpoint}"
        for item in items:
            other = item.get("citingPaper" if kind == "citations" else "citedPaper")
            node = _paper_node(other)
            if node is None:
                self.skipped[f"{kind} entry S2 could not resolve (no paperId or external id)"] += 1
                continue
            if kind == "references":
                link = self._link(listed, node, evidence, listed_id)
            else:
                citing_id = other.get("paperId") if isinstance(other, dict) else None
                link = self._link(node, listed, evidence, citing_id if isinstance(citing_id, str) else None)
            if link is not None:
                yield "links", link

    def paper(self, paper: dict[str, Any], endpoint: str | None) -> Iterator[TableRow]:
        row = _paper_row(paper, self.where)
        self.rows += 1
        yield "papers", row
        where_from = f"semantic_scholar {endpoint}" if endpoint else "semantic_scholar paper"
        for cited in as_list(paper.get("references")):
            node = _paper_node(cited)
            if node is None:
                self.skipped["reference S2 could not resolve (no paperId or external id)"] += 1
                continue
            link = self._link(row["work_id"], node, f"{where_from} references", row["source_record_id"])
            if link is not None:
                yield "links", link
        for citing in as_list(paper.get("citations")):
            node = _paper_node(citing)
            citing_id = citing.get("paperId") if isinstance(citing, dict) else None
            if node is None or not isinstance(citing_id, str):
                self.skipped["citation S2 could not resolve (no paperId)"] += 1
                continue
            link = self._link(node, row["work_id"], f"{where_from} citations", citing_id)
            if link is not None:
                yield "links", link

    def _link(self, src: str, dst: str, evidence: str, citing_id: str | None) -> Row | None:
        """A `cites` edge; None for a repeat within the document or a paper citing itself."""
        if src == dst:
            self.skipped["edge from a paper to itself"] += 1
            return None
        if (src, dst) in self._links:
            return None
        self._links.add((src, dst))
        self.rows += 1
        record_id = citing_id.lower() if citing_id and _S2_HEX.match(citing_id) else (citing_id or src)
        return {
            "src_id": src,
            "dst_id": dst,
            "link_type": "cites",
            "evidence": evidence,
            "confidence": 1.0,
            "source_record_id": record_id,
            "source_url": _s2_url(record_id) if citing_id else None,
            "license": METADATA_LICENSE,
            "license_source": METADATA_LICENSE_SOURCE,
        }


def _body_text(raw: Any, headers: Any) -> str:
    """A recorded body as text: vcrpy stores a string, or bytes (``!!binary``), gzipped when the server did."""
    if raw is None:
        return ""
    if isinstance(raw, str):
        return raw
    if isinstance(raw, bytes):
        encoding = ""
        if isinstance(headers, dict):
            for name, value in headers.items():
                if str(name).lower() == "content-encoding":
                    encoding = str(value[0] if isinstance(value, list) and value else value).lower()
        data = gzip.decompress(raw) if "gzip" in encoding or raw[:2] == b"\x1f\x8b" else raw
        return data.decode("utf-8")
    return json.dumps(raw)  # a body the cassette stored as parsed YAML


def _paper_row(paper: dict[str, Any], where: str) -> Row:
    paper_id = paper.get("paperId")
    if not isinstance(paper_id, str) or not paper_id.strip():
        raise ParseError(f"{where}: a paper object has no paperId")
    paper_id = paper_id.strip().lower()
    arxiv_id, doi = _external_ids(paper)
    title = collapse(paper.get("title"))
    authors = _authors(paper.get("authors"))
    year = as_int(paper.get("year"))
    keyname = authors[0]["keyname"] if authors else None
    work_id = work_key(arxiv_id, doi, title, keyname, year) or f"s2:{paper_id}"
    open_access_pdf = as_dict(paper.get("openAccessPdf"))
    stated = open_access_pdf.get("license")
    if isinstance(stated, str) and stated.strip():
        spdx, redistributable, note = oa_license(stated)
        license_source = f"Semantic Scholar openAccessPdf.license: {note}"
    else:
        spdx, redistributable = "unknown", False
        license_source = "Semantic Scholar states no license for this paper (no openAccessPdf.license)"
    url = paper.get("url") if isinstance(paper.get("url"), str) and paper["url"].strip() else None
    return {
        "work_id": work_id,
        "arxiv_id": arxiv_id,
        "doi": doi,
        "dois": [doi] if doi else None,
        "title": title,
        "abstract": collapse(paper.get("abstract")),
        "authors": authors,
        "subjects": _fields_of_study(paper.get("fieldsOfStudy")),
        "created": as_date(paper.get("publicationDate")),
        "work_type": _work_type(paper.get("publicationTypes")),
        "venue": _venue(paper),
        "s2_paper_id": paper_id,
        "cited_by_count": as_int(paper.get("citationCount")),
        "metadata_format": "s2_paper",
        "metadata_license": METADATA_LICENSE,
        "text_redistributable": redistributable,
        "source_record_id": paper_id,
        "source_url": url or _s2_url(paper_id),
        "license": spdx,
        "license_source": license_source,
    }


def _authors(authors: Any) -> list[Row] | None:
    if not isinstance(authors, list):
        return None  # not requested, or null: unknown rather than "no authors"
    rows = []
    for author in authors:
        if not isinstance(author, dict):
            continue
        name = collapse(author.get("name"))
        if name:
            affiliations = as_list(author.get("affiliations"))
            rows.append(split_display_name(name, [a for a in (collapse(x) for x in affiliations) if a]))
    return rows


def _fields_of_study(value: Any) -> list[str] | None:
    names = [n for n in (collapse(v) for v in value) if n] if isinstance(value, list) else []
    return names or None


def _work_type(types: Any) -> str | None:
    """S2's first publication type in Crossref's spelling: `JournalArticle` → `journal-article`."""
    if not isinstance(types, list):
        return None
    for value in types:
        if isinstance(value, str) and value.strip():
            return re.sub(r"(?<=[a-z])(?=[A-Z])", "-", value.strip()).lower()
    return None


def _venue(paper: dict[str, Any]) -> str | None:
    venue = paper.get("publicationVenue")
    journal = paper.get("journal")
    candidates = [
        venue.get("name") if isinstance(venue, dict) else None,
        paper.get("venue"),
        journal.get("name") if isinstance(journal, dict) else None,
    ]
    for candidate in candidates:
        name = collapse(candidate)
        if name and not is_preprint_server(name):
            return name
    return None


# -- live helpers ----------------------------------------------------------------------------------


def _normalize_id(raw: str) -> str:
    """`arxiv:<id>`, `doi:<doi>` or `s2:<paperId>` for one id as a user writes it."""
    text = raw.strip()
    lowered = text.lower()
    if lowered.startswith("s2:"):
        text = text[3:]
    if _S2_HEX.match(text):
        return f"s2:{text.lower()}"
    return arxiv_or_doi_key(text, raw, "a Semantic Scholar paper id")


def _api_id(item: str) -> str:
    """A batch option id in the API's spelling: `ARXIV:…`, `DOI:…` or the bare paperId."""
    scheme, _, value = item.partition(":")
    return {"arxiv": f"ARXIV:{value}", "doi": f"DOI:{value}"}.get(scheme, value)
