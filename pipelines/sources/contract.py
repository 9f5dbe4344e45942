"""The source contract: what every registered source must satisfy, as plain checks.

Each check returns a list of problems, each saying what to fix. ``tests/test_source_contract.py`` runs
them for every registered source, built-in or contributed, so a new source is tested with no wiring.
"""

from __future__ import annotations

import re
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import islice, pairwise
from pathlib import Path

import pyarrow as pa

from pipelines.curate.licenses import license_problem
from pipelines.fetch.http import FetchError, PoliteFetcher
from pipelines.fetch.raw_store import sha256_hex
from pipelines.local_input import input_files
from pipelines.settings import PROJECT_ROOT
from pipelines.snapshot.parquet import ParquetTableWriter
from pipelines.sources.base import BatchSpec, ParseContext, ParseError, RawDocument, Row, Source
from schemas import TABLES, table_spec
from schemas.columns import PROVENANCE_COLUMNS

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
# Filled by the harvester, not by parse().
_HARVESTER_FILLS = {"source", "raw_sha256", "pipeline_version", "retrieved_at", "parser", "parser_version"}
_PARSER_FILLS = [c for c in PROVENANCE_COLUMNS if c not in _HARVESTER_FILLS]


def check_declaration(source: Source) -> list[str]:
    problems = []
    name = getattr(source, "name", "")
    if not _NAME.match(name or ""):
        problems.append(f"name {name!r} must be lower_snake_case (it is the `source` column of every row)")
    for attr in ("description", "local_inputs", "parser_name", "parser_version"):
        if not str(getattr(source, attr, "") or "").strip():
            problems.append(f"declare `{attr}` (a non-empty string) on the class")
    tables = getattr(source, "tables", ())
    if not tables:
        problems.append("declare `tables`: the tables in schemas/ that parse() feeds")
    for table in tables:
        if table not in TABLES:
            problems.append(
                f"table {table!r} is not in schemas/ (known: {', '.join(TABLES)}); add its schema first"
            )
    lic = getattr(source, "license", None)
    if lic is None:
        problems.append(
            "declare `license = SourceLicense(...)` with the SPDX id of the metadata and the terms URL"
        )
    else:
        problem = license_problem(lic.metadata_spdx)
        if problem:
            problems.append(
                f"license.metadata_spdx {lic.metadata_spdx!r} is not an SPDX expression: {problem}"
            )
        if not lic.terms_url.startswith("https://"):
            problems.append("license.terms_url must be an https:// link to the source's terms of use")
        if not lic.text_redistribution.strip():
            problems.append("license.text_redistribution must say when full text may be redistributed")
    if source.live is not None:
        if source.live.min_interval_s <= 0:
            problems.append("live.min_interval_s must be positive: the spacing between requests to one host")
        if not source.live.hosts:
            problems.append("live.hosts must list the hosts the source calls (each becomes a Dagster pool)")
        if not source.live_fixture:
            problems.append(
                "a live source declares `live_fixture`: a recorded response the contract test serves"
            )
    if not source.fixtures:
        problems.append(
            f"declare `fixtures` (folders of real recorded input), e.g. tests/fixtures/{name}; "
            "see that folder's README for what to record"
        )
    return problems


def fixture_paths(source: Source, root: Path = PROJECT_ROOT) -> tuple[list[Path], list[str]]:
    """(files, folders that are absent) for the source's declared fixtures, relative to the project root.

    An entry is a folder, or a glob of files in one (``../shared/fixtures/eval_logs/inspect_*``) where
    several sources' recordings share a folder."""
    files: list[Path] = []
    absent: list[str] = []
    for rel in source.fixtures:
        if any(ch in rel for ch in "*?["):
            parent = (root / rel).parent.resolve()
            if not parent.is_dir():
                absent.append(rel)
                continue
            files.extend(sorted(p for p in parent.glob(Path(rel).name) if p.is_file()))
            continue
        folder = (root / rel).resolve()
        if not folder.exists():
            absent.append(rel)
            continue
        files.extend(p for p in input_files(folder) if p.name.lower() != "readme.md")
    return files, absent


def _document(path: Path, data: bytes | None = None) -> RawDocument:
    body = path.read_bytes() if data is None else data
    return RawDocument(data=body, sha256=sha256_hex(body), url_or_path=path.name, kind="file")


def _parse_all(
    source: Source, doc: RawDocument
) -> tuple[list[tuple[str, Row]], ParseContext, ParseError | None]:
    ctx = ParseContext()
    rows: list[tuple[str, Row]] = []
    try:
        for item in source.parse(doc, ctx):
            rows.append(item)
    except ParseError as exc:
        return rows, ctx, exc
    return rows, ctx, None


def _fill_provenance(source: Source, doc: RawDocument, ctx: ParseContext, row: Row) -> Row:
    filled = dict(row)
    filled.update(source=source.name, raw_sha256=doc.sha256, pipeline_version="contract-test")
    filled.setdefault("retrieved_at", ctx.retrieved_at)
    filled.setdefault("parser", ctx.parser or source.parser_name)
    filled.setdefault("parser_version", ctx.parser_version or source.parser_version)
    return filled


def check_fixture(source: Source, path: Path) -> list[str]:
    """One recorded file: recognised, parsed without network, rows valid, provenance filled, deterministic."""
    problems = []
    head = path.read_bytes()[:4096]
    if not source.recognizes(path.name, head):
        problems.append(
            f"{path.name}: recognizes() returns False for this fixture, so `--from` cannot detect it"
        )
    doc = _document(path)
    try:
        rows, ctx, error = _parse_all(source, doc)
    except Exception as exc:
        return [
            *problems,
            f"{path.name}: parse() crashed with {type(exc).__name__}: {exc}; raise ParseError instead",
        ]
    if error is not None and path.name not in str(error):
        problems.append(f"{path.name}: ParseError must name the document (doc.url_or_path): got {error}")
    by_table: dict[str, list[Row]] = {}
    for table, row in rows:
        if table not in source.tables:
            problems.append(
                f"{path.name}: a row for {table!r}, which the source does not declare in `tables`"
            )
            continue
        by_table.setdefault(table, []).append(_fill_provenance(source, doc, ctx, row))
    for table, table_rows in by_table.items():
        spec = table_spec(table)
        try:
            pa.RecordBatch.from_pylist(table_rows, schema=spec.schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
            problems.append(f"{path.name}: rows do not fit the {table} schema in schemas/: {exc}")
        for column in spec.primary_key:
            if any(r.get(column) in (None, "") for r in table_rows):
                problems.append(f"{path.name}: {table}.{column} (primary key) is empty in some rows")
        if set(PROVENANCE_COLUMNS) <= set(spec.columns):
            for column in _PARSER_FILLS:
                if column == "source_url":
                    continue
                if any(r.get(column) in (None, "") for r in table_rows):
                    problems.append(f"{path.name}: provenance column {column} is empty in some {table} rows")
            for r in table_rows:
                lic_problem = license_problem(str(r.get("license")), allow_unknown=True)
                if lic_problem:
                    problems.append(f"{path.name}: row license {r.get('license')!r}: {lic_problem}")
                    break
    again, _, error_again = _parse_all(source, doc)
    if again != rows or str(error_again) != str(error):
        problems.append(
            f"{path.name}: parsing the same bytes twice gave different rows: parse() must be pure"
        )
    elif not problems:
        for table, table_rows in by_table.items():
            if _parquet_bytes(table, table_rows) != _parquet_bytes(table, [dict(r) for r in table_rows]):
                problems.append(f"{path.name}: the same {table} rows gave different Parquet bytes")
    return problems


def _parquet_bytes(table: str, rows: list[Row]) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{table}.parquet"
        with ParquetTableWriter(path, table_spec(table)) as writer:
            writer.add_batch(pa.RecordBatch.from_pylist(rows, schema=writer.schema))
        return path.read_bytes()


def check_bad_input(source: Source, sample: Path) -> list[str]:
    """Empty, truncated and wrong-format input give a ParseError naming the document, never a crash."""
    problems = []
    data = sample.read_bytes()
    cases = {
        "empty.bin": b"",
        "truncated-half.bin": data[: len(data) // 2],
        "truncated-tail.bin": data[: max(1, len(data) - 7)],
        "wrong-format.bin": b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4,
    }
    for name, body in cases.items():
        doc = RawDocument(data=body, sha256=sha256_hex(body), url_or_path=name, kind="file")
        try:
            rows, _, error = _parse_all(source, doc)
        except Exception as exc:
            problems.append(
                f"{name}: parse() crashed with {type(exc).__name__}: {exc}; raise ParseError instead"
            )
            continue
        if error is not None and name not in str(error):
            problems.append(f"{name}: the ParseError must name the document: got {error!r}")
        if name in ("empty.bin", "wrong-format.bin") and error is None:
            problems.append(f"{name}: parse() accepted it silently ({len(rows)} rows); raise ParseError")
    return problems


@contextmanager
def _serve(body: bytes) -> Iterator[tuple[str, list[float]]]:
    """A local server on 127.0.0.1 answering every request with one recorded response; logs arrival times."""
    arrivals: list[float] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            arrivals.append(time.monotonic())
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = _answer
        do_POST = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", arrivals
    finally:
        server.shutdown()
        server.server_close()


def check_live_rate_limit(source: Source, requests: int = 2) -> list[str]:
    """Live fetching, against a local server, never sends two requests to a host closer than declared."""
    import os

    live = source.live
    if live is None or not source.live_fixture:
        return []
    if not live.base_url_env:
        return ["live.base_url_env must name an environment variable that overrides the endpoint, for tests"]
    fixture = (PROJECT_ROOT / source.live_fixture).resolve()
    if not fixture.exists():
        return []
    batches = source.live_batches(source.example_live_options)
    if not batches:
        return ["live_batches(example_live_options) returned no batch"]
    previous = os.environ.get(live.base_url_env)
    with _serve(fixture.read_bytes()) as (url, arrivals):
        os.environ[live.base_url_env] = url
        try:
            fetcher = PoliteFetcher(
                user_agent="contract-test", min_interval_s={"127.0.0.1": live.min_interval_s}
            )
            documents = list(islice(_safe_fetch(source, batches[0], fetcher), requests))
        finally:
            if previous is None:
                os.environ.pop(live.base_url_env, None)
            else:
                os.environ[live.base_url_env] = previous
    problems = []
    if not documents:
        problems.append("fetch() yielded no document from the local server")
    gaps = [b - a for a, b in pairwise(arrivals)]
    too_close = [g for g in gaps if g < live.min_interval_s * 0.95]
    if too_close:
        problems.append(
            f"requests {min(too_close):.2f}s apart, closer than the declared {live.min_interval_s}s"
        )
    return problems


def _safe_fetch(source: Source, batch: BatchSpec, fetcher: PoliteFetcher) -> Iterator[RawDocument]:
    try:
        yield from source.fetch(batch, fetcher, None)
    except (ParseError, FetchError):
        return  # the recorded page repeats itself; the paging loop stopping is fine here
