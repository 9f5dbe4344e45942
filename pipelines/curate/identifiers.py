"""Normalising identifiers: arXiv ids (old and new style, version split off) and DOIs."""

from __future__ import annotations

import re
from dataclasses import dataclass

# New style (2007-04 on): YYMM.NNNN (to 2014) or YYMM.NNNNN. Old style: archive[.SUBJ]/YYMMNNN.
_NEW_ID = re.compile(r"^(\d{4}\.\d{4,5})(?:v(\d+))?$")
_OLD_ID = re.compile(r"^([a-zA-Z][a-zA-Z\-]*(?:\.[A-Za-z]{2})?/\d{7})(?:v(\d+))?$")
_PREFIXES = (
    "oai:arxiv.org:",
    "https://arxiv.org/abs/",
    "http://arxiv.org/abs/",
    "https://export.arxiv.org/abs/",
    "http://export.arxiv.org/abs/",
    "https://arxiv.org/pdf/",
    "http://arxiv.org/pdf/",
    "arxiv:",
)


@dataclass(frozen=True)
class ArxivId:
    id: str  # without version
    version: int | None

    @property
    def work_id(self) -> str:
        return f"arxiv:{self.id}"


_OAI_PREFIX = "oai:arXiv.org:"


def parse_arxiv_id(value: str) -> ArxivId | None:
    """Parse an arXiv id in any of its usual spellings; None when it is not one."""
    # Fast path for the commonest spellings, a bare new-style id without version (the OAI-PMH <id>) and
    # the OAI identifier of one: the same answer as the general path below, without its prefix loop and
    # regular expressions. (isdecimal() is exactly what \d matches in a str pattern.)
    bare = value[14:] if value.startswith(_OAI_PREFIX) else value
    if (
        (len(bare) == 10 or len(bare) == 9)
        and bare[4] == "."
        and bare[:4].isdecimal()
        and bare[5:].isdecimal()
    ):
        return ArxivId(bare, None)
    text = value.strip()
    lowered = text.lower()
    for prefix in _PREFIXES:
        if lowered.startswith(prefix):
            text = text[len(prefix) :]
            break
    text = text.removesuffix(".pdf")
    m = _NEW_ID.match(text)
    if m:
        return ArxivId(m.group(1), int(m.group(2)) if m.group(2) else None)
    m = _OLD_ID.match(text)
    if m:
        archive, _, number = m.group(1).partition("/")
        # The archive is lower case. A subject class after the dot (math.GT/0309136) is not part of the
        # paper's identity: arXiv's canonical id, and the OAI-PMH <id>, is math/0309136, so keeping the
        # class would give one paper two work_ids.
        head = archive.partition(".")[0]
        return ArxivId(f"{head.lower()}/{number}", int(m.group(2)) if m.group(2) else None)
    return None


_DOI = re.compile(r"10\.\d{4,9}/\S+")
_DOI_PREFIXES = ("https://doi.org/", "http://doi.org/", "https://dx.doi.org/", "http://dx.doi.org/", "doi:")


def normalize_doi(value: str) -> str | None:
    """Lower-case a DOI and strip resolver prefixes; None when the text holds no DOI."""
    text = value.strip()
    lowered = text.lower()
    for prefix in _DOI_PREFIXES:
        if lowered.startswith(prefix):
            text = text[len(prefix) :]
            break
    m = _DOI.search(text)
    if not m:
        return None
    return m.group(0).rstrip(".,;)").lower()


# Between DOIs: whitespace, or a comma or semicolon followed by the next DOI. A semicolon inside a DOI
# (SICI style, 10.1175/1520-0469(1998)055<0001:AOTROE>2.0.CO;2) is not followed by one.
_DOI_SEPARATOR = re.compile(r"\s+|[,;]\s*(?=(?:doi:\s*|https?://(?:dx\.)?doi\.org/)?10\.\d)", re.IGNORECASE)


def split_dois(value: str) -> list[str]:
    """All DOIs in a field that may hold several, separated by commas, semicolons or spaces; in order, unique."""
    seen: dict[str, None] = {}
    for part in _DOI_SEPARATOR.split(value):
        doi = normalize_doi(part)
        if doi:
            seen.setdefault(doi, None)
    return list(seen)


def normalize_title(title: str) -> str:
    """Case-folded, accents kept, punctuation and whitespace runs collapsed: for matching and hashing titles."""
    import unicodedata

    text = unicodedata.normalize("NFKC", title).casefold()
    return " ".join(re.sub(r"[^\w\s]", " ", text).split())


def work_id_for(
    arxiv_id: str | None = None,
    doi: str | None = None,
    title: str | None = None,
    first_author_keyname: str | None = None,
    year: int | None = None,
) -> str | None:
    """The stable key of a work: `arxiv:<id>`, else `doi:<doi>`, else a hash of normalised title, first
    author's surname and year (`hash:<16 hex>`); None when there is not even a title."""
    import hashlib

    if arxiv_id:
        parsed = parse_arxiv_id(arxiv_id)
        if parsed:
            return parsed.work_id
    if doi:
        normalized = normalize_doi(doi)
        if normalized:
            return f"doi:{normalized}"
    if title and normalize_title(title):
        basis = "\n".join(
            [normalize_title(title), normalize_title(first_author_keyname or ""), str(year or "")]
        )
        return "hash:" + hashlib.sha256(basis.encode("utf-8")).hexdigest()[:16]
    return None
