"""Language of text records (``pipelines.curate.language``) and exact-duplicate content keys
(``pipelines.curate.exact_duplicates``), on real recorded text.

Real text comes from the fixtures in ../shared/fixtures, read by path:

- English: titles and abstracts of the arXiv OAI/API recordings (``arxiv_oai``; some files there are
  deliberately broken and are skipped).
- Other languages: the Semantic Scholar paper recording (``semantic_scholar/s2_Paper.json.gz``) lists
  citing and cited papers with real Spanish, Portuguese, German, French, Polish, Hungarian and Chinese
  abstracts (chosen by paper id below, languages checked by hand); and the OpenAlex concept
  "Medicine" (``openalex/openalex_entity_C71924100.json``) carries a one-line description in some 40
  languages keyed by language code, a ready labelled sample. Short sentences in other scripts written
  here (Russian, Arabic) are a secondary check only.
"""

from __future__ import annotations

import gzip
import json
import random
import re
import sys
import unicodedata
from functools import cache
from typing import Any

import pyarrow as pa
import pytest

from pipelines.curate.exact_duplicates import (
    content_key,
    content_keys_column,
    normalise_for_key,
    normalise_for_key_slow,
)
from pipelines.curate.language import (
    DETECTOR_NAME,
    DETECTOR_VERSION,
    LANGUAGES,
    MIN_CONFIDENCE,
    UND,
    LanguageDetector,
    clean_for_detection,
    language_rows,
)
from tests.conftest import fixture_dir

# --------------------------------------------------------------------------- real fixture text


@cache
def _arxiv_papers() -> tuple[tuple[str, str], ...]:
    from pipelines.sources.base import ParseContext, RawDocument
    from pipelines.sources.registry import get_source

    arxiv = get_source("arxiv")
    seen: dict[str, str] = {}
    for page in sorted(fixture_dir("arxiv_oai").iterdir()):
        try:
            for table, row in arxiv.parse(
                RawDocument(page.read_bytes(), "", page.name, "file"), ParseContext()
            ):
                if table == "papers" and row.get("abstract") and row.get("title"):
                    seen.setdefault(str(row["abstract"]), str(row["title"]))
        except Exception:
            continue  # deliberately broken recordings
    return tuple((title, abstract) for abstract, title in seen.items())


def _english_abstracts() -> list[str]:
    abstracts = [a for _, a in _arxiv_papers()]
    assert len(abstracts) >= 50, "expected the arXiv fixtures to hold at least 50 abstracts"
    return abstracts


@cache
def _s2_papers() -> dict[str, dict[str, Any]]:
    path = fixture_dir("semantic_scholar") / "s2_Paper.json.gz"
    paper = json.loads(gzip.decompress(path.read_bytes()))
    return {p["paperId"]: p for p in [paper, *paper["citations"], *paper["references"]] if p.get("paperId")}


# paper id → the language of its abstract (read by hand)
S2_ABSTRACTS = {
    "ea89912b9cb4847592efef29d13490454bc64065": "es",
    "4ef77a06975400a32a28ae6b83a18283a4fe044d": "es",
    "fb2bfe3e0138f103f616822e1ce1e3c9cbd3b5d5": "hu",
    "db77e2916a9dc031d3bd0a0c36627f4e03383f8a": "zh",
    "665693d7fd06545e68ec746a42efccceff40fc0f": "de",
    "f6cd6e23a956e46240b86955e4f37f00ec06b249": "pt",
    "5c2ee6c183538498061540e6d942977a23a2e652": "pt",
    "3052ce26": "pl",  # prefix: resolved below
    "0b969b10": "fr",
}


def _s2_abstract(paper_id: str) -> str:
    papers = _s2_papers()
    matches = [p for pid, p in papers.items() if pid.startswith(paper_id)]
    assert len(matches) == 1, paper_id
    return str(matches[0]["abstract"])


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    return LanguageDetector()


# --------------------------------------------------------------------------- language


def test_languages_are_lingua_languages() -> None:
    from lingua import Language

    assert 20 <= len(LANGUAGES) <= 40
    for name in LANGUAGES:
        assert hasattr(Language, name), name
    assert DETECTOR_NAME == "lingua" and DETECTOR_VERSION[0].isdigit()


def test_english_fixture_abstracts(detector: LanguageDetector) -> None:
    abstracts = _english_abstracts()
    guesses = detector.detect_many(abstracts)
    for text, guess in zip(abstracts, guesses, strict=True):
        assert guess is not None, text[:80]
        assert guess.language == "en", (guess, text[:120])
        assert guess.language_iso639_3 == "eng"
        assert guess.confidence >= 0.9, (guess, text[:120])


def test_english_fixture_titles_never_another_language(detector: LanguageDetector) -> None:
    """Titles are short: some are ``und`` (weak evidence), but none is labelled a wrong language."""
    titles = [t for t, _ in _arxiv_papers()]
    guesses = [detector.detect(t) for t in titles]
    labels = [g.language if g else None for g in guesses]
    assert set(labels) <= {"en", UND}
    assert labels.count("en") >= 0.8 * len(titles)
    for g in guesses:
        assert g is not None
        if g.language == UND:
            assert g.reason == "low_confidence" and g.confidence < MIN_CONFIDENCE and g.candidate


@pytest.mark.parametrize(("paper_id", "language"), sorted(S2_ABSTRACTS.items()))
def test_non_english_fixture_abstracts(detector: LanguageDetector, paper_id: str, language: str) -> None:
    guess = detector.detect(_s2_abstract(paper_id))
    assert guess is not None
    assert guess.language == language
    assert guess.confidence >= 0.9


def test_openalex_descriptions_by_language_code(detector: LanguageDetector) -> None:
    """Descriptions long enough to judge, in a language of ``LANGUAGES``, get their own code."""
    path = fixture_dir("openalex") / "openalex_entity_C71924100.json"
    descriptions: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))["international"][
        "description"
    ]
    from lingua import Language

    ours = {getattr(Language, n).iso_code_639_1.name.lower() for n in LANGUAGES}
    checked = 0
    for code, text in descriptions.items():
        if code in ours and len(text) >= 20:
            guess = detector.detect(text)
            assert guess is not None and guess.language == code, (code, text, guess)
            checked += 1
    assert checked >= 20


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Машинное обучение позволяет компьютерам учиться на данных без явного программирования.", "ru"),
        ("يتيح التعلم الآلي لأجهزة الحاسوب التعلم من البيانات دون برمجة صريحة.", "ar"),
        ("机器学习使计算机能够从数据中学习，而无需明确编程。", "zh"),
        (
            "Maschinelles Lernen ermöglicht es Computern, aus Daten zu lernen, ohne explizit programmiert zu werden.",
            "de",
        ),
    ],
)
def test_short_sentences_in_other_scripts(detector: LanguageDetector, text: str, language: str) -> None:
    guess = detector.detect(text)
    assert guess is not None and guess.language == language


@pytest.mark.parametrize(
    "text", [None, "", "   ", "\n\t\u00a0", "12", "a1", "$x^2$", "12 (3): 45-67", "https://x.org/a_b"]
)
def test_nothing_to_judge_is_none(detector: LanguageDetector, text: str | None) -> None:
    assert detector.detect(text) is None


def test_low_confidence_is_und(detector: LanguageDetector) -> None:
    guess = detector.detect("7 pages, 4 figures")  # a real arXiv comment; Lingua's best is ~0.28 French
    assert guess is not None
    assert (guess.language, guess.language_iso639_3, guess.reason) == (UND, UND, "low_confidence")
    assert guess.candidate is not None and 0.0 < guess.confidence < MIN_CONFIDENCE


def test_math_heavy_text(detector: LanguageDetector) -> None:
    abstract = next(a for a in _english_abstracts() if len(a) > 300)
    words = abstract.split()
    math = r"$\mathcal{L}(\theta) = \sum_{i=1}^{n} \log p_\theta(x_i \mid z_i)$"
    mixed = " ".join(
        w + (f" {math} \\cite{{ref_{i}}} x_i=y_j" if i % 4 == 0 else "") for i, w in enumerate(words)
    )
    cleaned = clean_for_detection(mixed)
    assert "$" not in cleaned and "\\" not in cleaned and "x_i" not in cleaned
    guess = detector.detect(mixed)
    assert guess is not None and guess.language == "en" and guess.confidence >= 0.9


def test_cleaning_removes_urls_and_code() -> None:
    text = "See https://github.com/org/repo and huggingface.co/u/m or mail a@b.org; run `pip install x` with foo_bar=1."
    cleaned = clean_for_detection(text)
    for gone in ("https", "github.com", "huggingface.co", "a@b.org", "foo_bar", "`"):
        assert gone not in cleaned
    assert cleaned.startswith("See") and "and" in cleaned


def test_modes_agree_on_abstracts() -> None:
    abstracts = _english_abstracts()[:40]
    for mode in ("high", "low"):
        guesses = LanguageDetector(mode=mode).detect_many(abstracts)
        assert all(g is not None and g.language == "en" for g in guesses), mode


def test_parallel_equals_sequential() -> None:
    texts: list[str | None] = [
        *_english_abstracts()[:30],
        None,
        "",
        _s2_abstract("0b969b10"),
        "7 pages, 4 figures",
    ]
    texts += [t for t, _ in _arxiv_papers()[:10]]
    sequential = LanguageDetector().detect_many(texts)
    parallel = LanguageDetector(parallel=True).detect_many(texts, batch=7)
    assert [(g.language, g.reason) if g else None for g in parallel] == [
        (g.language, g.reason) if g else None for g in sequential
    ]
    for p, s in zip(parallel, sequential, strict=True):
        if p and s:
            assert p.confidence == pytest.approx(s.confidence, abs=1e-9)


def test_language_rows(detector: LanguageDetector) -> None:
    abstract = _english_abstracts()[0]
    records = [
        ("arxiv:1", "abstract", abstract),
        ("arxiv:1", "title", None),
        ("arxiv:2", "abstract", "   "),
        ("s2:3", "abstract", _s2_abstract("665693d7")),
        ("arxiv:4", "comments", "7 pages, 4 figures"),
    ]
    rows = list(language_rows(records, detector, batch=2))
    assert [(r["record_id"], r["field"]) for r in rows] == [
        ("arxiv:1", "abstract"),
        ("arxiv:2", "abstract"),
        ("s2:3", "abstract"),
        ("arxiv:4", "comments"),
    ]
    keys = {
        "record_id",
        "field",
        "language",
        "language_iso639_3",
        "confidence",
        "detector",
        "detector_version",
        "n_chars",
    }
    assert all(set(r) == keys for r in rows)
    en, blank, de, comment = rows
    assert (en["language"], en["language_iso639_3"], en["n_chars"]) == ("en", "eng", len(abstract))
    assert en["confidence"] == round(en["confidence"], 4) and 0.9 <= en["confidence"] <= 1.0
    assert (blank["language"], blank["language_iso639_3"], blank["confidence"], blank["n_chars"]) == (
        UND,
        UND,
        0.0,
        3,
    )
    assert (de["language"], de["language_iso639_3"]) == ("de", "deu")
    assert comment["language"] == UND and 0.0 < comment["confidence"] < MIN_CONFIDENCE
    assert {r["detector"] for r in rows} == {"lingua"}
    assert {r["detector_version"] for r in rows} == {DETECTOR_VERSION}


# --------------------------------------------------------------------------- exact-duplicate keys


def test_key_shape_and_empty() -> None:
    key = content_key("Attention is all you need")
    assert key is not None and re.fullmatch(r"[0-9a-f]{32}", key)
    for empty in (None, "", " ", "\n\t \u00a0\u3000"):
        assert content_key(empty) is None


@pytest.mark.parametrize(
    "variant",
    [
        "Efficient   fine-tuning\nof  LLMs",  # whitespace runs, newline
        "EFFICIENT FINE-TUNING OF LLMS",  # case
        "  Efficient fine-tuning of LLMs \t",  # leading / trailing
        "Efficient \ufb01ne-tuning of LLMs",  # "ﬁ" ligature
        "Ｅｆｆｉｃｉｅｎｔ fine-tuning of ＬＬＭｓ",  # full-width letters
        "Efficient\u00a0fine-tuning\u2009of\u3000LLMs",  # no-break, thin and ideographic spaces
    ],
)
def test_same_key_for_variants(variant: str) -> None:
    assert content_key(variant) == content_key("efficient fine-tuning of llms")
    assert normalise_for_key(variant) == "efficient fine-tuning of llms"


def test_casefold_beyond_lower() -> None:
    assert content_key("STRASSE") == content_key("Straße")
    assert content_key("ΟΔΟΣ") == content_key("οδος") == content_key("οδοσ")


def test_different_text_different_key() -> None:
    abstracts = _english_abstracts()
    keys = [content_key(a) for a in abstracts]
    assert len(set(keys)) == len(abstracts)
    assert content_key("fine-tuning") != content_key("finetuning")  # punctuation is kept
    assert content_key("e\u0301") == content_key("\u00e9")  # NFKC composes ...
    assert content_key("e") != content_key("\u00e9")  # ... it does not strip accents


def test_ascii_fast_path_claims() -> None:
    """For every ASCII character NFKC is the identity and casefold equals lower."""
    for i in range(128):
        c = chr(i)
        assert unicodedata.normalize("NFKC", c) == c
        assert c.casefold() == c.lower()


def test_whitespace_definition_over_all_code_points() -> None:
    """``str.split()`` splits on exactly the characters ``\\s`` matches, i.e. ``str.isspace()``."""
    space = re.compile(r"\s")
    for cp in range(sys.maxunicode + 1):
        c = chr(cp)
        is_space = c.isspace()
        assert is_space == bool(space.fullmatch(c)), hex(cp)
        assert ("a" + c + "b").split() == (["a", "b"] if is_space else ["a" + c + "b"]), hex(cp)


def _regex_definition(text: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text).casefold()).strip()


def test_fast_path_equals_slow_path_on_fixture_texts() -> None:
    texts = [t for pair in _arxiv_papers() for t in pair]
    texts += [str(p.get("abstract") or "") for p in _s2_papers().values()]
    texts += [str(p.get("title") or "") for p in _s2_papers().values()]
    assert len(texts) > 200
    for text in texts:
        assert normalise_for_key(text) == normalise_for_key_slow(text) == _regex_definition(text)


def test_fast_path_equals_slow_path_on_random_strings() -> None:
    """Seeded random strings (hypothesis is not installed): ASCII with all control and space characters,
    and mixed Unicode from the planes and blocks that matter (Latin-1, compatibility forms, spaces)."""
    rng = random.Random(20240601)
    pools = [
        [chr(i) for i in range(128)],
        [chr(i) for i in range(0x3000)]
        + [chr(i) for i in range(0xFB00, 0xFB50)]
        + [chr(i) for i in range(0xFF00, 0xFFF0)],
        [chr(i) for i in range(0x10000) if not 0xD800 <= i < 0xE000] + ["\U0001d400", "\U0001f600"],
    ]
    for _ in range(3000):
        pool = rng.choice(pools)
        text = "".join(rng.choice(pool) for _ in range(rng.randint(0, 40)))
        assert normalise_for_key(text) == normalise_for_key_slow(text) == _regex_definition(text), repr(text)
        key = content_key(text)
        assert (key is None) == (normalise_for_key_slow(text) == "")


def test_keys_column() -> None:
    texts = [*_english_abstracts()[:20], None, "", "  "]
    expected = [content_key(t) for t in texts]
    assert content_keys_column(texts) == expected
    assert content_keys_column(pa.array(texts, pa.string())) == expected
    assert content_keys_column(pa.chunked_array([pa.array(texts[:5]), pa.array(texts[5:])])) == expected
