"""The Every Eval Ever export of the results built from every file in ../shared/fixtures/eval_logs, validated
against that project's JSON Schema (v0.3.0, ../shared/reference/every_eval_ever) with jsonschema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from commons.cli import main
from pipelines.curate.combine import build_curated_table
from pipelines.export.every_eval_ever import export_every_eval_ever
from pipelines.harvest import harvest_batch
from pipelines.local_input import plan_local_input
from pipelines.settings import DataRoot
from pipelines.sources.base import BatchSpec
from pipelines.sources.registry import get_source
from schemas import table_spec
from tests.conftest import FIXTURES, fixture_dir

SCHEMA = FIXTURES.parent / "reference" / "every_eval_ever" / "eval.schema.json"


@pytest.fixture(scope="module")
def results_table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = DataRoot(tmp_path_factory.mktemp("home")).ensure()
    staged = []
    for batch in plan_local_input(fixture_dir("eval_logs")).batches:
        licensed = BatchSpec(
            batch.source, batch.kind, batch.key, batch.paths, {**batch.options, "license": "MIT"}
        )
        outputs = harvest_batch(get_source(batch.source), licensed, root).outputs
        if "results" in outputs:
            staged.append(outputs["results"])
    out = root.tables / "results" / "results.parquet"
    build_curated_table(table_spec("results"), staged, out)
    return out


def _validator():  # type: ignore[no-untyped-def]
    import jsonschema

    if not SCHEMA.is_file():
        pytest.skip(f"{SCHEMA} is absent: the export is validated against Every Eval Ever's own JSON Schema")
    return jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()))


def test_every_document_validates(results_table: Path, tmp_path: Path) -> None:
    validator = _validator()
    summary = export_every_eval_ever([results_table], tmp_path / "eee")
    assert summary.documents > 1000 and summary.results > 1300
    frameworks = {path.parent.name for path in summary.files}
    assert frameworks == {"inspect_ai", "lm_eval", "helm", "epoch"}
    for path in summary.files:
        errors = sorted(validator.iter_errors(json.loads(path.read_text())), key=str)
        assert not errors, f"{path.name}: {errors[0].message} at {list(errors[0].path)}"


def test_export_is_deterministic(results_table: Path, tmp_path: Path) -> None:
    a = export_every_eval_ever([results_table], tmp_path / "a")
    b = export_every_eval_ever([results_table], tmp_path / "b")
    assert [p.relative_to(tmp_path / "a") for p in a.files] == [
        p.relative_to(tmp_path / "b") for p in b.files
    ]
    assert all(x.read_bytes() == y.read_bytes() for x, y in zip(a.files, b.files, strict=True))


def test_one_epoch_run_document(results_table: Path, tmp_path: Path) -> None:
    summary = export_every_eval_ever([results_table], tmp_path / "eee")
    [path] = [p for p in summary.files if p.name.startswith("epoch_V3YQtSEnQ3TPZEPPgkCKQM--")]
    doc = json.loads(path.read_text())
    assert doc["eval_library"] == {"name": "epoch", "version": "unknown"}
    assert doc["model_info"]["name"] == "gpt-5.1_medium"
    assert doc["source_metadata"]["source_organization_name"] == "Epoch AI"
    assert (
        doc["source_metadata"]["additional_details"]["research_commons_run_id"]
        == "epoch:V3YQtSEnQ3TPZEPPgkCKQM"
    )
    [result] = doc["evaluation_results"]
    assert result["evaluation_name"] == "GPQA diamond"
    assert result["score_details"]["score"] == 0.85
    assert result["score_details"]["uncertainty"]["standard_error"] == {"value": 0.02}
    assert result["metric_config"]["lower_is_better"] is False
    assert doc["retrieved_timestamp"] == "1763396880"  # the run's start, 17 November 2025 4:28pm UTC


def test_cli_exports_the_latest_snapshot(results_table: Path, tmp_path: Path) -> None:
    snapshot = tmp_path / "snap"
    (snapshot / "data" / "results").mkdir(parents=True)
    (snapshot / "data" / "results" / "results-00000.parquet").write_bytes(results_table.read_bytes())
    result = CliRunner().invoke(
        main, ["export", "every-eval-ever", "--snapshot", str(snapshot), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == str(tmp_path / "o")
    assert list((tmp_path / "o").rglob("*.json"))
