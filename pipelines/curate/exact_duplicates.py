"""Exact-duplicate content keys: one short digest per text, equal for texts that differ only in case,
Unicode compatibility form or whitespace.

The published definition (``content_key``, version ``CONTENT_KEY_VERSION``):

1. **Normalise** (``normalise_for_key``), in this order:

   a. Unicode normalisation form **NFKC** (``unicodedata.normalize("NFKC", text)``, the Unicode
      database of the Python that runs the pipeline): compatibility characters become their plain
      forms, e.g. the ligature "ﬁ" (U+FB01) becomes "fi", full-width "Ａ" (U+FF21) becomes "A",
      a non-breaking space (U+00A0) becomes a space, "²" becomes "2".
   b. **Full case folding** (``str.casefold``): "A" → "a", "ß" → "ss", "Σ"/"ς" → "σ".
   c. **Whitespace**: every run of one or more whitespace characters becomes one space U+0020, and
      leading and trailing whitespace is removed. A whitespace character is one for which Python's
      ``str.isspace()`` is true, which is exactly the set that the regular expression ``\\s`` matches
      on ``str`` and the set ``str.split()`` (no argument) splits on: U+0009–U+000D, U+001C–U+001F,
      U+0020, U+0085, U+00A0, U+1680, U+2000–U+200A, U+2028, U+2029, U+202F, U+205F, U+3000
      (checked over every code point by the tests). Step c runs after a and b, so characters whose
      NFKC form contains a space (e.g. "¨" U+00A8 → " ̈") are collapsed too.

   Nothing else is removed: punctuation, digits, accents (NFKC composes them; it does not strip them),
   zero-width characters (U+200B is not whitespace) and control characters stay.

2. **Key**: BLAKE2b with a 16-byte digest (``hashlib.blake2b(data, digest_size=16)``) of the UTF-8
   bytes of the normalised text, written as 32 lowercase hexadecimal characters. 128 bits make an
   accidental collision between two different texts negligible at any corpus size we will see
   (birthday bound ~2^64 texts); BLAKE2b is in the standard library and faster than SHA-256 in
   CPython.

``None``, the empty string, and text that is whitespace only (so empty after step 1) have no key
(``None``): they are not duplicates of one another.

Speed: for ASCII text (most abstracts), NFKC is the identity and ``casefold`` equals ``lower``, so the
ASCII path is ``text.lower()`` (the tests check both claims over all 128 ASCII characters, and the fast
path against the slow one on real fixture texts and random Unicode strings). The whitespace step is
``" ".join(text.split())`` in both paths.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Iterable
from typing import Any

CONTENT_KEY_VERSION = 1
DIGEST_SIZE = 16  # bytes; the key is twice as many hex characters

_blake2b = hashlib.blake2b
_normalize = unicodedata.normalize


def normalise_for_key(text: str) -> str:
    """``text`` in the form that is hashed: NFKC, case-folded, whitespace runs → one space, stripped."""
    if text.isascii():
        # NFKC is the identity on ASCII and casefold == lower there.
        return " ".join(text.lower().split())
    return " ".join(_normalize("NFKC", text).casefold().split())


def normalise_for_key_slow(text: str) -> str:
    """The definition without the ASCII fast path (the reference the tests compare against)."""
    return " ".join(_normalize("NFKC", text).casefold().split())


def content_key(text: str | None) -> str | None:
    """32 hex characters identifying ``text`` up to case, compatibility forms and whitespace; or ``None``.

    ``None`` for ``None``, ``""`` and whitespace-only text.
    """
    if not text:
        return None
    if text.isascii():
        normal = " ".join(text.lower().split())
    else:
        normal = " ".join(_normalize("NFKC", text).casefold().split())
    if not normal:
        return None
    return _blake2b(normal.encode("utf-8"), digest_size=DIGEST_SIZE).hexdigest()


def content_keys_column(texts: Any) -> list[str | None]:
    """``content_key`` of each text of a batch: a ``pyarrow`` string array or chunked array, or any
    iterable of ``str | None``. Nulls give ``None``."""
    values: Iterable[str | None] = texts.to_pylist() if hasattr(texts, "to_pylist") else texts
    blake2b, normalize = _blake2b, _normalize
    out: list[str | None] = []
    append = out.append
    for text in values:
        if not text:
            append(None)
            continue
        if text.isascii():
            normal = " ".join(text.lower().split())
        else:
            normal = " ".join(normalize("NFKC", text).casefold().split())
        append(blake2b(normal.encode("utf-8"), digest_size=DIGEST_SIZE).hexdigest() if normal else None)
    return out
