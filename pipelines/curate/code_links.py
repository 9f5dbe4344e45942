"""Paper → repository links from the curated papers' text, and which of them are the paper's official code.

**Links.** Every curated paper's `abstract` and `comments`, its full text (`paper_texts`, footnotes
included, one field per paragraph: `paper_texts:<paragraph_id>`) and its bibliography entries
(`references:<reference_id>`, the entry as printed) are scanned by ``find_repository_links``. A paper gets
one `code` link per repository; where it names the repository several times the first mention is kept,
in the order abstract, comments, full text, references, then by offset. The evidence is that mention's
field, offsets and text. Confidence: 1.0 for a URL in the abstract or the authors' comments (the authors
point at it), 0.9 in the full text, 0.8 in the references (a cited repository is often someone else's).
Provenance is that of the row the mention was found in, with this step as the parser.

**Role.** A link is `official` when the repository points back at the paper — its README or description
cites the paper's arXiv id or one of its DOIs, or contains the paper's title (normalised, at least four
words, so short generic titles cannot match by accident) — or when the repository's owner is one of the
paper's authors (the owner login equals an author's full name with spaces, dots and hyphens removed,
lower-cased, at least 6 characters: conservative, it misses owners with other logins); `mentioned`
otherwise, including repositories not crawled yet. The rule runs in DuckDB over the curated tables.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from pipelines.curate.combine import files_sql
from pipelines.parse.repo_links import PARSER_VERSION as LINKS_PARSER_VERSION
from pipelines.parse.repo_links import find_repository_links

PARSER_NAME = "repo_links"
PARSER_VERSION = LINKS_PARSER_VERSION
_FIELD_RANK = {"abstract": 0, "comments": 1, "paper_texts": 2, "references": 3}
_CONFIDENCE = {"abstract": 1.0, "comments": 1.0, "paper_texts": 0.9, "references": 0.8}
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


def _texts(
    papers: Sequence[Path], texts: Sequence[Path], references: Sequence[Path]
) -> Iterator[tuple[str, str, str, str, dict[str, Any]]]:
    """(work_id, field kind, field name, text, provenance) of every field that can name a repository."""
    for path in papers:
        for batch in pq.ParquetFile(path).iter_batches(
            columns=["work_id", "abstract", "comments", *_PROVENANCE]
        ):
            for row in batch.to_pylist():
                for kind in ("abstract", "comments"):
                    if row[kind]:
                        yield row["work_id"], kind, kind, row[kind], row
    for path in texts:
        for batch in pq.ParquetFile(path).iter_batches(
            columns=["work_id", "paragraph_id", "text", *_PROVENANCE]
        ):
            for row in batch.to_pylist():
                if row["text"]:
                    yield (
                        row["work_id"],
                        "paper_texts",
                        f"paper_texts:{row['paragraph_id']}",
                        row["text"],
                        row,
                    )
    for path in references:
        for batch in pq.ParquetFile(path).iter_batches(
            columns=["work_id", "reference_id", "raw", *_PROVENANCE]
        ):
            for row in batch.to_pylist():
                if row["raw"]:
                    yield row["work_id"], "references", f"references:{row['reference_id']}", row["raw"], row


def code_links_from_papers(
    papers: Sequence[Path], texts: Sequence[Path], references: Sequence[Path]
) -> Iterator[dict[str, Any]]:
    """One `links` row per (paper, repository): its first mention, by the order in the module docstring."""
    best: dict[tuple[str, str], tuple[tuple[int, str, int], dict[str, Any]]] = {}
    for work_id, kind, field, text, prov in _texts(papers, texts, references):
        if "github" not in text and "gitlab" not in text and "huggingface" not in text:
            continue  # most fields name no code host: skip the regular expression
        for link in find_repository_links(text):
            rank = (_FIELD_RANK[kind], field, link.start)
            key = (work_id, link.repo_id)
            if key in best and best[key][0] <= rank:
                continue
            best[key] = (
                rank,
                {
                    "src_id": work_id,
                    "dst_id": link.repo_id,
                    "link_type": "code",
                    "evidence": field,
                    "evidence_text": link.matched_text,
                    "evidence_start": link.start,
                    "evidence_end": link.end,
                    "confidence": _CONFIDENCE[kind],
                    "role": None,
                    **{c: prov[c] for c in _PROVENANCE},
                    "parser": PARSER_NAME,
                    "parser_version": PARSER_VERSION,
                },
            )
    for key in sorted(best):
        yield best[key][1]


def linked_repositories(links: Sequence[Path]) -> list[str]:
    """The distinct repositories the code links point at (what a crawl should fetch)."""
    repos: set[str] = set()
    for path in links:
        for batch in pq.ParquetFile(path).iter_batches(columns=["dst_id", "link_type"]):
            for dst, kind in zip(
                batch.column("dst_id").to_pylist(), batch.column("link_type").to_pylist(), strict=True
            ):
                if kind == "code":
                    repos.add(dst)
    return sorted(repos)


def official_role_sql(code_links: Path, repositories: Path, papers: Path) -> str:
    """The code links with `role` set: `official` or `mentioned` (see the module docstring)."""
    return f"""
        WITH links AS (SELECT * FROM read_parquet({files_sql([code_links])})),
        repos AS (
            SELECT repo_id, owner, cited_arxiv_ids, cited_dois,
                lower(regexp_replace(coalesce(description, '') || ' ' || coalesce(readme_text, ''), '\\s+', ' ', 'g')) AS text
            FROM read_parquet({files_sql([repositories])})
        ),
        papers AS (
            SELECT work_id, arxiv_id, list_distinct(list_filter(list_append(coalesce(dois, []), doi), lambda d: d IS NOT NULL)) AS dois,
                lower(regexp_replace(trim(coalesce(title, '')), '\\s+', ' ', 'g')) AS title,
                list_transform(coalesce(authors, []), lambda a: lower(regexp_replace(coalesce(a.name, ''), '[\\s.\\-]', '', 'g'))) AS author_keys
            FROM read_parquet({files_sql([papers])})
        ),
        judged AS (
            SELECT l.src_id, l.dst_id, l.link_type,
                bool_or(
                    (p.arxiv_id IS NOT NULL AND list_contains(coalesce(r.cited_arxiv_ids, []), p.arxiv_id))
                    OR len(list_intersect(coalesce(r.cited_dois, []), coalesce(p.dois, []))) > 0
                    OR (len(string_split(p.title, ' ')) >= 4 AND length(p.title) >= 20 AND contains(r.text, p.title))
                    OR (length(r.owner) >= 6 AND list_contains(p.author_keys, lower(r.owner)))
                ) AS official
            FROM links l
            LEFT JOIN repos r ON r.repo_id = l.dst_id
            LEFT JOIN papers p ON p.work_id = l.src_id
            GROUP BY ALL
        )
        SELECT l.* REPLACE (CASE WHEN coalesce(j.official, false) THEN 'official' ELSE 'mentioned' END AS role)
        FROM links l JOIN judged j USING (src_id, dst_id, link_type)
    """
