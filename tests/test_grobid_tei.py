"""The GROBID TEI reader (pipelines/parse/grobid_tei.py) and the grobid_tei source, on every recorded TEI file.

The recordings in ../shared/fixtures/grobid_tei (GROBID 0.5.5 to 0.8.0: full text, header only, a
citation list, hand-edited edge cases) are read by path; the tests skip, saying why, where that folder is
absent. grobid-tei-xml (PyPI, a dev dependency) is an independent reader of the same TEI: titles, author
counts and reference counts are cross-checked against it for every file it can read. The source contract
(tests/test_source_contract.py) runs for the source separately.
"""

from __future__ import annotations

import gzip
import hashlib
from collections import Counter
from datetime import UTC, date, datetime
from typing import Any

import grobid_tei_xml
import pyarrow as pa
import pytest

from pipelines.fetch.raw_store import sha256_hex
from pipelines.parse import grobid_tei as tei
from pipelines.sources.base import ParseContext, ParseError, RawDocument
from pipelines.sources.registry import HEAD_BYTES, all_sources, detect_source, get_source
from schemas import table_spec
from tests.conftest import FIXTURES, fixture_dir

TEI_DIR = FIXTURES / "grobid_tei"
SOURCE = get_source("grobid_tei")
ABSENT = f"{TEI_DIR} is absent: these tests read the real recorded fixtures in ../shared/fixtures by path"

SPECTER = "2020.acl-main.207.tei.xml"  # GROBID 0.6.1
STIMULATION = "0046d83a-edd6-4631-b57c-755cdcce8b7f.tei.xml"  # GROBID 0.6.1, with coords
GPOOLING = "e5910c027af0ee9c1901c57f6579d903aedee7f4.tei.xml"  # GROBID 0.7.2, sentences and coords
GPOOLING_NO_AUTHORS = "e5910c027af0ee9c1901c57f6579d903aedee7f4_no_authors.tei.xml"
SEX_RATIOS = "062RoisinAronAmericanNaturalist03.grobid.tei.xml"  # GROBID 0.8.0
CRENARCHAEOTA = "24e6b80e338a4e543de6b49cada07156c9149d22.tei.xml"  # GROBID 0.5.5
LITERATURE_GRAPH = "N18-3011.tei.xml"  # GROBID 0.6.1
PATIENTS = "grobidclient_document_example.tei.xml"  # GROBID 0.5.5-fatcat
MAML = "grobid-tei-maml-header.tei.xml"  # GROBID 0.7.0 header only
NO_TITLE = "grobid-tei-no-title.tei.xml"
NO_ABSTRACT = "grobid-tei-no-abstract.tei.xml"
CITATION_LIST = "grobidclient_citation_list_example.tei.xml"  # processCitationList: no header at all

# What the harvester adds to every row (pipelines/harvest.py _stage_document).
HARVESTER_FILLS = {
    "source": "grobid_tei",
    "pipeline_version": "test",
    "retrieved_at": datetime(2024, 1, 1, tzinfo=UTC),
    "parser": tei.PARSER_NAME,
    "parser_version": tei.PARSER_VERSION,
}


def _tei_files() -> list[Any]:
    if not TEI_DIR.is_dir():
        return [pytest.param("absent", marks=pytest.mark.skip(reason=ABSENT))]
    return sorted(p.name for p in TEI_DIR.iterdir() if p.is_file())


def _bytes(name: str) -> bytes:
    return (fixture_dir("grobid_tei") / name).read_bytes()


def _doc(data: bytes, name: str) -> RawDocument:
    return RawDocument(data=data, sha256=sha256_hex(data), url_or_path=f"grobid_tei/{name}", kind="file")


def _parse(name: str, data: bytes | None = None) -> dict[str, list[dict[str, Any]]]:
    """Rows by table of one document, parsed by the registered source (file-name hint included)."""
    body = _bytes(name) if data is None else data
    out: dict[str, list[dict[str, Any]]] = {"papers": [], "paper_texts": [], "references": []}
    for table, row in SOURCE.parse(_doc(body, name), ParseContext()):
        out[table].append(row)
    return out


def _error(name: str, data: bytes) -> ParseError:
    with pytest.raises(ParseError) as info:
        _parse(name, data)
    return info.value


def _paper(name: str, data: bytes | None = None) -> dict[str, Any]:
    papers = _parse(name, data)["papers"]
    assert len(papers) == 1
    return papers[0]


def _ws(text: str | None) -> str:
    return " ".join((text or "").split())


# -- every file -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", _tei_files())
def test_every_file_gives_schema_valid_rows_with_provenance_or_a_clear_error(name: str) -> None:
    data = _bytes(name)
    doc = _doc(data, name)
    if name == CITATION_LIST:
        # processCitationList output has references but no header: nothing says whose they are.
        assert doc.url_or_path in str(_error(name, data))
        return
    rows = _parse(name)
    assert len(rows["papers"]) == 1
    for table, table_rows in rows.items():
        spec = table_spec(table)
        filled = [{**row, **HARVESTER_FILLS, "raw_sha256": doc.sha256} for row in table_rows]
        batch = pa.RecordBatch.from_pylist(filled, schema=spec.schema)
        assert batch.num_rows == len(table_rows)
        for row in table_rows:
            assert row["source_record_id"].startswith(doc.url_or_path)
            assert row["license"] == "unknown"  # no recorded TEI states a licence
            assert row["license_source"] == tei.LICENSE_SOURCE_ABSENT
            for column in spec.primary_key:
                assert row[column] not in (None, ""), (table, column)
        keys = Counter(tuple(row[c] for c in spec.primary_key) for row in table_rows)
        assert not [k for k, n in keys.items() if n > 1], f"duplicate {table} keys"
    paper = rows["papers"][0]
    assert paper["metadata_format"] == "grobid_tei"
    assert paper["metadata_license"] == "unknown" and paper["text_redistributable"] is False
    assert all(r["work_id"] == paper["work_id"] for r in rows["paper_texts"] + rows["references"])


def _rows_by_table(name: str, data: bytes) -> dict[str, list[dict[str, Any]]]:
    """Like ``_parse``, with a hint for the citation list (it names no work of its own)."""
    if name != CITATION_LIST:
        return _parse(name, data)
    out: dict[str, list[dict[str, Any]]] = {"papers": [], "paper_texts": [], "references": []}
    hint = "doi:10.5555/citing"
    for table, row in tei.parse_tei(
        data, ParseContext(), name, work_id_hint=hint, raw_sha256=sha256_hex(data)
    ):
        out[table].append(row)
    return out


@pytest.mark.parametrize("name", _tei_files())
def test_ids_are_deterministic_positions_in_the_bytes(name: str) -> None:
    data = _bytes(name)
    first, again = _rows_by_table(name, data), _rows_by_table(name, data)
    assert first == again
    sha = sha256_hex(data)
    texts = first["paper_texts"]
    ids = [r["paragraph_id"] for r in texts]
    assert len(set(ids)) == len(ids)
    for row in texts:
        basis = f"{sha}:{row['section_index']}:{row['paragraph_index']}"
        assert row["paragraph_id"] == hashlib.sha256(basis.encode()).hexdigest()[:32]
        assert row["text_quality"] == "structured" and row["text"]
    refs = first["references"]
    assert [r["reference_index"] for r in refs] == list(range(len(refs)))
    for row in refs:
        basis = f"{sha}:ref:{row['reference_index']}"
        assert row["reference_id"] == hashlib.sha256(basis.encode()).hexdigest()[:32]
    # sections are numbered from 1 in order (0 is the abstract), paragraphs from 0 within each
    sections = [r["section_index"] for r in texts]
    assert sections == sorted(sections)
    numbered = sorted(set(sections) - {0})
    assert numbered == list(range(1, len(numbered) + 1))
    for section in set(sections):
        indexes = [r["paragraph_index"] for r in texts if r["section_index"] == section]
        assert indexes == list(range(len(indexes)))
    # other bytes (one more newline), other ids
    other = _rows_by_table(name, data + b"\n")
    assert not {r["paragraph_id"] for r in other["paper_texts"]} & set(ids)
    assert not {r["reference_id"] for r in other["references"]} & {r["reference_id"] for r in refs}


@pytest.mark.parametrize("name", _tei_files())
def test_titles_author_and_reference_counts_agree_with_grobid_tei_xml(name: str) -> None:
    data = _bytes(name)
    if name == CITATION_LIST:
        theirs = grobid_tei_xml.parse_citation_list_xml(data)
        ours = list(tei.parse_tei(data, ParseContext(), name, work_id_hint="doi:10.5555/citing"))
        refs = [row for table, row in ours if table == "references"]
        assert len(refs) == len(theirs) == 13
        for mine, their in zip(refs, theirs, strict=True):
            if their.title:
                assert mine["title"] == _ws(their.title)
            assert len(mine["authors"] or []) == len(their.authors)
            assert mine["doi"] == (their.doi.lower() if their.doi else None)
        return
    doc = grobid_tei_xml.parse_document_xml(data)
    rows = _parse(name)
    paper = rows["papers"][0]
    if doc.header.title:
        assert paper["title"] == _ws(doc.header.title)
    else:  # the hand-edited no-title file: its header's sourceDesc still names the paper
        assert name == NO_TITLE and paper["title"]
    assert len(paper["authors"] or []) == len(doc.header.authors)
    refs = rows["references"]
    assert len(refs) == len(doc.citations)
    for mine, their in zip(refs, doc.citations, strict=True):
        if their.title:
            assert mine["title"] == _ws(their.title)
        # grobid-tei-xml counts every author of an entry, we count the analytic's (else the monograph's)
        assert len(mine["authors"] or []) == len(their.authors)
        if their.doi:
            assert mine["doi"] == their.doi.lower()
        if their.arxiv_id:
            assert mine["arxiv_id"] == their.arxiv_id.partition("v")[0]


# -- facts of specific documents --------------------------------------------------------------------


def test_specter_header_sections_table_formula_and_references() -> None:
    rows = _parse(SPECTER)
    paper = rows["papers"][0]
    assert paper["title"] == (
        "SPECTER: Document-level Representation Learning using Citation-informed Transformers"
    )
    assert [a["name"] for a in paper["authors"]] == [
        "Arman Cohan",
        "Sergey Feldman",
        "Iz Beltagy",
        "Doug Downey",
        "Daniel S Weld",
    ]
    assert paper["authors"][4]["keyname"] == "Weld" and paper["authors"][4]["forenames"] == "Daniel S"
    assert paper["authors"][0]["affiliations"] == [
        "Allen Institute for Artificial Intelligence ‡ Paul G. Allen School of Computer Science & "
        "Engineering, University of Washington"
    ]
    assert paper["abstract"].startswith("Representation learning is a critical ingredient")
    assert paper["arxiv_id"] is None and paper["doi"] is None and paper["work_type"] == "article"
    assert paper["work_id"].startswith("hash:")

    texts = rows["paper_texts"]
    abstract = [r for r in texts if r["section_index"] == 0]
    assert len(abstract) == 1 and abstract[0]["section_title"] == "Abstract"
    assert abstract[0]["text"] == paper["abstract"]
    heads = {r["section_index"]: (r["section_number"], r["section_title"]) for r in texts}
    assert heads[1] == ("1", "Introduction")
    assert heads[3] == ("2.2", "Background: Pretrained Transformers")
    assert heads[17] == ("8", "Conclusions and Future Work")
    assert len(heads) == 21  # abstract, 18 body divs, the figures/tables/footnotes, acknowledgements
    assert heads[20] == (None, "Acknowledgements")
    assert [r["paragraph_index"] for r in texts if r["section_index"] == 1] == [0, 1, 2, 3]
    assert Counter(r["kind"] for r in texts) == {
        "paragraph": 62,
        "formula": 4,
        "table_caption": 4,
        "figure_caption": 1,
        "table": 1,
    }
    formulas = [r["text"] for r in texts if r["kind"] == "formula"]
    assert "L = max d P Q , P + − d P Q , P − + m , 0 (2)" in formulas
    (table,) = [r for r in texts if r["kind"] == "table"]
    assert table["table_cells"] == [
        ["Training signal", "CLS USR CITE REC All"],
        ["SPECTER", "84.2 88.4 91.5 36.9 80.0"],
    ]
    assert table["text"] == "Training signal | CLS USR CITE REC All\nSPECTER | 84.2 88.4 91.5 36.9 80.0"
    captions = [r["text"] for r in texts if r["kind"] == "table_caption"]
    assert captions[0] == "Results on the SCIDOCS evaluation suite consisting of 7 tasks."
    # an empty figDesc: GROBID left Table 2's caption in the table's note
    assert captions[1].startswith("Ablations: Numbers are averages of metrics")
    assert all(r["page"] is None for r in texts)  # this TEI has no coordinates

    refs = rows["references"]
    assert len(refs) == 57
    assert refs[5]["doi"] == "10.1162/tacl_a_00051"
    assert refs[5]["cited_work_id"] == "doi:10.1162/tacl_a_00051"
    assert refs[10]["doi"] == "10.18653/v1/d17-1070"
    assert refs[3]["title"] == "SciB-ERT: A Pretrained Language Model for Scientific Text"
    assert refs[3]["authors"] == [
        {"name": "Iz Beltagy", "keyname": "Beltagy"},
        {"name": "Kyle Lo", "keyname": "Lo"},
        {"name": "Arman Cohan", "keyname": "Cohan"},
    ]
    assert (refs[3]["year"], refs[3]["venue"]) == (2019, "EMNLP")
    assert refs[3]["raw"].startswith("Iz Beltagy, Kyle Lo, and Arman Cohan. 2019.")
    # CoRR/ArXiv entries carry the id as an untyped idno "abs/1907.11692"
    roberta = refs[33]
    assert roberta["title"].startswith("RoBERTa: A Robustly Optimized BERT Pretraining Approach")
    assert roberta["arxiv_id"] == "1907.11692" and roberta["cited_work_id"] == "arxiv:1907.11692"
    assert roberta["source_record_id"] == f"grobid_tei/{SPECTER}#b33"


def test_stimulation_paper_doi_date_keywords_venue_and_back_matter() -> None:
    rows = _parse(STIMULATION)
    paper = rows["papers"][0]
    assert paper["work_id"] == "doi:10.1186/s12984-016-0129-6"
    assert paper["doi"] == "10.1186/s12984-016-0129-6" and paper["dois"] == [paper["doi"]]
    assert paper["created"] == date(2016, 3, 8)
    assert paper["venue"] == "Journal of NeuroEngineering and Rehabilitation"
    assert paper["subjects"] == [
        "Neuromuscular electrical stimulation",
        "Multi-contact stimulation",
        "EMG",
        "M-wave",
        "Hand function",
        "Neurorehabilitation",
    ]
    assert paper["authors"][0] == {
        "name": "Cristiano De Marchis",
        "keyname": "De Marchis",
        "forenames": "Cristiano",
        "suffix": None,
        "affiliations": [
            "Division of Functional and Restorative Neurosurgery, Department of Neurosurgery, "
            "Eberhard Karls University"
        ],
    }
    texts = rows["paper_texts"]
    captions = [r for r in texts if r["kind"] == "figure_caption"]
    assert len(captions) == 4 and captions[-1]["page"] == 7  # coords="7,62.70,709.38,..."
    assert captions[-1]["text"].startswith("Finger extension (median value ± median absolute deviation)")
    annex = [r for r in texts if r["section_title"] == "Competing interests"]
    assert [r["text"] for r in annex] == [
        "The authors declare that they have no competing interests.",
        annex[1]["text"],
    ]
    assert annex[1]["text"].startswith("Authors' contribution CDM, TSM and AG conceived the study")
    assert texts[-1]["section_title"] == "Competing interests"  # back matter after the body
    refs = rows["references"]
    assert len(refs) == 49
    assert refs[0]["doi"] == "10.1186/2040-7378-6-9"
    assert refs[0]["venue"] == "Experimental & Translational Stroke Medicine"
    assert refs[0]["authors"] == [
        {"name": "Fanny Quandt", "keyname": "Quandt"},
        {"name": "Friedhelm C Hummel", "keyname": "Hummel"},
    ]
    assert sum(1 for r in refs if r["doi"]) == 47


def test_grobid_0_7_arxiv_id_pages_sentences_and_table_cells() -> None:
    rows = _parse(GPOOLING)
    paper = rows["papers"][0]
    # <idno type="arXiv">arXiv:1912.10667v1[cs.CV]</idno>
    assert paper["arxiv_id"] == "1912.10667" and paper["work_id"] == "arxiv:1912.10667"
    assert paper["work_type"] == "preprint"
    assert paper["created"] == date(2019, 12, 23)
    assert [a["name"] for a in paper["authors"]] == ["Xueqing Deng", "U C Merced", "Yi Zhu", "Shawn Newsam"]
    texts = rows["paper_texts"]
    assert texts[0]["section_index"] == 0 and texts[0]["page"] == 1
    assert {r["page"] for r in texts} == set(range(1, 9))
    captions = [r["text"] for r in texts if r["kind"] == "table_caption"]
    # <s>...backbone.</s><s>Stride conv...</s>: sentences joined by a space
    assert captions[0].startswith("Experimental results of FCN using VGG-16 as backbone. Stride conv")
    tables = [r for r in texts if r["kind"] == "table"]
    assert len(tables) == 4
    assert tables[2]["table_cells"] == [
        ["Threshold", "1.0", "1.5", "2.0"],
        ["Potsdam", "15.87 9.85 7.65"],
        ["Vaihingen 14.99 10.44 7.91"],
    ]
    assert tables[0]["table_cells"][2][:3] == ["Max", "70.62", "74.28"]
    formulas = [r["text"] for r in texts if r["kind"] == "formula"]
    assert formulas[0] == "w i,j = (p x (x i ) − p x (x j )) 2 + (p y (x i ) − p y (x j )) 2 . (1)"
    refs = rows["references"]
    arxiv_refs = {r["arxiv_id"]: r["cited_work_id"] for r in refs if r["arxiv_id"]}
    assert arxiv_refs == {
        i: f"arxiv:{i}"
        for i in ("1706.05587", "1612.02649", "1710.11431", "1606.02585", "1409.1556", "1605.07146")
    }


def test_grobid_0_8_formulas_tables_and_production_time() -> None:
    data = _bytes(SEX_RATIOS)
    ctx = ParseContext()
    rows = list(SOURCE.parse(_doc(data, SEX_RATIOS), ctx))
    paper = rows[0][1]
    assert paper["title"] == (
        "Split Sex Ratios in Perennial Social Hymenoptera: A Mixed Evolutionary Stable Strategy from "
        "the Queens' Perspective?"
    )
    assert paper["created"] == date(2003, 9, 29)
    assert [a["keyname"] for a in paper["authors"]] == ["Roisin", "Aron"]
    kinds = Counter(row["kind"] for table, row in rows if table == "paper_texts")
    assert kinds == {"paragraph": 52, "formula": 26, "figure_caption": 7, "table_caption": 2, "table": 2}
    assert sum(1 for table, _ in rows if table == "references") == 47
    # the bytes were written by GROBID 0.8.0 at <application when="2024-07-31T13:27+0000">
    assert ctx.retrieved_at == datetime(2024, 7, 31, 13, 27, tzinfo=UTC)
    assert ctx.parser == "grobid_tei" and "GROBID 0.8.0" in ctx.notes


def test_grobid_0_5_tables_without_cells_and_a_lowercase_doi_type() -> None:
    rows = _parse(CRENARCHAEOTA)
    paper = rows["papers"][0]
    assert paper["work_id"] == "doi:10.1128/aem.00294-11"
    assert paper["venue"] == "APPLIED AND ENVIRONMENTAL MICROBIOLOGY"
    assert paper["created"] is None  # <date when="2011-11">: no day, no date
    tables = [r for r in rows["paper_texts"] if r["kind"] == "table"]
    assert len(tables) == 3
    assert all(r["table_cells"] is None for r in tables)  # GROBID 0.5 writes tables as bare text
    assert tables[1]["text"].startswith("Depth (m) Station 712 Station 608 Temp (°C) Salinity")
    dois = [r["doi"] for r in rows["references"] if r["doi"]]
    assert dois == ["10.1111/j.1462-2920.2010.02218.x"]  # <idno type="doi">


def test_literature_graph_and_a_fatcat_build() -> None:
    graph = _paper(LITERATURE_GRAPH)
    assert graph["title"] == "Construction of the Literature Graph in Semantic Scholar"
    assert len(graph["authors"]) == 23 and graph["authors"][0]["name"] == "Waleed Ammar"
    patients = _parse(PATIENTS)
    paper = patients["papers"][0]
    # two <author> entries hold only an affiliation GROBID could not attach to a name: not authors
    assert [a["name"] for a in paper["authors"]] == ["Irena Misevičienė", "Žemyna Milašauskienė"]
    assert paper["venue"] == "MEDICINA"
    assert patients["references"][0]["raw"] == (
        "Bruster S, Jarmen B, Bosanquet N, Weston D, Erens R, Delbanco TL. National survey of hospital "
        "patients. BMJ 1994; 10:1542-6."
    )


# -- hand-edited and partial documents ---------------------------------------------------------------


def test_no_title_reads_the_title_from_the_header_source_description() -> None:
    maml = _paper(MAML)
    no_title = _paper(NO_TITLE)
    assert (
        no_title["title"]
        == maml["title"]
        == "Model-Agnostic Meta-Learning for Fast Adaptation of Deep Networks"
    )
    assert no_title["work_id"] == maml["work_id"]  # the same work, however its TEI was edited
    assert [a["name"] for a in no_title["authors"]] == ["Chelsea Finn", "Pieter Abbeel", "Sergey Levine"]


def test_no_abstract_and_no_authors_give_partial_rows() -> None:
    no_abstract = _parse(NO_ABSTRACT)
    assert no_abstract["papers"][0]["abstract"] is None
    assert no_abstract["papers"][0]["title"] == _paper(MAML)["title"]
    assert no_abstract["paper_texts"] == [] and no_abstract["references"] == []
    no_authors = _parse(GPOOLING_NO_AUTHORS)
    paper = no_authors["papers"][0]
    assert paper["authors"] is None
    assert paper["work_id"] == "arxiv:1912.10667" and paper["title"].startswith("Generalizing Deep Models")
    assert len(no_authors["references"]) == 40 and len(no_authors["paper_texts"]) == 58


def test_a_document_that_names_no_work_is_an_error_unless_the_caller_knows_the_work() -> None:
    data = _bytes(NO_TITLE).replace(b"Model-Agnostic Meta-Learning for Fast Adaptation of Deep Networks", b"")
    error = _error("untitled.tei.xml", data)
    assert "grobid_tei/untitled.tei.xml" in str(error) and "names no work" in str(error)
    # named after an arXiv id, the file is keyed by it
    paper = _paper("1703.03400v3.tei.xml", data)
    assert paper["work_id"] == "arxiv:1703.03400" and paper["arxiv_id"] == "1703.03400"
    assert paper["title"] is None and paper["work_type"] == "preprint"
    assert [a["keyname"] for a in paper["authors"]] == ["Finn", "Abbeel", "Levine"]
    # a citation list has no header at all
    assert f"grobid_tei/{CITATION_LIST}" in str(_error(CITATION_LIST, _bytes(CITATION_LIST)))
    rows = list(tei.parse_tei(_bytes(CITATION_LIST), ParseContext(), "refs", work_id_hint="doi:10.5555/x"))
    refs = [row for table, row in rows if table == "references"]
    assert [r["doi"] for r in refs if r["doi"]] == ["10.1093/eurheartj/ehi890"]
    assert refs[3]["title"] == "Actors and Law Making in International Environmental Law"
    assert refs[3]["venue"] is None  # <meeting> holds only an address


def test_a_file_name_hint_keys_the_rows() -> None:
    assert tei.arxiv_hint_from_name("2206.10883v3.tei.xml") == "arxiv:2206.10883"
    assert tei.arxiv_hint_from_name("out/2206.10883.grobid.tei.xml") == "arxiv:2206.10883"
    assert tei.arxiv_hint_from_name("2206.10883v3.xml") == "arxiv:2206.10883"
    for name in (SPECTER, STIMULATION, SEX_RATIOS, LITERATURE_GRAPH, "2020.tei.xml"):
        assert tei.arxiv_hint_from_name(name) is None
    rows = _parse("2206.10883v3.tei.xml", _bytes(SPECTER))
    assert {r["work_id"] for table in rows.values() for r in table} == {"arxiv:2206.10883"}
    assert rows["papers"][0]["arxiv_id"] == "2206.10883"


def test_a_stated_licence_gates_the_text() -> None:
    data = _bytes(SPECTER).replace(
        b'<availability status="unknown"><licence/></availability>',
        b'<availability status="known"><licence target="http://creativecommons.org/licenses/by/4.0/">'
        b"CC BY 4.0</licence></availability>",
    )
    rows = _parse(SPECTER, data)
    paper = rows["papers"][0]
    assert paper["license"] == paper["metadata_license"] == "CC-BY-4.0"
    assert paper["text_redistributable"] is True
    assert paper["license_url"] == "http://creativecommons.org/licenses/by/4.0/"
    assert paper["license_source"] == tei.LICENSE_SOURCE_STATED
    assert {r["license"] for r in rows["paper_texts"] + rows["references"]} == {"CC-BY-4.0"}
    nc = data.replace(b"licenses/by/4.0/", b"licenses/by-nc/4.0/")
    assert _paper(SPECTER, nc)["license"] == "CC-BY-NC-4.0"
    assert _paper(SPECTER, nc)["text_redistributable"] is False


def test_namespaces_do_not_matter() -> None:
    data = _bytes(GPOOLING)
    bare = data.replace(b' xmlns="http://www.tei-c.org/ns/1.0"', b"")
    assert b"tei-c.org/ns" not in bare.split(b"xsi:schemaLocation")[0]

    def rows(body: bytes) -> list[Any]:
        return list(tei.parse_tei(body, ParseContext(), "x", raw_sha256="same"))

    assert rows(bare) == rows(data)


def test_gzipped_tei_is_read() -> None:
    data = _bytes(MAML)
    assert _parse(MAML, gzip.compress(data, mtime=0))["papers"][0]["title"] == _paper(MAML)["title"]


# -- bad input ----------------------------------------------------------------------------------------


def test_bad_bytes_give_a_parse_error_naming_the_document() -> None:
    data = _bytes(SPECTER)
    cases = {
        "empty.tei.xml": b"",
        "blank.tei.xml": b" \n\t ",
        "half.tei.xml": data[: len(data) // 2],
        "tail-cut.tei.xml": data[:-10],
        "not-xml.tei.xml": b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n",
        "json.tei.xml": b'{"title": "not TEI"}',
        "html.tei.xml": b"<html><body><p>not TEI</p></body></html>",
        "bad-gzip.tei.xml": gzip.compress(data)[:200],
    }
    for name, body in cases.items():
        error = _error(name, body)
        assert f"grobid_tei/{name}" in str(error), error
    assert "not <TEI>" in str(_error("html.tei.xml", cases["html.tei.xml"]))
    assert "empty" in str(_error("empty.tei.xml", b""))


def test_other_xml_from_the_fixtures_is_not_tei() -> None:
    arxiv = sorted(fixture_dir("arxiv_oai").glob("*.xml"))[0]
    assert "not <TEI>" in str(_error(arxiv.name, arxiv.read_bytes()))


# -- the source ---------------------------------------------------------------------------------------


def test_recognizes_every_tei_fixture_and_no_other_fixture() -> None:
    fixture_dir("grobid_tei")
    claimed = []
    for path in sorted(p for p in FIXTURES.rglob("*") if p.is_file()):
        head = path.read_bytes()[:HEAD_BYTES]
        if head[:2] == b"\x1f\x8b":
            with gzip.open(path, "rb") as fh:
                head = fh.read(HEAD_BYTES)
        if SOURCE.recognizes(path.name, head):
            claimed.append(path.relative_to(FIXTURES).as_posix())
        if path.parent == TEI_DIR:
            assert detect_source(path) is SOURCE, path.name
    assert claimed == sorted(f"grobid_tei/{p.name}" for p in TEI_DIR.iterdir())
    # nor does any other source claim a TEI file
    for other in all_sources().values():
        if other is not SOURCE:
            for path in TEI_DIR.iterdir():
                assert not other.recognizes(path.name, path.read_bytes()[:HEAD_BYTES]), (other.name, path)
    assert not SOURCE.recognizes("x.json", b'{"tei": "<TEI xmlns=\\"http://www.tei-c.org/ns/1.0\\">"}')


def test_declaration() -> None:
    assert SOURCE.tables == ("papers", "paper_texts", "references")
    assert SOURCE.live is None
    assert SOURCE.parser_name == tei.PARSER_NAME and SOURCE.parser_version == tei.PARSER_VERSION
    assert SOURCE.fixtures == ("../shared/fixtures/grobid_tei",)
