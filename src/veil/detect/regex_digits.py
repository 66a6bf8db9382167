"""The fewest digits any match of a regex holds, read from the parsed pattern.

A prefilter that needs twelve digits cannot match a text holding five, so the single-text
path skips it after one digit count per text, without running it. The bound is exact in one
direction only (never more than a real match holds), so skipping never changes a result.
"""

from __future__ import annotations

import re
from typing import Any

try:  # Python 3.11+
    from re import _constants as _c
    from re import _parser as _p
except ImportError:  # pragma: no cover - older interpreters
    import sre_constants as _c  # type: ignore[no-redef]
    import sre_parse as _p  # type: ignore[no-redef]

_REPEATS = {_c.MAX_REPEAT, _c.MIN_REPEAT, getattr(_c, "POSSESSIVE_REPEAT", _c.MAX_REPEAT)}


def min_digits(pattern: str, flags: int = 0) -> int:
    """A lower bound on the digits (characters ``\\d`` matches) in any match of ``pattern``;
    0 when the pattern cannot be read."""
    try:
        return _seq(_p.parse(pattern, flags))
    except (re.error, RecursionError, TypeError, ValueError):
        return 0


def _seq(items: Any) -> int:
    return sum(_item(op, av) for op, av in items)


def _item(op: Any, av: Any) -> int:
    if op is _c.LITERAL:
        return 1 if chr(av).isdecimal() and chr(av).isascii() else 0
    if op is _c.IN:
        return 1 if _digit_set(av) else 0
    if op is _c.SUBPATTERN:
        return _seq(av[-1])
    if op is getattr(_c, "ATOMIC_GROUP", None):
        return _seq(av)
    if op in _REPEATS:
        lo, _hi, sub = av
        return lo * _seq(sub)
    if op is _c.BRANCH:
        return min(_seq(alt) for alt in av[1])
    return 0  # any other character, anchors, look-arounds, back-references


def _digit_set(items: Any) -> bool:
    """A character class every member of which is an ASCII digit or ``\\d``."""
    if not items:
        return False
    for op, av in items:
        if op is _c.NEGATE:
            return False
        if op is _c.LITERAL and not (chr(av).isascii() and chr(av).isdecimal()):
            return False
        if op is _c.RANGE and not (ord("0") <= av[0] and av[1] <= ord("9")):
            return False
        if op is _c.CATEGORY and av is not _c.CATEGORY_DIGIT:
            return False
        if op not in (_c.LITERAL, _c.RANGE, _c.CATEGORY):
            return False
    return True


def digit_counts(arr: Any) -> Any:
    """Per text of an Arrow (large_)string array, the ASCII digits it holds, counted over
    the UTF-8 buffer with numpy; texts holding any non-ASCII character get the maximum (a
    regex's ``\\d`` also matches other scripts' digits, so they are never ruled out)."""
    import numpy as np

    n = len(arr)
    big = np.iinfo(np.int64).max
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.null_count or arr.offset:
        return np.full(n, big, dtype=np.int64)  # not expected here: rule nothing out
    width = np.int64 if str(arr.type) == "large_string" else np.int32
    offsets = np.frombuffer(arr.buffers()[1], dtype=width)[: n + 1].astype(np.int64)
    buf = arr.buffers()[2]
    if buf is None or offsets[-1] == 0:
        return np.zeros(n, dtype=np.int64)
    data = np.frombuffer(buf, dtype=np.uint8)[: offsets[-1]]
    digits = np.zeros(len(data) + 1, dtype=np.int64)
    np.cumsum((data - 48) < 10, out=digits[1:])
    high = np.zeros(len(data) + 1, dtype=np.int64)
    np.cumsum(data >= 128, out=high[1:])
    out = digits[offsets[1:]] - digits[offsets[:-1]]
    out[(high[offsets[1:]] - high[offsets[:-1]]) > 0] = big
    return out
