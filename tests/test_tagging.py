"""Safety tagging (pipelines/curate/tagging.py): evidence, matching variants, robustness, and precision and
recall on a small hand-labelled set of REAL titles and abstracts read by path from ../shared/fixtures."""

from __future__ import annotations

import csv
import gzip
import io
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

from pipelines.curate.tagging import (
    IN_SCOPE_THRESHOLD,
    TAGGER_NAME,
    TAGGER_VERSION,
    Evidence,
    SafetyTagger,
    Tag,
    TaxonomyError,
    load_taxonomy,
    relevance_of,
)
from tests.conftest import fixture_dir

# --------------------------------------------------------------------------------------------------------
# The hand-labelled set. Labels were written from reading each record's title and abstract/summary (what a
# reader of the field would file it under), before looking at the tagger's output; misses are left as
# misses. Alignment Forum posts: the 20 rows at a stride of 215 through the post index (an unselected
# sample, so it includes maths, decision theory and epistemics with no area), plus 6 chosen posts; arXiv:
# 4 papers, physics and AI-adjacent software testing.
# (source, id, expected areas, {area: reason} or a reason for no areas)
# --------------------------------------------------------------------------------------------------------
LABELLED: list[tuple[str, str, frozenset[str], str]] = [
    # -- Alignment Forum, stride sample --
    ("af", "KWtchKwwnJkd4bwCi", frozenset(),
     "memorisation capacity of hand-coded MLPs; no safety area named in title or summary"),
    ("af", "dEiBJDtSmbC8dChwe", frozenset({"alignment_general", "ai_control"}),
     "'reduce risk from misaligned AI' → alignment_general; keeping models ignorant of the safety measures "
     "they might subvert is a control measure → ai_control"),
    ("af", "hjMy4ZxS5ogA9cTYK", frozenset({"interpretability"}),
     "research process in 'mechanistic interpretability (mech interp)' → interpretability"),
    ("af", "9qjEKbLfdfKHYWWqz", frozenset({"alignment_general"}),
     "AI self-allegiance, 'Misalignment-Internalizing' behaviour of AI teams → alignment_general"),
    ("af", "F2voF4pr3BfejJawL", frozenset({"alignment_general", "governance_and_policy"}),
     "'technical AI alignment ... technical AI safety' → alignment_general; needs a social model, "
     "corporate ethics, geopolitics → governance_and_policy"),
    ("af", "iGuwZTHWb6DFY3sKB", frozenset({"interpretability"}),
     "reverse-engineering factual recall on the neuron level, 'mechanistic interpretability team' → "
     "interpretability"),
    ("af", "cqRGZisKbpSjgaJbc", frozenset({"interpretability"}),
     "toy model of attention head superposition, OV circuits → interpretability"),
    ("af", "9mzRsm5GyMYwvGSZi", frozenset({"interpretability"}),
     "AXRP episode 'Interpretability for Engineers' → interpretability"),
    ("af", "468faQvTy7RfG4uxj", frozenset(),
     "biologically inspired temporally layered controller (control theory, not AI control)"),
    ("af", "oH3XmScSFnZt6x2eN", frozenset({"alignment_general"}),
     "CAIS / 'Reframing Superintelligence' as a model of advanced AI risk → alignment_general"),
    ("af", "MfCDfuBHXL5ijJFco", frozenset({"alignment_general"}),
     "method for conceptual research on 'analogies used regularly across alignment' → alignment_general"),
    ("af", "GkXKvkLAcTm5ackCq", frozenset(),
     "general epistemics of solving hard scientific problems; no safety area in the text"),
    ("af", "CPr8bRGekTyvh7nGC", frozenset(),
     "proofs appendix of infra-Bayesian physicalism; pure mathematics in title and summary"),
    ("af", "pg6Z5tiuXotGTWaG8", frozenset(),
     "anthropic effects in estimating evolution difficulty for AGI timelines: forecasting, no taxonomy area"),
    ("af", "67a8C6KsKn2NyW2Ry", frozenset({"alignment_general"}),
     "causal incentive models 'for addressing misaligned AI incentives' → alignment_general"),
    ("af", "kFm9ZMreqeNYpg8m8", frozenset(),
     "lottery tickets and variance under scaling: deep-learning theory, no safety area"),
    ("af", "fj8eyc7QzqCaB8Wgm", frozenset(),
     "attainable-utility landscape; the summary only sets up a moon analogy, no area stated"),
    ("af", "Pxvq2RMAKCuY6SHm9", frozenset(), "logical counterfactuals as proposition graphs: logic"),
    ("af", "HqLxuZ4LhaFhmAHWk", frozenset({"scalable_oversight"}),
     "'Iterated Distillation and Amplification' → scalable_oversight"),
    ("af", "5bd75cc58225bf0670375549", frozenset(),
     "title only ('Beyond algorithmic equivalence: self-modelling'), no area"),
    # -- Alignment Forum, chosen --
    ("af", "hEtkyKGoPpFeWnKkX", frozenset({"ai_control", "alignment_general"}),
     "'AI Control Roadmap' → ai_control; 'harm a misaligned AI system could cause' → alignment_general"),
    ("af", "F3sDngvTL9uyfz53k", frozenset({"deception_and_scheming", "evaluations"}),
     "'scheming tendencies', sabotage of safeguards → deception_and_scheming; 'evaluating scheming "
     "capabilities', testing models → evaluations"),
    ("af", "2ANCyejqxfqK2obEj", frozenset({"reward_hacking_and_specification_gaming", "alignment_general"}),
     "'Reward Hacking in Non-Production RL' → reward_hacking; 'Emergent Misalignment' → alignment_general"),
    ("af", "mu7eJdesBkKuBycnY", frozenset({"deception_and_scheming", "robustness"}),
     "'Sleeper Agents' replication → deception_and_scheming; backdoor trigger and its removal → robustness"),
    ("af", "SvxaKP5KdkksZPcG7", frozenset({"scalable_oversight"}),
     "'Chain-of-Thought (CoT) monitoring' and its monitorability → scalable_oversight (reward hacking and "
     "scheming are only named as what monitoring catches)"),
    ("af", "CCt9oy8axcdvaGcPE", frozenset({"governance_and_policy"}),
     "'Red Line and Oversight Framework for Government AI Contracts' → governance_and_policy"),
    # -- arXiv --
    ("arxiv", "arxiv:1111.2011", frozenset(), "quantum criticality on a Bethe lattice: physics"),
    ("arxiv", "arxiv:2401.14040", frozenset(),
     "ChatGPT vs BERT for semantic change detection: NLP capability, no safety area"),
    ("arxiv", "arxiv:2507.10541", frozenset(),
     "stress-testing reasoning models on several problems at once: a capability benchmark, not safety"),
    ("arxiv", "arxiv:1709.03221", frozenset({"fairness_and_bias"}),
     "'Fairness Testing: Testing Software for Discrimination' → fairness_and_bias"),
]  # fmt: skip

# Measured with taxonomy 1.0.0: micro precision 0.818 (18/22), recall 0.750 (18/24). Misses: areas named
# only by paraphrase (governance via "geopolitics", evaluations via "testing ... for scheming", fairness via
# "discrimination", bare "alignment"); false positives: areas named only as motivation ("a promising tool
# for AI safety", "catch ... reward hacking and scheming"). The floors sit just under the measurement, so
# a taxonomy change that loses a match or adds a false one fails here.
MIN_MICRO_PRECISION = 0.80
MIN_MICRO_RECALL = 0.70


@cache
def _tagger() -> SafetyTagger:
    return SafetyTagger()


def _af_records() -> dict[str, dict[str, str | None]]:
    path = fixture_dir("alignment_forum") / "alignment-forum-posts.csv.gz"
    with gzip.open(path) as raw:
        rows = csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8"))
        return {r["_id"]: {"title": r["title"], "summary": r["summary"]} for r in rows}


def _arxiv_records() -> dict[str, dict[str, str | None]]:
    from pipelines.sources.base import ParseContext, RawDocument
    from pipelines.sources.registry import get_source

    arxiv = get_source("arxiv")
    out: dict[str, dict[str, str | None]] = {}
    for page in sorted(fixture_dir("arxiv_oai").iterdir()):
        try:
            for table, row in arxiv.parse(
                RawDocument(page.read_bytes(), "", page.name, "file"), ParseContext()
            ):
                if table == "papers":
                    out.setdefault(
                        row["work_id"], {"title": row.get("title"), "abstract": row.get("abstract")}
                    )
        except Exception:
            continue  # the recordings include deliberately broken pages
    return out


@cache
def _records() -> dict[tuple[str, str], dict[str, str | None]]:
    af, arxiv = _af_records(), _arxiv_records()
    out = {}
    for source, record_id, _, _ in LABELLED:
        fields = (af if source == "af" else arxiv).get(record_id)
        assert fields is not None, f"{source} record {record_id} is not in the fixtures"
        out[(source, record_id)] = fields
    return out


def _predicted_areas(fields: dict[str, str | None], record_id: str) -> set[str]:
    return {t.tag.split("/", 1)[1] for t in _tagger().tag(record_id, fields) if t.kind == "area"}


def test_hand_labelled_precision_and_recall() -> None:
    records = _records()
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    mistakes = []
    for source, record_id, expected, reason in LABELLED:
        predicted = _predicted_areas(records[(source, record_id)], record_id)
        for area in predicted & expected:
            tp[area] += 1
        for area in predicted - expected:
            fp[area] += 1
        for area in expected - predicted:
            fn[area] += 1
        if predicted != expected:
            mistakes.append(f"{record_id}: expected {sorted(expected)}, got {sorted(predicted)} ({reason})")
    areas = sorted(set(tp) | set(fp) | set(fn))
    per_area = {
        a: (
            tp[a] / (tp[a] + fp[a]) if tp[a] + fp[a] else 1.0,
            tp[a] / (tp[a] + fn[a]) if tp[a] + fn[a] else 1.0,
        )
        for a in areas
    }
    micro_p = sum(tp.values()) / max(1, sum(tp.values()) + sum(fp.values()))
    micro_r = sum(tp.values()) / max(1, sum(tp.values()) + sum(fn.values()))
    report = "\n".join(
        [f"micro precision {micro_p:.3f} recall {micro_r:.3f}"]
        + [f"  {a}: P {p:.2f} R {r:.2f}" for a, (p, r) in per_area.items()]
        + mistakes
    )
    print(report)
    assert micro_p >= MIN_MICRO_PRECISION, report
    assert micro_r >= MIN_MICRO_RECALL, report


def test_in_scope_on_hand_labelled_set() -> None:
    """Records labelled with no area are out of scope; most labelled ones are in scope."""
    records = _records()
    tagger = _tagger()
    in_scope = {}
    for source, record_id, expected, _ in LABELLED:
        rel = relevance_of(record_id, tagger.tag(record_id, records[(source, record_id)]))
        in_scope[record_id] = (bool(expected), rel.in_scope)
    false_in = [r for r, (want, got) in in_scope.items() if got and not want]
    hits = sum(1 for want, got in in_scope.values() if want and got)
    wanted = sum(1 for want, _ in in_scope.values() if want)
    assert not false_in, false_in
    assert hits / wanted >= 0.7, (hits, wanted, in_scope)


def test_evidence_offsets_are_the_text_slices() -> None:
    records = _records()
    tags = [t for (source, rid), fields in records.items() for t in _tagger().tag(rid, fields)]
    assert tags
    for tag in tags:
        assert tag.evidence
        fields = records[next(k for k in records if k[1] == tag.record_id)]
        for ev in tag.evidence:
            text = fields[ev.field]
            assert text is not None and text[ev.start : ev.end] == ev.text, (tag, ev)
        assert 0 < tag.score <= 1


def _tags(text: str, field: str = "abstract") -> dict[str, Tag]:
    return {t.tag: t for t in _tagger().tag("r", {field: text})}


@pytest.mark.parametrize(
    "text",
    ["Red-Teaming language models", "red teaming language models", "RED TEAMING", "we red-team the model"],
)
def test_hyphen_and_case_variants(text: str) -> None:
    tags = _tags(text)
    assert "area/red_teaming_and_jailbreaks" in tags
    [ev] = tags["area/red_teaming_and_jailbreaks"].evidence
    assert ev.text.lower().replace("-", " ").startswith("red team")


def test_longest_match_wins_within_a_kind() -> None:
    tags = _tags("We study reward model overoptimization. AI safety via debate is a protocol.")
    assert "area/reward_hacking_and_specification_gaming" in tags
    assert "area/rlhf_and_preference_learning" not in tags  # "reward model" is inside the longer span
    assert tags["area/scalable_oversight"].evidence[0].text == "AI safety via debate"
    assert "area/alignment_general" not in tags
    both = _tags("Sparse autoencoders find features.")
    assert {"area/interpretability", "method/sparse_autoencoders"} <= set(both)


def test_case_sensitive_acronyms() -> None:
    assert "benchmark/math" in _tags("Results on the MATH benchmark and GSM8K.")
    assert "benchmark/math" not in _tags("results on the math benchmark")
    assert "benchmark/bbq" in _tags("Bias on BBQ.")
    assert "benchmark/bbq" not in _tags("a bbq in the park")
    assert "benchmark/gsm8k" in _tags("gsm8k accuracy")  # not case-sensitive: any case
    assert "model/claude" in _tags("Claude 3 Opus refuses")
    assert "model/claude" not in _tags("claude refuses")


@pytest.mark.parametrize("value", [None, "", "   ", "\n\t "])
def test_empty_fields_give_no_tags(value: str | None) -> None:
    assert _tagger().tag("r", {"title": value, "abstract": value}) == []
    assert _tagger().tag("r", {}) == []
    assert relevance_of("r", []).in_scope is False


def test_other_scripts_do_not_crash() -> None:
    tags = _tagger().tag(
        "r",
        {
            "title": "大型语言模型的对齐与可解释性研究",
            "abstract": "Исследование интерпретируемости нейронных сетей. AI safety 研究 и jailbreak атаки.",
        },
    )
    assert {t.tag for t in tags} >= {"area/alignment_general", "area/red_teaming_and_jailbreaks"}
    for tag in tags:
        for ev in tag.evidence:
            assert ev.text in ("AI safety", "jailbreak")


def test_output_is_deterministic_and_sorted() -> None:
    fields = {"title": "Jailbreaking GPT-4 and Claude", "abstract": "Red teaming with HarmBench and RLHF."}
    first = [t.as_row() for t in _tagger().tag("r", fields)]
    again = [t.as_row() for t in SafetyTagger().tag("r", dict(reversed(list(fields.items()))))]
    assert first == again
    assert [r["tag"] for r in first] == sorted(r["tag"] for r in first)


def test_rows_carry_versions() -> None:
    [row] = [t.as_row() for t in _tagger().tag("r", {"title": "Mechanistic interpretability"})]
    assert row == {
        "record_id": "r",
        "tag": "area/interpretability",
        "kind": "area",
        "label": "Interpretability",
        "score": 0.9,
        "evidence": [{"field": "title", "start": 0, "end": 28, "text": "Mechanistic interpretability"}],
        "taxonomy_version": load_taxonomy().version,
        "tagger": TAGGER_NAME,
        "tagger_version": TAGGER_VERSION,
    }
    assert load_taxonomy().version == "1.0.0"


def test_score_rises_with_mentions_and_title() -> None:
    once = _tags("We study reward hacking.")["area/reward_hacking_and_specification_gaming"].score
    twice = _tags("Reward hacking, and more reward hacking.")["area/reward_hacking_and_specification_gaming"]
    title = _tags("Reward hacking", field="title")["area/reward_hacking_and_specification_gaming"].score
    other = _tags("Reward hacking", field="body")["area/reward_hacking_and_specification_gaming"].score
    assert other < once < title and once < twice.score <= 1
    assert len(twice.evidence) == 2


def test_tag_many_equals_tag() -> None:
    records = [(rid, fields) for (_, rid), fields in _records().items()]
    records.insert(3, ("empty", {"title": None, "abstract": "  "}))
    one_by_one = [t for rid, fields in records for t in _tagger().tag(rid, fields)]
    for batch_size in (1, 7, 256):
        assert list(_tagger().tag_many(records, batch_size=batch_size)) == one_by_one


def test_relevance() -> None:
    tagger = _tagger()
    benchmark_only = tagger.tag("b", {"title": "MMLU, HellaSwag and GSM8K results for GPT-4 and Llama 3"})
    rel = relevance_of("b", benchmark_only)
    assert 0 < rel.relevance < IN_SCOPE_THRESHOLD and not rel.in_scope and rel.areas == ()
    safety = tagger.tag("s", {"title": "Reward hacking in RLHF", "abstract": "We red-team the reward model."})
    rel = relevance_of("s", safety)
    assert rel.in_scope and rel.relevance >= IN_SCOPE_THRESHOLD
    assert rel.areas[0] == "reward_hacking_and_specification_gaming"
    assert set(rel.areas) == {
        "reward_hacking_and_specification_gaming",
        "rlhf_and_preference_learning",
        "red_teaming_and_jailbreaks",
    }
    assert rel.taxonomy_version == "1.0.0"
    weak = tagger.tag("w", {"abstract": "We measure distribution shift."})
    assert not relevance_of("w", weak).in_scope  # a broad term once is not enough
    assert relevance_of("w", weak, threshold=0.3).in_scope  # the threshold is the caller's: no re-tagging
    assert relevance_of("x", safety).relevance == 0  # another record's tags do not count


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "taxonomy.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('version: "1"\nareas:\n  - {id: a, weight: 0.5, phrases: [x]}\n  - {id: a, weight: 0.5, phrases: [y]}\n',
         "duplicate id 'a'"),
        ('version: "1"\nareas:\n  - {id: a, weight: 0.5}\n', "missing 'phrases'"),
        ('version: "1"\nareas:\n  - {id: a, weight: 0.5, phrases: []}\n', "missing 'phrases'"),
        ('version: "1"\nareas:\n  - {id: a, weight: 1.5, phrases: [x]}\n', "'weight' must be"),
        ('version: "1"\nareas:\n  - {id: a, weight: 0, phrases: [x]}\n', "'weight' must be"),
        ('version: "1"\nareas:\n  - {id: a, phrases: [x]}\n', "'weight' must be"),
        ('areas:\n  - {id: a, weight: 0.5, phrases: [x]}\n', "'version'"),
        ('version: "1"\nareas:\n  - {id: a, weight: 0.5, phrases: [x]}\nartifacts:\n  gadget: []\n',
         "unknown kind 'gadget'"),
        ('version: "1"\nareas: [\n', "cannot read"),
    ],
)  # fmt: skip
def test_taxonomy_errors_name_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(TaxonomyError) as info:
        load_taxonomy(path)
    assert str(path) in str(info.value) and message in str(info.value)


def test_custom_taxonomy(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        'version: "9.9"\nareas:\n  - {id: x, label: X, weight: 1.0, phrases: [foo bar]}\n'
        "artifacts:\n  benchmark:\n    - {id: y, weight: 1.0, case_sensitive: true, phrases: [YB]}\n",
    )
    tagger = SafetyTagger(load_taxonomy(path))
    tags = tagger.tag("r", {"title": "FOO BAR on YB and yb"})
    assert [(t.tag, t.score, t.taxonomy_version) for t in tags] == [
        ("area/x", 1.0, "9.9"),
        ("benchmark/y", 1.0, "9.9"),
    ]
    assert tags[1].evidence == (Evidence("title", 11, 13, "YB"),)


def test_model_entities_are_optional() -> None:
    tagger = SafetyTagger(use_model_entities=True)
    tags = tagger.tag("r", {"title": "Interpretability at OpenAI"})
    assert "area/interpretability" in {t.tag for t in tags}
    if not tagger.model_entities_active:
        assert all(t.kind != "entity" for t in tags)
