"""Scale corpus: OAI-PMH ``ListRecords`` pages in the ``arXiv`` metadata format, grown from the real fixtures.

The real recorded records in ``../shared/fixtures/arxiv_oai`` are the templates: each is serialised once
with lxml, keeping its exact structure (element order, optional elements, namespaces, whitespace), and
the varying fields become slots. A generated record is a template with new values in its slots:

- a unique new-style arXiv id (``YYMM.NNNNN``), spread over consecutive months like live arXiv;
- dates that agree with the id: ``created`` in the id's month, ``updated`` later (where the template has
  one), the OAI ``datestamp`` on or after both;
- a title and abstract drawn from the template's own words (resampled, so texts differ record to record
  while keeping the template's vocabulary and length), and a DOI made unique where the template has one.

Generation is deterministic: the same parameters and fixtures give byte-identical pages. Pages hold
1,000 records each, like live arXiv, with ``responseDate`` and a ``resumptionToken`` (empty on the last
page). A stamp (``.corpus.json``, hidden so that the pipeline's folder scan skips it) records the
parameters; a later call with the same parameters reuses the corpus instead of writing it again.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from lxml import etree

GENERATOR_VERSION = "1"
PAGE_SIZE = 1000
DEFAULT_SEED = 20251124
RECORDS_PER_MONTH = 20_000  # about arXiv's monthly volume; 1,000,000 records span 50 months
FIRST_MONTH = (2019, 1)
STAMP_NAME = ".corpus.json"

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FIXTURES = PROJECT_ROOT.parent / "shared" / "fixtures"
# Real OAI-PMH responses in the arXiv metadata format (see ../shared/fixtures/MANIFEST.tsv).
TEMPLATE_FILES = (
    "hepcrawl_oai_sample_arxiv_record_12recs.xml",
    "hepcrawl_oai_ListRecords_arXiv_hep-ex.xml",
    "hepcrawl_oai_GetRecord_arXiv_1401.2122.xml",
)

OAI_NS = "http://www.openarchives.org/OAI/2.0/"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
OAI_BASE_URL = "http://export.arxiv.org/oai2"
_SLOT = "\ue000"  # private-use character marking a slot in a serialised template


class FixturesMissing(SystemExit):
    """The fixture folder the generator grows its corpus from is absent."""


def default_bench_dir() -> Path:
    return Path(os.environ.get("COMMONS_BENCH_DIR") or "/tmp/commons-bench")


def fixtures_dir() -> Path:
    return Path(os.environ.get("COMMONS_FIXTURES") or DEFAULT_FIXTURES) / "arxiv_oai"


@dataclass(frozen=True)
class CorpusSpec:
    records: int
    seed: int = DEFAULT_SEED
    page_size: int = PAGE_SIZE

    @property
    def pages(self) -> int:
        return -(-self.records // self.page_size)


@dataclass(frozen=True)
class Corpus:
    path: Path
    records: int
    pages: int
    bytes: int
    generated: bool  # False when an existing corpus was reused
    seconds: float

    def page_files(self) -> list[Path]:
        return sorted(self.path.glob("page-*.xml"))


@dataclass(frozen=True)
class RecordTemplate:
    """One real record, serialised, with its varying fields turned into slots."""

    source: str  # fixture file and original arXiv id, for the stamp
    pieces: tuple[str, ...]  # literal text and slot names, alternating: text, slot, text, slot, ..., text
    title_words: tuple[str, ...]  # XML-escaped
    abstract_words: tuple[str, ...]  # XML-escaped
    abstract_indent: str
    has_updated: bool
    doi: str | None  # XML-escaped


def _child(parent: Any, name: str) -> Any:
    """The first child element called ``name`` (any namespace), or None."""
    for child in parent:
        if isinstance(child.tag, str) and etree.QName(child).localname == name:
            return child
    return None


def _slot(name: str) -> str:
    return f"{_SLOT}{name}{_SLOT}"


def _record_template(record: Any, fixture: str) -> RecordTemplate | None:
    header = _child(record, "header")
    metadata = _child(record, "metadata")
    body = _child(metadata, "arXiv") if metadata is not None else None
    if header is None or body is None or header.get("status") == "deleted":
        return None
    elements = {name: _child(body, name) for name in ("id", "created", "updated", "title", "abstract", "doi")}
    identifier, datestamp = _child(header, "identifier"), _child(header, "datestamp")
    if (
        identifier is None
        or datestamp is None
        or any(elements[n] is None for n in ("id", "title", "abstract"))
    ):
        return None
    original_id = (elements["id"].text or "").strip()
    title_words = tuple(escape(w) for w in (elements["title"].text or "").split())
    abstract_text = elements["abstract"].text or ""
    abstract_words = tuple(escape(w) for w in abstract_text.split())
    if not title_words or not abstract_words:
        return None
    indent = abstract_text[: len(abstract_text) - len(abstract_text.lstrip(" "))]
    doi_el = elements["doi"]
    doi = escape(doi_el.text.strip()) if doi_el is not None and doi_el.text and doi_el.text.strip() else None

    identifier.text = f"oai:arXiv.org:{_slot('id')}"
    datestamp.text = _slot("datestamp")
    elements["id"].text = _slot("id")
    for name in ("created", "updated", "title", "abstract"):
        if elements[name] is not None:
            elements[name].text = _slot(name)
    if doi is not None:
        doi_el.text = _slot("doi")

    text = etree.tostring(record, encoding="unicode", with_tail=False)
    # Serialised alone, the record repeats the namespace declarations the page's root already makes.
    start_end = text.index(">") + 1
    start_tag = text[:start_end]
    for decl in (f' xmlns="{OAI_NS}"', f' xmlns:xsi="{XSI_NS}"'):
        start_tag = start_tag.replace(decl, "")
    pieces = tuple((start_tag + text[start_end:]).split(_SLOT))
    return RecordTemplate(
        source=f"{fixture}#{original_id}",
        pieces=pieces,
        title_words=title_words,
        abstract_words=abstract_words,
        abstract_indent=indent,
        has_updated=elements["updated"] is not None,
        doi=doi,
    )


def load_templates(folder: Path) -> tuple[list[RecordTemplate], dict[str, str]]:
    """Templates from the fixture files, in a fixed order, plus the sha256 of every file read."""
    if not folder.is_dir():
        raise FixturesMissing(
            f"bench: the fixture folder {folder} is absent; the scale corpus is generated from the real "
            "recorded arXiv OAI-PMH records there (set COMMONS_FIXTURES to the folder holding arxiv_oai/)"
        )
    templates: list[RecordTemplate] = []
    hashes: dict[str, str] = {}
    seen: set[str] = set()
    for name in TEMPLATE_FILES:
        path = folder / name
        if not path.is_file():
            continue
        data = path.read_bytes()
        hashes[name] = hashlib.sha256(data).hexdigest()
        root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
        for record in root.iter(f"{{{OAI_NS}}}record"):
            template = _record_template(record, name)
            if template is not None and template.source.split("#")[1] not in seen:
                seen.add(template.source.split("#")[1])
                templates.append(template)
    if not templates:
        raise FixturesMissing(
            f"bench: no arXiv-format OAI-PMH records found in {folder} (looked in {', '.join(TEMPLATE_FILES)})"
        )
    return templates, hashes


def _months(first: tuple[int, int]) -> Iterator[tuple[int, int]]:
    year, month = first
    while True:
        yield year, month
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def arxiv_ids(rng: random.Random, count: int) -> list[tuple[str, date]]:
    """``count`` unique new-style ids with the first day of their month, shuffled across months.

    Live ``ListRecords`` pages are ordered by datestamp, not by id, so the corpus is not presorted by key.
    """
    out: list[tuple[str, date]] = []
    months = _months(FIRST_MONTH)
    while len(out) < count:
        year, month = next(months)
        if year >= 2100:
            raise ValueError(
                f"cannot generate {count} ids from {FIRST_MONTH[0]} on at {RECORDS_PER_MONTH}/month"
            )
        take = min(RECORDS_PER_MONTH, count - len(out))
        yymm = f"{year % 100:02d}{month:02d}"
        first_day = date(year, month, 1)
        out.extend((f"{yymm}.{n:05d}", first_day) for n in sorted(rng.sample(range(1, 100_000), take)))
    rng.shuffle(out)
    return out


def _wrap(words: list[str], per_line: int = 11) -> str:
    return "\n".join(" ".join(words[i : i + per_line]) for i in range(0, len(words), per_line))


def render_record(
    template: RecordTemplate, rng: random.Random, arxiv_id: str, month: date, serial: int
) -> str:
    created = month + timedelta(days=rng.randrange(28))
    updated = created + timedelta(days=1 + rng.randrange(400)) if template.has_updated else None
    datestamp = (updated or created) + timedelta(days=rng.randrange(30))
    n_title = max(1, len(template.title_words) + rng.randrange(-2, 3))
    n_abstract = max(5, len(template.abstract_words) + rng.randrange(-15, 16))
    values = {
        "id": arxiv_id,
        "datestamp": datestamp.isoformat(),
        "created": created.isoformat(),
        "updated": updated.isoformat() if updated else "",
        "title": " ".join(rng.choices(template.title_words, k=n_title)).capitalize(),
        "abstract": template.abstract_indent
        + _wrap(rng.choices(template.abstract_words, k=n_abstract))
        + "\n",
        "doi": f"{template.doi}.{serial}" if template.doi else "",
    }
    pieces = template.pieces
    parts = [pieces[0]]
    for i in range(1, len(pieces), 2):
        parts.append(values[pieces[i]])
        parts.append(pieces[i + 1])
    return "".join(parts)


def _page_head(response_date: datetime, request_args: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<OAI-PMH xmlns="{OAI_NS}" xmlns:xsi="{XSI_NS}" '
        f'xsi:schemaLocation="{OAI_NS} http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd">\n'
        f"<responseDate>{response_date:%Y-%m-%dT%H:%M:%SZ}</responseDate>\n"
        f"<request {request_args}>{OAI_BASE_URL}</request>\n"
        "<ListRecords>\n"
    )


def _stamp(spec: CorpusSpec, hashes: dict[str, str]) -> dict[str, Any]:
    return {"generator_version": GENERATOR_VERSION, **asdict(spec), "fixtures": hashes}


def _read_stamp(folder: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((folder / STAMP_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _is_generated_folder(folder: Path) -> bool:
    """Only folders this generator wrote (pages and a stamp) are ever deleted."""
    return all(
        p.name == STAMP_NAME or (p.name.startswith("page-") and p.suffix == ".xml") for p in folder.iterdir()
    )


def generate(spec: CorpusSpec, out_dir: Path, fixtures: Path | None = None, log: Any = None) -> Corpus:
    """Write (or reuse) ``<out_dir>/arxiv_oai_<records>/page-00001.xml`` ... and return where it is."""
    say = log or (lambda message: print(f"bench: {message}", file=sys.stderr))
    templates, hashes = load_templates(fixtures or fixtures_dir())
    stamp = _stamp(spec, hashes)
    target = out_dir / f"arxiv_oai_{spec.records}"
    existing = _read_stamp(target) if target.is_dir() else None
    if existing is not None and all(existing.get(k) == v for k, v in stamp.items()):
        return Corpus(target, spec.records, existing["pages"], existing["bytes"], False, 0.0)
    if target.exists():
        if not _is_generated_folder(target):
            raise SystemExit(f"bench: {target} exists and holds files the generator did not write; remove it")
        shutil.rmtree(target)

    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / f".{target.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    say(f"generating {spec.records:,} records from {len(templates)} fixture records into {target}")
    rng = random.Random(spec.seed)
    ids = arxiv_ids(rng, spec.records)
    # The harvest happens after every record's last datestamp (created + 27 + 400 + 29 days at most).
    last_month = max(month for _, month in ids)
    harvest_day = last_month + timedelta(days=460)
    harvest_time = datetime(harvest_day.year, harvest_day.month, harvest_day.day, 10, 0, 0)
    token_base = rng.randrange(1_000_000, 9_999_999)
    total_bytes = 0
    try:
        for page in range(spec.pages):
            start = page * spec.page_size
            chunk = ids[start : start + spec.page_size]
            if page == 0:
                request = f'verb="ListRecords" metadataPrefix="arXiv" from="{FIRST_MONTH[0]}-{FIRST_MONTH[1]:02d}-01"'
            else:
                request = f'verb="ListRecords" resumptionToken="{token_base}|{start + 1}"'
            parts = [_page_head(harvest_time + timedelta(seconds=3 * page), request)]
            for offset, (arxiv_id, month) in enumerate(chunk):
                template = templates[rng.randrange(len(templates))]
                parts.append(render_record(template, rng, arxiv_id, month, start + offset))
                parts.append("\n")
            end = start + len(chunk)
            token = f"{token_base}|{end + 1}" if end < spec.records else ""
            parts.append(
                f'<resumptionToken cursor="{start}" completeListSize="{spec.records}">{token}</resumptionToken>\n'
                "</ListRecords>\n</OAI-PMH>\n"
            )
            data = "".join(parts).encode("utf-8")
            (tmp / f"page-{page + 1:05d}.xml").write_bytes(data)
            total_bytes += len(data)
            if (page + 1) % 100 == 0:
                say(f"... {page + 1:,}/{spec.pages:,} pages")
        stamp.update(pages=spec.pages, bytes=total_bytes, templates=[t.source for t in templates])
        (tmp / STAMP_NAME).write_text(json.dumps(stamp, indent=2, sort_keys=True), encoding="utf-8")
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    seconds = time.perf_counter() - started
    say(f"wrote {spec.pages:,} pages, {total_bytes / 1e6:,.0f} MB in {seconds:.0f} s")
    return Corpus(target, spec.records, spec.pages, total_bytes, True, seconds)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.corpus", description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="output folder (default: $COMMONS_BENCH_DIR or /tmp/commons-bench)",
    )
    args = parser.parse_args(argv)
    corpus = generate(CorpusSpec(args.records, args.seed), args.dir or default_bench_dir())
    print(corpus.path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
