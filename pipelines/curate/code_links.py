"""Paper → repository links from the curated papers' text, and which of them are the paper's official code.

**Links** (``code_links_from_papers``). Reads the curated `papers` (`abstract`, `comments`), `paper_texts`
(every paragraph, footnotes and captions included as the TEI parser writes them) and `references` (the
entry as printed, `raw`) Parquet files batch by batch (pyarrow ``iter_batches``: memory holds one batch of
text and the links found so far, not the texts), and scans each field with
``pipelines.parse.repo_links.scan``. A paper gets one `code` link per repository (the `links` key is
`(src_id, dst_id, link_type)`); where it names the repository several times, the first mention is kept in
this order: abstract, comments, full text (by section, then paragraph), references (by position), then
by offset in the field. The link's evidence is that mention: ``evidence`` names the field (`abstract`,
`comments`, `paper_texts:<paragraph_id>`, `references:<reference_id>`), ``evidence_text`` is the URL as
written and ``evidence_start``/``evidence_end`` are character offsets into that field's text.

Confidence: 1.0 in the abstract or the authors' comments (the authors point at it), 0.9 in the full text,
0.8 in the references (a cited repository is often someone else's); 0.2 less for a URL joined across a
line wrap (``RepoLink.repaired``). Provenance is that of the row the mention was found in, with this step
as the parser (`repo_links`, ``PARSER_VERSION``). `role` is null until ``official_role_sql`` sets it.

URLs on a code host that name no repository (user pages, GitHub's feature pages, gists, Pages sites,
Hugging Face ids without an owner) give no link; a caller passing a ``Counter`` as ``not_repositories``
gets them counted by kind.

**Role** (``official_role_sql``, DuckDB over the Parquet files, as the other curation steps). A link is
`official` when the repository points back at the paper or the paper's authors own it:

1. `arxiv_id`: the repository's ``cited_arxiv_ids`` (from its README and description) holds the paper's
   arXiv id;
2. `doi`: its ``cited_dois`` share a DOI with the paper's `doi`/`dois`;
3. `title`: its description or README text contains the paper's title, both normalised the same way
   (lower-cased, accents stripped, every run of characters other than letters, digits and `_` made one
   space: ``normalize_title``'s rule, in SQL) and the title at least 4 words and 20 characters, so a
   short generic title cannot match by accident. Only READMEs the license lets us keep (`readme_text`)
   can match; the arXiv-id and DOI rules see every README;
4. `owner`: the repository's owner (from the link's `repo_id`, and the crawled owner) is an author's full
   name written as one login: lower-cased, accents stripped, spaces, dots, hyphens and apostrophes removed,
   in either order (`Arman Cohan` → `armancohan`; `Cohan Arman` too), at least 6 characters. Conservative:
   it misses every owner with another login (`ydecastro` for Yohann De Castro), organisations and
   labs, and could in principle match a namesake.

A repository that moved (`status = moved`) is judged by its own row and by the row of the repository it
moved to. Otherwise `mentioned`, including every repository not crawled yet (rules 1 to 3 need its
README). ``with_reason=True`` adds a `role_reason` column (the first rule that held, in the order above)
for inspection; the `links` table has no column for it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.curate.combine import files_sql
from pipelines.parse.repo_links import PARSER_NAME as LINKS_PARSER_NAME
from pipelines.parse.repo_links import PARSER_VERSION as LINKS_PARSER_VERSION
from pipelines.parse.repo_links import NonRepository, RepoLink, scan
from schemas.links import LINKS_SCHEMA

PARSER_NAME = LINKS_PARSER_NAME
PARSER_VERSION = LINKS_PARSER_VERSION
FIELD_ORDER = ("abstract", "comments", "paper_texts", "references")
CONFIDENCE = {"abstract": 1.0, "comments": 1.0, "paper_texts": 0.9, "references": 0.8}
REPAIRED_PENALTY = 0.2
BATCH_ROWS = 4096
_PROVENANCE = (
    "source",
    "source_record_id",
    "source_url",
    "retrieved_at",
    "raw_sha256",
    "pipeline_version",
    "license",
    "license_source",
)


@dataclass(frozen=True)
class _Field:
    """One text field of a curated row, with what orders its mentions and where its provenance is."""

    work_id: str
    kind: str  # one of FIELD_ORDER
    name: str  # the `evidence` value
    position: tuple[int, int]  # (section, paragraph) in the full text, (entry, 0) in references
    text: str
    batch: pa.RecordBatch
    row: int

    def provenance(self) -> dict[str, Any]:
        return {c: self.batch.column(c)[self.row].as_py() for c in _PROVENANCE}


def _column(batch: pa.RecordBatch, name: str) -> list[Any]:
    return batch.column(name).to_pylist()


def _fields(papers: Sequence[Path], texts: Sequence[Path], references: Sequence[Path]) -> Iterator[_Field]:
    """Every field of the curated tables that can name a repository, batch by batch."""
    for path in papers:
        for batch in pq.ParquetFile(path).iter_batches(
            BATCH_ROWS, columns=["work_id", "abstract", "comments", *_PROVENANCE]
        ):
            work_ids = _column(batch, "work_id")
            for kind in ("abstract", "comments"):
                for i, text in enumerate(_column(batch, kind)):
                    if text:
                        yield _Field(work_ids[i], kind, kind, (0, 0), text, batch, i)
    for path in texts:
        for batch in pq.ParquetFile(path).iter_batches(
            BATCH_ROWS,
            columns=["work_id", "section_index", "paragraph_index", "paragraph_id", "text", *_PROVENANCE],
        ):
            work_ids, sections = _column(batch, "work_id"), _column(batch, "section_index")
            paragraphs, ids = _column(batch, "paragraph_index"), _column(batch, "paragraph_id")
            for i, text in enumerate(_column(batch, "text")):
                if text:
                    position = (sections[i], paragraphs[i])
                    yield _Field(
                        work_ids[i], "paper_texts", f"paper_texts:{ids[i]}", position, text, batch, i
                    )
    for path in references:
        for batch in pq.ParquetFile(path).iter_batches(
            BATCH_ROWS, columns=["work_id", "reference_index", "reference_id", "raw", *_PROVENANCE]
        ):
            work_ids, indexes = _column(batch, "work_id"), _column(batch, "reference_index")
            ids = _column(batch, "reference_id")
            for i, text in enumerate(_column(batch, "raw")):
                if text:
                    name = f"references:{ids[i]}"
                    yield _Field(work_ids[i], "references", name, (indexes[i], 0), text, batch, i)


def _link_row(field: _Field, link: RepoLink) -> dict[str, Any]:
    confidence = CONFIDENCE[field.kind] - (REPAIRED_PENALTY if link.repaired else 0.0)
    row = {
        "src_id": field.work_id,
        "dst_id": link.repo_id,
        "link_type": "code",
        "evidence": field.name,
        "evidence_text": link.matched_text,
        "evidence_start": link.start,
        "evidence_end": link.end,
        "confidence": round(confidence, 2),
        "role": None,
        **field.provenance(),
        "parser": PARSER_NAME,
        "parser_version": PARSER_VERSION,
    }
    return {column: row[column] for column in LINKS_SCHEMA.names}


def code_links_from_papers(
    papers: Sequence[Path],
    texts: Sequence[Path],
    references: Sequence[Path],
    not_repositories: Counter[str] | None = None,
) -> Iterator[dict[str, Any]]:
    """One `links` row per (paper, repository): its first mention, by the order in the module docstring;
    sorted by (src_id, dst_id). ``not_repositories``, when given, counts code-host URLs that are no
    repository, by ``NonRepository.kind``."""
    first: dict[tuple[str, str], tuple[tuple[int, int, int, int, str], dict[str, Any]]] = {}
    for field in _fields(papers, texts, references):
        for found in scan(field.text):
            if isinstance(found, NonRepository):
                if not_repositories is not None:
                    not_repositories[found.kind] += 1
                continue
            rank = (FIELD_ORDER.index(field.kind), *field.position, found.start, field.name)
            key = (field.work_id, found.repo_id)
            if key not in first or rank < first[key][0]:
                first[key] = (rank, _link_row(field, found))
    for key in sorted(first):
        yield first[key][1]


def linked_repositories(links: Sequence[Path]) -> list[str]:
    """The distinct repositories the `code` links in ``links`` point at, sorted: what a crawl should fetch."""
    repos: set[str] = set()
    for path in links:
        for batch in pq.ParquetFile(path).iter_batches(BATCH_ROWS, columns=["dst_id", "link_type"]):
            for dst, kind in zip(_column(batch, "dst_id"), _column(batch, "link_type"), strict=True):
                if kind == "code":
                    repos.add(dst)
    return sorted(repos)


def _normalised_sql(expression: str) -> str:
    """SQL for ``normalize_title``'s rule (and accents stripped), so titles and READMEs compare alike."""
    return (
        f"trim(regexp_replace(lower(strip_accents(nfc_normalize(coalesce({expression}, '')))), "
        r"'[^\p{L}\p{N}_]+', ' ', 'g'))"
    )


def _login_sql(expression: str) -> str:
    """SQL for a name written as a login: lower-cased, accents stripped, only letters and digits kept."""
    return f"regexp_replace(lower(strip_accents(coalesce({expression}, ''))), '[^a-z0-9]', '', 'g')"


def _paths(paths: Path | Sequence[Path]) -> str:
    return files_sql([paths] if isinstance(paths, Path) else list(paths))


def official_role_sql(
    code_links: Path | Sequence[Path],
    repositories: Path | Sequence[Path],
    papers: Path | Sequence[Path],
    with_reason: bool = False,
) -> str:
    """The code links with `role` set to `official` or `mentioned` (rules in the module docstring)."""
    reason_column = ", j.reason AS role_reason" if with_reason else ""
    return f"""
        WITH links AS (SELECT * FROM read_parquet({_paths(code_links)})),
        repos AS (
            SELECT repo_id, owner, status, moved_to,
                coalesce(cited_arxiv_ids, []) AS cited_arxiv_ids,
                coalesce(cited_dois, []) AS cited_dois,
                ' ' || {_normalised_sql("coalesce(description, '') || ' ' || coalesce(readme_text, '')")} || ' ' AS text
            FROM read_parquet({_paths(repositories)})
            WHERE repo_id IN (SELECT dst_id FROM links)
                OR repo_id IN (
                    SELECT moved_to FROM read_parquet({_paths(repositories)})
                    WHERE repo_id IN (SELECT dst_id FROM links)
                )
        ),
        papers AS (
            SELECT work_id, arxiv_id,
                list_filter(list_append(coalesce(dois, []), doi), lambda d: d IS NOT NULL) AS dois,
                {_normalised_sql("title")} AS title,
                list_concat(
                    list_transform(coalesce(authors, []), lambda a: {_login_sql("a.name")}),
                    list_transform(coalesce(authors, []), lambda a: {_login_sql("a.keyname || a.forenames")})
                ) AS author_logins
            FROM read_parquet({_paths(papers)})
            WHERE work_id IN (SELECT src_id FROM links)
        ),
        -- each link with the repository rows that speak for it: its own, and the one it moved to
        pairs AS (
            SELECT l.src_id, l.dst_id, l.link_type, r.*
            FROM links l LEFT JOIN repos r ON r.repo_id = l.dst_id
            UNION ALL
            SELECT l.src_id, l.dst_id, l.link_type, m.*
            FROM links l JOIN repos r ON r.repo_id = l.dst_id AND r.status = 'moved'
            JOIN repos m ON m.repo_id = r.moved_to
        ),
        judged AS (
            SELECT pr.src_id, pr.dst_id, pr.link_type,
                CASE
                    WHEN bool_or(p.arxiv_id IS NOT NULL AND list_contains(pr.cited_arxiv_ids, p.arxiv_id))
                        THEN 'arxiv_id'
                    WHEN bool_or(len(list_intersect(pr.cited_dois, p.dois)) > 0) THEN 'doi'
                    WHEN bool_or(
                        length(p.title) >= 20 AND len(string_split(p.title, ' ')) >= 4
                        AND contains(pr.text, ' ' || p.title || ' ')
                    ) THEN 'title'
                    WHEN bool_or(
                        list_has_any(
                            list_filter(p.author_logins, lambda k: length(k) >= 6),
                            [
                                {_login_sql("string_split(split_part(pr.dst_id, ':', 2), '/')[1]")},
                                {_login_sql("pr.owner")}
                            ]
                        )
                    ) THEN 'owner'
                END AS reason
            FROM pairs pr LEFT JOIN papers p ON p.work_id = pr.src_id
            GROUP BY ALL
        )
        SELECT l.* REPLACE (CASE WHEN j.reason IS NULL THEN 'mentioned' ELSE 'official' END AS role){reason_column}
        FROM links l LEFT JOIN judged j USING (src_id, dst_id, link_type)
    """
