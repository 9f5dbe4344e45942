"""GROBID TEI reader: one TEI document (GROBID 0.5 to 0.8) to rows of ``papers``, ``paper_texts`` and ``references``.

Pure functions over lxml, no Dagster. What is read, and from where:

- **Header** (``teiHeader``) → one ``papers`` row: title (``titleStmt/title``; when a hand edit or GROBID left
  it empty, the header's own ``sourceDesc/biblStruct/analytic/title``), authors (``persName``: forenames,
  surname, ``genName`` as suffix; affiliations from ``affiliation/orgName``), abstract (every
  ``abstract//p``), keywords (``keywords/term``) as ``subjects``, DOI and arXiv id (``sourceDesc`` ``idno``),
  date (``date/@when``; ``created`` only for a full date), venue (the header's ``monogr/title``), license
  (``availability/licence/@target``: GROBID reads it from the PDF; else ``unknown``).
- **Body** → ``paper_texts`` rows in document order. The abstract's paragraphs are section 0 (titled
  ``Abstract``); each ``div`` of ``body`` (nested divs flattened, in order) and of ``back`` (acknowledgement,
  annex, funding, ...; titled by their ``head``, else by the div's type) is one section, numbered from 1,
  counting only sections that yield rows. GROBID puts figures, tables and footnotes after the last div
  of the body; each run of such loose elements is one untitled section at its place. Kinds: ``paragraph``
  (``p``, list ``item``, footnote ``note``), ``formula``, ``figure_caption``, ``table_caption`` (``figDesc``;
  when GROBID left it empty, the table's ``note``), ``table`` (``row``/``cell`` as ``table_cells``; GROBID
  0.5 writes a table as bare text, kept as ``text`` with ``table_cells`` null). Inline ``ref``s stay text;
  sentences (``s``, GROBID 0.7+) are joined with a space.
- **Bibliography** (``listBibl/biblStruct``) → ``references`` rows in order.

Ids are positions in the parsed bytes: ``paragraph_id`` = sha256(f"{raw_sha256}:{section}:{paragraph}"),
``reference_id`` = sha256(f"{raw_sha256}:ref:{index}"), first 32 hex. Namespaces are ignored (``{*}``
matches): GROBID writes the TEI namespace, re-declares it on inner elements, and the processCitation
services answer without it.

Speed (measured on the recorded fixtures, 12 documents of 1-125 KB repeated, one core of a shared 2-core
machine, CPU time): about 490 documents (33,000 rows) per second over all of them, 340 per second over
the seven full-text ones (43-125 KB, ~100 rows each); libxml2's parse alone accounts for a third of that
time (1,630 documents per second). Every element touched from Python costs an lxml proxy object, so each
is visited once, text comes from one C call per row, and the bytes are never scanned in Python.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

from lxml import etree

from pipelines.curate.identifiers import normalize_doi, parse_arxiv_id, work_id_for
from pipelines.curate.licenses import license_from_url
from pipelines.parse.xml_util import LOCALNAMES, describe_xml_error, tag_localname
from pipelines.sources.base import ParseContext, ParseError, Row, TableRow

PARSER_NAME = "grobid_tei"
PARSER_VERSION = "1.0.0"  # bump whenever the rows change: partitions are then re-parsed

TEI_NS = "http://www.tei-c.org/ns/1.0"
METADATA_FORMAT = "grobid_tei"
TEXT_QUALITY = "structured"

LICENSE_SOURCE_STATED = "TEI teiHeader availability/licence (GROBID reads it from the PDF)"
LICENSE_SOURCE_ABSENT = (
    "absent: the TEI header states no licence (GROBID found none in the PDF); the paper's license is "
    "unknown, so its text is not redistributed"
)

# Titles for back-matter divs that have no head of their own (GROBID's div/@type values).
_BACK_TITLES = {
    "acknowledgement": "Acknowledgements",
    "acknowledgment": "Acknowledgements",
    "annex": "Annex",
    "funding": "Funding",
    "availability": "Availability",
    "toc": "Contents",
}
_SKIPPED_IN_SECTIONS = frozenset({"head", "listBibl", "graphic", "label", "listOrg", "pb", "lb", ""})

_ARXIV_IN_TEXT = re.compile(
    r"(\d{4}\.\d{4,5}(?:v\d+)?)|([a-zA-Z][a-zA-Z\-]*(?:\.[A-Za-z]{2})?/\d{7}(?:v\d+)?)"
)
_YEAR = re.compile(r"\b(1[5-9]\d\d|20\d\d)\b")
_FILE_STEM = re.compile(r"^(.*?)(?:\.grobid)?(?:\.tei)?(?:\.xml)?$", re.IGNORECASE)

_XML_ID = "{http://www.w3.org/XML/1998/namespace}id"
# (kind, text, page, table cells) of one paper_texts row, before it is numbered
_Item = tuple[str, str, int | None, list[list[str]] | None]

_local = threading.local()
_tostring = etree.tostring


def _parser() -> etree.XMLParser:
    """One parser per thread (lxml parsers are not shared between threads): no network, no entities."""
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            collect_ids=False,
            remove_comments=True,
            remove_pis=True,
        )
        _local.parser = parser
    return parser


# -- small helpers over elements -------------------------------------------------------------------


def _ln(elem: Any) -> str:
    tag = elem.tag
    name = LOCALNAMES.get(tag)
    return name if name is not None else tag_localname(tag)


def _raw_text(elem: Any) -> str:
    """All text inside ``elem`` (not its tail), as in the document."""
    if not len(elem):
        return elem.text or ""
    return _tostring(elem, method="text", encoding="unicode", with_tail=False)


def _space_sentences(root: Any) -> None:
    """GROBID 0.7+ (segmentSentences) writes sentences back to back, ``<s>A.</s><s>B.</s>``: give each a
    trailing space so text reads "A. B." (whitespace is collapsed afterwards). Looking for them in the
    tree (a C-level walk, ~20 us) is cheaper than searching the bytes for ``<s`` (~80 us per 100 KB)."""
    for sentence in root.iter("{*}s"):
        sentence.tail = f" {sentence.tail}" if sentence.tail else " "


def _is_clean(text: str) -> bool:
    """Whether ``text`` is already whitespace-collapsed, without building the list of its words.

    ``str.isprintable`` is False for every character ``str.split`` splits on except the plain space (tabs,
    line breaks, no-break and other Unicode spaces are all non-printable), so a printable text without
    double or outer spaces is exactly what ``" ".join(text.split())`` would return.
    """
    return text.isprintable() and "  " not in text and text[:1] != " " and text[-1:] != " "


def _collapse(text: str) -> str:
    return text if _is_clean(text) else " ".join(text.split())


def _text(elem: Any | None) -> str:
    """``_raw_text`` with whitespace collapsed; "" for no element."""
    if elem is None:
        return ""
    raw = _raw_text(elem)
    return _collapse(raw) if raw else ""


def _text_without(elem: Any, skip: str) -> str:
    """Text of ``elem`` leaving out its ``skip`` children (e.g. a meeting's address)."""
    parts = [elem.text or ""]
    for child in elem:
        if _ln(child) != skip:
            parts.append(_tostring(child, method="text", encoding="unicode", with_tail=False))
        parts.append(child.tail or "")
    return _collapse("".join(parts))


def _first_text(elems: list[Any]) -> str:
    for elem in elems:
        text = _text(elem)
        if text:
            return text
    return ""


def _page(elem: Any) -> int | None:
    """Page from GROBID's ``coords`` ("page,x,y,w,h;..."): on the element, or (GROBID 0.7+ sentences) its first child."""
    coords = elem.get("coords")
    if coords is None:
        if not len(elem):
            return None
        coords = elem[0].get("coords")
        if coords is None:
            return None
    head = coords.partition(",")[0].strip()
    return int(head) if head.isdigit() else None


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _arxiv(value: str | None) -> str | None:
    """arXiv id without version from an idno's text: "arXiv:1912.10667v1[cs.CV]", "1703.03400", URLs."""
    if not value:
        return None
    parsed = parse_arxiv_id(value)
    if parsed is None:
        m = _ARXIV_IN_TEXT.search(value)
        parsed = parse_arxiv_id(m.group(0)) if m else None
    return parsed.id if parsed else None


def _read_idnos(idnos: Any) -> tuple[list[str], str | None, list[str]]:
    """(DOIs, arXiv id, untyped idno texts) of ``idno`` elements, in order."""
    dois: list[str] = []
    arxiv_id: str | None = None
    untyped: list[str] = []
    for idno in idnos:
        kind = (idno.get("type") or "").lower()
        value = _text(idno)
        if not value:
            continue
        if kind == "doi":
            doi = normalize_doi(value)
            if doi and doi not in dois:
                dois.append(doi)
        elif kind == "arxiv":
            arxiv_id = arxiv_id or _arxiv(value)
        elif not kind:
            untyped.append(value)
    return dois, arxiv_id, untyped


def _year(elem: Any | None) -> int | None:
    """Year of a ``date`` element: the first four digits of ``@when``, else a year in its text."""
    if elem is None:
        return None
    when = (elem.get("when") or "").strip()
    if len(when) >= 4 and when[:4].isdigit():
        return int(when[:4])
    m = _YEAR.search(_text(elem))
    return int(m.group(1)) if m else None


def _full_date(elem: Any | None) -> date | None:
    when = (elem.get("when") or "").strip() if elem is not None else ""
    if len(when) < 10:
        return None  # "2003" or "2011-11": a date32 column would invent the day
    try:
        return date.fromisoformat(when[:10])
    except ValueError:
        return None


def _application_time(value: str | None) -> datetime | None:
    """GROBID's ``application/@when`` ("2019-10-04T21:57+0000"): when it wrote these bytes."""
    if not value:
        return None
    text = value.strip()
    for fmt in ("%Y-%m-%dT%H:%M%z", "%Y-%m-%dT%H:%M:%S%z"):
        try:
            return datetime.strptime(text, fmt).astimezone(UTC)
        except ValueError:
            continue
    return None


def _person(pers: Any) -> tuple[str, str | None, str | None, str | None] | None:
    """(name, keyname, forenames, suffix) of a ``persName``; None when it holds no name."""
    forenames: list[str] = []
    surname = suffix = None
    for part in pers:
        kind = _ln(part)
        if kind == "forename":
            text = _text(part)
            if text:
                forenames.append(text)
        elif kind == "surname":
            surname = _text(part) or surname
        elif kind == "genName":
            suffix = _text(part) or None
    given = " ".join(forenames) or None
    name = " ".join(p for p in (given, surname, suffix) if p)
    if not name:
        name = _text(pers)
        if not name:
            return None
    return name, surname, given, suffix


def _affiliations(author: Any) -> list[str]:
    out: list[str] = []
    for aff in author.iterfind("{*}affiliation"):
        names = [t for t in (_text(org) for org in aff.iterfind("{*}orgName")) if t]
        # without orgNames, GROBID 0.7+ (includeRawAffiliations) still has the printed affiliation as a note
        text = ", ".join(names) if names else _first_text(aff.findall("{*}note"))
        if text and text not in out:
            out.append(text)
    return out


# -- the header --------------------------------------------------------------------------------------


class _Header:
    """What the TEI header says about the work."""

    def __init__(self, root: Any) -> None:
        header = root.find("{*}teiHeader")
        self.title = ""
        self.authors: list[Row] = []
        self.abstract_paragraphs: list[tuple[str, int | None]] = []
        self.subjects: list[str] = []
        self.dois: list[str] = []
        self.arxiv_id: str | None = None
        self.created: date | None = None
        self.year: int | None = None
        self.venue: str | None = None
        self.licence_url: str | None = None
        self.grobid_version: str | None = None
        self.grobid_when: str | None = None
        if header is None:
            return
        file_desc = header.find("{*}fileDesc")
        bibl = None
        if file_desc is not None:
            title_stmt = file_desc.find("{*}titleStmt")
            if title_stmt is not None:
                titles = title_stmt.findall("{*}title")
                mains = [t for t in titles if t.get("type") == "main"]
                self.title = _first_text(mains) or _first_text(titles)
            bibl = file_desc.find("{*}sourceDesc/{*}biblStruct")
            pub = file_desc.find("{*}publicationStmt")
            if pub is not None:
                licence = pub.find("{*}availability/{*}licence")
                if licence is not None:
                    target = licence.get("target")
                    if not target:
                        ref = licence.find(".//{*}ref[@target]")
                        target = ref.get("target") if ref is not None else None
                    self.licence_url = (target or _text(licence) or "").strip() or None
                self._date(pub.find("{*}date"))
        if bibl is not None:
            analytic = bibl.find("{*}analytic")
            if analytic is not None:
                if not self.title:
                    self.title = _first_text(analytic.findall("{*}title"))
                self.authors = _header_authors(analytic)
            monogr = bibl.find("{*}monogr")
            if monogr is not None:
                if not self.authors:
                    self.authors = _header_authors(monogr)
                self.venue = _venue_title(monogr) or None
                if self.year is None:
                    self._date(monogr.find("{*}imprint/{*}date"))
            self.dois, self.arxiv_id, _ = _read_idnos(bibl.iter("{*}idno"))
        profile = header.find("{*}profileDesc")
        if profile is not None:
            abstract = profile.find("{*}abstract")
            if abstract is not None:
                paragraphs = list(abstract.iter("{*}p"))
                if paragraphs:
                    for p in paragraphs:
                        text = _text(p)
                        if text:
                            self.abstract_paragraphs.append((text, _page(p)))
                else:
                    text = _text(abstract)
                    if text:
                        self.abstract_paragraphs.append((text, _page(abstract)))
            for keywords in profile.iterfind("{*}textClass/{*}keywords"):
                terms = keywords.findall("{*}term")
                values = [_text(t) for t in terms] if terms else re.split(r"[;,]", _text(keywords))
                for value in values:
                    value = value.strip()
                    if value and value not in self.subjects:
                        self.subjects.append(value)
        app = header.find("{*}encodingDesc/{*}appInfo/{*}application")
        if app is not None:
            self.grobid_version = (app.get("version") or "").strip() or None
            self.grobid_when = app.get("when")

    def _date(self, elem: Any | None) -> None:
        if elem is None:
            return
        self.year = self.year or _year(elem)
        self.created = self.created or _full_date(elem)

    @property
    def abstract(self) -> str | None:
        return " ".join(text for text, _ in self.abstract_paragraphs) or None


def _header_authors(parent: Any) -> list[Row]:
    authors = []
    for author in parent.iterfind("{*}author"):
        pers = author.find("{*}persName")
        if pers is None:
            continue  # GROBID lists affiliations it could not attach to a name as authors without persName
        person = _person(pers)
        if person is None:
            continue
        name, keyname, forenames, suffix = person
        authors.append(
            {
                "name": name,
                "keyname": keyname,
                "forenames": forenames,
                "suffix": suffix,
                "affiliations": _affiliations(author),
            }
        )
    return authors


def _venue_title(monogr: Any) -> str:
    return _pick_venue([(t, t.get("level"), t.get("type")) for t in monogr.iterchildren("{*}title")])


# -- the document ------------------------------------------------------------------------------------


def arxiv_hint_from_name(name: str) -> str | None:
    """``arxiv:<id>`` when a file is named after an arXiv id (``2206.10883v3.tei.xml``, ``.grobid.tei.xml``)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    m = _FILE_STEM.match(base)
    stem = m.group(1) if m else base
    parsed = parse_arxiv_id(stem) if stem else None
    return parsed.work_id if parsed else None


def _load(data: bytes, where: str) -> Any:
    if not data or (data[:1].isspace() and not data.strip()):
        raise ParseError(f"{where}: empty document")
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise ParseError(f"{where}: not a TEI document: {describe_xml_error(exc)} (truncated?)") from exc
    except ValueError as exc:  # e.g. bytes lxml refuses outright
        raise ParseError(f"{where}: not a TEI document: {exc}") from exc
    if root is None:
        raise ParseError(f"{where}: not a TEI document: no root element")
    if _ln(root) != "TEI":
        raise ParseError(
            f"{where}: not a TEI document: the root element is <{_ln(root) or root.tag}>, not <TEI>"
        )
    return root


def parse_tei(
    data: bytes,
    ctx: ParseContext,
    where: str,
    work_id_hint: str | None = None,
    raw_sha256: str = "",
    *,
    source_record_id: str | None = None,
    source_url: str | None = None,
) -> Iterator[TableRow]:
    """Rows of one GROBID TEI document: ("papers", row), then ("paper_texts", row)..., ("references", row)....

    ``where`` names the document in errors (and is the rows' ``source_record_id`` unless one is given).
    ``work_id_hint``: the caller knows the work (a file named after an arXiv id, the paper a PDF was
    fetched for); it then keys every row instead of the header's ids. ``raw_sha256`` is the hash of the
    exact bytes as the raw store keys them (computed from ``data`` when not given); paragraph and
    reference ids derive from it. Raises ParseError naming ``where`` for empty, malformed, truncated or
    non-TEI bytes, and for a document that names no work (no title, no DOI, no arXiv id, no hint).
    """
    root = _load(data, where)
    _space_sentences(root)
    sha = raw_sha256 or hashlib.sha256(data).hexdigest()
    header = _Header(root)
    if ctx.parser is None:
        ctx.parser, ctx.parser_version = PARSER_NAME, PARSER_VERSION
    if ctx.retrieved_at is None:
        ctx.retrieved_at = _application_time(header.grobid_when)
    if header.grobid_version:
        ctx.notes.append(f"GROBID {header.grobid_version}")

    arxiv_id = header.arxiv_id
    if work_id_hint:
        work_id = work_id_hint
        hinted = parse_arxiv_id(work_id_hint) if work_id_hint.startswith("arxiv:") else None
        if hinted is not None:
            if arxiv_id and arxiv_id != hinted.id:
                ctx.notes.append(
                    f"{where}: header arXiv id {arxiv_id} differs from {work_id_hint}; kept the hint"
                )
            arxiv_id = hinted.id
    else:
        first_keyname = header.authors[0]["keyname"] if header.authors else None
        doi = header.dois[0] if header.dois else None
        work_id = work_id_for(arxiv_id, doi, header.title or None, first_keyname, header.year) or ""
        if not work_id:
            raise ParseError(
                f"{where}: the TEI names no work: no title, DOI or arXiv id in its header and no id from the "
                "file name, so its text and references cannot be attached to a work"
            )

    lic = license_from_url(header.licence_url)
    license_source = LICENSE_SOURCE_STATED if header.licence_url else LICENSE_SOURCE_ABSENT
    record_id = source_record_id or where
    provenance = {
        "source_record_id": record_id,
        "source_url": source_url,
        "license": lic.spdx,
        "license_source": license_source,
    }
    yield (
        "papers",
        {
            "work_id": work_id,
            "arxiv_id": arxiv_id,
            "doi": header.dois[0] if header.dois else None,
            "dois": header.dois or None,
            "title": header.title or None,
            "abstract": header.abstract,
            "authors": header.authors or None,
            "subjects": header.subjects or None,
            "license_url": lic.url,
            "metadata_license": lic.spdx,
            "text_redistributable": lic.text_redistributable,
            "created": header.created,
            "metadata_format": METADATA_FORMAT,
            "work_type": "preprint" if arxiv_id else "article",
            "venue": header.venue,
            **provenance,
        },
    )
    sections: list[tuple[int, str | None, str | None, list[_Item]]] = []
    if header.abstract_paragraphs:
        abstract: list[_Item] = [("paragraph", text, page, None) for text, page in header.abstract_paragraphs]
        sections.append((0, "Abstract", None, abstract))
    body = _Sections()
    body.collect(root)
    sections.extend(
        (index, title, number, items) for index, (title, number, items) in enumerate(body.sections, 1)
    )
    yield from _text_rows(work_id, sha, provenance, sections)
    yield from _reference_rows(root, work_id, sha, provenance)


class _Sections:
    """The sections of one document's text (body, then back matter) in document order, with their rows.

    Written for speed: a TEI document has about a thousand elements and every lxml access from Python
    costs a proxy object, so each element is visited once and a row's text comes from one C call.
    """

    def __init__(self) -> None:
        # (title, number, items) of every section that yields rows, in document order
        self.sections: list[tuple[str | None, str | None, list[_Item]]] = []

    def collect(self, root: Any) -> None:
        text_el = root.find("{*}text")
        if text_el is None:
            return
        sections = self.sections
        for part in text_el:
            part_name = _ln(part)
            if part_name == "body":
                loose: list[_Item] = []
                for child in part:
                    if _ln(child) == "div":
                        if loose:
                            sections.append((None, None, loose))
                            loose = []
                        self._div(child, None)
                    else:
                        self._collect(child, loose)
                if loose:
                    sections.append((None, None, loose))
            elif part_name == "back":
                for child in part:
                    if _ln(child) == "div":
                        self._div(child, _BACK_TITLES.get((child.get("type") or "").lower()))

    def _div(self, div: Any, default_title: str | None) -> None:
        title = default_title
        number = None
        seen_head = False
        own: list[_Item] = []
        for child in div:
            name = _ln(child)
            if name == "head" and not seen_head:
                seen_head = True
                title = _text(child) or default_title
                n = child.get("n")
                number = (n.strip().rstrip(".") or None) if n else None
            elif name == "div":
                if own:
                    self.sections.append((title, number, own))
                    own = []
                self._div(child, title)  # a nested div without a head continues its parent
            else:
                self._collect(child, own)
        if own:
            self.sections.append((title, number, own))

    def _collect(self, elem: Any, out: list[_Item]) -> None:
        """Append the rows of one element of a section to ``out``."""
        name = _ln(elem)
        if name == "p" or name == "ab":
            text = _text(elem)
            if text:
                out.append(("paragraph", text, _page(elem), None))
        elif name == "formula":
            text = _text(elem)
            if text:
                out.append(("formula", text, _page(elem), None))
        elif name == "figure":
            self._figure(elem, out)
        elif name == "table":
            table = _table(elem)
            if table:
                out.append(("table", table[0], _page(elem), table[1]))
        elif name == "list":
            for item in elem.iterchildren("{*}item"):
                text = _text(item)
                if text:
                    out.append(("paragraph", text, _page(item), None))
        elif name not in _SKIPPED_IN_SECTIONS:
            text = _text(elem)  # note (footnotes), quote, and anything a later GROBID adds: kept as text
            if text:
                out.append(("paragraph", text, _page(elem), None))

    def _figure(self, figure: Any, out: list[_Item]) -> None:
        is_table = (figure.get("type") or "").lower() == "table"
        desc = note = table_el = None
        for child in figure:
            name = _ln(child)
            if name == "figDesc":
                desc = child
            elif name == "table":
                table_el = child
            elif name == "note" and note is None:
                note = child
        caption = _text(desc)
        if not caption and is_table:
            caption = _text(note)  # GROBID sometimes puts a table's caption in its note
        page = _page(figure)
        if caption:
            out.append(("table_caption" if is_table else "figure_caption", caption, page, None))
        if is_table and table_el is not None:
            table = _table(table_el)
            if table:
                out.append(("table", table[0], page, table[1]))


def _text_rows(
    work_id: str, sha: str, provenance: Row, sections: list[tuple[int, str | None, str | None, list[_Item]]]
) -> Iterator[TableRow]:
    record_id = provenance["source_record_id"]
    source_url = provenance["source_url"]
    license_id = provenance["license"]
    license_source = provenance["license_source"]
    digest = hashlib.sha256
    for section, title, number, items in sections:
        prefix = f"{sha}:{section}:"
        for index, (kind, text, page, cells) in enumerate(items):
            yield (
                "paper_texts",
                {
                    "work_id": work_id,
                    "section_index": section,
                    "paragraph_index": index,
                    "paragraph_id": digest(f"{prefix}{index}".encode()).hexdigest()[:32],
                    "section_title": title,
                    "section_number": number,
                    "kind": kind,
                    "text": text,
                    "table_cells": cells,
                    "page": page,
                    "text_quality": TEXT_QUALITY,
                    "source_record_id": record_id,
                    "source_url": source_url,
                    "license": license_id,
                    "license_source": license_source,
                },
            )


def _table(table: Any) -> tuple[str, list[list[str]] | None] | None:
    """(text, cells) of a ``table``: rows of cell texts, or (GROBID 0.5) its bare text with no cells."""
    rows = [[_text(cell) for cell in row.iterchildren("{*}cell")] for row in table.iterchildren("{*}row")]
    if rows:
        if not any(any(row) for row in rows):
            return None
        return "\n".join(" | ".join(row) for row in rows), rows
    text = _text(table)
    return (text, None) if text else None


# -- the bibliography ----------------------------------------------------------------------------------

# What each element of a biblStruct is to the one-pass reader below, by full tag (filled as tags are met:
# "{ns}name" strings differ by namespace, and GROBID's citation services answer without one).
_R_SKIP, _R_FORENAME, _R_SURNAME, _R_PERSNAME, _R_AUTHOR, _R_TITLE, _R_CONTAINER = range(7)
_R_EDITOR, _R_DATE, _R_IDNO, _R_NOTE, _R_GENNAME, _R_MEETING, _R_PTR = range(7, 14)
_REF_CODES_BY_NAME = {
    "forename": _R_FORENAME,
    "surname": _R_SURNAME,
    "persName": _R_PERSNAME,
    "author": _R_AUTHOR,
    "title": _R_TITLE,
    "analytic": _R_CONTAINER,
    "monogr": _R_CONTAINER,
    "series": _R_CONTAINER,
    "editor": _R_EDITOR,
    "date": _R_DATE,
    "idno": _R_IDNO,
    "note": _R_NOTE,
    "genName": _R_GENNAME,
    "meeting": _R_MEETING,
    "ptr": _R_PTR,
}
_REF_CODES: dict[Any, int] = {}


def _ref_code(tag: Any) -> int:
    code = _REF_CODES_BY_NAME.get(tag_localname(tag), _R_SKIP)
    if len(_REF_CODES) < 4096:
        _REF_CODES[tag] = code
    return code


def _reference_rows(root: Any, work_id: str, sha: str, provenance: Row) -> Iterator[TableRow]:
    text_el = root.find("{*}text")
    if text_el is None:
        return
    index = 0
    for bibl_list in text_el.iter("{*}listBibl"):
        for bibl in bibl_list.iterchildren("{*}biblStruct"):
            yield "references", _reference(bibl, index, work_id, sha, provenance)
            index += 1


def _reference(bibl: Any, index: int, work_id: str, sha: str, provenance: Row) -> Row:
    # One pass over the entry's elements in document order, tracking where it is (analytic or monogr,
    # author or editor): a few dozen elements, each touched once.
    container = ""
    in_author = False
    a_titles: list[tuple[Any, Any, Any]] = []  # (element, level, type)
    m_titles: list[tuple[Any, Any, Any]] = []
    persons: list[list[Any]] = []  # [container, forenames, surname, suffix, persName element]
    person: list[Any] | None = None
    dates: list[Any] = []
    idnos: list[Any] = []
    targets: list[str] = []
    meeting = raw_el = None
    codes = _REF_CODES
    for el in bibl.iter():
        tag = el.tag
        code = codes.get(tag)
        if code is None:
            code = _ref_code(tag)
        if code == _R_SKIP:
            continue
        if code == _R_FORENAME:
            if person is not None:
                person[1].append(el.text if not len(el) else _raw_text(el))
        elif code == _R_SURNAME:
            if person is not None:
                person[2] = el.text if not len(el) else _raw_text(el)
        elif code == _R_PERSNAME:
            if in_author:
                person = [container, [], "", "", el]
                persons.append(person)
            else:
                person = None  # an editor's name
        elif code == _R_AUTHOR:
            in_author, person = True, None
        elif code == _R_TITLE:
            (a_titles if container == "analytic" else m_titles).append((el, el.get("level"), el.get("type")))
        elif code == _R_CONTAINER:
            container, in_author, person = tag_localname(tag), False, None
        elif code == _R_EDITOR:
            in_author, person = False, None
        elif code == _R_DATE:
            if container == "monogr":
                dates.append(el)
        elif code == _R_IDNO:
            idnos.append(el)
        elif code == _R_NOTE:
            if raw_el is None and el.get("type") == "raw_reference":
                raw_el = el
        elif code == _R_GENNAME:
            if person is not None:
                person[3] = el.text if not len(el) else _raw_text(el)
        elif code == _R_MEETING:
            if meeting is None:
                meeting = el
        elif code == _R_PTR:
            target = el.get("target")
            if target:
                targets.append(target)
    title = ""
    for el, _level, kind in a_titles:
        if kind == "main":
            title = _text(el)
            if title:
                break
    if not title:
        title = _first_text([t[0] for t in a_titles])
    if title:
        venue = _pick_venue(m_titles)
    else:
        venue = ""
        title = _first_text([t[0] for t in m_titles if t[1] == "m"]) or _pick_venue(m_titles)
    if not venue and meeting is not None:
        venue = _text_without(meeting, "address")
    authors: list[Row] = []
    first_container = None
    for where, forenames, surname, suffix, pers in persons:
        if first_container is not None and where != first_container:
            break  # the analytic's authors when it has any, else the monograph's
        if suffix:
            forenames.append(surname)
            name = " ".join(forenames) + " " + suffix
        elif forenames:
            forenames.append(surname)
            name = " ".join(forenames)
        else:
            name = surname
        if not _is_clean(name):
            name = _collapse(name)
            surname = _collapse(surname)
        if not name:
            name = _text(pers)
            if not name:
                continue
        first_container = where
        authors.append({"name": name, "keyname": surname or None})
    year = None
    if dates:
        for d in [d for d in dates if d.get("type") == "published"] or dates:
            year = _year(d)
            if year is not None:
                break
    raw = _text(raw_el) or None
    dois, arxiv_id, untyped = _read_idnos(idnos) if idnos else ([], None, [])
    if arxiv_id is None and untyped:
        # CoRR/ArXiv entries (DBLP, Semantic Scholar style): an untyped idno "abs/1907.11692"
        context = f"{venue} {title} {raw or ''}".lower()
        if "arxiv" in context or "corr" in context:
            for value in untyped:
                if value.startswith("abs/"):
                    arxiv_id = _arxiv(value[4:])
                    if arxiv_id:
                        break
    for target in targets:
        if not dois and "doi.org/" in target:
            doi = normalize_doi(target)
            if doi:
                dois.append(doi)
        elif arxiv_id is None and "arxiv.org/" in target:
            arxiv_id = _arxiv(target)
    doi = dois[0] if dois else None
    xml_id = bibl.get(_XML_ID)
    record_id = provenance["source_record_id"]
    return {
        "work_id": work_id,
        "reference_index": index,
        "reference_id": _digest(f"{sha}:ref:{index}"),
        "cited_work_id": work_id_for(arxiv_id, doi) if (arxiv_id or doi) else None,
        "title": title or None,
        "authors": authors or None,
        "year": year,
        "venue": venue or None,
        "doi": doi,
        "arxiv_id": arxiv_id,
        "raw": raw,
        "source_record_id": f"{record_id}#{xml_id}" if xml_id else record_id,
        "source_url": provenance["source_url"],
        "license": provenance["license"],
        "license_source": provenance["license_source"],
    }


def _pick_venue(titles: list[tuple[Any, Any, Any]]) -> str:
    """A journal (level j), else book or proceedings (level m), else any title; abbreviations last."""
    if not titles:
        return ""
    if len(titles) == 1:
        return _text(titles[0][0])
    for level in ("j", "m"):
        text = _first_text([el for el, lv, kind in titles if lv == level and kind != "abbrev"])
        if text:
            return text
    return _first_text([el for el, _lv, kind in titles if kind != "abbrev"]) or _first_text(
        [t[0] for t in titles]
    )
