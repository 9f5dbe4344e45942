"""Code-repository links in text (GitHub, GitLab, Hugging Face models, datasets and Spaces), normalised, and
the arXiv ids and DOIs a repository's README cites.

**Finding.** One pass of one compiled pattern over the text: it jumps from dot to dot (a literal search,
fast), keeps the dots that end a code host's name (`github.com`, `hf.co`, ...) and takes the path after
it; each match is then checked by a few string operations (the text before it, the path's segments). On
one core this scans about 650,000 arXiv abstracts a second, ten times a plain search for the hosts'
names, and a GROBID full text (about 60 paragraphs) in some 50 microseconds. Offsets are character
offsets into the text given, so ``text[start:end] == matched_text``; the matched text is the URL as
written (scheme, `www.`, `/tree/...`, `#readme` included; trailing punctuation `.,;:)]}'"` and a TeX
command after it left out).

**Normalising.** `repo_id` is lower-cased on every host: GitHub, GitLab and Hugging Face resolve names
case-insensitively, so `Regan-Zhang/HaDis` and `regan-zhang/hadis` are one repository; ``owner``,
``name`` and ``url`` keep the case as written.

- GitHub: `github.com/<owner>/<name>` (also `raw.githubusercontent.com/<owner>/<name>/...`, a file of the
  repository) → `github:<owner>/<name>`. `.git`, `/tree/...`, `/blob/...`, `#readme`, `?tab=...` are
  dropped.
- GitLab: `gitlab.com/<group>[/<subgroup>...]/<name>`, nested groups kept, cut at `/-/` and at the older
  routes without it (`/tree/`, `/blob/`, `/issues`, ...) → `gitlab:<group>/.../<name>` (``owner`` is the
  whole group path).
- Hugging Face (`huggingface.co` or `hf.co`): `/<owner>/<name>` is a model → `hf:`; `/datasets/<o>/<n>` →
  `hf-datasets:`; `/spaces/<o>/<n>` → `hf-spaces:`.
- TeX: `\\_` in a name is `_`; `\\url{...}` and `\\href{...}{...}` end at their brace; another backslash
  (`\\footnote`) ends the URL.

**Not repositories** (no link; ``scan`` returns a ``NonRepository`` with a ``kind`` a caller can count):
GitHub's own pages (`features`, `topics`, `orgs/<x>`, `sponsors`, `marketplace`, `settings`, ... see
``GITHUB_RESERVED``), a user or organisation page with no repository name (`user_page`), gists
(`gist.github.com`), GitHub Pages sites (`<owner>.github.io[/<name>]`: a web site, possibly built from
`<owner>/<name>` or `<owner>/<owner>.github.io`, which cannot be told apart, so no link is guessed),
Hugging Face site pages (`docs`, `blog`, `papers`, `models?search=`, ...) and single-segment Hugging Face
ids (`huggingface.co/bert-base-uncased` is a legacy model id whose owner the hub now assigns, or a user
page: `no_owner`, never guessed), GitLab's own routes, and names a host does not allow. Sub-domains of
the hosts (`api.github.com`, `docs.github.com`) and look-alikes (`mygithub.com`) are not matched at all.

**Text from PDFs.** A line wrap inside a URL leaves a space. It is repaired only where the reading is
unambiguous, and the link says ``repaired``: right after the host (`github.com/ owner/name`: the next
token must hold both owner and name), after a hyphen (`sentence- transformers`: the hyphen is kept, as
LaTeX's `\\url` breaks after hyphens without adding one), or after the owner's slash
(`github.com/allenai/ openie-standalone`) only when the next token looks like a repository name rather
than a word: it holds a digit, `-`, `_` or `.`, or mixed case (`HaDis`); `github.com/allenai/ and` is not
joined. A break anywhere else cannot be told from the URL's end: the link is the part before it.
Footnote markers glued to a URL (`.../specter11`) are not removed: repository names often end in digits
(`gpt-2`, `t5`, `llama3`), so stripping them would invent links to the wrong repository; a glued marker
makes a link to a repository that does not exist, which the crawl records as `not_found`.

**README citations** (``readme_citations``): arXiv ids in `arXiv:2401.01234`, `arXiv 2401.01234`,
`arxiv.org/abs|pdf|html/...`, `ar5iv`, `huggingface.co/papers/...`, BibTeX `eprint = {...}`, the arXiv
DOI `10.48550/arXiv.<id>`, and old-style ids of arXiv's archives (`hep-th/9901001`, `math.GT/0309136` →
`math/0309136`) even bare; versions dropped (``parse_arxiv_id``). A bare new-style number
(`2401.01234`) is not taken: version numbers and decimals look the same. DOIs anywhere (`10.<registrant>/
<suffix>`), normalised like `papers.doi` (``normalize_doi``); an arXiv DOI also gives its arXiv id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipelines.curate.identifiers import normalize_doi, parse_arxiv_id

PARSER_NAME = "repo_links"
PARSER_VERSION = "2"

# The dot before the host's top-level domain is a literal the regular expression engine finds fast (it
# skips to each "." in the text); the lookbehinds then check the host's name. What comes before the host
# (a sub-domain, `www.`, the scheme) is read back from the text, and a path in the characters a repository
# URL uses follows.
_CANDIDATE = re.compile(
    r"\.(?:com|io|co)(?:(?<=github\.com)|(?<=github\.io)|(?<=gitlab\.com)|(?<=huggingface\.co)|(?<=hf\.co)"
    r"|(?<=githubusercontent\.com))(?P<path>/[A-Za-z0-9_.~%+=&?#/\\-]*)?",
    re.IGNORECASE,
)
# Longest first: the host a match ends with.
_HOSTS = (
    "raw.githubusercontent.com",
    "raw.github.com",
    "gist.github.com",
    "github.com",
    "github.io",
    "gitlab.com",
    "huggingface.co",
    "hf.co",
)
_CONTINUATION = re.compile(r"[ \t]{0,2}\n?[ \t]{0,2}(?P<token>[A-Za-z0-9][A-Za-z0-9_.~%+=&?#/\\-]*)")
_PATH_END = ".?#&=~+%"  # path characters that end a sentence rather than a URL
_GITHUB_OWNER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,38}")
_REPO_NAME = re.compile(r"(?=[^/]*[A-Za-z0-9])[A-Za-z0-9_.-]{1,100}")
_HF_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,95}")
_GITLAB_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}")
_HOST_OF = {
    "github.com": "github",
    "raw.githubusercontent.com": "github",
    "raw.github.com": "github",
    "gitlab.com": "gitlab",
    "huggingface.co": "huggingface",
    "hf.co": "huggingface",
}

GITHUB_RESERVED = frozenset(
    [
        "about",
        "account",
        "advisories",
        "apps",
        "blog",
        "codespaces",
        "collections",
        "contact",
        "copilot",
        "customer-stories",
        "dashboard",
        "discussions",
        "education",
        "enterprise",
        "enterprises",
        "events",
        "explore",
        "features",
        "git-guides",
        "github-copilot",
        "home",
        "issues",
        "join",
        "login",
        "logout",
        "marketplace",
        "mobile",
        "new",
        "nonprofit",
        "notifications",
        "orgs",
        "organizations",
        "password_reset",
        "premium-support",
        "pricing",
        "pulls",
        "readme",
        "resources",
        "search",
        "security",
        "sessions",
        "settings",
        "showcases",
        "signup",
        "site",
        "sitemap",
        "solutions",
        "sponsors",
        "stars",
        "team",
        "teams",
        "topics",
        "trending",
        "users",
        "watching",
    ]
)
HF_RESERVED = frozenset(
    [
        "api",
        "autotrain",
        "blog",
        "brand",
        "changelog",
        "chat",
        "collections",
        "course",
        "docs",
        "enterprise",
        "huggingchat",
        "inference-api",
        "inference-endpoints",
        "jobs",
        "join",
        "learn",
        "login",
        "logout",
        "metrics",
        "models",
        "new",
        "new-dataset",
        "new-space",
        "nlp",
        "notifications",
        "organizations",
        "papers",
        "posts",
        "pricing",
        "privacy",
        "search",
        "settings",
        "support",
        "tasks",
        "terms-of-service",
        "transformers",
        "welcome",
    ]
)
GITLAB_RESERVED = frozenset(
    [
        "-",
        "admin",
        "api",
        "dashboard",
        "explore",
        "groups",
        "help",
        "oauth",
        "profile",
        "projects",
        "search",
        "snippets",
        "users",
    ]
)
# Project routes that end a GitLab project path when written without `/-/` (older GitLab URLs).
_GITLAB_ROUTES = frozenset(
    [
        "-",
        "archive",
        "blame",
        "blob",
        "branches",
        "commit",
        "commits",
        "compare",
        "graphs",
        "issues",
        "merge_requests",
        "network",
        "pipelines",
        "raw",
        "releases",
        "snippets",
        "tags",
        "tree",
        "wikis",
    ]
)


@dataclass(frozen=True)
class RepoLink:
    """A repository named in text: its key, the parts as written, and where the text names it."""

    repo_id: str
    host: str  # `github`, `gitlab` or `huggingface`, as `repositories.host`
    owner: str
    name: str
    url: str  # https://<host>/<owner>/<name> (with `datasets/` or `spaces/` on Hugging Face)
    matched_text: str
    start: int
    end: int
    repaired: bool = False  # joined across a line wrap (see the module docstring)


@dataclass(frozen=True)
class NonRepository:
    """A URL on a code host that names no repository, and why."""

    matched_text: str
    start: int
    end: int
    kind: str  # site_page, user_page, no_owner, gist, pages_site, invalid_name, home_page
    reason: str


def find_repository_links(text: str) -> list[RepoLink]:
    """Repository links in ``text``, in order of appearance (a repository named twice appears twice)."""
    return [r for r in scan(text) if isinstance(r, RepoLink)]


def scan(text: str) -> list[RepoLink | NonRepository]:
    """Every URL on a code host in ``text``: a repository link, or why it is not one."""
    out: list[RepoLink | NonRepository] = []
    for m in _CANDIDATE.finditer(text):
        found = _candidate(text, m)
        if found is not None:
            out.append(found)
    return out


def _candidate(text: str, m: re.Match[str]) -> RepoLink | NonRepository | None:
    after = m.end() - len(m.group("path") or "")  # the end of the host name
    ending = text[max(0, after - 25) : after].lower()
    host = next((h for h in _HOSTS if ending.endswith(h)), "")
    if not host:
        return None  # githubusercontent.com without raw.
    start = after - len(host)
    following = text[after : after + 1]
    if following.isalnum() or following in ("_", "-", "@"):
        return None  # github.community, hf.com: another host
    before = text[start - 1] if start else ""
    if host == "github.io":
        owner_start = start - 1
        while owner_start > 0 and (text[owner_start - 1].isalnum() or text[owner_start - 1] == "-"):
            owner_start -= 1
        if before != "." or owner_start == start - 1:
            return None
        start = _scheme_start(text, owner_start)
        end = after + len(_url_path(m.group("path") or ""))
        return NonRepository(
            text[start:end], start, end, "pages_site", "a GitHub Pages web site, not a repository"
        )
    if before == ".":
        if text[start - 4 : start].lower() != "www.":
            return None  # a sub-domain: api.github.com, docs.github.com
        start -= 4
    elif before.isalnum() or before in ("_", "-", "@"):
        return None  # mygithub.com, git@github.com
    start = _scheme_start(text, start)
    path = _url_path(m.group("path") or "")
    end = after + len(path)
    if not path:
        return None  # the host named in prose ("on GitHub.com"), not a URL of a page
    if host == "gist.github.com":
        return NonRepository(text[start:end], start, end, "gist", "a gist, not a repository")
    repaired = False
    if path[-1] in "/-":
        joined = _join_wrapped(text, end, host, path)
        if joined is not None:
            path, end = path + joined[0], joined[1]
            repaired = True
    resolved = _resolve(host, path)
    matched = text[start:end]
    if isinstance(resolved, _Rejected):
        return NonRepository(matched, start, end, resolved.kind, resolved.reason)
    prefix, owner, name = resolved
    return RepoLink(
        repo_id=f"{prefix}:{owner}/{name}".lower(),
        host=_HOST_OF[host],
        owner=owner,
        name=name,
        url=_url(prefix, owner, name),
        matched_text=matched,
        start=start,
        end=end,
        repaired=repaired,
    )


def _scheme_start(text: str, start: int) -> int:
    if text[start - 8 : start].lower() == "https://":
        return start - 8
    if text[start - 7 : start].lower() == "http://":
        return start - 7
    return start


def _url_path(path: str) -> str:
    """The path as written, cut at a TeX command and before the punctuation that ends a sentence."""
    backslash = path.find("\\")
    while backslash != -1:
        if path[backslash + 1 : backslash + 2] != "_":
            path = path[:backslash]
            break
        backslash = path.find("\\", backslash + 2)
    return path.rstrip(_PATH_END)


def _looks_like_name(token: str) -> bool:
    """Whether a token after a wrap is more likely a repository name than a word of prose."""
    if any(c.isdigit() or c in "-_." for c in token):
        return True
    return any(c.islower() for c in token) and any(c.isupper() for c in token[1:])


def _join_wrapped(text: str, end: int, host: str, path: str) -> tuple[str, int] | None:
    """(continuation, new end) when the URL ending at ``end`` was broken by a line wrap; see the docstring."""
    if end >= len(text) or not text[end].isspace():
        return None
    m = _CONTINUATION.match(text, end)
    if m is None:
        return None
    token = _url_path(m.group("token"))
    if not token:
        return None
    segments = [s for s in path.split("/") if s]
    if segments and host in ("huggingface.co", "hf.co") and segments[0].lower() in ("datasets", "spaces"):
        segments = segments[1:]
    first = token.split("/", 1)[0]
    if path.endswith("-"):
        ok = 1 <= len(segments) <= 2 and bool(_REPO_NAME.fullmatch(first))
    elif not segments:  # github.com/ owner/name: the token must be the whole repository address
        parts = token.split("/")
        ok = len(parts) >= 2 and bool(_REPO_NAME.fullmatch(parts[0])) and bool(_REPO_NAME.fullmatch(parts[1]))
    elif len(segments) == 1 and host != "gitlab.com":  # owner/ name: only a name-like token
        ok = bool(_REPO_NAME.fullmatch(first)) and _looks_like_name(first)
    else:
        ok = False
    return (token, m.start("token") + len(token)) if ok else None


def _segment(raw: str) -> tuple[str, bool]:
    """A path segment without its query or fragment, and whether one ended it (nothing follows then)."""
    cut = len(raw)
    for mark in ("?", "#"):
        i = raw.find(mark)
        if i != -1:
            cut = min(cut, i)
    return raw[:cut].replace("\\_", "_"), cut < len(raw)


def _repo_name(raw: str) -> str:
    name = raw[:-4] if raw.lower().endswith(".git") else raw
    return name.rstrip(".")


@dataclass(frozen=True)
class _Rejected:
    kind: str
    reason: str


def _resolve(host: str, path: str) -> tuple[str, str, str] | _Rejected:
    """(repo_id prefix, owner, name), or why the path names no repository."""
    raw = path.split("/")[1:]
    segments: list[str] = []
    for part in raw:
        segment, ended = _segment(part)
        segments.append(segment)
        if ended:
            break
    while segments and not segments[-1]:
        segments.pop()
    if host in ("huggingface.co", "hf.co"):
        return _resolve_hf(host, segments)
    if host == "gitlab.com":
        return _resolve_gitlab(segments)
    if not segments:
        return _Rejected("home_page", f"the {host} home page")
    owner = segments[0]
    if host == "github.com" and owner.lower() in GITHUB_RESERVED:
        return _Rejected("site_page", f"github.com/{owner} is a GitHub page, not a repository")
    if not _GITHUB_OWNER.fullmatch(owner):
        return _Rejected("invalid_name", f"{owner!r} is not a GitHub user or organisation name")
    if len(segments) < 2:
        return _Rejected(
            "user_page", f"github.com/{owner} is a user or organisation page, no repository named"
        )
    name = _repo_name(segments[1])
    if not _REPO_NAME.fullmatch(name) or name in (".", ".."):
        return _Rejected("invalid_name", f"{segments[1]!r} is not a GitHub repository name")
    return "github", owner, name


def _resolve_hf(host: str, segments: list[str]) -> tuple[str, str, str] | _Rejected:
    prefix = "hf"
    if segments and segments[0].lower() in ("datasets", "spaces"):
        prefix = "hf-" + segments[0].lower()
        segments = segments[1:]
        if not segments:
            return _Rejected("site_page", f"the Hugging Face {prefix[3:]} listing")
    elif not segments:
        return _Rejected("home_page", "the Hugging Face home page")
    elif segments[0].lower() in HF_RESERVED:
        return _Rejected(
            "site_page", f"huggingface.co/{segments[0]} is a Hugging Face page, not a repository"
        )
    if len(segments) < 2:
        return _Rejected(
            "no_owner",
            f"{host}/{segments[0]} names no owner: a legacy id the hub now maps to an owner, or a user page",
        )
    owner, name = segments[0], _repo_name(segments[1])
    if not _HF_NAME.fullmatch(owner) or not _HF_NAME.fullmatch(name):
        return _Rejected("invalid_name", f"{owner}/{segments[1]} is not a Hugging Face repository id")
    return prefix, owner, name


def _resolve_gitlab(segments: list[str]) -> tuple[str, str, str] | _Rejected:
    parts: list[str] = []
    for segment in segments:
        if segment in _GITLAB_ROUTES or not _GITLAB_SEGMENT.fullmatch(segment):
            break
        parts.append(segment)
    if not parts:
        return (
            _Rejected("home_page", "the GitLab home page")
            if not segments
            else _Rejected("site_page", "a GitLab page")
        )
    if parts[0].lower() in GITLAB_RESERVED:
        return _Rejected("site_page", f"gitlab.com/{parts[0]} is a GitLab page, not a project")
    if len(parts) < 2:
        return _Rejected("user_page", f"gitlab.com/{parts[0]} is a user or group page, no project named")
    name = _repo_name(parts[-1])
    if not name:
        return _Rejected("invalid_name", f"{parts[-1]!r} is not a GitLab project name")
    return "gitlab", "/".join(parts[:-1]), name


def _url(prefix: str, owner: str, name: str) -> str:
    if prefix == "github":
        return f"https://github.com/{owner}/{name}"
    if prefix == "gitlab":
        return f"https://gitlab.com/{owner}/{name}"
    section = {"hf": "", "hf-datasets": "datasets/", "hf-spaces": "spaces/"}[prefix]
    return f"https://huggingface.co/{section}{owner}/{name}"


# arXiv's archives with old-style ids (archive/YYMMNNN), so a bare old-style id can be recognised.
_OLD_ARCHIVES = (
    "acc-phys|adap-org|alg-geom|ao-sci|astro-ph|atom-ph|bayes-an|chao-dyn|chem-ph|cmp-lg|comp-gas|cond-mat|cs"
    "|dg-ga|funct-an|gr-qc|hep-ex|hep-lat|hep-ph|hep-th|math-ph|math|mtrl-th|nlin|nucl-ex|nucl-th|patt-sol"
    "|physics|plasm-ph|q-alg|q-bio|quant-ph|solv-int|supr-con"
)
_ARXIV_MENTION = re.compile(
    r"(?:\barxiv(?:\.org/(?:abs|pdf|html|format)/|\s*:\s*|\s+|\.)"
    r"|\bar5iv(?:\.labs\.arxiv)?\.org/(?:abs|html)/"
    r"|\b(?:huggingface|hf)\.co/papers/"
    r"|\beprint\s*=\s*[{\"']?\s*"
    rf"|(?<![\w/.-])(?=(?:{_OLD_ARCHIVES})(?:\.[A-Za-z]{{2}})?/\d{{7}}))"
    r"(?P<id>\d{4}\.\d{4,5}|[a-z][a-z-]*(?:\.[a-z]{2})?/\d{7})(?:v\d+)?(?!\d)",
    re.IGNORECASE,
)
_DOI_MENTION = re.compile(r"(?<![\w.])10\.\d{4,9}/[^\s\"'<>{}\[\]|\\^`]+")
_DOI_END = ".,;:!?*'\""


def _plausible_arxiv_number(arxiv_id: str) -> bool:
    """Whether the id's YYMM is a month arXiv could have issued it in (drops `arXiv 2020.12345`-like noise)."""
    number = arxiv_id.rsplit("/", 1)[-1]
    yymm = number[:4]
    if not 1 <= int(yymm[2:]) <= 12:
        return False
    if "/" in arxiv_id:
        return True
    digits = len(number) - 5
    return int(yymm[:2]) >= 7 and (digits == 4) == (yymm < "1501")


def _trim_doi(doi: str) -> str:
    while doi:
        if doi[-1] in _DOI_END or (doi[-1] == ")" and doi.count(")") > doi.count("(")):
            doi = doi[:-1]
        else:
            break
    return doi


def readme_citations(text: str) -> tuple[list[str], list[str]]:
    """arXiv ids (without version) and DOIs (normalised like `papers.doi`) a README or description cites,
    sorted and unique. See the module docstring for the spellings recognised."""
    text = text.replace("\\_", "_")
    arxiv: set[str] = set()
    for m in _ARXIV_MENTION.finditer(text):
        parsed = parse_arxiv_id(m.group("id"))
        if parsed is not None and _plausible_arxiv_number(parsed.id):
            arxiv.add(parsed.id)
    dois: set[str] = set()
    for m in _DOI_MENTION.finditer(text):
        doi = normalize_doi(_trim_doi(m.group(0)))
        if not doi:
            continue
        dois.add(doi)
        if doi.startswith("10.48550/arxiv."):
            parsed = parse_arxiv_id(doi[len("10.48550/arxiv.") :])
            if parsed is not None:
                arxiv.add(parsed.id)
    return sorted(arxiv), sorted(dois)
