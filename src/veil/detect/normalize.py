"""Text as the recognizers expect it, and the way back to the caller's offsets.

Before matching, a text is put in Unicode NFKC form (full-width digits and letters become
ASCII, ligatures split, "ｔｏ" is "to"), zero-width characters (ZWSP, ZWNJ, ZWJ, word joiner,
BOM, soft hyphen) are removed, and every kind of space (no-break, narrow no-break, thin, figure,
ideographic) becomes a plain space. A span found in the normalized text maps back to the
original text exactly (:meth:`Normalized.span`): it starts at the first original character
of its first normalized character and ends after the last original character of its last one.

Most texts need nothing: ASCII text, and text already in NFKC form without special spaces,
are returned as they are (checked in C), so the common case costs one scan of the string.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass

ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff\u00ad"
SPACES = (
    "\u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000"
)
_SPECIAL = re.compile("[" + ZERO_WIDTH + SPACES + "]")
# a stretch worth normalizing: non-ASCII characters, with the character before them (a
# combining mark composes with an ASCII base: "e" + U+0301 -> "é")
_NON_ASCII = re.compile(r".?[^\x00-\x7f]+", re.S)
_INF = float("inf")
_TABLE = {ord(c): None for c in ZERO_WIDTH} | {ord(c): " " for c in SPACES}


@dataclass(frozen=True, slots=True)
class Normalized:
    """A normalized text and how its characters map back to the original.

    ``pieces`` lists the stretches that changed, as (start, end) in the normalized text and
    (start, end) in the original, sorted; between them the texts agree up to a shift."""

    text: str
    pieces: tuple[tuple[int, int, int, int], ...] = ()

    @property
    def identity(self) -> bool:
        return not self.pieces

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Original (start, end) of the normalized ``text[start:end]``."""
        if not self.pieces:
            return start, end
        a = self._start(start)
        return a, max(a, self._end(end))

    def _start(self, x: int) -> int:
        p = self.pieces
        k = bisect_right(p, (x, _INF)) - 1  # the last piece starting at or before x
        if k < 0:
            return x
        ns, ne, os_, oe = p[k]
        return os_ if x < ne else x + (oe - ne)

    def _end(self, x: int) -> int:
        if x == 0:
            return self._start(0)
        p = self.pieces
        k = bisect_right(p, (x - 1, _INF)) - 1  # the piece holding the last character
        if k < 0:
            return x
        ns, ne, os_, oe = p[k]
        return oe if x - 1 < ne else x + (oe - ne)


def normalize(text: str) -> Normalized:
    """``text`` in NFKC form, without zero-width characters, with plain spaces."""
    if text.isascii() or (
        unicodedata.is_normalized("NFKC", text) and _SPECIAL.search(text) is None
    ):
        return Normalized(text)
    out: list[str] = []
    pieces: list[tuple[int, int, int, int]] = []
    pos = 0  # original position copied up to
    npos = 0  # normalized length so far
    for m in _NON_ASCII.finditer(text):
        a, b = m.span()
        if a > pos:
            out.append(text[pos:a])
            npos += a - pos
        npos = _stretch(text, a, b, out, pieces, npos)
        pos = b
    if pos < len(text):
        out.append(text[pos:])
    return Normalized("".join(out), tuple(pieces))


def _stretch(
    text: str, a: int, b: int, out: list[str], pieces: list[tuple[int, int, int, int]], npos: int
) -> int:
    """Normalize ``text[a:b]`` cluster by cluster (a base character and the combining marks
    after it), recording each cluster that changed."""
    i = a
    while i < b:
        j = i + 1
        while j < b and unicodedata.combining(text[j]):
            j += 1
        cluster = text[i:j]
        new = unicodedata.normalize("NFKC", cluster.translate(_TABLE))
        if new != cluster:
            pieces.append((npos, npos + len(new), i, j))
        out.append(new)
        npos += len(new)
        i = j
    return npos
