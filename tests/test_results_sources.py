"""lm-evaluation-harness, HELM and Epoch AI results on the real files in ../shared/fixtures/eval_logs: every
metric of each file against an independent walk of the same JSON or CSV, the run-directory bundling of HELM,
bad input, and the whole folder through `commons build`'s harvest with nothing duplicated on re-ingest."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines.harvest import harvest_batch
from pipelines.local_input import plan_local_input, read_local_documents
from pipelines.settings import DataRoot
from pipelines.sources.base import ParseContext, ParseError, RawDocument, Row
from pipelines.sources.registry import detect_source, get_source
from tests.conftest import fixture_dir


def parse(source: str, data: bytes, name: str) -> tuple[list[Row], list[Row], ParseContext]:
    ctx = ParseContext()
    doc = RawDocument(data, hashlib.sha256(data).hexdigest(), name, "file")
    results: list[Row] = []
    links: list[Row] = []
    for table, row in get_source(source).parse(doc, ctx):
        (results if table == "results" else links).append(row)
    return results, links, ctx


def test_each_file_is_claimed_by_exactly_its_format() -> None:
    folder = fixture_dir("eval_logs")
    claimed = {p.name: getattr(detect_source(p), "name", None) for p in folder.iterdir()}
    expected_prefix = {"inspect_": "inspect_ai", "lmeval_": "lm_eval", "helm_": "helm", "epoch_": "epoch"}
    for name, source in claimed.items():
        want = next(v for k, v in expected_prefix.items() if name.startswith(k))
        assert source == want, name


# -- lm-evaluation-harness ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "lmeval_results_Meta-Llama-3-8B-Instruct_gsm8k_2024-08-25.json",
        "lmeval_results_gemma-2b_masakhaner_2026-01-16.json",
        "lmeval_cpu_regression_expected.json",
        "lmeval_legacy_arc_challenge-v2.0-res.json",
    ],
)
def test_lm_eval_every_metric_matches_the_file(name: str) -> None:
    data = (fixture_dir("eval_logs") / name).read_bytes()
    rows, _, _ = parse("lm_eval", data, name)
    doc = json.loads(data)
    expected = {}
    for section in ("results", "groups"):
        for task, metrics in (doc.get(section) or {}).items():
            for key, value in metrics.items():
                metric, _, filt = key.partition(",")
                if metric in ("alias", "name", "sample_len") or metric.endswith("_stderr"):
                    continue
                stderr = metrics.get(f"{metric}_stderr,{filt}" if filt else f"{metric}_stderr")
                expected[(task, metric, filt)] = (value, stderr)
    got = {(r["task"], r["metric"], r["metric_filter"]): r for r in rows}
    assert got.keys() == expected.keys()
    for key, (value, stderr) in expected.items():
        assert got[key]["value"] == pytest.approx(value)
        if isinstance(stderr, float) and math.isfinite(stderr):
            assert got[key]["stderr"] == pytest.approx(stderr)
        else:
            assert got[key]["stderr"] is None, "N/A stderr stays null"
    assert len({r["run_id"] for r in rows}) == 1
    assert rows[0]["run_id"] == f"lm_eval:{hashlib.sha256(data).hexdigest()[:16]}"


def test_lm_eval_run_details() -> None:
    name = "lmeval_results_Meta-Llama-3-8B-Instruct_gsm8k_2024-08-25.json"
    rows, _, _ = parse("lm_eval", (fixture_dir("eval_logs") / name).read_bytes(), name)
    row = rows[0]
    assert row["model_id"] == "hf:meta-llama/Meta-Llama-3-8B-Instruct"
    assert row["model_args"] == "pretrained=meta-llama/Meta-Llama-3-8B-Instruct"
    assert (row["n_shot"], row["n_samples"], row["n_samples_total"]) == (5, 1319, 1319)
    assert row["task_version"] == "3.0" and row["higher_is_better"] is True
    assert row["run_date"].isoformat() == "2024-08-25" and row["batch_size"] == "auto"


def test_lm_eval_bad_input() -> None:
    data = (fixture_dir("eval_logs") / "lmeval_legacy_arc_challenge-v2.0-res.json").read_bytes()
    with pytest.raises(ParseError, match=r"cut\.json: not valid JSON"):
        parse("lm_eval", data[:40], "cut.json")
    with pytest.raises(ParseError, match=r"other\.json: no `results`"):
        parse("lm_eval", b'{"results": [1, 2]}', "other.json")
    doc = json.loads(data)
    doc["results"]["arc_challenge"]["acc"] = float("nan")
    rows, _, _ = parse("lm_eval", json.dumps(doc).encode(), "nan.json")
    acc = next(r for r in rows if r["metric"] == "acc")
    assert acc["value"] is None and acc["value_text"] == "NaN"


# -- HELM -----------------------------------------------------------------------------------------------


def test_helm_run_files_are_read_as_one_run(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    for path in fixture_dir("eval_logs").glob("helm_bbq_*"):
        (folder / path.name).write_bytes(path.read_bytes())
    [batch] = plan_local_input(folder).batches
    docs = [d for d in read_local_documents(batch) if isinstance(d, RawDocument)]
    assert len(docs) == 1, "run_spec, stats, scenario and predictions are one document"
    rows, _, _ = parse("helm", docs[0].data, docs[0].url_or_path)
    stats = json.loads((folder / "helm_bbq_gpt-4o-2024-05-13_v4_stats.json").read_bytes())
    counted = [s for s in stats if s.get("count")]
    assert len(rows) == len(counted)
    accuracy = next(r for r in rows if r["metric"] == "bbq_accuracy")
    assert accuracy["value"] == pytest.approx(0.95) and accuracy["metric_filter"] == "split=test"
    assert accuracy["model_id"] == "openai/gpt-4o-2024-05-13" and accuracy["task"] == "bbq"
    assert accuracy["subtask"] == "subject=all" and accuracy["n_shot"] == 0 and accuracy["temperature"] == 0.0
    assert accuracy["run_id"].startswith(
        "helm:bbq:subject=all,method=multiple_choice_joint,model=openai_gpt-4o"
    )
    # The same bundle bytes from the raw store parse to the same rows.
    again, _, _ = parse("helm", docs[0].data, "elsewhere")
    assert [r["result_id"] for r in again] == [r["result_id"] for r in rows]


def test_helm_group_table_rows_and_paper_links() -> None:
    name = "helm_groups_safety_scenarios_accuracy_v3.json"
    data = (fixture_dir("eval_logs") / name).read_bytes()
    rows, links, _ = parse("helm", data, name)
    table = json.loads(data)
    numeric = sum(
        1 for row in table["rows"] for cell in row[1:] if isinstance(cell.get("value"), (int, float))
    )
    assert len(rows) == numeric
    bbq = [r for r in rows if r["task"] == "BBQ" and r["model_source_name"] == "Llama 3 (70B)"]
    assert len(bbq) == 1 and bbq[0]["status"] == "reported" and bbq[0]["model_id"] is None
    assert any(link["dst_id"] == "url:https://aclanthology.org/2022.findings-acl.165/" for link in links)
    assert all(link["link_type"] == "evaluates" for link in links)


def test_helm_bad_input() -> None:
    data = (fixture_dir("eval_logs") / "helm_bbq_gpt-4o-2024-05-13_v4_stats.json").read_bytes()
    with pytest.raises(ParseError, match=r"stats\.json: not valid JSON"):
        parse("helm", data[:100], "stats.json")


# -- Epoch AI -------------------------------------------------------------------------------------------


def test_epoch_runs_every_scorer_and_links() -> None:
    name = "epoch_benchmarks_runs.csv"
    data = (fixture_dir("eval_logs") / name).read_bytes()
    rows, links, _ = parse("epoch", data, name)
    records = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert len(rows) == sum(len(r["Scores"].split(",")) for r in records)
    first = next(r for r in rows if r["run_id"] == "epoch:V3YQtSEnQ3TPZEPPgkCKQM")
    assert (first["scorer"], first["value"], first["stderr"], first["task"]) == (
        "choice",
        0.85,
        0.02,
        "GPQA diamond",
    )
    assert first["model_id"] is None, "a bare Epoch model name is not mapped"
    assert first["started_at"].isoformat() == "2025-11-17T16:28:00+00:00"
    kinds = {(link["src_id"], link["link_type"]): link["dst_id"] for link in links}
    assert kinds[("epoch:V3YQtSEnQ3TPZEPPgkCKQM", "run_log")].endswith("V3YQtSEnQ3TPZEPPgkCKQM.eval")
    assert kinds[("epoch:V3YQtSEnQ3TPZEPPgkCKQM", "uses_code")] == "github:epoch-research/benchmarks"


def test_epoch_external_table() -> None:
    name = "epoch_external_benchmark_mmlu.csv"
    rows, _, _ = parse("epoch", (fixture_dir("eval_logs") / name).read_bytes(), name)
    nova = next(r for r in rows if r["run_id"] == "epoch_external:mmlu:reccNX56mRCIhx9ok")
    assert (nova["value"], nova["value_text"], nova["unit"], nova["n_shot"]) == (77.0, "77.0%", "percent", 5)
    assert nova["model_source_name"] == "amazon.nova-lite-v1:0" and nova["status"] == "reported"


def test_epoch_bad_input() -> None:
    with pytest.raises(ParseError, match=r"empty\.csv: empty file"):
        parse("epoch", b"\xef\xbb\xbf\n", "empty.csv")
    with pytest.raises(ParseError, match=r"odd\.csv: not a known Epoch AI layout; columns: a, b"):
        parse("epoch", b"a,b\n1,2\n", "odd.csv")
    data = (fixture_dir("eval_logs") / "epoch_external_benchmark_gsm8k.csv").read_bytes()
    cut = data[: data.index(b"\n", 400)] + b"\nrecTRUNC,Some model"
    rows, _, ctx = parse("epoch", cut, "cut.csv")
    assert rows and any("cut short" in note for note in ctx.notes)
    model_versions = (fixture_dir("eval_logs") / "epoch_model_versions.csv").read_bytes()
    rows, _, ctx = parse("epoch", model_versions, "epoch_model_versions.csv")
    assert rows == [] and ctx.empty


# -- the whole folder -------------------------------------------------------------------------------------


def test_every_readable_file_gives_rows_and_reingest_adds_none(tmp_path: Path) -> None:
    root = DataRoot(tmp_path / "home").ensure()
    plan = plan_local_input(fixture_dir("eval_logs"))
    assert {b.source for b in plan.batches} == {"inspect_ai", "lm_eval", "helm", "epoch"}
    keys: dict[str, list[str]] = {}
    for attempt in range(2):
        for batch in plan.batches:
            summary = harvest_batch(get_source(batch.source), batch, root)
            assert summary.errors == [], summary.errors
            ids = pq.read_table(summary.outputs["results"]).column("result_id").to_pylist()
            if attempt == 0:
                keys[batch.source] = ids
            else:
                assert ids == keys[batch.source], "re-ingesting the same files gives the same keys"
    assert all(keys.values())
