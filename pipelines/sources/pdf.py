"""PDF: the full text and bibliography of papers, from their PDFs (local folders, or arXiv PDFs live).

With a GROBID server configured (``COMMONS_GROBID_URL``) and alive, a PDF goes through GROBID and its TEI
is read by ``pipelines.parse.grobid_tei.parse_tei``: structured ``paper_texts`` rows (sections,
paragraphs, captions, tables, formulas), ``references`` rows and a ``papers`` row from the header.
Without one, the offline fallback ``pipelines.parse.pdf_text`` gives one ``paper_texts`` row per page
(``text_quality = "page_text"``, ``parser = "pdf_text"``).

Work key of a PDF: the arXiv id in its file name or URL (``2206.10883v3.pdf``, ``arxiv_1111.2011v2.pdf``,
``https://arxiv.org/pdf/2206.10883v3`` -> ``arxiv:2206.10883``); else what ``parse_tei`` derives from the
GROBID header (DOI, arXiv id, else a hash of title, first author and year); else, for page text,
``pdf:<first 16 hex digits of the PDF's SHA-256>``.

License: every row has ``license = "unknown"``. A PDF does not say under which license it may be
redistributed; the paper's license comes from its metadata source (arXiv's ``<license>``, OpenAlex), and
the curation gate decides what text is published.
"""

from __future__ import annotations

import json
import logging
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from pipelines.atomic import atomic_write_bytes
from pipelines.curate.identifiers import ArxivId, parse_arxiv_id
from pipelines.fetch.http import FetchError, PoliteFetcher
from pipelines.fetch.raw_store import RawStore, sha256_hex
from pipelines.parse import pdf_text
from pipelines.parse.grobid_client import (
    CLIENT_VERSION,
    GrobidClient,
    GrobidConfig,
    GrobidError,
    GrobidResult,
    GrobidUnavailable,
    client_for,
    max_pdf_bytes_from_env,
)
from pipelines.settings import DataRoot
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

log = logging.getLogger("commons.sources.pdf")

PARSER_VERSION = "0.1.0"  # bump whenever parse() output changes: partitions are then re-parsed
GROBID_PARSER = "grobid_tei"
DEFAULT_ARXIV_PDF_URL = "https://arxiv.org/pdf"
ARXIV_PDF_URL_ENV = "COMMONS_ARXIV_PDF_URL"
LICENSE_SOURCE = "pdf source: a PDF states no redistribution license; the paper's metadata source decides"
# Client errors that concern one PDF (withdrawn, never existed); anything else stops the live batch.
_MISSING_STATUSES = frozenset({404, 410})

TeiReader = Callable[..., Iterator[TableRow]]


def _tei_reader() -> tuple[TeiReader, str] | None:
    """``parse_tei`` and its version, imported lazily: the TEI reader is its own module (and may be absent)."""
    try:
        from pipelines.parse import grobid_tei
    except ImportError:
        return None
    reader = getattr(grobid_tei, "parse_tei", None)
    if reader is None:
        return None
    return reader, str(getattr(grobid_tei, "PARSER_VERSION", "0"))


# -- the TEI cache ---------------------------------------------------------------------------------
#
# Why a cache, and why this one. parse() must be pure: the same PDF bytes must give the same rows on
# every re-parse, offline included. GROBID is neither offline nor free (about 1 PDF/s), and a newer
# server gives different TEI. So the first TEI GROBID returns for a PDF is kept and is what every later
# parse of that PDF reads:
# - the TEI bytes go into the raw store like every other byte the pipeline receives (content-addressed,
#   under the data root), so a TEI can be traced and re-read;
# - a small JSON file per PDF, ``<data root>/derived/grobid/<ab>/<pdf sha256>.json``, maps the PDF's
#   SHA-256 to the TEI's, with the GROBID version and request fields that produced it. It is derived
#   state keyed by content (never by path, time or run), in the one data root: deleting the data root
#   resets it with everything else, two data roots share nothing, and removing ``derived/grobid`` makes
#   the next parse ask GROBID again (after a GROBID upgrade, say).
# - GROBID errors about the document itself (BAD_INPUT_DATA, NO_BLOCKS, ...) are remembered the same
#   way, so a re-parse gives the same error without the server; transient ones (busy, timeouts) are not.
# The cache is looked up before anything else, also when no server is configured: that is what makes an
# offline re-parse give the GROBID rows rather than switch to page text. The data root is the one of the
# environment (``DataRoot.from_env()``: ``commons build`` and the Dagster resource set ``COMMONS_HOME``),
# because ``parse(doc, ctx)`` is given nothing else; the alternative, an argument threaded through the
# Source interface and the harvester for one source, would surprise every other source.


@dataclass(frozen=True)
class CachedTei:
    """What GROBID answered for one PDF: its TEI, or a permanent per-document error."""

    pdf_sha256: str
    grobid_version: str
    params: tuple[tuple[str, str], ...]
    tei: bytes | None = None
    tei_sha256: str | None = None
    error_code: str | None = None
    error_message: str | None = None


class TeiCache:
    """PDF SHA-256 -> the TEI GROBID returned for it (bytes in the raw store) or its per-document error."""

    def __init__(self, root: DataRoot) -> None:
        self.root = root
        self.store = RawStore(root.raw)
        self.folder = root.path / "derived" / "grobid"

    @classmethod
    def from_env(cls) -> TeiCache:
        return cls(DataRoot.from_env())

    def path_for(self, pdf_sha256: str) -> Path:
        return self.folder / pdf_sha256[:2] / f"{pdf_sha256}.json"

    def get(self, pdf_sha256: str) -> CachedTei | None:
        path = self.path_for(pdf_sha256)
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable GROBID cache entry %s: %s", path, exc)
            return None
        params = tuple((str(k), str(v)) for k, v in entry.get("params", []))
        version = str(entry.get("grobid_version") or "unknown")
        error = entry.get("error")
        if isinstance(error, dict):
            return CachedTei(
                pdf_sha256,
                version,
                params,
                error_code=str(error.get("code")),
                error_message=str(error.get("message")),
            )
        tei_sha256 = entry.get("tei_sha256")
        if not isinstance(tei_sha256, str) or tei_sha256 not in self.store:
            return None  # the raw store lost the bytes: as if never asked
        return CachedTei(pdf_sha256, version, params, self.store.get(tei_sha256), tei_sha256)

    def put(self, result: GrobidResult) -> CachedTei:
        tei_sha256 = self.store.put(result.tei)
        self._write(result.pdf_sha256, {"tei_sha256": tei_sha256}, result.grobid_version, result.params)
        return CachedTei(result.pdf_sha256, result.grobid_version, result.params, result.tei, tei_sha256)

    def put_error(
        self, pdf_sha256: str, error: GrobidError, grobid_version: str, params: tuple[tuple[str, str], ...]
    ) -> None:
        """Remember a permanent per-document error (transient ones are not remembered)."""
        if error.permanent:
            entry = {"error": {"code": error.code, "message": error.message}}
            self._write(pdf_sha256, entry, grobid_version, params)

    def _write(
        self, pdf_sha256: str, entry: dict[str, Any], version: str, params: tuple[tuple[str, str], ...]
    ) -> None:
        payload = {
            "pdf_sha256": pdf_sha256,
            "grobid_version": version,
            "params": [list(p) for p in params],
            "client_version": CLIENT_VERSION,
            **entry,
        }
        text = json.dumps(payload, sort_keys=True, indent=1) + "\n"
        atomic_write_bytes(self.path_for(pdf_sha256), text.encode("utf-8"))


def prefetch_tei(
    client: GrobidClient, documents: Iterable[tuple[str, bytes]], cache: TeiCache
) -> list[GrobidError]:
    """Run GROBID over many ``(name, PDF bytes)`` at the client's concurrency and fill the cache.

    ``parse()`` sees one document at a time, so it sends one request at a time. A caller holding a whole
    batch (a Dagster asset with a pool per GROBID server) calls this first, then harvests: every parse
    then reads its TEI from the cache. PDFs already cached are skipped. Returns the failures (permanent
    ones are cached like ``parse()`` caches them).
    """
    pending: deque[str] = deque()  # SHA-256 of each document sent, in order: results come back in order

    def todo() -> Iterator[tuple[str, bytes]]:
        for name, data in documents:
            digest = sha256_hex(data)
            if cache.get(digest) is None:
                pending.append(digest)
                yield name, data

    failures: list[GrobidError] = []
    for outcome in client.iter_process(todo()):
        digest = pending.popleft()
        if isinstance(outcome, GrobidResult):
            cache.put(outcome)
            continue
        failures.append(outcome)
        if not isinstance(outcome, GrobidUnavailable):
            cache.put_error(digest, outcome, client.version(), client.config.form_fields())
    return failures


# -- names -----------------------------------------------------------------------------------------

_NAME_PREFIXES = ("arxiv_", "arxiv-", "arxiv:", "arxiv.")


def arxiv_id_from_name(url_or_path: str) -> ArxivId | None:
    """The arXiv id a PDF's file name or URL carries: ``2206.10883v3.pdf``, ``arxiv_1111.2011v2.pdf``,
    ``https://arxiv.org/pdf/hep-th/9901001v1``; None for any other name."""
    if "://" in url_or_path:
        whole = parse_arxiv_id(url_or_path)
        if whole is not None:
            return whole
    base = url_or_path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    stem = base[:-4] if base.lower().endswith(".pdf") else base
    lowered = stem.lower()
    for prefix in _NAME_PREFIXES:
        if lowered.startswith(prefix):
            stem = stem[len(prefix) :]
            break
    parsed = parse_arxiv_id(stem)
    if parsed is None and "_" in stem:  # old-style ids are saved as hep-th_9901001v1.pdf
        parsed = parse_arxiv_id(stem.replace("_", "/", 1))
    return parsed


def _arxiv_with_version(arxiv: ArxivId) -> str:
    return f"{arxiv.id}v{arxiv.version}" if arxiv.version else arxiv.id


# -- the source ------------------------------------------------------------------------------------


@register
class PdfSource(Source):
    name = "pdf"
    description = (
        "Full text and bibliographies of papers from their PDFs: GROBID (sections, paragraphs, captions, "
        "tables, references) where a server is configured, else page text from pypdfium2."
    )
    tables = ("papers", "paper_texts", "references")
    license = SourceLicense(
        metadata_spdx="LicenseRef-paper-license",
        terms_url="https://info.arxiv.org/help/license/index.html",
        text_redistribution=(
            "per paper: a PDF carries no license of its own; its text is redistributed only under the "
            "license its metadata source states (for arXiv, the record's <license>)"
        ),
    )
    live = LiveAccess(
        hosts=("arxiv.org",),
        min_interval_s=3.0,
        description="arXiv PDFs by id and version (https://arxiv.org/pdf/<id>v<n>), one request per 3 s",
        base_url_env=ARXIV_PDF_URL_ENV,
    )
    local_inputs = (
        "PDF files (any name; an arXiv id in the file name, e.g. 2206.10883v3.pdf, gives the work key)"
    )
    fixtures = ("../shared/fixtures/pdfs",)
    live_fixture = "../shared/fixtures/pdfs/2206.10883v3.pdf"
    example_live_options: ClassVar[Mapping[str, str]] = {"ids": "2206.10883v3 1111.2011v2"}
    curation_rank = 1  # derived from the document: a work's own metadata source wins
    pool = "grobid"  # one harvest at a time per GROBID server; the client spreads its requests over the server's threads
    parser_name = "pdf"
    # The harvest asset's code_version: any of the parts changing re-parses the partitions.
    parser_version = (
        f"{PARSER_VERSION}+client-{CLIENT_VERSION}+tei-{(_tei_reader() or (None, 'none'))[1]}"
        f"+{pdf_text.PARSER_NAME}-{pdf_text.parser_version()}"
    )

    def recognizes(self, name: str, head: bytes) -> bool:
        # PDFs by their magic bytes; and any file named *.pdf, so that a failed download or an empty or
        # broken file saved as .pdf is claimed here and recorded as this source's error in `fetches`
        # (the source contract requires every fixture, the bad ones included, to be recognised).
        return head.startswith(pdf_text.PDF_MAGIC) or name.lower().endswith(".pdf")

    def parse(self, doc: RawDocument, ctx: ParseContext) -> Iterator[TableRow]:
        where = doc.url_or_path
        if doc.http_status is not None and doc.http_status >= 400:
            raise ParseError(f"{where}: HTTP {doc.http_status}, no PDF")
        data = doc.body()
        if not data:
            raise ParseError(f"{where}: empty file (zero bytes), not a PDF")
        if not pdf_text.looks_like_pdf(data):
            raise ParseError(f"{where}: not a PDF (no %PDF- header)")
        limit = max_pdf_bytes_from_env()
        if len(data) > limit:
            raise ParseError(f"{where}: {len(data):,} bytes, above the PDF size limit of {limit:,}; refused")
        arxiv = arxiv_id_from_name(where)
        provenance = self._provenance(doc, arxiv)
        reader = _tei_reader()
        cached = self._tei(doc.sha256, data, where)
        if cached is not None and cached.tei is not None and reader is not None:
            parse_tei, tei_version = reader
            ctx.notes.append(f"TEI sha256 {cached.tei_sha256} (GROBID {cached.grobid_version})")
            parser, version = GROBID_PARSER, f"grobid-{cached.grobid_version}+tei-{tei_version}"
            # Rows keep the PDF's provenance: its record id and URL, its retrieval time (parse_tei would
            # put GROBID's processing time there), and its hash, from which paragraph and reference ids
            # derive, so they match the rows' raw_sha256.
            retrieved_at = ctx.retrieved_at
            ctx.parser, ctx.parser_version = parser, version
            rows = parse_tei(
                cached.tei,
                ctx,
                where,
                work_id_hint=arxiv.work_id if arxiv else None,
                raw_sha256=doc.sha256,
                source_record_id=provenance["source_record_id"],
                source_url=provenance["source_url"],
            )
            for table, row in rows:
                ctx.retrieved_at = retrieved_at
                ctx.parser, ctx.parser_version = parser, version
                yield table, self._finish(table, row, provenance, parser, version)
            return
        if cached is not None and cached.tei is not None:
            ctx.notes.append("GROBID TEI cached, but no TEI reader (pipelines.parse.grobid_tei): page text")
        parser, version = pdf_text.PARSER_NAME, pdf_text.parser_version()
        ctx.parser, ctx.parser_version = parser, version
        work_id = arxiv.work_id if arxiv else f"pdf:{doc.sha256[:16]}"
        for row in pdf_text.page_rows(data, where, work_id, doc.sha256):
            yield "paper_texts", self._finish("paper_texts", row, provenance, parser, version)

    def _tei(self, pdf_sha256: str, data: bytes, where: str) -> CachedTei | None:
        """The PDF's TEI from the cache, else from GROBID when configured and alive; None means page text.

        Raises ``ParseError`` for GROBID's per-document errors (cached permanent ones included).
        """
        cache = TeiCache.from_env()
        cached = cache.get(pdf_sha256)
        if cached is not None:
            if cached.error_code:
                raise ParseError(
                    f"{where}: GROBID {cached.error_code}: {cached.error_message} "
                    f"(GROBID {cached.grobid_version}; remembered in {cache.path_for(pdf_sha256)})"
                )
            return cached
        config = GrobidConfig.from_env()
        if config is None:
            return None
        client = client_for(config)
        if not client.is_alive():
            log.warning("GROBID at %s is not alive: %s gets page text", config.url, where)
            return None
        try:
            result = client.process(data, where)
        except GrobidUnavailable as exc:
            log.warning("%s; page text instead", exc)
            return None
        except GrobidError as exc:
            cache.put_error(pdf_sha256, exc, client.version(), config.form_fields())
            raise ParseError(str(exc)) from None
        return cache.put(result)

    def prepare_local(self, files: list[Path], root: DataRoot) -> None:
        """Send the batch's PDFs to GROBID at the server's concurrency before they are parsed one by one."""
        config = GrobidConfig.from_env()
        if config is None:
            return
        client = client_for(config)
        if not client.is_alive():
            return

        def pdfs() -> Iterator[tuple[str, bytes]]:
            for path in files:
                data = path.read_bytes()
                if pdf_text.looks_like_pdf(data):
                    yield path.name, data

        failures = prefetch_tei(client, pdfs(), TeiCache(root))
        for failure in failures:
            log.warning("GROBID: %s", failure)

    def _provenance(self, doc: RawDocument, arxiv: ArxivId | None) -> dict[str, Any]:
        if arxiv is not None:
            record_id = f"arxiv:{_arxiv_with_version(arxiv)}"
            url = f"{DEFAULT_ARXIV_PDF_URL}/{_arxiv_with_version(arxiv)}"
        else:
            record_id = f"sha256:{doc.sha256}"
            url = None
        if doc.kind == "http":
            url = doc.url_or_path
        return {
            "source_record_id": record_id,
            "source_url": url,
            "license": "unknown",
            "license_source": LICENSE_SOURCE,
        }

    @staticmethod
    def _finish(table: str, row: Row, provenance: Mapping[str, Any], parser: str, version: str) -> Row:
        row.update(provenance)
        row["parser"], row["parser_version"] = parser, version
        if table == "papers":
            # The TEI may state a licence GROBID read off the PDF; this source asserts none (see the module
            # docstring), so the row's license fields agree with `license = "unknown"`.
            row["metadata_license"] = "unknown"
            row["text_redistributable"] = False
        return row

    # -- live: arXiv PDFs --------------------------------------------------------------------------

    def live_batches(self, options: Mapping[str, str]) -> list[BatchSpec]:
        """One partition for a list of arXiv ids with versions (``ids``: space- or comma-separated)."""
        text = (options.get("ids") or "").replace(",", " ")
        if not text.strip():
            raise ValueError(
                "the pdf source's live path needs ids: arXiv ids with versions, e.g. 2206.10883v3"
            )
        ids = []
        for raw in text.split():
            parsed = parse_arxiv_id(raw)
            if parsed is None:
                raise ValueError(f"{raw!r} is not an arXiv id")
            if parsed.version is None:
                raise ValueError(
                    f"{raw!r} has no version: give one (e.g. {parsed.id}v1), the PDF of a version never changes"
                )
            ids.append(_arxiv_with_version(parsed))
        return [id_list_batch(self.name, "pdf-arxiv", ids)]

    def fetch(self, batch: BatchSpec, fetcher: PoliteFetcher, watermark: str | None) -> Iterator[RawDocument]:
        base = (os.environ.get(ARXIV_PDF_URL_ENV) or DEFAULT_ARXIV_PDF_URL).rstrip("/")
        for arxiv_id in batch.options.get("ids", "").split():
            url = f"{base}/{arxiv_id}"
            try:
                yield fetcher.get(url, headers={"Accept": "application/pdf"})
            except FetchError as exc:
                if exc.http_status not in _MISSING_STATUSES:
                    raise
                # One missing PDF is that document's error (parse() records it), not the batch's end.
                body = exc.body or b""
                yield RawDocument(
                    data=body,
                    sha256=sha256_hex(body),
                    url_or_path=exc.url,
                    kind="http",
                    http_status=exc.http_status,
                )
