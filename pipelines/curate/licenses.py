"""License URLs to SPDX ids, and whether a license lets us redistribute full text."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

_CC = re.compile(r"creativecommons\.org/licenses/(by(?:-nc)?(?:-sa|-nd)?)/(\d\.\d)", re.IGNORECASE)
_CC0 = re.compile(r"creativecommons\.org/publicdomain/zero/(\d\.\d)", re.IGNORECASE)
_ARXIV = re.compile(r"arxiv\.org/licenses/([a-z0-9\-]+)/(\d\.\d)", re.IGNORECASE)
_ARXIV_ASSUMED = re.compile(r"arxiv\.org/licenses/assumed-1991-2003", re.IGNORECASE)
# Retired licenses arXiv still states on older records: the CC Public Domain Declaration, and the
# U.S. public domain status of U.S. government works (public domain in the U.S. only).
_CC_PD_DECLARATION = re.compile(r"creativecommons\.org/licenses/publicdomain", re.IGNORECASE)
_ARXIV_US_PD = re.compile(r"arxiv\.org/licenses/us-public-domain", re.IGNORECASE)

# Full text may be redistributed under these (verbatim, with attribution). NC and ND variants are
# excluded: splitting a paper into paragraphs is arguably an adaptation, and the dataset has no
# non-commercial restriction of its own.
_REDISTRIBUTABLE_PREFIXES = ("CC-BY-4.0", "CC-BY-3.0", "CC-BY-SA-4.0", "CC-BY-SA-3.0", "CC0-1.0")


@dataclass(frozen=True)
class License:
    spdx: str  # an SPDX id, a `LicenseRef-` id, or `unknown`
    url: str | None
    text_redistributable: bool


# A few dozen distinct license URLs cover all of arXiv, and every record states one: remember the answers.
# License is frozen, so sharing one instance between rows is safe.
@lru_cache(maxsize=1024)
def license_from_url(url: str | None) -> License:
    if not url or not url.strip():
        return License("unknown", None, False)
    url = url.strip()
    m = _CC.search(url)
    if m:
        spdx = f"CC-{m.group(1).upper()}-{m.group(2)}"
        return License(spdx, url, spdx in _REDISTRIBUTABLE_PREFIXES)
    m = _CC0.search(url)
    if m:
        return License(f"CC0-{m.group(1)}", url, True)
    if _CC_PD_DECLARATION.search(url):
        return License("CC-PDDC", url, True)
    if _ARXIV_US_PD.search(url):
        # Not public domain outside the U.S., and the dataset is published worldwide.
        return License("LicenseRef-arXiv-us-public-domain", url, False)
    if _ARXIV_ASSUMED.search(url):
        return License("LicenseRef-arXiv-assumed-1991-2003", url, False)
    m = _ARXIV.search(url)
    if m:
        # arXiv's own licenses grant arXiv, not third parties, the right to distribute.
        return License(f"LicenseRef-arXiv-{m.group(1).lower()}-{m.group(2)}", url, False)
    return License("unknown", url, False)


_LICENSE_REF = re.compile(r"^LicenseRef-[A-Za-z0-9.\-]+$")


def license_problem(expression: str, allow_unknown: bool = False) -> str | None:
    """Why ``expression`` is not a valid SPDX expression (or `LicenseRef-`), or None when it is."""
    from license_expression import get_spdx_licensing

    if allow_unknown and expression == "unknown":
        return None
    if _LICENSE_REF.match(expression):
        return None
    info = get_spdx_licensing().validate(expression)
    if info.errors:
        return "; ".join(info.errors)
    if info.normalized_expression != expression:
        return f"write it as {info.normalized_expression!r}"
    return None


# Licenses under which we republish text verbatim with attribution: the CC ones above, and permissive
# software licenses (a README or an eval log shipped in a repository under them). Copyleft and NC/ND are
# left out for the same reasons as above.
_PERMISSIVE = frozenset(
    {
        *_REDISTRIBUTABLE_PREFIXES,
        "CC-PDDC",
        "MIT",
        "MIT-0",
        "Apache-2.0",
        "BSD-2-Clause",
        "BSD-3-Clause",
        "ISC",
        "0BSD",
        "Unlicense",
        "Zlib",
        "BSL-1.0",
        "PSF-2.0",
    }
)


def permits_redistribution(spdx: str | None) -> bool:
    """Whether text under this SPDX expression may be republished: every alternative of an OR is enough,
    every part of an AND must allow it."""
    if not spdx:
        return False
    expression = spdx.strip()
    if " OR " in expression:
        return any(permits_redistribution(part.strip(" ()")) for part in expression.split(" OR "))
    if " AND " in expression:
        return all(permits_redistribution(part.strip(" ()")) for part in expression.split(" AND "))
    return expression in _PERMISSIVE
