"""Local input for ``--from``: which files a batch reads, how they are named, and reading them as documents."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pipelines.fetch.raw_store import sha256_hex
from pipelines.sources.base import BatchSpec, RawDocument
from pipelines.sources.registry import detect_source, get_source


def input_files(root: Path) -> list[Path]:
    """Files under ``root`` (or ``root`` itself), sorted, hidden files and folders skipped."""
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise FileNotFoundError(f"input {root} does not exist")
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


@dataclass(frozen=True)
class LocalPlan:
    """How one ``--from`` root splits into per-source batches."""

    root: Path
    batches: list[BatchSpec]
    unclaimed: list[Path]  # files no source recognised, and no source owns the folder


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "input"


def local_batch_key(source: str, root: Path) -> str:
    digest = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:10]
    return f"{source}-local-{_slug(root.name)}-{digest}"


def plan_local_input(root: Path, forced_source: str | None = None) -> LocalPlan:
    """Detect the source of every file under ``root`` and group them into one batch per source.

    Files no source recognises (an empty file, a truncated one) go to the source that claimed most of
    their folder, so its parser records the error in ``fetches``; with no such source they are unclaimed.
    """
    root = root.resolve()
    if forced_source:
        get_source(forced_source)
        return LocalPlan(root, [_batch(forced_source, root, "all")], [])
    files = input_files(root)
    claims: dict[Path, str | None] = {}
    for path in files:
        source = detect_source(path)
        claims[path] = source.name if source else None
    counts = Counter(name for name in claims.values() if name)
    dominant = counts.most_common(1)[0][0] if counts else None
    batches = [
        _batch(name, root, "detected" if name != dominant else "detected+unrecognised")
        for name in sorted(counts)
    ]
    unclaimed = [p for p, name in claims.items() if name is None] if dominant is None else []
    return LocalPlan(root, batches, unclaimed)


def _batch(source: str, root: Path, claim: str) -> BatchSpec:
    return BatchSpec(
        source=source,
        kind="local",
        key=local_batch_key(source, root),
        paths=(str(root),),
        options={"claim": claim},
    )


def batch_files(batch: BatchSpec) -> list[Path]:
    """The files a local batch reads now (the folder is scanned again, so new files are picked up)."""
    claim = batch.options.get("claim", "all")
    out: list[Path] = []
    for root_text in batch.paths:
        for path in input_files(Path(root_text)):
            if claim == "all":
                out.append(path)
                continue
            source = detect_source(path)
            if (source is not None and source.name == batch.source) or (
                source is None and claim == "detected+unrecognised"
            ):
                out.append(path)
    return out


def display_path(path: Path, root: Path) -> str:
    """Path as recorded in the data: relative to the parent of the ``--from`` root, never absolute."""
    base = root.parent if root.is_dir() or root == path else root
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return path.name


def read_local_documents(batch: BatchSpec) -> Iterator[RawDocument | tuple[str, OSError]]:
    """Each file of the batch as one document, or, where the source groups files (the files of one HELM
    run), each group as one document bundling them (``Source.bundle_local``)."""
    source = get_source(batch.source)
    for root_text in batch.paths:
        root = Path(root_text)
        files = batch_files(BatchSpec(batch.source, batch.kind, batch.key, (root_text,), batch.options))
        for group in source.group_local_files(files):
            names = [display_path(path, root) for path in group]
            try:
                contents = [path.read_bytes() for path in group]
            except OSError as exc:
                yield names[0], exc
                continue
            if len(group) == 1:
                data, name = contents[0], names[0]
            else:
                data, name = source.bundle_local(names, contents), names[0]
            yield RawDocument(data=data, sha256=sha256_hex(data), url_or_path=name, kind="file")
