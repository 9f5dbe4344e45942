"""Release gates: what stops a snapshot from being released, compared with the previous snapshot.

- ``row_counts``: no table loses more than ``max_shrink`` of its rows.
- ``sources``: no source that fed a table disappears from it or loses more than ``max_source_shrink``.
- ``schema``: the schema change since the previous snapshot matches the SCHEMA_VERSION bump.
- ``duplicate_rate``: rows of `duplicates` per `papers` row moves by no more than ``max_duplicate_shift``
  (absolute) from the previous snapshot's: a jump means a source started sending copies, or duplicate
  detection broke.

A gate is overridden only by naming it with a reason; the override is recorded in the manifest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from schemas.compat import compatibility_problems

GATES = ("row_counts", "sources", "schema", "duplicate_rate")


@dataclass(frozen=True)
class GatePolicy:
    max_shrink: float = 0.05
    max_source_shrink: float = 0.20
    max_duplicate_shift: float = 0.05
    overrides: Mapping[str, str] = field(default_factory=dict)  # gate name -> reason

    def __post_init__(self) -> None:
        unknown = set(self.overrides) - set(GATES)
        if unknown:
            raise ValueError(f"unknown gate(s) {sorted(unknown)}; gates are {', '.join(GATES)}")
        if any(not reason.strip() for reason in self.overrides.values()):
            raise ValueError("overriding a gate needs a reason")


@dataclass
class GateResult:
    gate: str
    passed: bool
    report: list[str]
    overridden: bool = False
    reason: str | None = None

    @property
    def blocks(self) -> bool:
        return not self.passed and not self.overridden

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class ReleaseGateError(Exception):
    def __init__(self, results: list[GateResult]) -> None:
        self.results = results
        lines = [f"{r.gate}: {line}" for r in results if r.blocks for line in r.report]
        super().__init__(
            "release gates stopped this snapshot:\n  "
            + "\n  ".join(lines)
            + "\n(override a gate explicitly, with a reason, if the change is intended)"
        )


def _shrink(before: int, after: int) -> float:
    return (before - after) / before if before else 0.0


def evaluate_gates(
    tables: Mapping[str, Mapping[str, Any]],
    contract: Mapping[str, Any],
    previous: Mapping[str, Any] | None,
    policy: GatePolicy,
) -> list[GateResult]:
    """``tables``: name -> {"rows": n, "sources": {source: n}}; ``previous``: the previous manifest."""
    if previous is None:
        return [GateResult(g, True, ["first snapshot: nothing to compare with"]) for g in GATES]
    results = []
    prev_tables = previous.get("tables", {})

    report = []
    for name, prev in sorted(prev_tables.items()):
        now = tables.get(name, {}).get("rows", 0) if name in tables else None
        if now is None:
            report.append(f"table {name} ({prev['rows']} rows) is missing")
        elif _shrink(prev["rows"], now) > policy.max_shrink:
            report.append(
                f"table {name} shrank from {prev['rows']} to {now} rows "
                f"({_shrink(prev['rows'], now):.0%} > {policy.max_shrink:.0%} allowed)"
            )
    results.append(GateResult("row_counts", not report, report or ["no table shrank beyond its bound"]))

    report = []
    for name, prev in sorted(prev_tables.items()):
        now_sources = tables.get(name, {}).get("sources", {})
        for source, before in sorted(prev.get("sources", {}).items()):
            after = now_sources.get(source, 0)
            if before and not after:
                report.append(f"source {source} disappeared from {name} (had {before} rows)")
            elif _shrink(before, after) > policy.max_source_shrink:
                report.append(
                    f"source {source} shrank in {name} from {before} to {after} rows "
                    f"({_shrink(before, after):.0%} > {policy.max_source_shrink:.0%} allowed)"
                )
    results.append(GateResult("sources", not report, report or ["every source is still present"]))

    old_contract = {
        "schema_version": previous.get("schema_version", "0.0.0"),
        "tables": {name: t.get("columns", {}) for name, t in prev_tables.items()},
    }
    report = compatibility_problems(old_contract, contract)
    results.append(GateResult("schema", not report, report or ["schema change matches SCHEMA_VERSION"]))

    results.append(_duplicate_rate_gate(tables, prev_tables, policy))

    for result in results:
        if not result.passed and result.gate in policy.overrides:
            result.overridden = True
            result.reason = policy.overrides[result.gate]
    return results


def duplicate_rate(tables: Mapping[str, Mapping[str, Any]]) -> float | None:
    """Rows of `duplicates` per `papers` row; None where either table is missing or papers is empty."""
    papers = tables.get("papers", {}).get("rows")
    duplicates = tables.get("duplicates", {}).get("rows")
    if not papers or duplicates is None:
        return None
    return float(duplicates) / float(papers)


def _duplicate_rate_gate(
    tables: Mapping[str, Mapping[str, Any]], prev_tables: Mapping[str, Any], policy: GatePolicy
) -> GateResult:
    now, before = duplicate_rate(tables), duplicate_rate(prev_tables)
    if now is None or before is None:
        return GateResult("duplicate_rate", True, ["no duplicate rate to compare with"])
    shift = now - before
    if abs(shift) > policy.max_duplicate_shift:
        return GateResult(
            "duplicate_rate",
            False,
            [
                f"duplicates per paper moved from {before:.3f} to {now:.3f} "
                f"({shift:+.3f}; more than {policy.max_duplicate_shift:.3f} allowed)"
            ],
        )
    return GateResult("duplicate_rate", True, [f"duplicates per paper {before:.3f} -> {now:.3f}"])
