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
    children_by_name,
    clean_text,
    describe_xml_error,
    element_text,
    first_text,
    localname,
    parse_date,
    parse_timestamp,
    release,
)
from pipelines.sources.base import ParseContext, ParseError, Row

PARSER_NAME = "arxiv_oai"
PARSER_VERSION = "1.1.0"

_OAI_TAGS = ("{*}record", "{*}responseDate", "{*}error", "{*}resumptionToken")
# OAI-PMH errors that are an empty answer, not a failure.
_EMPTY_CODES = {"noRecordsMatch"}


def parse_oai_page(data: bytes, ctx: ParseContext, where: str) -> Iterator[Row]:
    """Stream ``papers`` rows from one OAI-PMH response (ListRecords or GetRecord).

    Records before a syntax error are yielded; the error is raised after them, naming ``where``.
    """
    if not data.strip():
        raise ParseError(f"{where}: empty document")
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
            name = localname(elem)
            if name == "record":
                row = _record_row(elem)
                release(elem)
                if row is not None:
                    records += 1
                    yield row
            elif name == "responseDate":
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
    except etree.XMLSyntaxError as exc:
        raise ParseError(f"{where}: {describe_xml_error(exc)} (after {records} records)") from exc
    except UnicodeDecodeError as exc:
        raise ParseError(f"{where}: body is not valid in its declared encoding ({exc})") from exc
    if errors:
        raise ParseError(f"{where}: " + "; ".join(errors))
    if records == 0:
        ctx.empty = True


def _record_row(record: Any) -> Row | None:
    header = None
    metadata = None
    for child in record:
        name = localname(child)
        if name == "header":
            header = child
        elif name == "metadata":
            metadata = child
    if header is None:
        return None
    if header.get("status") == "deleted" or metadata is None:
        return None
    hdr = children_by_name(header)
    oai_identifier = first_text(hdr, "identifier")
    datestamp = parse_date(first_text(hdr, "datestamp"))
    body = next((c for c in metadata if localname(c)), None)
    if body is None:
        return None
    fmt = localname(body)
    if fmt == "arXiv":
        row = _arxiv_format(body)
    elif fmt == "arXivRaw":
        row = _arxiv_raw_format(body)
    elif fmt == "dc":
        row = _oai_dc_format(body)
    else:
        return None
    ident = parse_arxiv_id(row.pop("_id", None) or oai_identifier or "")
    if ident is None:
        return None
    lic = license_from_url(row.get("license_url"))
    row.update(
        work_id=ident.work_id,
        arxiv_id=ident.id,
        oai_datestamp=datestamp,
        metadata_format=fmt if fmt != "dc" else "oai_dc",
        work_type="preprint",
        metadata_license="CC0-1.0",
        license=lic.spdx,
        license_source=(
            f"arXiv OAI-PMH {'dc:rights' if fmt == 'dc' else '<license>'}"
            if lic.url
            else "absent from arXiv metadata"
        ),
        text_redistributable=lic.text_redistributable,
        source_record_id=oai_identifier or f"oai:arXiv.org:{ident.id}",
        source_url=f"https://arxiv.org/abs/{ident.id}",
    )
    return row


def _common_fields(c: dict[str, list[Any]]) -> Row:
    categories = (first_text(c, "categories") or "").split()
    doi_text = first_text(c, "doi")
    dois = split_dois(doi_text) if doi_text else []
    return {
        "_id": first_text(c, "id"),
        "title": first_text(c, "title"),
        "abstract": first_text(c, "abstract"),
        "categories": categories or None,
        "primary_category": categories[0] if categories else None,
        "comments": first_text(c, "comments"),
        "journal_ref": first_text(c, "journal-ref"),
        "report_no": first_text(c, "report-no"),
        "msc_class": first_text(c, "msc-class"),
        "acm_class": first_text(c, "acm-class"),
        "doi": dois[0] if dois else None,
        "dois": dois or None,
        "license_url": first_text(c, "license"),
    }


def _arxiv_format(body: Any) -> Row:
    c = children_by_name(body)
    row = _common_fields(c)
    authors = []
    for authors_el in c.get("authors", []):
        for author in authors_el:
            if localname(author) != "author":
                continue
            a = children_by_name(author)
            keyname = first_text(a, "keyname")
            forenames = first_text(a, "forenames")
            suffix = first_text(a, "suffix")
            name = " ".join(p for p in (forenames, keyname, suffix) if p) or None
            affiliations = [t for t in (element_text(e) for e in a.get("affiliation", [])) if t]
            authors.append(
                {
                    "name": name,
                    "keyname": keyname,
                    "forenames": forenames,
                    "suffix": suffix,
                    "affiliations": affiliations,
                }
            )
    row["authors"] = authors
    row["created"] = parse_date(first_text(c, "created"))
    row["updated"] = parse_date(first_text(c, "updated")) or row["created"]
    return row


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
    c = children_by_name(body)
    row = _common_fields(c)
    row["authors"] = split_author_string(first_text(c, "authors") or "")
    versions = []
    for v in c.get("version", []):
        vc = children_by_name(v)
        versions.append(
            {
                "version": v.get("version"),
                "submitted": _rfc2822(first_text(vc, "date")),
                "size": first_text(vc, "size"),
            }
        )
    row["arxiv_versions"] = versions or None
    numbers = [int(v["version"][1:]) for v in versions if v["version"] and v["version"][1:].isdigit()]
    row["latest_version"] = max(numbers) if numbers else None
    dates = [v["submitted"] for v in versions if v["submitted"] is not None]
    row["created"] = min(dates).date() if dates else None
    row["updated"] = max(dates).date() if dates else None
    return row


def _oai_dc_format(body: Any) -> Row:
    c = children_by_name(body)
    descriptions = [t for t in (element_text(e) for e in c.get("description", [])) if t]
    abstract = next((d for d in descriptions if not d.startswith("Comment:")), None)
    comment = next((d[len("Comment:") :].strip() for d in descriptions if d.startswith("Comment:")), None)
    identifiers = [t for t in (element_text(e) for e in c.get("identifier", [])) if t]
    arxiv_url = next((i for i in identifiers if parse_arxiv_id(i)), None)
    dois = [d for i in identifiers if i.lower().startswith("doi:") for d in split_dois(i)]
    authors: list[Row] = []
    for creator in c.get("creator", []):
        text = element_text(creator)
        if not text:
            continue
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
    dates = sorted(d for d in (parse_date(element_text(e)) for e in c.get("date", [])) if d)
    rights = [t for t in (element_text(e) for e in c.get("rights", [])) if t]
    return {
        "_id": arxiv_url,
        "title": first_text(c, "title"),
        "abstract": abstract,
        "comments": comment,
        "authors": authors,
        "subjects": [t for t in (element_text(e) for e in c.get("subject", [])) if t] or None,
        "doi": dois[0] if dois else None,
        "dois": dois or None,
        "license_url": rights[0] if rights else None,
        # oai_dc lists one date per version.
        "created": dates[0] if dates else None,
        "updated": dates[-1] if dates else None,
        "latest_version": len(dates) or None,
    }
