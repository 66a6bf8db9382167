"""Shared pieces for recognizer families: boundaries, character classes, helpers."""

from __future__ import annotations

import re
import sys

# Left/right boundaries for numbers inside text: not glued to a word, an e-mail, a longer
# number, a decimal part or a reference like "INV-123".
NUM_L = r"(?<![\w@.,/+\-])(?<!\d[ ])"
NUM_R = r"(?![\w@\-]|[.,/]\d)"
# For alphanumeric codes (IBAN, VAT, national ids with letters).
ALNUM_L = r"(?<![\w@\-/])"
ALNUM_R = r"(?![\w@\-])"


def _upper_class() -> str:
    chars = [chr(c) for c in range(0x41, 0x5B)]
    for c in range(0xC0, 0x2B0):  # Latin-1 supplement, Latin Extended-A/B
        ch = chr(c)
        if ch.isupper():
            chars.append(ch)
    for c in range(0x391, 0x3AA):  # Greek capitals
        ch = chr(c)
        if ch.isupper():
            chars.append(ch)
    for c in range(0x400, 0x430):  # Cyrillic capitals
        chars.append(chr(c))
    return "".join(sorted(set(chars)))


UPPER_CHARS = _upper_class()
UPPER = "[" + re.escape(UPPER_CHARS) + "]"
LETTER = r"[^\W\d_]"

_SEP = re.compile(r"[\s\-./]")


def compact(value: str) -> str:
    """Remove spaces, dashes, dots and slashes."""
    return _SEP.sub("", value)


def digits_only(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())


def words(*ws: str) -> tuple[str, ...]:
    return tuple(ws)


def intern_all(ws: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sys.intern(w) for w in ws)
