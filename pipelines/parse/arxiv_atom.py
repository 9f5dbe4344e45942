"""arXiv API Atom feeds (``export.arxiv.org/api/query``) to ``papers`` rows."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

from lxml import etree

from pipelines.curate.identifiers import parse_arxiv_id, split_dois
from pipelines.parse.arxiv_oai import split_display_name
from pipelines.parse.xml_util import (
    LOCALNAMES,
    describe_xml_error,
    element_text,
    parse_timestamp,
    release,
    tag_localname,
)
from pipelines.sources.base import ParseContext, ParseError, Row

PARSER_NAME = "arxiv_atom"
PARSER_VERSION = "1.1.0"

_ATOM_TAGS = ("{http://www.w3.org/2005/Atom}entry", "{http://www.w3.org/2005/Atom}updated")


def parse_atom_feed(data: bytes, ctx: ParseContext, where: str) -> Iterator[Row]:
    """Stream ``papers`` rows from one arXiv API response. An API error entry raises ``ParseError``."""
    if not data.strip():
        raise ParseError(f"{where}: empty document")
    records = 0
    parser = etree.iterparse(
        io.BytesIO(data),
        events=("end",),
        tag=_ATOM_TAGS,
        huge_tree=True,
        resolve_entities=False,
        no_network=True,
    )
    try:
        for _, elem in parser:
            if tag_localname(elem.tag) == "updated":
                # The feed's own <updated> (not an entry's) is when the API produced this response.
                parent = elem.getparent()
                if parent is not None and tag_localname(parent.tag) == "feed":
                    ctx.retrieved_at = parse_timestamp(elem.text)
                continue
            row = _entry_row(elem, where)
            release(elem)
            if row is not None:
                records += 1
                yield row
    except etree.XMLSyntaxError as exc:
        raise ParseError(f"{where}: {describe_xml_error(exc)} (after {records} entries)") from exc
    if records == 0:
        ctx.empty = True


# Entry fields read as text: of each, the first element counts.
_ENTRY_TEXTS = frozenset(("id", "summary", "published", "updated", "doi", "title", "comment", "journal_ref"))


def _entry_row(entry: Any, where: str) -> Row | None:
    # One pass over the entry's children (see arxiv_oai: the first element of a name counts, lists keep all).
    names = LOCALNAMES
    c: dict[str, str | None] = {}
    author_els = []
    category_els = []
    primary_el = None
    for child in entry:
        tag = child.tag
        name = names.get(tag)
        if name is None:
            name = tag_localname(tag)
        if name in _ENTRY_TEXTS:
            if name not in c:
                c[name] = element_text(child)
        elif name == "author":
            author_els.append(child)
        elif name == "category":
            category_els.append(child)
        elif name == "primary_category" and primary_el is None:
            primary_el = child
    entry_id = c.get("id") or ""
    if "/api/errors" in entry_id:
        raise ParseError(f"{where}: arXiv API error: {c.get('summary') or entry_id}")
    ident = parse_arxiv_id(entry_id)
    if ident is None:
        return None
    authors = []
    for author in author_els:
        name_el = None
        affiliations = []
        for part in author:
            tag = part.tag
            name = names.get(tag)
            if name is None:
                name = tag_localname(tag)
            if name == "name":
                if name_el is None:
                    name_el = part
            elif name == "affiliation":
                affiliation = element_text(part)
                if affiliation:
                    affiliations.append(affiliation)
        display = element_text(name_el)
        if not display:
            continue
        authors.append(split_display_name(display, affiliations))
    categories = [e.get("term") for e in category_els if e.get("term")]
    primary = primary_el.get("term") if primary_el is not None else None
    if primary and primary in categories:
        categories.remove(primary)
    if primary:
        categories.insert(0, primary)
    published = parse_timestamp(c.get("published"))
    updated = parse_timestamp(c.get("updated"))
    latest = ident.version
    versions = None
    if latest:
        # The API names only the latest version: v1 was submitted at `published`, the latest at `updated`.
        versions = [
            {
                "version": f"v{n}",
                "submitted": published if n == 1 else (updated if n == latest else None),
                "size": None,
            }
            for n in range(1, latest + 1)
        ]
    doi_text = c.get("doi")
    dois = split_dois(doi_text) if doi_text else []
    return {
        "work_id": ident.work_id,
        "arxiv_id": ident.id,
        "arxiv_versions": versions,
        "latest_version": latest,
        "title": c.get("title"),
        "abstract": c.get("summary"),
        "authors": authors,
        "categories": categories or None,
        "primary_category": primary,
        "comments": c.get("comment"),
        "journal_ref": c.get("journal_ref"),
        "doi": dois[0] if dois else None,
        "dois": dois or None,
        "created": published.date() if published else None,
        "updated": updated.date() if updated else None,
        "metadata_format": "atom",
        "work_type": "preprint",
        "metadata_license": "CC0-1.0",
        # The API does not state the paper's license; OAI-PMH does.
        "license": "unknown",
        "license_source": "absent from arXiv API Atom entry",
        "text_redistributable": False,
        "source_record_id": entry_id,
        "source_url": f"https://arxiv.org/abs/{ident.id}",
    }
