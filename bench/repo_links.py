"""repo_links: repository links found in abstracts and full texts, and what a re-crawl of unchanged
repositories costs.

``python -m bench.repo_links [--quick] [--runs N] [--dir DIR]``

- **Abstracts**: the abstracts and comments of the arXiv fixtures (``arxiv_oai``), repeated to 100,000
  (20,000 with ``--quick``), one in ten given a GitHub or Hugging Face URL at a varied place, scanned by
  ``find_repository_links``; beside it the floor, a case-insensitive search for the hosts' names alone
  (``re.search`` of `github|gitlab|huggingface`, no URL parsing), over the same texts. Documents/s on one
  core (CPU time).
- **Full texts**: every paragraph of the GROBID TEI fixtures (the full-text ones), repeated to 2,000
  documents (500 with ``--quick``), through the same scan: documents/s.
- **Re-crawl**: 50 repositories (10 with ``--quick``) crawled by the GitHub source from a local server that
  speaks GitHub's protocol with ETags, then crawled again unchanged: requests sent, 304s received, and
  requests that would count against GitHub's quota (200s). Goal (issue 4): none beyond the conditional
  requests.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import statistics
import sys
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench.corpus import DEFAULT_FIXTURES
from bench.fresh import run_rounds, standalone_main, timed
from bench.harness import BenchConfig, ResultRow, StageReport, ratio

NAME = "repo_links"
ABSTRACTS = 100_000
QUICK_ABSTRACTS = 20_000
FULLTEXT_DOCS = 2_000
QUICK_FULLTEXT_DOCS = 500
REPOS = 50
QUICK_REPOS = 10
GOAL_ABSTRACTS_PER_S = 1_000  # an abstract's scan must not be a stage's bottleneck: well above harvest rates


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def fixtures() -> Path:
    return Path(os.environ.get("COMMONS_FIXTURES", DEFAULT_FIXTURES))


def abstracts(count: int) -> list[str]:
    from pipelines.sources.base import ParseContext, RawDocument
    from pipelines.sources.registry import get_source

    arxiv = get_source("arxiv")
    texts: list[str] = []
    for page in sorted((fixtures() / "arxiv_oai").iterdir()):
        data = page.read_bytes()
        try:
            for table, row in arxiv.parse(RawDocument(data, "", page.name, "file"), ParseContext()):
                if table == "papers":
                    texts.extend(t for t in (row.get("abstract"), row.get("comments")) if t)
        except Exception:
            continue  # the recordings include deliberately broken pages
    urls = [
        "https://github.com/org{0}/repo{0}",
        "huggingface.co/user{0}/model-{0}",
        "github.com/a{0}/b{0}.git",
    ]
    out = []
    for i in range(count):
        text = texts[i % len(texts)]
        if i % 10 == 0:
            cut = (i * 7919) % max(len(text), 1)
            text = f"{text[:cut]} Code: {urls[i % 3].format(i)}. {text[cut:]}"
        out.append(text)
    return out


def fulltexts(count: int) -> list[list[str]]:
    from pipelines.parse.grobid_tei import parse_tei
    from pipelines.sources.base import ParseContext, ParseError

    docs = []
    for path in sorted((fixtures() / "grobid_tei").iterdir()):
        try:
            rows = list(parse_tei(path.read_bytes(), ParseContext(), path.name, raw_sha256="0" * 64))
        except ParseError:
            continue
        paragraphs = [r["text"] for t, r in rows if t == "paper_texts" and r.get("text")]
        if len(paragraphs) >= 20:
            docs.append(paragraphs)
    return [docs[i % len(docs)] for i in range(count)]


def scan_abstracts(args: dict[str, Any]) -> dict[str, Any]:
    """(fresh process) ``find_repository_links`` (``mode=links``) or the host-name search (``floor``)."""
    from pipelines.parse.repo_links import find_repository_links

    texts = abstracts(args["count"])
    hosts = re.compile("github|gitlab|huggingface", re.IGNORECASE)

    def work() -> dict[str, Any]:
        found = 0
        if args["mode"] == "links":
            for text in texts:
                found += len(find_repository_links(text))
        else:
            for text in texts:
                found += hosts.search(text) is not None
        return {"documents": len(texts), "found": found, "bytes": sum(len(t) for t in texts)}

    return timed(work)


def scan_fulltexts(args: dict[str, Any]) -> dict[str, Any]:
    """(fresh process) ``find_repository_links`` over every paragraph of each full text."""
    from pipelines.parse.repo_links import find_repository_links

    docs = fulltexts(args["count"])

    def work() -> dict[str, Any]:
        found = 0
        for paragraphs in docs:
            for text in paragraphs:
                found += len(find_repository_links(text))
        return {"documents": len(docs), "found": found}

    return timed(work)


class _Server:
    """GitHub's protocol for ``n`` repositories with ETags; counts requests by status."""

    def __init__(self, n: int) -> None:
        self.statuses: list[int] = []
        bodies: dict[str, Any] = {}
        for i in range(n):
            base = f"/repos/org{i}/repo{i}"
            bodies[base] = {"id": i + 1, "full_name": f"org{i}/repo{i}", "default_branch": "main",
                            "license": {"spdx_id": "MIT"}, "stargazers_count": i}  # fmt: skip
            bodies[base + "/languages"] = {"Python": 1000 + i}
            bodies[base + "/readme"] = {"path": "README.md", "encoding": "base64", "content": "IyBSZXBv"}
            bodies[base + "/releases/latest"] = {"tag_name": f"v{i}"}
            bodies[base + "/commits/main"] = {
                "sha": f"{i:040d}",
                "commit": {"committer": {"date": "2026-01-01T00:00:00Z"}},
            }
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = bodies.get(self.path.split("?", 1)[0])
                data = json.dumps(body).encode()
                etag = '"' + hashlib.sha256(data).hexdigest()[:16] + '"'
                status = 404 if body is None else (304 if self.headers.get("If-None-Match") == etag else 200)
                server.statuses.append(status)
                self.send_response(status)
                self.send_header("ETag", etag)
                self.send_header("Date", "Tue, 24 Nov 2026 12:00:00 GMT")
                self.send_header("Content-Length", "0" if status == 304 else str(len(data)))
                self.end_headers()
                if status != 304:
                    self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


def recrawl(args: dict[str, Any]) -> dict[str, Any]:
    """(fresh process) Crawl ``n`` repositories twice through the GitHub source; count requests by status."""
    root_path = Path(args["data_root"])
    shutil.rmtree(root_path, ignore_errors=True)
    os.environ["COMMONS_HOME"] = str(root_path)
    n = args["count"]
    server = _Server(n)
    os.environ["COMMONS_GITHUB_URL"] = server.url
    from pipelines.fetch.http import PoliteFetcher
    from pipelines.harvest import harvest_batch
    from pipelines.settings import DataRoot
    from pipelines.sources.registry import get_source

    root = DataRoot(root_path).ensure()
    source = get_source("github")
    [batch] = source.live_batches({"ids": " ".join(f"github:org{i}/repo{i}" for i in range(n))})
    fetcher = PoliteFetcher("bench", default_min_interval_s=0.0)
    first = harvest_batch(source, batch, root, fetcher=fetcher)
    first_statuses = list(server.statuses)
    server.statuses.clear()

    def work() -> dict[str, Any]:
        again = harvest_batch(source, batch, root, fetcher=fetcher)
        return {"repositories": n, "rows": again.rows.get("repositories", 0), "errors": len(again.errors)}

    try:
        result = timed(work)
    finally:
        server.httpd.shutdown()
        shutil.rmtree(root_path, ignore_errors=True)
    result.update(
        first_requests=len(first_statuses),
        first_200=first_statuses.count(200),
        first_rows=first.rows.get("repositories", 0),
        recrawl_requests=len(server.statuses),
        recrawl_304=server.statuses.count(304),
        recrawl_200=server.statuses.count(200),
    )
    return result


def run(config: BenchConfig) -> StageReport:
    n_abs = QUICK_ABSTRACTS if config.quick else ABSTRACTS
    n_full = QUICK_FULLTEXT_DOCS if config.quick else FULLTEXT_DOCS
    n_repos = QUICK_REPOS if config.quick else REPOS
    work = config.work_dir / "repo_links"
    plan: dict[str, tuple[str, dict[str, Any]]] = {
        "abstracts": ("scan_abstracts", {"count": n_abs, "mode": "links"}),
        "abstracts_floor": ("scan_abstracts", {"count": n_abs, "mode": "floor"}),
        "fulltexts": ("scan_fulltexts", {"count": n_full}),
        "recrawl": ("recrawl", {"count": n_repos, "data_root": str(work / "data-root")}),
    }
    results = run_rounds("bench.repo_links", plan, config.runs)
    shutil.rmtree(work, ignore_errors=True)
    return StageReport(NAME, rows(results), {"runs": results})


def _med(runs: list[dict[str, Any]], key: str = "cpu_seconds") -> float:
    return statistics.median(float(r[key]) for r in runs)


def rows(results: dict[str, list[dict[str, Any]]]) -> list[ResultRow]:
    a, f = results["abstracts"], results["abstracts_floor"]
    docs = a[0]["documents"]
    rate = docs / _med(a)
    full = results["fulltexts"]
    crawl = results["recrawl"][0]
    return [
        ResultRow(
            f"repo_links: abstracts and comments scanned ({docs:,}, 1 core, CPU time; {a[0]['found']:,} links)",
            f"{rate:,.0f} docs/s",
            f"{docs / _med(f):,.0f} docs/s (host-name search only)",
            f"{ratio(_med(a), _med(f)):.1f}x floor",
            f"≥ {GOAL_ABSTRACTS_PER_S:,} docs/s",
            rate >= GOAL_ABSTRACTS_PER_S,
        ),
        ResultRow(
            f"repo_links: GROBID full texts scanned ({full[0]['documents']:,} documents, every paragraph)",
            f"{full[0]['documents'] / _med(full):,.0f} docs/s",
        ),
        ResultRow(
            f"github: re-crawl of {crawl['repositories']} unchanged repositories",
            f"{crawl['recrawl_200']} quota requests ({crawl['recrawl_304']} × 304 of {crawl['recrawl_requests']})",
            f"{crawl['first_200']} × 200 on the first crawl",
            "—",
            "0 beyond the conditional requests",
            crawl["recrawl_200"] == 0 and crawl["recrawl_304"] == crawl["first_requests"],
        ),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    return standalone_main(
        "bench.repo_links", __doc__.split("\n")[0], run, argv, (QUICK_ABSTRACTS, ABSTRACTS)
    )


if __name__ == "__main__":
    raise SystemExit(main())
