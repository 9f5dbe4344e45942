"""``results`` and ``result_samples``: which model scored what on which evaluation, and the transcripts behind it."""

from __future__ import annotations

import pyarrow as pa

from schemas.columns import PROVENANCE_FIELDS, TIMESTAMP, col

SAMPLE_SCORE = pa.struct(
    [
        pa.field("scorer", pa.string()),
        pa.field("value", pa.string()),
        pa.field("value_float", pa.float64()),
        pa.field("answer", pa.string()),
        pa.field("explanation", pa.string()),
    ]
)

RESULTS_SCHEMA = pa.schema(
    [
        col(
            "result_id",
            pa.string(),
            "Deterministic key: first 32 hex of SHA-256 over `run_id`, `task`, `subtask`, `scorer`, `metric` and "
            "`metric_filter`, so re-ingesting the same run updates its rows instead of adding new ones.",
            False,
        ),
        col(
            "run_id",
            pa.string(),
            "The evaluation run, from the log itself: `inspect:<eval_id>`, `lm_eval:<first 16 hex of the results "
            "file's SHA-256>`, `helm:<run name>`, `epoch:<run id>`, `epoch_external:<benchmark>:<record id>`, "
            "`paper_table:<work_id>#<table index>`. Never from ingestion time.",
            False,
        ),
        col(
            "source_run_id",
            pa.string(),
            "The framework's own id of the enclosing run where it has one (Inspect `run_id`, shared by the tasks "
            "of one `eval()` call).",
        ),
        col(
            "framework",
            pa.string(),
            "`inspect_ai`, `lm_eval`, `helm`, `epoch` or `paper_table` (numbers read from a paper's table).",
            False,
        ),
        col("framework_version", pa.string(), "Version of the framework that wrote the log, where it says."),
        col(
            "task",
            pa.string(),
            "The task as the source names it (Inspect task, lm-eval task, HELM run group).",
            False,
        ),
        col("task_version", pa.string(), "Version of the task, where the source states one."),
        col(
            "subtask",
            pa.string(),
            "Finer part of the task where the source reports one separately (a HELM subject, an lm-eval "
            "group member, a paper table's row group); empty string when none.",
            False,
        ),
        col(
            "benchmark",
            pa.string(),
            "The benchmark or dataset evaluated, lower-cased (e.g. `gsm8k`, `mmlu`, `bbq`, `gpqa diamond`).",
        ),
        col("dataset_name", pa.string(), "Dataset name as the log gives it."),
        col(
            "dataset_location",
            pa.string(),
            "Where the dataset came from (Hugging Face repo id, path or URL).",
        ),
        col("dataset_revision", pa.string(), "Dataset revision or commit, where the log states it."),
        col(
            "scorer",
            pa.string(),
            "Scorer that produced the metric (Inspect scorer, HELM stat group); empty string when none.",
            False,
        ),
        col(
            "metric",
            pa.string(),
            "Metric name as the source writes it (`accuracy`, `exact_match`, `acc_norm`, `EM`).",
            False,
        ),
        col(
            "metric_filter",
            pa.string(),
            "lm-eval filter the metric was computed after (`strict-match` in `exact_match,strict-match`), "
            "HELM split and perturbation; empty string when none.",
            False,
        ),
        col(
            "value",
            pa.float64(),
            "The metric's value on the scale the source reports (a percentage stays 0-100, see `unit`); "
            "null when the source gives no finite number (then `value_text` says what it gave).",
        ),
        col(
            "value_text",
            pa.string(),
            "The value exactly as written in the source (e.g. `77.0%`, `NaN`, `N/A`).",
        ),
        col(
            "unit",
            pa.string(),
            "`proportion` (0-1), `percent` (0-100), or null when the source does not say and it cannot be told.",
        ),
        col("stderr", pa.float64(), "Standard error of the value, where reported and finite."),
        col("higher_is_better", pa.bool_(), "Whether higher values are better, where the source says."),
        col("n_samples", pa.int64(), "Samples the metric was computed over, where known."),
        col("n_samples_total", pa.int64(), "Samples the dataset (or the run's plan) holds, where known."),
        col("epochs", pa.int32(), "Epochs (repeats per sample) of the run, where known."),
        col("n_shot", pa.int32(), "Few-shot examples in each prompt, where known."),
        col(
            "model_source_name",
            pa.string(),
            "The model exactly as the source names it (`openai/gpt-4o`, `pretrained=...`, `Ours`).",
            False,
        ),
        col(
            "model_id",
            pa.string(),
            "Normalised model id, only where the mapping is certain: `hf:<org>/<name>` for a Hugging Face repo id, "
            "`<provider>/<model>` for a provider-qualified name; null otherwise (models are never merged on a "
            "bare name such as `gpt-4` or `Baseline`).",
        ),
        col(
            "model_provider",
            pa.string(),
            "Provider or API of the model (`openai`, `hf`, `vllm`), where known.",
        ),
        col("model_args", pa.string(), "Model arguments as the source gives them (lm-eval `model_args`)."),
        col("solver", pa.string(), "Solver, plan or prompting method (Inspect plan steps joined by ` -> `)."),
        col("temperature", pa.float64(), "Sampling temperature, where set."),
        col("top_p", pa.float64(), "Nucleus sampling p, where set."),
        col("top_k", pa.int64(), "Top-k sampling, where set."),
        col("max_tokens", pa.int64(), "Generation token limit, where set."),
        col("seed", pa.int64(), "Random seed, where set."),
        col("batch_size", pa.string(), "Batch size as given (lm-eval allows `auto`)."),
        col("limit", pa.int64(), "Sample limit the run was started with, where set."),
        col(
            "config_json",
            pa.string(),
            "The rest of the run's configuration that has no column above, as JSON with sorted keys.",
        ),
        col(
            "status",
            pa.string(),
            "`success`, `error`, `cancelled` or `started` (as the log says), or `reported` (a published table).",
            False,
        ),
        col("error_message", pa.string(), "The run's error, for runs that did not succeed."),
        col("started_at", TIMESTAMP, "When the run started, where the log says."),
        col("completed_at", TIMESTAMP, "When the run ended, where the log says."),
        col("run_date", pa.date32(), "Date of the run (or of the report, for published tables), UTC."),
        col("input_tokens", pa.int64(), "Input tokens the run used, summed over its models."),
        col("output_tokens", pa.int64(), "Output tokens the run used, summed over its models."),
        col("total_tokens", pa.int64(), "Total tokens the run used, summed over its models."),
        col(
            "evidence",
            pa.string(),
            "Where in the source the number is: a field path (`results.gsm8k.exact_match,strict-match`), a CSV "
            "row, or for paper tables the cell (`table 2, row 3, column 4`).",
        ),
        col(
            "evidence_text", pa.string(), "For paper tables: the row label, column header and cell text read."
        ),
        col(
            "confidence",
            pa.float64(),
            "1 for numbers a log or results file states; below 1 for numbers read from a paper's table.",
            False,
        ),
        *PROVENANCE_FIELDS,
    ]
)

RESULT_SAMPLES_SCHEMA = pa.schema(
    [
        col("run_id", pa.string(), "The run (`results.run_id`).", False),
        col("sample_id", pa.string(), "The sample's id in its dataset, as text.", False),
        col("epoch", pa.int32(), "Epoch (repeat) of the sample, from 1.", False),
        col("sample_uuid", pa.string(), "Inspect's unique id of this sample in this run, where present."),
        col("task", pa.string(), "Task of the run.", False),
        col("model_source_name", pa.string(), "The model as the log names it.", False),
        col(
            "input_text",
            pa.string(),
            "The sample's input as text (chat inputs as `role: content` lines); null when longer than 65,536 "
            "characters or when the run's license does not allow redistributing it (see `input_sha256`).",
        ),
        col("input_sha256", pa.string(), "SHA-256 of the full input text (UTF-8).", False),
        col("input_chars", pa.int64(), "Length of the full input text in characters.", False),
        col("target_text", pa.string(), "The target (expected answer); several targets joined by newlines."),
        col("target_sha256", pa.string(), "SHA-256 of the full target text, where there is a target."),
        col(
            "output_text",
            pa.string(),
            "The model's final output as text; null when longer than 65,536 characters or not redistributable.",
        ),
        col("output_sha256", pa.string(), "SHA-256 of the full output text, where there is an output."),
        col("output_chars", pa.int64(), "Length of the full output text in characters."),
        col("n_messages", pa.int32(), "Messages in the sample's conversation."),
        col(
            "scores",
            pa.list_(SAMPLE_SCORE),
            "One entry per scorer: `scorer`, `value` as JSON text, `value_float` where it is a number (Inspect's "
            "C/I/P/N letters become 1/0/0.5/0), the extracted `answer` and the scorer's `explanation`.",
        ),
        col("error", pa.string(), "Error the sample ended with, if any."),
        col("limit", pa.string(), "Limit the sample hit (`token`, `time`, `message`, ...), if any."),
        col("total_time_s", pa.float64(), "Wall-clock seconds the sample took."),
        col("working_time_s", pa.float64(), "Seconds the sample spent working (excluding waits)."),
        col("input_tokens", pa.int64(), "Input tokens the sample used, summed over models."),
        col("output_tokens", pa.int64(), "Output tokens the sample used, summed over models."),
        col("total_tokens", pa.int64(), "Total tokens the sample used, summed over models."),
        col(
            "metadata_json", pa.string(), "The sample's metadata as JSON with sorted keys, where it has any."
        ),
        *PROVENANCE_FIELDS,
    ]
)
