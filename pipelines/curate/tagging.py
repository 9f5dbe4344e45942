"""Safety tagging with evidence: which AI-safety research areas, benchmarks, datasets, models and methods a
record (a paper's title and abstract, a forum post's title and summary) mentions, and where.

Design
------
- **A taxonomy, versioned, kept apart from the code.** ``safety_taxonomy.yaml`` lists the areas and the
  artifacts (benchmarks, datasets, models, methods), each with phrases and a weight. Its ``version`` is
  written in every row, beside the tagger's name and version, so rows made under an older taxonomy can be
  found and re-tagged, and two releases can say why they disagree.
- **Matching, not guessing.** spaCy's tokenizer (``spacy.blank("en")``: no statistical model, no download)
  and two ``PhraseMatcher``\\ s: one on the token's lower-case form, one on its exact spelling for entries
  marked ``case_sensitive`` (acronyms that are also words: ``MATH``, ``BBQ``, ``Claude``). Phrases are
  tokenised by the same tokenizer as the text, so ``red-teaming`` (``red - teaming``) and ``red teaming``
  are matched as written in the taxonomy, whatever the case. One change to the tokenizer's suffix rules
  (``_consistent_suffixes``) makes names with digits (GSM8K, Llama-3.1-8B) tokenise the same before a
  space and before a full stop. Overlapping matches of one kind keep the
  longest ("reward model overoptimization" is reward hacking, not also a mention of a reward model); an
  area and an artifact may share a span ("sparse autoencoders" is an interpretability area mention and a
  method).
- **Evidence.** Every tag carries its mentions: the field, the character offsets into that field's text,
  and the text itself (``text == field_text[start:end]``), so a reader can check each tag.
- **Attributes apart from records** (as Dolma's attribute files are): tagging writes a table of
  ``(record_id, tag, score, evidence, taxonomy_version, ...)`` rows and never a verdict into the records.
  Whether a paper is in scope (``relevance_of``) is computed from those rows with a threshold, so the
  threshold can change without re-tagging, and tagging can change without touching the records.

Scores
------
A tag's score is ``1 - prod(1 - weight * field_factor)`` over its mentions: ``weight`` is the entry's (how
strongly one mention signals it), ``field_factor`` is 1.0 in a title, 0.8 in an abstract or summary, 0.6
elsewhere. More mentions and a mention in the title raise the score; it stays in [0, 1]. Rounded to 4
decimals so that rows are byte-stable.

Relevance (``relevance_of``) is ``1 - prod(1 - score)`` over the *area* tags, combined with a small
contribution of the artifacts (each artifact adds ``ARTIFACT_FACTOR * score``, all of them together at
most ``ARTIFACT_CAP``, below the threshold): a paper that only reports MMLU is not safety research, but a
paper with a weak area signal *and* HarmBench results is more likely to be. ``in_scope`` is
``relevance >= IN_SCOPE_THRESHOLD`` (0.5): one specific area mention in an abstract (weight >= 0.65) is
enough; a broad term (robustness, fairness, privacy) must occur twice, or once in the title and once more.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import yaml

TAXONOMY_PATH = Path(__file__).with_name("safety_taxonomy.yaml")
TAGGER_NAME = "spacy-phrasematcher"
TAGGER_VERSION = "1"

AREA = "area"
ARTIFACT_KINDS = ("benchmark", "dataset", "model", "method")
ENTITY = "entity"
KINDS = (AREA, *ARTIFACT_KINDS)

FIELD_FACTORS: Mapping[str, float] = {"title": 1.0, "abstract": 0.8, "summary": 0.8, "tldr": 0.8}
OTHER_FIELD_FACTOR = 0.6

IN_SCOPE_THRESHOLD = 0.5
ARTIFACT_FACTOR = 0.1
ARTIFACT_CAP = 0.2
ENTITY_SCORE = 0.05


class TaxonomyError(ValueError):
    """A malformed taxonomy file; the message names the file and the entry."""


@dataclass(frozen=True)
class TaxonomyEntry:
    id: str
    kind: str
    label: str
    phrases: tuple[str, ...]
    weight: float
    case_sensitive: bool = False

    @property
    def tag(self) -> str:
        return f"{self.kind}/{self.id}"


@dataclass(frozen=True)
class Taxonomy:
    version: str
    entries: tuple[TaxonomyEntry, ...]

    def by_tag(self) -> dict[str, TaxonomyEntry]:
        return {e.tag: e for e in self.entries}


def _entry(raw: object, kind: str, where: str, path: Path) -> TaxonomyEntry:
    if not isinstance(raw, Mapping):
        raise TaxonomyError(f"{path}: {where}: an entry must be a mapping, got {type(raw).__name__}")
    entry_id = raw.get("id")
    if not isinstance(entry_id, str) or not entry_id.strip():
        raise TaxonomyError(f"{path}: {where}: missing or empty 'id'")
    where = f"{where} ({kind}/{entry_id})"
    unknown = set(raw) - {"id", "label", "phrases", "weight", "case_sensitive"}
    if unknown:
        raise TaxonomyError(f"{path}: {where}: unknown keys {sorted(unknown)}")
    label = raw.get("label", entry_id)
    if not isinstance(label, str) or not label.strip():
        raise TaxonomyError(f"{path}: {where}: 'label' must be a non-empty string")
    phrases = raw.get("phrases")
    if not isinstance(phrases, list) or not phrases:
        raise TaxonomyError(f"{path}: {where}: missing 'phrases' (a non-empty list)")
    cleaned = []
    for phrase in phrases:
        if not isinstance(phrase, str) or not phrase.strip():
            raise TaxonomyError(f"{path}: {where}: phrase {phrase!r} is not a non-empty string")
        cleaned.append(phrase.strip())
    weight = raw.get("weight")
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 < weight <= 1:
        raise TaxonomyError(f"{path}: {where}: 'weight' must be a number in (0, 1], got {weight!r}")
    case_sensitive = raw.get("case_sensitive", False)
    if not isinstance(case_sensitive, bool):
        raise TaxonomyError(f"{path}: {where}: 'case_sensitive' must be true or false")
    return TaxonomyEntry(
        id=entry_id.strip(),
        kind=kind,
        label=label.strip(),
        phrases=tuple(dict.fromkeys(cleaned)),
        weight=float(weight),
        case_sensitive=case_sensitive,
    )


def load_taxonomy(path: Path | str = TAXONOMY_PATH) -> Taxonomy:
    """Read and validate a taxonomy file; ``TaxonomyError`` naming the file for anything malformed."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise TaxonomyError(f"{path}: cannot read the taxonomy: {exc}") from exc
    if not isinstance(data, Mapping):
        raise TaxonomyError(f"{path}: the taxonomy must be a mapping with 'version', 'areas', 'artifacts'")
    version = data.get("version")
    if not isinstance(version, str) or not version.strip():
        raise TaxonomyError(f"{path}: 'version' must be a non-empty string (quote it: \"1.0.0\")")
    areas = data.get("areas")
    if not isinstance(areas, list) or not areas:
        raise TaxonomyError(f"{path}: 'areas' must be a non-empty list")
    artifacts = data.get("artifacts", {})
    if not isinstance(artifacts, Mapping):
        raise TaxonomyError(f"{path}: 'artifacts' must be a mapping of kind to a list of entries")
    entries = [_entry(raw, AREA, f"areas[{i}]", path) for i, raw in enumerate(areas)]
    for kind, items in artifacts.items():
        if kind not in ARTIFACT_KINDS:
            raise TaxonomyError(
                f"{path}: artifacts: unknown kind {kind!r} (expected one of {ARTIFACT_KINDS})"
            )
        if not isinstance(items, list):
            raise TaxonomyError(f"{path}: artifacts.{kind} must be a list of entries")
        entries += [_entry(raw, kind, f"artifacts.{kind}[{i}]", path) for i, raw in enumerate(items)]
    seen: set[str] = set()
    for entry in entries:
        if entry.tag in seen:
            raise TaxonomyError(f"{path}: duplicate id {entry.id!r} in {entry.kind!r}")
        seen.add(entry.tag)
    return Taxonomy(version.strip(), tuple(entries))


@dataclass(frozen=True)
class Evidence:
    """One mention: ``text == field_text[start:end]`` (character offsets into that field's text)."""

    field: str
    start: int
    end: int
    text: str

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.field, "start": self.start, "end": self.end, "text": self.text}


@dataclass(frozen=True)
class Tag:
    record_id: str
    tag: str
    kind: str
    label: str
    score: float
    evidence: tuple[Evidence, ...]
    taxonomy_version: str

    def as_row(self) -> dict[str, Any]:
        return {
            "record_id": self.record_id,
            "tag": self.tag,
            "kind": self.kind,
            "label": self.label,
            "score": self.score,
            "evidence": [e.as_dict() for e in self.evidence],
            "taxonomy_version": self.taxonomy_version,
            "tagger": TAGGER_NAME,
            "tagger_version": TAGGER_VERSION,
        }


def field_factor(name: str) -> float:
    return FIELD_FACTORS.get(name, OTHER_FIELD_FACTOR)


def combine(probabilities: Iterable[float]) -> float:
    """``1 - prod(1 - p)``: the chance at least one signal is right, if they were independent."""
    return 1.0 - math.prod(1.0 - min(max(p, 0.0), 1.0) for p in probabilities)


def _longest(spans: Iterable[tuple[int, int]]) -> set[tuple[int, int]]:
    """The longest non-overlapping token spans (earlier first among equals), as ``spacy.util.filter_spans``."""
    kept: set[tuple[int, int]] = set()
    taken: set[int] = set()
    for start, end in sorted(set(spans), key=lambda s: (s[0] - s[1], s[0])):
        if not taken.intersection(range(start, end)):
            kept.add((start, end))
            taken.update(range(start, end))
    return kept


@dataclass
class _Mentions:
    entry: TaxonomyEntry
    evidence: list[Evidence] = field(default_factory=list)


def _consistent_suffixes(nlp: Any) -> None:
    """Make names with digits tokenise the same wherever they stand.

    spaCy's English suffix rules split a unit after a number ("GSM8K" is ``GSM8 K`` before a space but one
    token before a full stop) and keep a full stop after an upper-case letter ("8B." stays one token). For
    matching names like GSM8K, Llama-3.1-8B or GPT-4o that is noise: drop the units rule (keeping ``%``) and
    split a full stop after digit-then-letter, so a name's tokens do not depend on what follows it.
    """
    from spacy.util import compile_suffix_regex

    suffixes = [s for s in nlp.Defaults.suffixes if "km²" not in s]
    suffixes += [r"(?<=[0-9])%", r"(?<=[0-9][A-Za-z])\."]
    nlp.tokenizer.suffix_search = compile_suffix_regex(suffixes).search


class SafetyTagger:
    """Tags records from a taxonomy with spaCy's tokenizer and ``PhraseMatcher`` (no statistical model)."""

    def __init__(self, taxonomy: Taxonomy | None = None, *, use_model_entities: bool = False) -> None:
        import spacy
        from spacy.matcher import PhraseMatcher
        from spacy.tokenizer import Tokenizer

        self.taxonomy = taxonomy if taxonomy is not None else load_taxonomy()
        self.nlp = spacy.blank("en")  # tokenizer only: a blank pipeline has no components to disable
        _consistent_suffixes(self.nlp)
        self.tokenizer = cast(Tokenizer, self.nlp.tokenizer)
        self._entries = self.taxonomy.by_tag()
        self._lower = PhraseMatcher(self.nlp.vocab, attr="LOWER")
        self._orth = PhraseMatcher(self.nlp.vocab, attr="ORTH")
        for tag, entry in self._entries.items():
            matcher = self._orth if entry.case_sensitive else self._lower
            matcher.add(tag, list(self.tokenizer.pipe(entry.phrases)))
        self._model: Any = None
        if use_model_entities:
            try:
                self._model = spacy.load("en_core_web_sm", exclude=["lemmatizer", "parser"])
            except (OSError, ImportError):
                self._model = None  # optional: without the model there are no entity tags

    @property
    def model_entities_active(self) -> bool:
        return self._model is not None

    def _mentions(self, doc: Any, field_name: str, found: dict[str, _Mentions]) -> None:
        strings = self.nlp.vocab.strings
        by_kind: dict[str, list[tuple[str, int, int]]] = {}
        for matcher in (self._lower, self._orth):
            for match_id, start, end in matcher(doc):
                tag = strings[match_id]
                by_kind.setdefault(self._entries[tag].kind, []).append((tag, start, end))
        for matches in by_kind.values():
            keep = _longest((s, e) for _, s, e in matches)
            for tag, start, end in matches:
                if (start, end) in keep:
                    span = doc[start:end]
                    mention = found.setdefault(tag, _Mentions(self._entries[tag]))
                    mention.evidence.append(Evidence(field_name, span.start_char, span.end_char, span.text))

    def _tags(self, record_id: str, found: Mapping[str, _Mentions]) -> list[Tag]:
        tags = []
        for tag, mentions in found.items():
            evidence = tuple(sorted(set(mentions.evidence), key=lambda e: (e.field, e.start, e.end)))
            weight = mentions.entry.weight
            score = round(combine(weight * field_factor(e.field) for e in evidence), 4)
            tags.append(
                Tag(
                    record_id,
                    tag,
                    mentions.entry.kind,
                    mentions.entry.label,
                    score,
                    evidence,
                    self.taxonomy.version,
                )
            )
        return sorted(tags, key=lambda t: t.tag)

    def _entity_tags(self, record_id: str, fields: Sequence[tuple[str, str]]) -> list[Tag]:
        found: dict[str, list[Evidence]] = {}
        labels: dict[str, str] = {}
        for name, text in fields:
            for ent in self._model(text).ents:
                if ent.label_ in ("ORG", "PRODUCT"):
                    key = f"{ENTITY}/{ent.text.lower()}"
                    labels.setdefault(key, ent.text)
                    found.setdefault(key, []).append(Evidence(name, ent.start_char, ent.end_char, ent.text))
        return [
            Tag(record_id, key, ENTITY, labels[key], ENTITY_SCORE, tuple(ev), self.taxonomy.version)
            for key, ev in found.items()
        ]

    @staticmethod
    def _fields(fields: Mapping[str, str | None]) -> list[tuple[str, str]]:
        return [(name, text) for name, text in fields.items() if isinstance(text, str) and text.strip()]

    def tag(self, record_id: str, fields: Mapping[str, str | None]) -> list[Tag]:
        """The tags of one record; ``fields`` maps a field name (title, abstract, ...) to its text."""
        return next(self._batch([(record_id, fields)], batch_size=1))[1]

    def tag_many(
        self, records: Iterable[tuple[str, Mapping[str, str | None]]], batch_size: int = 256
    ) -> Iterator[Tag]:
        """The tags of many records, in their order (each record's sorted by tag); tokenised in batches."""
        for _, tags in self._batch(records, batch_size):
            yield from tags

    def tag_records(
        self, records: Iterable[tuple[str, Mapping[str, str | None]]], batch_size: int = 256
    ) -> Iterator[tuple[str, list[Tag]]]:
        """``(record_id, tags)`` for every record in order, records without tags included."""
        return self._batch(records, batch_size)

    def _batch(
        self, records: Iterable[tuple[str, Mapping[str, str | None]]], batch_size: int
    ) -> Iterator[tuple[str, list[Tag]]]:
        chunk: list[tuple[str, list[tuple[str, str]]]] = []
        for record_id, fields in records:
            chunk.append((record_id, self._fields(fields)))
            if len(chunk) >= batch_size:
                yield from self._run(chunk, batch_size)
                chunk = []
        if chunk:
            yield from self._run(chunk, batch_size)

    def _run(
        self, chunk: Sequence[tuple[str, list[tuple[str, str]]]], batch_size: int
    ) -> Iterator[tuple[str, list[Tag]]]:
        texts = (text for _, fields in chunk for _, text in fields)
        docs = iter(self.tokenizer.pipe(texts, batch_size=batch_size))
        for record_id, fields in chunk:
            found: dict[str, _Mentions] = {}
            for name, _ in fields:
                self._mentions(next(docs), name, found)
            tags = self._tags(record_id, found)
            if self._model is not None and fields:
                tags = sorted(tags + self._entity_tags(record_id, fields), key=lambda t: t.tag)
            yield record_id, tags


@dataclass(frozen=True)
class Relevance:
    record_id: str
    relevance: float
    in_scope: bool
    areas: tuple[str, ...]
    taxonomy_version: str

    def as_row(self) -> dict[str, Any]:
        return {
            "record_id": self.record_id,
            "relevance": self.relevance,
            "in_scope": self.in_scope,
            "areas": list(self.areas),
            "taxonomy_version": self.taxonomy_version,
        }


def relevance_of(
    record_id: str,
    tags: Iterable[Tag],
    threshold: float = IN_SCOPE_THRESHOLD,
    taxonomy_version: str | None = None,
) -> Relevance:
    """How likely a record is AI-safety research, from its tags (see the module's docstring).

    ``areas`` are the record's area ids, highest score first. ``taxonomy_version``: the tags' (or the
    argument's when there are no tags; else the current taxonomy's is not looked up: ``""``).
    """
    tags = [t for t in tags if t.record_id == record_id]
    area_tags = sorted((t for t in tags if t.kind == AREA), key=lambda t: (-t.score, t.tag))
    area_part = combine(t.score for t in area_tags)
    artifact_part = min(
        ARTIFACT_CAP, combine(ARTIFACT_FACTOR * t.score for t in tags if t.kind in ARTIFACT_KINDS)
    )
    relevance = round(combine((area_part, artifact_part)), 4)
    versions = {t.taxonomy_version for t in tags}
    version = taxonomy_version or (min(versions) if versions else "")
    return Relevance(
        record_id,
        relevance,
        relevance >= threshold,
        tuple(t.tag.split("/", 1)[1] for t in area_tags),
        version,
    )
