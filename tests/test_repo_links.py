"""Repository links in text: every normalisation and exclusion, offsets that point at the matched text, and
the real abstracts and full texts of the fixtures (where no link may be invented)."""

from __future__ import annotations

import pytest

from pipelines.parse.grobid_tei import parse_tei
from pipelines.parse.repo_links import NonRepository, RepoLink, find_repository_links, readme_citations, scan
from pipelines.sources.base import ParseContext, ParseError
from tests.conftest import fixture_dir


@pytest.mark.parametrize(
    ("text", "repo_id"),
    [
        ("Code: https://github.com/openai/gpt-2.", "github:openai/gpt-2"),
        (
            "see github.com/EleutherAI/lm-evaluation-harness/tree/main/lm_eval (x)",
            "github:eleutherai/lm-evaluation-harness",
        ),
        ("(https://github.com/foo/bar.git)", "github:foo/bar"),
        ("[code](https://github.com/a/b#readme)", "github:a/b"),
        ("https://github.com/a/b?tab=readme-ov-file", "github:a/b"),
        ("https://www.github.com/a/b/blob/main/README.md", "github:a/b"),
        ("\\url{https://github.com/my\\_org/my\\_repo}", "github:my_org/my_repo"),
        ("huggingface.co/meta-llama/Llama-2-7b-hf, more", "hf:meta-llama/llama-2-7b-hf"),
        ("https://huggingface.co/datasets/openai/gsm8k", "hf-datasets:openai/gsm8k"),
        (
            "https://huggingface.co/spaces/HuggingFaceH4/open_llm_leaderboard;",
            "hf-spaces:huggingfaceh4/open_llm_leaderboard",
        ),
        ("https://gitlab.com/group/sub/project/-/blob/main/x.py", "gitlab:group/sub/project"),
    ],
)
def test_normalised_repository_ids(text: str, repo_id: str) -> None:
    [link] = find_repository_links(text)
    assert link.repo_id == repo_id
    assert text[link.start : link.end] == link.matched_text


@pytest.mark.parametrize(
    "text",
    [
        "https://github.com/features/copilot",
        "https://github.com/torvalds",
        "https://github.com/orgs/openai/repositories",
        "gist.github.com/abc/123",
        "https://owner.github.io/project/",
        "https://huggingface.co/bert-base-uncased",
        "https://huggingface.co/docs/transformers/index",
        "https://gitlab.com/user",
        "mygithub.com/a/b",
        "https://github.com",
    ],
)
def test_pages_that_are_not_repositories_give_no_link(text: str) -> None:
    assert find_repository_links(text) == []
    reasons = [r for r in scan(text) if isinstance(r, NonRepository)]
    assert all(r.reason for r in reasons)


def test_readme_citations() -> None:
    arxiv, dois = readme_citations(
        "See arXiv:2401.01234v2, https://arxiv.org/abs/hep-th/9901001, doi 10.1145/1234.5678. "
        "eprint={2305.11111} https://doi.org/10.48550/arXiv.2206.10883"
    )
    assert arxiv == ["2206.10883", "2305.11111", "2401.01234", "hep-th/9901001"]
    assert dois == ["10.1145/1234.5678"]


def test_real_full_texts_links_point_at_their_text() -> None:
    found: list[RepoLink] = []
    for path in sorted(fixture_dir("grobid_tei").iterdir()):
        try:
            rows = list(parse_tei(path.read_bytes(), ParseContext(), path.name, raw_sha256="0" * 64))
        except ParseError:
            continue
        for _table, row in rows:
            text = row.get("text") or row.get("abstract") or row.get("raw") or ""
            for link in find_repository_links(text):
                assert text[link.start : link.end] == link.matched_text
                assert link.repo_id.split(":", 1)[1].count("/") >= 1
                found.append(link)
    # The SPECTER paper (ACL 2020) publishes its code and data on GitHub.
    assert "github:allenai/specter" in {link.repo_id for link in found}
