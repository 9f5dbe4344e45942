"""PDF text fallback: page-by-page text with pypdfium2, for when no GROBID server is configured or reachable.

pypdfium2 (Apache-2.0 / BSD-3-Clause, wrapping Google's PDFium) runs offline and is permissively
licensed; PyMuPDF is AGPL and is not allowed here. The output has no structure: one ``paper_texts``
row per page with text, ``kind = "page"``, ``text_quality = "page_text"``, so users can filter it out
or prefer GROBID's structured rows.

Text clean-up, all deterministic:
- PDFium marks a hyphen at a line end with U+FFFE (and already drops the line break after it). Between
  two lower-case letters it is taken as a word split and removed (``effective-ness`` -> ``effectiveness``);
  otherwise it is kept as ``-`` (``BERT-Base``, ``ACL-ARC``, ``2016-2018``). Compounds split at a line end
  between lower-case letters (``non-painful``) lose their hyphen; that is the usual trade-off.
- Control characters (glyphs of symbol fonts without a Unicode mapping come out as U+0001..U+001F) are
  dropped: they carry no text.
- Whitespace is collapsed to single spaces, as for every ``paper_texts.text``.

Errors name the document: zero bytes, not a PDF, encrypted (PDFium refuses a document with a user
password), corrupted (PDFium cannot rebuild its cross-reference table). Pages without text (scanned
images) are skipped; a document with no text on any page is a ``ParseError`` "no extractable text
(image-only?)". A page whose text cannot be read is skipped and reported in one ``ParseError`` after
the readable pages' rows, so what could be read is kept.

PDFium is not thread-safe (no two calls at once in one process, even on different documents), so all
use of it here is serialised by a module lock; the pipeline parallelises with processes.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterator
from typing import Any

from pipelines.sources.base import ParseError

PARSER_NAME = "pdf_text"
PARSER_VERSION = "0.1.0"  # bump whenever the rows change: partitions are then re-parsed
TEXT_QUALITY = "page_text"
PDF_MAGIC = b"%PDF-"
# The PDF header may follow a little junk; readers (PDFium included) look for it in the first 1 KiB.
MAGIC_WINDOW = 1024

_PDFIUM_LOCK = threading.Lock()
_LINE_END_HYPHEN = "\ufffe"
_SPLIT_WORD = re.compile(r"(?<=[a-z])\ufffe(?=[a-z])")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufeff\ufffe\uffff]")


def parser_version() -> str:
    """This parser's version with the pypdfium2 release: a new PDFium can change the text, so rows are re-parsed."""
    try:
        import pypdfium2

        return f"{PARSER_VERSION}+pypdfium2-{pypdfium2.PYPDFIUM_INFO}"
    except ImportError:  # pragma: no cover - pypdfium2 is a runtime dependency
        return PARSER_VERSION


def looks_like_pdf(data: bytes) -> bool:
    return PDF_MAGIC in data[:MAGIC_WINDOW]


def clean_text(raw: str) -> str:
    """PDFium page text to ``paper_texts.text``: line-end hyphens resolved, control characters dropped, whitespace collapsed."""
    text = _SPLIT_WORD.sub("", raw).replace(_LINE_END_HYPHEN, "-")
    text = _CONTROL.sub("", text)
    return " ".join(text.split())


def paragraph_id(raw_sha256: str, page: int) -> str:
    """Deterministic id of a page row: the document's hash and the page's position, never random."""
    return hashlib.sha256(f"{raw_sha256}:{page}:0".encode()).hexdigest()[:32]


def page_texts(data: bytes, where: str) -> Iterator[tuple[int, str]]:
    """``(page number from 1, cleaned text)`` for every page with text.

    Raises ``ParseError`` naming ``where`` for a document that cannot be opened, after the readable pages
    for pages that could not be read, and when no page has any text.
    """
    if not data:
        raise ParseError(f"{where}: empty file (zero bytes), not a PDF")
    if not looks_like_pdf(data):
        raise ParseError(f"{where}: not a PDF (no %PDF- header)")
    import pypdfium2 as pdfium

    pages: list[tuple[int, str]] = []
    failed: list[int] = []
    with _PDFIUM_LOCK:
        try:
            document = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as exc:
            raise ParseError(f"{where}: {_load_problem(exc)}") from None
        try:
            for index in range(len(document)):
                number = index + 1
                try:
                    text = _page_text(document, index)
                except pdfium.PdfiumError:
                    failed.append(number)
                    continue
                if text:
                    pages.append((number, text))
        finally:
            document.close()
    # Yielded outside the lock, so a slow consumer never holds PDFium.
    yield from pages
    if failed:
        listed = ", ".join(str(n) for n in failed[:10]) + (" ..." if len(failed) > 10 else "")
        raise ParseError(f"{where}: {len(failed)} page(s) could not be read (page {listed})")
    if not pages:
        raise ParseError(f"{where}: no extractable text (image-only?)")


def _page_text(document: Any, index: int) -> str:
    page = document[index]
    try:
        textpage = page.get_textpage()
        try:
            return clean_text(textpage.get_text_range())
        finally:
            textpage.close()
    finally:
        page.close()


def _load_problem(exc: Exception) -> str:
    import pypdfium2.raw as pdfium_c

    code = getattr(exc, "err_code", None)
    if code == pdfium_c.FPDF_ERR_PASSWORD:
        return "encrypted PDF (a password is needed to open it)"
    if code == pdfium_c.FPDF_ERR_SECURITY:
        return "PDF with an unsupported security handler (encrypted)"
    if code == pdfium_c.FPDF_ERR_FORMAT:
        return "corrupted PDF (PDFium: data format error)"
    return f"cannot open the PDF ({exc})"


def page_rows(data: bytes, where: str, work_id: str, raw_sha256: str) -> Iterator[dict[str, Any]]:
    """``paper_texts`` rows, one per page with text; the caller adds ``source_record_id``, license and the rest."""
    for number, text in page_texts(data, where):
        yield {
            "work_id": work_id,
            "section_index": number,
            "paragraph_index": 0,
            "paragraph_id": paragraph_id(raw_sha256, number),
            "section_title": None,
            "section_number": None,
            "kind": "page",
            "text": text,
            "table_cells": None,
            "page": number,
            "text_quality": TEXT_QUALITY,
        }
