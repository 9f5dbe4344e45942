"""GROBID TEI: folders of TEI files as GROBID's batch mode writes them, read into papers, full text and references.

Full text and bibliographies are what research agents need beyond abstracts, and GROBID is how the
field gets them from PDFs. A lab, a mirror or an earlier run often already has a folder of GROBID
output (``<name>.tei.xml`` or ``<name>.grobid.tei.xml`` per PDF); this source ingests such a folder
offline: the header gives a ``papers`` row, the body ``paper_texts`` rows, the bibliography
``references`` rows (see ``pipelines/parse/grobid_tei.py`` for what is read from where).

No live path: full text is fetched live by running GROBID on the PDFs of in-scope papers (the GROBID
client, ``pipelines/parse/grobid_client.py``), which uses the same TEI reader.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from pipelines.parse.grobid_tei import PARSER_NAME, PARSER_VERSION, TEI_NS, arxiv_hint_from_name, parse_tei
from pipelines.sources.base import ParseContext, RawDocument, Source, SourceLicense, TableRow
from pipelines.sources.registry import register

_TEI_NS = TEI_NS.encode()
# The root element: <TEI ...> or a prefixed <tei:TEI ...>, after the XML declaration and any comments.
_TEI_ROOT = re.compile(rb"<(?:[A-Za-z_][\w.\-]*:)?TEI[\s>/]")


@register
class GrobidTeiSource(Source):
    name = "grobid_tei"
    description = (
        "GROBID TEI XML (GROBID 0.5-0.8, e.g. a folder of batch-mode output): paper header, full text as "
        "sections, paragraphs, captions, tables and formulas, and the bibliography."
    )
    tables = ("papers", "paper_texts", "references")
    license = SourceLicense(
        # The TEI is GROBID's reading of one paper, so what it holds is under that paper's license; a folder
        # of TEI has no license of its own, and no single SPDX-listed id can honestly cover it: CC0-1.0 would
        # claim abstracts and text are public domain; NOASSERTION (SPDX's word for "not stated") is not a
        # license expression. A LicenseRef says "see each record", and each row states the paper's license
        # (`availability/licence` in the TEI, else `unknown`) in `license` and `metadata_license`.
        metadata_spdx="LicenseRef-paper-license",
        terms_url="https://grobid.readthedocs.io/en/latest/TEI-encoding-of-results/",
        text_redistribution=(
            "per paper: only under the CC license the TEI states (availability/licence, which GROBID reads "
            "from the PDF); without one the license is `unknown` and the text is not redistributed"
        ),
    )
    live = None  # full text live is GROBID on PDFs: pipelines/parse/grobid_client.py
    local_inputs = (
        "GROBID TEI XML files (processFulltextDocument or processHeaderDocument output, e.g. batch mode's "
        "<name>.tei.xml / <name>.grobid.tei.xml; plain or gzipped); a file named after an arXiv id "
        "(2206.10883v3.tei.xml) is keyed by it"
    )
    fixtures = ("../shared/fixtures/grobid_tei",)
    curation_rank = 1  # derived from the document: a work's own metadata source wins
    parser_name = PARSER_NAME
    parser_version = PARSER_VERSION

    def recognizes(self, name: str, head: bytes) -> bool:
        start = head.lstrip(b"\xef\xbb\xbf \t\r\n")
        if not start.startswith(b"<"):
            return False  # not XML (a JSON API response may quote TEI in a string)
        return _TEI_NS in head or _TEI_ROOT.search(head) is not None

    def parse(self, doc: RawDocument, ctx: ParseContext) -> Iterator[TableRow]:
        yield from parse_tei(
            doc.body(),
            ctx,
            doc.url_or_path,
            work_id_hint=arxiv_hint_from_name(doc.url_or_path),
            raw_sha256=doc.sha256,
        )
