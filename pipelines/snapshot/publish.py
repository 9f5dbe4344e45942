"""Publish one local snapshot to a Hugging Face dataset repo: one commit, one tag, unchanged bytes skipped.

The Hub repo mirrors the latest published snapshot on its ``main`` branch, and every snapshot is a tag
(``vYYYY.MM.DD[.N]``) on the commit that published it. Publishing:

1. plans against the head of ``main`` (or against the tag, if the version is already published): the
   remote tree gives each file's size, its git blob id and, for LFS files, its sha256. A local file is
   unchanged when its sha256 equals the remote LFS sha256, or its git blob sha1 equals the remote blob id.
   Remote files that are not in the snapshot are deleted, except hidden ones such as ``.gitattributes``,
   which the Hub manages and snapshots never contain;
2. makes exactly one ``create_commit`` with additions for added/changed files and deletions for removed
   ones, with ``parent_commit`` = the head it planned against, so a concurrent publish makes the Hub
   answer 412 and nothing changes;
3. tags that commit with the snapshot version, and records commit and tag in the local manifest.

A snapshot whose tag already exists is already published: nothing is sent (and if the tagged content
differs, that is an error, never a moved tag). If a run dies between the commit and the tag, the next
run finds ``main`` identical to the snapshot, commits nothing and only tags it.

Rate limits: ``huggingface_hub`` already retries its preupload, LFS and tree-listing requests on 429 with
``http_backoff`` (honouring ``RateLimit``/``Retry-After``); the commit, tag, refs and create-repo calls are
not retried by the client, so every call here goes through ``_hub_call``, which waits as the 429 answer
says and retries a bounded number of times. Any other failure raises ``PublishError`` naming the repo.

The token (argument, else ``HF_TOKEN``) is handed to the client only; it is never printed or logged, and
it is scrubbed from every error message this module raises.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, get_token
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError
from huggingface_hub.hf_api import RepoFile
from huggingface_hub.utils import parse_ratelimit_headers

from pipelines.atomic import atomic_write_text
from pipelines.snapshot.writer import verify_snapshot

logger = logging.getLogger(__name__)

REPO_TYPE = "dataset"
BRANCH = "main"
MANIFEST = "manifest.json"
PUBLISHED_KEY = "published"
RATE_LIMIT_RETRIES = 5
MAX_RATE_LIMIT_WAIT_S = 600.0

# Patched by nothing in production; one place to sleep so the waits are visible in one spot.
_sleep: Callable[[float], None] = time.sleep

T = TypeVar("T")
_VERSION = re.compile(r"^v(\d{4})\.(\d{1,2})\.(\d{1,2})(?:\.(\d+))?$")


class PublishError(RuntimeError):
    """Publishing failed; the message names the repo and never contains the token.

    Errors of the client are not chained (their text, scrubbed, is in the message): a chained
    exception's text would bypass the scrubbing. ``status`` is the HTTP status, if there was one.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class PublishConflictError(PublishError):
    """The branch moved between plan and commit (HTTP 412 on ``parent_commit``): nothing was changed."""


@dataclass(frozen=True)
class PlannedFile:
    path: str
    size: int
    sha256: str


@dataclass
class PublishPlan:
    repo_id: str
    version: str
    snapshot_dir: Path
    repo_exists: bool
    head: str | None  # head of main the plan was made against (None: empty or missing repo)
    tag_commit: str | None  # the commit the version's tag points to, if the tag already exists
    newer_version: str | None = None  # the newest published version, if newer than this one
    added: list[PlannedFile] = field(default_factory=list)
    changed: list[PlannedFile] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: list[PlannedFile] = field(default_factory=list)

    @property
    def has_changes(self) -> bool:
        return bool(self.added or self.changed or self.deleted)

    @property
    def already_published(self) -> bool:
        return self.tag_commit is not None and not self.has_changes

    @property
    def bytes_to_send(self) -> int:
        """File bytes the commit carries (regular files travel base64-encoded, LFS ones as-is)."""
        return sum(f.size for f in (*self.added, *self.changed))

    @property
    def bytes_skipped(self) -> int:
        return sum(f.size for f in self.unchanged)

    def render(self) -> str:
        """The plan, for people: files added, changed, deleted, and the bytes to send."""
        where = f"datasets/{self.repo_id}"
        if not self.repo_exists:
            base = "repo does not exist yet (it would be created)"
        elif self.tag_commit is not None:
            base = f"tag {self.version} already exists at {self.tag_commit[:12]}"
        else:
            base = f"planned against {BRANCH} @ {self.head[:12] if self.head else '(empty)'}"
        lines = [f"publish {self.version} -> {where}: {base}"]
        for label, files in (("add", self.added), ("change", self.changed)):
            lines += [f"  {label:<7} {f.path}  ({_human(f.size)})" for f in files]
        lines += [f"  {'delete':<7} {path}" for path in self.deleted]
        if self.already_published:
            lines.append("  already published: nothing to send")
        elif self.tag_commit is None and self.newer_version is not None:
            lines.append(
                f"  refused: {self.newer_version} is newer and already published ({BRANCH} would go back)"
            )
        lines.append(
            f"  {len(self.added)} added, {len(self.changed)} changed, {len(self.deleted)} deleted, "
            f"{len(self.unchanged)} unchanged ({_human(self.bytes_skipped)} not sent); "
            f"{_human(self.bytes_to_send)} to send"
        )
        return "\n".join(lines)


@dataclass
class PublishResult:
    repo_id: str
    tag: str
    plan: PublishPlan
    commit: str | None  # the commit the tag points to (None on a dry run)
    commit_url: str | None
    committed: bool  # this run made a commit
    tagged: bool  # this run created the tag
    dry_run: bool = False


@dataclass(frozen=True)
class _LocalFile:
    path: str
    source: Path | bytes  # bytes for manifest.json, whose publish record is not published
    size: int
    sha256: str
    git_sha1: str


def git_blob_sha1(data: bytes) -> str:
    """Git's object id for a blob with these bytes (what the Hub reports as a non-LFS file's oid)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def _hash_file(path: Path) -> tuple[int, str, str]:
    size = path.stat().st_size
    sha256 = hashlib.sha256()
    sha1 = hashlib.sha1(b"blob %d\0" % size, usedforsecurity=False)
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            sha256.update(chunk)
            sha1.update(chunk)
    return size, sha256.hexdigest(), sha1.hexdigest()


def _dump_manifest(manifest: Mapping[str, Any]) -> str:
    # The writer's format (pipelines/snapshot/writer.py): stripping the publish record gives its bytes back.
    return json.dumps(manifest, indent=2, sort_keys=True) + "\n"


def _read_manifest(snapshot_dir: Path) -> tuple[dict[str, Any], bytes]:
    """The manifest, and the bytes to publish for it: as written, without this module's publish record."""
    path = snapshot_dir / MANIFEST
    if not path.is_file():
        raise PublishError(f"{snapshot_dir} is not a snapshot: it has no {MANIFEST}")
    raw = path.read_bytes()
    manifest: dict[str, Any] = json.loads(raw)
    if PUBLISHED_KEY in manifest:
        raw = _dump_manifest({k: v for k, v in manifest.items() if k != PUBLISHED_KEY}).encode("utf-8")
    if not manifest.get("version"):
        raise PublishError(f"{path} has no version")
    return manifest, raw


def _local_files(snapshot_dir: Path, manifest_bytes: bytes) -> dict[str, _LocalFile]:
    files: dict[str, _LocalFile] = {}
    for path in sorted(snapshot_dir.rglob("*")):
        rel = path.relative_to(snapshot_dir)
        if not path.is_file() or any(part.startswith(".") for part in rel.parts):
            continue  # temporary files of atomic writes, editor droppings: never published
        name = rel.as_posix()
        if name == MANIFEST:
            files[name] = _LocalFile(
                name,
                manifest_bytes,
                len(manifest_bytes),
                hashlib.sha256(manifest_bytes).hexdigest(),
                git_blob_sha1(manifest_bytes),
            )
        else:
            size, sha256, sha1 = _hash_file(path)
            files[name] = _LocalFile(name, path, size, sha256, sha1)
    return files


def _is_managed(path: str) -> bool:
    """Remote files a snapshot owns. Hidden files (.gitattributes, .gitignore) belong to the repo."""
    return not any(part.startswith(".") for part in path.split("/"))


def _redact(text: str, secret: str | None) -> str:
    return text.replace(secret, "***") if secret else text


def _retry_wait(headers: Mapping[str, str], attempt: int) -> float:
    """Seconds to wait after a 429: the RateLimit header's reset, else Retry-After, else backoff."""
    info = parse_ratelimit_headers(headers)
    if info is not None and info.remaining == 0:
        return float(info.reset_in_seconds)
    retry_after = next((v.strip() for k, v in headers.items() if k.lower() == "retry-after"), "")
    if retry_after.isdigit():
        return float(retry_after)
    if retry_after:
        try:
            when = email.utils.parsedate_to_datetime(retry_after)
            return max(0.0, (when - datetime.now(UTC)).total_seconds())
        except (TypeError, ValueError):
            pass
    return float(min(2**attempt, 60))


class _Hub:
    """Calls into ``HfApi`` with bounded 429 retries, errors that name the repo, and no token in them."""

    def __init__(self, api: HfApi, repo_id: str, secret: str | None, retries: int) -> None:
        self.api = api
        self.repo_id = repo_id
        self.secret = secret
        self.retries = retries

    def call(self, what: str, fn: Callable[[], T], passthrough: tuple[type[Exception], ...] = ()) -> T:
        attempt = 0
        while True:
            try:
                return fn()
            except passthrough:
                raise
            except HfHubHTTPError as exc:
                response = exc.response
                status = response.status_code if response is not None else None
                if status == 429 and attempt < self.retries and response is not None:
                    wait = _retry_wait(response.headers, attempt)
                    if wait > MAX_RATE_LIMIT_WAIT_S:
                        raise self.error(f"{what} (the Hub asks to wait {wait:.0f} s)", exc) from None
                    attempt += 1
                    logger.warning(
                        "%s: the Hub rate-limited %s; waiting %.0f s before retry %d/%d",
                        self.repo_id,
                        what,
                        wait,
                        attempt,
                        self.retries,
                    )
                    _sleep(wait)
                    continue
                if status == 412:
                    raise PublishConflictError(
                        self._text(
                            f"publishing to {self.repo_id} failed: {BRANCH} moved since the plan "
                            f"(HTTP 412 on parent_commit); nothing was changed. Re-run to plan against the new head."
                        ),
                        status,
                    ) from None
                raise self.error(what, exc) from None
            except PublishError:
                raise
            except Exception as exc:
                raise self.error(what, exc) from None

    def _text(self, text: str) -> str:
        return _redact(text, self.secret)

    def error(self, what: str, exc: BaseException) -> PublishError:
        detail = " ".join(str(exc).split())
        detail = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
        response = getattr(exc, "response", None)
        status = getattr(response, "status_code", None)
        return PublishError(
            self._text(f"publishing to {self.repo_id} failed during {what}: {detail}"),
            status if isinstance(status, int) else None,
        )


def _remote_files(hub: _Hub, revision: str) -> dict[str, RepoFile]:
    entries = hub.call(
        "tree listing",
        lambda: list(
            hub.api.list_repo_tree(hub.repo_id, recursive=True, revision=revision, repo_type=REPO_TYPE)
        ),
    )
    return {e.path: e for e in entries if isinstance(e, RepoFile)}


def _same(local: _LocalFile, remote: RepoFile) -> bool:
    if remote.lfs is not None:
        return remote.lfs.sha256 == local.sha256 and remote.lfs.size == local.size
    return remote.blob_id == local.git_sha1


def _plan(hub: _Hub, snapshot_dir: Path, create: bool) -> tuple[PublishPlan, dict[str, _LocalFile]]:
    manifest, manifest_bytes = _read_manifest(snapshot_dir)
    version = str(manifest["version"])
    local = _local_files(snapshot_dir, manifest_bytes)
    try:
        refs = hub.call(
            "list refs",
            lambda: hub.api.list_repo_refs(hub.repo_id, repo_type=REPO_TYPE),
            passthrough=(RepositoryNotFoundError,),
        )
    except RepositoryNotFoundError:
        if not create:
            plan = PublishPlan(
                hub.repo_id, version, snapshot_dir, repo_exists=False, head=None, tag_commit=None
            )
            plan.added = [PlannedFile(f.path, f.size, f.sha256) for f in local.values()]
            return plan, local
        hub.call("create repo", lambda: hub.api.create_repo(hub.repo_id, repo_type=REPO_TYPE, exist_ok=True))
        refs = hub.call("list refs", lambda: hub.api.list_repo_refs(hub.repo_id, repo_type=REPO_TYPE))
    head = next((b.target_commit for b in refs.branches if b.name == BRANCH), None)
    tag_commit = next((t.target_commit for t in refs.tags if t.name == version), None)
    newer = [t.name for t in refs.tags if _version_key(t.name) > _version_key(version)]
    base = tag_commit or head
    remote = _remote_files(hub, base) if base else {}
    plan = PublishPlan(hub.repo_id, version, snapshot_dir, repo_exists=True, head=head, tag_commit=tag_commit)
    plan.newer_version = max(newer, key=_version_key) if newer else None
    for path, f in local.items():
        planned = PlannedFile(path, f.size, f.sha256)
        if path not in remote:
            plan.added.append(planned)
        elif _same(f, remote[path]):
            plan.unchanged.append(planned)
        else:
            plan.changed.append(planned)
    plan.deleted = sorted(p for p in remote if p not in local and _is_managed(p))
    return plan, local


def _api(token: str | None, endpoint: str | None) -> tuple[HfApi, str | None]:
    token = token or os.environ.get("HF_TOKEN") or None
    api = HfApi(endpoint=endpoint, token=token)
    secret = token or get_token()  # whatever the client will send, so it can be scrubbed from errors
    return api, secret


def plan_publish(
    api: HfApi,
    repo_id: str,
    snapshot_dir: Path,
    *,
    create: bool = True,
    rate_limit_retries: int = RATE_LIMIT_RETRIES,
) -> PublishPlan:
    """Compare ``snapshot_dir`` with the repo's ``main`` (or with the version's tag, if it exists).

    Creates the repo if it is missing, unless ``create`` is false (dry runs): then a missing repo plans
    as "everything added" and nothing is created or changed.
    """
    secret = api.token if isinstance(api.token, str) else get_token()
    return _plan(_Hub(api, repo_id, secret, rate_limit_retries), Path(snapshot_dir), create)[0]


def _record_published(snapshot_dir: Path, record: dict[str, Any]) -> None:
    """Atomically rewrite the manifest with the publish record (temp file + rename)."""
    path = snapshot_dir / MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8"))
    old = manifest.get(PUBLISHED_KEY) or {}
    if all(old.get(k) == record[k] for k in ("repo", "endpoint", "commit", "tag")):
        return  # already recorded: a re-publish leaves the manifest as it was
    manifest[PUBLISHED_KEY] = record
    atomic_write_text(path, _dump_manifest(manifest))


def _commit_description(plan: PublishPlan) -> str:
    return (
        f"Research Commons snapshot {plan.version}: {len(plan.added)} added, {len(plan.changed)} changed, "
        f"{len(plan.deleted)} deleted, {len(plan.unchanged)} unchanged files."
    )


def publish_snapshot(
    snapshot_dir: Path,
    repo_id: str,
    token: str | None = None,
    endpoint: str | None = None,
    dry_run: bool = False,
    *,
    rate_limit_retries: int = RATE_LIMIT_RETRIES,
) -> PublishResult:
    """Publish ``snapshot_dir`` to the dataset repo ``repo_id``: one commit, then a tag with its version.

    ``dry_run`` only plans: nothing is created, uploaded or changed (on the Hub or locally).
    """
    snapshot_dir = Path(snapshot_dir)
    problems = verify_snapshot(snapshot_dir)
    if problems:
        raise PublishError(f"{snapshot_dir} is not releasable: " + "; ".join(problems))
    api, secret = _api(token, endpoint)
    hub = _Hub(api, repo_id, secret, rate_limit_retries)
    plan, local = _plan(hub, snapshot_dir, create=not dry_run)
    if dry_run:
        return PublishResult(
            repo_id, plan.version, plan, None, None, committed=False, tagged=False, dry_run=True
        )

    commit_prefix = f"{api.endpoint}/datasets/{repo_id}/commit/"
    if plan.tag_commit is not None:
        if plan.has_changes:
            raise PublishError(
                hub._text(
                    f"publishing to {repo_id} failed: tag {plan.version} already exists at "
                    f"{plan.tag_commit[:12]} with different content ({len(plan.added)} added, "
                    f"{len(plan.changed)} changed, {len(plan.deleted)} deleted); a published tag is never "
                    "moved: write a new snapshot version"
                )
            )
        logger.info("%s: %s is already published at %s", repo_id, plan.version, plan.tag_commit)
        result = PublishResult(
            repo_id,
            plan.version,
            plan,
            plan.tag_commit,
            commit_prefix + plan.tag_commit,
            committed=False,
            tagged=False,
        )
    elif plan.newer_version is not None:
        raise PublishError(
            f"publishing to {repo_id} refused: {plan.newer_version} is already published there, and "
            f"{BRANCH} holds the newest snapshot; publishing the older {plan.version} would take it back"
        )
    else:
        if plan.has_changes:
            operations: list[CommitOperationAdd | CommitOperationDelete] = []
            for f in (*plan.added, *plan.changed):
                add = CommitOperationAdd(path_in_repo=f.path, path_or_fileobj=_source(local[f.path]))
                add.upload_info.sha256 = bytes.fromhex(f.sha256)  # hashed once, in the plan
                operations.append(add)
            operations += [CommitOperationDelete(path_in_repo=p, is_folder=False) for p in plan.deleted]
            logger.info(
                "%s: committing %s (%d files, %d bytes) on %s",
                repo_id,
                plan.version,
                len(operations),
                plan.bytes_to_send,
                plan.head,
            )
            info = hub.call(
                "commit",
                lambda: api.create_commit(
                    repo_id,
                    operations,
                    commit_message=f"Research Commons {plan.version}",
                    commit_description=_commit_description(plan),
                    repo_type=REPO_TYPE,
                    revision=BRANCH,
                    parent_commit=plan.head,
                ),
            )
            commit, commit_url, committed = info.oid, info.commit_url, True
        elif plan.head is not None:
            # main already holds exactly this snapshot (a run that died before tagging): tag it.
            commit, commit_url, committed = plan.head, commit_prefix + plan.head, False
        else:
            raise PublishError(f"publishing to {repo_id} failed: {snapshot_dir} has no files to publish")
        try:
            hub.call(
                "tag",
                lambda: api.create_tag(
                    repo_id,
                    tag=plan.version,
                    tag_message=f"Research Commons {plan.version}",
                    revision=commit,
                    repo_type=REPO_TYPE,
                ),
            )
        except PublishError as exc:
            raise PublishError(
                f"{exc}\n(commit {commit} is on {BRANCH} but untagged; re-running publish tags it)"
            ) from exc
        result = PublishResult(
            repo_id, plan.version, plan, commit, commit_url, committed=committed, tagged=True
        )

    assert result.commit is not None
    _record_published(
        snapshot_dir,
        {
            "repo": repo_id,
            "endpoint": api.endpoint,
            "commit": result.commit,
            "commit_url": result.commit_url,
            "tag": result.tag,
            "published_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
    )
    return result


def _version_key(version: str) -> tuple[int, ...]:
    """Order of snapshot versions ``vYYYY.MM.DD[.N]`` (no suffix = 1); other tags sort first."""
    m = _VERSION.match(version)
    if not m:
        return (0,)
    return (int(m[1]), int(m[2]), int(m[3]), int(m[4] or 1))


def _source(f: _LocalFile) -> str | bytes:
    return f.source if isinstance(f.source, bytes) else str(f.source)


def _human(n: float) -> str:
    units = ["B", "kB", "MB", "GB"]
    while n >= 1000 and len(units) > 1:
        n /= 1000
        units.pop(0)
    return f"{n:.0f} B" if units[0] == "B" else f"{n:.1f} {units[0]}"
