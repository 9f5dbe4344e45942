"""Results read from papers' tables: the real GROBID tables of the TEI fixtures against a hand-labelled truth,
clean extractions of the same tables, constructed tables for each format the reader accepts and each shape
it must refuse, and the Parquet path from `paper_texts` to `results` and `links` rows."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from pipelines.curate.paper_tables import (
    MIN_CONFIDENCE,
    PARSER_NAME,
    TableResult,
    paper_table_links,
    paper_table_results,
    results_from_table,
    write_paper_table_results,
)
from pipelines.parse.grobid_tei import PARSER_NAME as TEI_PARSER
from pipelines.parse.grobid_tei import PARSER_VERSION as TEI_PARSER_VERSION
from pipelines.parse.grobid_tei import parse_tei
from pipelines.snapshot.parquet import ParquetTableWriter
from pipelines.sources.base import ParseContext, ParseError
from schemas import table_spec
from schemas.links import LINKS_SCHEMA
from schemas.results import RESULTS_SCHEMA
from tests.conftest import fixture_dir

# -- the hand-labelled truth ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Labelled:
    """A real table: whether it is a results table and why; for results tables, the table as the paper
    prints it (read off the matching PDF in fixtures/pdfs), as header rows and body rows a correct
    extraction would give, and the full name of each column."""

    results: bool
    reason: str
    caption: str = ""
    header: list[list[str]] = field(default_factory=list)
    # The full name of each column ("" for label columns), per block: a header row between data rows
    # starts the next block.
    columns: list[list[str]] = field(default_factory=list)
    body: list[list[str]] = field(default_factory=list)


_SEG = ["Roads", "Buildings", "Low Veg.", "Trees", "Cars", "mIoU", "Pixel Acc."]


def _row(label: str, numbers: str) -> list[str]:
    return [label, *numbers.split()]


def _group(name: str, width: int) -> list[str]:
    return [name] + [""] * (width - 1)


TABLE_1 = Labelled(
    True,
    "G-pooling paper, Table 1: per-class IoU, mIoU and pixel accuracy of pooling methods on two datasets",
    "Experimental results of FCN using VGG-16 as backbone.",
    [["Methods", *_SEG]],
    [["", *_SEG]],
    [
        _group("Potsdam", 8),
        _row("Max", "70.62 74.28 65.94 61.36 61.40 66.72 79.55"),
        _row("Average", "69.34 74.49 63.94 60.06 60.28 65.62 78.08"),
        _row("Stride", "67.22 73.97 63.01 60.09 59.39 64.74 77.54"),
        _row("P-pooling", "71.97 75.55 66.80 62.03 62.39 67.75 81.02"),
        _row("G-pooling-1.0 (ours)", "68.59 77.39 67.48 55.56 62.18 66.24 79.43"),
        _row("G-pooling-1.5 (ours)", "70.06 76.12 67.67 62.12 63.91 67.98 81.63"),
        _row("G-pooling-2.0 (ours)", "70.99 74.89 65.34 61.57 60.77 66.71 79.46"),
        _group("Vaihingen", 8),
        _row("Max", "70.63 80.42 51.57 70.12 55.32 65.61 81.88"),
        _row("Average", "70.54 79.86 50.49 69.18 54.83 64.98 79.98"),
        _row("Strde conv", "68.36 77.65 49.21 67.34 53.29 63.17 79.44"),
        _row("P-pooling", "71.06 80.52 51.70 70.93 53.65 65.57 82.44"),
        _row("G-pooling-1.0 (ours)", "72.15 79.69 53.28 70.89 53.72 65.95 81.78"),
        _row("G-pooling-1.5 (ours)", "71.61 78.74 48.18 68.53 55.64 64.54 80.42"),
        _row("G-pooling-2.0 (ours)", "71.09 78.88 50.62 68.32 54.01 64.58 80.75"),
    ],
)
# Table 2: the same columns for a model trained on one dataset and tested on the other; each direction is a
# header over the columns (printed centred above them), so its rows are told apart by it.
TABLE_2 = Labelled(
    True,
    "G-pooling paper, Table 2: cross-location results (train on one dataset, test on the other)",
    "Cross-location evaluation.",
    [["", "Potsdam → Vaihingen", "", "", "", "", "", ""], ["", *_SEG]],
    [["", *[f"{way} / {c}" for c in _SEG]] for way in ("Potsdam → Vaihingen", "Vaihingen → Potsdam")],
    [
        _row("Max-pooling", "28.75 51.10 13.48 56.00 25.99 35.06 47.48"),
        _row("stride conv", "28.66 50.98 12.76 55.02 24.81 34.45 46.51"),
        _row("P-pooling", "32.87 50.43 13.04 55.41 25.60 35.47 48.94"),
        _row("Ours (G-pooling)", "37.27 54.53 14.85 54.24 27.35 37.65 55.20"),
        _row("AdaptSegNet", "41.54 40.74 21.68 50.45 36.87 38.26 57.73"),
        ["", "Vaihingen → Potsdam", "", "", "", "", "", ""],
        _row("Max-pooling", "20.36 24.51 19.19 9.71 3.65 15.48 45.32"),
        _row("stride conv", "20.65 23.22 16.57 8.73 8.32 15.50 42.28"),
        _row("P-pooling", "23.97 27.66 14.03 10.30 12.07 19.61 44.98"),
        _row("Ours (G-pooling)", "27.05 29.34 33.57 9.12 16.01 23.02 45.54"),
        _row("AdaptSegNet", "40.28 37.97 46.11 15.87 20.16 32.08 50.28"),
    ],
)
# Table 4: each network is printed once over two rows, without (×) and with (✓) G-pooling; a correct
# extraction gives the name on the first row only.
TABLE_4 = Labelled(
    True,
    "G-pooling paper, Table 4: mIoU and pixel accuracy of three networks without and with G-pooling",
    "Experimental results on comparing w/o and w/ proposed G-pooling for the state-of-the-art segmentation "
    "networks.",
    [["", "", "Potsdam (P)", "", "P→V", ""], ["Network", "G-Pooling", "mIoU", "PA", "mIoU", "PA"]],
    [
        ["", "", "Potsdam (P) / mIoU", "Potsdam (P) / PA", "P→V / mIoU", "P→V / PA"],
        ["", "", "Vaihingen (V) / mIoU", "Vaihingen (V) / PA", "V→P / mIoU", "V→P / PA"],
    ],
    [
        ["DeepLab", "×", "67.97", "81.25", "38.57", "58.47"],
        ["", "✓", "68.33", "80.67", "40.04", "63.21"],
        ["SegNet", "×", "69.47", "82.53", "35.98", "53.69"],
        ["", "✓", "70.17", "83.27", "39.04", "56.42"],
        ["FCN", "×", "66.72", "79.55", "35.06", "47.48"],
        ["", "✓", "67.98", "81.63", "37.65", "55.20"],
        ["", "", "Vaihingen (V)", "", "V→P", ""],
        ["DeepLab", "×", "70.80", "83.74", "18.44", "33.96"],
        ["", "✓", "70.11", "83.09", "19.26", "36.17"],
        ["SegNet", "×", "66.04", "81.79", "16.77", "45.90"],
        ["", "✓", "66.71", "82.66", "25.64", "48.08"],
        ["FCN", "×", "65.61", "81.88", "15.48", "45.32"],
        ["", "✓", "65.95", "81.87", "23.02", "45.54"],
    ],
)
SPECTER_TABLE_3 = Labelled(
    True,
    "SPECTER paper, Table 3: SciDocs averages of SPECTER and SciBERT fine-tuned per task",
    "Comparison with task-specific fine-tuning.",
    [["Training signal", "CLS", "USR", "CITE", "REC", "All"]],
    [["", "CLS", "USR", "CITE", "REC", "All"]],
    [
        _row("SPECTER", "84.2 88.4 91.5 36.9 80.0"),
        _row("SciBERT fine-tune on co-view", "83.0 84.2 84.1 36.4 76.0"),
        _row("SciBERT fine-tune on co-read", "82.3 85.4 86.7 36.3 77.1"),
        _row("SciBERT fine-tune on co-citation", "82.9 84.3 85.2 36.6 76.4"),
        _row("SciBERT fine-tune on multitask", "83.3 86.1 88.2 36.0 78.0"),
    ],
)

# Every table with cells in the TEI fixtures, by (file name prefix, position among the file's tables with
# cells). What GROBID made of each is in the comments: none can be read without doubt.
LABELS: dict[tuple[str, int], Labelled] = {
    ("062RoisinAron", 0): Labelled(False, "a notation list: one cell, `Notation`"),
    ("062RoisinAron", 1): Labelled(False, "body text and equations GROBID took for a table"),
    # Only the SPECTER row is in the table (one cell `84.2 88.4 91.5 36.9 80.0`, header `CLS USR CITE REC
    # All` in one cell); the other four rows went into the caption.
    ("2020.acl-main.207", 0): SPECTER_TABLE_3,
    # Header names in one cell, three numbers in one cell, `G-pooling-1.0 (ours) 68.59` as a label.
    ("e5910c027af0", 0): TABLE_1,
    # As Table 1; in the second block some rows have every number in its own cell, but the header is one
    # cell, so which number is which class cannot be told.
    ("e5910c027af0", 1): TABLE_2,
    ("e5910c027af0", 2): Labelled(False, "Table 3: a sweep over a threshold, numeric column headers"),
    # The network names sit on the ✓ rows (`DeepLab | 68.33 80.67 40.04 63.21`): read as they stand they
    # would give DeepLab without G-pooling the numbers of DeepLab with it. Symbol rows (`×`) and merged
    # numbers refuse the table.
    ("e5910c027af0", 3): TABLE_4,
}


def _truth_cells(table: Labelled) -> set[tuple[str, str, str, float]]:
    """(label, full column name, row group, value) of every number the table prints, derived without the
    reader: a row's label is its label cells (an empty first cell: the name printed on the row above), its
    group the last row with only a first cell, its columns those of its block."""
    out: set[tuple[str, str, str, float]] = set()
    blocks = iter(table.columns)
    columns = next(blocks)
    group, name = "", ""
    for row in table.body:
        if row[0] and not any(row[1:]):
            group = row[0]
            continue
        if not row[0] and not any(_is_number(c) for c in row):
            columns = next(blocks)
            continue
        name = row[0] or name
        labels = [name if j == 0 else c for j, c in enumerate(row) if columns[j] == "" and c]
        for j, cell in enumerate(row):
            if columns[j] and _is_number(cell):
                out.add((" ".join(labels), columns[j], group, float(cell)))
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _clean_cells(table: Labelled) -> list[list[str]]:
    return [*table.header, *table.body]


def _score(found: list[TableResult], truth: set[tuple[str, str, str, float]]) -> tuple[int, int]:
    """(right, wrong): a number is right when the truth has it for that label and column (every part of the
    column's full name in the header read, the bottom one last) and row group."""
    right = wrong = 0
    for cell in found:
        matches = [
            (label, column)
            for label, column, group, value in truth
            if label == cell.label
            and value == cell.value
            and group == cell.group
            and cell.header.split(" / ")[-1] == column.split(" / ")[-1]
            and all(part in cell.header for part in column.split(" / "))
        ]
        right, wrong = (right + 1, wrong) if matches else (right, wrong + 1)
    return right, wrong


def _fixture_tables() -> list[tuple[str, int, list[list[str]], str | None]]:
    """(file name, position, cells, caption) of every table with cells in the TEI fixtures; the caption is
    the `table_caption` row right before the table, as the reader takes it."""
    out = []
    for path in sorted(fixture_dir("grobid_tei").glob("*.xml")):
        try:
            rows = list(parse_tei(path.read_bytes(), ParseContext(), path.name, raw_sha256="0" * 64))
        except ParseError:
            continue
        previous: dict[str, Any] | None = None
        index = 0
        for table, row in rows:
            if table != "paper_texts":
                continue
            if row["kind"] == "table" and row["table_cells"]:
                own = (
                    previous is not None
                    and previous["kind"] == "table_caption"
                    and previous["section_index"] == row["section_index"]
                    and previous["paragraph_index"] == row["paragraph_index"] - 1
                )
                out.append(
                    (path.name, index, row["table_cells"], previous["text"] if own and previous else None)
                )
                index += 1
            previous = row
    return out


def _label(name: str, index: int) -> Labelled | None:
    return next((v for (prefix, i), v in LABELS.items() if name.startswith(prefix) and i == index), None)


def test_real_grobid_tables_give_no_wrong_number() -> None:
    tables = _fixture_tables()
    assert len(tables) == 11, "7 distinct tables, the G-pooling paper's 4 twice (with and without authors)"
    right = wrong = truth_total = 0
    for name, index, cells, caption in tables:
        label = _label(name, index)
        assert label is not None, f"unlabelled real table {name} #{index}"
        found = results_from_table(cells, caption)
        if not label.results:
            assert found == [], f"{name} #{index} is not a results table: {label.reason}"
            continue
        truth = _truth_cells(label)
        truth_total += len(truth)
        r, w = _score(found, truth)
        right, wrong = right + r, wrong + w
    assert wrong == 0, "precision 1.0: no number read wrong"
    # Recall: 0 of 457 printed numbers (241 distinct: the G-pooling paper's 216 are in two fixtures). GROBID
    # garbled every results table here (merged header cells, merged numbers, labels on the wrong rows), and
    # the reader refuses them all.
    assert (right, truth_total) == (0, 457)


def test_clean_extractions_of_the_real_tables_are_read_right() -> None:
    """The same four results tables as a correct extraction would give them: what the reader reads is right,
    and what it leaves out it leaves out for a stated reason."""
    read: dict[str, int] = {}
    for table in (TABLE_1, TABLE_2, TABLE_4, SPECTER_TABLE_3):
        found = results_from_table(_clean_cells(table), table.caption)
        right, wrong = _score(found, _truth_cells(table))
        assert wrong == 0, table.reason
        assert all(c.confidence >= MIN_CONFIDENCE for c in found)
        read[table.reason.split(":")[0]] = right
    # Table 1: mIoU and pixel accuracy of its 14 rows (class columns name no metric) = 28 of 98.
    # Table 2: only rows that look like models (`Ours (G-pooling)`, `AdaptSegNet`; the label column has no
    # header) = 8 of 70. Table 4: the × rows' mIoU (`PA` is no known metric; ✓ rows carry no name) = 12 of
    # 48. SPECTER: `CLS`..`All` name no metric and the caption none either = 0 of 25. Recall 48 / 241.
    assert read == {
        "G-pooling paper, Table 1": 28,
        "G-pooling paper, Table 2": 8,
        "G-pooling paper, Table 4": 12,
        "SPECTER paper, Table 3": 0,
    }
    table_4 = results_from_table(_clean_cells(TABLE_4), TABLE_4.caption)
    assert {(c.label, c.header, c.value) for c in table_4 if c.row == 9} == {
        ("DeepLab ×", "Vaihingen (V) / mIoU", 70.80),
        ("DeepLab ×", "V→P / mIoU", 18.44),
    }
    table_1 = results_from_table(_clean_cells(TABLE_1), TABLE_1.caption)
    assert {c.group for c in table_1} == {"Potsdam", "Vaihingen"}


def _damaged(cells: list[list[str]]) -> list[tuple[str, list[list[str]]]]:
    """The damage GROBID does to tables, at every place: two neighbouring cells run together (the row one
    shorter, or padded with an empty cell at its end; a number run into the label is one of these), an
    empty cell lost, a cell split at a space."""
    out = []
    for i, row in enumerate(cells):
        for j in range(len(row)):
            changed: list[tuple[str, list[str]]] = []
            if j + 1 < len(row):
                merged = [*row[:j], f"{row[j]} {row[j + 1]}".strip(), *row[j + 2 :]]
                changed += [(f"merge {i}:{j}", merged), (f"merge {i}:{j}, padded", [*merged, ""])]
            if not row[j]:
                changed.append((f"lose {i}:{j}", [*row[:j], *row[j + 1 :]]))
            if " " in row[j]:
                head, tail = row[j].split(" ", 1)
                changed.append((f"split {i}:{j}", [*row[:j], head, tail, *row[j + 1 :]]))
            out += [(what, [*cells[:i], new_row, *cells[i + 1 :]]) for what, new_row in changed]
    return out


def test_grobid_like_damage_never_gives_a_wrong_number() -> None:
    for table in (TABLE_1, TABLE_2, TABLE_4, SPECTER_TABLE_3):
        truth = _truth_cells(table)
        for what, cells in _damaged(_clean_cells(table)):
            assert _score(results_from_table(cells, table.caption), truth)[1] == 0, f"{table.reason}: {what}"
    # Constructed tables, against their clean reading: a number read from a damaged table must be one the
    # clean table gives for that label and row group, under the same benchmark and metric.
    for cells in (BENCHMARKS_OVER_METRICS, ROW_SPANNING_HEADER, NEW_HEADER_BETWEEN_ROWS):
        clean = results_from_table(cells, None)
        for what, damaged in _damaged(cells):
            for cell in results_from_table(damaged, None):
                assert any(
                    (c.label, c.group, c.value, c.benchmark)
                    == (cell.label, cell.group, cell.value, cell.benchmark)
                    and cell.metric in ("", c.metric)
                    and c.header.split(" / ")[-1] in cell.header
                    for c in clean
                ), f"{cells[:2]}: {what}: {cell}"


# -- formats ------------------------------------------------------------------------------------------


def _read(cells: list[list[str]], caption: str | None = None) -> dict[tuple[str, str], TableResult]:
    found = results_from_table(cells, caption)
    return {(c.label, c.header): c for c in found}


def test_number_formats() -> None:
    got = _read(
        [
            ["Method", "Accuracy", "F1", "EM (%)"],
            ["Baseline", "85.3 (0.2)", "**80.1**", "61.0"],
            ["Ours", "86.1±0.3", "81.0†", "63.5%"],
            ["Ours-large", "87.0 ± 0.4%", "−", "1,234"],
        ]
    )
    assert (got["Baseline", "Accuracy"].value, got["Baseline", "Accuracy"].stderr) == (85.3, None)
    assert got["Baseline", "F1"].value == 80.1 and got["Baseline", "F1"].text == "**80.1**"
    assert (got["Ours", "Accuracy"].value, got["Ours", "Accuracy"].stderr) == (86.1, 0.3)
    assert got["Ours", "F1"].value == 81.0
    assert (got["Ours-large", "Accuracy"].value, got["Ours-large", "Accuracy"].unit) == (87.0, "percent")
    assert got["Baseline", "EM (%)"].unit == "percent" and got["Baseline", "EM (%)"].metric == "EM"
    assert ("Ours-large", "F1") not in got, "an empty mark is no number"
    assert ("Ours-large", "EM (%)") not in got, "a thousands separator is not guessed at"
    assert got["Baseline", "Accuracy"].higher_is_better is True
    assert all(c.confidence == pytest.approx(0.97 * 0.97 * 0.98, abs=1e-3) for c in got.values())


BENCHMARKS_OVER_METRICS = [
    ["", "MMLU", "", "GSM8K", ""],
    ["Model", "5-shot", "0-shot", "acc", "maj@8"],
    ["Zero-shot prompting", "", "", "", ""],
    ["LLaMA-2-7B", "45.3", "40.1", "14.6", "15.0"],
    ["Mistral-7B", "60.1", "55.0", "52.2", "53.1"],
    ["Chain of thought", "", "", "", ""],
    ["LLaMA-2-7B", "46.0", "41.0", "16.0", "17.2"],
]


def test_benchmark_over_metric_headers_and_row_groups() -> None:
    got = {(c.label, c.header): c for c in results_from_table(BENCHMARKS_OVER_METRICS, None) if c.row < 5}
    first = got["LLaMA-2-7B", "MMLU / 5-shot"]
    assert (first.benchmark, first.metric, first.n_shot, first.group) == (
        "mmlu",
        "",
        5,
        "Zero-shot prompting",
    )
    assert got["Mistral-7B", "MMLU / 0-shot"].n_shot == 0
    gsm = got["Mistral-7B", "GSM8K / acc"]
    assert (gsm.benchmark, gsm.metric, gsm.value) == ("gsm8k", "acc", 52.2)
    maj = got["Mistral-7B", "GSM8K / maj@8"]
    assert (maj.benchmark, maj.metric) == ("gsm8k", ""), (
        "`maj@8` is no metric the reader knows: the header says"
    )
    # The same model under two row groups: two cells, told apart by the group.
    twice = [
        c
        for c in results_from_table(BENCHMARKS_OVER_METRICS, None)
        if c.label == "LLaMA-2-7B" and c.header == "GSM8K / acc"
    ]
    assert sorted((c.group, c.value) for c in twice) == [
        ("Chain of thought", 16.0),
        ("Zero-shot prompting", 14.6),
    ]


def test_names_over_columns_that_cannot_be_placed_refuse_the_table() -> None:
    # GROBID does not say which columns a header cell spans: groups of unequal width could be read either way.
    uneven = [["", "MMLU", "", "GSM8K"], ["Model", "5-shot", "0-shot", "acc"], ["GPT-4", "86.4", "80.0", "92.0"],
              ["Claude 2", "78.5", "70.0", "88.0"]]  # fmt: skip
    assert results_from_table(uneven, None) == []
    # A name over some columns after data rows of a header without groups.
    later = [["Model", "MMLU", "GSM8K"], ["GPT-4", "86.4", "92.0"], ["Claude 2", "78.5", "88.0"],
             ["", "Few-shot", ""], ["GPT-4", "87.0", "93.0"]]  # fmt: skip
    assert {c.row for c in results_from_table(later, None)} == {1, 2}


ROW_SPANNING_HEADER = [
    ["Model", "MMLU", "Reasoning", ""],
    ["", "", "GSM8K", "MATH"],
    ["GPT-4", "86.4", "92.0", "42.5"],
    ["Claude 2", "78.5", "88.0", "30.1"],
]


def test_a_header_spanning_rows_stays_on_its_own_column() -> None:
    got = _read(ROW_SPANNING_HEADER)
    assert set(got) == {
        (m, h) for m in ("GPT-4", "Claude 2") for h in ("MMLU", "Reasoning / GSM8K", "Reasoning / MATH")
    }
    assert got["GPT-4", "Reasoning / MATH"].benchmark == "math"


def test_lower_is_better_and_arrows() -> None:
    got = _read(
        [
            ["Model", "PPL", "Loss", "Error rate (%)", "Score ↓", "Win rate"],
            ["GPT-2", "29.4", "3.1", "12.5", "0.4", "50.0"],
            ["Ours", "25.0", "2.9", "10.0", "0.3", "61.2"],
        ]
    )
    assert {h: got["Ours", h].higher_is_better for _, h in got} == {
        "PPL": False,
        "Loss": False,
        "Error rate (%)": False,
        "Score ↓": False,
        "Win rate": True,
    }
    assert got["Ours", "Error rate (%)"].unit == "percent"


def test_caption_metric_names_plain_columns_only_under_a_model_column() -> None:
    cells = [["Model", "Dev", "Test"], ["GPT-2", "50.1", "49.0"], ["GPT-3", "61.2", "60.0"]]
    got = _read(cells, "Accuracy on SST-2.")
    assert (got["GPT-3", "Test"].metric, got["GPT-3", "Test"].benchmark) == ("Accuracy", "sst-2")
    assert got["GPT-3", "Test"].confidence == pytest.approx(0.85 * 0.97 * 0.98, abs=1e-3)
    assert _read(cells, None) == {}, "no metric anywhere"
    unheaded = [["", "Dev", "Test"], ["GPT-2", "50.1", "49.0"], ["GPT-3", "61.2", "60.0"]]
    assert _read(unheaded, "Accuracy on SST-2.") == {}, "0.85 × 0.93 × 0.98 is under the threshold"


def test_average_column_beside_benchmarks() -> None:
    got = _read(
        [
            ["Model", "MMLU", "GSM8K", "Avg."],
            ["GPT-4", "86.4", "92.0", "89.2"],
            ["PaLM 2", "78.3", "80.7", "79.5"],
        ]
    )
    assert got["GPT-4", "Avg."].value == 89.2 and got["GPT-4", "Avg."].confidence == pytest.approx(
        0.9 * 0.97 * 0.98, abs=1e-3
    )
    assert _read([["Model", "Avg."], ["GPT-4", "89.2"], ["PaLM 2", "79.5"], ["Ours", "80.0"]]) == {}


NEW_HEADER_BETWEEN_ROWS = [
    ["Model", "MMLU", "GSM8K"],
    ["GPT-4", "86.4", "92.0"],
    ["Claude 2", "78.5", "88.0"],
    ["", "HumanEval", "MBPP"],
    ["GPT-4", "67.0", "80.1"],
    ["Claude 2", "71.2", "70.0"],
]


def test_a_new_header_between_data_rows() -> None:
    got = _read(NEW_HEADER_BETWEEN_ROWS)
    assert got["GPT-4", "HumanEval"].value == 67.0 and got["GPT-4", "MMLU"].value == 86.4
    assert got["GPT-4", "HumanEval"].confidence == got["GPT-4", "MMLU"].confidence, "the label header is kept"


def test_rows_after_a_header_that_cannot_be_placed_are_not_read() -> None:
    got = _read(
        [
            ["Model", "MMLU", "GSM8K"],
            ["GPT-4", "86.4", "92.0"],
            ["GPT-J", "OOM", "N/A"],
            ["Claude 2", "78.5", "88.0"],
            ["Method (ours)", "HumanEval", "MBPP"],
            ["GPT-4", "67.0", "80.1"],
        ]
    )
    assert set(got) == {(m, b) for m in ("GPT-4", "Claude 2") for b in ("MMLU", "GSM8K")}
    assert got["GPT-4", "MMLU"].value == 86.4, (
        "a row of marks is passed over, a labelled header ends the reading"
    )
    repeated = [
        ["Model", "MMLU", "GSM8K"],
        ["GPT-4", "86.4", "92.0"],
        ["Claude 2", "78.5", "88.0"],
        ["", "MMLU", "GSM8K"],
        ["GPT-4", "80.0", "90.0"],
    ]
    assert {c.label for c in results_from_table(repeated, None)} == {"Claude 2"}, (
        "GPT-4 twice under the same header and group: which is which cannot be told"
    )


# -- refusals -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("why", "cells", "caption"),
    [
        ("hyperparameters", [["Hyperparameter", "Value"], ["Learning rate", "0.001"], ["Batch size", "32"],
                             ["Epochs", "3"]], "Hyperparameters used for fine-tuning."),
        ("hyperparameter columns", [["Model", "Learning rate", "Batch size", "Epochs"], ["GPT-2", "0.001", "32", "3"],
                                    ["BERT", "0.002", "16", "4"]], None),
        ("dataset statistics", [["Dataset", "#Train", "#Test"], ["MNIST", "60000", "10000"],
                                ["CIFAR-10", "50000", "10000"]], None),
        ("statistics caption", [["Model", "Accuracy"], ["GPT-2", "1"], ["GPT-3", "2"], ["Ours", "3"]],
         "Dataset statistics."),
        ("sweep over a setting", [["Threshold", "1.0", "1.5", "2.0"], ["Potsdam", "15.87", "9.85", "7.65"],
                                  ["Vaihingen", "14.99", "10.44", "7.91"]], "Results"),
        ("numbers as headers", [["Model", "1", "5", "10"], ["GPT-2", "40.1", "45.0", "46.2"],
                                ["GPT-3", "50.1", "55.0", "56.2"]], "Accuracy with k examples."),
        ("empty", [], "Results"),
        ("one empty cell", [[""]], "Results"),
        ("header only", [["Model", "Accuracy"]], "Results"),
        ("ragged", [["Model", "Accuracy", "F1"], ["GPT-2", "35.1", "31.0"], ["GPT-3", "46.9"],
                    ["Ours", "50.0", "47.2"]], None),
        ("merged numbers", [["Model", "Accuracy", "F1"], ["GPT-2", "35.1 31.0", ""], ["GPT-3", "46.9", "40.0"],
                            ["Ours", "50.0", "47.2"]], None),
        ("number run into the label", [["Model", "MMLU", "GSM8K"], ["GPT-4 86.4", "92.0", ""],
                                       ["GPT-3.5", "70.0", "57.1"], ["Ours", "75.0", "60.0"]], None),
        ("symbol labels", [["Network", "mIoU", "Acc"], ["×", "67.97", "81.2"], ["DeepLab", "68.33", "80.6"],
                           ["SegNet", "70.1", "83.2"]], None),
        ("header slid left", [["MMLU", "GSM8K", ""], ["GPT-4", "86.4", "92.0"], ["GPT-3.5", "70.0", "57.1"]], None),
        ("numbers without a header", [["Model", "MMLU", ""], ["GPT-4", "86.4", "92.0"], ["GPT-3.5", "70.0", "57.1"]],
         None),
        ("transposed", [["Metric", "GPT-4", "Claude"], ["Accuracy", "86.4", "80.0"], ["F1", "70.0", "57.1"]], None),
        ("datasets as rows", [["", "Accuracy", "F1"], ["SST-2", "93.1", "92.0"], ["MNLI", "85.0", "84.1"]], None),
        ("label column of tasks", [["Task", "Accuracy"], ["Sentiment", "93.1"], ["Entailment", "85.0"],
                                   ["Paraphrase", "80.0"]], None),
        ("repeated columns", [["", "mIoU", "mIoU"], ["Method", "mIoU", "mIoU"], ["DeepLab", "1.0", "2.0"],
                              ["SegNet", "3.0", "4.0"]], None),
        ("few numbers", [["Model", "Accuracy"], ["GPT-2", "35.1"], ["GPT-3", "-"]], None),
        ("one row", [["Model", "Accuracy", "F1", "EM"], ["GPT-2", "35.1", "30.0", "20.0"]], None),
        ("plain labels", [["", "Accuracy", "F1"], ["Max", "35.1", "30.0"], ["Average", "36.0", "31.0"]], None),
        ("scientific notation", [["Model", "Loss"], ["GPT-2", "1e-4"], ["GPT-3", "2e-4"], ["Ours", "3e-4"]], None),
    ],
)  # fmt: skip
def test_tables_that_cannot_be_read_without_doubt_are_refused(
    why: str, cells: list[list[str]], caption: str | None
) -> None:
    assert results_from_table(cells, caption) == [], why


def test_cells_that_cannot_be_told_apart_or_are_not_scores_are_left_out() -> None:
    got = _read(
        [
            ["Model", "Accuracy", "Δ", "Acc (%)", "#Params"],
            ["LLaMA", "35.1", "-", "35.1", "7"],
            ["LLaMA", "46.9", "+11.8", "146.9", "13"],
            ["GPT-3", "50.0", "+14.9", "50.0", "175"],
        ]
    )
    assert set(got) == {("GPT-3", "Accuracy"), ("GPT-3", "Acc (%)")}, (
        "two LLaMA rows cannot be told apart; a difference, a percentage over 100 and a size are no scores"
    )


# -- the Parquet path ---------------------------------------------------------------------------------

CLEAN_WORK = "doi:10.5555/clean-tables"
RETRIEVED = datetime(2024, 1, 1, tzinfo=UTC)


def _paper_texts(tmp_path: Path) -> Path:
    """paper_texts Parquet of every TEI fixture (one parse per work, as curation keeps) and of a work holding
    the clean extractions of the real tables, sorted like the curated table."""
    rows: list[dict[str, Any]] = []
    works: set[str] = set()
    for path in sorted(fixture_dir("grobid_tei").glob("*.xml")):
        data = path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        try:
            parsed = [
                r for t, r in parse_tei(data, ParseContext(), path.name, raw_sha256=sha) if t == "paper_texts"
            ]
        except ParseError:
            continue
        if not parsed or parsed[0]["work_id"] in works:
            continue
        works.add(parsed[0]["work_id"])
        rows += [{**r, "source": "grobid_tei", "raw_sha256": sha, "retrieved_at": RETRIEVED,
                  "parser": TEI_PARSER, "parser_version": TEI_PARSER_VERSION, "pipeline_version": "test"}
                 for r in parsed]  # fmt: skip
    for n, table in enumerate((TABLE_1, TABLE_2, TABLE_4, SPECTER_TABLE_3)):
        for k, (kind, text, cells) in enumerate(
            (("table_caption", table.caption, None), ("table", "t", _clean_cells(table)))
        ):
            rows.append(
                {
                    "work_id": CLEAN_WORK, "section_index": 1, "paragraph_index": 2 * n + k,
                    "paragraph_id": f"clean-{n}-{k}", "kind": kind, "text": text, "table_cells": cells,
                    "text_quality": "structured", "source": "grobid_tei", "source_record_id": "clean",
                    "source_url": "https://example.org/clean.pdf", "retrieved_at": RETRIEVED,
                    "raw_sha256": "ab" * 32, "parser": TEI_PARSER, "parser_version": TEI_PARSER_VERSION,
                    "pipeline_version": "test", "license": "CC-BY-4.0", "license_source": "test",
                }
            )  # fmt: skip
    rows.sort(key=lambda r: (r["work_id"], r["section_index"], r["paragraph_index"]))
    out = tmp_path / "paper_texts.parquet"
    with ParquetTableWriter(out, table_spec("paper_texts")) as writer:
        for row in rows:
            writer.add(row)
    return out


def test_results_rows_from_paper_texts_parquet_fit_the_schema(tmp_path: Path) -> None:
    texts = _paper_texts(tmp_path)
    rows = list(paper_table_results([texts]))
    pa.RecordBatch.from_pylist(rows, schema=RESULTS_SCHEMA)
    assert len(rows) == 48, "the clean tables' readable cells; the real GROBID tables give none"
    assert len({r["result_id"] for r in rows}) == len(rows)
    assert {r["run_id"] for r in rows} == {f"paper_table:{CLEAN_WORK}#{n}" for n in (0, 1, 2)}
    assert all(r["source"] == r["framework"] == r["parser"] == PARSER_NAME for r in rows)
    assert all(r["status"] == "reported" and r["scorer"] == r["metric_filter"] == "" for r in rows)
    first = next(r for r in rows if r["evidence"] == "table 0, row 2, column 6")
    assert (first["model_source_name"], first["task"], first["subtask"], first["metric"], first["value"]) == (
        "Max",
        "mIoU",
        "Potsdam",
        "mIoU",
        66.72,
    )
    assert first["evidence_text"] == "Max | mIoU | 66.72"
    assert first["model_id"] is None and first["model_provider"] is None, "a bare name is never mapped"
    assert first["source_record_id"] == "clean-0-1" and first["license"] == "CC-BY-4.0"
    assert first["retrieved_at"] == RETRIEVED and first["pipeline_version"] == "test"
    assert first["higher_is_better"] is True and first["confidence"] >= MIN_CONFIDENCE
    assert '"table_caption": "Experimental results' in first["config_json"]
    # Same bytes, same rows.
    assert list(paper_table_results([texts])) == rows
    out = tmp_path / "results.parquet"
    assert write_paper_table_results([texts, tmp_path / "absent.parquet"], out) == 48


def test_links_from_each_run_to_its_paper(tmp_path: Path) -> None:
    links = list(paper_table_links([_paper_texts(tmp_path)]))
    pa.RecordBatch.from_pylist(links, schema=LINKS_SCHEMA)
    assert [(x["src_id"], x["dst_id"], x["link_type"]) for x in links] == [
        (f"paper_table:{CLEAN_WORK}#{n}", CLEAN_WORK, "reported_in") for n in (0, 1, 2)
    ]


def test_unsorted_paper_texts_are_an_error(tmp_path: Path) -> None:
    base = {"text_quality": "structured", "source": "grobid_tei", "source_record_id": "x", "raw_sha256": "ab" * 32,
            "parser": "grobid_tei", "parser_version": "1", "pipeline_version": "t", "license": "unknown",
            "license_source": "t", "kind": "table", "text": "x", "section_index": 0}  # fmt: skip
    out = tmp_path / "unsorted.parquet"
    with ParquetTableWriter(out, table_spec("paper_texts")) as writer:
        for work, index in (("b", 0), ("a", 0)):
            writer.add({**base, "work_id": work, "paragraph_index": index, "paragraph_id": f"{work}{index}"})
    with pytest.raises(ValueError, match="not sorted"):
        list(paper_table_results([out]))
