"""The language of each text record (title, abstract, full text), detected by Lingua.

**Detector.** `lingua-language-detector <https://github.com/pemistahl/lingua-py>`_ (Apache-2.0, models
inside the wheel, no network): n-gram models plus a rule engine for scripts, offline and deterministic.

**Languages** (``LANGUAGES``): an explicit set of 30 languages likely in research text, not all 75 that
Lingua knows. Fewer candidate languages mean fewer models in memory and fewer scores per text, and
fewer look-alike languages to confuse English with. The trade-off: a text in a language outside the
set is labelled with the nearest language in the set (e.g. Catalan → Spanish, Norwegian → Danish,
Slovak → Czech, Bulgarian → Russian/Ukrainian) or, when the best score is weak, ``und``. For a dataset
of mostly English AI-safety papers that is the right way round: few false non-English labels on
English text, and the main research languages told apart.

**Accuracy mode** (measured on the arXiv fixture abstracts, one core): Lingua's high-accuracy mode
(1- to 5-gram models) holds ~0.5 GB for these 30 languages and is needed for short text; its
low-accuracy mode (trigrams only) holds ~0.08 GB, is a little faster, and Lingua documents that it is
as accurate for text of 120 characters and more. ``mode="auto"`` (the default) therefore sends cleaned
text of at least ``LONG_TEXT_CHARS`` characters to a low-accuracy detector and shorter text (titles) to
a high-accuracy one; each is built on first use, and Lingua loads a language's models lazily (only
when a text in its script needs them), so a process that sees only long text never pays for the large
models; one short text (a title, a one-line abstract) loads them (measured: 0.08 → 0.5 GB peak on the
fixture abstracts, one of which is short). ``mode="low"`` caps memory at the cost of short text: on the
arXiv fixture titles it labels ~8 % of English titles Danish, Spanish, French or Romanian, where the
high-accuracy models label none wrongly (~10 % ``und``).
``with_preloaded_language_models`` is not used: it loads every model at build (seconds and ~0.7 GB)
for no gain once a long run has warmed the lazy loader.

**Cleaning before detection** (``clean_for_detection``; cheap regular expressions, one pass each):
TeX math (``$...$``, ``$$...$$``, ``\\(...\\)``, ``\\[...\\]``), TeX commands (``\\emph``, ``\\cite``)
and braces, URLs and bare host/path links (``github.com/org/repo``), e-mail addresses, and code-ish
tokens (containing ``_``, ``=``, ``<``, ``>``, ``{``, ``}``, ``|``, ``#``, ``@``, a backslash or a
backtick) are replaced by a space. They carry no language and push n-gram detectors towards the wrong
Latin-script language (symbols and identifiers look like random Germanic or Romance n-grams). Text is
then cut to ``MAX_CHARS`` characters (at a space): the language of a full text is that of its start,
and detection time grows with length. 500 characters, not more: on the benchmark corpus's 1 KB abstracts
the cut changes no label against 2,000 characters and takes detection from 2.5 to 1.6 ms a record (title
and abstract, one core); Lingua documents its low-accuracy mode as reliable from 120 characters.

**Cores.** ``parallel=True`` sends each batch through Lingua's multi-threaded API (Rust threads, one per
core; results identical to one thread, since each text is judged on its own). ``write_languages`` turns it
on when the process may use more than one core: language detection is the largest stage of a build, and
the release run's steps otherwise run one at a time.

**No answer.** ``detect`` returns ``None`` when there is nothing to judge: ``None``, empty or
whitespace-only text, or fewer than ``MIN_LETTERS`` letters after cleaning (e.g. ``"$x^2$"``,
``"12 (3)"``). When Lingua's best confidence is below ``MIN_CONFIDENCE`` it returns a guess whose
language is ``und`` (ISO 639-2 "undetermined"), with ``reason="low_confidence"`` and Lingua's best
candidate kept in ``candidate``: arXiv comments such as "7 pages, 4 figures" score ~0.28 French and
are not French. ``language_rows`` writes both cases as ``und``: confidence 0.0 when there was nothing
to judge, the (low) best confidence otherwise.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from lingua import ConfidenceValue
    from lingua import LanguageDetector as LinguaDetector

DETECTOR_NAME = "lingua"
try:
    DETECTOR_VERSION = version("lingua-language-detector")
except PackageNotFoundError:  # pragma: no cover - the package is a dependency
    DETECTOR_VERSION = "absent"

# Lingua's Language member names. Order does not matter.
LANGUAGES: frozenset[str] = frozenset(
    {
        "ENGLISH", "CHINESE", "JAPANESE", "KOREAN", "RUSSIAN", "UKRAINIAN", "GERMAN", "FRENCH",
        "SPANISH", "PORTUGUESE", "ITALIAN", "DUTCH", "POLISH", "CZECH", "TURKISH", "ARABIC",
        "PERSIAN", "HINDI", "BENGALI", "VIETNAMESE", "INDONESIAN", "SWEDISH", "DANISH", "FINNISH",
        "GREEK", "HEBREW", "HUNGARIAN", "ROMANIAN", "THAI", "TAMIL",
    }
)  # fmt: skip

UND = "und"
MIN_LETTERS = 3  # fewer letters than this after cleaning: nothing to judge
MIN_CONFIDENCE = 0.5  # best confidence below this: "und"
LONG_TEXT_CHARS = 120  # cleaned text at least this long goes to the low-accuracy detector in "auto" mode
MAX_CHARS = 500  # detection reads at most this many cleaned characters

Mode = Literal["auto", "high", "low"]

_MATH = re.compile(
    r"\$\$.*?\$\$|\$[^$\n]{0,400}\$|\\\(.*?\\\)|\\\[.*?\\\]|\\begin\{(equation|align|eqnarray)\*?\}.*?\\end\{\1\*?\}",
    re.DOTALL,
)
_URL = re.compile(
    r"(?:https?://|ftp://|www\.)\S+"
    r"|\b[\w.-]+\.(?:com|org|net|io|ai|edu|gov|co|dev|ly|be)/\S*"
    r"|\S+@\S+\.\w+",
    re.IGNORECASE,
)
_TEX_COMMAND = re.compile(r"\\[A-Za-z]+\*?|[{}]")
_CODEISH = re.compile(r"\S*[_=<>|#@\\`]\S*")
_SPACES = re.compile(r"\s+")
_LETTERS = re.compile(rf"(?:[^\W\d_].*?){{{MIN_LETTERS}}}", re.DOTALL)


@dataclass(frozen=True)
class LanguageGuess:
    """One text's language: ISO 639-1 (``language``) and 639-3 codes, or ``und`` for both."""

    language: str
    language_iso639_3: str
    confidence: float
    reason: str | None = None  # "low_confidence" when language is "und"
    candidate: str | None = None  # Lingua's best ISO 639-1 code when language is "und"


def clean_for_detection(text: str) -> str:
    """``text`` without TeX math and commands, URLs, e-mail addresses and code-ish tokens; spaces
    collapsed; at most ``MAX_CHARS`` characters (cut at a space)."""
    if "$" in text or "\\" in text:
        text = _MATH.sub(" ", text)
        text = _TEX_COMMAND.sub(" ", text)
    if "/" in text or "@" in text or "www." in text:
        text = _URL.sub(" ", text)
    text = _CODEISH.sub(" ", text)
    text = _SPACES.sub(" ", text).strip()
    if len(text) > MAX_CHARS:
        cut = text.rfind(" ", 0, MAX_CHARS)
        text = text[: cut if cut > MAX_CHARS // 2 else MAX_CHARS]
    return text


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, where the platform reports it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def has_enough_letters(cleaned: str) -> bool:
    """At least ``MIN_LETTERS`` letters (Unicode ``\\w`` minus digits and ``_``)."""
    return _LETTERS.search(cleaned) is not None


class LanguageDetector:
    """Lingua detectors for ``LANGUAGES``, built once per instance (on first use).

    ``mode``: ``"auto"`` (low accuracy for cleaned text of ``LONG_TEXT_CHARS`` or more, high accuracy
    for shorter text), ``"high"`` or ``"low"`` for every text. ``parallel``: ``detect_many`` uses
    Lingua's multi-threaded batch API (one thread per core, same results); off by default here, and
    turned on by ``write_languages`` where more than one core is available (see ``usable_cores``).
    """

    def __init__(
        self,
        languages: Iterable[str] = LANGUAGES,
        *,
        mode: Mode = "auto",
        min_confidence: float = MIN_CONFIDENCE,
        parallel: bool = False,
    ) -> None:
        from lingua import Language

        self.languages = tuple(sorted(getattr(Language, name) for name in languages))
        if len(self.languages) < 2:
            raise ValueError("Lingua needs at least two languages")
        self.mode: Mode = mode
        self.min_confidence = min_confidence
        self.parallel = parallel
        self._detectors: dict[bool, LinguaDetector] = {}
        self._codes: dict[Any, tuple[str, str]] = {
            lang: (lang.iso_code_639_1.name.lower(), lang.iso_code_639_3.name.lower())
            for lang in self.languages
        }

    def _detector(self, high: bool) -> LinguaDetector:
        detector = self._detectors.get(high)
        if detector is None:
            from lingua import LanguageDetectorBuilder

            builder = LanguageDetectorBuilder.from_languages(*self.languages)
            if not high:
                builder = builder.with_low_accuracy_mode()
            detector = self._detectors[high] = builder.build()
        return detector

    def _high(self, cleaned: str) -> bool:
        return self.mode == "high" or (self.mode == "auto" and len(cleaned) < LONG_TEXT_CHARS)

    def _guess(self, values: Sequence[ConfidenceValue]) -> LanguageGuess | None:
        if not values or values[0].value <= 0.0:
            return None
        best = values[0]
        iso1, iso3 = self._codes[best.language]
        confidence = min(max(float(best.value), 0.0), 1.0)
        if confidence < self.min_confidence:
            return LanguageGuess(UND, UND, confidence, "low_confidence", iso1)
        return LanguageGuess(iso1, iso3, confidence)

    def prepare(self, text: str | None) -> str | None:
        """The cleaned text that would be judged, or ``None`` when there is nothing to judge."""
        if not text or text.isspace():
            return None
        cleaned = clean_for_detection(text)
        return cleaned if has_enough_letters(cleaned) else None

    def detect(self, text: str | None) -> LanguageGuess | None:
        """The language of ``text``; ``None`` when there is nothing to judge (see the module doc)."""
        cleaned = self.prepare(text)
        if cleaned is None:
            return None
        return self._guess(self._detector(self._high(cleaned)).compute_language_confidence_values(cleaned))

    def detect_many(self, texts: Iterable[str | None], batch: int = 1000) -> list[LanguageGuess | None]:
        """``detect`` of each text, in order; with ``parallel=True``, Lingua's threads, ``batch`` texts at a time."""
        if not self.parallel:
            return [self.detect(text) for text in texts]
        out: list[LanguageGuess | None] = []
        chunk: list[str | None] = []
        for text in texts:
            chunk.append(text)
            if len(chunk) >= batch:
                out.extend(self._detect_parallel(chunk))
                chunk = []
        if chunk:
            out.extend(self._detect_parallel(chunk))
        return out

    def _detect_parallel(self, texts: Sequence[str | None]) -> list[LanguageGuess | None]:
        cleaned = [self.prepare(text) for text in texts]
        out: list[LanguageGuess | None] = [None] * len(texts)
        for high in (False, True):
            index = [i for i, c in enumerate(cleaned) if c is not None and self._high(c) == high]
            if not index:
                continue
            values = self._detector(high).compute_language_confidence_values_in_parallel(
                [cleaned[i] or "" for i in index]
            )
            for i, v in zip(index, values, strict=True):
                out[i] = self._guess(v)
        return out


def language_rows(
    records: Iterable[tuple[str, str, str | None]],
    detector: LanguageDetector | None = None,
    batch: int = 1000,
) -> Iterator[dict[str, Any]]:
    """One row per ``(record_id, field, text)`` whose text is not ``None``.

    Columns: ``record_id``, ``field``, ``language`` (ISO 639-1 or ``und``), ``language_iso639_3``,
    ``confidence`` (4 decimals; 0.0 when there was nothing to judge), ``detector``,
    ``detector_version``, ``n_chars`` (characters of the original text). A ``None`` text (the field is
    absent) gives no row.
    """
    detector = detector or LanguageDetector()
    chunk: list[tuple[str, str, str]] = []

    def flush() -> Iterator[dict[str, Any]]:
        guesses = detector.detect_many([text for _, _, text in chunk], batch=batch)
        for (record_id, field, text), guess in zip(chunk, guesses, strict=True):
            yield {
                "record_id": record_id,
                "field": field,
                "language": guess.language if guess else UND,
                "language_iso639_3": guess.language_iso639_3 if guess else UND,
                "confidence": round(guess.confidence, 4) if guess else 0.0,
                "detector": DETECTOR_NAME,
                "detector_version": DETECTOR_VERSION,
                "n_chars": len(text),
            }

    for record_id, field, text in records:
        if text is None:
            continue
        chunk.append((record_id, field, text))
        if len(chunk) >= batch:
            yield from flush()
            chunk = []
    if chunk:
        yield from flush()
