"""Run one harvest partition: read or fetch its documents, store the bytes, parse, stage rows and the fetch log."""

from __future__ import annotations

import gc
import hashlib
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines import incremental
from pipelines.fetch.http import FetchError, PoliteFetcher
from pipelines.fetch.raw_store import RawStore, sha256_hex
from pipelines.local_input import batch_files, read_local_documents
from pipelines.settings import DataRoot, pipeline_version
from pipelines.snapshot.parquet import ParquetTableWriter
from pipelines.sources.base import BatchSpec, ParseContext, ParseError, RawDocument, Row, Source
from schemas import SCHEMA_VERSION, table_spec

log = logging.getLogger("commons.harvest")

FLUSH_ROWS = 4096
# Bump when harvest_batch changes what it stages for the same documents and parser (forces re-harvests).
HARVEST_VERSION = "1"
# Environment a local parse may depend on (a GROBID server makes PDFs' full text richer).
HARVEST_ENV = ("COMMONS_GROBID_URL",)
_EMPTY_SHA256 = sha256_hex(b"")  # what an unreadable file's fetch row names (nothing stored)


@dataclass
class HarvestSummary:
    batch: str
    documents: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    complete: bool = True  # False when a live harvest stopped early (watermark must not advance)
    outputs: dict[str, Path] = field(default_factory=dict)
    # True: a local batch unchanged since its last harvest, not read again; outputs are the previous ones.
    skipped: bool = False


def staging_path(root: DataRoot, source: str, table: str, batch_key: str) -> Path:
    return root.staging / source / table / f"{batch_key}.parquet"


def fetch_id(raw_sha256: str, url_or_path: str, retrieved_at: datetime | None) -> str:
    text = f"{raw_sha256}\n{url_or_path}\n{retrieved_at.isoformat() if retrieved_at else ''}"
    return hashlib.sha256(text.encode()).hexdigest()


def _documents(
    source: Source, batch: BatchSpec, fetcher: PoliteFetcher | None, watermark: str | None
) -> Iterator[RawDocument | tuple[str, Exception]]:
    if batch.kind == "local":
        yield from read_local_documents(batch)
        return
    if fetcher is None:
        raise ValueError(f"batch {batch.key} is live but no fetcher was given")
    yield from source.fetch(batch, fetcher, watermark)


def harvest_batch(
    source: Source,
    batch: BatchSpec,
    root: DataRoot,
    fetcher: PoliteFetcher | None = None,
    watermark: str | None = None,
    on_document: Callable[[int, str], None] | None = None,
    reuse: bool = True,
) -> HarvestSummary:
    """Harvest one partition into ``staging/<source>/<table>/<batch>.parquet`` plus its fetch log.

    Bad documents are recorded in the fetch log and never stop the batch. Outputs replace the
    partition's previous outputs atomically, only when the whole batch has been processed.

    A local batch whose files (paths, sizes, mtimes), batch spec and parser version are those of its last
    harvest is not read again: the previous outputs are returned with ``skipped=True`` (see
    ``reusable_harvest``). ``reuse=False`` harvests anyway.
    """
    store = RawStore(root.raw)
    version = pipeline_version()
    summary = HarvestSummary(batch=batch.key)
    fp: str | None = None
    inputs: list[dict[str, object]] = []
    if batch.kind == "local":
        inputs = incremental.identities(batch_files(batch))
        fp = incremental.fingerprint_of(inputs, harvest_versions(source, batch))
        if reuse:
            previous = reusable_harvest(source, batch, root, fp)
            if previous is not None:
                return previous
        # Outputs are about to be replaced: until the new ones are recorded, nothing is current.
        incremental.forget(staging_path(root, source.name, "fetches", batch.key))
    outputs = [staging_path(root, source.name, t, batch.key) for t in (*source.tables, "fetches")]
    with incremental.early_cutoff(outputs):  # staged files rewritten with the same bytes keep their mtime
        _harvest_into(summary, source, batch, root, store, version, fetcher, watermark, on_document)
    if fp is not None:
        _record_harvest(summary, fp, inputs)
    return summary


def _harvest_into(
    summary: HarvestSummary,
    source: Source,
    batch: BatchSpec,
    root: DataRoot,
    store: RawStore,
    version: str,
    fetcher: PoliteFetcher | None,
    watermark: str | None,
    on_document: Callable[[int, str], None] | None,
) -> None:
    writers = {
        t: ParquetTableWriter(staging_path(root, source.name, t, batch.key), table_spec(t))
        for t in source.tables
    }
    fetch_writer = ParquetTableWriter(
        staging_path(root, source.name, "fetches", batch.key), table_spec("fetches")
    )
    all_writers = [*writers.values(), fetch_writer]
    try:
        if batch.kind == "local":
            source.prepare_local(batch_files(batch), root)
        docs = _documents(source, batch, fetcher, watermark)
        while True:
            try:
                item = next(docs)
            except StopIteration:
                break
            except FetchError as exc:
                summary.complete = False
                summary.errors.append(str(exc))
                body = exc.body or b""
                fetch_writer.add(
                    _fetch_row(
                        source,
                        exc.url,
                        "http",
                        "error",
                        store.put(body),
                        len(body),
                        version,
                        http_status=exc.http_status,
                        error=str(exc),
                    )
                )
                break
            if isinstance(item, tuple):
                name, err = item
                message = f"{name}: cannot read: {err}"
                summary.errors.append(message)
                fetch_writer.add(
                    _fetch_row(source, name, "file", "error", sha256_hex(b""), 0, version, error=message)
                )
                continue
            doc = item
            summary.documents += 1
            if on_document:
                on_document(summary.documents, doc.url_or_path)
            store.put(doc.data)
            ctx = ParseContext(
                http_status=doc.http_status, retrieved_at=doc.retrieved_at, options=batch.options
            )
            records, error = _stage_document(source, doc, ctx, writers, version)
            for table, n in records.items():
                summary.rows[table] = summary.rows.get(table, 0) + n
            if error:
                summary.errors.append(error)
                if doc.kind == "http":
                    summary.complete = False
            status = "error" if error else ("empty" if ctx.empty and not any(records.values()) else "ok")
            if doc.http_status == 304:
                status = "not_modified"
            fetch_writer.add(
                _fetch_row(
                    source,
                    doc.url_or_path,
                    doc.kind,
                    status,
                    doc.sha256,
                    len(doc.data),
                    version,
                    http_status=ctx.http_status or doc.http_status,
                    error=error,
                    content_type=doc.content_type,
                    retrieved_at=ctx.retrieved_at or doc.retrieved_at,
                    records=sum(records.values()),
                    parser=ctx.parser or source.parser_name,
                    parser_version=ctx.parser_version or source.parser_version,
                )
            )
        for table, writer in writers.items():
            writer.close()
            summary.outputs[table] = writer.path
        fetch_writer.close()
        summary.outputs["fetches"] = fetch_writer.path
    except BaseException as exc:
        for writer in all_writers:
            writer.abort(exc)
        raise


def harvest_versions(source: Source, batch: BatchSpec) -> dict[str, object]:
    """What besides its files decides a local batch's staged rows: the batch spec (paths, options such as
    ``--license``), the source's parser, the tables' schema version, this module's version and the
    environment a parse may consult. ``pipeline_version`` (git describe) is left out on purpose: a commit
    that changes no parser must not re-harvest every partition (rows keep the version that staged them)."""
    return {
        "harvest": HARVEST_VERSION,
        "batch": batch.to_json(),
        "source": source.name,
        "parser": source.parser_name,
        "parser_version": source.parser_version,
        "tables": list(source.tables),
        "schema": SCHEMA_VERSION,
        "env": {name: os.environ.get(name, "") for name in HARVEST_ENV},
    }


def _record_harvest(summary: HarvestSummary, fp: str, inputs: list[dict[str, object]]) -> None:
    fetches = summary.outputs["fetches"]
    others = [p for t, p in summary.outputs.items() if t != "fetches"]
    incremental.record(
        fetches,
        fp,
        inputs,
        also=others,
        data={
            "documents": summary.documents,
            "rows": summary.rows,
            "errors": summary.errors,
            "complete": summary.complete,
            "outputs": {t: str(p) for t, p in summary.outputs.items()},
        },
    )


def harvest_is_current(source: Source, batch: BatchSpec, root: DataRoot) -> bool:
    """True when ``harvest_batch`` would skip this batch (a local batch unchanged since its last harvest):
    a caller can leave the partition alone without launching a run for it."""
    if batch.kind != "local":
        return False
    fp = incremental.fingerprint(batch_files(batch), harvest_versions(source, batch))
    return reusable_harvest(source, batch, root, fp) is not None


def reusable_harvest(source: Source, batch: BatchSpec, root: DataRoot, fp: str) -> HarvestSummary | None:
    """The previous harvest of a local batch, if its inputs' fingerprint is ``fp``, its staged files are
    those it wrote, and the raw bytes its rows point at are still in the raw store; else ``None``."""
    fetches = staging_path(root, source.name, "fetches", batch.key)
    if not incremental.is_current(fetches, fp):
        return None
    state = incremental.load(fetches)
    data = state.get("data", {}) if state else {}
    outputs = {t: Path(p) for t, p in data.get("outputs", {}).items()}
    expected = {t: staging_path(root, source.name, t, batch.key) for t in (*source.tables, "fetches")}
    if outputs != expected:
        return None
    store = RawStore(root.raw)
    hashes = pq.read_table(fetches, columns=["raw_sha256"]).column("raw_sha256").to_pylist()
    if any(h not in store for h in set(hashes) - {None, _EMPTY_SHA256}):
        return None  # the raw store was emptied: harvest again so every row can be traced to its bytes
    return HarvestSummary(
        batch=batch.key,
        documents=int(data.get("documents", 0)),
        rows={str(t): int(n) for t, n in data.get("rows", {}).items()},
        errors=[str(e) for e in data.get("errors", [])],
        complete=bool(data.get("complete", True)),
        outputs=outputs,
        skipped=True,
    )


def rows_to_batch(rows: list[Row], schema: pa.Schema) -> pa.RecordBatch:
    """``pa.RecordBatch.from_pylist(rows, schema=schema)``, converted in one pass in C++.

    ``from_pylist`` gathers each column with a Python loop over the rows (about 40 dict lookups a row in
    bytecode); converting the rows as one struct array does the lookups in C++, a third faster, with the
    same result: a missing key is null, extra keys are ignored, values convert by the same rules. Should the
    struct conversion refuse anything, ``from_pylist`` is run instead, so it is also what raises errors.
    """
    try:
        row_type = pa.struct(list(schema))  # 15 us: per batch, not per row
        return pa.RecordBatch.from_arrays(pa.array(rows, type=row_type).flatten(), schema=schema)
    except Exception:
        return pa.RecordBatch.from_pylist(rows, schema=schema)


def _stage_document(
    source: Source, doc: RawDocument, ctx: ParseContext, writers: dict[str, ParquetTableWriter], version: str
) -> tuple[dict[str, int], str | None]:
    """Parse one document into the staging writers; returns rows staged per table and the error, if any.

    Rows are converted to Arrow a slice at a time per document, so a row that does not fit its table's
    schema is an error of this document (naming it), not of whichever document happens to flush later.

    Python's cyclic garbage collector is paused for the document: parsing allocates a dozen small dicts and
    lists a row, all alive until the rows become Arrow, so the collector would keep re-scanning them and find
    nothing (rows hold no reference cycles); pausing it took 6% off the harvest. It is resumed afterwards,
    and it is left alone when something else had already paused it.
    """
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        return _stage_rows(source, doc, ctx, writers, version)
    finally:
        if paused:
            gc.enable()


def _stage_rows(
    source: Source, doc: RawDocument, ctx: ParseContext, writers: dict[str, ParquetTableWriter], version: str
) -> tuple[dict[str, int], str | None]:
    pending: dict[str, list[Row]] = {t: [] for t in writers}
    staged: dict[str, int] = {}

    def flush(table: str) -> None:
        rows = pending[table]
        if not rows:
            return
        try:
            batch = rows_to_batch(rows, writers[table].schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
            raise ParseError(f"{doc.url_or_path}: rows do not fit the {table} schema: {exc}") from exc
        writers[table].add_batch(batch)
        staged[table] = staged.get(table, 0) + len(rows)
        pending[table] = []

    source_name, raw_sha256 = source.name, doc.sha256
    try:
        for table, row in source.parse(doc, ctx):
            rows = pending.get(table)
            if rows is None:
                raise ParseError(
                    f"{doc.url_or_path}: {source.name} produced a row for undeclared table {table!r}"
                )
            row["source"] = source_name
            row["raw_sha256"] = raw_sha256
            row["pipeline_version"] = version
            # setdefault, without computing the default for rows that have the value
            if "retrieved_at" not in row:
                row["retrieved_at"] = ctx.retrieved_at or doc.retrieved_at
            if "parser" not in row:
                row["parser"] = ctx.parser or source.parser_name
            if "parser_version" not in row:
                row["parser_version"] = ctx.parser_version or source.parser_version
            rows.append(row)
            if len(rows) >= FLUSH_ROWS:
                flush(table)
        for table in pending:
            flush(table)
    except ParseError as exc:
        # Rows parsed before the error are kept (complete records before a truncation, say).
        try:
            for table in pending:
                flush(table)
        except ParseError:
            pass
        return staged, str(exc)
    except Exception as exc:  # a parser bug on one document must not stop the batch
        log.exception("parser %s failed on %s", source.name, doc.url_or_path)
        return staged, f"{doc.url_or_path}: {source.name} parser failed: {type(exc).__name__}: {exc}"
    return staged, None


def _fetch_row(
    source: Source,
    url_or_path: str,
    kind: str,
    status: str,
    raw_sha256: str,
    n_bytes: int,
    version: str,
    *,
    http_status: int | None = None,
    error: str | None = None,
    content_type: str | None = None,
    retrieved_at: datetime | None = None,
    records: int = 0,
    parser: str | None = None,
    parser_version: str | None = None,
) -> dict[str, object]:
    return {
        "fetch_id": fetch_id(raw_sha256, url_or_path, retrieved_at),
        "source": source.name,
        "url_or_path": url_or_path,
        "kind": kind,
        "status": status,
        "http_status": http_status,
        "error": error,
        "raw_sha256": raw_sha256,
        "bytes": n_bytes,
        "content_type": content_type,
        "retrieved_at": retrieved_at,
        "records": records,
        "parser": parser,
        "parser_version": parser_version,
        "pipeline_version": version,
    }
