"""Repository links in text (``pipelines.parse.repo_links``): every normalisation and exclusion on constructed
text, then the real texts of the fixtures read by path from ../shared/fixtures: arXiv abstracts and comments,
OpenAlex and Semantic Scholar abstracts, GROBID full texts (footnotes included) and the README of
github3.py, with the exact links found (offsets point at the matched text) and none where there is none."""

from __future__ import annotations

import base64
import json

import pytest

from pipelines.parse.grobid_tei import parse_tei
from pipelines.parse.repo_links import (
    NonRepository,
    RepoLink,
    find_repository_links,
    readme_citations,
    scan,
)
from pipelines.sources.base import ParseContext, ParseError, RawDocument
from pipelines.sources.registry import get_source
from tests.conftest import fixture_dir


@pytest.mark.parametrize(
    ("text", "repo_id", "matched"),
    [
        ("Code: https://github.com/openai/gpt-2.", "github:openai/gpt-2", "https://github.com/openai/gpt-2"),
        ("(http://github.com/Foo/Bar)", "github:foo/bar", "http://github.com/Foo/Bar"),
        ("bare github.com/a/b; next", "github:a/b", "github.com/a/b"),
        ("at www.github.com/a/b: see", "github:a/b", "www.github.com/a/b"),
        ("GitHub.com/Foo/Bar]", "github:foo/bar", "GitHub.com/Foo/Bar"),
        ("'https://github.com/a/b'", "github:a/b", "https://github.com/a/b"),
        ('"https://github.com/a/b".', "github:a/b", "https://github.com/a/b"),
        ("(https://github.com/foo/bar.git)", "github:foo/bar", "https://github.com/foo/bar.git"),
        ("https://github.com/foo/bar.GIT", "github:foo/bar", "https://github.com/foo/bar.GIT"),
        (
            "see github.com/EleutherAI/lm-evaluation-harness/tree/main/lm_eval (x)",
            "github:eleutherai/lm-evaluation-harness",
            "github.com/EleutherAI/lm-evaluation-harness/tree/main/lm_eval",
        ),
        (
            "https://github.com/a/b/blob/main/README.md.",
            "github:a/b",
            "https://github.com/a/b/blob/main/README.md",
        ),
        ("[code](https://github.com/a/b#readme)", "github:a/b", "https://github.com/a/b#readme"),
        (
            "https://github.com/a/b?tab=readme-ov-file!",
            "github:a/b",
            "https://github.com/a/b?tab=readme-ov-file",
        ),
        ("https://github.com/a/b/", "github:a/b", "https://github.com/a/b/"),
        ("github.com/a/.github", "github:a/.github", "github.com/a/.github"),
        (
            "https://raw.githubusercontent.com/a/b/main/x.png",
            "github:a/b",
            "https://raw.githubusercontent.com/a/b/main/x.png",
        ),
        # TeX: escaped underscores are underscores; \url{} and \href{}{} end at their brace; a command ends it
        (
            r"\url{https://github.com/my\_org/my\_repo}",
            "github:my_org/my_repo",
            r"https://github.com/my\_org/my\_repo",
        ),
        (r"\href{https://github.com/a/b}{our code}", "github:a/b", "https://github.com/a/b"),
        (r"github.com/a/b\footnote{x}", "github:a/b", "github.com/a/b"),
        # Hugging Face: models, datasets, Spaces; hf.co is the same host
        (
            "huggingface.co/meta-llama/Llama-2-7b-hf, more",
            "hf:meta-llama/llama-2-7b-hf",
            "huggingface.co/meta-llama/Llama-2-7b-hf",
        ),
        (
            "https://huggingface.co/openai/whisper-large-v3/tree/main",
            "hf:openai/whisper-large-v3",
            "https://huggingface.co/openai/whisper-large-v3/tree/main",
        ),
        (
            "https://huggingface.co/datasets/openai/gsm8k.",
            "hf-datasets:openai/gsm8k",
            "https://huggingface.co/datasets/openai/gsm8k",
        ),
        (
            "https://hf.co/spaces/HuggingFaceH4/open_llm_leaderboard;",
            "hf-spaces:huggingfaceh4/open_llm_leaderboard",
            "https://hf.co/spaces/HuggingFaceH4/open_llm_leaderboard",
        ),
        # GitLab: nested groups kept, cut at /-/ and at the older routes without it
        (
            "https://gitlab.com/group/sub/project/-/blob/main/x.py",
            "gitlab:group/sub/project",
            "https://gitlab.com/group/sub/project/-/blob/main/x.py",
        ),
        (
            "gitlab.com/Group/Project/tree/master)",
            "gitlab:group/project",
            "gitlab.com/Group/Project/tree/master",
        ),
        ("https://gitlab.com/a/b.git", "gitlab:a/b", "https://gitlab.com/a/b.git"),
        # A footnote marker glued to the name cannot be told from a name ending in digits: kept (see docstring)
        ("x github.com/allenai/specter11 y", "github:allenai/specter11", "github.com/allenai/specter11"),
        ("github.com/openai/gpt-2.", "github:openai/gpt-2", "github.com/openai/gpt-2"),
    ],
)
def test_normalised_repository_ids(text: str, repo_id: str, matched: str) -> None:
    [link] = find_repository_links(text)
    assert (link.repo_id, link.matched_text) == (repo_id, matched)
    assert text[link.start : link.end] == link.matched_text
    assert not link.repaired


def test_link_parts_keep_the_case_as_written() -> None:
    [link] = find_repository_links("See https://hf.co/datasets/OpenAI/GSM8K/viewer.")
    assert link == RepoLink(
        repo_id="hf-datasets:openai/gsm8k",
        host="huggingface",
        owner="OpenAI",
        name="GSM8K",
        url="https://huggingface.co/datasets/OpenAI/GSM8K",
        matched_text="https://hf.co/datasets/OpenAI/GSM8K/viewer",
        start=4,
        end=46,
    )
    [gitlab] = find_repository_links("gitlab.com/a/b/c/-/tree/main")
    assert (gitlab.host, gitlab.owner, gitlab.name, gitlab.url) == (
        "gitlab",
        "a/b",
        "c",
        "https://gitlab.com/a/b/c",
    )


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("https://github.com/features/copilot", "site_page"),
        ("https://github.com/topics/llm", "site_page"),
        ("https://github.com/marketplace/actions/x", "site_page"),
        ("https://github.com/orgs/openai/repositories", "site_page"),
        ("https://github.com/sponsors/someone", "site_page"),
        ("https://github.com/settings/tokens", "site_page"),
        ("https://github.com/about", "site_page"),
        ("https://github.com/pricing", "site_page"),
        ("https://github.com/collections/machine-learning", "site_page"),
        ("https://github.com/trending/python", "site_page"),
        ("https://github.com/login?return_to=x", "site_page"),
        ("https://github.com/join", "site_page"),
        ("https://github.com/site/terms", "site_page"),
        ("https://github.com/security/advisories", "site_page"),
        ("https://github.com/enterprise", "site_page"),
        ("https://github.com/apps/dependabot", "site_page"),
        ("https://github.com/users/someone/projects/1", "site_page"),
        ("https://github.com/torvalds", "user_page"),
        ("https://github.com/torvalds/", "user_page"),
        ("https://github.com/torvalds?tab=repositories", "user_page"),
        ("gist.github.com/abc/123", "gist"),
        ("https://gist.github.com/karpathy/d4dee566867f8291f086", "gist"),
        ("https://owner.github.io/project/", "pages_site"),
        ("https://opendatalab.github.io/REST.", "pages_site"),
        ("https://huggingface.co/bert-base-uncased", "no_owner"),
        ("https://huggingface.co/datasets/squad", "no_owner"),
        ("https://huggingface.co/docs/transformers/index", "site_page"),
        ("https://huggingface.co/blog/rlhf", "site_page"),
        ("https://huggingface.co/papers/2401.01234", "site_page"),
        ("https://huggingface.co/models?search=bert", "site_page"),
        ("https://huggingface.co/join", "site_page"),
        ("https://huggingface.co/pricing", "site_page"),
        ("https://huggingface.co/transformers/model_doc/bert.html", "site_page"),
        ("https://huggingface.co/datasets", "site_page"),
        ("https://gitlab.com/user", "user_page"),
        ("https://gitlab.com/explore/projects", "site_page"),
        ("https://github.com/-bad-/x", "invalid_name"),
        ("https://github.com/a%20b/c", "invalid_name"),
        ("https://huggingface.co/a/b%20c", "invalid_name"),
    ],
)
def test_pages_that_are_not_repositories_give_no_link_and_say_why(text: str, kind: str) -> None:
    assert find_repository_links(text) == []
    [found] = scan(text)
    assert isinstance(found, NonRepository) and found.kind == kind and found.reason
    assert text[found.start : found.end] == found.matched_text


@pytest.mark.parametrize(
    "text",
    [
        "mygithub.com/a/b",  # another host
        "https://api.github.com/repos/a/b",  # a sub-domain (the REST API)
        "git@github.com:a/b.git",
        "github.community/t/x/y",
        "hf.com/a/b",
        "https://github.com",  # the host, no page
        "Hosted on GitHub.com.",
        "We use GitHub Actions and Hugging Face models.",
    ],
)
def test_other_hosts_and_prose_are_not_matched(text: str) -> None:
    assert scan(text) == []


@pytest.mark.parametrize(
    ("text", "repo_id", "matched"),
    [
        # right after the host: the next token holds owner and name
        (
            "authors: https://github.com/ UKPLab/sentence-transformers",
            "github:ukplab/sentence-transformers",
            "https://github.com/ UKPLab/sentence-transformers",
        ),
        # after the owner's slash: a token that looks like a repository name
        (
            "8 https://github.com/allenai/ openie-standalone",
            "github:allenai/openie-standalone",
            "https://github.com/allenai/ openie-standalone",
        ),
        ("github.com/Regan-Zhang/ HaDis.", "github:regan-zhang/hadis", "github.com/Regan-Zhang/ HaDis"),
        (
            "huggingface.co/datasets/allenai/\nc4 x",
            "hf-datasets:allenai/c4",
            "huggingface.co/datasets/allenai/\nc4",
        ),
        # after a hyphen: joined with the hyphen kept
        (
            "https://github.com/UKPLab/sentence- transformers and",
            "github:ukplab/sentence-transformers",
            "https://github.com/UKPLab/sentence- transformers",
        ),
        (
            "https://github.com/Regan- Zhang/HaDis.",
            "github:regan-zhang/hadis",
            "https://github.com/Regan- Zhang/HaDis",
        ),
    ],
)
def test_line_wraps_from_pdfs_are_joined_where_unambiguous(text: str, repo_id: str, matched: str) -> None:
    [link] = find_repository_links(text)
    assert (link.repo_id, link.matched_text, link.repaired) == (repo_id, matched, True)
    assert text[link.start : link.end] == matched


@pytest.mark.parametrize(
    "text",
    [
        "our code is at https://github.com/allenai/ and in the appendix",  # a word, not a name
        "see https://github.com/ for details",  # no owner/name token
        "https://github.com/ openai and more",  # owner only after the host
        "https://gitlab.com/group/ project",  # a GitLab group can hold subgroups: ambiguous
    ],
)
def test_line_wraps_are_not_joined_when_ambiguous(text: str) -> None:
    assert find_repository_links(text) == []


def test_a_break_after_a_complete_name_is_the_end_of_the_url() -> None:
    [link] = find_repository_links("https://github.com/allenai/sci docs")
    assert link.repo_id == "github:allenai/sci" and not link.repaired


def test_several_links_in_one_text_each_with_its_offsets() -> None:
    text = "Code https://github.com/a/b,https://github.com/c/d and huggingface.co/e/f (models); again github.com/a/b."
    links = find_repository_links(text)
    assert [link.repo_id for link in links] == ["github:a/b", "github:c/d", "hf:e/f", "github:a/b"]
    assert all(text[link.start : link.end] == link.matched_text for link in links)


def _tei_rows() -> list[tuple[str, str, dict[str, object]]]:
    rows = []
    for path in sorted(fixture_dir("grobid_tei").iterdir()):
        try:
            parsed = list(parse_tei(path.read_bytes(), ParseContext(), path.name, raw_sha256="0" * 64))
        except ParseError:
            continue  # the citation-list example names no work
        rows.extend((path.name, table, row) for table, row in parsed)
    return rows


def test_real_full_texts_give_exactly_the_links_they_print() -> None:
    """The GROBID full texts of the fixtures, every field of every row: the four repositories two papers
    print (two of them across a line wrap of the PDF) and nothing else."""
    found = []
    for name, table, row in _tei_rows():
        for column in ("title", "abstract", "text", "raw"):
            text = row.get(column)
            if not isinstance(text, str):
                continue
            for link in find_repository_links(text):
                assert text[link.start : link.end] == link.matched_text
                found.append((name, table, row.get("section_index"), row.get("paragraph_index"), link))
    summary = [
        (n, t, s, p, link.repo_id, link.matched_text, link.start, link.repaired) for n, t, s, p, link in found
    ]
    assert summary == [
        # SPECTER (ACL 2020): its benchmark in a table GROBID read as a paragraph, the Sentence-BERT model
        # it compares with, and its own code in footnote 11
        (
            "2020.acl-main.207.tei.xml",
            "paper_texts",
            2,
            1,
            "github:allenai/scidocs",
            "https://github.com/allenai/scidocs",
            0,
            False,
        ),
        (
            "2020.acl-main.207.tei.xml",
            "paper_texts",
            18,
            2,
            "github:ukplab/sentence-transformers",
            "https://github.com/ UKPLab/sentence-transformers",
            86,
            True,
        ),
        (
            "2020.acl-main.207.tei.xml",
            "paper_texts",
            19,
            8,
            "github:allenai/specter",
            "https://github.com/allenai/specter",
            57,
            False,
        ),
        # The Semantic Scholar literature graph (NAACL 2018), footnote 8, wrapped after the owner
        (
            "N18-3011.tei.xml",
            "paper_texts",
            13,
            1,
            "github:allenai/openie-standalone",
            "https://github.com/allenai/ openie-standalone",
            29,
            True,
        ),
    ]
    footnote = next(
        r for n, t, r in _tei_rows() if n == "N18-3011.tei.xml" and "openie" in str(r.get("text"))
    )
    assert footnote["text"] == "http://rtw.ml.cmu.edu/rtw/ 8 https://github.com/allenai/ openie-standalone"


def _source_papers(source: str, folder: str) -> list[dict[str, object]]:
    parser = get_source(source)
    papers = []
    for path in sorted(fixture_dir(folder).iterdir()):
        try:
            for table, row in parser.parse(
                RawDocument(path.read_bytes(), "", path.name, "file"), ParseContext()
            ):
                if table == "papers":
                    papers.append(row)
        except ParseError:
            continue  # the recordings include deliberately broken responses
    return papers


def test_real_arxiv_abstracts_and_comments() -> None:
    """All 157 papers of the arXiv recordings: two name a repository, one a GitHub Pages site, two say
    "GitHub" in prose; nothing else is found."""
    papers = _source_papers("arxiv", "arxiv_oai")
    found = {
        (
            str(p["work_id"]),
            field,
            type(f).__name__,
            getattr(f, "repo_id", None) or getattr(f, "kind", None),
            f.matched_text,
            f.start,
        )
        for p in papers
        for field in ("abstract", "comments")
        if isinstance(p.get(field), str)
        for f in scan(str(p[field]))
    }
    assert found == {
        (
            "arxiv:2401.14038",
            "abstract",
            "RepoLink",
            "github:regan-zhang/hadis",
            "https://github.com/Regan-Zhang/HaDis",
            1294,
        ),
        (
            "arxiv:1706.00679",
            "comments",
            "RepoLink",
            "github:ydecastro/super-resolution-testing",
            "https://github.com/ydecastro/super-resolution-testing",
            72,
        ),
        (
            "arxiv:2507.10541",
            "abstract",
            "NonRepository",
            "pages_site",
            "https://opendatalab.github.io/REST",
            1872,
        ),
    }
    hadis = next(p for p in papers if p["work_id"] == "arxiv:2401.14038")
    abstract = str(hadis["abstract"])
    assert abstract[1294:1330] == "https://github.com/Regan-Zhang/HaDis"
    assert abstract.endswith("Source code is available at https://github.com/Regan-Zhang/HaDis.")
    prose = [p for p in papers if "github" in (str(p.get("abstract")) + str(p.get("comments"))).lower()]
    assert len(prose) == 5, (
        "two more abstracts say GitHub (Actions, Solidity contracts on Github) without a URL"
    )


def test_real_openalex_and_semantic_scholar_abstracts_name_no_repository() -> None:
    papers = _source_papers("openalex", "openalex") + _source_papers("semantic_scholar", "semantic_scholar")
    abstracts = [str(p["abstract"]) for p in papers if p.get("abstract")]
    assert len(abstracts) >= 5
    assert [f for text in abstracts for f in scan(text)] == []


def _github3_readme() -> str:
    folder = fixture_dir("github_api") / "decoded"
    [path] = folder.glob("Repository_readme__1__*.json")
    body = json.loads(path.read_text())["body"]
    return base64.b64decode(body["content"]).decode("utf-8")


def test_real_readme_links_and_citations() -> None:
    """github3.py's README (recorded from the GitHub API): the repositories it links, a raw.github.com image
    of its own repository first; it cites no paper."""
    readme = _github3_readme()
    links = find_repository_links(readme)
    assert [(link.repo_id, link.start) for link in links] == [
        ("github:sigmavirus24/github3.py", 15),
        ("github:kennethreitz/requests", 421),
        ("github:sigmavirus24/uritemplate", 479),
        ("github:sigmavirus24/github3.py", 612),
        ("github:sigmavirus24/betamax", 1017),
        ("github:sigmavirus24/github3.py", 1214),
    ]
    assert (
        links[0].matched_text == "https://raw.github.com/sigmavirus24/github3.py/develop/images/gh3-logo.png"
    )
    assert all(readme[link.start : link.end] == link.matched_text for link in links)
    assert readme_citations(readme) == ([], [])


def test_readme_citations_every_spelling() -> None:
    readme = "\n".join(
        [
            "Paper: arXiv:2401.01234v2 and [arXiv 2305.11111](https://arxiv.org/abs/2305.11111v3)",
            "PDF https://arxiv.org/pdf/2310.06825v1.pdf, html https://arxiv.org/html/2402.00001v1, "
            "https://ar5iv.labs.arxiv.org/html/1706.03762 and https://huggingface.co/papers/2307.09288",
            "@article{x, journal={arXiv preprint arXiv:1810.04805}, eprint = {2005.14165}, archivePrefix={arXiv}}",
            "Old style: hep-th/9901001, arXiv:math.GT/0309136v2, cond-mat/0207270",
            "DOI https://doi.org/10.48550/arXiv.2206.10883 and doi:10.1145/3442188.3445922.",
            "BibTeX doi = {10.18653/v1/2020.acl-main.207}, (https://doi.org/10.1002/(SICI)1097-4571(199004)41:3).",
        ]
    )
    arxiv, dois = readme_citations(readme)
    assert arxiv == [
        "1706.03762",
        "1810.04805",
        "2005.14165",
        "2206.10883",
        "2305.11111",
        "2307.09288",
        "2310.06825",
        "2401.01234",
        "2402.00001",
        "cond-mat/0207270",
        "hep-th/9901001",
        "math/0309136",
    ]
    assert dois == [
        "10.1002/(sici)1097-4571(199004)41:3",
        "10.1145/3442188.3445922",
        "10.18653/v1/2020.acl-main.207",
        "10.48550/arxiv.2206.10883",
    ]


@pytest.mark.parametrize(
    "text",
    [
        "version 2401.01234 of the package",  # a bare new-style number: not taken
        "arXiv 2020.12345",  # no month 20
        "arXiv:1412.12345",  # five digits before 2015
        "see docs/1234567 and https://example.com/10.1234",  # paths, not ids
        "",
    ],
)
def test_readme_citations_refuse_lookalikes(text: str) -> None:
    assert readme_citations(text) == ([], [])


def test_scan_never_fails_on_odd_text() -> None:
    odd = [
        "github.com/" * 50,
        "https://github.com/\\",
        "https://github.com/a/\\_",
        "huggingface.co/datasets/",
        "gitlab.com/-/-/-",
        "github.com/ ",
        "github.com/a-",
        "\x00github.com/a/b\ufeff",
        "https://github.com/a/b" + "/x" * 10_000,
    ]
    for text in odd:
        for found in scan(text):
            assert text[found.start : found.end] == found.matched_text


def test_long_text_is_scanned_in_one_pass() -> None:
    text = ("No repository here. " * 50_000) + "https://github.com/a/b"
    [link] = find_repository_links(text)
    assert link.start == len(text) - len("https://github.com/a/b")
