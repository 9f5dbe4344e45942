"""Results read from the results tables of papers: `paper_texts` rows of kind `table` → `results` rows.

Reads the curated `paper_texts` Parquet (sorted by work_id, section_index, paragraph_index) a record batch at
a time. A table's caption is the `table_caption` row just before it (GROBID writes a figure's caption, then
its table). Precision over recall: a wrong number is worse than a missing one, and GROBID often garbles
tables (a header's names run together in one cell, two numbers in one cell, a number in the row label,
symbols where the row label should be), so a table gives rows only when its shape leaves no doubt.

**The table** (``results_from_table``):

1. *Data rows*: a row label, then cells read when each is one number (`85.3`, `85.3±0.2`, `85.3 (0.2)`,
   `**85.3**`, `85.3%`, `85.3†`); other cells (`-`, `OOM`, `85.3/80.1`, `1e-4`, `1,234`, `+2.1`) are not.
   Leading columns without a number in any data row are label columns (`LLaMA | 7B`), joined by a space
   into the label; a row whose first cell is empty (a row span's continuation) is skipped.
2. *Refused whole*, as signs that GROBID split the table wrongly or that it holds no results: a cell with
   several numbers (`61.36 61.40`); a row with numbers of another width than the first, or padded with an
   empty last cell where others have a number; a label that is a symbol (`×`, `X`) or ends in a number
   while its row has an empty cell; a number among the words of a label column; a first row of numbers
   without a label, or a header cell that is a number (a sweep over a setting); two columns with one
   header; numbers under no header of their own (`MMLU | ` over two numbers); a metric or benchmark over
   the label column, or `Model` over a value column; fewer than 2 labelled data rows or 3 numbers; a
   caption about hyperparameters, statistics, notation or implementation details; a label column headed
   like data (`Dataset`, `Task`, `Class`, `Setting`); labels mostly benchmark or metric names (a
   transposed table, or one model over datasets).
3. *Header*: up to 3 rows above the first data row; the bottom one must be as wide as the data rows.
   GROBID does not say which columns a header cell spans, so upper rows are read only where that is
   certain: a single name heads every column (also from a row of another width, where GROBID dropped
   the span); several names must start at the first value column and head groups of one size (`Potsdam
   | | P→V |` over `mIoU | PA | mIoU | PA`); a name over an empty bottom cell heads its own column only
   (a header spanning rows). A column's header is its names top to bottom, joined by ` / `. A row with
   only a first cell is a row group (`subtask`), unless it names a benchmark or metric, lost cells, or
   sits under a name heading every column (then it may name columns: reading stops). Header rows between
   data rows start a new block: a new header when they name every column, else new groups over the same
   bottom row (only where the header has groups); one that does not fit, or a labelled row of names,
   ends the reading (rows before it stand).
4. *Columns*: a column gives numbers only when its header names a metric (accuracy, F1, BLEU, EM, pass@k,
   perplexity, mIoU, ...), a benchmark (MMLU, GSM8K, HumanEval, ...), an average beside such columns, or
   when the caption names exactly one metric. Columns of sizes, counts, costs, time, settings,
   differences, ranks or training figures never do; a percentage outside 0-100 is not read. Two rows with
   one label in one group and block, or two cells with one label, column header and group, are left out
   (they cannot be told apart).

**Confidence** of a cell = header × label × table, each from the evidence:

- header: names a metric 0.97; a benchmark 0.93; an average beside metric or benchmark columns 0.90; a
  plain header under a caption naming one metric 0.85;
- label: the label column is headed like models (`Model`, `Method`, `System`, `Baseline`) 0.97; the label
  looks like a model (a known family, `Ours`, `Baseline`, a name with digits, inner capitals or an
  acronym) 0.93; otherwise 0.80;
- table: one header row 0.98; several header rows 0.96.

Cells are emitted from ``MIN_CONFIDENCE`` = 0.8 up: a plain label is never enough (0.97 × 0.80 × 0.98 =
0.76), and a header named only by the caption needs a label column headed like models (0.81).

**Rows** (``paper_table_results``): run `paper_table:<work_id>#<n>` with n the table's position among the
work's `table` rows from 0. `task` is the column's header as printed, so two cells of one row under two
benchmarks differ; `subtask` the row group; `metric` the metric as the header writes it, else the one the
caption names, else empty (the header says what was measured); `benchmark` the one benchmark the header,
else the row group, else the caption names, lower-cased. `model_source_name` is the label as printed,
`model_id` only where ``normalise_model_id`` is certain. Evidence is `table <n>, row <r>, column <c>`,
every index from 0 (r and c index the table's ``table_cells``). The result key hashes the run, task,
subtask and metric with the cell's row (and label) and column in the places of scorer and filter, which
paper tables leave empty, so every cell has its own key. ``paper_table_links`` gives each run that gave
results a `reported_in` link to its paper.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.parse.results_common import normalise_model_id, result_id
from pipelines.snapshot.parquet import ParquetTableWriter
from schemas import table_spec

PARSER_NAME = "paper_table"
PARSER_VERSION = "2"
MIN_CONFIDENCE = 0.8
LINK_TYPE = "reported_in"

MIN_DATA_ROWS = 2
MIN_NUMBERS = 3
MAX_HEADER_ROWS = 3

# -- what a cell says ---------------------------------------------------------------------------------

_DECORATION = "*_†‡§¶⋆★♠♣♦♥"
_NUMBER = re.compile(
    r"^(?P<value>-?(?:\d+(?:\.\d+)?|\.\d+))\s*(?P<percent>%)?"
    r"(?:\s*(?:±|\+/-|\+-)\s*(?P<pm>\d+(?:\.\d+)?|\.\d+)\s*(?P<pm_percent>%)?"
    r"|\s*\(\s*(?:±\s*)?(?P<paren>[-+]?(?:\d+(?:\.\d+)?|\.\d+))\s*%?\s*\))?$"
)
_EMPTY = frozenset({"", "-", "–", "—", "n/a", "na", "n.a.", "/", "--"})
_LETTER = re.compile(r"[^\W\d_]")

_METRIC = re.compile(
    r"(?<![\w@])(acc(?:uracy)?\.?|(?:macro|micro|weighted)?[- ]?f1|f-1|f-?score|bleu(?:-\d)?|rouge(?:-[l12]|-lsum)?|"
    r"meteor|cider|spice|chrf\+*|bertscore|em|exact[- ]match|pass@\d+|win[- ]?rate|ppl|perplexity|"
    r"error(?: rate)?|err\.?|loss|auroc|auc|auprc|map|miou|iou|precision|recall|top-?[15](?: acc\.?)?|"
    r"mrr|ndcg(?:@\d+)?|[pr]@\d+|wer|cer|bpb|bpc|bits per byte|ece|brier|fid|mae|mse|rmse|elo|"
    r"success rate|attack success rate|asr|refusal rate|pearson|spearman|kendall|correlation|score)(?![\w@])",
    re.IGNORECASE,
)
_LOWER_IS_BETTER = re.compile(
    r"(?<!\w)(ppl|perplexity|error(?: rate)?|err\.?|loss|wer|cer|bpb|bpc|bits per byte|ece|brier|fid|mae|mse|"
    r"rmse)(?!\w)",
    re.IGNORECASE,
)
_HIGHER_IS_BETTER = re.compile(
    r"(?<![\w@])(acc(?:uracy)?\.?|(?:macro|micro|weighted)?[- ]?f1|f-1|bleu(?:-\d)?|rouge(?:-[l12]|-lsum)?|meteor|"
    r"cider|em|exact[- ]match|pass@\d+|win[- ]?rate|auroc|auc|auprc|map|miou|iou|top-?[15](?: acc\.?)?|mrr|"
    r"ndcg(?:@\d+)?)(?![\w@])",
    re.IGNORECASE,
)
_BENCHMARK = re.compile(
    r"(?<![\w-])(mmlu(?:-pro)?|gsm-?8k|humaneval\+?|mbpp\+?|truthfulqa|hellaswag|arc(?:-(?:e|c|easy|challenge))?|"
    r"winogrande|piqa|siqa|boolq|openbookqa|obqa|lambada|bbh|big-?bench(?: hard)?|gpqa(?: diamond)?|drop|"
    r"squad(?: ?v?2(?:\.0)?)?|natural questions|triviaqa|superglue|glue|sst-2|mnli|qnli|rte|cola|mrpc|qqp|"
    r"sts-b|xsum|cnn/dm|ms marco|beir|imagenet(?:-1k)?|cifar-?10{1,2}|mnist|coco|mt-bench|alpacaeval|"
    r"arena-hard|ifeval|advbench|harmbench|strongreject|xstest|bbq|toxigen|realtoxicityprompts|wmdp|medqa|"
    r"pubmedqa|swe-bench(?: verified)?|livecodebench|aime|commonsenseqa|csqa|strategyqa|svamp|aqua|anli|"
    r"math(?:-500)?|scidocs)(?![\w-])",
    re.IGNORECASE,
)
_AGGREGATE = re.compile(r"^(avg\.?|average|mean|overall|all|total)$", re.IGNORECASE)
# Columns that hold sizes, counts, costs, settings, differences or ranks: never results.
_NOT_RESULT_COLUMN = re.compile(
    r"#|\b(num(ber)?|size|params?|parameters|count|tokens?|samples|examples|instances|length|vocab\w*|year|"
    r"time|hours?|sec(onds)?|latency|throughput|flops|memory|gpus?|batch|learning rate|lr|epochs?|steps|"
    r"warm-?up|dropout|decay|hidden|layers|heads|dim\w*|seed|threshold|temperature|cost|price|diff\w*|"
    r"gain|improv\w*|change|rel\.?|relative|rank(ing)?|std|variance|var|p-value|train|training|dataset)\b|"
    r"[$Δ∆]",
    re.IGNORECASE,
)
_NOT_RESULTS_CAPTION = re.compile(
    r"hyper-?\s?param|\bstatistics\b|implementation details|training details|\bnotation",
    re.IGNORECASE,
)
# A label column headed like this holds data, tasks or settings, not models.
_NOT_MODEL_LABEL_HEADER = re.compile(
    r"\b(datasets?|data|tasks?|benchmarks?|languages?|lang\.?|splits?|class(es)?|categor(y|ies)|domains?|"
    r"subsets?|metrics?|settings?|hyper-?parameters?|parameters?|statistics?|property|attributes?|"
    r"threshold|split)\b",
    re.IGNORECASE,
)
_MODEL_LABEL_HEADER = re.compile(
    r"\b(models?|methods?|approach(es)?|systems?|baselines?|architectures?|networks?|backbones?|defen[cs]es?|"
    r"attacks?|agents?|llms?|classifiers?|detectors?|encoders?|algorithms?|variants?|training signal)\b",
    re.IGNORECASE,
)
_MODEL_LABEL = re.compile(
    r"\b(ours|our|baselines?|proposed|gpt|llama|claude|gemini|palm|bert|roberta|t5|bart|mistral|mixtral|qwen|"
    r"deepseek|phi|falcon|opt|bloom|pythia|vicuna|alpaca|gemma|olmo|yi|internlm|baichuan|chatglm|gopher|"
    r"chinchilla|xlnet|electra|deberta|albert|resnet|vit|clip|vgg|densenet|efficientnet|u-?net|transformer|"
    r"lstm|gru|cnn|rnn|svm|xgboost|random|human|oracle|majority)\b|[A-Za-z][\w.\-]*\d|\b\d+(\.\d+)?[BMK]\b",
    re.IGNORECASE,
)
# Inner capitals (`DeepLab`, `SciBERT`) and acronyms (`FCN`), matched with case.
_MODEL_LABEL_CASED = re.compile(r"[a-z][A-Z]|\b[A-Z]{2,}\b")
_TRAILING_NUMBER = re.compile(r"\s[-+]?\d+(\.\d+)?%?$")
_N_SHOT = re.compile(r"\b(\d+|zero)[- ]shot\b", re.IGNORECASE)
_ARROW_UP = re.compile(r"[↑⇑]")
_ARROW_DOWN = re.compile(r"[↓⇓]")
_UNIT_MARKS = re.compile(r"\s*(\(%\)|%|\[%\]|[↑↓⇑⇓])\s*")


@dataclass(frozen=True)
class TableResult:
    """One number read from a results table, with where it is and how sure the reading is."""

    row: int  # index into the table's rows, from 0
    column: int  # index into the row's cells, from 0
    label: str  # the row label as printed (label columns joined by a space)
    header: str  # the column's header rows top to bottom, joined by " / "
    group: str  # the row group ("" when none)
    metric: str
    benchmark: str | None
    text: str  # the cell as printed (whitespace collapsed)
    value: float
    stderr: float | None
    unit: str | None
    higher_is_better: bool | None
    n_shot: int | None
    confidence: float


@dataclass(frozen=True)
class _Cell:
    value: float
    stderr: float | None
    percent: bool


def _strip_decoration(text: str) -> str:
    text = text.replace("−", "-").replace("\\pm", "±")
    return text.strip(_DECORATION + " ")


def _number(text: str) -> _Cell | None:
    """One number as results tables print it; None for anything else (a `+2.1` difference, `1e-4`, `1,234`)."""
    m = _NUMBER.match(_strip_decoration(text))
    if not m:
        return None
    stderr = m.group("pm")
    percent = bool(m.group("percent") or m.group("pm_percent"))
    return _Cell(float(m.group("value")), float(stderr) if stderr else None, percent)


def _is_merged(text: str) -> bool:
    """Several numbers in one cell: GROBID ran columns together."""
    if _number(text) is not None:
        return False
    return sum(_number(p) is not None for p in _strip_decoration(text).split()) >= 2


def _is_empty_mark(text: str) -> bool:
    return text.lower() in _EMPTY


def _is_mark(text: str) -> bool:
    """An empty cell or a short mark without digits (`-`, `OOM`, `N/A`, `✗`) rather than a column's name."""
    return _is_empty_mark(text) or (len(text) <= 4 and not any(ch.isdigit() for ch in text))


def _is_number_row(row: Sequence[str]) -> bool:
    return any(_number(c) is not None for c in row[1:]) or any(_is_merged(c) for c in row)


def _is_group_row(row: Sequence[str]) -> bool:
    return bool(row) and bool(row[0]) and _number(row[0]) is None and not any(row[1:])


# -- reading one table --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Header:
    rows: list[list[str]]  # top to bottom, each as wide as the data rows
    spans: tuple[str, ...] = ()  # names above them that head every column (rows of one name, any width)


def results_from_table(
    cells: Sequence[Sequence[str]], caption: str | None, min_confidence: float = MIN_CONFIDENCE
) -> list[TableResult]:
    """The cells of a results table that can be read without doubt, from ``min_confidence`` up; [] for a
    table that is not a results table or whose shape is in doubt."""
    rows = [[" ".join((c or "").split()) for c in r] for r in cells]
    if len(rows) < 1 + MIN_DATA_ROWS or (caption and _NOT_RESULTS_CAPTION.search(caption)):
        return []
    number_rows = [i for i, r in enumerate(rows) if _is_number_row(r)]
    if not number_rows or not _regular(rows, number_rows):
        return []
    first = number_rows[0]
    width = len(rows[first])
    is_number_row = set(number_rows)
    found_header = _first_header(rows, first, width)
    if found_header is None:
        return []
    block, group = found_header
    data = [i for i in number_rows if rows[i][0]]
    if len(data) < MIN_DATA_ROWS or sum(_count_numbers(rows[i]) for i in data) < MIN_NUMBERS:
        return []
    n_label = _label_columns(rows, data, width)
    if n_label is None:
        return []
    labels = [" ".join(c for c in rows[i][:n_label] if c) for i in data]
    if sum(bool(_BENCHMARK.search(x) or _METRIC.fullmatch(x)) for x in labels) * 2 >= len(labels):
        return []  # the rows are benchmarks or metrics, not models
    caption_metrics = {m.group(0).lower(): m.group(0) for m in _METRIC.finditer(caption or "")}
    caption_metric = next(iter(caption_metrics.values())) if len(caption_metrics) == 1 else None
    caption_benchmarks = {m.group(0).lower() for m in _BENCHMARK.finditer(caption or "")}
    caption_benchmark = next(iter(caption_benchmarks)) if len(caption_benchmarks) == 1 else None

    found: list[tuple[tuple[str, str, int], TableResult]] = []  # (row's label, group and block, cell)
    rows_read: Counter[tuple[str, str, int]] = Counter()
    block_number = 0
    pending: list[list[str]] = []  # header rows met between data rows
    current: tuple[list[str], str] | None = None  # the block's column headers and label-column header
    for i in range(first, len(rows)):
        r = rows[i]
        if not any(r):
            continue
        if i not in is_number_row:
            if _is_group_row(r) and not _MODEL_LABEL_HEADER.fullmatch(r[0]):
                if (
                    1 < len(r) < width
                    or _heads_every_column(block, n_label)
                    or _BENCHMARK.search(r[0])
                    or _METRIC.search(r[0])
                ):
                    # A row of one name that lost cells, one naming a benchmark or metric, or one under a
                    # header whose name heads every column: it may name columns rather than rows.
                    break
                group = r[0]
            elif not r[0] or _MODEL_LABEL_HEADER.fullmatch(r[0]):
                pending.append(r)
            elif not all(_is_mark(c) for c in r[n_label:]):
                break  # a labelled row of names: a header the columns cannot be matched to for sure
            continue  # a labelled row of marks only (`OOM`, `✗`): nothing to read
        if pending:
            next_block = _next_header(block, pending, width, n_label)
            if next_block is None:
                break  # a header that does not fit the columns: the rest of the table is not read
            block, pending, current = next_block, [], None
            block_number += 1
        if current is None:
            current = _block_columns(rows, data, block, width, n_label)
            if current is None:
                if block_number == 0:
                    return []
                break  # a later header that cannot be trusted: the rows read before it stand
        if not r[0]:
            continue  # a row span's continuation: whose row it is cannot be told
        columns, label_header = current
        label = " ".join(c for c in r[:n_label] if c)
        row_key = (label, group, block_number)
        rows_read[row_key] += 1
        p_rest = _label_confidence(label, label_header) * (0.98 if len(block.rows) == 1 else 0.96)
        for j in range(n_label, width):
            result = _read_cell(
                i, j, r[j], label, group, columns[j], columns, p_rest, caption_metric, caption_benchmark
            )
            if result is not None:
                found.append((row_key, result))
    # Two rows with one label in one group and block cannot be told apart (`LLaMA | 7B` and `LLaMA | 13B`
    # where the size column was lost), nor two cells of one label, column header and group: none is read.
    cells_read = Counter((c.label, c.header, c.group) for _, c in found)
    return [
        c
        for key, c in found
        if rows_read[key] == 1
        and cells_read[(c.label, c.header, c.group)] == 1
        and c.confidence >= min_confidence
    ]


def _regular(rows: list[list[str]], number_rows: list[int]) -> bool:
    """Whether every row with numbers has the first one's width, one number per cell and a readable label."""
    width = len(rows[number_rows[0]])
    if width < 2 or not rows[number_rows[0]][0]:
        return False  # a first row of numbers without a label: the header holds numbers
    for i in number_rows:
        r = rows[i]
        if len(r) != width or any(_is_merged(c) for c in r):
            return False  # GROBID split this table's columns wrongly somewhere: none of it can be trusted
        if r[0] and (not _LETTER.search(r[0]) or len(r[0].replace(" ", "")) < 2):
            return False  # a symbol (×, ✓, X) or a number where the model's name belongs
        if _TRAILING_NUMBER.search(r[0]) and any(_is_empty_mark(c) for c in r[1:]):
            return False  # a number run into the label, the row padded at its end: cells shifted left
        if not r[-1] and any(_number(rows[k][-1]) is not None for k in number_rows):
            return False  # a row padded at its end where others have a number: its cells slid left
    for j in range(1, width):
        cells = [rows[i][j] for i in number_rows]
        numbers = sum(_number(c) is not None for c in cells)
        words = sum(_number(c) is None and not _is_empty_mark(c) for c in cells)
        if 0 < numbers < words:
            return False  # a number among the words of a label column (`×`, `✓`): cells slid along
    return True


def _count_numbers(row: Sequence[str]) -> int:
    return sum(_number(c) is not None for c in row[1:])


def _first_header(rows: list[list[str]], first: int, width: int) -> tuple[_Header, str] | None:
    """The header rows above the first data row and the first row group; None when no header row has the
    data's width, an upper row's names cannot be placed, or the header's label cell names a metric or
    benchmark (its names slid one cell left)."""
    i = first - 1
    while i >= 0 and not any(rows[i]):
        i -= 1
    group = ""
    if i >= 0 and _is_group_row(rows[i]) and not _MODEL_LABEL_HEADER.fullmatch(rows[i][0]):
        group = rows[i][0]  # a row group right under the header (`Zero-shot`)
        i -= 1
    found: list[list[str]] = []
    spans: list[str] = []
    while i >= 0 and len(found) + len(spans) < MAX_HEADER_ROWS:
        r = rows[i]
        if any(r):
            names = [c for c in r if c]
            if found and _is_group_row(r) and not _MODEL_LABEL_HEADER.fullmatch(r[0]):
                break
            if len(r) == width:
                found.insert(0, r)
            elif found and len(names) == 1 and not r[0]:
                spans.insert(0, names[0])  # one name heads every column, wherever GROBID put it
            else:
                return None  # the bottom row, or an upper row whose column spans GROBID lost
        i -= 1
    if not found or _METRIC.fullmatch(found[-1][0]) or _BENCHMARK.search(found[-1][0]):
        return None
    above = rows[i] if i >= 0 else None
    if above is not None and _is_group_row(above) and not group:
        later = [r for r in rows[first:] if any(r) and not _is_number_row(r)]
        if any(_is_group_row(r) for r in later):
            group = above[0]  # the first of several row groups (`Potsdam` ... `Vaihingen`)
        elif any(not r[0] for r in later) and len(found) + len(spans) < MAX_HEADER_ROWS:
            # The first of several column groups (`Potsdam → Vaihingen` ... `Vaihingen → Potsdam`).
            spans.insert(0, above[0])
        # Alone, it is a title.
    return _Header(found, tuple(spans)), group


def _next_header(block: _Header, pending: list[list[str]], width: int, n_label: int) -> _Header | None:
    """The header after header rows between data rows: when the last one names every column the bottom row
    names, it is a new header; otherwise it names new groups over the same bottom row, which only a header
    with groups of columns can have. None when that is not so or a row does not have the data's width."""
    if any(len(p) != width for p in pending):
        return None
    bottom = block.rows[-1]
    last = pending[-1]
    if all(last[j] for j in range(n_label, width) if bottom[j]):
        if not any(last[:n_label]):
            last = [*bottom[:n_label], *last[n_label:]]  # the label column keeps its header
        return _Header([*pending[:-1], last][-MAX_HEADER_ROWS:])
    if len(block.rows) == 1 and not block.spans:
        return None  # names over some columns of a header without groups: where they belong is a guess
    return _Header([*pending, bottom][-MAX_HEADER_ROWS:])


def _groups_regular(upper: list[str], bottom: list[str], n_label: int, width: int) -> bool:
    """Whether an upper header row's names place without doubt (GROBID does not say what a cell spans): one
    name heads every column; several start at the first value column, each heading the columns up to the
    next, all groups of one size; a name over an empty bottom cell heads its own column only."""
    named = [j for j in range(n_label, width) if upper[j]]
    if len(named) <= 1:
        return True
    if not upper[n_label]:
        return False  # columns before the first name would belong to no group
    sizes = set()
    for k, j in enumerate(named):
        end = named[k + 1] if k + 1 < len(named) else width
        if not bottom[j]:
            if end != j + 1:
                return False  # a name spanning rows, then empty cells: what they belong to is a guess
            continue
        sizes.add(end - j)
    return len(sizes) <= 1


def _heads_every_column(block: _Header, n_label: int) -> bool:
    """Whether one name of the header heads all its columns (`Potsdam → Vaihingen`)."""
    bottom = block.rows[-1]
    return bool(block.spans) or any(
        len(named := [j for j in range(n_label, len(row)) if row[j]]) == 1 and bottom[named[0]]
        for row in block.rows[:-1]
    )


def _label_columns(rows: list[list[str]], data: list[int], width: int) -> int | None:
    """How many leading columns hold labels (no data row has a number in them), at most 3."""
    n = 1
    while n < width and all(_number(rows[i][n]) is None for i in data) and any(rows[i][n] for i in data):
        n += 1
    return n if n < width and n <= 3 else None


def _block_columns(
    rows: list[list[str]], data: list[int], block: _Header, width: int, n_label: int
) -> tuple[list[str], str] | None:
    """The block's column headers and its label column's header; None when the header cannot be trusted:
    a header that is a number (a sweep over a setting), two columns with one header, a column of numbers
    without a header, a label column headed like data, or a value column headed like models."""
    bottom = block.rows[-1]
    if any(_METRIC.fullmatch(c) or _BENCHMARK.search(c) for r in block.rows for c in r[:n_label]):
        return None  # a metric or benchmark over the labels: the header's names slid one cell left
    if not all(_groups_regular(upper, bottom, n_label, width) for upper in block.rows[:-1]):
        return None
    parts: list[list[str]] = [list(block.spans) for _ in range(width)]
    own = [bool(bottom[j]) for j in range(width)]  # a name printed over the column itself, not spread to it
    for upper in block.rows[:-1]:
        named = [j for j in range(n_label, width) if upper[j]]
        if len(named) == 1 and bottom[named[0]]:
            for j in range(n_label, width):
                parts[j].append(upper[named[0]])  # one name over named columns heads them all
            continue
        carried = ""
        for j in range(n_label, width):
            if upper[j]:
                # A name over a named bottom cell heads a group of columns; over an empty one it is its
                # own column's header spanning rows, and goes no further.
                carried = upper[j] if bottom[j] else ""
                parts[j].append(upper[j])
                own[j] = True
            elif carried:
                parts[j].append(carried)
    for j in range(n_label, width):
        parts[j].append(bottom[j])
    columns = [""] * width
    for j in range(n_label, width):
        names = [p for k, p in enumerate(parts[j]) if p and (k == 0 or p != parts[j][k - 1])]
        if any(_number(p) is not None for p in names) or any(_MODEL_LABEL_HEADER.fullmatch(p) for p in names):
            return None
        columns[j] = " / ".join(names)
        if not own[j] and any(_number(rows[i][j]) is not None for i in data):
            return None  # numbers under no name of their own: the header's names slid along
    if not bottom[-1] and any(_number(rows[i][-1]) is not None for i in data):
        return None  # the bottom row padded at its end over numbers: its names slid left
    named_columns = [h for h in columns if h]
    if len(set(named_columns)) != len(named_columns):
        return None
    label_header = " ".join(c for r in block.rows for c in r[:n_label] if c)
    if _NOT_MODEL_LABEL_HEADER.search(label_header):
        return None
    return columns, label_header


def _label_confidence(label: str, label_header: str) -> float:
    if _MODEL_LABEL_HEADER.search(label_header):
        return 0.97
    if _MODEL_LABEL.search(label) or _MODEL_LABEL_CASED.search(label):
        return 0.93
    return 0.8


def _read_cell(
    i: int,
    j: int,
    text: str,
    label: str,
    group: str,
    header: str,
    headers: list[str],
    p_rest: float,
    caption_metric: str | None,
    caption_benchmark: str | None,
) -> TableResult | None:
    if not header or _is_empty_mark(text) or _NOT_RESULT_COLUMN.search(header):
        return None
    cell = _number(text)
    if cell is None:
        return None
    bottom = header.split(" / ")[-1]
    metric_match = _METRIC.search(_UNIT_MARKS.sub(" ", bottom)) or _METRIC.search(header)
    benchmarks = {m.group(0).lower() for m in _BENCHMARK.finditer(header)}
    if metric_match:
        p_header = 0.97
        bare = _UNIT_MARKS.sub("", bottom).strip()
        metric = bare if _METRIC.search(bottom) and not _BENCHMARK.search(bottom) else metric_match.group(0)
    elif benchmarks:
        p_header = 0.93
        metric = caption_metric or ""  # the header (in `task`) says what was measured, not how
    elif _AGGREGATE.match(_UNIT_MARKS.sub("", bottom).strip()) and any(
        (_METRIC.search(h) or _BENCHMARK.search(h)) and not _NOT_RESULT_COLUMN.search(h) for h in headers if h
    ):
        p_header = 0.9
        metric = caption_metric or ""
    elif caption_metric:
        p_header = 0.85
        metric = caption_metric
    else:
        return None
    percent = cell.percent or "%" in header
    if percent and not 0 <= cell.value <= 100:
        return None  # a percentage outside 0-100 is a change, not a score
    if cell.stderr is not None and cell.stderr < 0:
        return None
    if _ARROW_DOWN.search(header):
        higher: bool | None = False
    elif _ARROW_UP.search(header):
        higher = True
    elif _LOWER_IS_BETTER.search(metric):
        higher = False
    elif _HIGHER_IS_BETTER.search(metric):
        higher = True
    else:
        higher = None
    if len(benchmarks) == 1:
        benchmark: str | None = benchmarks.pop()
    elif not benchmarks and (m := _BENCHMARK.search(group)):
        benchmark = m.group(0).lower()
    elif not benchmarks:
        benchmark = caption_benchmark
    else:
        benchmark = None
    shots = {m.group(1).lower() for m in _N_SHOT.finditer(header)}
    n_shot = (0 if next(iter(shots)) == "zero" else int(next(iter(shots)))) if len(shots) == 1 else None
    return TableResult(
        row=i,
        column=j,
        label=label,
        header=header,
        group=group,
        metric=metric,
        benchmark=" ".join(benchmark.split()) if benchmark else None,
        text=text,
        value=cell.value,
        stderr=cell.stderr,
        unit="percent" if percent else None,
        higher_is_better=higher,
        n_shot=n_shot,
        confidence=round(p_header * p_rest, 3),
    )


# -- rows of the results and links tables --------------------------------------------------------------

_COLUMNS = [
    "work_id", "section_index", "paragraph_index", "kind", "text", "table_cells", "paragraph_id",
    "source_url", "retrieved_at", "raw_sha256", "pipeline_version", "license", "license_source",
]  # fmt: skip


_TABLE_KINDS = pa.array(["table", "table_caption"])


@dataclass(frozen=True)
class _Table:
    para: dict[str, Any]
    caption: str | None
    index: int


def _tables(paths: Sequence[Path]) -> Iterator[_Table]:
    """Every `table` row of the paper_texts files with its caption and its position in the work."""
    for path in paths:
        parquet = pq.ParquetFile(path)
        previous: tuple[str, int, int] | None = None
        caption_at: tuple[str, int, int] | None = None
        caption: str | None = None
        index = 0
        for batch in parquet.iter_batches(columns=_COLUMNS, batch_size=4096):
            # Only tables and their captions become Python objects; the order check runs over them.
            kept = batch.filter(pc.is_in(batch.column("kind"), value_set=_TABLE_KINDS))
            for para in kept.to_pylist():
                key = (para["work_id"], para["section_index"], para["paragraph_index"])
                if previous is not None and key <= previous:
                    raise ValueError(
                        f"{path}: paper_texts rows are not sorted by work_id, section_index, paragraph_index "
                        f"at {key}: table positions would depend on row order"
                    )
                if previous is None or key[0] != previous[0]:
                    index = 0
                previous = key
                if para["kind"] == "table_caption":
                    caption, caption_at = para["text"], key
                elif para["kind"] == "table":
                    # Only the caption written just before the table, in its figure, is the table's.
                    own = caption_at == (key[0], key[1], key[2] - 1)
                    yield _Table(para, caption if own else None, index)
                    index += 1


def paper_table_results(texts_parquet_paths: Sequence[Path]) -> Iterator[dict[str, Any]]:
    """`results` rows from every results table of the paper_texts Parquet files, streamed a batch at a time."""
    for table in _tables(texts_parquet_paths):
        if table.para["table_cells"]:
            yield from _result_rows(table)


def paper_table_links(texts_parquet_paths: Sequence[Path]) -> Iterator[dict[str, Any]]:
    """`links` rows `reported_in` from each paper-table run that gave results to its paper's work."""
    for table in _tables(texts_parquet_paths):
        para = table.para
        if not para["table_cells"] or not results_from_table(para["table_cells"], table.caption):
            continue
        yield {
            "src_id": _run_id(table),
            "dst_id": para["work_id"],
            "link_type": LINK_TYPE,
            "evidence": f"paper_texts table {table.index}",
            "evidence_text": table.caption,
            "confidence": 1.0,
            **_provenance(para),
        }


def _run_id(table: _Table) -> str:
    return f"paper_table:{table.para['work_id']}#{table.index}"


def _provenance(para: dict[str, Any]) -> dict[str, Any]:
    return {
        "source": PARSER_NAME,
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


def _result_rows(table: _Table) -> Iterator[dict[str, Any]]:
    para = table.para
    run_id = _run_id(table)
    config = (
        json.dumps({"table_caption": table.caption[:1000]}, ensure_ascii=False) if table.caption else None
    )
    provenance = _provenance(para)
    for cell in results_from_table(para["table_cells"], table.caption):
        model_id, provider = normalise_model_id(cell.label)
        if model_id is None:
            provider = None  # `w/o X` is not provider `w`: a provider only with a certain id
        yield {
            "result_id": result_id(
                run_id,
                cell.header,
                cell.group,
                f"row {cell.row}: {cell.label}",
                cell.metric,
                f"column {cell.column}",
            ),
            "run_id": run_id,
            "source_run_id": None,
            "framework": PARSER_NAME,
            "task": cell.header,
            "subtask": cell.group,
            "benchmark": cell.benchmark,
            "scorer": "",
            "metric": cell.metric,
            "metric_filter": "",
            "value": cell.value,
            "value_text": cell.text,
            "unit": cell.unit,
            "stderr": cell.stderr,
            "higher_is_better": cell.higher_is_better,
            "n_shot": cell.n_shot,
            "model_source_name": cell.label,
            "model_id": model_id,
            "model_provider": provider,
            "config_json": config,
            "status": "reported",
            "evidence": f"table {table.index}, row {cell.row}, column {cell.column}",
            "evidence_text": f"{cell.label} | {cell.header} | {cell.text}",
            "confidence": cell.confidence,
            **provenance,
        }


def write_paper_table_results(texts: Sequence[Path], out: Path) -> int:
    """The rows of ``paper_table_results`` written to ``out`` with the `results` schema."""
    with ParquetTableWriter(out, table_spec("results")) as writer:
        for row in paper_table_results([p for p in texts if p.is_file()]):
            writer.add(row)
    return writer.rows_written


def write_paper_table_links(texts: Sequence[Path], out: Path) -> int:
    """The rows of ``paper_table_links`` written to ``out`` with the `links` schema."""
    with ParquetTableWriter(out, table_spec("links")) as writer:
        for row in paper_table_links([p for p in texts if p.is_file()]):
            writer.add(row)
    return writer.rows_written
