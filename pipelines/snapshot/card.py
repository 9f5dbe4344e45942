"""DATACARD.md: the column docs it holds are generated from schemas/, and it renders into each snapshot's README.md."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipelines.sources.registry import all_sources
from schemas import SCHEMA_VERSION, TABLES, column_docs

BEGIN = "<!-- BEGIN GENERATED: columns (make card) -->"
END = "<!-- END GENERATED: columns -->"


def render_column_docs() -> str:
    parts = []
    for name, spec in TABLES.items():
        parts.append(f"### `{name}`\n\n{spec.description} Primary key: `{', '.join(spec.primary_key)}`.\n")
        parts.append("| column | type | description |\n|---|---|---|")
        for column, type_, desc in column_docs(name):
            escaped = desc.replace("|", "\\|")
            parts.append(f"| `{column}` | `{type_}` | {escaped} |")
        parts.append("")
    return "\n".join(parts).rstrip() + "\n"


def with_generated_columns(card: str) -> str:
    """``card`` with its generated column section replaced by the docs in schemas/."""
    start, end = card.find(BEGIN), card.find(END)
    if start < 0 or end < start:
        raise ValueError(f"DATACARD.md lacks the markers {BEGIN!r} ... {END!r}")
    return card[: start + len(BEGIN)] + "\n" + render_column_docs() + card[end:]


def _size_category(rows: int) -> str:
    for limit, label in (
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
    ):
        if rows < limit:
            return label
    return "1M<n<10M" if rows < 10_000_000 else "10M<n<100M"


def render_yaml_header(manifest: Mapping[str, Any]) -> str:
    tables = manifest["tables"]
    lines = [
        "---",
        "pretty_name: Research Commons",
        "license: other",
        "license_name: mixed; every row states its own license (see the license and license_source columns)",
        "language:",
        "- en",
        "tags:",
        "- ai-safety",
        "- scientific-papers",
        "- provenance",
        "size_categories:",
        f"- {_size_category(max((t['rows'] for t in tables.values()), default=0))}",
        "configs:",
    ]
    for name, table in tables.items():
        if not table["rows"]:
            continue  # `datasets` and the Hub viewer refuse a config with no rows
        lines += [
            f"- config_name: {name}",
            "  data_files:",
            "  - split: train",
            f"    path: data/{name}/*.parquet",
        ]
        if name == "papers":
            lines.append("  default: true")
    lines.append("---")
    return "\n".join(lines) + "\n"


def _sources_table() -> str:
    rows = ["| source | what it provides | metadata license | full text | terms |", "|---|---|---|---|---|"]
    for source in all_sources().values():
        lic = source.license
        rows.append(
            f"| `{source.name}` | {source.description} | `{lic.metadata_spdx}` | {lic.text_redistribution} | "
            f"{lic.terms_url} |"
        )
    return "\n".join(rows)


def _counts_table(manifest: Mapping[str, Any]) -> str:
    rows = ["| table | rows | files |", "|---|---:|---:|"]
    for name, table in manifest["tables"].items():
        rows.append(f"| `{name}` | {table['rows']:,} | {len(table['files'])} |")
    return "\n".join(rows)


def render_card(template: str, manifest: Mapping[str, Any]) -> str:
    """The snapshot's README.md: YAML header for the Hub, then DATACARD.md with its placeholders filled."""
    body = with_generated_columns(template)
    values = {
        "version": manifest["version"],
        "schema_version": SCHEMA_VERSION,
        "pipeline_version": manifest["pipeline_version"],
        "counts": _counts_table(manifest),
        "sources": _sources_table(),
    }
    for key, value in values.items():
        body = body.replace("{{" + key + "}}", str(value))
    # The template's own instructions to maintainers are not part of the rendered card.
    body = "\n".join(line for line in body.splitlines() if not line.startswith("<!-- template:")) + "\n"
    return render_yaml_header(manifest) + "\n" + body
