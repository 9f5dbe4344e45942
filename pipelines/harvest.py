"""Run one harvest partition: read or fetch its documents, store the bytes, parse, stage rows and the fetch log."""

from __future__ import annotations

import gc
import hashlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pyarrow as pa

from pipelines.fetch.http import FetchError, PoliteFetcher
from pipelines.fetch.raw_store import RawStore, sha256_hex
from pipelines.local_input import batch_files, read_local_documents
from pipelines.settings import DataRoot, pipeline_version
from pipelines.snapshot.parquet import ParquetTableWriter
from pipelines.sources.base import BatchSpec, ParseContext, ParseError, RawDocument, Row, Source
from schemas import table_spec

log = logging.getLogger("commons.harvest")

FLUSH_ROWS = 4096


@dataclass
class HarvestSummary:
    batch: str
    documents: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    complete: bool = True  # False when a live harvest stopped early (watermark must not advance)
    outputs: dict[str, Path] = field(default_factory=dict)


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
) -> HarvestSummary:
    """Harvest one partition into ``staging/<source>/<table>/<batch>.parquet`` plus its fetch log.

    Bad documents are recorded in the fetch log and never stop the batch. Outputs replace the
    partition's previous outputs atomically, only when the whole batch has been processed.
    """
    store = RawStore(root.raw)
    version = pipeline_version()
    summary = HarvestSummary(batch=batch.key)
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
    return summary


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
