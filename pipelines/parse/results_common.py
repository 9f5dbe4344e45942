"""What every results reader shares: row keys, model-id normalisation, numbers as sources write them.

Model identity is scoped: a name is normalised only where the mapping is certain (a Hugging Face repo id
in `pretrained=`, a `provider/model` string), and the original is always kept in `model_source_name`.
A bare name (`gpt-4`, `Baseline`, `Ours`) gets no `model_id`, so rows from different sources are never
merged on it.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from datetime import UTC, date, datetime
from typing import Any

# Providers Inspect and HELM write as the first part of `provider/model`, and what they mean.
KNOWN_PROVIDERS = frozenset(
    {
        "openai",
        "anthropic",
        "google",
        "mistral",
        "mistralai",
        "meta",
        "meta-llama",
        "together",
        "groq",
        "fireworks",
        "bedrock",
        "azureai",
        "vertex",
        "cohere",
        "grok",
        "xai",
        "deepseek",
        "perplexity",
        "openrouter",
        "hf",
        "vllm",
        "ollama",
        "llama-cpp-python",
        "sglang",
        "transformer_lens",
        "mockllm",
        "none",
        "qwen",
        "amazon",
        "ai21",
        "writer",
        "01-ai",
        "allenai",
        "databricks",
        "microsoft",
        "nvidia",
        "tiiuae",
        "upstage",
        "snowflake",
    }
)
# Inspect providers that serve Hugging Face repos by id: `hf/<org>/<name>`, `vllm/<org>/<name>`.
_HF_SERVING = frozenset({"hf", "vllm", "sglang", "ollama", "together", "fireworks", "openrouter", "groq"})
_HF_REPO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*/[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_PRETRAINED = re.compile(r"(?:^|,)\s*(?:pretrained|model|model_name|path)\s*=\s*([^,]+)")


def result_id(run_id: str, task: str, subtask: str, scorer: str, metric: str, metric_filter: str) -> str:
    text = "\x1f".join((run_id, task, subtask, scorer, metric, metric_filter))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def normalise_model_id(name: str | None, model_args: str | None = None) -> tuple[str | None, str | None]:
    """(model_id, provider) for a model name as a source writes it, or (None, provider) when not certain.

    - lm-eval `model_args` with `pretrained=<org>/<name>` (a Hugging Face repo id) → `hf:<org>/<name>`.
    - `hf/<org>/<name>`, `vllm/<org>/<name>` (Inspect serving a Hugging Face repo) → `hf:<org>/<name>`.
    - `<provider>/<model>` with a known provider → `<provider>/<model>` lower-cased.
    - anything else (a bare name) → no id.
    """
    if model_args:
        m = _PRETRAINED.search(model_args)
        if m:
            repo = m.group(1).strip().strip("'\"")
            if _HF_REPO.match(repo) and not repo.startswith(("/", ".")):
                return f"hf:{repo}", "hf"
    if not name:
        return None, None
    name = name.strip()
    parts = name.split("/")
    provider = parts[0].lower() if len(parts) > 1 else None
    if provider in _HF_SERVING and len(parts) == 3 and _HF_REPO.match("/".join(parts[1:])):
        return f"hf:{parts[1]}/{parts[2]}", provider
    if provider in KNOWN_PROVIDERS and len(parts) >= 2 and all(parts[1:]):
        return name.lower(), provider
    return None, provider


def number(value: Any) -> tuple[float | None, str | None]:
    """(finite float or None, the value as written) for a metric value or stderr from JSON or CSV.

    NaN, infinities, `N/A` and empty strings give None with their text kept; booleans are not numbers.
    """
    if value is None:
        return None, None
    if isinstance(value, bool):
        return None, json.dumps(value)
    if isinstance(value, (int, float)):
        f = float(value)
        return (f if math.isfinite(f) else None), _text(value)
    text = str(value).strip()
    if not text:
        return None, text
    try:
        f = float(text.rstrip("%").replace(",", ""))
    except ValueError:
        return None, text
    return (f if math.isfinite(f) else None), text


def _text(value: int | float) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return json.dumps(value)


def config_json(config: dict[str, Any]) -> str | None:
    """Leftover configuration as canonical JSON (sorted keys), or None when nothing is left."""
    kept = {k: v for k, v in config.items() if v is not None and v != {} and v != []}
    if not kept:
        return None
    return json.dumps(kept, sort_keys=True, ensure_ascii=False, default=str, allow_nan=True)


def parse_timestamp(value: Any) -> datetime | None:
    """An ISO 8601 timestamp (with or without zone; naive means UTC) or Unix seconds, as UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), tz=UTC)
    text = str(value).strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def run_date(*candidates: datetime | None) -> date | None:
    for c in candidates:
        if c is not None:
            return c.date()
    return None
