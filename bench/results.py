"""results: evaluation logs to ``results`` and ``result_samples`` rows, beside Inspect's own reader.

``python -m bench.results [--quick] [--runs N] [--dir DIR]`` (under ``python -m bench`` the corpus size is
fixed by this stage and ``--quick`` chooses).

Inputs are the recorded fixtures (``$COMMONS_FIXTURES`` or ``../shared/fixtures``), scaled:

- **logs/s**: every file of ``eval_logs`` (Inspect ``.eval`` and ``.json``, lm-eval, HELM, Epoch CSVs) copied
  20 times (4 with ``--quick``) into one folder, each copy's bytes made distinct (a zip comment for ``.eval``,
  trailing whitespace for JSON and CSV), harvested with ``harvest_batch`` of every source that recognises them,
  exactly as ``commons build --from`` does: raw store, parse, staged Parquet, fetch log.
- **samples/s and memory**: one ``.eval`` of 100,000 samples (5,000 with ``--quick``) built from the real
  samples of an Inspect fixture (ids renumbered, structure kept), harvested the same way; peak memory is the
  process's high-water mark, interpreter included. Beside it, in the same run: the floor (``zipfile`` and
  ``json.loads`` of every sample member, no work) and the peer, ``inspect_ai.log.read_eval_log_samples``
  streaming the same file (Inspect's own reader; it parses every sample into pydantic models). Goal (issue 5):
  a 100,000-sample log is never held in memory at once, i.e. peak memory stays far below the parsed log.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import statistics
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.corpus import DEFAULT_FIXTURES
from bench.fresh import run_fresh, standalone_main, timed
from bench.harness import BenchConfig, ResultRow, StageReport, ratio

NAME = "results"
BIG_EVAL_SAMPLES = 100_000
QUICK_BIG_EVAL_SAMPLES = 5_000
LOG_COPIES = 20
QUICK_LOG_COPIES = 4
SEED_LOG = "inspect_2025-02-11T15-18-04-05-00_popularity_mj7khqpMM4GBCfVQozKgzB.eval"
GOAL_PEAK_MB = 500
# inspect_ai's read_eval_log_samples opens the log again for every sample (about 100 samples/s here, and
# slower as the log grows), so the peer reads a log of at most this many samples; figures are per sample.
PEER_SAMPLES = 5_000


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def eval_logs() -> Path:
    return Path(os.environ.get("COMMONS_FIXTURES", DEFAULT_FIXTURES)) / "eval_logs"


# -- corpora ------------------------------------------------------------------------------------------


def copy_logs(source: Path, copies: int, folder: Path) -> int:
    """``copies`` distinct copies of every file in ``source``; returns the number of files written."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    written = 0
    for path in sorted(p for p in source.iterdir() if p.is_file()):
        data = path.read_bytes()
        for k in range(copies):
            target = folder / f"{path.stem}--{k:03d}{path.suffix}"
            if path.suffix == ".eval":
                with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(target, "w") as dst:
                    for info in src.infolist():
                        dst.writestr(info, src.read(info))
                    dst.comment = f"bench copy {k}".encode()
            else:
                target.write_bytes(data + b" " * (k + 1) if not data.endswith(b"\n") else data + b"\n" * k)
            written += 1
    return written


def build_big_eval(seed: Path, samples: int, target: Path) -> int:
    """An ``.eval`` with ``samples`` samples: the seed log's samples repeated with new ids, header kept."""
    with zipfile.ZipFile(seed) as src:
        names = src.namelist()
        sample_names = sorted(n for n in names if n.startswith("samples/"))
        originals = [json.loads(src.read(n)) for n in sample_names]
        others = {n: src.read(n) for n in names if not n.startswith(("samples/", "_journal/summaries/"))}
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for name, data in others.items():
            if name == "header.json":
                header = json.loads(data)
                dataset = header.setdefault("eval", {}).setdefault("dataset", {})
                dataset["samples"] = samples
                dataset["sample_ids"] = list(range(1, samples + 1))  # what inspect_ai's reader iterates
                results = header.get("results") or {}
                results["total_samples"] = results["completed_samples"] = samples
                data = json.dumps(header).encode()
            dst.writestr(name, data)
        for i in range(samples):
            sample = dict(originals[i % len(originals)])
            sample["id"] = i + 1
            sample.pop("uuid", None)
            dst.writestr(f"samples/{i + 1}_epoch_{sample.get('epoch', 1)}.json", json.dumps(sample))
    return samples


# -- measurements (each in a fresh process) ---------------------------------------------------------------


def harvest_folder(args: dict[str, Any]) -> dict[str, Any]:
    """(fresh process) ``harvest_batch`` of every source that recognises files in ``folder``."""
    root_path = Path(args["data_root"])
    shutil.rmtree(root_path, ignore_errors=True)
    os.environ["COMMONS_HOME"] = str(root_path)
    from pipelines.harvest import harvest_batch
    from pipelines.local_input import plan_local_input
    from pipelines.settings import DataRoot, pipeline_version
    from pipelines.sources.registry import get_source

    pipeline_version()
    root = DataRoot(root_path).ensure()
    plan = plan_local_input(Path(args["folder"]))

    def work() -> dict[str, Any]:
        documents, errors = 0, 0
        rows: dict[str, int] = {}
        for batch in plan.batches:
            summary = harvest_batch(get_source(batch.source), batch, root)
            documents += summary.documents
            errors += len(summary.errors)
            for table, n in summary.rows.items():
                rows[table] = rows.get(table, 0) + n
        return {"documents": documents, "rows": rows, "errors": errors, "sources": len(plan.batches)}

    try:
        return timed(work)
    finally:
        shutil.rmtree(root_path, ignore_errors=True)


def zip_floor(args: dict[str, Any]) -> dict[str, Any]:
    """(fresh process) Every sample member of the log decompressed and ``json.loads``-ed, nothing kept."""
    path = Path(args["path"])

    def work() -> dict[str, Any]:
        samples = 0
        with zipfile.ZipFile(path) as z:
            for name in z.namelist():
                if name.startswith("samples/"):
                    json.loads(z.read(name))
                    samples += 1
        return {"samples": samples}

    return timed(work)


def inspect_reader(args: dict[str, Any]) -> dict[str, Any]:
    """(fresh process) Inspect's own streaming reader over the same log: every sample parsed."""
    from inspect_ai.log import read_eval_log_samples

    path = str(args["path"])

    def work() -> dict[str, Any]:
        samples = 0
        for _ in read_eval_log_samples(path, all_samples_required=False):
            samples += 1
        return {"samples": samples}

    return timed(work)


# -- the benchmark ------------------------------------------------------------------------------------


def run(config: BenchConfig) -> StageReport:
    source = eval_logs()
    if not source.is_dir():
        raise RuntimeError(f"{source} is absent: the results benchmark scales the eval_logs fixtures")
    work = config.work_dir / "results"
    shutil.rmtree(work, ignore_errors=True)
    copies = QUICK_LOG_COPIES if config.quick else LOG_COPIES
    n_samples = QUICK_BIG_EVAL_SAMPLES if config.quick else BIG_EVAL_SAMPLES
    logs_folder = work / "logs"
    files = copy_logs(source, copies, logs_folder)
    big_folder = work / "big"
    big = big_folder / "big.eval"
    build_big_eval(source / SEED_LOG, n_samples, big)
    peer_samples = min(n_samples, PEER_SAMPLES)
    peer_log = work / "peer" / "peer.eval"
    build_big_eval(source / SEED_LOG, peer_samples, peer_log)
    _say(f"{files} log files; one .eval of {n_samples:,} samples ({big.stat().st_size / 1e6:,.1f} MB)")
    plan: dict[str, tuple[str, dict[str, Any]]] = {
        "logs": ("harvest_folder", {"folder": str(logs_folder)}),
        "big_eval": ("harvest_folder", {"folder": str(big_folder)}),
        "big_eval_floor": ("zip_floor", {"path": str(big)}),
        "big_eval_inspect": ("inspect_reader", {"path": str(peer_log)}),
    }
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in plan}
    try:
        for round_no in range(1, config.runs + 1):
            _say(f"round {round_no}/{config.runs}")
            for name, (task, args) in plan.items():
                if task == "harvest_folder":
                    args = {**args, "data_root": str(work / f"data-root-{name}")}
                result = run_fresh(f"bench.results:{task}", args)
                if name.startswith("big_eval"):
                    got = result["rows"].get("result_samples", 0) if "rows" in result else result["samples"]
                    want = peer_samples if name == "big_eval_inspect" else n_samples
                    if got != want:
                        raise RuntimeError(f"{name}: read {got} samples of {want}")
                results[name].append(result)
                _say(f"  {name:<18} {result['seconds']:8.3f} s  peak {result['peak_rss_mb']:,.0f} MB")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    details = {"log_files": files, "copies_each": copies, "big_eval_samples": n_samples, "runs": results}
    return StageReport(NAME, rows(results, n_samples, peer_samples), details)


def _med(runs: list[dict[str, Any]], key: str = "seconds") -> float:
    return statistics.median(float(r[key]) for r in runs)


def rows(results: dict[str, list[dict[str, Any]]], n_samples: int, peer_samples: int) -> list[ResultRow]:
    logs = results["logs"]
    log_seconds = _med(logs, "cpu_seconds")
    documents = logs[0]["documents"]
    out = [
        ResultRow(
            f"results: eval log files to rows ({documents} files, 1 process, CPU time)",
            f"{documents / log_seconds:,.0f} logs/s",
            f"{sum(logs[0]['rows'].values()):,} rows, {logs[0]['errors']} recorded errors",
        )
    ]
    big = results["big_eval"]
    big_seconds = _med(big, "cpu_seconds")
    samples_rows = big[0]["rows"].get("result_samples", 0)
    floor_seconds = _med(results["big_eval_floor"], "cpu_seconds")
    peer_rate = peer_samples / _med(results["big_eval_inspect"], "cpu_seconds")
    out.append(
        ResultRow(
            f"results: Inspect .eval to result_samples ({n_samples:,} samples, CPU time)",
            f"{samples_rows / big_seconds:,.0f} samples/s",
            f"{n_samples / floor_seconds:,.0f} samples/s (zipfile + json.loads, no work)",
            f"{ratio(big_seconds, floor_seconds):.1f}x floor",
        )
    )
    out.append(
        ResultRow(
            f"results: the same samples through inspect_ai's read_eval_log_samples (peer, {peer_samples:,} samples)",
            f"{samples_rows / big_seconds:,.0f} samples/s",
            f"{peer_rate:,.0f} samples/s (inspect_ai)",
            f"{samples_rows / big_seconds / peer_rate:.1f}x faster",
        )
    )
    peak = _med(big, "peak_rss_mb")
    out.append(
        ResultRow(
            f"results: peak memory harvesting the {n_samples:,}-sample .eval",
            f"{peak:,.0f} MB",
            f"{_med(results['big_eval_inspect'], 'peak_rss_mb'):,.0f} MB (inspect_ai, streaming its {peer_samples:,}-sample log)",
            "—",
            f"< {GOAL_PEAK_MB} MB",
            peak < GOAL_PEAK_MB,
        )
    )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    return standalone_main(
        "bench.results", __doc__.split("\n")[0], run, argv, (QUICK_BIG_EVAL_SAMPLES, BIG_EVAL_SAMPLES)
    )


if __name__ == "__main__":
    raise SystemExit(main())
