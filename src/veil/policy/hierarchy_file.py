"""ARX's generalization-hierarchy file format, read and checked without numpy or pyarrow.

A hierarchy file is ``;``-separated, one row per value, the columns the levels from the value
itself (level 0) to the root::

    39;35-39;30-39;20-39;*
    Bachelors;Undergraduate;Higher education;*

The policy loader checks the files a policy names here (cheaply, at load time); the risk
engine's :class:`veil.risk.hierarchy.Hierarchy` builds its Arrow lookup tables from the same
checked rows.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from os import PathLike
from pathlib import Path

from veil.errors import PolicyError

__all__ = ["column_of", "read_rows", "validated_rows"]


def column_of(path: str | PathLike[str]) -> str:
    """The column a file is for by ARX's naming (``adult_hierarchy_age.csv`` -> ``age``),
    else the file stem."""
    stem = Path(path).stem
    return stem.split("hierarchy_", 1)[1] if "hierarchy_" in stem else stem


def read_rows(path: str | PathLike[str], column: str, *, delimiter: str = ";",
              encoding: str = "utf-8") -> list[list[str]]:
    """The file's rows as read (a PolicyError naming the file when it cannot be read)."""
    p = Path(path)
    try:
        with p.open(newline="", encoding=encoding) as fh:
            return list(csv.reader(fh, delimiter=delimiter))
    except OSError as exc:
        raise PolicyError(
            f"cannot read hierarchy for column '{column}': {exc}", where=str(p)
        ) from exc


def validated_rows(column: str, rows: Iterable[Sequence[object]], *,
                   source: str | None = None) -> list[tuple[str, ...]]:
    """The distinct rows of a *consistent* hierarchy, in file order.

    Consistent: every row has the same number of levels, and every label at level ``l`` has
    exactly one parent at level ``l + 1`` (otherwise "generalize to level ``l + 1``" would not
    be a function of the level-``l`` value). Violations are a PolicyError naming the column,
    the value and the levels.
    """
    where = f" ({source})" if source else ""
    table = [tuple(str(cell) for cell in row) for row in rows]
    table = [row for row in table if len(row) > 0 and not (len(row) == 1 and row[0] == "")]
    if not table:
        raise PolicyError(f"hierarchy for column '{column}'{where} is empty")
    width = len(table[0])
    for number, row in enumerate(table, start=1):
        if len(row) != width:
            raise PolicyError(
                f"hierarchy for column '{column}'{where}: row {number} (value '{row[0]}') "
                f"has {len(row)} levels, expected {width} like row 1 (value '{table[0][0]}')"
            )
    # Level 0 is the value itself: a value listed twice with different generalizations
    # fails here too.
    for level in range(width - 1):
        parent: dict[str, str] = {}
        for row in table:
            label, up = row[level], row[level + 1]
            seen = parent.setdefault(label, up)
            if seen != up:
                raise PolicyError(
                    f"hierarchy for column '{column}'{where}: value '{label}' at level "
                    f"{level} has two different parents at level {level + 1}: "
                    f"'{seen}' and '{up}'"
                )
    unique_rows: dict[str, tuple[str, ...]] = {}  # duplicate identical rows are harmless
    for row in table:
        unique_rows.setdefault(row[0], row)
    return list(unique_rows.values())
