"""The Inspect source on the real Inspect logs in ../shared/fixtures/eval_logs, cross-checked against
Inspect's own reader (``inspect_ai.log.read_eval_log``), which knows every version of the format."""

from __future__ import annotations

import hashlib
import io
import json
import math
import zipfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines.harvest import harvest_batch
from pipelines.local_input import plan_local_input
from pipelines.parse.inspect_log import MAX_TEXT_CHARS
from pipelines.settings import DataRoot
from pipelines.sources.base import ParseContext, ParseError, RawDocument, Row
from pipelines.sources.registry import get_source
from tests.conftest import FIXTURES, fixture_dir

SOURCE = get_source("inspect_ai")


def inspect_logs() -> list[Path]:
    folder = fixture_dir("eval_logs")
    return sorted(p for p in folder.iterdir() if SOURCE.recognizes(p.name, p.read_bytes()[:4096]))


def parse(data: bytes, name: str, license: str | None = "MIT") -> tuple[list[Row], list[Row], ParseContext]:
    ctx = ParseContext(options={"license": license} if license else {})
    doc = RawDocument(data, hashlib.sha256(data).hexdigest(), name, "file")
    results: list[Row] = []
    samples: list[Row] = []
    for table, row in SOURCE.parse(doc, ctx):
        (results if table == "results" else samples).append(row)
    return results, samples, ctx


def test_claims_every_inspect_log_and_nothing_else() -> None:
    names = {p.name for p in inspect_logs()}
    assert len(names) == 14
    assert all(n.startswith("inspect_") for n in names)


@pytest.mark.parametrize(
    "path", inspect_logs() if (FIXTURES / "eval_logs").is_dir() else [], ids=lambda p: p.name
)
def test_rows_agree_with_inspects_own_reader(path: Path) -> None:
    from inspect_ai.log import read_eval_log

    log = read_eval_log(str(path))
    results, samples, _ = parse(path.read_bytes(), path.name)
    run_ids = {r["run_id"] for r in results}
    assert len(run_ids) == 1
    expected_id = f"inspect:{log.eval.eval_id}" if getattr(log.eval, "eval_id", None) else None
    # Inspect's reader fills eval_id with a new random id when the log has none: only compare when stated.
    stated = json.loads(_header_bytes(path)).get("eval", {}).get("eval_id")
    if stated:
        assert run_ids == {expected_id}
    else:
        assert run_ids == {f"inspect:task-{log.eval.task_id}"}
    row = results[0]
    assert row["task"] == log.eval.task
    assert row["model_source_name"] == log.eval.model
    assert row["status"] == log.status
    assert row["framework_version"] == log.eval.packages.get("inspect_ai")
    by_metric = {(r["scorer"], r["metric"]): r for r in results}
    expected_metrics = 0
    for score in log.results.scores if log.results else []:
        for name, metric in score.metrics.items():
            if name == "stderr" and any(m in score.metrics for m in ("accuracy", "mean")):
                mean = next(m for m in ("accuracy", "mean") if m in score.metrics)
                assert by_metric[(score.name, mean)]["stderr"] == pytest.approx(metric.value)
                continue
            expected_metrics += 1
            got = by_metric[(score.name, name)]["value"]
            if isinstance(metric.value, float) and math.isnan(metric.value):
                assert got is None and by_metric[(score.name, name)]["value_text"] == "NaN"
            else:
                assert got == pytest.approx(metric.value)
    assert len(results) == max(expected_metrics, 1)
    if log.results:
        assert row["n_samples"] == log.results.completed_samples
    # Samples: the same (id, epoch) pairs in the same order, the same score values.
    expected_samples = [(str(s.id), s.epoch) for s in log.samples or []]
    assert sorted((s["sample_id"], s["epoch"]) for s in samples) == sorted(expected_samples)
    for theirs in log.samples or []:
        ours = next(s for s in samples if s["sample_id"] == str(theirs.id) and s["epoch"] == theirs.epoch)
        assert {sc["scorer"] for sc in ours["scores"] or []} == set((theirs.scores or {}).keys())
        for name, score in (theirs.scores or {}).items():
            mine = next(sc for sc in ours["scores"] if sc["scorer"] == name)
            assert json.loads(mine["value"]) == score.value
            assert mine["answer"] == score.answer
        if theirs.output and theirs.output.choices:
            assert ours["output_text"] == theirs.output.completion or ours["output_chars"] > MAX_TEXT_CHARS


def _header_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    if data.startswith(b"PK"):
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            names = z.namelist()
            return z.read("header.json" if "header.json" in names else "_journal/start.json")
    return data


def test_keys_come_from_the_log_not_the_file_name() -> None:
    path = fixture_dir("eval_logs") / "inspect_log_read_sample.eval"
    a, sa, _ = parse(path.read_bytes(), "one/name.eval")
    b, sb, _ = parse(path.read_bytes(), "another.eval")
    assert a == b and sa == sb
    assert a[0]["run_id"] == "inspect:C3pqnFnsCUx6ZpmsRU9Ape"
    assert a[0]["model_id"] == "ollama/gemma3"


def test_the_same_run_as_eval_and_json_has_the_same_keys() -> None:
    folder = fixture_dir("eval_logs")
    eval_rows, _, _ = parse((folder / "inspect_log_formats.eval").read_bytes(), "a.eval")
    json_rows, _, _ = parse((folder / "inspect_log_formats.json").read_bytes(), "a.json")
    assert {r["result_id"] for r in eval_rows} == {r["result_id"] for r in json_rows}


def test_cancelled_run_is_kept_with_its_status() -> None:
    path = fixture_dir("eval_logs") / "inspect_2025-05-12T20-28-13-04-00_popularity.json"
    results, samples, _ = parse(path.read_bytes(), path.name)
    assert {r["status"] for r in results} == {"cancelled"}
    assert len(samples) == 3


def test_run_without_scores_is_kept_as_one_row() -> None:
    path = (
        fixture_dir("eval_logs") / "inspect_2025-02-11T15-17-00-05-00_popularity_dPiJifoWeEQBrfWsAopzWr.eval"
    )
    results, samples, _ = parse(path.read_bytes(), path.name)
    assert [(r["metric"], r["value"]) for r in results] == [("", None)]
    assert len(samples) == 10


def test_transcript_text_only_under_a_license_that_allows_it() -> None:
    path = (
        fixture_dir("eval_logs") / "inspect_2025-02-11T15-18-04-05-00_popularity_mj7khqpMM4GBCfVQozKgzB.eval"
    )
    _, with_license, _ = parse(path.read_bytes(), path.name, "MIT")
    _, without, _ = parse(path.read_bytes(), path.name, None)
    assert all(s["input_text"] and s["output_text"] for s in with_license)
    assert all(s["input_text"] is None and s["output_text"] is None for s in without)
    assert [s["input_sha256"] for s in with_license] == [s["input_sha256"] for s in without]
    assert {s["license"] for s in without} == {"unknown"}
    first = with_license[0]
    assert first["sample_id"] == "1" and first["epoch"] == 1
    assert [s["sample_id"] for s in with_license] == [str(i) for i in range(1, 11)], (
        "ordered by id, not zip order"
    )
    assert first["scores"][0]["value_float"] in (0.0, 1.0)


def test_attachments_are_resolved() -> None:
    path = fixture_dir("eval_logs") / "inspect_log_message_deduplication.eval"
    _, samples, _ = parse(path.read_bytes(), path.name)
    assert samples and "attachment://" not in (samples[0]["input_text"] or "")


def test_truncated_eval_is_an_error_naming_the_file() -> None:
    data = (
        fixture_dir("eval_logs") / "inspect_2025-02-11T15-18-04-05-00_popularity_mj7khqpMM4GBCfVQozKgzB.eval"
    ).read_bytes()
    with pytest.raises(ParseError, match=r"cut\.eval"):
        parse(data[: len(data) // 2], "cut.eval")


def test_truncated_json_and_foreign_json_are_errors() -> None:
    data = (fixture_dir("eval_logs") / "inspect_log_images.json").read_bytes()
    with pytest.raises(ParseError, match=r"half\.json: not valid JSON"):
        parse(data[: len(data) // 2], "half.json")
    with pytest.raises(ParseError, match=r"other\.json"):
        parse(b'{"version": 2, "status": "success", "eval": {}}', "other.json")


def test_nan_metric_and_unknown_version() -> None:
    log = json.loads((fixture_dir("eval_logs") / "inspect_log_images.json").read_bytes())
    log["version"] = 99
    log["results"]["scores"][0]["metrics"]["accuracy"]["value"] = float("nan")
    results, _, ctx = parse(json.dumps(log).encode(), "odd.json")
    accuracy = next(r for r in results if r["metric"] == "accuracy")
    assert accuracy["value"] is None and accuracy["value_text"] == "NaN"
    assert any("version 99" in note for note in ctx.notes)


def test_harvest_stages_every_inspect_log_and_reingesting_adds_nothing(tmp_path: Path) -> None:
    root = DataRoot(tmp_path / "home").ensure()
    folder = tmp_path / "logs"
    folder.mkdir()
    for path in inspect_logs():
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "broken.eval").write_bytes(b"PK\x03\x04 truncated")
    plan = plan_local_input(folder)
    [batch] = [b for b in plan.batches if b.source == "inspect_ai"]
    summary = harvest_batch(SOURCE, batch, root)
    assert summary.documents == 15
    assert summary.rows["results"] >= 14 and summary.rows["result_samples"] >= 20
    assert len(summary.errors) == 1 and "broken.eval" in summary.errors[0]
    fetches = pq.read_table(summary.outputs["fetches"]).to_pylist()
    assert [f["status"] for f in fetches if f["url_or_path"].endswith("broken.eval")] == ["error"]
    first = pq.read_table(summary.outputs["results"]).column("result_id").to_pylist()
    again = harvest_batch(SOURCE, batch, root)
    assert pq.read_table(again.outputs["results"]).column("result_id").to_pylist() == first
