"""Code-repository links in text: GitHub, GitLab and Hugging Face (models, datasets, Spaces), normalised.

One compiled pattern finds candidate URLs (with or without `https://`, `www.`); each is then cut at what
ends a repository's address and checked against the paths that look like repositories and are not:

- GitHub: `github.com/<owner>/<name>` → `github:<owner>/<name>`, lower-cased (GitHub's names are
  case-insensitive). `.git`, `/tree/...`, `/blob/...`, `#readme`, `?tab=...` and trailing punctuation
  are dropped. Reserved first segments (`features`, `topics`, `orgs`, `sponsors`, `marketplace`, ...)
  and a user or organisation page with no repository name give no link (``non_repository`` says why).
  `gist.github.com` is a gist, not a repository; `<owner>.github.io` is a web page: neither is linked.
- GitLab: `gitlab.com/<group>[/<subgroup>...]/<name>`, cut at `/-/`, `/tree/`, `/blob/` →
  `gitlab:<path>` lower-cased.
- Hugging Face: `huggingface.co/<owner>/<name>` (a model) → `hf:<owner>/<name>`; `/datasets/<o>/<n>` →
  `hf-datasets:`; `/spaces/<o>/<n>` → `hf-spaces:`. Site pages (`docs`, `blog`, `papers`, ...) and legacy
  single-segment model ids (`huggingface.co/bert-base-uncased`, owner unknown) give no link.
- TeX: `\\_` inside names becomes `_`; `\\url{...}` and `\\href{...}` wrappers end at their brace.
- A URL broken by a line end or a space (text from PDFs) ends there: a name cut short cannot be told
  from a real one, so no repair is guessed (precision first; the link found is the part before the break,
  which still names a repository only when owner and name are both there).

Offsets are character offsets into the text given, so ``text[start:end] == matched_text``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PARSER_NAME = "repo_links"
PARSER_VERSION = "1"

_CANDIDATE = re.compile(
    r"(?<![\w.@-])(?:https?://)?(?:www\.)?(?P<host>github\.com|gitlab\.com|huggingface\.co|gist\.github\.com)"
    r"(?P<path>(?:/(?:[^\s/<>\"'{}|^`\[\]()\\]|\\_)*)+)",
    re.IGNORECASE,
)
_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9_])?$")
_TRAILING = ".,;:!?)]}'\"*"
GITHUB_RESERVED = frozenset(
    [
        "about",
        "account",
        "apps",
        "blog",
        "collections",
        "contact",
        "customer-stories",
        "dashboard",
        "enterprise",
        "events",
        "explore",
        "features",
        "git-guides",
        "github-copilot",
        "issues",
        "join",
        "login",
        "logout",
        "marketplace",
        "new",
        "nonprofit",
        "notifications",
        "orgs",
        "organizations",
        "pricing",
        "pulls",
        "readme",
        "search",
        "security",
        "settings",
        "site",
        "sitemap",
        "solutions",
        "sponsors",
        "team",
        "teams",
        "topics",
        "trending",
        "users",
        "watching",
        "codespaces",
        "education",
        "premium-support",
        "resources",
    ]
)
HF_RESERVED = frozenset(
    [
        "docs",
        "blog",
        "papers",
        "learn",
        "models",
        "datasets",
        "spaces",
        "pricing",
        "join",
        "login",
        "settings",
        "tasks",
        "enterprise",
        "organizations",
        "collections",
        "posts",
        "chat",
        "inference-endpoints",
        "api",
        "changelog",
    ]
)
GITLAB_RESERVED = frozenset(["explore", "users", "help", "dashboard", "groups", "projects", "search", "-"])


@dataclass(frozen=True)
class RepoLink:
    repo_id: str
    host: str
    owner: str
    name: str
    url: str
    matched_text: str
    start: int
    end: int


@dataclass(frozen=True)
class NonRepository:
    """A URL on a code host that is not a repository (a user page, a feature page, a gist)."""

    matched_text: str
    start: int
    reason: str


def _clean(segment: str) -> str:
    return segment.replace("\\_", "_")


def _trim(text: str) -> str:
    while text and text[-1] in _TRAILING:
        text = text[:-1]
    return text


def find_repository_links(text: str) -> list[RepoLink]:
    """Repository links in ``text``, in order of appearance (a repository named twice appears twice)."""
    return [r for r in scan(text) if isinstance(r, RepoLink)]


def scan(text: str) -> list[RepoLink | NonRepository]:
    """Every code-host URL in ``text``: a repository link, or why it is not one."""
    out: list[RepoLink | NonRepository] = []
    for m in _CANDIDATE.finditer(text):
        host = m.group("host").lower()
        raw_path = m.group("path")
        segments = raw_path.split("/")[1:]
        if host == "gist.github.com":
            out.append(NonRepository(m.group(0), m.start(), "a gist, not a repository"))
            continue
        link = _link(host, segments)
        if isinstance(link, str):
            out.append(NonRepository(_trim(m.group(0)), m.start(), link))
            continue
        owner, name, kind, used = link
        matched = _matched(m, used)
        out.append(
            RepoLink(
                repo_id=f"{kind}:{owner}/{name}".lower()
                if kind != "gitlab"
                else f"gitlab:{owner}/{name}".lower(),
                host={"github": "github", "gitlab": "gitlab"}.get(kind, "huggingface"),
                owner=owner,
                name=name,
                url=_url(kind, owner, name),
                matched_text=matched,
                start=m.start(),
                end=m.start() + len(matched),
            )
        )
    return out


def _matched(m: re.Match[str], used_segments: int) -> str:
    """The matched text up to the end of the repository's last path segment."""
    text = m.group(0)
    prefix_len = m.start("path") - m.start()
    path = m.group("path")
    count, i = 0, 0
    while i < len(path) and count <= used_segments:
        if path[i] == "/":
            count += 1
            if count > used_segments:
                break
        i += 1
    segment_text = path[:i]
    cut = text[: prefix_len + len(segment_text)]
    cut = _trim(cut)
    if cut.lower().endswith(".git"):
        cut = cut[:-4]
    return cut


def _name(segment: str) -> str | None:
    name = _trim(_clean(segment).split("#", 1)[0].split("?", 1)[0])
    if name.lower().endswith(".git"):
        name = name[:-4]
    return name if _NAME.match(name) else None


def _link(host: str, segments: list[str]) -> tuple[str, str, str, int] | str:
    """(owner, name, kind, segments used) or the reason the URL is not a repository."""
    segments = [s for s in segments if s != ""] if segments and segments[-1] == "" else segments
    if host == "github.com":
        if not segments or not segments[0]:
            return "the GitHub home page"
        owner = _name(segments[0])
        if owner is None or owner.lower() in GITHUB_RESERVED:
            return f"github.com/{segments[0]} is a GitHub page, not a repository"
        if len(segments) < 2 or not segments[1]:
            return f"github.com/{owner} is a user or organisation page"
        name = _name(segments[1])
        if name is None:
            return f"github.com/{owner}/{segments[1]} has no valid repository name"
        return owner, name, "github", 2
    if host == "huggingface.co":
        kind = "hf"
        if segments and segments[0].lower() in ("datasets", "spaces"):
            kind = "hf-" + segments[0].lower()
            segments = segments[1:]
            offset = 1
        else:
            offset = 0
            if segments and segments[0].lower() in HF_RESERVED:
                return f"huggingface.co/{segments[0]} is a site page"
        if len(segments) < 2:
            return "a Hugging Face id without an owner (legacy model id) or an owner page"
        owner, name = _name(segments[0]), _name(segments[1])
        if owner is None or name is None:
            return "not a valid Hugging Face repository id"
        return owner, name, kind, 2 + offset
    # gitlab.com: group/subgroups/name, ending where GitLab's own routes start.
    parts: list[str] = []
    for segment in segments:
        if (
            segment in ("-", "tree", "blob", "issues", "merge_requests", "wikis")
            or "#" in segment
            or "?" in segment
        ):
            cleaned = _name(segment)
            if cleaned and segment not in ("-", "tree", "blob", "issues", "merge_requests", "wikis"):
                parts.append(cleaned)
            break
        cleaned = _name(segment)
        if cleaned is None:
            break
        parts.append(cleaned)
    if not parts or parts[0].lower() in GITLAB_RESERVED:
        return "a GitLab page, not a project"
    if len(parts) < 2:
        return f"gitlab.com/{parts[0]} is a user or group page"
    return "/".join(parts[:-1]), parts[-1], "gitlab", len(parts)


def _url(kind: str, owner: str, name: str) -> str:
    if kind == "github":
        return f"https://github.com/{owner}/{name}"
    if kind == "gitlab":
        return f"https://gitlab.com/{owner}/{name}"
    section = {"hf": "", "hf-datasets": "datasets/", "hf-spaces": "spaces/"}[kind]
    return f"https://huggingface.co/{section}{owner}/{name}"


_ARXIV_MENTION = re.compile(
    r"(?:arxiv[:\s]*|arxiv\.org/(?:abs|pdf)/|eprint\s*=\s*[{\"])"
    r"(?P<id>\d{4}\.\d{4,5}|[a-z\-]+(?:\.[A-Z]{2})?/\d{7})(?:v\d+)?",
    re.IGNORECASE,
)
_DOI_MENTION = re.compile(r"\b10\.\d{4,9}/[^\s\"'<>{}\[\]]+")


def readme_citations(text: str) -> tuple[list[str], list[str]]:
    """arXiv ids (no version) and DOIs (lower-cased) a README or description cites, sorted and unique."""
    from pipelines.curate.identifiers import normalize_doi

    arxiv = sorted({m.group("id") for m in _ARXIV_MENTION.finditer(text)})
    dois = set()
    for m in _DOI_MENTION.finditer(text):
        doi = normalize_doi(_trim(m.group(0)))
        if doi and not doi.startswith("10.48550/arxiv."):
            dois.add(doi)
        elif doi:
            arxiv = sorted({*arxiv, doi.split("arxiv.", 1)[1]})
    return arxiv, sorted(dois)
