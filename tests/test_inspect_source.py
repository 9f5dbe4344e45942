"""The Inspect source on the real Inspect logs in ../shared/fixtures/eval_logs, cross-checked against
Inspect's own reader (``inspect_ai.log.read_eval_log``, a dev dependency), which knows every version of the
format.

Variants no recording covers (a run that never finished, an errored run, secrets in the config, NaN,
Zstandard members, corrupt members) are made in the tests from the real logs' bytes: Inspect's own
``write_eval_log`` for a current-format `.eval`, and small edits of the recorded JSON otherwise.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import struct
import zipfile
import zlib
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from pipelines.harvest import harvest_batch
from pipelines.local_input import plan_local_input
from pipelines.parse.inspect_log import MAX_TEXT_CHARS
from pipelines.parse.results_common import parse_timestamp
from pipelines.settings import DataRoot
from pipelines.sources.base import ParseContext, ParseError, RawDocument, Row
from pipelines.sources.registry import all_sources, get_source
from tests.conftest import FIXTURES, fixture_dir

SOURCE = get_source("inspect_ai")
POPULARITY = "inspect_2025-02-11T15-18-04-05-00_popularity_mj7khqpMM4GBCfVQozKgzB.eval"
UNSCORED = "inspect_2025-02-11T15-17-00-05-00_popularity_dPiJifoWeEQBrfWsAopzWr.eval"
CANCELLED_JSON = "inspect_2025-05-12T20-28-13-04-00_popularity.json"


def inspect_logs() -> list[Path]:
    folder = FIXTURES / "eval_logs"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if SOURCE.recognizes(p.name, p.read_bytes()[:4096]))


def fixture(name: str) -> bytes:
    return (fixture_dir("eval_logs") / name).read_bytes()


def parse(data: bytes, name: str, license: str | None = "MIT") -> tuple[list[Row], list[Row], ParseContext]:
    ctx = ParseContext(options={"license": license} if license else {})
    doc = RawDocument(data, hashlib.sha256(data).hexdigest(), name, "file")
    results: list[Row] = []
    samples: list[Row] = []
    for table, row in SOURCE.parse(doc, ctx):
        (results if table == "results" else samples).append(row)
    return results, samples, ctx


def parse_until_error(data: bytes, name: str) -> tuple[list[tuple[str, Row]], ParseError | None]:
    doc = RawDocument(data, hashlib.sha256(data).hexdigest(), name, "file")
    rows: list[tuple[str, Row]] = []
    try:
        for item in SOURCE.parse(doc, ParseContext()):
            rows.append(item)
    except ParseError as exc:
        return rows, exc
    return rows, None


def rewrite_eval(
    data: bytes, drop: Collection[str] = (), edit: dict[str, Callable[[Any], Any]] | None = None
) -> bytes:
    """The members of a `.eval` written again (deflate), without `drop`, JSON members changed by `edit`."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if info.filename in drop:
                continue
            raw = src.read(info)
            if edit and info.filename in edit:
                raw = json.dumps(edit[info.filename](json.loads(raw))).encode()
            dst.writestr(info.filename, raw)
    return out.getvalue()


def handmade_zip(members: list[tuple[str, bytes, bytes, int]]) -> bytes:
    """A zip of (name, data, stored bytes, compression method) members, for methods Python's zipfile cannot
    write (Zstandard written as several frames, xz)."""
    body = io.BytesIO()
    central = io.BytesIO()
    for name, raw, stored, method in members:
        offset = body.tell()
        encoded = name.encode()
        crc = zlib.crc32(raw)
        body.write(
            struct.pack(
                "<4s5H3L2H",
                b"PK\x03\x04",
                63,
                0,
                method,
                0,
                0x21,
                crc,
                len(stored),
                len(raw),
                len(encoded),
                0,
            )
        )
        body.write(encoded + stored)
        central.write(
            struct.pack(
                "<4s6H3L5H2L",
                b"PK\x01\x02",
                63,
                63,
                0,
                method,
                0,
                0x21,
                crc,
                len(stored),
                len(raw),
                len(encoded),
                0,
                0,
                0,
                0,
                0,
                offset,
            )
            + encoded
        )
    directory = central.getvalue()
    n = len(members)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, n, n, len(directory), body.tell(), 0)
    return body.getvalue() + directory + end


# -- what the source claims ----------------------------------------------------------------------------


def test_claims_exactly_the_inspect_logs_among_all_fixtures() -> None:
    fixture_dir("eval_logs")
    claimed = sorted(
        p.relative_to(FIXTURES).as_posix()
        for p in FIXTURES.rglob("*")
        if p.is_file() and SOURCE.recognizes(p.name, p.read_bytes()[:4096])
    )
    assert len(claimed) == 14
    assert all(c.startswith("eval_logs/inspect_") for c in claimed)
    others = [s for s in all_sources().values() if s.name != "inspect_ai"]
    for path in inspect_logs():
        head = path.read_bytes()[:4096]
        assert not [s.name for s in others if s.recognizes(path.name, head)], path.name


# -- cross-check against Inspect's own reader, every recorded log ---------------------------------------


def _inspect_float(value: Any) -> float | None:
    from inspect_ai.scorer import value_to_float

    if isinstance(value, (dict, list)):
        return None
    result = value_to_float()(value)
    return None if isinstance(result, float) and math.isnan(result) else result


@pytest.mark.parametrize("path", inspect_logs(), ids=lambda p: p.name)
def test_rows_agree_with_inspects_own_reader(path: Path) -> None:
    from inspect_ai.log import read_eval_log

    log = read_eval_log(str(path))
    results, samples, ctx = parse(path.read_bytes(), path.name)
    assert not [n for n in ctx.notes if "version" in n]
    ev = log.eval
    # Inspect's reader invents a random eval_id for logs that have none: compare only a stated one.
    stated = _header(path)["eval"].get("eval_id")
    expected_run = f"inspect:{stated}" if stated else f"inspect:{ev.run_id}/{ev.task_id}"
    assert {r["run_id"] for r in results} | {s["run_id"] for s in samples} == {expected_run}
    row = results[0]
    generation = {**ev.model_generate_config.model_dump(), **log.plan.config.model_dump(exclude_none=True)}
    usage = list(log.stats.model_usage.values())
    assert {
        "source_run_id": row["source_run_id"],
        "task": row["task"],
        "task_version": row["task_version"],
        "model_source_name": row["model_source_name"],
        "status": row["status"],
        "framework_version": row["framework_version"],
        "dataset_name": row["dataset_name"],
        "dataset_location": row["dataset_location"],
        "solver": row["solver"],
        "temperature": row["temperature"],
        "max_tokens": row["max_tokens"],
        "limit": row["limit"],
        "epochs": row["epochs"],
        "started_at": row["started_at"],
        "input_tokens": row["input_tokens"],
        "total_tokens": row["total_tokens"],
    } == {
        "source_run_id": ev.run_id,
        "task": ev.task,
        "task_version": str(ev.task_version),
        "model_source_name": ev.model,
        "status": log.status,
        "framework_version": ev.packages.get("inspect_ai"),
        "dataset_name": ev.dataset.name,
        "dataset_location": ev.dataset.location,
        "solver": " -> ".join(step.solver for step in log.plan.steps) or None,
        "temperature": generation.get("temperature"),
        "max_tokens": generation.get("max_tokens"),
        "limit": ev.config.limit,
        "epochs": ev.config.epochs,
        "started_at": parse_timestamp(log.stats.started_at),
        "input_tokens": sum(u.input_tokens for u in usage) if usage else None,
        "total_tokens": sum(u.total_tokens for u in usage) if usage else None,
    }
    assert row["benchmark"] == (ev.dataset.name or ev.task.rsplit("/", 1)[-1]).lower()
    assert row["n_samples"] == (log.results.completed_samples if log.results else None)
    assert row["n_samples_total"] == (log.results.total_samples if log.results else ev.dataset.samples)
    # Every metric of every scorer, stderr attached to the scorer's accuracy (or mean) row.
    by_metric = {(r["scorer"], r["metric"]): r for r in results}
    expected_rows = 0
    for score in log.results.scores if log.results else []:
        mean = next((m for m in ("accuracy", "mean") if m in score.metrics), None)
        for name, metric in score.metrics.items():
            if name == "stderr" and mean:
                assert by_metric[(score.name, mean)]["stderr"] == pytest.approx(metric.value)
                continue
            expected_rows += 1
            got = by_metric[(score.name, name)]
            if math.isnan(metric.value):
                assert got["value"] is None and got["value_text"] == "NaN"
            else:
                assert got["value"] == pytest.approx(metric.value)
    assert len(results) == max(expected_rows, 1)
    if expected_rows == 0:
        assert [(r["metric"], r["value"]) for r in results] == [("", None)]
    # Samples: the same (id, epoch) pairs; a `.eval` in (id, epoch) order; the same scores and texts.
    theirs_by_key = {(str(s.id), s.epoch): s for s in log.samples or []}
    assert sorted((s["sample_id"], s["epoch"]) for s in samples) == sorted(theirs_by_key)
    if path.suffix == ".eval":
        keys = [(int(s["sample_id"]), s["epoch"]) for s in samples]
        assert keys == sorted(keys)
    for ours in samples:
        theirs = theirs_by_key[(ours["sample_id"], ours["epoch"])]
        assert ours["sample_uuid"] == theirs.uuid
        assert ours["n_messages"] == len(theirs.messages)
        assert ours["total_time_s"] == theirs.total_time
        assert ours["error"] == (theirs.error.message if theirs.error else None)
        assert ours["limit"] == (theirs.limit.type if theirs.limit else None)
        target = "\n".join(theirs.target) if isinstance(theirs.target, list) else theirs.target
        assert (
            ours["target_text"] == target
            and ours["target_sha256"] == hashlib.sha256(target.encode()).hexdigest()
        )
        if isinstance(theirs.input, str):
            assert ours["input_text"] == theirs.input
        else:
            assert ours["input_text"].splitlines()[0].startswith(f"{theirs.input[0].role}: ")
        assert ours["output_text"] == theirs.output.completion
        sample_usage = list(theirs.model_usage.values())
        assert ours["output_tokens"] == (sum(u.output_tokens for u in sample_usage) if sample_usage else None)
        assert {sc["scorer"] for sc in ours["scores"]} == set(theirs.scores or {})
        for scorer, sample_score in (theirs.scores or {}).items():
            mine = next(sc for sc in ours["scores"] if sc["scorer"] == scorer)
            assert json.loads(mine["value"]) == sample_score.value
            assert mine["value_float"] == _inspect_float(sample_score.value)
            assert mine["answer"] == sample_score.answer
            assert mine["explanation"] == sample_score.explanation


def _header(path: Path) -> dict[str, Any]:
    data = path.read_bytes()
    if data.startswith(b"PK"):
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return json.loads(z.read("header.json"))
    return json.loads(data)


# -- keys and determinism -------------------------------------------------------------------------------


def test_keys_come_from_the_log_not_the_file_name_or_path() -> None:
    data = fixture("inspect_log_read_sample.eval")
    a, sa, _ = parse(data, "one/folder/name.eval")
    b, sb, _ = parse(data, "/elsewhere/another.eval")
    assert a == b and sa == sb
    assert a[0]["run_id"] == "inspect:C3pqnFnsCUx6ZpmsRU9Ape"
    assert a[0]["source_record_id"] == a[0]["run_id"] and a[0]["source_url"] is None
    assert sa[0]["source_record_id"] == "inspect:C3pqnFnsCUx6ZpmsRU9Ape#1#1"
    assert a[0]["model_id"] == "ollama/gemma3" and a[0]["model_provider"] == "ollama"
    assert "localhost" not in json.dumps([a, sa], default=str), "the model's base URL is never kept"


def test_reparsing_the_same_bytes_gives_identical_rows() -> None:
    for name in (POPULARITY, CANCELLED_JSON):
        data = fixture(name)
        assert parse(data, name)[:2] == parse(data, name)[:2]


def test_a_run_without_eval_id_is_keyed_by_run_id_and_task_id() -> None:
    results, _, _ = parse(fixture(POPULARITY), POPULARITY)
    assert results[0]["run_id"] == "inspect:2wRuCQ9hGYaGPyAdoobgYV/mj7khqpMM4GBCfVQozKgzB"
    assert results[0]["source_run_id"] == "2wRuCQ9hGYaGPyAdoobgYV"


def test_the_same_run_as_eval_and_json_has_the_same_keys() -> None:
    eval_rows, eval_samples, _ = parse(fixture("inspect_log_formats.eval"), "a.eval")
    json_rows, json_samples, _ = parse(fixture("inspect_log_formats.json"), "a.json")
    assert [r["result_id"] for r in eval_rows] == [r["result_id"] for r in json_rows]
    assert [s["source_record_id"] for s in eval_samples] == [s["source_record_id"] for s in json_samples]
    assert [s["output_sha256"] for s in eval_samples] == [s["output_sha256"] for s in json_samples]


# -- what is read ---------------------------------------------------------------------------------------


def test_metrics_stderr_and_configuration_of_a_scored_run() -> None:
    results, samples, _ = parse(fixture(POPULARITY), POPULARITY)
    [accuracy] = results
    assert (accuracy["scorer"], accuracy["metric"], accuracy["value"], accuracy["unit"]) == (
        "match",
        "accuracy",
        0.8,
        "proportion",
    )
    assert accuracy["stderr"] == pytest.approx(0.13333333333333333)
    assert accuracy["evidence"] == "results.scores[0].metrics.accuracy"
    assert (accuracy["framework"], accuracy["confidence"], accuracy["benchmark"]) == (
        "inspect_ai",
        1.0,
        "popularity",
    )
    assert (accuracy["limit"], accuracy["n_samples"], accuracy["n_samples_total"]) == (10, 10, 10)
    assert accuracy["solver"] == "system_message -> generate"
    config = json.loads(accuracy["config_json"])
    assert list(config) == sorted(config)
    assert config["generate_config"] == {"max_connections": 10}
    assert config["revision"]["origin"] == "git@github.com:UKGovernmentBEIS/inspect_ai.git"
    assert "Yes" in config["solver_params"][0]["template"]
    assert (accuracy["input_tokens"], accuracy["output_tokens"], accuracy["total_tokens"]) == (620, 20, 640)
    assert str(accuracy["run_date"]) == "2025-02-11"
    assert samples[0]["scores"] == [
        {"scorer": "match", "value": '"C"', "value_float": 1.0, "answer": "Yes", "explanation": "Yes"}
    ]


def test_generation_config_columns() -> None:
    [row] = parse(fixture("inspect_mmlu-no-summary-choices.eval"), "m.eval")[0]
    assert (row["temperature"], row["benchmark"], row["dataset_location"]) == (0.0, "cais/mmlu", "cais/mmlu")
    assert row["solver"] == "multiple_choice"
    assert json.loads(row["config_json"])["task_args"] == {"language": "EN_US", "subjects": [], "cot": False}


def test_cancelled_run_is_kept_with_its_status() -> None:
    results, samples, _ = parse(fixture(CANCELLED_JSON), CANCELLED_JSON)
    assert {r["status"] for r in results} == {"cancelled"}
    assert len(samples) == 3
    assert json.loads(samples[0]["metadata_json"]) == {
        "label_confidence": 0.8860552919198255,
        "nested": {"foo": "bar"},
    }


def test_run_without_scores_is_kept_as_one_row() -> None:
    results, samples, _ = parse(fixture(UNSCORED), UNSCORED)
    assert [(r["metric"], r["scorer"], r["value"], r["status"]) for r in results] == [
        ("", "", None, "success")
    ]
    assert len(samples) == 10 and all(s["scores"] == [] for s in samples)


def test_errored_run_keeps_one_row_with_its_error() -> None:
    def fail(header: dict[str, Any]) -> dict[str, Any]:
        header.update(
            status="error",
            error={"message": "RuntimeError: key sk-abcdefghijklmnopqrstuvwx rejected", "traceback": "..."},
        )
        header.pop("results")
        return header

    data = rewrite_eval(fixture(POPULARITY), edit={"header.json": fail})
    results, samples, _ = parse(data, "failed.eval")
    [row] = results
    assert (row["status"], row["metric"], row["value"], row["n_samples"]) == ("error", "", None, None)
    assert row["error_message"] == "RuntimeError: key [redacted] rejected"
    assert len(samples) == 10


def test_a_run_that_never_finished_is_read_from_its_journal(tmp_path: Path) -> None:
    from inspect_ai.log import read_eval_log

    data = rewrite_eval(fixture(POPULARITY), drop={"header.json", "summaries.json", "reductions.json"})
    results, samples, ctx = parse(data, "running.eval")
    [row] = results
    assert (row["status"], row["metric"], row["evidence"]) == (
        "started",
        "",
        "_journal/start.json (no scores)",
    )
    assert (row["n_samples"], row["n_samples_total"], row["completed_at"]) == (10, 10, None)
    assert row["run_id"] == "inspect:2wRuCQ9hGYaGPyAdoobgYV/mj7khqpMM4GBCfVQozKgzB"
    assert len(samples) == 10 and any("header.json" in n for n in ctx.notes)
    (tmp_path / "running.eval").write_bytes(data)
    theirs = read_eval_log(str(tmp_path / "running.eval"))
    assert theirs.status == row["status"] and len(theirs.samples or []) == len(samples)


def test_chat_input_with_an_image_and_a_list_target() -> None:
    _, [sample], _ = parse(fixture("inspect_log_images.json"), "images.json")
    assert sample["input_text"] == "user: What is this a picture of?\n[image]"
    assert sample["target_text"] == "bike\nbicycle"
    assert sample["output_text"] == "[Abstract]" and sample["n_messages"] == 3


def test_attachments_are_resolved() -> None:
    _, [sample], _ = parse(fixture("inspect_log_message_deduplication.eval"), "dedup.eval")
    assert sample["sample_id"] == "0" and sample["n_messages"] == 12
    assert "attachment://" not in json.dumps(sample)


def test_samples_are_ordered_by_id_not_zip_order() -> None:
    _, samples, _ = parse(fixture(POPULARITY), POPULARITY)
    assert [s["sample_id"] for s in samples] == [str(i) for i in range(1, 11)]


# -- licenses and text ----------------------------------------------------------------------------------


def test_transcript_text_only_under_a_license_that_allows_it() -> None:
    data = fixture(POPULARITY)
    results, with_license, _ = parse(data, POPULARITY, "MIT")
    _, without, _ = parse(data, POPULARITY, None)
    assert all(s["input_text"] and s["output_text"] and s["target_text"] for s in with_license)
    assert all(
        s["input_text"] is None and s["output_text"] is None and s["target_text"] is None for s in without
    )
    assert all(sc["answer"] is None and sc["explanation"] is None for s in without for sc in s["scores"])
    assert [s["input_sha256"] for s in with_license] == [s["input_sha256"] for s in without]
    assert [s["output_chars"] for s in with_license] == [s["output_chars"] for s in without]
    assert {(s["license"], s["license_source"]) for s in without} == {("unknown", "not stated in the log")}
    assert {(r["license"], r["license_source"]) for r in results} == {
        ("MIT", "stated at ingest (commons build --license)")
    }
    _, non_commercial, _ = parse(data, POPULARITY, "CC-BY-NC-4.0")
    assert all(s["input_text"] is None for s in non_commercial)


def test_text_longer_than_the_limit_is_withheld_with_its_hash() -> None:
    log = json.loads(fixture(CANCELLED_JSON))
    long_input = "x" * (MAX_TEXT_CHARS + 1)
    log["samples"][0]["input"] = long_input
    _, samples, _ = parse(json.dumps(log).encode(), "long.json")
    assert samples[0]["input_text"] is None and samples[0]["input_chars"] == MAX_TEXT_CHARS + 1
    assert samples[0]["input_sha256"] == hashlib.sha256(long_input.encode()).hexdigest()
    assert samples[1]["input_text"] is not None


def test_secrets_in_the_configuration_never_reach_a_row() -> None:
    secrets = [
        "sk-proj-ABCDEFGHIJKLMNOPQRSTUV",
        "hf_ABCDEFGHIJKLMNOPQRSTUVWX",
        "hunter2",
        "tok-123456789",
        "s3cr3t",
    ]

    def add_secrets(header: dict[str, Any]) -> dict[str, Any]:
        ev = header["eval"]
        ev["model_args"] = {"api_key": secrets[0], "device": "cuda", "client": {"token": "tok-123456789"}}
        ev["model_base_url"] = "https://user:hunter2@models.internal/v1"
        ev["task_args"] = {
            "hf_token": secrets[1],
            "mirror": "https://bot:s3cr3t@data.example/x",
            "note": secrets[0],
        }
        header["plan"]["config"]["extra_headers"] = {"Authorization": "Bearer abcdefghijklmnop"}
        header["plan"]["config"]["reasoning_tokens"] = 512
        return header

    data = rewrite_eval(fixture(POPULARITY), edit={"header.json": add_secrets})
    results, samples, _ = parse(data, "secret.eval")
    text = json.dumps([results, samples], default=str)
    assert not [s for s in [*secrets, "abcdefghijklmnop"] if s in text]
    row = results[0]
    assert json.loads(row["model_args"]) == {"device": "cuda", "client": {}}
    config = json.loads(row["config_json"])
    assert config["generate_config"]["reasoning_tokens"] == 512, "token counts are not secrets"
    assert config["task_args"] == {"mirror": "https://data.example/x", "note": "[redacted]"}


# -- bad input ------------------------------------------------------------------------------------------


def test_truncated_eval_is_an_error_naming_the_file() -> None:
    data = fixture(POPULARITY)
    for cut in (len(data) // 2, len(data) - 7):
        rows, error = parse_until_error(data[:cut], "cut.eval")
        assert error is not None and "cut.eval" in str(error)
        assert rows == [], "a zip cut short has no central directory: nothing is read"


def test_a_corrupt_sample_member_keeps_the_rows_before_it() -> None:
    data = bytearray(fixture(POPULARITY))
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as z:
        info = z.getinfo("samples/10_epoch_1.json")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start + info.compress_size // 2] ^= 0xFF
    rows, error = parse_until_error(bytes(data), "bad-member.eval")
    assert error is not None and "bad-member.eval" in str(error) and "samples/10_epoch_1.json" in str(error)
    assert [t for t, _ in rows] == ["results"] + ["result_samples"] * 9


def test_a_zip_or_json_that_is_not_an_inspect_log_is_an_error() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("data.csv", "a,b\n1,2\n")
    for data, name in (
        (out.getvalue(), "other.eval"),
        (fixture("lmeval_results_Meta-Llama-3-8B-Instruct_gsm8k_2024-08-25.json"), "lm.json"),
        (b'{"version": 2, "status": "success", "eval": {}}', "empty-eval.json"),
        (b"[1, 2, 3]", "list.json"),
        (b"", "empty.json"),
    ):
        rows, error = parse_until_error(data, name)
        assert error is not None and name in str(error) and rows == []


def test_truncated_json_keeps_the_samples_before_the_cut() -> None:
    data = fixture(CANCELLED_JSON)
    rows, error = parse_until_error(data[: len(data) * 2 // 3], "half.json")
    assert error is not None and "half.json: not valid JSON" in str(error)
    assert rows[0][0] == "results" and 0 < len([t for t, _ in rows if t == "result_samples"]) < 3


def test_nan_metric_and_unknown_version_are_read_with_a_note() -> None:
    log = json.loads(fixture("inspect_log_images.json"))
    log["version"] = 99
    log["results"]["scores"][0]["metrics"]["accuracy"]["value"] = float("nan")
    log["results"]["scores"][0]["metrics"]["stderr"]["value"] = float("inf")
    results, samples, ctx = parse(json.dumps(log).encode(), "odd.json")
    [accuracy] = results
    assert (accuracy["value"], accuracy["value_text"], accuracy["stderr"], accuracy["unit"]) == (
        None,
        "NaN",
        None,
        None,
    )
    assert len(samples) == 1
    assert any("version 99" in note for note in ctx.notes)


def test_nan_in_a_sample_falls_back_to_reading_whole_with_the_same_rows() -> None:
    log = json.loads(fixture(CANCELLED_JSON))
    _, streamed, _ = parse(json.dumps(log).encode(), "a.json")
    log["samples"][1]["scores"]["match"]["value"] = float("nan")
    _, samples, ctx = parse(json.dumps(log).encode(), "a.json")
    assert any("NaN" in n for n in ctx.notes)
    assert samples[1]["scores"][0]["value"] == "NaN" and samples[1]["scores"][0]["value_float"] is None
    assert [s for i, s in enumerate(samples) if i != 1] == [s for i, s in enumerate(streamed) if i != 1]
    # NaN after the samples (in `reductions`, not read): the same rows as streaming.
    log = json.loads(fixture(CANCELLED_JSON))
    log["reductions"][0]["samples"][0]["value"] = float("nan")
    assert parse(json.dumps(log).encode(), "a.json")[1] == streamed


def test_a_bom_before_a_json_log_is_skipped() -> None:
    data = fixture("inspect_log_read_sample.json")
    assert parse(b"\xef\xbb\xbf" + data, "bom.json")[:2] == parse(data, "bom.json")[:2]


# -- Zstandard members ----------------------------------------------------------------------------------


def test_a_log_written_by_current_inspect_with_zstd_members(tmp_path: Path) -> None:
    from inspect_ai.log import read_eval_log, write_eval_log

    name = "inspect_log_read_sample.eval"
    write_eval_log(read_eval_log(str(fixture_dir("eval_logs") / name)), str(tmp_path / "new.eval"))
    data = (tmp_path / "new.eval").read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert {i.compress_type for i in z.infolist()} == {93}
    old_results, old_samples, _ = parse(fixture(name), name)
    results, samples, _ = parse(data, "new.eval")
    run_fields = ("result_id", "value", "stderr", "status", "model_id", "n_samples", "total_tokens")
    assert [{k: r[k] for k in run_fields} for r in results] == [
        {k: r[k] for k in run_fields} for r in old_results
    ]
    sample_fields = ("source_record_id", "input_sha256", "output_text", "scores", "total_time_s")
    assert [{k: s[k] for k in sample_fields} for s in samples] == [
        {k: s[k] for k in sample_fields} for s in old_samples
    ]


def test_zstd_members_of_several_frames_and_unreadable_compression() -> None:
    import zstandard

    data = fixture("inspect_log_read_sample.eval")
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        members = [(i.filename, z.read(i)) for i in z.infolist()]
    compressor = zstandard.ZstdCompressor()

    def frames(raw: bytes) -> bytes:
        return compressor.compress(raw[: len(raw) // 2]) + compressor.compress(raw[len(raw) // 2 :])

    zstd_log = handmade_zip([(n, raw, frames(raw), 93) for n, raw in members])
    assert parse(zstd_log, "z.eval")[:2] == parse(data, "z.eval")[:2]
    xz_log = handmade_zip([(n, raw, raw, 95) for n, raw in members])
    rows, error = parse_until_error(xz_log, "x.eval")
    assert rows == [] and error is not None
    assert "x.eval: header.json is compressed with zip method 95 (xz)" in str(error)


# -- end to end -----------------------------------------------------------------------------------------


def test_harvest_stages_every_readable_log_and_records_the_rest(tmp_path: Path) -> None:
    logs = inspect_logs()
    if not logs:
        pytest.skip("../shared/fixtures/eval_logs is absent")
    root = DataRoot(tmp_path / "home").ensure()
    folder = tmp_path / "logs"
    folder.mkdir()
    for path in logs:
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "cut.eval").write_bytes(fixture(POPULARITY)[:5000])
    (folder / "broken.eval").write_bytes(b"PK\x03\x04 truncated")
    plan = plan_local_input(folder)
    [batch] = [b for b in plan.batches if b.source == "inspect_ai"]
    summary = harvest_batch(SOURCE, batch, root)
    assert summary.documents == len(logs) + 2
    staged = pq.read_table(summary.outputs["results"]).to_pylist()
    staged_samples = pq.read_table(summary.outputs["result_samples"]).to_pylist()
    fetches = pq.read_table(summary.outputs["fetches"]).to_pylist()
    expected_runs = {parse(p.read_bytes(), p.name)[0][0]["run_id"] for p in logs}
    assert {r["run_id"] for r in staged} == expected_runs
    assert {r["source"] for r in staged} == {"inspect_ai"} and all(r["raw_sha256"] for r in staged)
    assert len(staged_samples) == sum(len(parse(p.read_bytes(), p.name)[1]) for p in logs)
    by_file = {f["url_or_path"].rsplit("/", 1)[-1]: f for f in fetches}
    assert {n for n, f in by_file.items() if f["status"] == "error"} == {"cut.eval", "broken.eval"}
    assert all(by_file[p.name]["status"] == "ok" for p in logs)
    assert sorted(summary.errors) == sorted(
        e for e in summary.errors if "cut.eval" in e or "broken.eval" in e
    )
    again = harvest_batch(SOURCE, batch, root)
    assert pq.read_table(again.outputs["results"]).column("result_id").to_pylist() == [
        r["result_id"] for r in staged
    ]
