"""Results read from papers' tables: on the real GROBID tables of the fixtures (hand-labelled below) and on
constructed tables for each format the reader accepts and each shape it must refuse."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.curate.paper_tables import paper_table_results, results_from_table
from pipelines.parse.grobid_tei import parse_tei
from pipelines.snapshot.parquet import ParquetTableWriter
from pipelines.sources.base import ParseContext, ParseError, Row
from schemas import table_spec
from schemas.results import RESULTS_SCHEMA
from tests.conftest import fixture_dir

# Every table with cells in the TEI fixtures, by (file prefix, table index in the file): whether it is a
# results table, and the reason. No cell of any of them can be read without doubt (GROBID merged their
# cells), so the right output is no rows: a wrong number is worse than a missing one.
LABELS = {
    ("062RoisinAron", 0): (False, "a notation list, one cell"),
    ("062RoisinAron", 1): (False, "body text and equations GROBID took for a table"),
    ("2020.acl-main.207", 0): (
        True,
        "SciDocs results of SPECTER, but the five scores are one merged cell "
        "and the header names no metric: left out",
    ),
    ("e5910c027af0", 0): (True, "segmentation results, columns merged (61.36 61.40 66.72 in one cell)"),
    ("e5910c027af0", 1): (True, "cross-location results, label and number merged ('Ours (G-pooling) 37.27')"),
    ("e5910c027af0", 2): (False, "a threshold sweep: numeric column headers"),
    ("e5910c027af0", 3): (True, "results with merged cells and symbol rows ('×')"),
}


def _fixture_tables() -> list[tuple[str, int, list[list[str]], str | None]]:
    out = []
    for path in sorted(fixture_dir("grobid_tei").iterdir()):
        try:
            rows = list(parse_tei(path.read_bytes(), ParseContext(), path.name, raw_sha256="0" * 64))
        except ParseError:
            continue
        caption, index = None, 0
        for table, row in rows:
            if table != "paper_texts":
                continue
            if row["kind"] == "table_caption":
                caption = row["text"]
            elif row["kind"] == "table" and row["table_cells"]:
                out.append((path.name, index, row["table_cells"], caption))
                index += 1
    return out


def test_real_tables_give_no_wrong_number() -> None:
    tables = _fixture_tables()
    assert len(tables) >= 7
    emitted = 0
    for name, index, cells, caption in tables:
        label = next((v for (prefix, i), v in LABELS.items() if name.startswith(prefix) and i == index), None)
        assert label is not None, f"unlabelled real table {name} #{index}"
        emitted += len(results_from_table(cells, caption))
    # Precision 1.0 on the labelled set (nothing emitted, nothing wrong); recall 0 of 4 results tables,
    # all of them garbled by GROBID.
    assert emitted == 0


def test_aligned_results_table() -> None:
    cells = [
        ["Model", "MMLU", "GSM8K (acc)", "Perplexity"],
        ["GPT-2", "32.4", "**12.5**", "18.3"],
        ["Ours", "45.1 ± 0.3", "20.0%", "-"],
    ]
    got = results_from_table(cells, "Table 2: Results on three benchmarks.")
    as_tuples = {(c.label, c.header, c.value, c.stderr, c.unit) for c in got}
    assert as_tuples == {
        ("GPT-2", "MMLU", 32.4, None, None),
        ("GPT-2", "GSM8K (acc)", 12.5, None, None),
        ("GPT-2", "Perplexity", 18.3, None, None),
        ("Ours", "MMLU", 45.1, 0.3, None),
        ("Ours", "GSM8K (acc)", 20.0, None, "percent"),
    }
    assert {c.row for c in got} == {1, 2} and {c.column for c in got} == {1, 2, 3}
    assert all(0.9 <= c.confidence <= 0.95 for c in got)


def test_group_header_tells_repeated_metrics_apart() -> None:
    cells = [
        ["", "Potsdam", "", "Vaihingen", ""],
        ["Method", "mIoU", "PA", "mIoU", "PA"],
        ["DeepLab", "68.33", "80.67", "40.04", "63.21"],
    ]
    got = results_from_table(cells, None)
    assert {(c.group, c.header, c.value) for c in got} == {
        ("Potsdam", "mIoU", 68.33),
        ("Potsdam", "PA", 80.67),
        ("Vaihingen", "mIoU", 40.04),
        ("Vaihingen", "PA", 63.21),
    }


def test_merged_cells_are_split_only_when_names_are_certain() -> None:
    cells = [["Training signal", "CLS USR CITE REC All"], ["SPECTER", "84.2 88.4 91.5 36.9 80.0"]]
    assert results_from_table(cells, "Results on SciDocs.")[3].value == 36.9
    assert {c.confidence for c in results_from_table(cells, "Results on SciDocs.")} == {0.75}
    assert results_from_table(cells, None) == [], "no metric, no results caption: not a results table"
    merged_names = [["Methods", "Roads Buildings Low Veg. Trees"], ["Max", "70.62 74.28 65.94 61.36"]]
    assert results_from_table(merged_names, "Experimental results") == [], "names of two words: ambiguous"


def test_tables_that_are_not_results_are_refused() -> None:
    hyperparameters = [["Threshold", "1.0", "1.5", "2.0"], ["Potsdam", "15.87", "9.85", "7.65"]]
    statistics = [["Dataset", "Train", "Test"], ["MNIST", "60000", "10000"]]
    symbols = [["Network", "mIoU"], ["×", "67.97"], ["✓", "68.33"]]
    duplicate_columns = [["Model", "acc", "acc"], ["A", "1.0", "2.0"]]
    assert results_from_table(hyperparameters, "Results") == []
    assert results_from_table(statistics, "Dataset statistics") == []
    assert results_from_table(symbols, "Results") == []
    assert results_from_table(duplicate_columns, "Results") == []
    assert results_from_table([], "Results") == []
    assert results_from_table([["only one row"]], "Results") == []


def test_rows_from_parquet_fit_the_results_schema(tmp_path: Path) -> None:
    texts = tmp_path / "paper_texts.parquet"
    base: Row = {
        "work_id": "arxiv:2401.00001",
        "section_index": 3,
        "text_quality": "structured",
        "source": "grobid_tei",
        "source_record_id": "x",
        "raw_sha256": "ab" * 32,
        "parser": "grobid_tei",
        "parser_version": "1",
        "pipeline_version": "test",
        "license": "CC-BY-4.0",
        "license_source": "test",
    }
    paragraphs = [
        {
            **base,
            "paragraph_index": 0,
            "paragraph_id": "p0",
            "kind": "table_caption",
            "text": "Table 1. Results.",
        },
        {
            **base,
            "paragraph_index": 1,
            "paragraph_id": "p1",
            "kind": "table",
            "text": "t",
            "table_cells": [["Model", "Accuracy"], ["Baseline", "50.0"], ["Ours", "61.5"]],
        },
    ]
    with ParquetTableWriter(texts, table_spec("paper_texts")) as writer:
        for p in paragraphs:
            writer.add(p)
    rows = list(paper_table_results([texts]))
    pa.RecordBatch.from_pylist(rows, schema=RESULTS_SCHEMA)
    assert [(r["model_source_name"], r["value"], r["evidence"]) for r in rows] == [
        ("Baseline", 50.0, "table 0, row 1, column 1"),
        ("Ours", 61.5, "table 0, row 2, column 1"),
    ]
    assert all(r["model_id"] is None and r["source"] == "paper_table" for r in rows), (
        "bare names stay unmapped"
    )
    assert len({r["result_id"] for r in rows}) == 2
    assert pq.read_table(texts).num_rows == 2
