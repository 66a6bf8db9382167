"""PostgreSQL's text ``COPY`` format for a batch of decision rows, built column by column.

psycopg's ``Copy.write_row`` looks up a dumper and converts value by value (18 values a row:
the biggest client-side cost of a PostgreSQL batch, profiled). A batch's rows share most of
their values (model, purpose, times, session), so here a column whose values are all equal is
converted once, the others by one conversion per type over the column, and each line is one
``"\\t".join``. The text is what the ``COPY ... FROM STDIN`` text format reads: ``\\N`` for
NULL; backslash, tab, newline and carriage return escaped in text; ``bytea`` as ``\\x`` and hex
(its backslash escaped); times in ISO 8601 with their offset; numbers by ``repr``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

__all__ = ["copy_text", "value_text"]

_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_SPECIAL = ("\\", "\t", "\n", "\r")


def _str(v: str) -> str:
    return v.translate(_ESCAPES) if any(c in v for c in _SPECIAL) else v


def value_text(v: Any) -> str:
    """One value in the text COPY format."""
    if v is None:
        return "\\N"
    t = type(v)
    if t is str:
        return _str(v)
    if t is bool:
        return "t" if v else "f"
    if t is int or t is float:
        return repr(v)
    if t is bytes or t is bytearray or t is memoryview:
        return "\\\\x" + bytes(v).hex()
    if isinstance(v, datetime | date):
        return v.isoformat()
    return _str(str(v))


def _column(values: Sequence[Any]) -> Sequence[str]:
    first = values[0]
    kinds = set(map(type, values))
    # constant: converted once (not a zero float: 0.0 == -0.0, but their texts differ)
    if len(kinds) == 1 and first != 0.0 and values.count(first) == len(values):
        return [value_text(first)] * len(values)
    if kinds == {str}:
        joined = "".join(values)
        if not any(c in joined for c in _SPECIAL):
            return values  # type: ignore[return-value]
    elif kinds == {bytes}:
        return ["\\\\x" + v.hex() for v in values]
    elif kinds == {float} or kinds == {int}:
        return list(map(repr, values))
    return list(map(value_text, values))


def copy_text(rows: Sequence[Sequence[Any]]) -> bytes:
    """The rows (tuples of one table's columns, in ``COPY``'s column order) as text COPY
    data, one line each."""
    if not rows:
        return b""
    columns = [_column(c) for c in zip(*rows, strict=True)]
    return ("\n".join(map("\t".join, zip(*columns, strict=True))) + "\n").encode("utf-8")
