"""The arXiv source against real recorded responses: OAI-PMH pages, API Atom feeds and recorded API calls.

Every file in ``../shared/fixtures/arxiv_oai`` is read in place (never copied). Expected values are
computed from the raw bytes with the standard library's ElementTree and regular expressions, not with
the parser under test. Bad input (truncated, empty, mis-encoded, gzipped pages) is generated here from
the real bytes; only the short OAI-PMH error responses are written out, from the protocol.
"""

from __future__ import annotations

import functools
import gzip
import itertools
import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines import harvest
from pipelines.fetch.raw_store import sha256_hex
from pipelines.parse.arxiv_oai import parse_oai_page, split_author_string, split_display_name
from pipelines.settings import DataRoot
from pipelines.sources.arxiv import ArxivSource, month_windows
from pipelines.sources.base import BatchSpec, ParseContext, ParseError, RawDocument
from schemas.papers import PAPERS_SCHEMA

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"
ARXIV = FIXTURES / "arxiv_oai"
ABSENT = (
    f"{ARXIV} is absent: these tests read the real recorded arXiv responses in ../shared/fixtures by path"
)
FILES = sorted(p.name for p in ARXIV.iterdir() if p.is_file()) if ARXIV.is_dir() else []
EVERY_FILE: list[Any] = FILES or [pytest.param("<absent>", marks=pytest.mark.skip(reason=ABSENT))]

OAI_NS = "{http://www.openarchives.org/OAI/2.0/}"
ATOM_NS = "{http://www.w3.org/2005/Atom}"
ARXIV_ATOM_NS = "{http://arxiv.org/schemas/atom}"

EDITED = "hepcrawl_oai_GetRecord_1601.03238_EDITED.xml"
GET_RECORD = "hepcrawl_oai_GetRecord_arXiv_1401.2122.xml"
LIST_RECORDS = "hepcrawl_oai_ListRecords_arXiv_hep-ex.xml"
TWELVE = "hepcrawl_oai_sample_arxiv_record_12recs.xml"
OAI_DC = "atomiklabs_oai_ListRecords_oai_dc_cs_2024-01-25_with_resumptionToken.xml"
ATOM_1111 = "arxiv_api_atom_id_list_1111.2011v2.xml"
ATOM_CHECKERBOARD = "arxiv_api_atom_search_and_checkerboard.xml"
DEL_MAESTRO = ("arxiv_api_atom_search_au_del_maestro.xml", "arxiv_api_atom_search_andnot.xml")
API_ERROR = "arxivpy_recorded_id_abc_s0_m100_b79c8dcf6bc3.json"
API_EMPTY = "arxivpy_recorded_id_0000.0000_s0_m100_8b51d9633a68.json"
API_OLD_STYLE = "arxivpy_recorded_id_astro-ph_0601001_s0_m100_3150dca9dc76.json"
API_TESTING = "arxivpy_recorded_q_testing_s0_m100_cfe7536492ca.json"

# Files that are bad on purpose (the API's own error response): everything else parses cleanly.
ERROR_FILES = {API_ERROR}


def raw(name: str) -> bytes:
    path = ARXIV / name
    if not path.is_file():
        pytest.skip(ABSENT)
    return path.read_bytes()


def xml_body(name: str) -> bytes:
    """The XML of a fixture; for a recorded API call, the response bytes inside the JSON wrapper.

    arxiv.py's recorder stores ``response.content.decode("latin-1")`` (see its tests/conftest.py), so
    encoding back to Latin-1 gives the bytes arXiv sent.
    """
    data = raw(name)
    if name.endswith(".json"):
        body: str = json.loads(data)["body"]
        return body.encode("latin-1")
    return data


def document(data: bytes, name: str) -> RawDocument:
    return RawDocument(data=data, sha256=sha256_hex(data), url_or_path=name, kind="file")


@dataclass
class Parsed:
    rows: list[dict[str, Any]]
    ctx: ParseContext
    error: ParseError | None


def parse_bytes(data: bytes, name: str) -> Parsed:
    ctx = ParseContext()
    rows: list[dict[str, Any]] = []
    try:
        for table, row in ArxivSource().parse(document(data, name), ctx):
            assert table == "papers"
            rows.append(row)
    except ParseError as exc:
        return Parsed(rows, ctx, exc)
    return Parsed(rows, ctx, None)


@functools.cache
def _parse_fixture(name: str) -> Parsed:
    return parse_bytes(raw(name), name)


def parse_fixture(name: str) -> Parsed:
    parsed = _parse_fixture(name)
    if parsed.error is not None and name not in ERROR_FILES:
        raise AssertionError(f"{name} failed to parse: {parsed.error}")
    return parsed


def by_id(name: str) -> dict[str, dict[str, Any]]:
    return {row["arxiv_id"]: row for row in parse_fixture(name).rows}


def is_oai(name: str) -> bool:
    return b"OAI-PMH" in xml_body(name)[:4096]


def local(elem: ET.Element) -> str:
    return elem.tag.rpartition("}")[2]


def children(elem: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in elem if local(c) == name]


def text_of(elem: ET.Element | None) -> str | None:
    if elem is None:
        return None
    text = " ".join("".join(elem.itertext()).split())
    return text or None


def strip_version(arxiv_id: str) -> str:
    return re.sub(r"v\d+$", "", arxiv_id)


# ---- what the raw bytes say, read without the parser under test ----


def oai_records(name: str) -> list[tuple[str, ET.Element]]:
    """(arXiv id from the header identifier, metadata body) of every live record of an OAI-PMH page."""
    out = []
    for record in ET.fromstring(xml_body(name)).iter(f"{OAI_NS}record"):
        header = children(record, "header")[0]
        if header.get("status") == "deleted":
            continue
        identifier = text_of(children(header, "identifier")[0]) or ""
        assert identifier.startswith("oai:arXiv.org:"), identifier
        metadata = children(record, "metadata")[0]
        out.append((identifier.removeprefix("oai:arXiv.org:"), next(iter(metadata))))
    return out


def atom_entries(name: str) -> list[tuple[str, ET.Element]]:
    """(arXiv id from the entry id, entry) of every entry of an Atom feed, API errors included."""
    out = []
    for entry in ET.fromstring(xml_body(name)).iter(f"{ATOM_NS}entry"):
        entry_id = entry.findtext(f"{ATOM_NS}id") or ""
        out.append((strip_version(re.sub(r"^https?://arxiv\.org/abs/", "", entry_id)), entry))
    return out


def expected_ids(name: str) -> list[str]:
    if is_oai(name):
        return [arxiv_id for arxiv_id, _ in oai_records(name)]
    return [i for i, _ in atom_entries(name) if "/api/errors" not in i]


def expected_retrieved_at(name: str) -> datetime:
    root = ET.fromstring(xml_body(name))
    stamp = root.findtext(f"{OAI_NS}responseDate") or root.findtext(f"{ATOM_NS}updated")
    assert stamp, name
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(UTC)


def with_provenance(parsed: Parsed, data: bytes) -> list[dict[str, Any]]:
    """Rows completed the way ``harvest_batch`` completes them."""
    out = []
    for row in parsed.rows:
        row = dict(row)
        row["source"] = "arxiv"
        row["raw_sha256"] = sha256_hex(data)
        row["pipeline_version"] = "test"
        row.setdefault("retrieved_at", parsed.ctx.retrieved_at)
        row.setdefault("parser", parsed.ctx.parser)
        row.setdefault("parser_version", parsed.ctx.parser_version)
        out.append(row)
    return out


def test_every_manifest_row_of_arxiv_oai_is_on_disk() -> None:
    manifest = FIXTURES / "MANIFEST.tsv"
    if not manifest.is_file() or not FILES:
        pytest.skip(ABSENT)
    listed = {
        line.split("\t")[1]
        for line in manifest.read_text(encoding="utf-8").splitlines()
        if line.startswith("arxiv_oai\t")
    }
    assert listed == set(FILES)


# ---- every recorded file ----


@pytest.mark.parametrize("name", EVERY_FILE)
def test_source_recognizes_every_recorded_file(name: str) -> None:
    data = raw(name)
    assert ArxivSource().recognizes(name, data[:4096])


@pytest.mark.parametrize("name", EVERY_FILE)
def test_rows_fit_the_papers_schema_with_provenance(name: str) -> None:
    data = raw(name)
    parsed = parse_fixture(name)
    rows = with_provenance(parsed, data)
    names = set(PAPERS_SCHEMA.names)
    for row in rows:
        assert set(row) <= names, f"columns outside the schema: {set(row) - names}"
    batch = pa.RecordBatch.from_pylist(rows, schema=PAPERS_SCHEMA)
    batch.validate(full=True)
    assert batch.num_rows == len(parsed.rows)
    for field in PAPERS_SCHEMA:
        if not field.nullable:
            assert batch.column(field.name).null_count == 0, f"{field.name} is null in {name}"


@pytest.mark.parametrize("name", EVERY_FILE)
def test_every_row_has_identity_title_url_and_license(name: str) -> None:
    for row in parse_fixture(name).rows:
        arxiv_id = row["arxiv_id"]
        assert row["work_id"] == f"arxiv:{arxiv_id}"
        assert row["title"] and row["title"].strip() == row["title"]
        assert row["source_url"] == f"https://arxiv.org/abs/{arxiv_id}"
        assert row["source_record_id"]
        assert row["license"] and row["license_source"]
        assert row["metadata_license"] == "CC0-1.0"
        assert row["parser"] in ("arxiv_oai", "arxiv_atom") and row["parser_version"]
        assert isinstance(row["text_redistributable"], bool)
        assert not any("Ã" in (a["name"] or "") for a in row["authors"]), "double-encoded UTF-8"


@pytest.mark.parametrize("name", EVERY_FILE)
def test_parsed_ids_match_the_ids_in_the_raw_bytes(name: str) -> None:
    parsed = parse_fixture(name)
    assert [row["arxiv_id"] for row in parsed.rows] == expected_ids(name)


@pytest.mark.parametrize("name", EVERY_FILE)
def test_retrieved_at_is_the_response_date_or_feed_updated(name: str) -> None:
    assert _parse_fixture(name).ctx.retrieved_at == expected_retrieved_at(name)


@pytest.mark.parametrize("name", EVERY_FILE)
def test_parsing_is_deterministic(name: str) -> None:
    data = raw(name)
    first, second = parse_bytes(data, name), parse_bytes(data, name)
    assert first.rows == second.rows
    assert first.ctx == second.ctx
    assert str(first.error) == str(second.error)


def test_api_error_response_raises_parse_error_naming_the_file() -> None:
    parsed = _parse_fixture(API_ERROR)
    assert parsed.rows == []
    assert parsed.error is not None
    assert API_ERROR in str(parsed.error)
    assert "incorrect id format for abc" in str(parsed.error)
    assert parsed.ctx.http_status == 400


def test_empty_api_result_gives_no_rows_and_marks_the_context_empty() -> None:
    parsed = parse_fixture(API_EMPTY)
    assert parsed.rows == []
    assert parsed.ctx.empty is True
    assert parsed.ctx.http_status == 200


# ---- OAI-PMH, arXiv format ----


def test_edited_record_keeps_a_collaboration_as_keyname_without_forenames() -> None:
    data = raw(EDITED)
    row = by_id(EDITED)["1601.03238"]
    first = row["authors"][0]
    assert b"<keyname>Planck Collaboration</keyname>" in data
    assert first["keyname"] == "Planck Collaboration"
    assert first["forenames"] is None
    assert first["name"] == "Planck Collaboration"
    assert [a["keyname"] for a in row["authors"][1:]] == ["Wang", "Tian", "Jing", "Fan"]


def test_edited_record_multi_doi_string_gives_every_doi_in_order() -> None:
    data = raw(EDITED)
    match = re.search(rb"<doi>(.*?)</doi>", data)
    assert match is not None
    expected = [d.lower() for d in re.findall(r"10\.\d{4,9}/[^\s,;]+", match.group(1).decode())]
    assert len(expected) >= 3
    row = by_id(EDITED)["1601.03238"]
    assert row["dois"] == expected
    assert row["doi"] == expected[0]
    assert row["report_no"] == "YITP-2016-26"


def test_get_record_1401_2122_fields() -> None:
    row = by_id(GET_RECORD)["1401.2122"]
    assert row["created"] == date(2014, 1, 9)
    assert row["updated"] == date(2017, 10, 23)
    assert row["oai_datestamp"] == date(2018, 1, 25)
    assert row["msc_class"] == "37K05 37K10 53D10"
    assert row["journal_ref"] == "Lett. Math. Phys. 108 (2018), no. 2, 359-376"
    assert row["doi"] == "10.1007/s11005-017-1013-4"
    assert row["license_url"] == "http://arxiv.org/licenses/nonexclusive-distrib/1.0/"
    assert row["license"] == "LicenseRef-arXiv-nonexclusive-distrib-1.0"
    assert row["text_redistributable"] is False
    assert row["metadata_format"] == "arXiv"
    assert row["source_record_id"] == "oai:arXiv.org:1401.2122"
    assert row["categories"][0] == row["primary_category"] == "math.AP"
    assert row["authors"] == [
        {
            "name": "A. Sergyeyev",
            "keyname": "Sergyeyev",
            "forenames": "A.",
            "suffix": None,
            "affiliations": [],
        }
    ]
    # Whitespace inside fields is collapsed; the text is otherwise the authors'.
    assert row["abstract"].startswith("We introduce a novel systematic construction")
    assert "  " not in row["abstract"] and "\n" not in row["comments"]
    assert "(v5) the typos were fixed" in row["comments"]


@pytest.mark.parametrize("name", [EDITED, GET_RECORD, LIST_RECORDS, TWELVE])
def test_arxiv_format_fields_match_the_raw_record(name: str) -> None:
    rows = by_id(name)
    for arxiv_id, body in oai_records(name):
        row = rows[arxiv_id]
        license_url = text_of(next(iter(children(body, "license")), None))
        assert row["license_url"] == license_url
        redistributable = license_url is not None and "creativecommons.org/licenses/by/" in license_url
        assert row["text_redistributable"] is redistributable, arxiv_id
        if redistributable:
            assert row["license"] in ("CC-BY-3.0", "CC-BY-4.0")
        assert row["categories"] == (text_of(children(body, "categories")[0]) or "").split()
        assert row["created"] == date.fromisoformat(text_of(children(body, "created")[0]) or "")
        authors = [
            (
                text_of(next(iter(children(a, "keyname")), None)),
                text_of(next(iter(children(a, "forenames")), None)),
            )
            for a in children(children(body, "authors")[0], "author")
        ]
        assert [(a["keyname"], a["forenames"]) for a in row["authors"]] == authors
        affiliations = [
            [text_of(x) for x in children(a, "affiliation")]
            for a in children(children(body, "authors")[0], "author")
        ]
        assert [a["affiliations"] for a in row["authors"]] == affiliations


def test_cc_by_records_are_redistributable() -> None:
    cc_by = {
        (name, arxiv_id): row
        for name in (EDITED, TWELVE)
        for arxiv_id, row in by_id(name).items()
        if row["license"].startswith("CC-BY-")
    }
    assert {(n, i) for n, i in cc_by} >= {
        (EDITED, "1601.03238"),
        (TWELVE, "1601.03238"),
        (TWELVE, "1808.04927"),
    }
    assert {row["license"] for row in cc_by.values()} == {"CC-BY-3.0", "CC-BY-4.0"}
    assert all(row["text_redistributable"] for row in cc_by.values())


def test_list_records_page_without_token_leaves_no_resumption_token() -> None:
    parsed = parse_fixture(LIST_RECORDS)
    assert len(parsed.rows) == 3
    assert parsed.ctx.resumption_token is None
    assert parsed.ctx.empty is False


# ---- OAI-PMH, oai_dc format ----


def test_oai_dc_creators_split_into_keyname_and_forenames() -> None:
    rows = by_id(OAI_DC)
    for arxiv_id, body in oai_records(OAI_DC):
        creators = [text_of(c) or "" for c in children(body, "creator")]
        expected = [tuple(part.strip() for part in c.split(",", 1)) for c in creators]
        assert [(a["keyname"], a["forenames"]) for a in rows[arxiv_id]["authors"]] == expected
        assert [a["name"] for a in rows[arxiv_id]["authors"]] == [f"{f} {k}" for k, f in expected]
    assert rows["1303.2033"]["authors"][0]["keyname"] == "Liepins"
    assert rows["1303.2033"]["authors"][0]["forenames"] == "Vilnis"


def test_oai_dc_comment_description_goes_to_comments_not_abstract() -> None:
    rows = by_id(OAI_DC)
    for arxiv_id, body in oai_records(OAI_DC):
        descriptions = [text_of(d) or "" for d in children(body, "description")]
        comments = [d.removeprefix("Comment:").strip() for d in descriptions if d.startswith("Comment:")]
        abstracts = [d for d in descriptions if not d.startswith("Comment:")]
        row = rows[arxiv_id]
        assert row["comments"] == (comments[0] if comments else None)
        assert row["abstract"] == abstracts[0]
        assert not row["abstract"].startswith("Comment:")
    row = rows["1303.2033"]
    assert row["comments"] == "32 pages, 9 figures"
    assert (row["created"], row["updated"], row["latest_version"]) == (date(2013, 3, 8), date(2024, 1, 23), 2)
    assert row["metadata_format"] == "oai_dc"
    assert row["subjects"] and row["subjects"][0] == "Computer Science - Data Structures and Algorithms"
    assert row["license"] == "unknown" and row["text_redistributable"] is False


def test_oai_dc_resumption_token_and_list_size_land_in_the_context() -> None:
    parsed = parse_fixture(OAI_DC)
    assert parsed.ctx.resumption_token == "6960524|1001"
    assert parsed.ctx.complete_list_size == 1162
    assert parsed.ctx.retrieved_at == datetime(2024, 1, 27, 17, 53, 42, tzinfo=UTC)
    assert len(parsed.rows) == 5


# ---- arXiv API Atom feeds ----


def test_atom_1111_2011v2_versions_and_fields() -> None:
    row = by_id(ATOM_1111)["1111.2011"]
    published = datetime(2011, 11, 8, 18, 48, 36, tzinfo=UTC)
    updated = datetime(2012, 4, 2, 12, 38, 54, tzinfo=UTC)
    assert row["latest_version"] == 2
    assert row["arxiv_versions"] == [
        {"version": "v1", "submitted": published, "size": None},
        {"version": "v2", "submitted": updated, "size": None},
    ]
    assert (row["created"], row["updated"]) == (published.date(), updated.date())
    assert row["categories"] == ["cond-mat.str-el", "cond-mat.stat-mech"]
    assert row["primary_category"] == "cond-mat.str-el"
    assert row["doi"] == "10.1103/physrevb.85.115117"
    assert row["journal_ref"] == "Phys. Rev. B 85, 115117 (2012)"
    assert row["comments"] == "8 pages, 3 figures. Published version"
    assert row["source_record_id"] == "http://arxiv.org/abs/1111.2011v2"
    assert [a["name"] for a in row["authors"]] == [
        "James M. Murray",
        "Adrian Del Maestro",
        "Zlatko Tesanovic",
    ]
    # The API gives display names only; they are split heuristically, losing nothing.
    for author in row["authors"]:
        assert f"{author['forenames']} {author['keyname']}" == author["name"]
    assert row["authors"][0]["keyname"] == "Murray"
    assert row["license"] == "unknown" and row["metadata_format"] == "atom"
    assert parse_fixture(ATOM_1111).ctx.retrieved_at == datetime(2016, 10, 9, 4, 0, tzinfo=UTC)


@pytest.mark.parametrize("name", [n for n in FILES if not is_oai(n)] or EVERY_FILE)
def test_atom_categories_primary_first_and_affiliations_as_recorded(name: str) -> None:
    rows = by_id(name)
    for arxiv_id, entry in atom_entries(name):
        if arxiv_id not in rows:
            continue
        row = rows[arxiv_id]
        primary = entry.find(f"{ARXIV_ATOM_NS}primary_category")
        terms = [c.get("term") for c in entry.findall(f"{ATOM_NS}category")]
        if primary is not None:
            expected = [primary.get("term")] + [t for t in terms if t != primary.get("term")]
            assert row["primary_category"] == primary.get("term")
        else:
            expected = terms
        assert row["categories"] == (expected or None)
        affiliations = [
            [text_of(a) for a in author.findall(f"{ARXIV_ATOM_NS}affiliation")]
            for author in entry.findall(f"{ATOM_NS}author")
        ]
        assert [a["affiliations"] for a in row["authors"]] == affiliations


def test_affiliations_from_arxiv_affiliation() -> None:
    # The del_maestro feeds carry no arxiv:affiliation; the recorded astro-ph/0601001 call does.
    for name in DEL_MAESTRO:
        assert b"affiliation" not in raw(name)
        assert all(a["affiliations"] == [] for row in parse_fixture(name).rows for a in row["authors"])
    row = by_id(API_OLD_STYLE)["astro-ph/0601001"]
    assert [(a["name"], a["affiliations"]) for a in row["authors"]] == [
        ("Andrew Gould", ["Ohio State"]),
        ("Susan Dorsher", ["Ohio State"]),
        ("B. Scott Gaudi", ["CfA"]),
        ("Andrzej Udalski", ["Warsaw University Observatory"]),
    ]


def test_old_style_ids_keep_their_archive() -> None:
    for name, arxiv_id in ((ATOM_CHECKERBOARD, "cond-mat/0603029"), (API_OLD_STYLE, "astro-ph/0601001")):
        row = by_id(name)[arxiv_id]
        assert row["work_id"] == f"arxiv:{arxiv_id}"
        assert row["source_url"] == f"https://arxiv.org/abs/{arxiv_id}"
        assert row["latest_version"] == 1
    old_style = [row["arxiv_id"] for name in DEL_MAESTRO for row in parse_fixture(name).rows]
    assert "cond-mat/0412498" in old_style


def test_recorded_api_bodies_keep_their_utf8_characters() -> None:
    names = {a["name"] for row in parse_fixture(API_TESTING).rows for a in row["authors"]}
    assert "Aurora Ramírez" in names
    assert "José Raúl Romero" in names
    assert parse_fixture(API_TESTING).ctx.http_status == 200


def test_recording_that_stored_decoded_text_parses_the_same() -> None:
    # Another recorder could store the body decoded as UTF-8 instead of as Latin-1.
    wrapper = json.loads(raw(API_TESTING))
    wrapper["body"] = xml_body(API_TESTING).decode("utf-8")
    assert wrapper["body"] != json.loads(raw(API_TESTING))["body"]
    for ensure_ascii in (True, False):
        data = json.dumps(wrapper, ensure_ascii=ensure_ascii).encode("utf-8")
        parsed = parse_bytes(data, API_TESTING)
        assert parsed.error is None
        assert parsed.rows == parse_fixture(API_TESTING).rows


# ---- arXivRaw (generated from a real arXiv-format record) and author strings ----


def test_arxiv_raw_record_generated_from_a_real_record() -> None:
    root = ET.fromstring(raw(GET_RECORD))
    metadata = next(root.iter(f"{OAI_NS}metadata"))
    body = next(iter(metadata))
    (arxiv_id,) = expected_ids(GET_RECORD)
    created = datetime.fromisoformat(text_of(children(body, "created")[0]) or "").replace(tzinfo=UTC)
    updated = datetime.fromisoformat(text_of(children(body, "updated")[0]) or "").replace(tzinfo=UTC)
    authors = [
        f"{text_of(children(a, 'forenames')[0])} {text_of(children(a, 'keyname')[0])}"
        for a in children(children(body, "authors")[0], "author")
    ]
    ns = "http://arxiv.org/OAI/arXivRaw/"
    new = ET.Element(f"{{{ns}}}arXivRaw")
    for child in body:
        if local(child) not in ("authors", "created", "updated"):
            ET.SubElement(new, f"{{{ns}}}{local(child)}").text = child.text
    ET.SubElement(new, f"{{{ns}}}authors").text = ", ".join(authors)
    for number, when in ((1, created), (2, updated)):
        version = ET.SubElement(new, f"{{{ns}}}version", version=f"v{number}")
        ET.SubElement(version, f"{{{ns}}}date").text = format_datetime(when, usegmt=True)
        ET.SubElement(version, f"{{{ns}}}size").text = "20kb"
    metadata.remove(body)
    metadata.append(new)
    generated = ET.tostring(root, encoding="utf-8", xml_declaration=True)

    ctx = ParseContext()
    (row,) = list(parse_oai_page(generated, ctx, "generated-arXivRaw.xml"))
    assert row["arxiv_id"] == arxiv_id and row["metadata_format"] == "arXivRaw"
    assert (row["created"], row["updated"], row["latest_version"]) == (created.date(), updated.date(), 2)
    assert [v["submitted"] for v in row["arxiv_versions"]] == [created, updated]
    assert [(a["keyname"], a["forenames"]) for a in row["authors"]] == [("Sergyeyev", "A.")]
    assert row["license"] == "LicenseRef-arXiv-nonexclusive-distrib-1.0"


def test_split_author_string_on_author_lists_built_from_real_records() -> None:
    checked = 0
    for name in (LIST_RECORDS, TWELVE):
        for _, body in oai_records(name):
            people = []
            for a in children(children(body, "authors")[0], "author"):
                keyname = text_of(next(iter(children(a, "keyname")), None))
                forenames = text_of(next(iter(children(a, "forenames")), None))
                affiliations = [text_of(x) or "" for x in children(a, "affiliation")]
                people.append((keyname, forenames, affiliations))
            # The display-name split is by last word: only single-word keynames survive a round trip.
            if not all(k and f and " " not in k and " and " not in f for k, f, _ in people):
                continue
            text = ", ".join(f"{f} {k}" + "".join(f" ({x})" for x in aff) for k, f, aff in people[:-1])
            last = people[-1]
            text = (
                (text + " and " if text else "")
                + f"{last[1]} {last[0]}"
                + "".join(f" ({x})" for x in last[2])
            )
            got = split_author_string(text)
            assert [(a["keyname"], a["forenames"], a["affiliations"]) for a in got] == people, text
            checked += 1
    assert checked >= 5


def test_split_display_name_moves_a_trailing_suffix() -> None:
    checked = 0
    for row in parse_fixture(API_TESTING).rows:
        for author in row["authors"]:
            if len(author["name"].split()) < 2:
                continue
            plain = split_display_name(author["name"])
            split = split_display_name(author["name"] + " Jr.")
            assert split["suffix"] == "Jr." and plain["suffix"] is None
            assert (split["keyname"], split["forenames"]) == (plain["keyname"], plain["forenames"])
            assert f"{plain['forenames']} {plain['keyname']}" == author["name"]
            checked += 1
    assert checked > 100
    assert split_display_name("Madonna")["forenames"] is None


# ---- bad input generated from real bytes ----


@pytest.mark.parametrize("data", [b"", b"   \n\t"], ids=["zero-bytes", "whitespace"])
def test_empty_file_raises_parse_error_naming_it(data: bytes) -> None:
    parsed = parse_bytes(data, "folder/empty.xml")
    assert parsed.rows == []
    assert parsed.error is not None and "folder/empty.xml" in str(parsed.error)
    assert "empty" in str(parsed.error)


@pytest.mark.parametrize("name", [LIST_RECORDS, OAI_DC, TWELVE, DEL_MAESTRO[0]])
@pytest.mark.parametrize("fraction", [0.12, 0.35, 0.5, 0.73, 0.97])
def test_truncated_page_yields_records_before_the_cut_then_fails_naming_file_and_line(
    name: str, fraction: float
) -> None:
    data = raw(name)
    cut = int(len(data) * fraction)
    closed = [m.end() for m in re.finditer(rb"</record>|</entry>", data)]
    complete = sum(1 for end in closed if end <= cut)
    parsed = parse_bytes(data[:cut], f"cut/{name}")
    assert [row["arxiv_id"] for row in parsed.rows] == expected_ids(name)[:complete]
    assert parsed.error is not None
    message = str(parsed.error)
    assert f"cut/{name}" in message
    assert re.search(r"line \d+", message), message


def test_truncated_recorded_api_call_is_a_parse_error() -> None:
    data = raw(API_TESTING)
    parsed = parse_bytes(data[: len(data) // 2], API_TESTING)
    assert parsed.rows == []
    assert parsed.error is not None and API_TESTING in str(parsed.error)


def test_invalid_utf8_is_a_parse_error_naming_the_file_after_the_good_records() -> None:
    data = raw(TWELVE)
    match = re.search(rb"[\xc2-\xf4][\x80-\xbf]+", data)
    assert match is not None, "the page has a multi-byte character"
    broken = data[: match.start()] + b"\xff" + data[match.end() :]
    before = sum(1 for m in re.finditer(rb"</record>", data) if m.end() <= match.start())
    parsed = parse_bytes(broken, "bad/utf8.xml")
    assert [row["arxiv_id"] for row in parsed.rows] == expected_ids(TWELVE)[:before]
    assert parsed.error is not None and "bad/utf8.xml" in str(parsed.error)


def test_page_re_encoded_as_latin1_under_a_utf8_declaration_is_a_parse_error() -> None:
    data = raw(TWELVE).decode("utf-8").encode("latin-1")
    parsed = parse_bytes(data, "bad/latin1.xml")
    assert parsed.error is not None and "bad/latin1.xml" in str(parsed.error)


def test_recorded_response_with_invalid_utf8_is_a_parse_error() -> None:
    data = raw(API_TESTING)
    broken = data.replace(b"Aurora", b"Aurora\xff", 1)
    assert broken != data
    parsed = parse_bytes(broken, "bad/recorded.json")
    assert parsed.error is not None and "bad/recorded.json" in str(parsed.error)


def oai_error(code: str) -> bytes:
    """An OAI-PMH error response as the protocol defines it (OAI-PMH 2.0, section 3.6)."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">\n'
        "<responseDate>2024-01-27T17:54:00Z</responseDate>\n"
        '<request verb="ListRecords">http://export.arxiv.org/oai2</request>\n'
        f'<error code="{code}">error {code}</error>\n'
        "</OAI-PMH>\n"
    ).encode()


def test_no_records_match_is_an_empty_answer_not_an_error() -> None:
    data = oai_error("noRecordsMatch")
    assert ArxivSource().recognizes("empty.xml", data)
    parsed = parse_bytes(data, "oai/no-records.xml")
    assert parsed.error is None
    assert parsed.rows == []
    assert parsed.ctx.empty is True
    assert parsed.ctx.retrieved_at == datetime(2024, 1, 27, 17, 54, tzinfo=UTC)


@pytest.mark.parametrize("code", ["badResumptionToken", "badArgument", "cannotDisseminateFormat"])
def test_other_oai_errors_raise_parse_error_with_the_code(code: str) -> None:
    parsed = parse_bytes(oai_error(code), "oai/error.xml")
    assert parsed.rows == []
    assert parsed.error is not None
    assert code in str(parsed.error) and "oai/error.xml" in str(parsed.error)
    assert parsed.ctx.empty is False


def test_deleted_records_are_skipped() -> None:
    data = raw(LIST_RECORDS)
    first_header = data.index(b"<header>")
    deleted = data[:first_header] + b'<header status="deleted">' + data[first_header + len(b"<header>") :]
    parsed = parse_bytes(deleted, "oai/deleted.xml")
    assert parsed.error is None
    assert [row["arxiv_id"] for row in parsed.rows] == expected_ids(LIST_RECORDS)[1:]


@pytest.mark.parametrize("name", [LIST_RECORDS, OAI_DC, ATOM_1111, API_OLD_STYLE])
def test_gzipped_page_parses_like_the_page(name: str) -> None:
    data = raw(name)
    plain = parse_bytes(data, name)
    zipped = parse_bytes(gzip.compress(data, mtime=0), name)
    assert zipped.error is None and plain.error is None
    assert zipped.rows == plain.rows
    assert zipped.ctx == plain.ctx


def test_corrupt_gzip_is_a_parse_error() -> None:
    data = gzip.compress(raw(LIST_RECORDS), mtime=0)
    parsed = parse_bytes(data[: len(data) // 2], "bad/page.xml.gz")
    assert parsed.error is not None and "bad/page.xml.gz" in str(parsed.error)


@pytest.mark.parametrize(
    "make",
    [
        lambda d: json.dumps({k: v for k, v in json.loads(d).items() if k != "body"}).encode(),
        lambda d: json.dumps({**json.loads(d), "body": 42}).encode(),
        lambda d: json.dumps([json.loads(d)]).encode(),
        lambda d: d[: len(d) // 3],
        lambda d: json.dumps({**json.loads(d), "body": "<html>rate limited</html>"}).encode(),
    ],
    ids=["no-body", "body-not-a-string", "a-list", "cut-json", "body-not-xml"],
)
def test_json_that_is_not_a_recorded_response_is_a_parse_error(make: Any) -> None:
    data = make(raw(API_OLD_STYLE))
    parsed = parse_bytes(data, "bad/recorded.json")
    assert parsed.rows == []
    assert parsed.error is not None and "bad/recorded.json" in str(parsed.error)


# ---- harvest_batch over a folder of real and broken files ----


def test_harvest_batch_records_bad_files_and_stages_good_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not FILES:
        pytest.skip(ABSENT)
    monkeypatch.setattr(harvest, "pipeline_version", lambda: "test-version")
    folder = tmp_path / "input"
    folder.mkdir()
    for name in FILES:
        (folder / name).symlink_to(ARXIV / name)
    (folder / "empty.xml").write_bytes(b"")
    list_page = raw(LIST_RECORDS)
    cut = list_page.index(b"</record>", list_page.index(b"</record>") + 1) + 200
    (folder / "truncated.xml").write_bytes(list_page[:cut])
    bad = {"empty.xml", "truncated.xml", API_ERROR}

    batch = BatchSpec(source="arxiv", kind="local", key="t", paths=(str(folder),), options={"claim": "all"})
    root = DataRoot(tmp_path / "data")
    summary = harvest.harvest_batch(ArxivSource(), batch, root)

    all_names = sorted([*FILES, "empty.xml", "truncated.xml"])
    assert summary.documents == len(all_names)
    fetches = pq.read_table(harvest.staging_path(root, "arxiv", "fetches", "t")).to_pylist()
    assert sorted(f["url_or_path"] for f in fetches) == [f"input/{n}" for n in all_names]
    status = {f["url_or_path"].removeprefix("input/"): f for f in fetches}
    for name in all_names:
        fetch = status[name]
        if name in bad:
            assert fetch["status"] == "error", name
            assert f"input/{name}" in fetch["error"]
        elif name == API_EMPTY:
            assert (fetch["status"], fetch["error"], fetch["records"]) == ("empty", None, 0)
        else:
            assert (fetch["status"], fetch["error"]) == ("ok", None), name
            assert fetch["records"] == len(expected_ids(name))
        data = (folder / name).read_bytes()
        assert fetch["raw_sha256"] == sha256_hex(data)
        assert (root.raw / "sha256" / fetch["raw_sha256"][:2] / fetch["raw_sha256"][2:4]).is_dir()
    assert status["truncated.xml"]["records"] == 2
    assert len(summary.errors) == len(bad)

    papers = pq.read_table(harvest.staging_path(root, "arxiv", "papers", "t"))
    assert papers.schema.names == PAPERS_SCHEMA.names
    staged = papers.to_pylist()
    assert len(staged) == sum(f["records"] for f in fetches)
    for name in FILES:
        if name in bad:
            continue
        sha = sha256_hex(raw(name))
        assert [r["arxiv_id"] for r in staged if r["raw_sha256"] == sha] == expected_ids(name), name
    truncated_sha = sha256_hex(list_page[:cut])
    assert [r["arxiv_id"] for r in staged if r["raw_sha256"] == truncated_sha] == expected_ids(LIST_RECORDS)[
        :2
    ]
    assert all(r["source"] == "arxiv" and r["pipeline_version"] == "test-version" for r in staged)
    row_1401 = next(r for r in staged if r["arxiv_id"] == "1401.2122")
    assert row_1401["retrieved_at"] == datetime(2018, 1, 26, 9, 5, 29, tzinfo=UTC)
    assert row_1401["parser"] == "arxiv_oai"


# ---- live partitions ----


def test_month_windows_clip_at_both_ends_and_cross_the_year() -> None:
    assert month_windows(date(2023, 11, 15), date(2024, 2, 10)) == [
        (date(2023, 11, 15), date(2023, 11, 30)),
        (date(2023, 12, 1), date(2023, 12, 31)),
        (date(2024, 1, 1), date(2024, 1, 31)),
        (date(2024, 2, 1), date(2024, 2, 10)),
    ]
    assert month_windows(date(2024, 2, 1), date(2024, 2, 29)) == [(date(2024, 2, 1), date(2024, 2, 29))]
    assert month_windows(date(2024, 12, 31), date(2025, 1, 1)) == [
        (date(2024, 12, 31), date(2024, 12, 31)),
        (date(2025, 1, 1), date(2025, 1, 1)),
    ]
    assert month_windows(date(2024, 5, 5), date(2024, 5, 5)) == [(date(2024, 5, 5), date(2024, 5, 5))]
    assert month_windows(date(2024, 5, 6), date(2024, 5, 5)) == []


def test_month_windows_tile_a_long_range_without_gaps() -> None:
    windows = month_windows(date(2019, 7, 17), date(2024, 3, 3))
    assert len(windows) == 57
    for (_, end), (start, _) in itertools.pairwise(windows):
        assert (start - end).days == 1 and start.day == 1


def test_live_batches_cover_the_range_with_stable_keys() -> None:
    source = ArxivSource()
    options = {
        "from": "2023-11-15",
        "until": "2024-02-10",
        "set": "physics:hep-ex",
        "metadata_prefix": "arXiv",
    }
    batches = source.live_batches(options)
    assert [b.key for b in batches] == [
        "arxiv-oai-physics-hep-ex-arxiv-2023-11",
        "arxiv-oai-physics-hep-ex-arxiv-2023-12",
        "arxiv-oai-physics-hep-ex-arxiv-2024-01",
        "arxiv-oai-physics-hep-ex-arxiv-2024-02",
    ]
    assert [(b.options["from"], b.options["until"]) for b in batches] == [
        ("2023-11-15", "2023-11-30"),
        ("2023-12-01", "2023-12-31"),
        ("2024-01-01", "2024-01-31"),
        ("2024-02-01", "2024-02-10"),
    ]
    assert all(b.kind == "live" and b.source == "arxiv" and b.paths == () for b in batches)
    assert all(
        b.options["set"] == "physics:hep-ex" and b.options["metadata_prefix"] == "arXiv" for b in batches
    )
    assert source.live_batches(dict(options)) == batches
    # A month's key does not depend on where the range starts inside it.
    later = source.live_batches({**options, "from": "2023-11-28"})
    assert [b.key for b in later] == [b.key for b in batches]
    assert [BatchSpec.from_json(b.to_json()) for b in batches] == batches


def test_live_batches_without_a_set_and_in_other_formats() -> None:
    source = ArxivSource()
    (batch,) = source.live_batches({"from": "2024-01-02", "until": "2024-01-20", "metadata_prefix": "oai_dc"})
    assert batch.key == "arxiv-oai-all-oai_dc-2024-01"
    assert batch.options == {
        "metadata_prefix": "oai_dc",
        "set": "",
        "from": "2024-01-02",
        "until": "2024-01-20",
    }
    (raw_batch,) = source.live_batches(
        {"from": "2024-01-02", "until": "2024-01-02", "metadata_prefix": "arXivRaw"}
    )
    assert raw_batch.key == "arxiv-oai-all-arxivraw-2024-01"
    (default,) = source.live_batches({"from": "2024-01-02", "until": "2024-01-03"})
    assert default.options["metadata_prefix"] == "arXiv"


@pytest.mark.parametrize(
    "options",
    [
        {"from": "2024-01-01", "until": "2024-02-01", "metadata_prefix": "marc21"},
        {"from": "2024-01-01", "until": "2024-02-01", "metadata_prefix": "arxiv"},
        {"until": "2024-02-01"},
        {"from": "", "until": "2024-02-01"},
        {"from": "2024-13-01", "until": "2024-12-31"},
        {"from": "2024-01-01", "until": "31/12/2024"},
        {"from": "yesterday", "until": "2024-12-31"},
        {"from": "2024-03-01", "until": "2024-02-29"},
    ],
    ids=[
        "unknown-prefix",
        "prefix-case",
        "no-from",
        "empty-from",
        "bad-month",
        "bad-until",
        "words",
        "reversed",
    ],
)
def test_live_batches_reject_bad_options(options: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        ArxivSource().live_batches(options)


def test_watermark_follows_the_until_date() -> None:
    source = ArxivSource()
    (batch,) = source.live_batches({"from": "2024-01-02", "until": "2024-01-20", "set": "cs"})
    assert source.watermark_key(batch.options) == "cs|arXiv"
    assert source.next_watermark(batch, None) == "2024-01-20"
    assert source.next_watermark(batch, "2024-03-01") == "2024-03-01"
