"""CHANGELOG.md: what changed in each snapshot, newest first, per table and per source."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipelines.snapshot.diff import KINDS, TableDiff
from pipelines.snapshot.gates import GateResult

HEADER = "# Changelog\n\nRow counts are by primary key; `updated` means any column changed.\n"


def render_entry(
    manifest: Mapping[str, Any],
    previous: Mapping[str, Any] | None,
    diffs: Mapping[str, TableDiff],
    gates: list[GateResult],
) -> str:
    version = manifest["version"]
    lines = [f"## {version}", ""]
    if previous is None:
        lines.append("First snapshot.")
        lines.append("")
        lines += ["| table | rows |", "|---|---:|"]
        lines += [f"| `{name}` | {t['rows']:,} |" for name, t in manifest["tables"].items()]
        return "\n".join(lines) + "\n"
    lines.append(f"Compared with {previous['version']}.")
    lines.append("")
    lines += ["| table | rows | before | added | updated | deleted |", "|---|---:|---:|---:|---:|---:|"]
    for name, table in manifest["tables"].items():
        before = previous.get("tables", {}).get(name, {}).get("rows")
        counts = diffs[name].counts if name in diffs else dict.fromkeys(KINDS, 0)
        lines.append(
            f"| `{name}` | {table['rows']:,} | {before if before is not None else 'new table'} | "
            f"{counts['added']:,} | {counts['updated']:,} | {counts['deleted']:,} |"
        )
    by_source = [(name, source, c) for name, d in diffs.items() for source, c in sorted(d.by_source.items())]
    if by_source:
        lines += ["", "| table | source | added | updated | deleted |", "|---|---|---:|---:|---:|"]
        lines += [
            f"| `{name}` | `{source}` | {c['added']:,} | {c['updated']:,} | {c['deleted']:,} |"
            for name, source, c in by_source
        ]
    notable = _notable(manifest, previous, gates)
    if notable:
        lines += ["", "Notable:", *[f"- {n}" for n in notable]]
    return "\n".join(lines) + "\n"


def _notable(manifest: Mapping[str, Any], previous: Mapping[str, Any], gates: list[GateResult]) -> list[str]:
    notes = []
    if manifest["schema_version"] != previous.get("schema_version"):
        notes.append(f"schema {previous.get('schema_version')} → {manifest['schema_version']}")
    prev_tables = previous.get("tables", {})
    for name, table in manifest["tables"].items():
        old = prev_tables.get(name)
        if old is None:
            notes.append(f"new table `{name}`")
            continue
        added = sorted(set(table["columns"]) - set(old.get("columns", {})))
        removed = sorted(set(old.get("columns", {})) - set(table["columns"]))
        if added:
            notes.append(f"`{name}`: new columns {', '.join(f'`{c}`' for c in added)}")
        if removed:
            notes.append(f"`{name}`: removed columns {', '.join(f'`{c}`' for c in removed)}")
        new_sources = sorted(set(table.get("sources", {})) - set(old.get("sources", {})))
        if new_sources:
            notes.append(f"`{name}`: new sources {', '.join(f'`{s}`' for s in new_sources)}")
    for name in sorted(set(prev_tables) - set(manifest["tables"])):
        notes.append(f"table `{name}` removed")
    for gate in gates:
        if gate.overridden:
            notes.append(f"release gate `{gate.gate}` overridden ({gate.reason}): {'; '.join(gate.report)}")
    return notes


def render_changelog(entry: str, previous_changelog: str | None) -> str:
    older = ""
    if previous_changelog and previous_changelog.startswith(HEADER):
        older = previous_changelog[len(HEADER) :].lstrip("\n")
    return HEADER + "\n" + entry + ("\n" + older if older else "")
