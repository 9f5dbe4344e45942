"""``repositories``: code repositories (GitHub, GitLab, Hugging Face) linked from papers, with their metadata."""

from __future__ import annotations

import pyarrow as pa

from schemas.columns import PROVENANCE_FIELDS, TIMESTAMP, col

LANGUAGE = pa.struct([pa.field("language", pa.string()), pa.field("bytes", pa.int64())])

REPOSITORIES_SCHEMA = pa.schema(
    [
        col(
            "repo_id",
            pa.string(),
            "Key: `github:<owner>/<name>` (lower-cased, as links name it), `gitlab:<group>/<name>`, "
            "`hf:<owner>/<name>` (model), `hf-datasets:<owner>/<name>`, `hf-spaces:<owner>/<name>`.",
            False,
        ),
        col("host", pa.string(), "`github`, `gitlab` or `huggingface`.", False),
        col("owner", pa.string(), "Owner (user or organisation) as the link names it.", False),
        col("name", pa.string(), "Repository name as the link names it.", False),
        col(
            "full_name",
            pa.string(),
            "`owner/name` as the host spells it now (after a rename or transfer, the new one).",
        ),
        col(
            "status",
            pa.string(),
            "`ok`, `moved` (renamed or transferred: see `moved_to`), `not_found` (404: deleted or private), "
            "`blocked` (451), `error` (the crawl failed: see `error`), or `not_crawled` (linked, not yet fetched).",
            False,
        ),
        col("http_status", pa.int32(), "HTTP status of the repository request that decided `status`."),
        col("error", pa.string(), "What went wrong, for `error`, `not_found` and `blocked` rows."),
        col("moved_to", pa.string(), "The `repo_id` a moved repository answers at now."),
        col(
            "host_id",
            pa.int64(),
            "The host's numeric id of the repository (GitHub `id`), stable across renames.",
        ),
        col("description", pa.string(), "Description, as the owner wrote it."),
        col("homepage", pa.string(), "Homepage URL, where set."),
        col(
            "license_spdx",
            pa.string(),
            "SPDX id of the repository's license as the host detects it; `NOASSERTION` when the host found a "
            "license file it could not identify; null when there is none.",
        ),
        col("topics", pa.list_(pa.string()), "Topics (tags) of the repository."),
        col("languages", pa.list_(LANGUAGE), "Languages with bytes of code, largest first."),
        col("stars", pa.int64(), "Stargazers at crawl time."),
        col("forks", pa.int64(), "Forks at crawl time."),
        col("open_issues", pa.int64(), "Open issues and pull requests at crawl time."),
        col("archived", pa.bool_(), "Whether the repository is archived (read-only)."),
        col("is_fork", pa.bool_(), "Whether the repository is a fork."),
        col("fork_parent", pa.string(), "`repo_id` of the repository it was forked from, for forks."),
        col("created_at", TIMESTAMP, "When the repository was created."),
        col("pushed_at", TIMESTAMP, "Last push to any branch."),
        col("default_branch", pa.string(), "Default branch name."),
        col("head_commit", pa.string(), "SHA of the default branch's head commit at crawl time."),
        col("head_commit_at", TIMESTAMP, "Commit date of that head commit."),
        col("latest_release_tag", pa.string(), "Tag of the latest release, where there is one."),
        col("latest_release_name", pa.string(), "Name of the latest release."),
        col("latest_release_at", TIMESTAMP, "When the latest release was published."),
        col("readme_path", pa.string(), "Path of the README in the repository."),
        col(
            "readme_text",
            pa.string(),
            "README text; only where the repository's license allows redistributing it (`text_redistributable`), "
            "else null (see `readme_sha256`).",
        ),
        col("readme_sha256", pa.string(), "SHA-256 of the README bytes, where there is one."),
        col("readme_chars", pa.int64(), "Length of the README text in characters."),
        col(
            "cited_arxiv_ids",
            pa.list_(pa.string()),
            "arXiv ids (no version) the README or description cites: what marks a paper's link to it `official`.",
        ),
        col(
            "cited_dois",
            pa.list_(pa.string()),
            "DOIs the README or description cites, normalised like `papers.doi`.",
        ),
        col(
            "text_redistributable",
            pa.bool_(),
            "Whether the repository's license lets the README be redistributed (a permissive or CC-BY/CC0 license).",
            False,
        ),
        col(
            "etag",
            pa.string(),
            "ETag of the repository response; a re-crawl sends it and a 304 costs no quota.",
        ),
        *PROVENANCE_FIELDS,
    ]
)
