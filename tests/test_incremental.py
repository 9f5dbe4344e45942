"""Incremental builds (issue 9): unchanged partitions, tables and curation steps are skipped by their
inputs' fingerprints; attribute tables judge only new or changed records, byte-identical to a fresh run."""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines import incremental
from pipelines.curate.attributes import keys_path, write_languages, write_tags
from pipelines.curate.tagging import load_taxonomy
from pipelines.curate.text_duplicates import signatures_path, write_duplicates
from pipelines.settings import DataRoot
from schemas import table_spec

# --------------------------------------------------------------------------------------------------------
# The fingerprint API


def test_fingerprint_is_stable_and_sees_size_mtime_content_and_versions(tmp_path: Path) -> None:
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("alpha")
    b.write_text("beta")
    fp = incremental.fingerprint([a, b], {"parser": "1"})
    assert fp == incremental.fingerprint([a, b], {"parser": "1"})
    assert fp != incremental.fingerprint([a, b], {"parser": "2"})
    assert fp != incremental.fingerprint([b, a], {"parser": "1"})
    assert fp != incremental.fingerprint([a], {"parser": "1"})
    st = a.stat()
    os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert fp != incremental.fingerprint([a, b], {"parser": "1"})
    # Same size, same mtime, other bytes: a small file is identified by its content too.
    fp = incremental.fingerprint([a, b], {"parser": "1"})
    st = a.stat()
    a.write_text("ALPHA")
    os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert fp != incremental.fingerprint([a, b], {"parser": "1"})
    # A missing input is part of the identity: its later appearance is a change.
    missing = tmp_path / "later.txt"
    fp = incremental.fingerprint([missing], {})
    missing.write_text("x")
    assert fp != incremental.fingerprint([missing], {})


def test_is_current_needs_same_fingerprint_and_untouched_outputs(tmp_path: Path) -> None:
    src, out, other = tmp_path / "in.txt", tmp_path / "out.bin", tmp_path / "other.bin"
    src.write_text("input")
    fp = incremental.fingerprint([src], {"v": 1})
    assert not incremental.is_current(out, fp)  # never written
    out.write_bytes(b"result")
    other.write_bytes(b"second output")
    incremental.record(out, fp, [src], also=[other], data={"rows": 3})
    sidecar = incremental.sidecar_path(out)
    assert sidecar.name == "out.bin.inputs.json"
    state = incremental.load(out)
    assert state is not None and state["data"] == {"rows": 3}
    assert state["inputs"][0]["path"] == str(src.resolve())
    assert incremental.is_current(out, fp)
    assert not incremental.is_current(out, incremental.fingerprint([src], {"v": 2}))
    other.write_bytes(b"replaced by someone else")
    assert not incremental.is_current(out, fp)
    other.unlink()
    assert not incremental.is_current(out, fp)


def test_run_skips_current_work_and_redoes_changed(tmp_path: Path) -> None:
    src, out = tmp_path / "in.txt", tmp_path / "out.txt"
    src.write_text("one")
    calls: list[str] = []

    def work() -> dict[str, Any]:
        calls.append(src.read_text())
        out.write_text(src.read_text().upper())
        return {"chars": len(src.read_text())}

    first = incremental.run(out, [src], {"code": "1"}, work)
    again = incremental.run(out, [src], {"code": "1"}, work)
    assert (first.skipped, again.skipped) == (False, True)
    assert again.data == {"chars": 3} and calls == ["one"]
    incremental.run(out, [src], {"code": "2"}, work)
    assert calls == ["one", "one"]
    src.write_text("three")
    assert not incremental.run(out, [src], {"code": "2"}, work).skipped
    assert out.read_text() == "THREE"


def test_replace_if_changed_keeps_an_identical_target(tmp_path: Path) -> None:
    target, new = tmp_path / "t", tmp_path / "n"
    target.write_bytes(b"same")
    mtime = target.stat().st_mtime_ns
    new.write_bytes(b"same")
    assert not incremental.replace_if_changed(new, target)
    assert not new.exists() and target.stat().st_mtime_ns == mtime
    new.write_bytes(b"different")
    assert incremental.replace_if_changed(new, target) and target.read_bytes() == b"different"


# --------------------------------------------------------------------------------------------------------
# Record-level reuse in the attribute tables: byte-identical to a run from scratch


def _papers(rows: list[dict[str, Any]], path: Path) -> Path:
    spec = table_spec("papers")
    columns = {name: [r.get(name) for r in rows] for name in ("work_id", "title", "abstract")}
    table = pa.table(columns)
    full = pa.table(
        {
            f.name: table.column(f.name) if f.name in columns else pa.nulls(len(rows), f.type)
            for f in spec.schema
        }
    )
    pq.write_table(full, path)
    return path


@pytest.fixture(scope="module")
def curated_papers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The curated `papers` table of the real arXiv fixtures, built once through the assets."""
    from tests.conftest import fixture_dir

    home = tmp_path_factory.mktemp("papers_home")
    _build(home, [fixture_dir("arxiv_oai")], out=home / "snaps")
    return DataRoot(home).tables / "papers" / "papers.parquet"


def _edited_papers(src: Path, dst: Path) -> tuple[Path, list[str]]:
    """``src`` with one abstract changed (a taxonomy phrase added, case kept), one paper removed and a
    new paper added: what a rebuild after a new partition and a corrected record looks like."""
    table = pq.read_table(src)
    rows = table.to_pylist()
    assert len(rows) > 10
    changed = rows[3]["work_id"]
    rows[3]["abstract"] = (
        rows[3]["abstract"] or ""
    ) + " We study Reward Hacking and jailbreaks on HarmBench."
    removed = rows.pop(7)["work_id"]
    new = dict(rows[0])
    new["work_id"] = "arxiv:9999.99999"
    new["arxiv_id"] = "9999.99999"
    new["title"] = "Sparse autoencoders for interpretability of deceptive alignment"
    new["abstract"] = "We red-team large language models and measure sycophancy with TruthfulQA."
    rows.append(new)
    rows.sort(key=lambda r: r["work_id"])
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), dst)
    return dst, [changed, removed, new["work_id"]]


def test_tags_reuse_is_byte_identical_to_a_fresh_run(curated_papers: Path, tmp_path: Path) -> None:
    inc_tags, inc_rel = tmp_path / "inc" / "tags.parquet", tmp_path / "inc" / "relevance.parquet"
    inc_tags.parent.mkdir()
    stats: dict[str, int] = {}
    write_tags(curated_papers, inc_tags, inc_rel, stats=stats)
    assert stats["judged"] == stats["records"] > 100 and keys_path(inc_tags).is_file()
    # Nothing changed: nothing is tagged again, and the files are the same bytes.
    before = (inc_tags.read_bytes(), inc_rel.read_bytes())
    write_tags(curated_papers, inc_tags, inc_rel, stats=stats)
    assert stats["judged"] == 0 and stats["carried"] == stats["records"]
    assert (inc_tags.read_bytes(), inc_rel.read_bytes()) == before

    edited, (changed, removed, new) = _edited_papers(curated_papers, tmp_path / "papers2.parquet")
    write_tags(edited, inc_tags, inc_rel, stats=stats)
    assert stats["judged"] == 2  # the changed and the new paper
    fresh_tags, fresh_rel = tmp_path / "fresh_tags.parquet", tmp_path / "fresh_rel.parquet"
    write_tags(edited, fresh_tags, fresh_rel, reuse=False)
    assert inc_tags.read_bytes() == fresh_tags.read_bytes()
    assert inc_rel.read_bytes() == fresh_rel.read_bytes()
    tagged = {r["record_id"] for r in pq.read_table(inc_tags).to_pylist()}
    assert changed in tagged and new in tagged and removed not in tagged

    # A new taxonomy version re-tags every paper, and rows say so.
    bumped = dataclasses.replace(load_taxonomy(), version="99.0.0")
    write_tags(edited, inc_tags, inc_rel, taxonomy=bumped, stats=stats)
    assert stats["judged"] == stats["records"]
    assert set(pq.read_table(inc_tags).column("taxonomy_version").to_pylist()) == {"99.0.0"}


def test_languages_reuse_is_byte_identical_to_a_fresh_run(curated_papers: Path, tmp_path: Path) -> None:
    texts = tmp_path / "no_texts.parquet"
    inc = tmp_path / "languages.parquet"
    stats: dict[str, int] = {}
    write_languages(curated_papers, texts, inc, stats=stats)
    assert stats["judged"] == stats["records"] > 100
    before = inc.read_bytes()
    write_languages(curated_papers, texts, inc, stats=stats)
    assert stats["judged"] == 0 and inc.read_bytes() == before

    edited, _ = _edited_papers(curated_papers, tmp_path / "papers2.parquet")
    write_languages(edited, texts, inc, stats=stats)
    assert stats["judged"] == 2
    fresh = tmp_path / "fresh.parquet"
    write_languages(edited, texts, fresh, reuse=False)
    assert inc.read_bytes() == fresh.read_bytes()


def test_a_stale_keys_file_is_never_trusted_after_a_failed_run(curated_papers: Path, tmp_path: Path) -> None:
    """The keys file is removed when a run starts: a run that fails half-way leaves no keys describing rows
    that are not in the table, so the next run judges everything again."""
    out = tmp_path / "languages.parquet"
    write_languages(curated_papers, tmp_path / "none.parquet", out)
    assert keys_path(out).is_file()
    before = out.read_bytes()
    broken = tmp_path / "broken_texts.parquet"
    broken.write_bytes(b"PAR1 this is not a Parquet file")  # reading the bodies fails mid-run
    with pytest.raises(Exception, match=r"(?i)parquet|invalid|magic|corrupt"):
        write_languages(curated_papers, broken, out)
    assert out.read_bytes() == before and not keys_path(out).exists()
    stats: dict[str, int] = {}
    write_languages(curated_papers, tmp_path / "none.parquet", out, stats=stats)
    assert stats["judged"] == stats["records"] and out.read_bytes() == before


def test_duplicates_with_cached_signatures_equal_a_fresh_run(tmp_path: Path) -> None:
    from tests.conftest import fixture_dir

    dedup = fixture_dir("dedup")
    abstracts = _dedup_abstracts(dedup)
    assert len(abstracts) >= 4
    rows = [{"work_id": f"w:{i:04d}", "title": None, "abstract": a} for i, a in enumerate(abstracts)]
    # Near duplicates: light edits of the first abstracts.
    for i, a in enumerate(abstracts[:3]):
        words = a.split()
        words[len(words) // 2] = "modified"
        rows.append({"work_id": f"w:n{i}", "title": None, "abstract": " ".join(words)})
    papers = _papers(rows, tmp_path / "papers.parquet")
    texts = tmp_path / "none.parquet"
    inc, fresh = tmp_path / "dup.parquet", tmp_path / "fresh.parquet"
    first = write_duplicates(papers, texts, inc)
    assert first.rows > 0 and signatures_path(inc).is_file()
    extra = {"work_id": "w:zz", "title": None, "abstract": f"{rows[-1]['abstract']} extra words here"}
    more = [*rows, extra]
    papers = _papers(more, tmp_path / "papers.parquet")
    write_duplicates(papers, texts, inc)
    write_duplicates(papers, texts, fresh, reuse=False)
    assert inc.read_bytes() == fresh.read_bytes()
    assert pq.read_table(inc).num_rows > first.rows


def _dedup_abstracts(folder: Path) -> list[str]:
    """Long text passages from the dedup fixtures (any format), at least 40 words each."""
    import re

    found: list[str] = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.stat().st_size > 5_000_000:
            continue
        text = path.read_text(encoding="utf-8", errors="ignore")
        for chunk in re.split(r"[\n\"<>{}\[\]]+", text):
            if len(chunk.split()) >= 40:
                found.append(chunk.strip())
        if len(found) >= 12:
            break
    return list(dict.fromkeys(found))[:12]


# --------------------------------------------------------------------------------------------------------
# Whole builds through Dagster


def _build(home: Path, folders: list[Path], out: Path, version: str | None = None) -> Any:
    """``commons build --from F...`` in this process, on an ephemeral Dagster instance."""
    from commons.build import local_batches, run_build

    root = DataRoot(home).ensure()
    previous = os.environ.get("COMMONS_HOME")
    os.environ["COMMONS_HOME"] = str(home)
    try:
        warnings: list[str] = []
        batches = local_batches([str(f) for f in folders], warnings)
        instance = _INSTANCES.setdefault(str(home), dg.DagsterInstance.ephemeral())
        report = run_build(instance, root, batches, out, version)
        report.instance = instance  # type: ignore[attr-defined]
        return report
    finally:
        if previous is None:
            os.environ.pop("COMMONS_HOME", None)
        else:
            os.environ["COMMONS_HOME"] = previous


_INSTANCES: dict[str, dg.DagsterInstance] = {}


def _materializations(instance: dg.DagsterInstance) -> dict[str, dict[str, Any]]:
    """Each asset's (and partition's) metadata in the latest run of ``instance`` that materialized it."""
    out: dict[str, dict[str, Any]] = {}
    for run in reversed(instance.get_runs()):  # oldest first
        records = instance.get_records_for_run(
            run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION, limit=10_000
        ).records
        for record in records:
            mat = record.asset_materialization
            assert mat is not None
            key = mat.asset_key.to_user_string() + (f"[{mat.partition}]" if mat.partition else "")
            out[key] = {k: v.value for k, v in mat.metadata.items()}
    return out


def _mtimes(root: DataRoot) -> dict[str, int]:
    return {
        str(p.relative_to(root.path)): p.stat().st_mtime_ns
        for folder in (root.staging, root.tables)
        for p in folder.rglob("*.parquet")
    }


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A full build of two input folders (copies of real fixtures), then an identical rebuild."""
    from tests.conftest import fixture_dir

    base = tmp_path_factory.mktemp("incremental")
    arxiv = fixture_dir("arxiv_oai")
    first_folder, second_folder = base / "inputs" / "arxiv_a", base / "inputs" / "arxiv_b"
    files = sorted(p for p in arxiv.iterdir() if p.is_file())
    first_folder.mkdir(parents=True)
    second_folder.mkdir(parents=True)
    for p in files[: len(files) // 2]:
        shutil.copy2(p, first_folder / p.name)
    for p in files[len(files) // 2 :]:
        shutil.copy2(p, second_folder / p.name)
    home, out = base / "home", base / "snaps"
    root = DataRoot(home)
    first = _build(home, [first_folder], out)
    assert first.snapshot is not None and not first.failed_checks, first.failed_checks
    after_first = _mtimes(root)
    meta_first = _materializations(first.instance)
    runs_first = len(first.instance.get_runs())
    # Nothing changed: the build launches no run at all (commons/build.py and pipelines/build_state.py).
    unchanged = _build(home, [first_folder], out)
    runs_unchanged = len(unchanged.instance.get_runs())
    # The release forced to run on the same inputs: every step finds its output current and skips.
    for state in (root.tables / "_releases").glob("build-*.json"):
        state.unlink()
    second = _build(home, [first_folder], out)
    yield {
        "unchanged": unchanged,
        "runs": (runs_first, runs_unchanged),
        "home": home,
        "out": out,
        "root": root,
        "folders": (first_folder, second_folder),
        "first": first,
        "second": second,
        "mtimes_first": after_first,
        "meta_first": meta_first,
        "meta_second": _materializations(second.instance),
    }


def test_identical_rebuild_launches_nothing(builds: dict[str, Any]) -> None:
    first, unchanged = builds["first"], builds["unchanged"]
    runs_first, runs_unchanged = builds["runs"]
    assert runs_unchanged == runs_first, "neither a harvest nor a release run was launched"
    assert unchanged.snapshot == first.snapshot and not unchanged.failed_checks


def test_identical_rebuild_skips_harvest_tables_curation_and_snapshot(builds: dict[str, Any]) -> None:
    """With the release run forced (its build state removed), each step still skips on its own; the
    harvest, whose partition is unchanged, is not launched."""
    first, second = builds["first"], builds["second"]
    assert second.snapshot == first.snapshot, "no new version when nothing changed"
    assert not second.failed_checks
    root: DataRoot = builds["root"]
    assert _mtimes(root) == builds["mtimes_first"], "no staged or curated file was rewritten"
    meta = builds["meta_second"]
    harvest = [k for k in meta if k.startswith("arxiv_harvest[")]
    assert harvest and meta[harvest[0]] == builds["meta_first"][harvest[0]], "no new harvest materialization"
    for asset in (
        "papers",
        "fetches",
        "links",
        "repositories",
        "code_links",
        "work_map",
        "merges",
        "duplicates",
        "tags",
        "relevance",
        "languages",
        "snapshot",
    ):
        assert meta[asset]["skipped"] is True, asset
        assert meta[asset].get("dagster/row_count") == builds["meta_first"][asset].get("dagster/row_count")
    assert meta["tags"]["records_judged"] == 0 and meta["languages"]["records_judged"] == 0
    # The first build did the work.
    assert builds["meta_first"]["papers"]["skipped"] is False
    assert builds["meta_first"]["languages"]["records_judged"] > 0


def test_new_folder_harvests_only_its_partition_and_judges_only_its_records(builds: dict[str, Any]) -> None:
    first_folder, second_folder = builds["folders"]
    home, out, root = builds["home"], builds["out"], builds["root"]
    third = _build(home, [first_folder, second_folder], out)
    assert third.snapshot is not None and third.snapshot != builds["first"].snapshot
    meta = _materializations(third.instance)
    harvest = {k: v for k, v in meta.items() if k.startswith("arxiv_harvest[")}
    # The unchanged partition was not launched (its latest materialization is the first build's); the new
    # one was harvested.
    old = [k for k in harvest if "arxiv-a" in k]
    new = [k for k in harvest if "arxiv-b" in k]
    assert len(old) == 1 and len(new) == 1, harvest
    assert harvest[old[0]] == builds["meta_first"][old[0]]
    assert harvest[new[0]]["skipped"] is False
    assert meta["papers"]["skipped"] is False
    new_papers = meta["papers"]["dagster/row_count"] - builds["meta_first"]["papers"]["dagster/row_count"]
    assert new_papers > 0
    # Only the new folder's papers were tagged and judged; the rest were carried over.
    assert 0 < meta["tags"]["records_judged"] <= new_papers
    assert (
        meta["tags"]["records_carried_over"] + meta["tags"]["records_judged"]
        == meta["relevance"]["dagster/row_count"]
    )
    assert 0 < meta["languages"]["records_judged"] <= new_papers

    # The incremental tables are what a fresh build of the same inputs writes, byte for byte.
    fresh_home = builds["home"].parent / "fresh_home"
    fresh = _build(fresh_home, [first_folder, second_folder], builds["home"].parent / "fresh_snaps")
    assert fresh.snapshot is not None
    for table in ("papers", "tags", "relevance", "languages", "duplicates", "links"):
        inc = (root.tables / table / f"{table}.parquet").read_bytes()
        scratch = (DataRoot(fresh_home).tables / table / f"{table}.parquet").read_bytes()
        assert inc == scratch, table
    for path in sorted((third.snapshot / "data").rglob("*.parquet")):
        rel = path.relative_to(third.snapshot)
        assert path.read_bytes() == (fresh.snapshot / rel).read_bytes(), rel


def test_touched_file_or_parser_version_reharvests_that_partition(
    builds: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipelines.harvest import harvest_batch
    from pipelines.local_input import plan_local_input
    from pipelines.sources.registry import get_source

    first_folder, _ = builds["folders"]
    root: DataRoot = builds["root"]
    source = get_source("arxiv")
    batch = plan_local_input(first_folder).batches[0]
    assert harvest_batch(source, batch, root).skipped
    # Touch one file (new mtime, same bytes): the partition is read again.
    victim = sorted(first_folder.iterdir())[0]
    st = victim.stat()
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    again = harvest_batch(source, batch, root)
    assert not again.skipped and again.documents > 0
    assert harvest_batch(source, batch, root).skipped
    # A file added to the folder is read too.
    extra = first_folder / "zz_extra.xml"
    shutil.copy2(sorted(builds["folders"][1].glob("*.xml"))[0], extra)
    grown = harvest_batch(source, batch, root)
    assert not grown.skipped and grown.documents == again.documents + 1
    extra.unlink()
    assert not harvest_batch(source, batch, root).skipped  # removed: read again
    assert harvest_batch(source, batch, root).skipped
    # A new parser version re-harvests.
    monkeypatch.setattr(source, "parser_version", source.parser_version + "-bumped")
    assert not harvest_batch(source, batch, root).skipped
    assert harvest_batch(source, batch, root).skipped
    # The raw bytes gone from the store: harvest again, so rows stay traceable to their bytes.
    shutil.rmtree(root.raw)
    assert not harvest_batch(source, batch, root).skipped


def test_bumped_tagger_version_redoes_tags_only(
    builds: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import pipelines.curate.attributes as attributes

    first_folder, second_folder = builds["folders"]
    home, out = builds["home"], builds["out"]
    before = _build(home, [first_folder, second_folder], out)
    monkeypatch.setattr(attributes, "TAGGER_VERSION", attributes.TAGGER_VERSION + ".1")
    # A real bump edits a source file, which changes the build's code fingerprint and so launches the
    # release (test_code_fingerprint_follows_every_source_file); patched in memory, the build state must go.
    for state in (builds["root"].tables / "_releases").glob("build-*.json"):
        state.unlink()
    after = _build(home, [first_folder, second_folder], out)
    meta = _materializations(after.instance)
    assert meta["tags"]["skipped"] is False
    assert meta["tags"]["records_judged"] == meta["relevance"]["dagster/row_count"] > 0
    for asset in ("papers", "languages", "duplicates", "work_map"):
        assert meta[asset]["skipped"] is True, asset
    assert after.snapshot == before.snapshot, "same tag rows (only the version's fingerprint changed)"


def test_code_fingerprint_follows_every_source_file(tmp_path: Path) -> None:
    """The build's code identity is the bytes of the project's sources, committed or not."""
    from pipelines.build_state import CODE_DIRS, PROJECT_ROOT, code_fingerprint

    copy = tmp_path / "project"
    for folder in CODE_DIRS:
        shutil.copytree(PROJECT_ROOT / folder, copy / folder, ignore=shutil.ignore_patterns("__pycache__"))
    assert code_fingerprint(copy) == code_fingerprint(PROJECT_ROOT)
    taxonomy = copy / "pipelines" / "curate" / "safety_taxonomy.yaml"
    taxonomy.write_text(taxonomy.read_text() + "\n# a comment\n")
    assert code_fingerprint(copy) != code_fingerprint(PROJECT_ROOT)
