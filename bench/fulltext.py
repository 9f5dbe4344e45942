"""fulltext: GROBID TEI to rows, the PDF text fallback, and the pipeline's own cost per PDF beside GROBID's.

``python -m bench.fulltext [--quick] [--runs N] [--dir DIR]`` (the inputs are the fixtures, repeated: ``--quick``
parses 500 TEI documents, else 2,000; results go to ``results-fulltext-<documents>.json``; under
``python -m bench`` the corpus size is ignored and ``--quick`` chooses)

Inputs are the recorded fixtures (``$COMMONS_FIXTURES`` or ``../shared/fixtures``): the 12 TEI files of
``grobid_tei`` (GROBID 0.5.5 to 0.8.0; 5 are header-only or hand-edited, one is a citation list that names no
work and is a per-document error) and the readable PDFs of ``pdfs`` (the zero-byte, not-a-PDF and encrypted
ones are left out). Every measurement runs in a fresh process, rounds interleaved, median of the runs.

- **TEI to rows**: ``pipelines.parse.grobid_tei.parse_tei`` over the 12 files repeated in order to 2,000
  documents (500 with ``--quick``) (and over the 8 full-text ones alone), every row consumed, beside two floors over the same
  bytes: ``lxml.etree.fromstring`` with the reader's parser settings (the tree ``parse_tei`` walks), and
  ``lxml.etree.iterparse`` doing no work. Goal (issue 3): ≥ 1,000 documents/s per core. One process, one
  thread: documents/s is per core.
  Documents/s is CPU time of that one thread (the machine is shared; wall time is in the JSON).
- **PDF fallback**: ``pipelines.parse.pdf_text.page_rows`` over the readable PDFs (3 passes; 1 with
  ``--quick``), pages/s and ms per PDF, beside PDFium's own text extraction of the same pages through
  pypdfium2 with no clean-up and no rows.
- **the pipeline per PDF, outside GROBID**: ``harvest_batch`` of the ``pdf`` source over the 5 PDFs whose
  GROBID TEI was recorded, copied to 100 distinct files (20 each; 4 with ``--quick``; a comment after
  ``%%EOF`` makes each copy's bytes, and so its hash, its own), (a) with their TEI already in the pipeline's
  TEI cache (raw store write, cache look-up, ``parse_tei``, staged Parquet, fetch log), and (b) through the
  real GROBID client against a local fake GROBID that answers at once with the recorded TEI (adds the
  upload, the client and the cache writes). GROBID's own time is about 1 s per PDF on 2 cores (issue 3);
  goal: everything else ≤ a tenth of it, 100 ms per PDF. Also (c) the harvest with no GROBID at all (page
  text for the 11 readable PDFs, 3 copies each; 1 with ``--quick``).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import statistics
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench.corpus import DEFAULT_FIXTURES
from bench.fresh import run_fresh, standalone_main, timed
from bench.harness import BenchConfig, ResultRow, StageReport, ratio

NAME = "fulltext"
TEI_DOCUMENTS = 2000
QUICK_TEI_DOCUMENTS = 500
GOAL_TEI_DOCS_PER_S = 1000
GROBID_SECONDS_PER_PDF = 1.0  # issue 3: about 1 PDF/s on 2 cores
GOAL_SHARE_OF_GROBID = 0.10
FULLTEXT_MIN_ROWS = 20  # a TEI with at least this many paper_texts rows counts as full text
GROBID_VERSION = "0.8.0"


def _say(message: str) -> None:
    print(f"bench[{NAME}]: {message}", file=sys.stderr, flush=True)


def fixtures() -> Path:
    return Path(os.environ.get("COMMONS_FIXTURES") or DEFAULT_FIXTURES)


def _stem(name: str) -> str:
    for suffix in (".grobid.tei.xml", ".tei.xml", ".pdf"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


@dataclass(frozen=True)
class Inputs:
    tei_all: list[str]  # paths, in order
    tei_fulltext: list[str]
    pdfs_readable: list[str]
    pairs: list[tuple[str, str]]  # (PDF, its recorded TEI)


def find_inputs() -> Inputs:
    from pipelines.parse import pdf_text
    from pipelines.parse.grobid_tei import parse_tei
    from pipelines.sources.base import ParseContext, ParseError

    tei_dir, pdf_dir = fixtures() / "grobid_tei", fixtures() / "pdfs"
    if not tei_dir.is_dir() or not pdf_dir.is_dir():
        raise SystemExit(f"bench: fixtures missing: {tei_dir} and {pdf_dir} (set COMMONS_FIXTURES)")
    teis = sorted(tei_dir.glob("*.xml"))
    fulltext = []
    for path in teis:
        try:
            rows = [t for t, _ in parse_tei(path.read_bytes(), ParseContext(), path.name)]
        except ParseError:
            continue
        if rows.count("paper_texts") >= FULLTEXT_MIN_ROWS:
            fulltext.append(str(path))
    readable = []
    for path in sorted(pdf_dir.glob("*.pdf")):
        try:
            if any(True for _ in pdf_text.page_texts(path.read_bytes(), path.name)):
                readable.append(str(path))
        except ParseError:
            continue
    by_stem = {_stem(p.name): p for p in teis}
    pairs = [
        (str(p), str(by_stem[_stem(p.name)]))
        for p in sorted(pdf_dir.glob("*.pdf"))
        if _stem(p.name) in by_stem
    ]
    return Inputs([str(p) for p in teis], fulltext, readable, pairs)


# -- tasks run in fresh processes ---------------------------------------------------------------------


def _documents(paths: Sequence[str], count: int) -> list[tuple[str, bytes, str]]:
    loaded = [(Path(p).name, Path(p).read_bytes()) for p in paths]
    docs = [(name, data, hashlib.sha256(data).hexdigest()) for name, data in loaded]
    return [docs[i % len(docs)] for i in range(count)]


def tei_rows(args: dict[str, Any]) -> dict[str, Any]:
    """(fresh process) ``parse_tei`` over the documents, every row consumed."""
    from pipelines.parse.grobid_tei import parse_tei
    from pipelines.sources.base import ParseContext, ParseError

    docs = _documents(args["paths"], args["count"])

    def work() -> dict[str, Any]:
        rows = errors = 0
        for name, data, sha in docs:
            try:
                for _ in parse_tei(data, ParseContext(), name, raw_sha256=sha):
                    rows += 1
            except ParseError:
                errors += 1
        return {
            "documents": len(docs),
            "rows": rows,
            "errors": errors,
            "bytes": sum(len(d) for _, d, _ in docs),
        }

    return timed(work)


def tei_floor(args: dict[str, Any]) -> dict[str, Any]:
    """(fresh process) The same bytes through lxml alone: ``fromstring`` (a tree) or ``iterparse`` (no work)."""
    import io

    from lxml import etree

    from pipelines.parse.grobid_tei import _parser

    docs = _documents(args["paths"], args["count"])
    mode = args["mode"]

    def work() -> dict[str, Any]:
        events = 0
        for _, data, _ in docs:
            if mode == "fromstring":
                etree.fromstring(data, _parser())
            else:
                for _ in etree.iterparse(io.BytesIO(data), events=("end",)):
                    events += 1
        return {"documents": len(docs), "events": events}

    return timed(work)


def pdf_pages(args: dict[str, Any]) -> dict[str, Any]:
    """(fresh process) ``page_rows`` over the PDFs (``mode=rows``), or PDFium's raw page text (``mode=pdfium``)."""
    import pypdfium2 as pdfium

    from pipelines.parse import pdf_text

    pdfs = [(Path(p).name, Path(p).read_bytes()) for p in args["paths"]] * args["passes"]
    mode = args["mode"]

    def work() -> dict[str, Any]:
        pages = chars = 0
        for name, data in pdfs:
            if mode == "rows":
                for row in pdf_text.page_rows(data, name, "pdf:bench", "0" * 64):
                    pages += 1
                    chars += len(row["text"])
            else:
                document = pdfium.PdfDocument(data)
                try:
                    for index in range(len(document)):
                        page = document[index]
                        textpage = page.get_textpage()
                        text = textpage.get_text_range()
                        textpage.close()
                        page.close()
                        if text.strip():
                            pages += 1
                            chars += len(text)
                finally:
                    document.close()
        return {"pdfs": len(pdfs), "pages": pages, "chars": chars}

    return timed(work)


class _FakeGrobid:
    """GROBID's three endpoints on 127.0.0.1, answering at once with the recorded TEI for an uploaded file name."""

    def __init__(self, tei_by_name: dict[str, bytes]) -> None:
        self.tei_by_name = tei_by_name
        self.requests = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _send(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path == "/api/isalive":
                    self._send(200, b"true")
                elif self.path == "/api/version":
                    self._send(200, b'{"version":"%s","revision":"bench"}' % GROBID_VERSION.encode())
                else:
                    self._send(404, b"not found")

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                fake.requests += 1
                match = re.search(rb'filename="([^"]+)"', body)
                tei = fake.tei_by_name.get(match.group(1).decode()) if match else None
                if tei is None:
                    self._send(500, b"[GENERAL] no recording")
                else:
                    self._send(200, tei, "application/xml")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def pdf_pipeline(args: dict[str, Any]) -> dict[str, Any]:
    """(fresh process) ``harvest_batch`` of the ``pdf`` source over a folder of PDFs.

    ``mode``: ``cached`` (TEI in the cache beforehand), ``grobid`` (a fake GROBID answering at once) or
    ``pagetext`` (no GROBID: the PDF text fallback).
    """
    folder, root_path, mode = Path(args["folder"]), Path(args["data_root"]), args["mode"]
    shutil.rmtree(root_path, ignore_errors=True)
    os.environ["COMMONS_HOME"] = str(root_path)
    os.environ.pop("COMMONS_GROBID_URL", None)
    from pipelines.harvest import harvest_batch
    from pipelines.parse.grobid_client import GrobidConfig, GrobidResult
    from pipelines.settings import DataRoot, pipeline_version
    from pipelines.sources.base import BatchSpec
    from pipelines.sources.pdf import TeiCache
    from pipelines.sources.registry import get_source

    pipeline_version()
    root = DataRoot(root_path).ensure()
    tei_by_name = {name: Path(tei).read_bytes() for name, tei in args.get("tei_by_name", {}).items()}
    fake = None
    if mode == "cached":
        cache = TeiCache(root)
        params = GrobidConfig(url="http://127.0.0.1:1").form_fields()
        for name, tei in tei_by_name.items():
            sha = hashlib.sha256((folder / name).read_bytes()).hexdigest()
            cache.put(GrobidResult(name, sha, tei, GROBID_VERSION, params))
    elif mode == "grobid":
        fake = _FakeGrobid(tei_by_name)
        os.environ["COMMONS_GROBID_URL"] = fake.url
    source = get_source("pdf")
    batch = BatchSpec(source="pdf", kind="local", key="bench", paths=(str(folder),), options={"claim": "all"})

    def work() -> dict[str, Any]:
        summary = harvest_batch(source, batch, root)
        return {
            "documents": summary.documents,
            "rows": dict(summary.rows),
            "errors": len(summary.errors),
            "first_errors": summary.errors[:3],
            "grobid_requests": fake.requests if fake is not None else 0,
        }

    try:
        return timed(work)
    finally:
        if fake is not None:
            fake.close()
        shutil.rmtree(root_path, ignore_errors=True)


# -- the benchmark ------------------------------------------------------------------------------------


def copy_pdfs(pairs: Sequence[tuple[str, str]], copies: int, folder: Path) -> dict[str, str]:
    """``copies`` distinct copies of each PDF in ``folder``; returns copy name -> its recorded TEI path."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    out = {}
    for pdf, tei in pairs:
        data = Path(pdf).read_bytes()
        for k in range(copies):
            name = f"{_stem(Path(pdf).name)}--{k:03d}.pdf"
            # Bytes after %%EOF are ignored by PDF readers; they make each copy's hash its own.
            (folder / name).write_bytes(data + b"\n%bench copy " + str(k).encode() + b"\n")
            out[name] = tei
    return out


def run(config: BenchConfig) -> StageReport:
    inputs = find_inputs()
    _say(
        f"{len(inputs.tei_all)} TEI files ({len(inputs.tei_fulltext)} full text), "
        f"{len(inputs.pdfs_readable)} readable PDFs, {len(inputs.pairs)} PDFs with recorded TEI"
    )
    work = config.work_dir / "fulltext"
    shutil.rmtree(work, ignore_errors=True)
    copies, passes = (4, 1) if config.quick else (20, 3)
    count = QUICK_TEI_DOCUMENTS if config.quick else TEI_DOCUMENTS
    paired = work / "paired"
    tei_by_name = copy_pdfs(inputs.pairs, copies, paired)
    readable = work / "readable"
    copy_pdfs([(p, "") for p in inputs.pdfs_readable], passes, readable)
    plan: dict[str, tuple[str, dict[str, Any]]] = {
        "tei_all": ("tei_rows", {"paths": inputs.tei_all, "count": count}),
        "tei_all_fromstring": (
            "tei_floor",
            {"paths": inputs.tei_all, "count": count, "mode": "fromstring"},
        ),
        "tei_all_iterparse": (
            "tei_floor",
            {"paths": inputs.tei_all, "count": count, "mode": "iterparse"},
        ),
        "tei_fulltext": ("tei_rows", {"paths": inputs.tei_fulltext, "count": count}),
        "tei_fulltext_fromstring": (
            "tei_floor",
            {"paths": inputs.tei_fulltext, "count": count, "mode": "fromstring"},
        ),
        "tei_fulltext_iterparse": (
            "tei_floor",
            {"paths": inputs.tei_fulltext, "count": count, "mode": "iterparse"},
        ),
        "pdf_rows": ("pdf_pages", {"paths": inputs.pdfs_readable, "passes": passes, "mode": "rows"}),
        "pdf_pdfium": ("pdf_pages", {"paths": inputs.pdfs_readable, "passes": passes, "mode": "pdfium"}),
        "pipeline_cached": (
            "pdf_pipeline",
            {"folder": str(paired), "mode": "cached", "tei_by_name": tei_by_name},
        ),
        "pipeline_grobid": (
            "pdf_pipeline",
            {"folder": str(paired), "mode": "grobid", "tei_by_name": tei_by_name},
        ),
        "pipeline_pagetext": ("pdf_pipeline", {"folder": str(readable), "mode": "pagetext"}),
    }
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in plan}
    try:
        for round_no in range(1, config.runs + 1):
            _say(f"round {round_no}/{config.runs}")
            for name, (task, args) in plan.items():
                if task == "pdf_pipeline":
                    args = {**args, "data_root": str(work / f"data-root-{name}")}
                result = run_fresh(f"bench.fulltext:{task}", args)
                if result.get("errors") and task == "pdf_pipeline":
                    raise RuntimeError(f"{name}: the PDF harvest reported errors: {result['first_errors']}")
                results[name].append(result)
                _say(f"  {name:<26} {result['seconds']:8.3f} s  peak {result['peak_rss_mb']:,.0f} MB")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    details = {
        "inputs": {
            "tei_all": [Path(p).name for p in inputs.tei_all],
            "tei_fulltext": [Path(p).name for p in inputs.tei_fulltext],
            "pdfs_readable": [Path(p).name for p in inputs.pdfs_readable],
            "pairs": [Path(p).name for p, _ in inputs.pairs],
            "pdf_copies_each": copies,
            "pdf_passes": passes,
        },
        "runs": results,
    }
    return StageReport(NAME, rows(results, inputs), details)


def _med(runs: list[dict[str, Any]], key: str = "seconds") -> float:
    return statistics.median(float(r[key]) for r in runs)


def rows(results: dict[str, list[dict[str, Any]]], inputs: Inputs) -> list[ResultRow]:
    out = []
    # Parsing figures are CPU time: one thread, CPU-bound, and the shared machine's other load would
    # otherwise count against them (wall time is in the JSON). The pipeline per PDF is wall time.
    for subset, label in (
        ("all", f"the {len(inputs.tei_all)} fixtures"),
        ("fulltext", f"the {len(inputs.tei_fulltext)} full-text fixtures"),
    ):
        runs = results[f"tei_{subset}"]
        seconds = _med(runs, "cpu_seconds")
        docs = runs[0]["documents"]
        rate = docs / seconds
        rows_per_doc = runs[0]["rows"] / docs
        for floor_name, floor_label in (
            ("fromstring", "lxml fromstring"),
            ("iterparse", "lxml iterparse, no work"),
        ):
            floor_s = _med(results[f"tei_{subset}_{floor_name}"], "cpu_seconds")
            out.append(
                ResultRow(
                    f"TEI to rows (parse_tei, {label} to {docs:,} docs, {rows_per_doc:.0f} rows/doc; per core, CPU time) vs {floor_label}",
                    f"{rate:,.0f} docs/s",
                    f"{docs / floor_s:,.0f} docs/s",
                    f"{ratio(seconds, floor_s):.1f}x",
                    f"≥ {GOAL_TEI_DOCS_PER_S:,} docs/s",
                    rate >= GOAL_TEI_DOCS_PER_S,
                )
            )
    pdf, raw = results["pdf_rows"], results["pdf_pdfium"]
    pdf_s, raw_s = _med(pdf, "cpu_seconds"), _med(raw, "cpu_seconds")
    pages, pdfs = pdf[0]["pages"], pdf[0]["pdfs"]
    out.append(
        ResultRow(
            f"PDF fallback (page_rows, {pdfs} PDFs: the readable fixtures repeated, {pages} pages; per core, CPU time)",
            f"{pages / pdf_s:,.0f} pages/s ({pdf_s / pdfs * 1000:,.0f} ms/PDF)",
            f"{pages / raw_s:,.0f} pages/s (PDFium text, no clean-up)",
            f"{ratio(pdf_s, raw_s):.2f}x",
        )
    )
    goal_ms = GROBID_SECONDS_PER_PDF * GOAL_SHARE_OF_GROBID * 1000
    for name, label in (
        ("pipeline_cached", "pdf source, TEI cached (raw store, parse_tei, staged Parquet)"),
        ("pipeline_grobid", "pdf source through the GROBID client (instant local fake GROBID)"),
        ("pipeline_pagetext", "pdf source, no GROBID (page text fallback)"),
    ):
        runs = results[name]
        seconds, docs = _med(runs), runs[0]["documents"]
        per_pdf_ms = seconds / docs * 1000
        out.append(
            ResultRow(
                f"{label}, per PDF ({docs} PDFs, 1 process, wall time)",
                f"{per_pdf_ms:,.0f} ms/PDF",
                f"{GROBID_SECONDS_PER_PDF * 1000:,.0f} ms/PDF (GROBID, 2 cores)",
                f"{per_pdf_ms / (GROBID_SECONDS_PER_PDF * 1000):.2f}x",
                f"≤ {goal_ms:,.0f} ms/PDF" if name != "pipeline_pagetext" else "—",
                per_pdf_ms <= goal_ms if name != "pipeline_pagetext" else None,
            )
        )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    return standalone_main(
        "bench.fulltext", __doc__.split("\n")[0], run, argv, (QUICK_TEI_DOCUMENTS, TEI_DOCUMENTS)
    )


if __name__ == "__main__":
    raise SystemExit(main())
