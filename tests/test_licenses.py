"""License URLs as arXiv states them (its current and retired choices) to SPDX ids and the redistribution gate."""

from __future__ import annotations

import pytest

from pipelines.curate.licenses import License, license_from_url


@pytest.mark.parametrize(
    ("url", "spdx", "redistributable"),
    [
        # The licenses arXiv offers now.
        ("http://creativecommons.org/licenses/by/4.0/", "CC-BY-4.0", True),
        ("http://creativecommons.org/licenses/by-sa/4.0/", "CC-BY-SA-4.0", True),
        ("http://creativecommons.org/licenses/by-nc/4.0/", "CC-BY-NC-4.0", False),
        ("http://creativecommons.org/licenses/by-nc-sa/4.0/", "CC-BY-NC-SA-4.0", False),
        ("http://creativecommons.org/licenses/by-nc-nd/4.0/", "CC-BY-NC-ND-4.0", False),
        ("http://creativecommons.org/publicdomain/zero/1.0/", "CC0-1.0", True),
        (
            "http://arxiv.org/licenses/nonexclusive-distrib/1.0/",
            "LicenseRef-arXiv-nonexclusive-distrib-1.0",
            False,
        ),
        ("http://arxiv.org/licenses/us-public-domain/", "LicenseRef-arXiv-us-public-domain", False),
        # Retired ones still stated on older records.
        ("http://creativecommons.org/licenses/by/3.0/", "CC-BY-3.0", True),
        ("http://creativecommons.org/licenses/by-nc-sa/3.0/", "CC-BY-NC-SA-3.0", False),
        ("http://creativecommons.org/licenses/publicdomain/", "CC-PDDC", True),
        ("http://arxiv.org/licenses/assumed-1991-2003/", "LicenseRef-arXiv-assumed-1991-2003", False),
        # Spelling variants: https, no trailing slash, legal code pages, surrounding whitespace, case.
        ("https://creativecommons.org/licenses/by/3.0/", "CC-BY-3.0", True),
        ("https://creativecommons.org/licenses/by/4.0", "CC-BY-4.0", True),
        ("https://creativecommons.org/licenses/by-sa/4.0/legalcode", "CC-BY-SA-4.0", True),
        ("  http://creativecommons.org/licenses/by-nd/4.0/ \n", "CC-BY-ND-4.0", False),
        ("HTTP://CREATIVECOMMONS.ORG/LICENSES/BY/4.0/", "CC-BY-4.0", True),
        ("https://creativecommons.org/publicdomain/zero/1.0/legalcode", "CC0-1.0", True),
        (
            "https://arxiv.org/licenses/nonexclusive-distrib/1.0/license.html",
            "LicenseRef-arXiv-nonexclusive-distrib-1.0",
            False,
        ),
        ("https://arxiv.org/licenses/assumed-1991-2003", "LicenseRef-arXiv-assumed-1991-2003", False),
    ],
)
def test_license_from_url(url: str, spdx: str, redistributable: bool) -> None:
    lic = license_from_url(url)
    assert lic == License(spdx, url.strip(), redistributable)


@pytest.mark.parametrize(
    "url",
    [
        "https://example.org/my-license",
        "All rights reserved",
        "http://creativecommons.org/licenses/",
        "http://creativecommons.org/licenses/by/",
        "https://opensource.org/licenses/MIT",
    ],
)
def test_unrecognised_license_urls_are_unknown_and_keep_the_url(url: str) -> None:
    assert license_from_url(url) == License("unknown", url, False)


@pytest.mark.parametrize("url", [None, "", "   ", "\n"])
def test_missing_license_is_unknown_without_url(url: str | None) -> None:
    assert license_from_url(url) == License("unknown", None, False)


def test_only_attribution_and_public_domain_licenses_open_the_text_gate() -> None:
    urls = [
        "http://creativecommons.org/licenses/by/4.0/",
        "http://creativecommons.org/licenses/by-sa/4.0/",
        "http://creativecommons.org/licenses/by-nc/4.0/",
        "http://creativecommons.org/licenses/by-nc-sa/4.0/",
        "http://creativecommons.org/licenses/by-nc-nd/4.0/",
        "http://creativecommons.org/licenses/by-nd/4.0/",
        "http://creativecommons.org/publicdomain/zero/1.0/",
        "http://creativecommons.org/licenses/publicdomain/",
        "http://arxiv.org/licenses/nonexclusive-distrib/1.0/",
        "http://arxiv.org/licenses/assumed-1991-2003/",
        "http://arxiv.org/licenses/us-public-domain/",
        "http://creativecommons.org/licenses/by/3.0/",
        "http://creativecommons.org/licenses/by-nc-sa/3.0/",
    ]
    open_ = {license_from_url(u).spdx for u in urls if license_from_url(u).text_redistributable}
    assert open_ == {"CC-BY-4.0", "CC-BY-SA-4.0", "CC0-1.0", "CC-PDDC", "CC-BY-3.0"}
    # No NC or ND variant, and nothing arXiv-only, ever opens it.
    for url in urls:
        lic = license_from_url(url)
        if "-NC" in lic.spdx or "-ND" in lic.spdx or lic.spdx.startswith("LicenseRef-"):
            assert not lic.text_redistributable, url
