"""Attribute tables beside the curated records (dolma's design): tags with evidence, relevance, language.

Each reads the curated `papers` (and `paper_texts`) a record batch at a time and writes its own table, so a
threshold (a tag's score, `in_scope`, a language's confidence) changes in a query, not by re-tagging.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.atomic import atomic_path
from pipelines.curate.combine import connect
from pipelines.curate.language import (
    DETECTOR_NAME,
    DETECTOR_VERSION,
    LANGUAGES,
    LONG_TEXT_CHARS,
    MAX_CHARS,
    MIN_CONFIDENCE,
    LanguageDetector,
    language_rows,
    usable_cores,
)
from pipelines.curate.tagging import (
    TAGGER_VERSION,
    Evidence,
    SafetyTagger,
    Tag,
    Taxonomy,
    load_taxonomy,
    relevance_of,
)
from pipelines.snapshot.parquet import ParquetTableWriter
from schemas import table_spec

BATCH_ROWS = 4096
# The language of a paper's body is judged on its first paragraphs: enough text for a confident guess.
FULL_TEXT_SAMPLE_CHARS = 2000
FULL_TEXT_SAMPLE_PARAGRAPHS = 8
# Bump when write_languages changes what it writes for the same texts and detector.
LANGUAGES_VERSION = "1"

# Record-level reuse. Beside each attribute table, a private ``<table>.keys.parquet`` lists, in the
# table's record order, each record's id, the hash of the exact texts it was judged on, the version of
# what judged them (tagger + taxonomy, or detector + settings) and how many rows it has in the table. A
# later run judges only the records whose texts or version changed and copies the other records' rows
# from the previous table, in the same order, through the same writer calls, so the table is byte-identical
# to a run from scratch. Exact text (not the case- and whitespace-folded ``content_key``) is hashed:
# tags' evidence offsets, case-sensitive phrases and ``n_chars`` depend on the exact characters.
KEYS_SUFFIX = ".keys.parquet"
_KEYS_SCHEMA = pa.schema(
    [
        pa.field("record_id", pa.string(), nullable=False),
        pa.field("key", pa.string(), nullable=False),
        pa.field("version", pa.string(), nullable=False),
        pa.field("rows", pa.int32(), nullable=False),
    ]
)


def keys_path(out: Path) -> Path:
    return out.with_name(out.name + KEYS_SUFFIX)


def text_key(texts: Sequence[str | None]) -> str:
    """BLAKE2b-128 of the exact texts, in order (``None`` and ``""`` differ)."""
    data = "\x1e".join("\x00" if t is None else "\x01" + t for t in texts)
    return hashlib.blake2b(data.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def tagger_version(taxonomy: Taxonomy, model_entities: bool = False) -> str:
    """What tags depend on besides the text: the tagger's version and the whole taxonomy (its version
    and its content, so an edit without a version bump is not missed)."""
    digest = hashlib.blake2b(repr(taxonomy).encode("utf-8"), digest_size=8).hexdigest()
    return f"{TAGGER_VERSION}+taxonomy-{taxonomy.version}-{digest}" + ("+entities" if model_entities else "")


def languages_version(detector: LanguageDetector | None = None) -> str:
    """What language rows depend on besides the text: detector, its settings, the body sample's size."""
    if detector is None:
        settings = f"auto-{MIN_CONFIDENCE}-{','.join(sorted(LANGUAGES))}"
    else:
        settings = f"{detector.mode}-{detector.min_confidence}-{','.join(str(x) for x in detector.languages)}"
    settings += f"-chars-{MAX_CHARS}-{LONG_TEXT_CHARS}"
    digest = hashlib.blake2b(settings.encode("utf-8"), digest_size=8).hexdigest()
    return (
        f"{LANGUAGES_VERSION}+{DETECTOR_NAME}-{DETECTOR_VERSION}-{digest}"
        f"+sample-{FULL_TEXT_SAMPLE_CHARS}-{FULL_TEXT_SAMPLE_PARAGRAPHS}"
    )


class _Previous:
    """A previous output's rows grouped by ``record_id``, read forward only, in the file's order.

    ``take(record_id)`` returns that record's rows if they come next (rows of records skipped over are
    dropped); a record asked for out of order is simply not found. Callers check the count against the
    keys file, so a miss means "judge again", never a wrong row.
    """

    def __init__(self, path: Path | None) -> None:
        self._batches: Iterator[pa.RecordBatch] = (
            pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS)
            if path is not None and path.is_file()
            else iter(())
        )
        self._rows: list[dict[str, Any]] = []
        self._ids: list[str] = []
        self._at = 0

    def _fill(self) -> bool:
        for batch in self._batches:
            if batch.num_rows:
                self._rows = batch.to_pylist()
                self._ids = [r["record_id"] for r in self._rows]
                self._at = 0
                return True
        self._rows, self._ids, self._at = [], [], 0
        return False

    def take(self, record_id: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while True:
            if self._at >= len(self._rows) and not self._fill():
                return out
            current = self._ids[self._at]
            if current == record_id:
                out.append(self._rows[self._at])
                self._at += 1
            elif out or current > record_id:
                return out
            else:
                self._at += 1


class _Reuse:
    """Which records of a new run can take their rows from the previous output (see ``KEYS_SUFFIX``)."""

    def __init__(self, out: Path, version: str, enabled: bool) -> None:
        usable = enabled and out.is_file() and keys_path(out).is_file()
        self.version = version
        self._keys = _Previous(keys_path(out) if usable else None)
        self._rows = _Previous(out if usable else None)
        self.reused = 0
        # The open files above stay readable; without the keys file on disk, a run that fails before
        # writing new keys leaves no keys naming rows they do not describe (the next run judges all).
        keys_path(out).unlink(missing_ok=True)

    def rows(self, record_id: str, key: str) -> list[dict[str, Any]] | None:
        """The previous rows of ``record_id`` when its key and version are unchanged, else ``None``."""
        old = self._keys.take(record_id)
        if len(old) != 1 or old[0]["key"] != key or old[0]["version"] != self.version:
            return None
        rows = self._rows.take(record_id)
        if len(rows) != old[0]["rows"]:
            return None
        self.reused += 1
        return rows


class _KeysWriter:
    def __init__(self, out: Path) -> None:
        self._atomic = atomic_path(keys_path(out))
        self._tmp = self._atomic.__enter__()
        self._writer = pq.ParquetWriter(self._tmp, _KEYS_SCHEMA, compression="zstd")
        self._pending: list[dict[str, Any]] = []
        self.records = 0

    def add(self, record_id: str, key: str, version: str, rows: int) -> None:
        self.records += 1
        self._pending.append({"record_id": record_id, "key": key, "version": version, "rows": rows})
        if len(self._pending) >= BATCH_ROWS * 4:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._writer.write_table(pa.Table.from_pylist(self._pending, schema=_KEYS_SCHEMA))
            self._pending = []

    def close(self, exc: BaseException | None = None) -> None:
        if exc is None:
            self._flush()
        self._writer.close()
        if exc is None:
            self._atomic.__exit__(None, None, None)
        else:
            self._atomic.__exit__(type(exc), exc, exc.__traceback__)


def _windows(items: Iterable[Any], size: int = BATCH_ROWS) -> Iterator[list[Any]]:
    window: list[Any] = []
    for item in items:
        window.append(item)
        if len(window) >= size:
            yield window
            window = []
    if window:
        yield window


def _paper_fields(papers: Path) -> Iterator[dict[str, Any]]:
    if not papers.is_file():
        return
    file = pq.ParquetFile(papers)
    for batch in file.iter_batches(batch_size=BATCH_ROWS, columns=["work_id", "title", "abstract"]):
        yield from batch.to_pylist()


def _tag_from_row(row: dict[str, Any]) -> Tag:
    return Tag(
        row["record_id"],
        row["tag"],
        row["kind"],
        row["label"],
        row["score"],
        tuple(Evidence(**e) for e in row["evidence"] or ()),
        row["taxonomy_version"],
    )


def write_tags(
    papers: Path,
    tags_out: Path,
    relevance_out: Path,
    tagger: SafetyTagger | None = None,
    *,
    taxonomy: Taxonomy | None = None,
    reuse: bool = True,
    stats: dict[str, int] | None = None,
) -> tuple[int, int]:
    """Tag every paper's title and abstract; one `relevance` row per paper (0.0 without tags).

    With ``reuse`` (the default), a paper whose title and abstract are those it had in the previous
    ``tags_out`` under the same tagger and taxonomy keeps its previous tags (read back, not re-tagged);
    the outputs are byte-identical to ``reuse=False`` on the same papers. Without ``tagger``, one is
    made from ``taxonomy`` (default: the project's) when a paper needs tagging. ``stats``, if given, is
    filled with ``records``, ``carried`` (rows read back) and ``judged`` (records tagged).
    """
    if tagger is not None:
        taxonomy = tagger.taxonomy
    taxonomy = taxonomy if taxonomy is not None else load_taxonomy()
    version = taxonomy.version
    reuse_version = tagger_version(taxonomy, tagger.model_entities_active if tagger else False)
    made: list[SafetyTagger] = [tagger] if tagger is not None else []

    def tag_records(todo: list[tuple[str, dict[str, str | None]]]) -> dict[str, list[Tag]]:
        if not made:
            made.append(SafetyTagger(taxonomy))
        return dict(made[0].tag_records(todo))

    previous = _Reuse(tags_out, reuse_version, reuse)
    keys = _KeysWriter(tags_out)
    try:
        with (
            ParquetTableWriter(tags_out, table_spec("tags")) as tags_writer,
            ParquetTableWriter(relevance_out, table_spec("relevance")) as relevance_writer,
        ):
            for window in _windows(_paper_fields(papers)):
                plan: list[tuple[str, str, list[dict[str, Any]] | None]] = []
                todo: list[tuple[str, dict[str, str | None]]] = []
                for p in window:
                    fields = {"title": p["title"], "abstract": p["abstract"]}
                    key = text_key((p["title"], p["abstract"]))
                    rows = previous.rows(p["work_id"], key)
                    plan.append((p["work_id"], key, rows))
                    if rows is None:
                        todo.append((p["work_id"], fields))
                fresh = tag_records(todo) if todo else {}
                for work_id, key, rows in plan:
                    if rows is None:
                        tags = fresh[work_id]
                        rows = [tag.as_row() for tag in tags]
                    else:
                        tags = [_tag_from_row(r) for r in rows]
                    for row in rows:
                        tags_writer.add(row)
                    relevance_writer.add(relevance_of(work_id, tags, taxonomy_version=version).as_row())
                    keys.add(work_id, key, reuse_version, len(rows))
    except BaseException as exc:
        keys.close(exc)
        raise
    keys.close()
    _fill_stats(stats, relevance_writer.rows_written, previous.reused)
    return tags_writer.rows_written, relevance_writer.rows_written


def _text_fields(papers: Path, texts: Path) -> Iterator[tuple[str, str, str | None]]:
    """(work_id, field, text) for title, abstract and a sample of the body, in work id order."""
    con = connect()
    try:
        body = "SELECT NULL::VARCHAR AS work_id, NULL::VARCHAR AS full_text WHERE false"
        if texts.is_file():
            # The first paragraphs of each body, joined.
            body = f"""
                SELECT work_id, left(string_agg(text, ' ' ORDER BY section_index, paragraph_index),
                                     {FULL_TEXT_SAMPLE_CHARS}) AS full_text
                FROM (
                    SELECT work_id, section_index, paragraph_index, text FROM read_parquet('{texts}')
                    WHERE kind = 'paragraph'
                    QUALIFY row_number() OVER (PARTITION BY work_id ORDER BY section_index, paragraph_index)
                        <= {FULL_TEXT_SAMPLE_PARAGRAPHS}
                ) GROUP BY work_id
            """
        reader = con.sql(
            f"""
            SELECT p.work_id, p.title, p.abstract, b.full_text
            FROM read_parquet('{papers}') p LEFT JOIN ({body}) b USING (work_id)
            ORDER BY p.work_id
            """
        ).to_arrow_reader(BATCH_ROWS)
        for batch in reader:
            for row in batch.to_pylist():
                yield row["work_id"], "title", row["title"]
                yield row["work_id"], "abstract", row["abstract"]
                yield row["work_id"], "full_text", row["full_text"]
    finally:
        con.close()


def _record_texts(
    fields: Iterable[tuple[str, str, str | None]],
) -> Iterator[list[tuple[str, str, str | None]]]:
    """``_text_fields``' triples grouped by record (consecutive triples with one work id)."""
    group: list[tuple[str, str, str | None]] = []
    for triple in fields:
        if group and group[0][0] != triple[0]:
            yield group
            group = []
        group.append(triple)
    if group:
        yield group


def write_languages(
    papers: Path,
    texts: Path,
    out: Path,
    detector: LanguageDetector | None = None,
    *,
    reuse: bool = True,
    stats: dict[str, int] | None = None,
) -> int:
    """The language of each paper's title, abstract and body (where it has them).

    With ``reuse`` (the default), a paper whose three texts are those it had in the previous ``out``
    under the same detector and settings keeps its previous rows; only new or changed papers are judged
    (and the detector is loaded only if one is). Byte-identical to ``reuse=False`` on the same inputs.
    ``stats`` as for ``write_tags``.
    """
    reuse_version = languages_version(detector)
    previous = _Reuse(out, reuse_version, reuse)
    keys = _KeysWriter(out)
    made: list[LanguageDetector] = []

    def judge(triples: list[tuple[str, str, str | None]]) -> list[dict[str, Any]]:
        if detector is None and not made:
            made.append(LanguageDetector(parallel=usable_cores() > 1))
        return list(language_rows(triples, detector or made[0]))

    try:
        with ParquetTableWriter(out, table_spec("languages")) as writer:
            if papers.is_file():
                _write_language_rows(_text_fields(papers, texts), previous, writer, keys, judge)
    except BaseException as exc:
        keys.close(exc)
        raise
    keys.close()
    _fill_stats(stats, keys.records, previous.reused)
    return writer.rows_written


def _fill_stats(stats: dict[str, int] | None, records: int, carried: int) -> None:
    if stats is not None:
        stats.update(records=records, carried=carried, judged=records - carried)


def _write_language_rows(
    fields: Iterable[tuple[str, str, str | None]],
    previous: _Reuse,
    writer: ParquetTableWriter,
    keys: _KeysWriter,
    judge: Callable[[list[tuple[str, str, str | None]]], list[dict[str, Any]]],
) -> None:
    for window in _windows(_record_texts(fields)):
        plan: list[tuple[str, str, list[dict[str, Any]] | None]] = []
        todo: list[tuple[str, str, str | None]] = []
        for group in window:
            work_id = group[0][0]
            key = text_key([f"{field}\x1f{text}" if text is not None else None for _, field, text in group])
            rows = previous.rows(work_id, key)
            plan.append((work_id, key, rows))
            if rows is None:
                todo.extend(group)
        fresh: dict[str, list[dict[str, Any]]] = {}
        for row in judge(todo) if todo else ():
            fresh.setdefault(row["record_id"], []).append(row)
        for work_id, key, rows in plan:
            if rows is None:
                rows = fresh.get(work_id, [])
            for row in rows:
                writer.add(row)
            keys.add(work_id, key, previous.version, len(rows))
