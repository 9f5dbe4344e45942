"""Results read from the results tables of papers (`paper_texts` rows of kind `table`): precision over recall.

A wrong number is worse than a missing one, and GROBID's tables are often garbled (merged cells, header
names run together, symbols for rows), so a table gives rows only when its shape leaves no doubt:

1. **Header**: the last row before the first data row; its first cell names the row labels, the others
   name the columns. A row above it whose non-empty cells are all text is a group header (e.g. a dataset
   spanning several metric columns) and is carried to the columns below it. Columns whose headers are
   numbers (a sweep over a hyperparameter) or repeat without a group to tell them apart reject the table.
2. **Data rows**: a label with letters in it (not `×` or `✓`), then cells that are each one number
   (`85.3`, `85.3±0.2`, `85.3 (0.2)`, `**85.3**`, `85.3%`; `-` is an empty cell).
3. **Alignment**: a data row's value cells must line up one-to-one with the header's columns. Where
   GROBID merged a row's numbers into one cell and the header's names into one cell, the numbers are
   split only when the counts agree and every name is one token of a known metric or an acronym
   (`CLS USR CITE REC All`), at a lower confidence. Anything else is left out.
4. **It must be a results table**: a column header names a metric or benchmark (accuracy, F1, BLEU,
   mIoU, MMLU, ...) or the caption speaks of results, performance, accuracy, comparison or evaluation.

Confidence: 0.9 for an aligned cell, 0.75 for a split one, +0.05 when the column header itself names a
metric; rows are emitted from ``MIN_CONFIDENCE`` (0.75) up. Cell coordinates (`table <n>, row <r>,
column <c>`, all from 0, in ``table_cells``) are the evidence, with the row label, column header and cell text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from pipelines.parse.results_common import normalise_model_id, result_id
from pipelines.snapshot.parquet import ParquetTableWriter
from schemas import table_spec

PARSER_NAME = "paper_table"
PARSER_VERSION = "1"
MIN_CONFIDENCE = 0.75

_NUMBER = re.compile(
    r"^[*_\s]*(?P<value>[-+−]?\d+(?:\.\d+)?)\s*(?P<percent>%)?[*_\s]*"
    r"(?:(?:±|\+/-|\+-)\s*(?P<pm>\d+(?:\.\d+)?)|\(\s*(?P<paren>\d+(?:\.\d+)?)\s*\))?[*_\s†‡*]*$"
)
_EMPTY = {"", "-", "–", "—", "n/a", "N/A", "NA"}
_METRIC = re.compile(
    r"\b(acc(uracy)?|f1|f-1|bleu|rouge(-[l12])?|em|exact match|pass@\d+|win ?rate|ppl|perplexity|error|"
    r"loss|auc|auroc|auprc|map|miou|iou|precision|recall|score|top-?[15]|mrr|ndcg(@\d+)?|wer|cer|cider|"
    r"meteor|spice|pa|pixel acc\.?|elo|asr|success rate)\b",
    re.IGNORECASE,
)
_LOWER_IS_BETTER = re.compile(r"\b(ppl|perplexity|error|loss|wer|cer|asr|fpr)\b", re.IGNORECASE)
_BENCHMARK = re.compile(
    r"\b(mmlu|gsm8k|humaneval|mbpp|truthfulqa|hellaswag|arc(-[ce])?|winogrande|bbq|bbh|big-?bench|gpqa|"
    r"math|squad|glue|superglue|imagenet|coco|cifar-?10{1,2}|advbench|harmbench|strongreject|xstest)\b",
    re.IGNORECASE,
)
_RESULTS_CAPTION = re.compile(r"result|performance|accuracy|comparison|compar|evaluat|score", re.IGNORECASE)
_SPLITTABLE_NAME = re.compile(r"^(?:[A-Z][A-Z0-9@\-]{1,9}|All|Avg\.?|Average|Mean|Overall)$")


@dataclass(frozen=True)
class TableCell:
    row: int
    column: int
    label: str
    header: str
    group: str
    text: str
    value: float
    stderr: float | None
    unit: str | None
    confidence: float


def _number(text: str) -> tuple[float, float | None, str | None] | None:
    m = _NUMBER.match(text.replace("−", "-"))
    if not m:
        return None
    stderr = m.group("pm") or m.group("paren")
    return (
        float(m.group("value")),
        (float(stderr) if stderr else None),
        ("percent" if m.group("percent") else None),
    )


def _is_label(text: str) -> bool:
    return bool(re.search(r"[A-Za-z]{2,}", text)) and _number(text) is None


def _is_data_row(row: Sequence[str]) -> bool:
    if not row or not _is_label(row[0]):
        return False
    values = [c for c in row[1:] if c not in _EMPTY]
    return bool(values) and all(_number(c) is not None or _merged_numbers(c) for c in values)


def _merged_numbers(text: str) -> list[str] | None:
    parts = text.split()
    if len(parts) > 1 and all(_number(p) is not None for p in parts):
        return parts
    return None


def results_from_table(cells: Sequence[Sequence[str]], caption: str | None) -> list[TableCell]:
    """The cells of a results table that can be read without doubt; [] for anything else."""
    rows = [[" ".join((c or "").split()) for c in r] for r in cells]
    first_data = next((i for i, r in enumerate(rows) if _is_data_row(r)), None)
    if first_data is None or first_data == 0:
        return []
    header = rows[first_data - 1]
    if len(header) < 2 or any(_number(h) is not None for h in header[1:] if h):
        return []
    groups = _groups(rows[first_data - 2] if first_data >= 2 else None, len(header))
    data = [(i, r) for i, r in enumerate(rows) if i >= first_data and _is_data_row(r)]
    caption_says_results = bool(caption and _RESULTS_CAPTION.search(caption))
    out: list[TableCell] = []
    aligned = [
        (i, r) for i, r in data if len(r) == len(header) and not any(_merged_numbers(c) for c in r[1:])
    ]
    columns = [(h, g) for h, g in zip(header[1:], groups[1:], strict=True)]
    if aligned and len(set(columns)) == len(columns) and all(h for h, _ in columns):
        for i, r in aligned:
            for j, text in enumerate(r[1:], start=1):
                out.extend(_cell(i, j, r[0], header[j], groups[j], text, 0.9, caption_says_results))
    elif len(header) == 2:
        names = header[1].split()
        if (
            len(names) >= 2
            and len(set(names)) == len(names)
            and all(_SPLITTABLE_NAME.match(n) for n in names)
        ):
            for i, r in data:
                numbers = _merged_numbers(r[1]) if len(r) == 2 else None
                if numbers and len(numbers) == len(names):
                    for k, (name, text) in enumerate(zip(names, numbers, strict=True)):
                        out.extend(_cell(i, 1, r[0], name, "", text, 0.75, caption_says_results, k))
    return out


def _groups(row: Sequence[str] | None, width: int) -> list[str]:
    """A group header row carried right over the empty cells after each name; [''] * width if none."""
    if row is None or len(row) != width or any(_number(c) is not None for c in row if c):
        return [""] * width
    out, current = [], ""
    for c in row:
        current = c or current
        out.append(current)
    return out


def _cell(
    i: int,
    j: int,
    label: str,
    header: str,
    group: str,
    text: str,
    base: float,
    caption_ok: bool,
    part: int = 0,
) -> list[TableCell]:
    if text in _EMPTY:
        return []
    parsed = _number(text)
    if parsed is None:
        return []
    names_metric = bool(_METRIC.search(header) or _METRIC.search(group))
    if not (names_metric or _BENCHMARK.search(header) or _BENCHMARK.search(group) or caption_ok):
        return []
    confidence = round(base + (0.05 if names_metric else 0.0), 2)
    if confidence < MIN_CONFIDENCE:
        return []
    value, stderr, unit = parsed
    column = j + part
    return [TableCell(i, column, label, header, group, text, value, stderr, unit, confidence)]


# -- rows of the results table ------------------------------------------------------------------------


def paper_table_results(texts: Sequence[Path]) -> Iterator[dict[str, Any]]:
    """`results` rows from every table of the paper_texts Parquet files (streamed a row group at a time)."""
    columns = [
        "work_id", "kind", "text", "table_cells", "paragraph_id", "section_index", "paragraph_index",
        "source", "source_url", "retrieved_at", "raw_sha256", "pipeline_version", "license", "license_source",
    ]  # fmt: skip
    for path in texts:
        parquet = pq.ParquetFile(path)
        work, caption, index = None, None, 0
        for batch in parquet.iter_batches(columns=columns, batch_size=4096):
            for para in batch.to_pylist():
                if para["work_id"] != work:
                    work, caption, index = para["work_id"], None, 0
                if para["kind"] == "table_caption":
                    caption = para["text"]
                elif para["kind"] == "table":
                    if para["table_cells"]:
                        yield from _rows(para, caption, index)
                    index += 1
                    caption = None


def _rows(para: dict[str, Any], caption: str | None, table_index: int) -> Iterator[dict[str, Any]]:
    run_id = f"paper_table:{para['work_id']}#{table_index}"
    task = (caption or f"table {table_index}").split(". ")[0][:200]
    for cell in results_from_table(para["table_cells"], caption):
        model_id, provider = normalise_model_id(cell.label)
        metric = cell.header
        yield {
            # A cell's key: the run (paper and table) and its coordinates, so every number has its own row.
            "result_id": result_id(
                run_id, task, cell.group, f"row {cell.row}", metric, f"column {cell.column}"
            ),
            "run_id": run_id,
            "framework": PARSER_NAME,
            "task": task,
            "subtask": cell.group,
            "benchmark": (
                m.group(0).lower() if (m := _BENCHMARK.search(f"{cell.group} {cell.header}")) else None
            ),
            "scorer": "",
            "metric": metric,
            "metric_filter": "",
            "value": cell.value,
            "value_text": cell.text,
            "unit": cell.unit,
            "stderr": cell.stderr,
            "higher_is_better": False if _LOWER_IS_BETTER.search(metric) else None,
            "model_source_name": cell.label,
            "model_id": model_id,
            "model_provider": provider,
            "status": "reported",
            "evidence": f"table {table_index}, row {cell.row}, column {cell.column}",
            "evidence_text": f"{cell.label} | {' / '.join(x for x in (cell.group, cell.header) if x)} | {cell.text}",
            "confidence": cell.confidence,
            "source": PARSER_NAME,  # the issue's name for numbers read from papers' tables
            "source_record_id": para["paragraph_id"],
            "source_url": para["source_url"],
            "retrieved_at": para["retrieved_at"],
            "raw_sha256": para["raw_sha256"],
            "parser": PARSER_NAME,
            "parser_version": PARSER_VERSION,
            "pipeline_version": para["pipeline_version"],
            "license": para["license"],
            "license_source": para["license_source"],
        }


def write_paper_table_results(texts: Sequence[Path], out: Path) -> int:
    """The rows of ``paper_table_results`` written to ``out`` with the `results` schema."""
    with ParquetTableWriter(out, table_spec("results")) as writer:
        for row in paper_table_results([p for p in texts if p.is_file()]):
            writer.add(row)
    return writer.rows_written
