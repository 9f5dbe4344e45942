"""arXiv ids and DOIs in the spellings sources use, normalised to the keys the dataset joins on."""

from __future__ import annotations

import pytest

from pipelines.curate.identifiers import ArxivId, normalize_doi, parse_arxiv_id, split_dois


@pytest.mark.parametrize(
    ("text", "arxiv_id", "version"),
    [
        # New style, 4 digits (0704-1412) and 5 digits (1501 on).
        ("0706.0001", "0706.0001", None),
        ("1401.2122", "1401.2122", None),
        ("2401.01234", "2401.01234", None),
        ("2401.01234v3", "2401.01234", 3),
        ("1111.2011v12", "1111.2011", 12),
        # OAI-PMH identifiers.
        ("oai:arXiv.org:1601.03238", "1601.03238", None),
        ("oai:arxiv.org:2401.14034", "2401.14034", None),
        ("oai:arXiv.org:cond-mat/0603029", "cond-mat/0603029", None),
        # abs and pdf URLs, with and without versions, http and https, export mirror.
        ("http://arxiv.org/abs/1111.2011v2", "1111.2011", 2),
        ("https://arxiv.org/abs/2401.01234", "2401.01234", None),
        ("https://export.arxiv.org/abs/2401.01234v1", "2401.01234", 1),
        ("http://export.arxiv.org/abs/hep-th/9901001", "hep-th/9901001", None),
        ("https://arxiv.org/pdf/2401.01234v2", "2401.01234", 2),
        ("https://arxiv.org/pdf/2401.01234v2.pdf", "2401.01234", 2),
        ("http://arxiv.org/pdf/1111.2011v2", "1111.2011", 2),
        ("http://arxiv.org/pdf/cond-mat/0603029v1", "cond-mat/0603029", 1),
        ("http://arxiv.org/abs/astro-ph/0601001v1", "astro-ph/0601001", 1),
        # arXiv: prefix, any case, surrounding whitespace.
        ("arXiv:1501.00001", "1501.00001", None),
        ("ARXIV:1501.00001v1", "1501.00001", 1),
        ("  arXiv:0706.0001v2 \n", "0706.0001", 2),
        # Old style: archive/YYMMNNN; the archive is lower-cased.
        ("hep-th/9901001", "hep-th/9901001", None),
        ("hep-th/9901001v1", "hep-th/9901001", 1),
        ("HEP-TH/9901001", "hep-th/9901001", None),
        ("astro-ph/0601001", "astro-ph/0601001", None),
        ("cond-mat/0603029v1", "cond-mat/0603029", 1),
        ("q-bio/0401001", "q-bio/0401001", None),
        # Old style with a subject class: the class is not part of the id (arXiv's canonical form and
        # the OAI-PMH <id> are math/0309136), so every spelling gives one key.
        ("math.GT/0309136", "math/0309136", None),
        ("math.gt/0309136", "math/0309136", None),
        ("arXiv:math.GT/0309136v2", "math/0309136", 2),
        ("https://arxiv.org/abs/math.CA/0611800v2", "math/0611800", 2),
        ("cs.AI/9308101", "cs/9308101", None),
    ],
)
def test_parse_arxiv_id_spellings(text: str, arxiv_id: str, version: int | None) -> None:
    parsed = parse_arxiv_id(text)
    assert parsed == ArxivId(arxiv_id, version)
    assert parsed is not None and parsed.work_id == f"arxiv:{arxiv_id}"


def test_every_spelling_of_one_old_style_paper_gives_one_work_id() -> None:
    spellings = [
        "math/0309136",
        "math.GT/0309136",
        "oai:arXiv.org:math/0309136",
        "arXiv:math.GT/0309136v1",
        "https://arxiv.org/abs/math.GT/0309136",
        "http://arxiv.org/pdf/math/0309136v1",
    ]
    work_ids = {id_.work_id for id_ in map(parse_arxiv_id, spellings) if id_ is not None}
    assert work_ids == {"arxiv:math/0309136"}


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "abc",
        "arXiv:",
        "0000",
        "1234.567",  # too few digits
        "1234.567890",  # too many digits
        "12345.6789",
        "2401.01234v",  # version without number
        "2401.01234va",
        "2401.01234 extra",
        "hep-th/990100",  # old style needs seven digits
        "hep-th/99010011",
        "hep-th9901001",
        "9901001",
        "math.GTX/0309136",  # subject classes are two letters
        "/0309136",
        "https://example.org/abs/2401.01234",
        "doi:10.1103/PhysRevD.93.016005",
        "https://arxiv.org/api/errors#incorrect_id_format_for_abc",
        "https://arxiv.org/abs/",
    ],
)
def test_parse_arxiv_id_rejects_what_is_not_an_id(text: str) -> None:
    assert parse_arxiv_id(text) is None


@pytest.mark.parametrize(
    ("text", "doi"),
    [
        ("10.1007/s11005-017-1013-4", "10.1007/s11005-017-1013-4"),
        ("10.1103/PhysRevD.93.016005", "10.1103/physrevd.93.016005"),
        ("https://doi.org/10.1103/PhysRevB.85.115117", "10.1103/physrevb.85.115117"),
        ("http://dx.doi.org/10.1103/PhysRevB.85.115117", "10.1103/physrevb.85.115117"),
        ("https://dx.doi.org/10.1140/epjc/s10052-017-5414-4", "10.1140/epjc/s10052-017-5414-4"),
        ("doi:10.1016/j.physletb.2017.01.001", "10.1016/j.physletb.2017.01.001"),
        ("DOI:10.1016/J.PHYSLETB.2017.01.001", "10.1016/j.physletb.2017.01.001"),
        ("  10.1103/PhysRevD.93.016005.  ", "10.1103/physrevd.93.016005"),
        ("10.1103/PhysRevD.93.016005,", "10.1103/physrevd.93.016005"),
        ("(10.1103/PhysRevD.93.016005)", "10.1103/physrevd.93.016005"),
        ("10.48550/arXiv.2401.01234", "10.48550/arxiv.2401.01234"),
        # SICI-style DOIs hold semicolons and angle brackets.
        (
            "10.1175/1520-0469(1998)055<0001:AOTROE>2.0.CO;2",
            "10.1175/1520-0469(1998)055<0001:aotroe>2.0.co;2",
        ),
    ],
)
def test_normalize_doi(text: str, doi: str) -> None:
    assert normalize_doi(text) == doi


@pytest.mark.parametrize("text", ["", "   ", "no doi here", "10.12/abc", "11.1103/x", "doi:", "10.1103"])
def test_normalize_doi_without_a_doi(text: str) -> None:
    assert normalize_doi(text) is None


@pytest.mark.parametrize(
    ("text", "dois"),
    [
        ("10.1007/s11005-017-1013-4", ["10.1007/s11005-017-1013-4"]),
        (
            "10.1103/PhysRevD.93.016005, 10.1103/PhysRevD.98.079901;10.1103/PhysRevD.98.079903",
            ["10.1103/physrevd.93.016005", "10.1103/physrevd.98.079901", "10.1103/physrevd.98.079903"],
        ),
        ("10.1000/a 10.1000/b\n10.1000/c", ["10.1000/a", "10.1000/b", "10.1000/c"]),
        ("10.1000/a,10.1000/b", ["10.1000/a", "10.1000/b"]),
        ("10.1000/a; 10.1000/b", ["10.1000/a", "10.1000/b"]),
        ("10.1000/a ; 10.1000/b", ["10.1000/a", "10.1000/b"]),
        ("doi:10.1000/a; doi:10.1000/b", ["10.1000/a", "10.1000/b"]),
        ("https://doi.org/10.1000/a,https://doi.org/10.1000/b", ["10.1000/a", "10.1000/b"]),
        # Order kept, duplicates (also in another case) dropped.
        ("10.1000/B 10.1000/a 10.1000/b", ["10.1000/b", "10.1000/a"]),
        # A semicolon inside a SICI DOI does not split it.
        (
            "10.1175/1520-0469(1998)055<0001:AOTROE>2.0.CO;2",
            ["10.1175/1520-0469(1998)055<0001:aotroe>2.0.co;2"],
        ),
        (
            "10.1175/1520-0469(1998)055<0001:AOTROE>2.0.CO;2; 10.1103/PhysRevD.93.016005",
            ["10.1175/1520-0469(1998)055<0001:aotroe>2.0.co;2", "10.1103/physrevd.93.016005"],
        ),
        ("", []),
        ("n/a", []),
        ("10.1000/a, n/a", ["10.1000/a"]),
    ],
)
def test_split_dois(text: str, dois: list[str]) -> None:
    assert split_dois(text) == dois
