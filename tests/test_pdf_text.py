"""The offline PDF text fallback (pypdfium2) on every real PDF in ../shared/fixtures/pdfs, good and bad."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from pipelines.parse import pdf_text
from pipelines.sources.base import ParseError
from tests.conftest import FIXTURES, fixture_dir

PDFS = FIXTURES / "pdfs"
ALL = sorted(p.name for p in PDFS.iterdir()) if PDFS.is_dir() else []

# What each bad or odd fixture gives, stated: a per-document ParseError naming it (and why), or rows.
ERRORS = {
    "zero-size-pdf.pdf": "empty file (zero bytes)",
    "broken-pdf.pdf": "not a PDF",  # 13 bytes of text
    "pdfminer_encrypted_aes-128.pdf": "encrypted PDF",  # AES-128 with a user password
}
# Odd but readable: rows for every page.
# - 1903.10676.pdf: SciBERT re-printed through macOS Quartz, ~1,349 image XObjects on its one page; the
#   text layer survived, so the page has text.
# - value-error-box-diff-page-...pdf: broke papermage's layout code (a ValueError on a box), not PDFium:
#   all 12 pages have text.
PAGES = {
    "0046d83a-edd6-4631-b57c-755cdcce8b7f.pdf": 9,
    "062RoisinAronAmericanNaturalist03.pdf": 14,
    "1903.10676.pdf": 1,
    "2020.acl-main.207.pdf": 13,
    "2206.10883v3.pdf": 37,
    "N18-3011.pdf": 8,
    "arxiv_1111.2011v2.pdf": 8,
    "e5910c027af0ee9c1901c57f6579d903aedee7f4.pdf": 10,
    "papermage.pdf": 13,
    "pdfminer_naacl06-shinyama.pdf": 8,
    "value-error-box-diff-page-3574574f60182fc886aa13ad9d9dd3efc4d0a081.pdf": 12,
}


def _rows(name: str) -> list[dict[str, object]]:
    data = (fixture_dir("pdfs") / name).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    return list(pdf_text.page_rows(data, f"pdfs/{name}", "work:test", digest))


def test_every_fixture_has_a_stated_outcome() -> None:
    fixture_dir("pdfs")
    assert set(ALL) == set(ERRORS) | set(PAGES), "a new PDF fixture: state what it gives here"


@pytest.mark.parametrize("name", sorted(PAGES))
def test_good_pdfs_give_one_row_per_page_with_real_text(name: str) -> None:
    rows = _rows(name)
    assert [r["page"] for r in rows] == list(range(1, PAGES[name] + 1))
    digest = hashlib.sha256((PDFS / name).read_bytes()).hexdigest()
    for row in rows:
        page = row["page"]
        assert row["section_index"] == page and row["paragraph_index"] == 0
        assert row["kind"] == "page" and row["text_quality"] == "page_text"
        assert row["paragraph_id"] == hashlib.sha256(f"{digest}:{page}:0".encode()).hexdigest()[:32]
        text = str(row["text"])
        assert text == " ".join(text.split()), "whitespace collapsed"
        assert not any(ord(c) < 32 for c in text), "no control characters"
        assert "\ufffe" not in text
    assert sum(len(str(r["text"])) for r in rows) > 1500 * PAGES[name] // 2


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_bad_pdfs_give_a_parse_error_naming_the_document(name: str) -> None:
    with pytest.raises(ParseError) as info:
        _rows(name)
    assert f"pdfs/{name}" in str(info.value)
    assert ERRORS[name] in str(info.value)


def test_known_phrases_of_known_papers() -> None:
    first = str(_rows("arxiv_1111.2011v2.pdf")[0]["text"])
    assert first.startswith(
        "Quantum Criticality for Extended Nodes on a Bethe Lattice in the Large Connectivity Limit"
    )
    assert "James M. Murray" in first
    multi_lexsum = str(_rows("2206.10883v3.pdf")[0]["text"])
    assert (
        "Multi-LexSum: Real-World Summaries of Civil Rights Lawsuits at Multiple Granularities"
        in multi_lexsum
    )


def test_line_end_hyphens_are_resolved() -> None:
    text = " ".join(str(r["text"]) for r in _rows("0046d83a-edd6-4631-b57c-755cdcce8b7f.pdf"))
    assert "effectiveness of FES" in text  # "effective-" at a line end, "ness" on the next
    scibert = str(_rows("1903.10676.pdf")[0]["text"])
    assert "BERT-Base" in scibert  # split before an upper-case letter: the hyphen is real


def test_clean_text() -> None:
    assert pdf_text.clean_text("effective\ufffeness  of\r\nFES") == "effectiveness of FES"
    assert pdf_text.clean_text("BERT\ufffeBase, 2016\ufffe2018") == "BERT-Base, 2016-2018"
    assert pdf_text.clean_text("a \x01\x10b\x00c \ufeff d") == "a bc d"


def _blank_pdf(pages: int) -> bytes:
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument.new()
    for _ in range(pages):
        document.new_page(612, 792)
    buffer = io.BytesIO()
    document.save(buffer)
    document.close()
    return buffer.getvalue()


def test_a_pdf_without_any_text_is_an_error() -> None:
    data = _blank_pdf(3)  # a scan without OCR looks the same to a text extractor: pages, no text
    with pytest.raises(ParseError, match=r"scan\.pdf: no extractable text \(image-only\?\)"):
        list(pdf_text.page_rows(data, "scan.pdf", "w", "0" * 64))


def test_empty_pages_are_skipped() -> None:
    import pypdfium2 as pdfium

    good = (fixture_dir("pdfs") / "N18-3011.pdf").read_bytes()
    document = pdfium.PdfDocument(good)
    document.new_page(612, 792)  # a blank page 9
    buffer = io.BytesIO()
    document.save(buffer)
    document.close()
    rows = list(pdf_text.page_rows(buffer.getvalue(), "n18-plus-blank.pdf", "w", "0" * 64))
    assert [r["page"] for r in rows] == list(range(1, 9))


def test_truncated_pdfs_give_rows_or_a_parse_error_never_a_crash() -> None:
    data = (fixture_dir("pdfs") / "2206.10883v3.pdf").read_bytes()
    # Without its tail (the cross-reference table) PDFium rebuilds the table and reads every page.
    assert len(list(pdf_text.page_rows(data[: len(data) - 7], "tail.pdf", "w", "0" * 64))) == 37
    with pytest.raises(ParseError, match=r"half\.pdf: corrupted PDF"):
        list(pdf_text.page_rows(data[: len(data) // 2], "half.pdf", "w", "0" * 64))


def test_same_bytes_same_rows() -> None:
    assert _rows("N18-3011.pdf") == _rows("N18-3011.pdf")


def test_looks_like_pdf() -> None:
    assert pdf_text.looks_like_pdf(b"%PDF-1.7\n")
    assert pdf_text.looks_like_pdf(b"\xef\xbb\xbf junk\n%PDF-1.4")  # readers accept junk before the header
    assert not pdf_text.looks_like_pdf(b"broken pdf...")
    assert not pdf_text.looks_like_pdf(Path(__file__).read_bytes())
