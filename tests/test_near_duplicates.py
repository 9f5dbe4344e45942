"""Near-duplicate detection (MinHash + LSH) on real fixture texts with planted pairs of known Jaccard."""

from __future__ import annotations

import itertools
import random
from collections import Counter
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from bench.planted_pairs import (
    KINDS,
    PlantedSet,
    alignment_forum_summaries,
    arxiv_abstracts,
    distinct_texts,
    fulltext_paragraphs,
    plant,
)
from pipelines.curate.near_duplicates import (
    MinHashParams,
    candidate_pairs,
    candidate_probability,
    connected_components,
    jaccard,
    near_duplicate_clusters,
    normalise_for_shingles,
    shingle_set,
    shingles,
    signatures,
)
from tests.conftest import FIXTURES, fixture_dir

PARAMS = MinHashParams()
PER_KIND = 60


@lru_cache(maxsize=1)
def _real_texts() -> tuple[str, ...]:
    return tuple(
        arxiv_abstracts(FIXTURES) + alignment_forum_summaries(FIXTURES) + fulltext_paragraphs(FIXTURES)
    )


@pytest.fixture(scope="module")
def real_texts() -> tuple[str, ...]:
    for name in ("arxiv_oai", "alignment_forum", "grobid_tei"):
        fixture_dir(name)
    return _real_texts()


@pytest.fixture(scope="module")
def planted(real_texts: tuple[str, ...]) -> PlantedSet:
    return plant(distinct_texts(real_texts), PER_KIND, seed=7)


def _by_kind(planted: PlantedSet, found: set[tuple[str, str]]) -> dict[str, float]:
    hit: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for p in planted.pairs:
        total[p.kind] += 1
        hit[p.kind] += (p.id_a, p.id_b) in found
    return {k: hit[k] / total[k] for k in total}


# --- parameters and the S-curve ---------------------------------------------------------------


def test_candidate_probability_matches_the_formula() -> None:
    for s in (0.0, 0.1, 0.5, 0.8, 1.0):
        assert candidate_probability(s, 32, 4) == pytest.approx(1 - (1 - s**4) ** 32)
    assert candidate_probability(0.0, 32, 4) == 0.0
    assert candidate_probability(1.0, 32, 4) == 1.0
    values = [candidate_probability(s / 100, 32, 4) for s in range(101)]
    assert values == sorted(values)
    # the chosen banding catches pairs at the threshold; datasketch's default banding (9 × 13) does not
    assert PARAMS.candidate_probability(PARAMS.threshold) >= 0.99
    assert candidate_probability(0.8, 9, 13) == pytest.approx(0.3988, abs=1e-3)
    assert candidate_probability(0.8, 16, 8) < 0.99  # why r = 8 was not chosen
    with pytest.raises(ValueError):
        candidate_probability(1.5, 32, 4)


def test_params_validated_and_provenance() -> None:
    assert (PARAMS.bands, PARAMS.rows, PARAMS.num_perm, PARAMS.threshold) == (32, 4, 128, 0.8)
    with pytest.raises(ValueError):
        MinHashParams(bands=20, rows=4)
    with pytest.raises(ValueError):
        MinHashParams(verify="approx")  # type: ignore[arg-type]
    prov = PARAMS.as_provenance()
    assert prov["rensa_version"] and prov["rensa_version"] != "unknown"
    for key in ("num_perm", "shingle_words", "seed", "threshold", "bands", "rows", "max_bucket", "verify"):
        assert key in prov
    assert prov["signature_bytes"] == 512


# --- shingles and signatures ------------------------------------------------------------------


def test_normalisation_and_shingles() -> None:
    assert normalise_for_shingles("  The\u00a0QUICK,\n brown\tﬁsh!  ") == "the quick brown fish"
    assert shingles("", PARAMS) == []
    assert shingles(" \n\t ", PARAMS) == []
    assert shingles("!!! ---", PARAMS) == []
    assert shingles("Three short words", PARAMS) == ["three short words"]
    assert shingles("a b c d e f", PARAMS) == ["a b c d e", "b c d e f"]
    assert shingle_set("Model  collapse in LLMs, revisited today.") == shingle_set(
        "model collapse in llms revisited TODAY"
    )


def test_signatures_shape_and_agreement_with_rensa(real_texts: tuple[str, ...]) -> None:
    from rensa import RMinHash

    texts = [*real_texts[:50], "", "   "]
    sigs = signatures(texts, PARAMS)
    assert sigs.shape == (52, 128) and sigs.dtype == np.uint32 and sigs.nbytes == 52 * 512
    one = RMinHash(PARAMS.num_perm, PARAMS.seed)
    one.update(shingles(texts[3], PARAMS))
    assert sigs[3].tolist() == one.digest()
    assert (sigs[50] == 0xFFFFFFFF).all() and (sigs[51] == 0xFFFFFFFF).all()


def test_connected_components_labels_smallest_member() -> None:
    pairs = np.array([[5, 6], [1, 5], [2, 3], [8, 9], [6, 9]], dtype=np.int64)
    labels = connected_components(10, pairs)
    assert labels.tolist() == [0, 1, 2, 2, 4, 1, 1, 7, 1, 1]
    assert connected_components(3, np.empty((0, 2), dtype=np.int64)).tolist() == [0, 1, 2]


# --- quality on the planted set ---------------------------------------------------------------


def test_planted_set_has_the_intended_jaccards(planted: PlantedSet) -> None:
    texts = dict(zip(planted.ids, planted.texts, strict=True))
    counts = Counter(p.kind for p in planted.pairs)
    assert counts == {kind: PER_KIND for kind in KINDS}
    for p in planted.pairs:
        j = jaccard(shingle_set(texts[p.id_a]), shingle_set(texts[p.id_b]))
        assert j == pytest.approx(p.jaccard)
        if p.kind in ("exact", "reformatted"):
            assert j == 1.0
        else:
            lo, hi = (float(x) for x in p.kind.split("-"))
            assert lo <= j < hi


def test_recall_by_band_and_precision(planted: PlantedSet) -> None:
    result = near_duplicate_clusters(planted.ids, planted.texts, PARAMS)
    assert result.verification == "exact"
    found = {(a, b) for a, b, _, _ in result.pairs}
    recall = _by_kind(planted, found)
    for kind in ("exact", "reformatted", "0.8-0.9", "0.9-1.0"):
        assert recall[kind] >= 0.99, (kind, recall)
    for kind in ("0.5-0.6", "0.6-0.7", "0.7-0.8"):
        assert recall[kind] == 0.0, (kind, recall)  # below the threshold: never reported
    # precision: every reported pair is at or above the threshold by its exact Jaccard, recomputed here
    texts = dict(zip(planted.ids, planted.texts, strict=True))
    for a, b, j, est in result.pairs:
        assert a < b
        exact = jaccard(shingle_set(texts[a]), shingle_set(texts[b]))
        assert exact >= PARAMS.threshold
        assert j == pytest.approx(exact)
        assert abs(est - exact) < 0.2
    assert result.pairs == sorted(result.pairs)
    # clusters: named by their smallest member, each planted pair in one cluster
    cluster_of = {member: cid for cid, member in result.clusters}
    assert all(cid <= member for cid, member in result.clusters)
    for p in planted.pairs:
        if (p.id_a, p.id_b) in found:
            assert cluster_of[p.id_a] == cluster_of[p.id_b] <= p.id_a


def test_candidate_recall_below_threshold_follows_the_s_curve(planted: PlantedSet) -> None:
    """The LSH stage alone: pairs at 0.7–0.8 are candidates (P ≥ 0.9998), most at 0.6–0.7 (P ≥ 0.988)."""
    index = {rid: k for k, rid in enumerate(planted.ids)}
    sigs = signatures(planted.texts, PARAMS)
    cands, _ = candidate_pairs(sigs, PARAMS)
    found = {(int(i), int(j)) for i, j in cands.tolist()}
    by_kind: Counter[str] = Counter()
    for p in planted.pairs:
        by_kind[p.kind] += (index[p.id_a], index[p.id_b]) in found
    assert by_kind["0.7-0.8"] >= PER_KIND - 1
    assert by_kind["0.6-0.7"] >= PER_KIND * 0.9
    assert by_kind["0.5-0.6"] >= PER_KIND * 0.6


def test_estimated_verification(planted: PlantedSet) -> None:
    params = MinHashParams(verify="estimated")
    result = near_duplicate_clusters(planted.ids, planted.texts, params)
    assert result.verification == "estimated"
    recall = _by_kind(planted, {(a, b) for a, b, _, _ in result.pairs})
    for kind in ("exact", "reformatted", "0.9-1.0"):
        assert recall[kind] >= 0.99, (kind, recall)
    assert recall["0.5-0.6"] == 0.0 and recall["0.6-0.7"] == 0.0
    assert all(j == est >= 0.8 for _, _, j, est in result.pairs)


def test_unrelated_real_abstracts_match_brute_force(real_texts: tuple[str, ...]) -> None:
    """On real abstracts and post excerpts, the pairs found are exactly the brute-force pairs ≥ 0.8."""
    texts = distinct_texts(real_texts, min_words=1)[:600]
    ids = [f"r{k:04d}" for k in range(len(texts))]
    sets = [shingle_set(t) for t in texts]
    truth = {
        (ids[i], ids[j])
        for i, j in itertools.combinations(range(len(texts)), 2)
        if len(sets[i] & sets[j]) and jaccard(sets[i], sets[j]) >= PARAMS.threshold
    }
    result = near_duplicate_clusters(ids, texts, PARAMS)
    assert {(a, b) for a, b, _, _ in result.pairs} == truth
    assert len(truth) < len(texts) // 20  # distinct real texts are (almost all) unrelated


# --- edge cases and determinism ---------------------------------------------------------------


def test_empty_text_is_reported_never_paired(real_texts: tuple[str, ...]) -> None:
    ids = ["e1", "e2", "e3", "t1", "t2", "e4"]
    texts = ["", "   \n\t", "?!", real_texts[0], real_texts[0], ""]
    result = near_duplicate_clusters(ids, texts, PARAMS)
    assert result.empty_ids == ["e1", "e2", "e3", "e4"]
    assert [(a, b) for a, b, _, _ in result.pairs] == [("t1", "t2")]
    assert result.clusters == [("t1", "t1"), ("t1", "t2")]
    only_empty = near_duplicate_clusters(["a", "b"], ["", " "], PARAMS)
    assert only_empty.pairs == [] and only_empty.clusters == [] and only_empty.empty_ids == ["a", "b"]
    nothing = near_duplicate_clusters([], [], PARAMS)
    assert nothing.pairs == [] and nothing.clusters == [] and nothing.empty_ids == []


def test_order_independent_and_deterministic(planted: PlantedSet) -> None:
    n = 1500  # a slice keeps the test fast; it still holds planted copies and background
    ids, texts = planted.ids[-n:], planted.texts[-n:]
    first = near_duplicate_clusters(ids, texts, PARAMS)
    again = near_duplicate_clusters(ids, texts, PARAMS)
    order = list(range(n))
    random.Random(3).shuffle(order)
    shuffled = near_duplicate_clusters([ids[k] for k in order], [texts[k] for k in order], PARAMS)
    assert first == again == shuffled
    assert first.pairs


def test_large_buckets_are_capped_to_a_star(real_texts: tuple[str, ...]) -> None:
    params = MinHashParams(max_bucket=3)
    ids = [f"c{k:02d}" for k in range(10)] + ["z"]
    texts = [real_texts[1]] * 10 + [real_texts[2]]
    result = near_duplicate_clusters(ids, texts, params)
    assert result.stats["capped_buckets"] > 0
    assert [(a, b) for a, b, _, _ in result.pairs] == [("c00", f"c{k:02d}") for k in range(1, 10)]
    assert result.clusters == [("c00", f"c{k:02d}") for k in range(10)]
    uncapped = near_duplicate_clusters(ids, texts, PARAMS)
    assert len(uncapped.pairs) == 45 and uncapped.clusters == result.clusters


def test_duplicate_ids_rejected() -> None:
    with pytest.raises(ValueError):
        near_duplicate_clusters(["a", "a"], ["x y", "x y"], PARAMS)
    with pytest.raises(ValueError):
        near_duplicate_clusters(["a"], ["x", "y"], PARAMS)


def test_fixture_path_is_the_shared_folder() -> None:
    expected = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"
    assert expected == FIXTURES
