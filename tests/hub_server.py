"""A local stand-in for the Hugging Face Hub's HTTP API, driven by the real ``huggingface_hub`` client.

The Hub cannot be reached from the build machines, so the publishing tests point the real client
(``HfApi(endpoint=...)``, ``snapshot_download(endpoint=...)``) at this server on 127.0.0.1. It speaks the
endpoints that the installed client calls when it creates a repo, commits, tags and downloads (read from
``huggingface_hub``'s source, not guessed), for dataset repos:

    POST /api/repos/create                                  create (409 + url when it exists)
    POST /api/validate-yaml                                 README metadata check (YAML front matter)
    GET  /api/datasets/{repo}[/revision/{rev}]              revision info: the commit sha a rev points to
    GET  /api/datasets/{repo}/refs                          branches and tags
    GET  /api/datasets/{repo}/tree/{rev}[/{path}]           tree listing (?recursive, ?expand), LFS info
    POST /api/datasets/{repo}/preupload/{rev}               upload mode per file (lfs/regular) + remote oid
    POST /datasets/{repo}.git/info/lfs/objects/batch        LFS batch API, "basic" transfer
    PUT  /lfs-upload/{repo}/{sha256}                        the upload href the batch answer hands out
    POST /lfs-verify/{repo}                                 the verify href
    POST /api/datasets/{repo}/commit/{rev}                  NDJSON commit: header (parentCommit), file,
                                                            lfsFile, deletedFile, deletedFolder lines
    POST /api/datasets/{repo}/tag/{rev}                     create a tag (409 if it exists)
    GET|HEAD /datasets/{repo}/resolve/{rev}/{path}          file download with X-Repo-Commit, ETag,
                                                            X-Linked-Etag/X-Linked-Size, Content-Length

Every repo is a REAL bare git repository (``git`` in a subprocess): commits have parents, the branch moves
by compare-and-swap (``git update-ref <new> <old>``), tags are git tags, listings come from ``git
ls-tree`` and contents from ``git cat-file``. LFS objects are stored by sha256 in a folder and committed
as LFS pointer files, as the real Hub does. A new repo starts with an initial commit holding a
``.gitattributes`` that sends ``*.parquet`` (and other binary formats) to LFS, like the Hub's.

Xet: ``huggingface_hub`` >= 1.0 decides between Xet and LFS on the client side only (``hf_xet`` installed
and ``HF_HUB_DISABLE_XET`` unset -> Xet); there is no server answer that turns it off. This server does
not speak the Xet CAS protocol, so tests set ``huggingface_hub.constants.HF_HUB_DISABLE_XET = True`` (or
the environment variable, for subprocesses), and the client uses the LFS batch API. The server never
returns ``xetHash``/``X-Xet-Hash``, so downloads use plain HTTP. Anything else (e.g. a Xet token request)
is answered 404 and recorded with ``route == "unknown"``.

Test controls: every request is recorded (method, path, body size, route, repo, whether it carried the
token, status, and for commits the operations); ``fail_next(route, times, status, headers)`` answers the
next requests of a route with an error such as 429 + ``Retry-After``/``RateLimit``; and
``move_head_before_next_commit(repo)`` makes another commit land on ``main`` just before the next commit
request is processed, as a concurrent publisher would, so a ``parentCommit`` check fails with 412.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

ZERO_OID = "0" * 40
REGULAR_MAX_BYTES = 10 * 1024 * 1024  # the Hub stores larger files in LFS whatever their type
POINTER_RE = re.compile(
    rb"^version https://git-lfs.github.com/spec/v1\noid sha256:([0-9a-f]{64})\nsize (\d+)\n$"
)
REV_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")
DEFAULT_GITATTRIBUTES = """\
*.7z filter=lfs diff=lfs merge=lfs -text
*.arrow filter=lfs diff=lfs merge=lfs -text
*.bin filter=lfs diff=lfs merge=lfs -text
*.bz2 filter=lfs diff=lfs merge=lfs -text
*.gz filter=lfs diff=lfs merge=lfs -text
*.lz4 filter=lfs diff=lfs merge=lfs -text
*.npy filter=lfs diff=lfs merge=lfs -text
*.parquet filter=lfs diff=lfs merge=lfs -text
*.pkl filter=lfs diff=lfs merge=lfs -text
*.safetensors filter=lfs diff=lfs merge=lfs -text
*.tar filter=lfs diff=lfs merge=lfs -text
*.zip filter=lfs diff=lfs merge=lfs -text
*.zst filter=lfs diff=lfs merge=lfs -text
"""

_REPO = r"(?P<repo>[^/]+/[^/]+)"
ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    (m, re.compile(p), name)
    for m, p, name in [
        ("POST", r"^/api/repos/create$", "create"),
        ("POST", r"^/api/validate-yaml$", "validate-yaml"),
        ("GET", rf"^/api/datasets/{_REPO}/refs$", "refs"),
        ("GET", rf"^/api/datasets/{_REPO}/revision/(?P<rev>[^/]+)$", "revision"),
        ("GET", rf"^/api/datasets/{_REPO}$", "revision"),
        ("GET", rf"^/api/datasets/{_REPO}/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?$", "tree"),
        ("POST", rf"^/api/datasets/{_REPO}/preupload/(?P<rev>[^/]+)$", "preupload"),
        ("POST", rf"^/api/datasets/{_REPO}/commit/(?P<rev>[^/]+)$", "commit"),
        ("POST", rf"^/api/datasets/{_REPO}/tag/(?P<rev>[^/]+)$", "tag"),
        ("POST", rf"^/datasets/{_REPO}\.git/info/lfs/objects/batch$", "lfs-batch"),
        ("PUT", rf"^/lfs-upload/{_REPO}/(?P<oid>[0-9a-f]{{64}})$", "lfs-upload"),
        ("POST", rf"^/lfs-verify/{_REPO}$", "lfs-verify"),
        ("GET", rf"^/datasets/{_REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)$", "resolve"),
        ("HEAD", rf"^/datasets/{_REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)$", "resolve"),
    ]
]


class HubError(Exception):
    def __init__(
        self, status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers or {}


@dataclass
class RecordedRequest:
    method: str
    path: str  # decoded, without the query
    query: dict[str, str]
    body_size: int
    route: str  # a name from ROUTES, or "unknown"
    repo_id: str | None
    authenticated: bool  # carried "Authorization: Bearer <the server's token>"
    status: int = 0
    detail: dict[str, Any] = field(default_factory=dict)  # commit: parentCommit, ops, commit

    @property
    def mutating(self) -> bool:
        return self.method not in ("GET", "HEAD")


@dataclass
class TreeEntry:
    path: str
    type: str  # "blob" | "tree"
    oid: str
    size: int


@dataclass
class _Fault:
    route: str
    remaining: int
    status: int
    headers: dict[str, str]


class GitRepo:
    """A bare git repository driven through git's plumbing commands."""

    def __init__(self, path: Path, home: Path) -> None:
        self.path = path
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "LC_ALL": "C",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_AUTHOR_NAME": "hub",
            "GIT_AUTHOR_EMAIL": "hub@localhost",
            "GIT_COMMITTER_NAME": "hub",
            "GIT_COMMITTER_EMAIL": "hub@localhost",
        }

    def run(self, *args: str, input: bytes | None = None, env: dict[str, str] | None = None) -> bytes:
        proc = subprocess.run(
            ["git", *args],
            cwd=self.path,
            input=input,
            env={**self.env, **(env or {})},
            capture_output=True,
            check=False,
        )
        if proc.returncode != 0:
            raise subprocess.CalledProcessError(proc.returncode, ["git", *args], proc.stdout, proc.stderr)
        return proc.stdout

    def ok(self, *args: str) -> bool:
        try:
            self.run(*args)
        except subprocess.CalledProcessError:
            return False
        return True

    def init(self) -> None:
        self.path.mkdir(parents=True)
        self.run("init", "-q", "--bare", "--initial-branch=main", ".")

    def write_blob(self, data: bytes) -> str:
        return self.run("hash-object", "-w", "--stdin", input=data).decode().strip()

    def cat(self, oid: str) -> bytes:
        return self.run("cat-file", "blob", oid)

    def branch_head(self, branch: str = "main") -> str | None:
        try:
            return self.run("rev-parse", "--verify", "-q", f"refs/heads/{branch}").decode().strip()
        except subprocess.CalledProcessError:
            return None

    def resolve(self, rev: str) -> str | None:
        """A branch, tag or (full) commit sha -> commit sha; None if it does not exist."""
        if not REV_RE.match(rev) or ".." in rev:
            return None
        for candidate in (f"refs/heads/{rev}", f"refs/tags/{rev}", rev):
            try:
                out = self.run("rev-parse", "--verify", "-q", "--end-of-options", f"{candidate}^{{commit}}")
            except subprocess.CalledProcessError:
                continue
            sha = out.decode().strip()
            if candidate == rev and not re.fullmatch(r"[0-9a-f]{40}", rev) and not rev.startswith("refs/"):
                continue  # no abbreviated shas
            return sha
        return None

    def ls_tree(self, commit: str, path: str = "", recursive: bool = False) -> list[TreeEntry]:
        args = ["ls-tree", "-l", "-z"]
        if recursive:
            args += ["-r", "-t"]
        args.append(commit)
        if path:
            args += ["--", path + "/"]
        entries = []
        for record in self.run(*args).split(b"\0"):
            if not record:
                continue
            meta, name = record.split(b"\t", 1)
            _mode, kind, oid, size = meta.decode().split()
            entry_path = name.decode()
            if path and not entry_path.startswith(path + "/"):
                continue
            entries.append(TreeEntry(entry_path, kind, oid, int(size) if size != "-" else 0))
        return entries

    def entry(self, commit: str, path: str) -> TreeEntry | None:
        out = self.run("ls-tree", "-l", "-z", commit, "--", path)
        for record in out.split(b"\0"):
            if record:
                meta, name = record.split(b"\t", 1)
                _mode, kind, oid, size = meta.decode().split()
                if name.decode() == path:
                    return TreeEntry(path, kind, oid, int(size) if size != "-" else 0)
        return None

    def commit(
        self,
        parent: str | None,
        adds: dict[str, str],
        deletes: list[str],
        delete_folders: list[str],
        message: str,
        branch: str = "main",
    ) -> str:
        """Commit on top of ``parent`` and move ``branch`` from ``parent`` to it (compare-and-swap)."""
        with tempfile.TemporaryDirectory() as tmp:
            env = {"GIT_INDEX_FILE": os.path.join(tmp, "index")}
            self.run("read-tree", *([parent] if parent else ["--empty"]), env=env)
            existing = {p.decode() for p in self.run("ls-files", "-z", env=env).split(b"\0") if p}
            removed: set[str] = set()
            for path in deletes:
                if path not in existing:
                    raise HubError(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
                removed.add(path)
            for folder in delete_folders:
                inside = {p for p in existing if p.startswith(folder.rstrip("/") + "/")}
                if not inside:
                    raise HubError(404, f"A folder with this name doesn't exist: {folder}", "EntryNotFound")
                removed |= inside
            lines = [f"0 {ZERO_OID}\t{p}" for p in sorted(removed - set(adds))]
            lines += [f"100644 {oid}\t{p}" for p, oid in sorted(adds.items())]
            if lines:
                self.run(
                    "update-index",
                    "-z",
                    "--index-info",
                    input="".join(x + "\0" for x in lines).encode(),
                    env=env,
                )
            tree = self.run("write-tree", env=env).decode().strip()
        args = ["commit-tree", tree] + (["-p", parent] if parent else [])
        new = self.run(*args, input=message.encode()).decode().strip()
        if not self.ok("update-ref", f"refs/heads/{branch}", new, parent or ZERO_OID):
            raise HubError(412, "A commit has happened since. Please refresh and try again.")
        return new

    def tags(self) -> dict[str, str]:
        out = self.run(
            "for-each-ref", "--format=%(refname:strip=2) %(objectname) %(*objectname)", "refs/tags"
        )
        tags = {}
        for line in out.decode().splitlines():
            parts = line.split()
            tags[parts[0]] = parts[2] if len(parts) > 2 else parts[1]  # annotated tags: the tagged commit
        return tags

    def create_tag(self, name: str, commit: str, message: str | None) -> None:
        if not self.ok("check-ref-format", f"refs/tags/{name}"):
            raise HubError(400, f"Invalid tag name: {name}")
        if name in self.tags():
            raise HubError(409, f"Tag {name} already exists")
        if message:
            self.run("tag", "-a", "-m", message, "--end-of-options", name, commit)
        else:
            self.run("update-ref", f"refs/tags/{name}", commit, ZERO_OID)

    def rev_list(self, rev: str) -> list[str]:
        return self.run("rev-list", rev).decode().split()

    def parents(self, commit: str) -> list[str]:
        return self.run("rev-list", "--parents", "-n", "1", commit).decode().split()[1:]


class HubServer:
    """Start with ``with HubServer() as hub:`` (or ``start()``/``stop()``); ``hub.url`` is the endpoint."""

    def __init__(self, token: str | None = None) -> None:
        self.token = token
        self._tmp = Path(tempfile.mkdtemp(prefix="hub-server-"))
        self._lock = threading.RLock()
        self._requests: list[RecordedRequest] = []
        self._faults: list[_Fault] = []
        self._move_head: set[str] = set()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> HubServer:
        handler = type("Handler", (_Handler,), {"hub": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name="hub-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    # ------------------------------------------------------------------ test controls and inspection

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def fail_next(
        self, route: str, times: int = 1, status: int = 429, headers: dict[str, str] | None = None
    ) -> None:
        """Answer the next ``times`` requests of ``route`` (e.g. "commit") with ``status`` and ``headers``."""
        with self._lock:
            self._faults.append(_Fault(route, times, status, dict(headers or {})))

    def move_head_before_next_commit(self, repo_id: str) -> None:
        """Make a concurrent commit land on main right before the next commit request to ``repo_id``."""
        with self._lock:
            self._move_head.add(repo_id)

    def repo(self, repo_id: str) -> GitRepo:
        return GitRepo(self._tmp / "repos" / f"{repo_id}.git", self._tmp)

    def exists(self, repo_id: str) -> bool:
        return self.repo(repo_id).path.is_dir()

    def head(self, repo_id: str) -> str | None:
        return self.repo(repo_id).branch_head() if self.exists(repo_id) else None

    def tags(self, repo_id: str) -> dict[str, str]:
        return self.repo(repo_id).tags() if self.exists(repo_id) else {}

    def commits(self, repo_id: str, rev: str = "main") -> list[str]:
        """Commits reachable from ``rev``, newest first."""
        return self.repo(repo_id).rev_list(rev)

    def parents(self, repo_id: str, commit: str) -> list[str]:
        return self.repo(repo_id).parents(commit)

    def files(self, repo_id: str, rev: str = "main") -> dict[str, bytes]:
        """Every file at ``rev`` with its real content (LFS pointers resolved)."""
        repo = self.repo(repo_id)
        commit = repo.resolve(rev)
        assert commit is not None, f"{repo_id} has no revision {rev}"
        out = {}
        for e in repo.ls_tree(commit, recursive=True):
            if e.type == "blob":
                out[e.path] = self._content(repo_id, repo.cat(e.oid))
        return out

    def lfs_path(self, repo_id: str, oid: str) -> Path:
        return self._tmp / "lfs" / repo_id / oid

    # ------------------------------------------------------------------ internals used by the handler

    def _record(self, req: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(req)

    def _take_fault(self, route: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.route == route and fault.remaining > 0:
                    fault.remaining -= 1
                    return fault
        return None

    def _content(self, repo_id: str, blob: bytes) -> bytes:
        m = POINTER_RE.match(blob)
        return self.lfs_path(repo_id, m.group(1).decode()).read_bytes() if m else blob

    def _lfs_pointer(self, repo: GitRepo, e: TreeEntry) -> tuple[str, int] | None:
        if e.type != "blob" or e.size > 200:
            return None
        m = POINTER_RE.match(repo.cat(e.oid))
        return (m.group(1).decode(), int(m.group(2))) if m else None


class _Handler(BaseHTTPRequestHandler):
    hub: HubServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes: no 40 ms delayed-ACK stalls
    timeout = 30

    def log_message(self, format: str, *args: Any) -> None:  # quiet; requests are recorded instead
        pass

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    # ------------------------------------------------------------------ plumbing

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        headers = dict(headers or {})
        headers.setdefault("Content-Type", "application/json")
        for k, v in headers.items():
            self.send_header(k, v)
        if "Content-Length" not in headers:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(data).encode(), headers)

    def _dispatch(self) -> None:
        hub = self.hub
        split = urlsplit(self.path)
        raw_path = split.path
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        body = self._read_body()
        route, params = "unknown", {}
        for method, pattern, name in ROUTES:
            m = pattern.match(raw_path)
            if m and method == self.command:
                route, params = name, {k: unquote(v) for k, v in m.groupdict().items() if v is not None}
                break
        auth = self.headers.get("Authorization", "")
        req = RecordedRequest(
            method=self.command,
            path=unquote(raw_path),
            query=query,
            body_size=len(body),
            route=route,
            repo_id=params.get("repo"),
            authenticated=bool(hub.token) and auth == f"Bearer {hub.token}",
        )
        hub._record(req)
        try:
            fault = hub._take_fault(route)
            if fault is not None:
                raise HubError(fault.status, f"injected {fault.status}", headers=fault.headers)
            if route == "unknown":
                raise HubError(404, f"not implemented by the local hub: {self.command} {raw_path}")
            if (
                req.mutating
                and route not in ("lfs-upload", "validate-yaml")
                and hub.token
                and not req.authenticated
            ):
                raise HubError(401, "Invalid credentials in Authorization header")
            handler = getattr(self, "_route_" + route.replace("-", "_"))
            with hub._lock:
                handler(req, params, query, body)
        except HubError as err:
            req.status = err.status
            headers = {**err.headers, "X-Error-Message": err.message}
            if err.code:
                headers["X-Error-Code"] = err.code
            self._json(err.status, {"error": err.message}, headers)
        except Exception as err:  # a bug in this server: answer 500 rather than hang the client
            req.status = 500
            self._json(500, {"error": f"local hub error: {err!r}"})

    def _repo(self, params: dict[str, str]) -> GitRepo:
        repo_id = params["repo"]
        if not self.hub.exists(repo_id):
            raise HubError(404, "Repository not found", "RepoNotFound")
        return self.hub.repo(repo_id)

    def _commit_of(self, repo: GitRepo, rev: str) -> str:
        commit = repo.resolve(rev)
        if commit is None:
            raise HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        return commit

    def _repo_url(self, repo_id: str) -> str:
        return f"{self.hub.url}/datasets/{repo_id}"

    # ------------------------------------------------------------------ routes

    def _route_create(
        self, req: RecordedRequest, params: dict[str, str], query: dict[str, str], body: bytes
    ) -> None:
        payload = json.loads(body or b"{}")
        if payload.get("type") != "dataset":
            raise HubError(400, "the local hub only implements dataset repos")
        if not payload.get("organization"):
            raise HubError(400, "the local hub needs an organization (repo ids are ORG/NAME)")
        repo_id = f"{payload['organization']}/{payload['name']}"
        req.repo_id = repo_id
        url = self._repo_url(repo_id)
        if self.hub.exists(repo_id):
            req.status = 409
            self._json(409, {"error": "You already created this dataset repo", "url": url})
            return
        repo = self.hub.repo(repo_id)
        repo.init()
        blob = repo.write_blob(DEFAULT_GITATTRIBUTES.encode())
        repo.commit(None, {".gitattributes": blob}, [], [], "initial commit")
        req.status = 200
        self._json(200, {"url": url, "name": repo_id, "id": repo_id})

    def _route_validate_yaml(
        self, req: RecordedRequest, params: dict[str, str], query: dict[str, str], body: bytes
    ) -> None:
        content = json.loads(body or b"{}").get("content", "")
        errors = []
        if content.startswith("---\n"):
            end = content.find("\n---", 4)
            try:
                meta = yaml.safe_load(content[4:end] if end >= 0 else "")
                if meta is not None and not isinstance(meta, dict):
                    errors.append({"message": "metadata must be a YAML mapping"})
            except yaml.YAMLError as exc:
                errors.append({"message": f"invalid YAML: {exc}"})
        req.status = 400 if errors else 200
        self._json(req.status, {"errors": errors, "warnings": []})

    def _route_refs(
        self, req: RecordedRequest, params: dict[str, str], query: dict[str, str], body: bytes
    ) -> None:
        repo = self._repo(params)
        head = repo.branch_head()
        branches = [{"name": "main", "ref": "refs/heads/main", "targetCommit": head}] if head else []
        tags = [
            {"name": n, "ref": f"refs/tags/{n}", "targetCommit": c} for n, c in sorted(repo.tags().items())
        ]
        req.status = 200
        self._json(200, {"branches": branches, "converts": [], "tags": tags, "pullRequests": []})

    def _route_revision(
        self, req: RecordedRequest, params: dict[str, str], query: dict[str, str], body: bytes
    ) -> None:
        repo = self._repo(params)
        commit = self._commit_of(repo, params.get("rev", "main"))
        files = [e for e in repo.ls_tree(commit, recursive=True) if e.type == "blob"]
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        req.status = 200
        self._json(
            200,
            {
                "_id": params["repo"],
                "id": params["repo"],
                "author": params["repo"].split("/")[0],
                "sha": commit,
                "private": False,
                "gated": False,
                "disabled": False,
                "lastModified": now,
                "createdAt": now,
                "tags": [],
                "siblings": [{"rfilename": e.path} for e in files],
            },
        )

    def _tree_json(self, repo: GitRepo, e: TreeEntry) -> dict[str, Any]:
        if e.type == "tree":
            return {"type": "directory", "oid": e.oid, "size": 0, "path": e.path}
        item: dict[str, Any] = {"type": "file", "oid": e.oid, "size": e.size, "path": e.path}
        pointer = self.hub._lfs_pointer(repo, e)
        if pointer is not None:
            item["size"] = pointer[1]
            item["lfs"] = {"oid": pointer[0], "size": pointer[1], "pointerSize": e.size}
        return item

    def _route_tree(
        self, req: RecordedRequest, params: dict[str, str], query: dict[str, str], body: bytes
    ) -> None:
        repo = self._repo(params)
        commit = self._commit_of(repo, params["rev"])
        path = params.get("path", "").strip("/")
        if path:
            e = repo.entry(commit, path)
            if e is None or e.type != "tree":
                raise HubError(404, f"Entry not found: {path}", "EntryNotFound", {"X-Repo-Commit": commit})
        recursive = query.get("recursive", "").lower() in ("1", "true")
        entries = repo.ls_tree(commit, path, recursive=recursive)
        req.status = 200
        self._json(200, [self._tree_json(repo, e) for e in entries])

    def _upload_mode(self, repo: GitRepo, commit: str, path: str, size: int, sample: bytes) -> str:
        attributes = repo.entry(commit, ".gitattributes")
        patterns = []
        if attributes is not None:
            for line in repo.cat(attributes.oid).decode().splitlines():
                parts = line.split()
                if len(parts) > 1 and "filter=lfs" in parts[1:]:
                    patterns.append(parts[0])
        name = path.rsplit("/", 1)[-1]
        if any(fnmatch.fnmatch(path if "/" in p else name, p) for p in patterns):
            return "lfs"
        if size >= REGULAR_MAX_BYTES or b"\0" in sample:
            return "lfs"
        return "regular"

    def _route_preupload(
        self, req: RecordedRequest, params: dict[str, str], query: dict[str, str], body: bytes
    ) -> None:
        repo = self._repo(params)
        commit = self._commit_of(repo, params["rev"])
        files = []
        for f in json.loads(body)["files"]:
            sample = base64.b64decode(f.get("sample", ""))
            item: dict[str, Any] = {
                "path": f["path"],
                "uploadMode": self._upload_mode(repo, commit, f["path"], int(f["size"]), sample),
                "shouldIgnore": False,
            }
            e = repo.entry(commit, f["path"])
            if e is not None and e.type == "blob":
                pointer = self.hub._lfs_pointer(repo, e)
                item["oid"] = pointer[0] if pointer else e.oid
            files.append(item)
        req.status = 200
        self._json(200, {"files": files, "commitOid": commit})

    def _route_lfs_batch(
        self, req: RecordedRequest, params: dict[str, str], query: dict[str, str], body: bytes
    ) -> None:
        self._repo(params)
        payload = json.loads(body)
        if payload.get("operation") != "upload" or "basic" not in payload.get("transfers", ["basic"]):
            raise HubError(422, "the local hub only accepts basic LFS uploads")
        objects = []
        for obj in payload["objects"]:
            oid, size = obj["oid"], int(obj["size"])
            stored = self.hub.lfs_path(params["repo"], oid)
            item: dict[str, Any] = {"oid": oid, "size": size, "authenticated": True}
            if not (stored.is_file() and stored.stat().st_size == size):
                item["actions"] = {
                    "upload": {
                        "href": f"{self.hub.url}/lfs-upload/{params['repo']}/{oid}",
                        "expires_in": 3600,
                    },
                    "verify": {"href": f"{self.hub.url}/lfs-verify/{params['repo']}", "expires_in": 3600},
                }
            objects.append(item)
        req.status = 200
        self._json(
            200, {"transfer": "basic", "objects": objects}, {"Content-Type": "application/vnd.git-lfs+json"}
        )

    def _route_lfs_upload(
        self, req: RecordedRequest, params: dict[str, str], query: dict[str, str], body: bytes
    ) -> None:
        self._repo(params)
        oid = params["oid"]
        if hashlib.sha256(body).hexdigest() != oid:
            raise HubError(400, "uploaded content does not match its sha256")
        target = self.hub.lfs_path(params["repo"], oid)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        tmp.write_bytes(body)
        os.replace(tmp, target)
        req.status = 200
        self._send(200, b"", {"ETag": f'"{oid}"'})

    def _route_lfs_verify(
        self, req: RecordedRequest, params: dict[str, str], query: dict[str, str], body: bytes
    ) -> None:
        payload = json.loads(body)
        stored = self.hub.lfs_path(params["repo"], payload["oid"])
        if not (stored.is_file() and stored.stat().st_size == int(payload["size"])):
            raise HubError(404, f"LFS object {payload['oid']} not found")
        req.status = 200
        self._json(200, {"success": True})

    def _route_commit(
        self, req: RecordedRequest, params: dict[str, str], query: dict[str, str], body: bytes
    ) -> None:
        repo = self._repo(params)
        repo_id = params["repo"]
        if query.get("create_pr"):
            raise HubError(400, "the local hub does not implement pull requests")
        branch = params["rev"]
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            raise HubError(400, "the commit payload must start with a header line")
        header = lines[0]["value"]
        ops = [(item["key"], item["value"]["path"]) for item in lines[1:]]
        req.detail = {"parentCommit": header.get("parentCommit"), "ops": ops}
        if repo_id in self.hub._move_head:  # a concurrent publisher gets in first
            self.hub._move_head.discard(repo_id)
            self._concurrent_commit(repo)
        head = repo.branch_head(branch)
        if head is None:
            raise HubError(404, f"Invalid rev id: {branch}", "RevisionNotFound")
        parent = header.get("parentCommit")
        if parent and not head.startswith(parent):
            raise HubError(412, "A commit has happened since. Please refresh and try again.")
        adds: dict[str, str] = {}
        deletes: list[str] = []
        folders: list[str] = []
        for item in lines[1:]:
            key, value = item["key"], item["value"]
            if key == "file":
                if value.get("encoding") != "base64":
                    raise HubError(400, "file content must be base64")
                adds[value["path"]] = repo.write_blob(base64.b64decode(value["content"]))
            elif key == "lfsFile":
                oid = value["oid"]
                stored = self.hub.lfs_path(repo_id, oid)
                if not stored.is_file():
                    raise HubError(422, f"LFS object {oid} for {value['path']} was never uploaded")
                size = stored.stat().st_size
                if value.get("size") is not None and int(value["size"]) != size:
                    raise HubError(422, f"LFS object {oid}: size mismatch")
                pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n"
                adds[value["path"]] = repo.write_blob(pointer.encode())
            elif key == "deletedFile":
                deletes.append(value["path"])
            elif key == "deletedFolder":
                folders.append(value["path"])
            else:
                raise HubError(400, f"unknown commit operation {key}")
        message = header.get("summary", "")
        if header.get("description"):
            message += "\n\n" + header["description"]
        new = repo.commit(head, adds, deletes, folders, message + "\n", branch)
        req.detail["commit"] = new
        req.status = 200
        self._json(
            200,
            {
                "success": True,
                "commitOid": new,
                "commitUrl": f"{self._repo_url(repo_id)}/commit/{new}",
                "hookOutput": "",
                "pullRequestUrl": None,
            },
        )

    def _concurrent_commit(self, repo: GitRepo) -> None:
        head = repo.branch_head()
        assert head is not None
        readme = repo.entry(head, "README.md")
        old = repo.cat(readme.oid) if readme is not None else b""
        blob = repo.write_blob(old + b"\n<!-- edited by a concurrent publisher -->\n")
        repo.commit(head, {"README.md": blob}, [], [], "concurrent edit\n")

    def _route_tag(
        self, req: RecordedRequest, params: dict[str, str], query: dict[str, str], body: bytes
    ) -> None:
        repo = self._repo(params)
        commit = self._commit_of(repo, params["rev"])
        payload = json.loads(body or b"{}")
        repo.create_tag(payload["tag"], commit, payload.get("message"))
        req.detail = {"tag": payload["tag"], "commit": commit}
        req.status = 200
        self._json(200, {})

    def _route_resolve(
        self, req: RecordedRequest, params: dict[str, str], query: dict[str, str], body: bytes
    ) -> None:
        repo = self._repo(params)
        commit = self._commit_of(repo, params["rev"])
        e = repo.entry(commit, params["path"])
        if e is None or e.type != "blob":
            raise HubError(404, "Entry not found", "EntryNotFound", {"X-Repo-Commit": commit})
        blob = repo.cat(e.oid)
        headers = {
            "X-Repo-Commit": commit,
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
        }
        m = POINTER_RE.match(blob)
        if m:
            sha256 = m.group(1).decode()
            content = self.hub.lfs_path(params["repo"], sha256).read_bytes()
            headers.update(
                {"ETag": f'"{sha256}"', "X-Linked-Etag": f'"{sha256}"', "X-Linked-Size": str(len(content))}
            )
        else:
            content = blob
            headers["ETag"] = f'"{e.oid}"'
        status = 200
        rng = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if rng:
            start = int(rng.group(1))
            end = int(rng.group(2)) if rng.group(2) else len(content) - 1
            headers["Content-Range"] = f"bytes {start}-{end}/{len(content)}"
            content, status = content[start : end + 1], 206
        headers["Content-Length"] = str(len(content))
        req.status = status
        self._send(status, content, headers)
