"""Publishing to and downloading from the Hub, through the real ``huggingface_hub`` client.

The Hub cannot be reached from here: ``tests/hub_server.py`` is a local stand-in, backed by real git
repositories, that the real client talks to over HTTP. Snapshots are real: their tables come from the
recorded arXiv fixtures, harvested once through ``commons build``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path

import huggingface_hub.constants as hf_constants
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from huggingface_hub import HfApi, RepoFile

from commons.cli import main
from pipelines.snapshot.download import DownloadError, download_snapshot
from pipelines.snapshot.gates import GatePolicy
from pipelines.snapshot.parquet import ParquetTableWriter
from pipelines.snapshot.publish import (
    PublishConflictError,
    PublishError,
    PublishResult,
    git_blob_sha1,
    publish_snapshot,
)
from pipelines.snapshot.writer import file_sha256, write_snapshot
from schemas import table_spec
from tests.hub_server import HubServer, RecordedRequest

COMMONS = str(Path(sys.executable).with_name("commons"))
TOKEN = "hf_secretTOKEN123"
REPO = "research-commons/ai-safety"
A, B, C = "v2026.01.01", "v2026.01.02", "v2026.01.03"
PAPERS = "data/papers/papers-00000.parquet"
FETCHES = "data/fetches/fetches-00000.parquet"
# huggingface_hub's LFS upload passes a file object as ``data=``, which httpx2 deprecates: the client's business.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=:DeprecationWarning")
UPLOAD_ROUTES = {"preupload", "lfs-batch", "lfs-upload", "lfs-verify", "commit", "tag", "create"}


# ---------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(data root, snapshot) from one real ``commons build`` over the recorded arXiv fixtures."""
    from tests.conftest import fixture_dir

    fixtures = fixture_dir("arxiv_oai")
    home = tmp_path_factory.mktemp("home")
    proc = subprocess.run(
        [COMMONS, "build", "--from", str(fixtures)],
        capture_output=True,
        text=True,
        env={**os.environ, "COMMONS_HOME": str(home)},
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return home, Path(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def tables(built: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The built papers and fetches tables, and a fetches table with one more row."""
    _, snap = built
    more = tmp_path_factory.mktemp("tables") / "fetches.parquet"
    rows = pq.read_table(snap / FETCHES).to_pylist()
    extra = {**rows[0], "fetch_id": "f" * 64, "url_or_path": rows[0]["url_or_path"] + "#again"}
    with ParquetTableWriter(more, table_spec("fetches")) as writer:
        for row in [*rows, extra]:
            writer.add(row)
    return {"papers": snap / PAPERS, "fetches": snap / FETCHES, "more_fetches": more}


@pytest.fixture(scope="module")
def snapshot_set(tables: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three releases in one snapshots root: A; B (papers unchanged, fetches grew); C (fetches retired)."""
    out = tmp_path_factory.mktemp("snaps")
    a = write_snapshot(out, {"papers": tables["papers"], "fetches": tables["fetches"]}, version=A)
    b = write_snapshot(out, {"papers": tables["papers"], "fetches": tables["more_fetches"]}, version=B)
    retire = dict.fromkeys(("row_counts", "sources", "schema"), "the fetches table is retired (test)")
    c = write_snapshot(out, {"papers": tables["papers"]}, version=C, gate_policy=GatePolicy(overrides=retire))
    return {A: a, B: b, C: c}


@pytest.fixture
def snaps(snapshot_set: dict[str, Path], tmp_path: Path) -> dict[str, Path]:
    """Fresh copies per test: publishing records itself in the snapshot's manifest."""
    return {v: Path(shutil.copytree(p, tmp_path / "snaps" / v)) for v, p in snapshot_set.items()}


@pytest.fixture(autouse=True)
def client_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The local hub speaks LFS, not Xet; huggingface_hub picks Xet on the client side whenever hf_xet is
    # installed, so it is switched off the way the client documents (HF_HUB_DISABLE_XET).
    monkeypatch.setattr(hf_constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("HF_TOKEN", TOKEN)


@pytest.fixture
def hub() -> Iterator[HubServer]:
    with HubServer(token=TOKEN) as server:
        yield server


# ---------------------------------------------------------------------------------------------- helpers


def publish(snap: Path, hub: HubServer, **kwargs: object) -> PublishResult:
    return publish_snapshot(snap, REPO, endpoint=hub.url, **kwargs)  # type: ignore[arg-type]


def routed(hub: HubServer, route: str) -> list[RecordedRequest]:
    return [r for r in hub.requests if r.route == route]


def snapshot_files(snap: Path) -> dict[str, bytes]:
    return {
        p.relative_to(snap).as_posix(): p.read_bytes()
        for p in sorted(snap.rglob("*"))
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(snap).parts)
    }


def manifest(snap: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((snap / "manifest.json").read_text())
    return data


# ---------------------------------------------------------------------------------------------- publishing


def test_first_publish_is_one_commit_and_one_tag(hub: HubServer, snaps: dict[str, Path]) -> None:
    original = snapshot_files(snaps[A])
    result = publish(snaps[A], hub)

    commits = routed(hub, "commit")
    assert [r.status for r in commits] == [200]
    assert [r.status for r in routed(hub, "tag")] == [200]
    assert result.committed and result.tagged and result.tag == A
    history = hub.commits(REPO)
    assert len(history) == 2, "the repo's initial commit, then exactly one for the snapshot"
    initial = history[-1]
    assert hub.head(REPO) == result.commit
    assert result.commit is not None and hub.parents(REPO, result.commit) == [initial]
    assert commits[0].detail["parentCommit"] == initial
    assert hub.tags(REPO) == {A: result.commit}
    assert result.commit_url == f"{hub.url}/datasets/{REPO}/commit/{result.commit}"

    on_hub = hub.files(REPO, A)
    assert on_hub.pop(".gitattributes")
    assert on_hub == original
    # Parquet travels as LFS (pointer in git, bytes in LFS storage); the small text files as git blobs.
    tree = {
        e.path: e
        for e in HfApi(endpoint=hub.url).list_repo_tree(REPO, recursive=True, revision=A, repo_type="dataset")
        if isinstance(e, RepoFile)
    }
    papers_lfs = tree[PAPERS].lfs
    assert papers_lfs is not None and papers_lfs.sha256 == file_sha256(snaps[A] / PAPERS)
    assert tree["README.md"].lfs is None and tree["README.md"].blob_id == git_blob_sha1(original["README.md"])

    record = manifest(snaps[A])["published"]
    assert isinstance(record, dict)
    assert (record["repo"], record["commit"], record["tag"]) == (REPO, result.commit, A)
    api_writes = [r for r in hub.requests if r.mutating and r.route not in ("lfs-upload", "validate-yaml")]
    assert api_writes and all(r.authenticated for r in api_writes), "HF_TOKEN is what the client sends"


def test_republishing_the_same_snapshot_sends_nothing(hub: HubServer, snaps: dict[str, Path]) -> None:
    first = publish(snaps[A], hub)
    recorded = (snaps[A] / "manifest.json").read_bytes()
    hub.clear_requests()

    again = publish(snaps[A], hub)

    assert not again.committed and not again.tagged
    assert again.commit == first.commit and again.plan.already_published
    assert all(not r.mutating for r in hub.requests), [(r.method, r.path) for r in hub.requests]
    assert not {r.route for r in hub.requests} & UPLOAD_ROUTES
    assert sum(r.body_size for r in hub.requests) == 0, "no file content sent"
    assert len(hub.commits(REPO)) == 2 and hub.tags(REPO) == {A: first.commit}
    assert (snaps[A] / "manifest.json").read_bytes() == recorded


def test_second_snapshot_sends_only_what_changed(hub: HubServer, snaps: dict[str, Path]) -> None:
    first = publish(snaps[A], hub)
    a_files = hub.files(REPO, A)
    hub.clear_requests()

    second = publish(snaps[B], hub)

    commits = routed(hub, "commit")
    assert len(commits) == 1 and len(routed(hub, "tag")) == 1
    assert hub.parents(REPO, second.commit or "") == [first.commit]
    assert hub.tags(REPO) == {A: first.commit, B: second.commit}
    assert PAPERS in {f.path for f in second.plan.unchanged}
    ops = commits[0].detail["ops"]
    assert PAPERS not in {path for _, path in ops}, "unchanged Parquet is not part of the commit"
    assert ("lfsFile", FETCHES) in ops and ("file", "manifest.json") in ops and ("file", "README.md") in ops

    uploads = routed(hub, "lfs-upload")
    uploaded_oids = {r.path.rsplit("/", 1)[-1] for r in uploads}
    assert file_sha256(snaps[B] / PAPERS) not in uploaded_oids
    assert file_sha256(snaps[B] / FETCHES) in uploaded_oids
    parquet_sent = {
        f.path: f.size for f in (*second.plan.added, *second.plan.changed) if f.path.endswith(".parquet")
    }
    assert sum(r.body_size for r in uploads) == sum(parquet_sent.values())
    assert PAPERS not in parquet_sent
    assert hub.files(REPO, A) == a_files, "the earlier release is still there, unchanged, under its tag"


def test_a_file_removed_from_the_snapshot_is_deleted_on_the_hub(
    hub: HubServer, snaps: dict[str, Path]
) -> None:
    publish(snaps[A], hub)
    publish(snaps[B], hub)
    hub.clear_requests()

    third = publish(snaps[C], hub)

    assert FETCHES in third.plan.deleted
    ops = routed(hub, "commit")[0].detail["ops"]
    assert ("deletedFile", FETCHES) in ops
    assert {p for k, p in ops if k == "deletedFile"} == set(third.plan.deleted)
    assert all(p.startswith(("data/fetches/", "diff/fetches/")) for p in third.plan.deleted)
    now = hub.files(REPO, C)
    assert FETCHES not in now and ".gitattributes" in now, "hidden repo files are the repo's, never deleted"
    assert set(now) - {".gitattributes"} == set(snapshot_files(snaps[C]))
    assert FETCHES in hub.files(REPO, B)


def test_concurrent_publish_fails_cleanly(hub: HubServer, snaps: dict[str, Path]) -> None:
    first = publish(snaps[A], hub)
    hub.move_head_before_next_commit(REPO)

    with pytest.raises(PublishConflictError) as err:
        publish(snaps[B], hub)

    assert REPO in str(err.value) and "412" in str(err.value)
    assert [r.status for r in routed(hub, "commit")] == [200, 412]
    moved = hub.head(REPO)
    assert moved != first.commit and hub.parents(REPO, moved or "") == [first.commit]
    assert hub.files(REPO, "main")[FETCHES] == (snaps[A] / FETCHES).read_bytes(), "nothing of B landed"
    assert hub.tags(REPO) == {A: first.commit}
    assert "published" not in manifest(snaps[B])

    retried = publish(snaps[B], hub)  # plans against the new head and goes through
    assert hub.parents(REPO, retried.commit or "") == [moved]
    assert hub.tags(REPO)[B] == retried.commit


def test_rate_limits_are_waited_out(
    hub: HubServer, snaps: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    hub.fail_next("commit", 1, 429, {"Retry-After": "1"})  # waited out by publish (the client does not)
    hub.fail_next(
        "tag", 1, 429, {"RateLimit": '"api";r=0;t=1', "RateLimit-Policy": '"fixed window";"api";q=500;w=300'}
    )
    hub.fail_next("preupload", 1, 429, {"Retry-After": "0"})  # waited out by the client's http_backoff (+1 s)
    caplog.set_level(logging.WARNING)
    start = time.monotonic()

    result = publish(snaps[A], hub)

    assert time.monotonic() - start >= 3
    assert [r.status for r in routed(hub, "commit")] == [429, 200]
    assert [r.status for r in routed(hub, "tag")] == [429, 200]
    assert [r.status for r in routed(hub, "preupload")] == [429, 200]
    assert len(hub.commits(REPO)) == 2 and hub.tags(REPO) == {A: result.commit}
    assert (
        "rate-limited commit; waiting 1 s" in caplog.text and "rate-limited tag; waiting 1 s" in caplog.text
    )


def test_rate_limit_retries_are_bounded(hub: HubServer, snaps: dict[str, Path]) -> None:
    publish(snaps[A], hub, dry_run=False)
    head = hub.head(REPO)
    hub.fail_next("commit", 5, 429, {"Retry-After": "1"})

    with pytest.raises(PublishError, match=f"{REPO}.*commit.*429"):
        publish(snaps[B], hub, rate_limit_retries=1)

    assert [r.status for r in routed(hub, "commit")] == [200, 429, 429]
    assert hub.head(REPO) == head and B not in hub.tags(REPO)
    assert "published" not in manifest(snaps[B])


def test_other_failures_raise_and_leave_the_hub_unchanged(hub: HubServer, snaps: dict[str, Path]) -> None:
    hub.fail_next("commit", 1, 500)

    with pytest.raises(PublishError, match=f"publishing to {REPO} failed during commit.*500") as err:
        publish(snaps[A], hub)

    assert not isinstance(err.value, PublishConflictError)
    assert len(hub.commits(REPO)) == 1 and hub.tags(REPO) == {}, "only the repo's initial commit"
    assert "published" not in manifest(snaps[A])


def test_an_existing_tag_is_never_moved(
    hub: HubServer, snaps: dict[str, Path], tables: dict[str, Path], tmp_path: Path
) -> None:
    first = publish(snaps[A], hub)
    impostor = write_snapshot(
        tmp_path / "other", {"papers": tables["papers"], "fetches": tables["more_fetches"]}, version=A
    )
    hub.clear_requests()

    with pytest.raises(PublishError, match=f"tag {A} already exists"):
        publish(impostor, hub)

    assert not {r.route for r in hub.requests} & UPLOAD_ROUTES
    assert hub.tags(REPO) == {A: first.commit}


def test_an_older_snapshot_never_takes_main_back(hub: HubServer, snaps: dict[str, Path]) -> None:
    newer = publish(snaps[B], hub)
    hub.clear_requests()

    with pytest.raises(PublishError, match=f"{B} is already published"):
        publish(snaps[A], hub)

    assert not {r.route for r in hub.requests} & UPLOAD_ROUTES
    assert hub.head(REPO) == newer.commit and hub.tags(REPO) == {B: newer.commit}


def test_dry_run_sends_no_mutating_request(hub: HubServer, snaps: dict[str, Path]) -> None:
    fresh = publish(snaps[A], hub, dry_run=True)
    assert fresh.dry_run and fresh.commit is None and not fresh.plan.repo_exists
    assert {f.path for f in fresh.plan.added} == set(snapshot_files(snaps[A]))
    assert fresh.plan.bytes_to_send == sum(len(b) for b in snapshot_files(snaps[A]).values())
    assert not hub.exists(REPO), "a dry run does not even create the repo"
    assert all(not r.mutating for r in hub.requests)

    first = publish(snaps[A], hub)
    hub.clear_requests()
    plan = publish(snaps[C], hub, dry_run=True).plan

    assert all(not r.mutating for r in hub.requests), [(r.method, r.path) for r in hub.requests]
    assert hub.head(REPO) == first.commit and hub.tags(REPO) == {A: first.commit}
    assert "published" not in manifest(snaps[C])
    assert PAPERS in {f.path for f in plan.unchanged} and FETCHES in plan.deleted
    assert "manifest.json" in {f.path for f in plan.changed}
    text = plan.render()
    assert f"delete  {FETCHES}" in text and "change  manifest.json" in text and "to send" in text
    assert plan.bytes_to_send == sum(f.size for f in (*plan.added, *plan.changed))


def test_the_token_never_appears_in_logs_or_errors(
    hub: HubServer,
    snaps: dict[str, Path],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="huggingface_hub")
    publish(snaps[A], hub)
    hub.fail_next("commit", 1, 500)
    with pytest.raises(PublishError) as failed:
        publish(snaps[B], hub, token=TOKEN)
    wrong = "hf_wrongTOKEN999"
    with pytest.raises(PublishError) as refused:
        publish(snaps[B], hub, token=wrong)

    assert any(r.authenticated for r in hub.requests if r.route == "commit"), "the token was really used"
    texts = [caplog.text, *capsys.readouterr()]
    for exc in (failed.value, refused.value):
        texts += [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    assert "401" in str(refused.value) and REPO in str(refused.value)
    for text in texts:
        assert TOKEN not in text and wrong not in text


# ---------------------------------------------------------------------------------------------- download


def test_download_by_tag_gives_back_identical_bytes(
    hub: HubServer, snaps: dict[str, Path], tmp_path: Path
) -> None:
    originals = {v: snapshot_files(p) for v, p in snaps.items()}  # before publishing records itself
    publish(snaps[A], hub)
    publish(snaps[B], hub)

    got = download_snapshot(REPO, A, local_dir=tmp_path / "a", endpoint=hub.url)
    assert snapshot_files(got) == originals[A]
    assert (got / ".gitattributes").read_bytes() == hub.files(REPO, A)[".gitattributes"]

    only = download_snapshot(REPO, B, ["papers"], local_dir=tmp_path / "b", endpoint=hub.url)
    assert snapshot_files(only) == {
        k: v for k, v in originals[B].items() if k in (PAPERS, "manifest.json", "README.md", "views.sql")
    }

    with pytest.raises(DownloadError, match="has no table results"):
        download_snapshot(REPO, B, ["results"], local_dir=tmp_path / "c", endpoint=hub.url)


# ---------------------------------------------------------------------------------------------- the CLI


def test_cli_publish_and_download(hub: HubServer, built: tuple[Path, Path], tmp_path: Path) -> None:
    home, snap = built
    version = snap.name
    original = snapshot_files(snap)
    runner = CliRunner()
    base = ["publish", "--repo", REPO, "--home", str(home), "--endpoint", hub.url]

    dry = runner.invoke(main, [*base, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert f"add     {PAPERS}" in dry.output and "dry run: nothing was" in dry.output
    assert not hub.exists(REPO) and all(not r.mutating for r in hub.requests)

    done = runner.invoke(main, base)
    assert done.exit_code == 0, done.output
    commit = hub.tags(REPO)[version]
    assert f"commit: {hub.url}/datasets/{REPO}/commit/{commit}" in done.output
    assert f"tag: {version} (created)" in done.output
    assert TOKEN not in done.output + dry.output

    out = tmp_path / "dl"
    got = runner.invoke(
        main,
        [
            "download",
            REPO,
            "--revision",
            version,
            "--tables",
            "papers,fetches",
            "--out",
            str(out),
            "--endpoint",
            hub.url,
        ],
    )
    assert got.exit_code == 0, got.output
    assert Path(got.stdout.strip().splitlines()[-1]) == out.resolve()
    fetched = snapshot_files(out)
    assert set(fetched) == {PAPERS, FETCHES, "manifest.json", "README.md", "views.sql"}
    assert all(fetched[k] == original[k] for k in fetched)

    empty = runner.invoke(main, ["publish", "--repo", REPO, "--home", str(tmp_path / "nothing")])
    assert empty.exit_code != 0 and "no snapshot under" in empty.output
