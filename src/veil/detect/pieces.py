"""Long texts in overlapping pieces, and texts in slabs of bounded size.

A text longer than :data:`PIECE` characters is scanned as pieces of that size, each with
:data:`OVERLAP` characters of its neighbours on both sides (so a span or its context words
that cross a boundary are seen whole); a span counts for the piece whose core holds its first
character. Scanning time is then linear in the text's length, and the memory a scan adds is
bounded by the slab size (:data:`SLAB_CHARS`), whatever the length of one text.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

PIECE = 32_768
OVERLAP = 256
SLAB_CHARS = 4_000_000
SLAB_TEXTS = 65_536


@dataclass(frozen=True, slots=True)
class Piece:
    """``text[lo:hi]`` of text number ``text``; spans starting in [core_lo, core_hi) count."""

    text: int
    lo: int
    hi: int
    core_lo: int
    core_hi: int


def _cut(t: str, i: int) -> int:
    """A cut at or after ``i`` that does not split a base character from its accents."""
    while 0 < i < len(t) and unicodedata.combining(t[i]):
        i += 1
    return i


def pieces(i: int, t: str) -> Iterator[Piece]:
    n = len(t)
    if n <= PIECE + 2 * OVERLAP:
        yield Piece(i, 0, n, 0, n)
        return
    core = 0
    while core < n:
        end = _cut(t, min(n, core + PIECE))
        yield Piece(i, _cut(t, max(0, core - OVERLAP)), _cut(t, min(n, end + OVERLAP)), core, end)
        core = end


def slabs(values: list[str]) -> Iterator[list[Piece]]:
    """The pieces of all texts, grouped into slabs of at most :data:`SLAB_CHARS` characters
    (and :data:`SLAB_TEXTS` pieces)."""
    slab: list[Piece] = []
    size = 0
    for i, t in enumerate(values):
        for p in pieces(i, t):
            slab.append(p)
            size += p.hi - p.lo
            if size >= SLAB_CHARS or len(slab) >= SLAB_TEXTS:
                yield slab
                slab, size = [], 0
    if slab or not values:
        yield slab


def needs_digit(pattern: str, flags: int = 0) -> bool:
    """True when every match of ``pattern`` holds an ASCII digit (read from the parsed regex;
    False when unsure). A text without digits then skips the pattern."""
    import re._constants as sre_c  # the stdlib's regex parser and opcodes
    import re._parser as sre

    try:
        parsed = sre.parse(pattern, flags)
    except Exception:  # noqa: BLE001 - an unparsable pattern is simply not skipped
        return False
    return _seq(parsed, sre_c)


def _seq(seq: object, sre: object) -> bool:
    return any(_item(op, av, sre) for op, av in seq)  # type: ignore[attr-defined]


def _item(op: object, av: object, sre: object) -> bool:  # noqa: C901 - one case per opcode
    c = sre
    if op is c.LITERAL:
        return chr(av).isdigit()  # type: ignore[arg-type]
    if op is c.IN:
        items = list(av)  # type: ignore[call-overload]
        if not items or items[0][0] is c.NEGATE:
            return False
        for iop, iav in items:
            if iop is c.LITERAL and chr(iav).isdigit():
                continue
            if iop is c.RANGE and chr(iav[0]) >= "0" and chr(iav[1]) <= "9":
                continue
            if iop is c.CATEGORY and iav is c.CATEGORY_DIGIT:
                continue
            return False
        return True
    if op is c.SUBPATTERN:
        return _seq(av[-1], sre)  # type: ignore[index]
    if op is c.ATOMIC_GROUP:
        return _seq(av, sre)
    if op is c.BRANCH:
        return all(_seq(b, sre) for b in av[1])  # type: ignore[index]
    if op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
        lo, _hi, body = av  # type: ignore[misc]
        return lo >= 1 and _seq(body, sre)
    return False
