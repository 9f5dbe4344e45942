"""Skip work whose inputs have not changed: input fingerprints and a sidecar beside each output.

A step that turns input files into an output file asks, before doing any work, whether the output is
*current*: whether it was last written from the same inputs by the same code. The answer is kept next to
the output in ``<output>.inputs.json`` (written atomically, after the output):

- ``fingerprint``: SHA-256 over the inputs' identities and the step's versions (below);
- ``inputs``: each input's identity: its resolved path, size and ``mtime_ns`` (and the SHA-256 of its
  bytes for files up to ``HASH_BELOW`` bytes, where a same-size rewrite within one mtime tick is
  plausible), or ``missing`` for an input that does not exist (its later appearance is a change);
- ``versions``: what the code contributes: a parser or code version, the schema version, parameters;
- ``outputs``: the identity (path, size, mtime_ns) of every file the step wrote, so an output that was
  replaced or deleted since (by another writer, or by hand) is not current any more;
- ``data``: whatever the step wants back when it skips (row counts, a summary), JSON.

``fingerprint(paths, versions)`` is deterministic: it depends only on the inputs' paths, sizes, mtimes
(their own, never the clock's) and small files' bytes, and on ``versions``, canonically serialised. The
order of ``paths`` is kept (a step that reads files in order may depend on it).

Typical use (plain Python; the Dagster assets call this through ``pipelines``)::

    fp = fingerprint(inputs, {"code": CODE_VERSION, "schema": SCHEMA_VERSION})
    if is_current(out, fp):
        return load(out)["data"]           # skipped: the output is what this work would write
    ... write out ...
    record(out, fp, inputs, data={"rows": n})

An mtime-based identity is what ``make`` and Dagster's data versions rely on too: a file rewritten with
new bytes gets a new mtime (or size); a file rewritten with the same bytes does too, which costs a
recomputation, never a wrong skip. Steps that rewrite an output with the same bytes can keep the old file
(``replace_if_changed``), so the steps downstream of them see no change ("early cutoff").
"""

from __future__ import annotations

import contextlib
import filecmp
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.atomic import atomic_write_text

SIDECAR_SUFFIX = ".inputs.json"
# Inputs this small are identified by their bytes as well as by size and mtime.
HASH_BELOW = 64 * 1024
FORMAT = 1


def sidecar_path(output: Path) -> Path:
    return output.with_name(output.name + SIDECAR_SUFFIX)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def identity(path: Path, hash_below: int = HASH_BELOW) -> dict[str, Any]:
    """What identifies one input file now: resolved path, size, mtime_ns (and sha256 when small)."""
    resolved = Path(path).resolve()
    try:
        st = resolved.stat()
    except FileNotFoundError:
        return {"path": str(resolved), "missing": True}
    out: dict[str, Any] = {"path": str(resolved), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    if st.st_size <= hash_below:
        out["sha256"] = _sha256(resolved)
    return out


def _output_identity(path: Path) -> dict[str, Any]:
    return identity(path, hash_below=-1)


def identities(paths: Iterable[Path], hash_below: int = HASH_BELOW) -> list[dict[str, Any]]:
    return [identity(p, hash_below) for p in paths]


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def fingerprint_of(inputs: Sequence[Mapping[str, Any]], versions: Mapping[str, Any]) -> str:
    """The fingerprint of already computed input identities (see ``identity``) and versions."""
    text = _canonical({"format": FORMAT, "inputs": list(inputs), "versions": dict(versions)})
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def fingerprint(paths: Iterable[Path], versions: Mapping[str, Any], hash_below: int = HASH_BELOW) -> str:
    """A stable hash over the inputs' identities (path, size, mtime_ns; bytes of small files) and
    ``versions`` (code and schema versions, parameters: anything JSON-serialisable)."""
    return fingerprint_of(identities(paths, hash_below), versions)


def load(output: Path, sidecar: Path | None = None) -> dict[str, Any] | None:
    """The sidecar recorded for ``output`` (at ``sidecar``, default ``sidecar_path(output)``), or
    ``None`` when there is none (or it is unreadable)."""
    try:
        data = json.loads((sidecar or sidecar_path(output)).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == FORMAT else None


def is_current(output: Path, fp: str, sidecar: Path | None = None) -> bool:
    """True when ``output`` (and every other output recorded with it) is exactly what was written from
    inputs with fingerprint ``fp``: the sidecar's fingerprint matches and no output changed since."""
    state = load(output, sidecar)
    if state is None or state.get("fingerprint") != fp:
        return False
    recorded = state.get("outputs")
    if not isinstance(recorded, list) or not recorded or recorded[0].get("path") != str(output.resolve()):
        return False
    return all(
        isinstance(o, dict) and _output_identity(Path(o.get("path", ""))) == o and not o.get("missing")
        for o in recorded
    )


def record(
    output: Path,
    fp: str,
    inputs: Iterable[Path] | Sequence[Mapping[str, Any]],
    *,
    versions: Mapping[str, Any] | None = None,
    also: Iterable[Path] = (),
    data: Mapping[str, Any] | None = None,
    sidecar: Path | None = None,
) -> None:
    """Write ``output``'s sidecar after a successful write: fingerprint ``fp``, the inputs (paths, or
    identities from ``identities``), the identities of ``output`` and of the other outputs ``also``
    (written by the same step), ``versions`` and ``data`` (returned by ``load`` for a skip)."""
    listed: list[Any] = []
    for item in inputs:
        listed.append(dict(item) if isinstance(item, Mapping) else identity(Path(item)))
    state = {
        "format": FORMAT,
        "fingerprint": fp,
        "inputs": listed,
        "versions": dict(versions or {}),
        "outputs": [_output_identity(p) for p in (output, *also)],
        "data": dict(data or {}),
    }
    atomic_write_text(
        sidecar or sidecar_path(output), json.dumps(state, indent=1, sort_keys=True, default=str) + "\n"
    )


def forget(output: Path, sidecar: Path | None = None) -> None:
    """Drop ``output``'s sidecar (before rewriting it, so a failure half-way never looks current)."""
    (sidecar or sidecar_path(output)).unlink(missing_ok=True)


def replace_if_changed(new: Path, target: Path) -> bool:
    """Move ``new`` onto ``target`` unless ``target`` already has the same bytes; then ``new`` is deleted
    and ``target`` (with its mtime) is kept, so steps reading it see no change. True when replaced."""
    if target.is_file() and target.stat().st_size == new.stat().st_size and filecmp.cmp(new, target, False):
        new.unlink()
        return False
    os.replace(new, target)
    return True


@dataclass(frozen=True)
class Outcome:
    """What ``run`` did: ``skipped`` (the outputs were current), and the step's ``data`` (recorded then)."""

    skipped: bool
    data: dict[str, Any]
    fingerprint: str


def run(
    output: Path,
    inputs: Sequence[Path],
    versions: Mapping[str, Any],
    work: Callable[[], Mapping[str, Any] | None],
    *,
    also: Sequence[Path] = (),
    force: bool = False,
) -> Outcome:
    """Do ``work`` (which writes ``output`` and ``also``, and returns JSON data to keep) unless the
    outputs are current for ``inputs`` and ``versions``; then return the data recorded last time.

    The inputs' identities are taken *before* the work, so an input that changes while the work reads
    it makes the next call redo the work rather than skip it.
    """
    found = identities(inputs)
    fp = fingerprint_of(found, versions)
    if not force and is_current(output, fp):
        state = load(output) or {}
        return Outcome(True, dict(state.get("data", {})), fp)
    forget(output)
    with early_cutoff([output, *also]):
        data = dict(work() or {})
    record(output, fp, found, versions=versions, also=also, data=data)
    return Outcome(False, data, fp)


@contextlib.contextmanager
def early_cutoff(outputs: Sequence[Path]) -> Iterator[None]:
    """Around work that replaces ``outputs`` (by writing a new file and renaming it, as every writer here
    does): an output whose new bytes equal its old bytes gets its old mtime back, so the steps reading it
    see an unchanged identity and skip ("early cutoff"; the old file is kept as a hard link meanwhile)."""
    kept: list[tuple[Path, Path, os.stat_result]] = []
    try:
        for out in outputs:
            if not out.is_file():
                continue
            link = out.with_name(f".{out.name}.previous-{os.getpid()}")
            try:
                link.unlink(missing_ok=True)
                os.link(out, link)
            except OSError:
                continue  # no hard links here: no cutoff, never a wrong answer
            kept.append((out, link, link.stat()))
        yield
        for out, link, old in kept:
            try:
                new = out.stat()
            except FileNotFoundError:
                continue
            if (new.st_ino, new.st_dev) == (old.st_ino, old.st_dev):
                continue  # not rewritten
            if new.st_size == old.st_size and filecmp.cmp(out, link, shallow=False):
                os.utime(out, ns=(new.st_atime_ns, old.st_mtime_ns))
    finally:
        for _, link, _ in kept:
            link.unlink(missing_ok=True)


def memo(
    state: Path, inputs: Sequence[Path], versions: Mapping[str, Any], compute: Callable[[], Mapping[str, Any]]
) -> Outcome:
    """``compute()`` (a JSON value: a check's outcome, say), or the value it gave last time for the same
    inputs and versions, kept in the file ``state``. A value that does not survive JSON unchanged is
    returned but not kept."""

    def work() -> dict[str, Any]:
        value = dict(compute())
        try:
            text = json.dumps(value, sort_keys=True)
            clean = json.loads(text) == value
        except (TypeError, ValueError):
            clean = False
        if not clean:
            raise _NotJson(value)
        atomic_write_text(state, text + "\n")
        return value

    try:
        return run(state, inputs, versions, work)
    except _NotJson as exc:
        forget(state)
        return Outcome(False, exc.value, "")


class _NotJson(Exception):
    def __init__(self, value: dict[str, Any]) -> None:
        super().__init__("value is not plain JSON")
        self.value = value
