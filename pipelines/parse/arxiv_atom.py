"""arXiv API Atom feeds (``export.arxiv.org/api/query``) to ``papers`` rows."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

from lxml import etree

from pipelines.curate.identifiers import parse_arxiv_id, split_dois
from pipelines.parse.arxiv_oai import split_display_name
from pipelines.parse.xml_util import (
    children_by_name,
    describe_xml_error,
    element_text,
    first_text,
    localname,
    parse_timestamp,
    release,
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
            parent = elem.getparent()
            if localname(elem) == "updated":
                # The feed's own <updated> (not an entry's) is when the API produced this response.
                if parent is not None and localname(parent) == "feed":
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


def _entry_row(entry: Any, where: str) -> Row | None:
    c = children_by_name(entry)
    entry_id = first_text(c, "id") or ""
    if "/api/errors" in entry_id:
        raise ParseError(f"{where}: arXiv API error: {first_text(c, 'summary') or entry_id}")
    ident = parse_arxiv_id(entry_id)
    if ident is None:
        return None
    authors = []
    for author in c.get("author", []):
        a = children_by_name(author)
        name = first_text(a, "name")
        if not name:
            continue
        affiliations = [t for t in (element_text(e) for e in a.get("affiliation", [])) if t]
        authors.append(split_display_name(name, affiliations))
    categories = [e.get("term") for e in c.get("category", []) if e.get("term")]
    primary = next((e.get("term") for e in c.get("primary_category", [])), None)
    if primary and primary in categories:
        categories.remove(primary)
    if primary:
        categories.insert(0, primary)
    published = parse_timestamp(first_text(c, "published"))
    updated = parse_timestamp(first_text(c, "updated"))
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
    doi_text = first_text(c, "doi")
    dois = split_dois(doi_text) if doi_text else []
    return {
        "work_id": ident.work_id,
        "arxiv_id": ident.id,
        "arxiv_versions": versions,
        "latest_version": latest,
        "title": first_text(c, "title"),
        "abstract": first_text(c, "summary"),
        "authors": authors,
        "categories": categories or None,
        "primary_category": primary,
        "comments": first_text(c, "comment"),
        "journal_ref": first_text(c, "journal_ref"),
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
