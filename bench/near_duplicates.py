"""near_duplicates: MinHash signatures, LSH + clustering, and their quality on planted near duplicates.

``python -m bench.near_duplicates [--quick] [--runs N] [--dir DIR]``

Corpus: 1,000,000 abstracts (50,000 with ``--quick``) grown from the real abstracts and post excerpts of
the fixtures (``arxiv_oai``, ``alignment_forum``): each generated abstract resamples the words of one real
text (so texts differ record to record while keeping real vocabulary and length, as ``bench.corpus``
does), seeded. Into it are planted copies of known exact Jaccard (``bench.planted_pairs``): exact copies,
reformatted copies (whitespace and case), and edited copies in the bands 0.5–0.6 … 0.9–1.0, 1 per 1,000
records of each kind. The corpus is written once as Parquet and reused.

- **Signatures/s per core** (CPU time, ``RAYON_NUM_THREADS=1``): ours (normalise + word 5-grams + rensa
  ``RMinHash``, into a numpy matrix) over every record; datasketch ``MinHash`` (``update_batch`` of the
  same shingles) over a subsample of 20,000 (5,000 with ``--quick``); floors: ``hashlib.blake2b`` of each
  text's bytes (no shingling), and the shingling alone (no MinHash).
- **LSH + clustering** wall time from the signatures of every record: banding (32 × 4), candidates,
  exact-Jaccard verification, connected components. Goal: < 2 minutes at 1,000,000.
- **Peer LSH**: datasketch ``MinHashLSH`` (default parameters at threshold 0.8, i.e. 9 bands × 13 rows)
  insert + query of every record of a subsample (every planted record plus background up to 20,000; 5,000
  with ``--quick``) — the full set is too slow for it — against ours on the same subsample.
- **Memory**: signature bytes per record.
- **Quality**: recall by planted band and precision, ours on the full set, and ours vs datasketch's
  ``MinHashLSH`` (its candidates as they come, and after the same exact verification) on the subsample.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import statistics
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.corpus import DEFAULT_FIXTURES
from bench.fresh import run_fresh, standalone_main, timed
from bench.harness import BenchConfig, ResultRow, StageReport, ratio

NAME = "near_duplicates"
RECORDS = 1_000_000
QUICK_RECORDS = 50_000
PEER_SAMPLE = 20_000
QUICK_PEER_SAMPLE = 5_000
PLANTED_PER_1000 = 1  # copies of each kind per 1,000 records
SEED = 20251124
GOAL_SIGNATURES_PER_S = 5_000
GOAL_CLUSTER_SECONDS_AT_1M = 120.0
GOAL_RECALL = 0.99
ONE_CORE = {"RAYON_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def fixtures() -> Path:
    return Path(os.environ.get("COMMONS_FIXTURES", DEFAULT_FIXTURES))


def _paths(work: Path, records: int) -> dict[str, Path]:
    return {
        "corpus": work / f"corpus-{records}.parquet",
        "planted": work / f"planted-{records}.json",
        "sigs": work / f"signatures-{records}.npy",
    }


# --- corpus -------------------------------------------------------------------------------------


def build_corpus(records: int, seed: int = SEED) -> tuple[list[str], list[str], list[dict[str, Any]]]:
    """Ids, texts and planted pairs: resampled real abstracts plus planted copies (deterministic)."""
    from bench.planted_pairs import KINDS, alignment_forum_summaries, arxiv_abstracts, distinct_texts, plant

    templates = distinct_texts(
        arxiv_abstracts(fixtures()) + alignment_forum_summaries(fixtures()), min_words=40
    )
    per_kind = max(1, records * PLANTED_PER_1000 // 1000)
    background = records - per_kind * len(KINDS)
    rng = random.Random(seed)
    words = [t.split() for t in templates]
    base = [
        " ".join(rng.choices(words[i % len(words)], k=len(words[i % len(words)]))) for i in range(background)
    ]
    planted = plant(base, per_kind, seed=seed, prefix="abs")
    pairs = [{"id_a": p.id_a, "id_b": p.id_b, "kind": p.kind, "jaccard": p.jaccard} for p in planted.pairs]
    return planted.ids, planted.texts, pairs


def prepare(args: dict[str, Any]) -> dict[str, Any]:
    """(fresh process) Write the corpus and its planted pairs, unless already there."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    paths = _paths(Path(args["work"]), args["records"])

    def work() -> dict[str, Any]:
        if paths["corpus"].exists() and paths["planted"].exists():
            return {"generated": False, "records": args["records"]}
        ids, texts, pairs = build_corpus(args["records"])
        paths["corpus"].parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table({"id": ids, "text": texts}), paths["corpus"])
        paths["planted"].write_text(json.dumps(pairs), encoding="utf-8")
        return {"generated": True, "records": len(ids), "planted": len(pairs)}

    return timed(work)


def _load(work: Path, records: int) -> tuple[list[str], list[str], list[dict[str, Any]]]:
    import pyarrow.parquet as pq

    paths = _paths(work, records)
    table = pq.read_table(paths["corpus"])
    pairs: list[dict[str, Any]] = json.loads(paths["planted"].read_text(encoding="utf-8"))
    return table.column("id").to_pylist(), table.column("text").to_pylist(), pairs


def _subsample(ids: list[str], pairs: list[dict[str, Any]], size: int) -> list[int]:
    """Every planted record, then background records in file order, up to ``size`` (sorted indices)."""
    planted = {p["id_a"] for p in pairs} | {p["id_b"] for p in pairs}
    chosen = [k for k, rid in enumerate(ids) if rid in planted]
    for k in range(len(ids)):
        if len(chosen) >= size:
            break
        if ids[k] not in planted:
            chosen.append(k)
    return sorted(chosen)


# --- measurements (fresh processes) -------------------------------------------------------------


def sign(args: dict[str, Any]) -> dict[str, Any]:
    """(fresh process) Signatures of the first ``count`` records: ``rensa``, ``datasketch``, ``shingles``, ``blake2b``."""
    from pipelines.curate.near_duplicates import MinHashParams, shingles, signatures

    _ids, texts, _ = _load(Path(args["work"]), args["records"])
    texts = texts[: args.get("count") or len(texts)]
    params = MinHashParams()
    mode = args["mode"]

    def work() -> dict[str, Any]:
        if mode == "rensa":
            sigs = signatures(texts, params)
            if args.get("save"):
                np.save(_paths(Path(args["work"]), args["records"])["sigs"], sigs)
            return {"documents": len(texts), "signature_bytes": int(sigs.nbytes)}
        if mode == "datasketch":
            from datasketch import MinHash

            values = np.empty((len(texts), params.num_perm), dtype=np.uint64)
            for k, text in enumerate(texts):
                m = MinHash(num_perm=params.num_perm, seed=1)
                m.update_batch([s.encode("utf-8") for s in shingles(text, params)])
                values[k] = m.hashvalues
            return {"documents": len(texts), "signature_bytes": int(values.nbytes)}
        if mode == "shingles":
            return {"documents": len(texts), "shingles": sum(len(shingles(t, params)) for t in texts)}
        digests = [hashlib.blake2b(t.encode("utf-8"), digest_size=16).digest() for t in texts]
        return {"documents": len(digests)}

    return timed(work)


def _quality(
    found: set[tuple[str, str]], pairs: list[dict[str, Any]], present: set[str] | None = None
) -> dict[str, float]:
    hit: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for p in pairs:
        if present is not None and p["id_b"] not in present:
            continue
        key = (p["id_a"], p["id_b"]) if p["id_a"] < p["id_b"] else (p["id_b"], p["id_a"])
        total[p["kind"]] += 1
        hit[p["kind"]] += key in found
    return {k: hit[k] / total[k] for k in sorted(total)}


def _precision(texts_by_id: dict[str, str], found: set[tuple[str, str]], threshold: float) -> dict[str, Any]:
    from pipelines.curate.near_duplicates import jaccard, shingle_set

    good = sum(
        jaccard(shingle_set(texts_by_id[a]), shingle_set(texts_by_id[b])) >= threshold for a, b in found
    )
    return {
        "reported": len(found),
        "at_or_above_threshold": int(good),
        "precision": good / len(found) if found else 1.0,
    }


def cluster(args: dict[str, Any]) -> dict[str, Any]:
    """(fresh process) LSH + verification + clusters of every record from the saved signatures; its quality."""
    from pipelines.curate.near_duplicates import MinHashParams, clusters_from_signatures

    work_dir = Path(args["work"])
    ids, texts, pairs = _load(work_dir, args["records"])
    sigs = np.load(_paths(work_dir, args["records"])["sigs"])
    params = MinHashParams()
    holder: dict[str, Any] = {}

    def work() -> dict[str, Any]:
        result = clusters_from_signatures(ids, texts, sigs, params)
        holder["result"] = result
        return {"documents": len(ids), **result.stats, "clusters": len({c for c, _ in result.clusters})}

    out = timed(work)
    result = holder["result"]
    found = {(a, b) for a, b, _, _ in result.pairs}
    by_id = dict(zip(ids, texts, strict=True))
    out["recall_by_kind"] = _quality(found, pairs)
    out["precision"] = _precision(by_id, found, params.threshold)
    return out


def peer_lsh(args: dict[str, Any]) -> dict[str, Any]:
    """(fresh process) On a subsample: datasketch MinHashLSH (defaults at 0.8) vs ours, time and quality."""
    from datasketch import MinHash, MinHashLSH

    from pipelines.curate.near_duplicates import (
        MinHashParams,
        candidate_pairs,
        clusters_from_signatures,
        jaccard,
        shingle_set,
        shingles,
        signatures,
    )

    work_dir = Path(args["work"])
    all_ids, all_texts, pairs = _load(work_dir, args["records"])
    chosen = _subsample(all_ids, pairs, args["count"])
    ids = [all_ids[k] for k in chosen]
    texts = [all_texts[k] for k in chosen]
    params = MinHashParams()
    hashes = []
    for text in texts:
        m = MinHash(num_perm=params.num_perm, seed=1)
        m.update_batch([s.encode("utf-8") for s in shingles(text, params)])
        hashes.append(m)
    ours_sigs = signatures(texts, params)
    holder: dict[str, Any] = {}

    def peer() -> dict[str, Any]:
        lsh = MinHashLSH(threshold=params.threshold, num_perm=params.num_perm)
        for rid, m in zip(ids, hashes, strict=True):
            lsh.insert(rid, m)
        found: set[tuple[str, str]] = set()
        for rid, m in zip(ids, hashes, strict=True):
            for other in lsh.query(m):
                if other != rid:
                    found.add((rid, other) if rid < other else (other, rid))
        holder["peer"] = found
        return {
            "documents": len(ids),
            "candidates": len(found),
            "bands_rows": list(lsh.b_r) if hasattr(lsh, "b_r") else [lsh.b, lsh.r],
        }

    def ours() -> dict[str, Any]:
        result = clusters_from_signatures(ids, texts, ours_sigs, params)
        holder["ours"] = {(a, b) for a, b, _, _ in result.pairs}
        return {"documents": len(ids), **result.stats}

    peer_run = timed(peer)
    ours_run = timed(ours)
    present = set(ids)
    by_id = dict(zip(ids, texts, strict=True))
    sets = {rid: shingle_set(by_id[rid], params) for pair in holder["peer"] for rid in pair}
    peer_verified = {(a, b) for a, b in holder["peer"] if jaccard(sets[a], sets[b]) >= params.threshold}
    cands, _ = candidate_pairs(ours_sigs, params)
    ours_candidates = {(ids[i], ids[j]) for i, j in cands.tolist()}  # ids are in sorted order
    return {
        "peer": {
            **peer_run,
            "recall_candidates": _quality(holder["peer"], pairs, present),
            "recall_verified": _quality(peer_verified, pairs, present),
            "precision_candidates": _precision(by_id, holder["peer"], params.threshold),
        },
        "ours": {
            **ours_run,
            "recall_candidates": _quality(ours_candidates, pairs, present),
            "recall_verified": _quality(holder["ours"], pairs, present),
            "precision_candidates": _precision(by_id, ours_candidates, params.threshold),
            "precision_verified": _precision(by_id, holder["ours"], params.threshold),
        },
    }


# --- the stage ----------------------------------------------------------------------------------


def run(config: BenchConfig) -> StageReport:
    records = config.records
    peer_n = QUICK_PEER_SAMPLE if config.quick else PEER_SAMPLE
    work = config.bench_dir / "near_duplicates"
    base = {"work": str(work), "records": records}
    _say(f"corpus: {records:,} records")
    prepared = run_fresh("bench.near_duplicates:prepare", base)
    _say(f"  {'prepare':<16} {prepared['seconds']:8.3f} s (generated: {prepared['generated']})")
    plan: dict[str, tuple[str, dict[str, Any], dict[str, str] | None]] = {
        "rensa": ("sign", {**base, "mode": "rensa", "save": True}, ONE_CORE),
        "datasketch": ("sign", {**base, "mode": "datasketch", "count": peer_n}, ONE_CORE),
        "shingles": ("sign", {**base, "mode": "shingles"}, ONE_CORE),
        "blake2b": ("sign", {**base, "mode": "blake2b"}, ONE_CORE),
        "cluster": ("cluster", base, None),
        "peer_lsh": ("peer_lsh", {**base, "count": peer_n}, None),
    }
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in plan}
    for round_no in range(1, config.runs + 1):
        _say(f"round {round_no}/{config.runs}")
        for name, (task, args, env) in plan.items():
            result = run_fresh(f"bench.near_duplicates:{task}", args, env)
            results[name].append(result)
            seconds = result["seconds"] if "seconds" in result else result["peer"]["seconds"]
            peak = result["peak_rss_mb"] if "peak_rss_mb" in result else result["peer"]["peak_rss_mb"]
            _say(f"  {name:<16} {seconds:8.3f} s  peak {peak:,.0f} MB")
    return StageReport(NAME, rows(results, records), {"prepare": prepared, "runs": results})


def _med(runs: Sequence[dict[str, Any]], key: str = "cpu_seconds") -> float:
    return statistics.median(float(r[key]) for r in runs)


def _fmt_recall(recall: dict[str, float]) -> str:
    order = ["exact", "reformatted", "0.9-1.0", "0.8-0.9", "0.7-0.8", "0.6-0.7", "0.5-0.6"]
    return ", ".join(f"{k} {recall[k]:.2f}" for k in order if k in recall)


def rows(results: dict[str, list[dict[str, Any]]], records: int) -> list[ResultRow]:
    ours, peer, shing, floor = (results[k] for k in ("rensa", "datasketch", "shingles", "blake2b"))
    ours_rate = ours[0]["documents"] / _med(ours)
    peer_rate = peer[0]["documents"] / _med(peer)
    clus = results["cluster"]
    clus_s = _med(clus, "seconds")
    c0 = clus[0]
    lsh = results["peer_lsh"]
    p_s = statistics.median(r["peer"]["seconds"] for r in lsh)
    o_s = statistics.median(r["ours"]["seconds"] for r in lsh)
    l0 = lsh[0]
    high = ("exact", "reformatted", "0.9-1.0", "0.8-0.9")
    ours_high = min(c0["recall_by_kind"][k] for k in high)
    bytes_per_doc = ours[0]["signature_bytes"] / ours[0]["documents"]
    at_1m = clus_s * 1_000_000 / records
    return [
        ResultRow(
            f"near_duplicates: MinHash signatures, ours (rensa, word 5-grams, 128 perm; {ours[0]['documents']:,} abstracts, 1 core, CPU)",
            f"{ours_rate:,.0f} docs/s",
            f"{floor[0]['documents'] / _med(floor):,.0f} docs/s (blake2b of the text, no shingles)",
            f"{ratio(_med(ours) / ours[0]['documents'], _med(floor) / floor[0]['documents']):.1f}x floor",
            f"≥ {GOAL_SIGNATURES_PER_S:,} docs/s",
            ours_rate >= GOAL_SIGNATURES_PER_S,
        ),
        ResultRow(
            f"near_duplicates: shingling alone (normalise + word 5-grams, {shing[0]['documents']:,} abstracts, 1 core)",
            f"{shing[0]['documents'] / _med(shing):,.0f} docs/s",
            "—",
            f"{_med(shing) / _med(ours):.0%} of our signature time",
        ),
        ResultRow(
            f"near_duplicates: datasketch MinHash signatures (peer, update_batch, {peer[0]['documents']:,} abstracts, 1 core)",
            f"{peer_rate:,.0f} docs/s",
            f"{ours_rate:,.0f} docs/s (ours)",
            f"ours {ours_rate / peer_rate:.1f}x faster",
        ),
        ResultRow(
            f"near_duplicates: LSH 32×4 + exact verification + clusters ({records:,} signatures; "
            f"{c0['candidates']:,} candidates, {c0['pairs']:,} pairs, {c0['capped_buckets']} capped buckets)",
            f"{clus_s:,.1f} s wall",
            "—",
            f"≈ {at_1m:,.0f} s at 1,000,000 (linear)" if records < 1_000_000 else "—",
            f"< {GOAL_CLUSTER_SECONDS_AT_1M:.0f} s at 1,000,000",
            (clus_s < GOAL_CLUSTER_SECONDS_AT_1M) if records >= 1_000_000 else None,
        ),
        ResultRow(
            f"near_duplicates: datasketch MinHashLSH defaults (b,r = {tuple(l0['peer']['bands_rows'])}) insert+query, "
            f"subsample of {l0['peer']['documents']:,}",
            f"{p_s:,.2f} s wall (no verification)",
            f"{o_s:,.2f} s ours, same subsample, with verification",
            f"ours {ratio(o_s, p_s):.1f}x datasketch's time",
        ),
        ResultRow(
            "near_duplicates: signature memory",
            f"{bytes_per_doc:,.0f} bytes/doc",
            f"{ours[0]['signature_bytes'] / 1e6:,.0f} MB for {ours[0]['documents']:,}",
        ),
        ResultRow(
            "near_duplicates: recall by planted band, ours (full set, exact verification at 0.8)",
            _fmt_recall(c0["recall_by_kind"]),
            "—",
            f"precision {c0['precision']['precision']:.3f} ({c0['precision']['reported']:,} pairs)",
            f"≥ {GOAL_RECALL} at ≥ 0.8, precision 1.0",
            ours_high >= GOAL_RECALL and c0["precision"]["precision"] == 1.0,
        ),
        ResultRow(
            "near_duplicates: recall by band, subsample — ours candidates / datasketch candidates",
            _fmt_recall(l0["ours"]["recall_candidates"]),
            _fmt_recall(l0["peer"]["recall_candidates"]),
            f"candidate precision ours {l0['ours']['precision_candidates']['precision']:.2f}, "
            f"datasketch {l0['peer']['precision_candidates']['precision']:.2f}",
        ),
        ResultRow(
            "near_duplicates: recall by band, subsample — ours verified / datasketch verified (exact ≥ 0.8)",
            _fmt_recall(l0["ours"]["recall_verified"]),
            _fmt_recall(l0["peer"]["recall_verified"]),
        ),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    return standalone_main(
        "bench.near_duplicates", (__doc__ or NAME).split("\n")[0], run, argv, (QUICK_RECORDS, RECORDS)
    )


if __name__ == "__main__":
    raise SystemExit(main())
