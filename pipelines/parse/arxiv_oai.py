"""OAI-PMH pages from arXiv, in the ``arXiv``, ``arXivRaw`` and ``oai_dc`` metadata formats, to ``papers`` rows."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from lxml import etree

from pipelines.curate.identifiers import parse_arxiv_id, split_dois
from pipelines.curate.licenses import license_from_url
from pipelines.parse.xml_util import (
    COLLAPSE_SCAN_MIN,
    LOCALNAMES,
    clean_text,
    collapse_ws,
    describe_xml_error,
    element_text,
    parse_date,
    parse_timestamp,
    release,
    tag_localname,
)
from pipelines.sources.base import ParseContext, ParseError, Row

PARSER_NAME = "arxiv_oai"
PARSER_VERSION = "1.1.0"

_OAI_TAGS = ("{*}record", "{*}responseDate", "{*}error", "{*}resumptionToken")
_OAI_NAMES = frozenset(("record", "responseDate", "error", "resumptionToken"))
# OAI-PMH errors that are an empty answer, not a failure.
_EMPTY_CODES = {"noRecordsMatch"}
# Pages up to this size are parsed whole: lxml's tree parser and a walk over the tree take 6 us a record less
# than iterparse (an arXiv page of 1,000 records is 2.3 MB). Larger documents stream record by record, so
# memory stays flat whatever their size: a tree takes about 5 times the document's bytes (a 16 MB page,
# 80 MB).
TREE_PARSE_MAX_BYTES = 16 << 20


def parse_oai_page(data: bytes, ctx: ParseContext, where: str) -> Iterator[Row]:
    """Stream ``papers`` rows from one OAI-PMH response (ListRecords or GetRecord).

    Records before a syntax error are yielded; the error is raised after them, naming ``where``.
    """
    if not data.strip():
        raise ParseError(f"{where}: empty document")
    elements = _tree_elements(data) if len(data) <= TREE_PARSE_MAX_BYTES else None
    if elements is None:
        # Too large to hold as a tree, malformed, or laid out unusually: stream it, which yields the complete
        # records before an error and then raises it with its line.
        yield from _parse_streaming(data, ctx, where)
        return
    records = 0
    errors: list[str] = []
    for elem in elements:
        if _handle(elem, ctx, errors):
            row = _record_row(elem)
            if row is not None:
                records += 1
                yield row
    _finish(ctx, where, errors, records)


def _tree_elements(data: bytes) -> list[Any] | None:
    """The page's record, responseDate, error and resumptionToken elements in document order, from one
    whole-document parse; None when the page does not parse or is not laid out as OAI-PMH pages are.

    The result is what the streaming path would see: it visits those elements at their end tags, so the
    two agree as long as none of them lies inside another (each is a child of the root or of a child of
    the root that is not one of them). Anything else goes to the streaming path.
    """
    parser = etree.XMLParser(huge_tree=True, resolve_entities=False, no_network=True)
    try:
        root = etree.fromstring(data, parser)
    except Exception:  # the streaming path reports it, after the complete records before it
        return None
    if tag_localname(root.tag) in _OAI_NAMES:
        return None
    elements = list(root.iter(*_OAI_TAGS))
    checked = root
    for elem in elements:
        parent = elem.getparent()
        if parent is root or parent is checked:
            continue
        if parent.getparent() is not root or tag_localname(parent.tag) in _OAI_NAMES:
            return None
        checked = parent
    return elements


_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


def _invalid_utf8_offset(data: bytes) -> int | None:
    """Byte offset of the first invalid UTF-8 sequence in a page that is (or by default would be) UTF-8."""
    declared = _XML_ENCODING.match(data[:200])
    if declared is not None and declared.group(1).lower().replace(b"_", b"-") not in (b"utf-8", b"utf8"):
        return None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A sequence cut short by the end of the page is truncation, which the XML parser reports by line.
        return None if exc.reason == "unexpected end of data" else exc.start
    return None


def _parse_streaming(data: bytes, ctx: ParseContext, where: str) -> Iterator[Row]:
    # libxml2 decodes a whole input chunk before parsing it, so where and when a bad byte is reported
    # depends on its version and buffer size. Cutting the page at the first invalid UTF-8 byte makes
    # "every complete record before the error" exact whatever libxml2 does.
    bad_at = _invalid_utf8_offset(data)
    if bad_at is not None:
        records = 0
        try:
            for good in _parse_streaming(data[:bad_at], ctx, where):
                records += 1
                yield good
        except ParseError:
            pass
        raise ParseError(f"{where}: invalid UTF-8 at byte {bad_at} (after {records} records)")
    records = 0
    errors: list[str] = []
    parser = etree.iterparse(
        io.BytesIO(data),
        events=("end",),
        tag=_OAI_TAGS,
        huge_tree=True,
        resolve_entities=False,
        no_network=True,
    )
    try:
        for _, elem in parser:
            if _handle(elem, ctx, errors):
                row = _record_row(elem)
                release(elem)
                if row is not None:
                    records += 1
                    yield row
    except etree.XMLSyntaxError as exc:
        raise ParseError(f"{where}: {describe_xml_error(exc)} (after {records} records)") from exc
    except UnicodeDecodeError as exc:
        raise ParseError(f"{where}: body is not valid in its declared encoding ({exc})") from exc
    _finish(ctx, where, errors, records)


def _handle(elem: Any, ctx: ParseContext, errors: list[str]) -> bool:
    """Take in a responseDate, resumptionToken or error element; True when ``elem`` is a record instead."""
    name = tag_localname(elem.tag)
    if name == "record":
        return True
    if name == "responseDate":
        ctx.retrieved_at = parse_timestamp(elem.text)
    elif name == "resumptionToken":
        ctx.resumption_token = clean_text(elem.text)
        size = elem.get("completeListSize")
        ctx.complete_list_size = int(size) if size and size.isdigit() else None
    elif name == "error":
        code = elem.get("code", "unknown")
        if code in _EMPTY_CODES:
            ctx.empty = True
        else:
            errors.append(f"OAI-PMH error {code}: {clean_text(elem.text) or ''}".strip())
    return False


def _finish(ctx: ParseContext, where: str, errors: list[str], records: int) -> None:
    if errors:
        raise ParseError(f"{where}: " + "; ".join(errors))
    if records == 0:
        ctx.empty = True


# Each extractor below reads an element's children in one pass. Where a field's element occurs more than
# once, the first one counts (an empty first one gives None); lists (authors, affiliations, versions, the
# repeatable Dublin Core elements) keep every non-empty one in order. ``LOCALNAMES.get(tag)`` first, then
# ``tag_localname`` on a miss, is the inlined form of ``tag_localname`` (the lookup runs ~40 times a record).


def _record_row(record: Any) -> Row | None:
    names = LOCALNAMES
    header = None
    metadata = None
    for child in record:
        tag = child.tag
        name = names.get(tag)
        if name is None:
            name = tag_localname(tag)
        if name == "header":
            header = child
        elif name == "metadata":
            metadata = child
    if header is None:
        return None
    if header.get("status") == "deleted" or metadata is None:
        return None
    identifier_el = datestamp_el = None
    for child in header:
        tag = child.tag
        name = names.get(tag)
        if name is None:
            name = tag_localname(tag)
        if name == "identifier":
            if identifier_el is None:
                identifier_el = child
        elif name == "datestamp" and datestamp_el is None:
            datestamp_el = child
    oai_identifier = element_text(identifier_el)
    datestamp = parse_date(element_text(datestamp_el))
    body = None
    fmt = ""
    for child in metadata:
        tag = child.tag
        fmt = names.get(tag) or tag_localname(tag)
        if fmt:
            body = child
            break
    if body is None:
        return None
    if fmt == "arXiv":
        row = _arxiv_format(body)
    elif fmt == "arXivRaw":
        row = _arxiv_raw_format(body)
    elif fmt == "dc":
        row = _oai_dc_format(body)
    else:
        return None
    ident = parse_arxiv_id(row.pop("_id") or oai_identifier or "")
    if ident is None:
        return None
    lic = license_from_url(row["license_url"])
    arxiv_id = ident.id
    row["work_id"] = f"arxiv:{arxiv_id}"
    row["arxiv_id"] = arxiv_id
    row["oai_datestamp"] = datestamp
    row["metadata_format"] = fmt if fmt != "dc" else "oai_dc"
    row["work_type"] = "preprint"
    row["metadata_license"] = "CC0-1.0"
    row["license"] = lic.spdx
    row["license_source"] = (
        (_DC_LICENSE_SOURCE if fmt == "dc" else _LICENSE_SOURCE) if lic.url else _NO_LICENSE_SOURCE
    )
    row["text_redistributable"] = lic.text_redistributable
    row["source_record_id"] = oai_identifier or f"oai:arXiv.org:{arxiv_id}"
    row["source_url"] = f"https://arxiv.org/abs/{arxiv_id}"
    return row


_LICENSE_SOURCE = "arXiv OAI-PMH <license>"
_DC_LICENSE_SOURCE = "arXiv OAI-PMH dc:rights"
_NO_LICENSE_SOURCE = "absent from arXiv metadata"

# Text fields of the arXiv and arXivRaw formats (arXivRaw's authors are one string; arXiv's are elements).
_COMMON_FIELDS = frozenset(
    (
        "id",
        "title",
        "abstract",
        "categories",
        "comments",
        "journal-ref",
        "report-no",
        "msc-class",
        "acm-class",
        "doi",
        "license",
    )
)
_ARXIV_FIELDS = _COMMON_FIELDS | {"created", "updated"}
_ARXIV_RAW_FIELDS = _COMMON_FIELDS | {"authors"}


def _common_fields(c: dict[str, str | None]) -> Row:
    get = c.get
    categories_text = get("categories")
    categories = categories_text.split() if categories_text else []
    doi_text = get("doi")
    dois = split_dois(doi_text) if doi_text else []
    return {
        "_id": get("id"),
        "title": get("title"),
        "abstract": get("abstract"),
        "categories": categories or None,
        "primary_category": categories[0] if categories else None,
        "comments": get("comments"),
        "journal_ref": get("journal-ref"),
        "report_no": get("report-no"),
        "msc_class": get("msc-class"),
        "acm_class": get("acm-class"),
        "doi": dois[0] if dois else None,
        "dois": dois or None,
        "license_url": get("license"),
    }


def _arxiv_format(body: Any) -> Row:
    names = LOCALNAMES
    texts: dict[str, str | None] = {}
    authors: list[Row] = []
    for child in body:
        tag = child.tag
        name = names.get(tag)
        if name is None:
            name = tag_localname(tag)
        if name == "authors":
            _arxiv_authors(child, authors)
        elif name in _ARXIV_FIELDS and name not in texts:
            # element_text, inlined
            text = "".join(child.itertext()) if len(child) else child.text
            if text:
                text = collapse_ws(text) if len(text) > COLLAPSE_SCAN_MIN else " ".join(text.split())
            texts[name] = text or None
    row = _common_fields(texts)
    row["authors"] = authors
    created = parse_date(texts.get("created"))
    row["created"] = created
    row["updated"] = parse_date(texts.get("updated")) or created
    return row


def _arxiv_authors(authors_el: Any, out: list[Row]) -> None:
    names = LOCALNAMES
    for author in authors_el:
        tag = author.tag
        name = names.get(tag)
        if name is None:
            name = tag_localname(tag)
        if name != "author":
            continue
        keyname_el = forenames_el = suffix_el = None
        affiliations: list[str] = []
        for part in author:
            tag = part.tag
            name = names.get(tag)
            if name is None:
                name = tag_localname(tag)
            if name == "keyname":
                if keyname_el is None:
                    keyname_el = part
            elif name == "forenames":
                if forenames_el is None:
                    forenames_el = part
            elif name == "affiliation":
                affiliation = element_text(part)
                if affiliation:
                    affiliations.append(affiliation)
            elif name == "suffix" and suffix_el is None:
                suffix_el = part
        keyname = forenames = suffix = None
        # element_text, inlined for the two fields every author has
        if keyname_el is not None:
            text = "".join(keyname_el.itertext()) if len(keyname_el) else keyname_el.text
            keyname = (" ".join(text.split()) or None) if text else None
        if forenames_el is not None:
            text = "".join(forenames_el.itertext()) if len(forenames_el) else forenames_el.text
            forenames = (" ".join(text.split()) or None) if text else None
        if suffix_el is not None:
            suffix = element_text(suffix_el)
            display = " ".join(p for p in (forenames, keyname, suffix) if p) or None
        elif forenames and keyname:
            display = f"{forenames} {keyname}"
        else:
            display = forenames or keyname
        out.append(
            {
                "name": display,
                "keyname": keyname,
                "forenames": forenames,
                "suffix": suffix,
                "affiliations": affiliations,
            }
        )


_AUTHOR_SPLIT = re.compile(r",\s*(?:and\s+)?|\s+and\s+")


def split_author_string(text: str) -> list[Row]:
    """arXivRaw's single author string ("A. Smith, B. Jones (MIT) and C. Lee") into structured authors."""
    # Protect commas inside parenthesised affiliations before splitting.
    depth = 0
    chars = []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        chars.append("\x00" if ch == "," and depth else ch)
    out = []
    for part in _AUTHOR_SPLIT.split("".join(chars)):
        part = part.replace("\x00", ",").strip()
        if not part:
            continue
        affiliations = [clean_text(m) for m in re.findall(r"\(([^()]*)\)", part)]
        name = clean_text(re.sub(r"\([^()]*\)", " ", part)) or part
        out.append(split_display_name(name, [a for a in affiliations if a]))
    return out


_SUFFIXES = {"jr", "jr.", "sr", "sr.", "ii", "iii", "iv"}
# Surname particles that belong to the keyname ("Del Maestro", "van der Berg", "Le Gall").
_PARTICLES = {
    "de",
    "del",
    "della",
    "der",
    "den",
    "di",
    "da",
    "du",
    "dos",
    "das",
    "van",
    "von",
    "le",
    "la",
    "ter",
    "ten",
}


def split_display_name(name: str, affiliations: list[str] | None = None) -> Row:
    """Split a display name into forenames and keyname (last word plus any particles before it).

    A trailing Jr./III goes to ``suffix``. Where a source gives only display names this is a heuristic;
    sources with structured names (arXiv OAI ``arXiv`` format) keep theirs.
    """
    words = name.split()
    suffix = None
    if len(words) > 2 and words[-1].lower().strip(",") in _SUFFIXES:
        suffix = words.pop()
    start = len(words) - 1
    while start > 1 and words[start - 1].lower() in _PARTICLES:
        start -= 1
    keyname = " ".join(words[start:]) if words else None
    forenames = " ".join(words[:start]) or None
    return {
        "name": name,
        "keyname": keyname,
        "forenames": forenames,
        "suffix": suffix,
        "affiliations": affiliations or [],
    }


def _rfc2822(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value.strip()).astimezone(UTC)
    except (TypeError, ValueError, IndexError):
        return None


def _arxiv_raw_format(body: Any) -> Row:
    names = LOCALNAMES
    texts: dict[str, str | None] = {}
    versions = []
    for child in body:
        tag = child.tag
        name = names.get(tag)
        if name is None:
            name = tag_localname(tag)
        if name == "version":
            date_el = size_el = None
            for part in child:
                tag = part.tag
                part_name = names.get(tag)
                if part_name is None:
                    part_name = tag_localname(tag)
                if part_name == "date":
                    if date_el is None:
                        date_el = part
                elif part_name == "size" and size_el is None:
                    size_el = part
            versions.append(
                {
                    "version": child.get("version"),
                    "submitted": _rfc2822(element_text(date_el)),
                    "size": element_text(size_el),
                }
            )
        elif name in _ARXIV_RAW_FIELDS and name not in texts:
            texts[name] = element_text(child)
    row = _common_fields(texts)
    row["authors"] = split_author_string(texts.get("authors") or "")
    row["arxiv_versions"] = versions or None
    numbers = [int(v["version"][1:]) for v in versions if v["version"] and v["version"][1:].isdigit()]
    row["latest_version"] = max(numbers) if numbers else None
    dates = [v["submitted"] for v in versions if v["submitted"] is not None]
    row["created"] = min(dates).date() if dates else None
    row["updated"] = max(dates).date() if dates else None
    return row


# Dublin Core elements read as lists (every non-empty one, in order); of the title, the first counts.
_DC_LISTS = frozenset(("description", "identifier", "creator", "date", "rights", "subject"))


def _oai_dc_format(body: Any) -> Row:
    names = LOCALNAMES
    lists: dict[str, list[str]] = {name: [] for name in _DC_LISTS}
    title_el = None
    for child in body:
        tag = child.tag
        name = names.get(tag)
        if name is None:
            name = tag_localname(tag)
        found = lists.get(name)
        if found is not None:
            text = element_text(child)
            if text:
                found.append(text)
        elif name == "title" and title_el is None:
            title_el = child
    descriptions = lists["description"]
    abstract = next((d for d in descriptions if not d.startswith("Comment:")), None)
    comment = next((d[len("Comment:") :].strip() for d in descriptions if d.startswith("Comment:")), None)
    identifiers = lists["identifier"]
    arxiv_url = next((i for i in identifiers if parse_arxiv_id(i)), None)
    dois = [d for i in identifiers if i.lower().startswith("doi:") for d in split_dois(i)]
    authors: list[Row] = []
    for text in lists["creator"]:
        keyname, sep, forenames = text.partition(",")
        if sep:
            keyname, forenames = keyname.strip(), forenames.strip()
            authors.append(
                {
                    "name": f"{forenames} {keyname}".strip(),
                    "keyname": keyname,
                    "forenames": forenames or None,
                    "suffix": None,
                    "affiliations": [],
                }
            )
        else:
            authors.append(
                {"name": text, "keyname": text, "forenames": None, "suffix": None, "affiliations": []}
            )
    dates = sorted(d for d in (parse_date(t) for t in lists["date"]) if d)
    rights = lists["rights"]
    return {
        "_id": arxiv_url,
        "title": element_text(title_el),
        "abstract": abstract,
        "comments": comment,
        "authors": authors,
        "subjects": lists["subject"] or None,
        "doi": dois[0] if dois else None,
        "dois": dois or None,
        "license_url": rights[0] if rights else None,
        # oai_dc lists one date per version.
        "created": dates[0] if dates else None,
        "updated": dates[-1] if dates else None,
        "latest_version": len(dates) or None,
    }
