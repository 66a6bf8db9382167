"""Generalization hierarchies: load, validate, and apply them to Arrow arrays.

A hierarchy maps every value of one column to a coarser label at each level, up to the
root (usually ``*``). The CSV format is ARX's: ``;``-separated, one row per value, the
columns are the levels from the value itself (level 0) to the root::

    39;35-39;30-39;20-39;*
    Bachelors;Undergraduate;Higher education;*

A hierarchy must be *consistent*: every row has the same number of levels, and every label
at level ``l`` has exactly one parent at level ``l + 1`` (otherwise "generalize to level
``l + 1``" would not be a function of the level-``l`` value, and the lattice search, which
rolls equivalence classes up from finer to coarser nodes, would be wrong). Violations are
:class:`~veil.errors.PolicyError` naming the column, the value and the levels.

Values in the data are matched by their string form (``pyarrow.compute.cast(..., string)``),
so an integer column ``age`` matches the hierarchy row ``39;...``. A value absent from the
hierarchy, or a null, is an :class:`~veil.errors.InputError` naming the column, the value and
the row: the check runs on each batch as it is read, before any search or output.

Generalizing is vectorized: dictionary-encode the array (distinct values only), look the
distinct values up once, map their codes to the level, and ``take()`` the labels.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from os import PathLike
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from veil.errors import InputError, PolicyError
from veil.policy.hierarchy_file import column_of, read_rows, validated_rows
from veil.policy.risk import RiskPolicy

__all__ = ["Hierarchy", "load_hierarchies", "policy_hierarchies", "to_string"]


def _as_array(values: pa.Array | pa.ChunkedArray | Sequence[object]) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    if isinstance(values, pa.Array):
        return values
    return pa.array(values)


def _at(row_offset: int | None, index: int) -> str:
    return "" if row_offset is None else f" at row {row_offset + index} (0-based)"


def to_string(values: pa.Array) -> pa.Array:
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    if pa.types.is_string(values.type):
        return values
    if pa.types.is_large_string(values.type) or pa.types.is_string_view(values.type):
        return values.cast(pa.string())
    try:
        return pc.cast(values, pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise InputError(
            f"cannot compare values of type {values.type} with a hierarchy: {exc}"
        ) from exc


class Hierarchy:
    """A validated generalization hierarchy for one column.

    ``rows[i][l]`` is the label of value ``rows[i][0]`` at level ``l``. Internally every level
    gets its own label list (``labels(l)``) and ``code_map[v, l]`` is the code, at level ``l``,
    of the value with code ``v`` (codes index ``labels(0)``, the value list).
    """

    __slots__ = ("column", "source", "_labels", "_code_map", "_index")

    def __init__(
        self, column: str, rows: Iterable[Sequence[str]], *, source: str | None = None
    ) -> None:
        self.column = column
        self.source = source
        rows_u = validated_rows(column, rows, source=source)
        width = len(rows_u[0])
        labels: list[list[str]] = []
        code_map = np.empty((len(rows_u), width), dtype=np.int64)
        for level in range(width):
            index: dict[str, int] = {}
            for i, row in enumerate(rows_u):
                code_map[i, level] = index.setdefault(row[level], len(index))
            labels.append(list(index))
        self._labels = tuple(pa.array(level_labels, type=pa.string()) for level_labels in labels)
        self._code_map = code_map
        self._code_map.setflags(write=False)
        self._index = {value: i for i, value in enumerate(labels[0])}

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def from_csv(
        cls,
        path: str | PathLike[str],
        column: str | None = None,
        *,
        delimiter: str = ";",
        encoding: str = "utf-8",
    ) -> Hierarchy:
        """Load an ARX-format hierarchy file.

        ``column`` defaults to the part of the file name after ``hierarchy_`` (ARX's naming:
        ``adult_hierarchy_age.csv`` -> ``age``), else the file stem.
        """
        p = Path(path)
        if column is None:
            column = column_of(p)
        rows = read_rows(p, column, delimiter=delimiter, encoding=encoding)
        return cls(column, rows, source=str(p))

    # -- shape ---------------------------------------------------------------------------------

    @property
    def levels(self) -> int:
        """Number of levels, the value itself included."""
        return int(self._code_map.shape[1])

    @property
    def height(self) -> int:
        """Index of the top level (levels - 1)."""
        return self.levels - 1

    @property
    def values(self) -> pa.Array:
        """The values the hierarchy covers (level 0), as strings, in file order."""
        return self._labels[0]

    def labels(self, level: int) -> pa.Array:
        """Distinct labels at ``level``; a level-``level`` code indexes this array."""
        self._check_level(level)
        return self._labels[level]

    @property
    def code_map(self) -> np.ndarray:
        """``code_map[v, l]``: code at level ``l`` of the value with code ``v`` (read-only)."""
        return self._code_map

    def domain_size(self, level: int) -> int:
        """Number of distinct labels at ``level``."""
        return len(self.labels(level))

    def leaf_counts(self, level: int) -> np.ndarray:
        """For each label at ``level``, how many values (hierarchy rows) it covers."""
        self._check_level(level)
        return np.bincount(self._code_map[:, level], minlength=len(self._labels[level]))

    def rows(self) -> list[tuple[str, ...]]:
        """The hierarchy as rows of labels (one row per value)."""
        cols = [self._labels[lv].to_pylist() for lv in range(self.levels)]
        return [
            tuple(cols[lv][self._code_map[i, lv]] for lv in range(self.levels))
            for i in range(len(self._index))
        ]

    def _check_level(self, level: int) -> None:
        if not 0 <= level < self.levels:
            raise PolicyError(
                f"hierarchy for column '{self.column}' has levels 0..{self.height}, "
                f"not level {level}"
            )

    # -- data ----------------------------------------------------------------------------------

    def encode(
        self,
        values: pa.Array | pa.ChunkedArray | Sequence[object],
        *,
        row_offset: int | None = 0,
    ) -> np.ndarray:
        """Level-0 codes of ``values`` (int64), or :class:`InputError` for the first value that
        the hierarchy does not cover (naming column, value and 0-based row number, counted
        from ``row_offset``; ``None``: the values are not rows, name no row)."""
        arr = _as_array(values)
        if len(arr) == 0:
            return np.empty(0, dtype=np.int64)
        encoded = pc.dictionary_encode(arr)
        dict_codes = self._lookup(encoded.dictionary, encoded.indices, row_offset)
        indices = encoded.indices
        if indices.null_count:
            first = int(pc.index(pc.is_null(indices), True).as_py())
            raise InputError(
                f"column '{self.column}': missing value (null){_at(row_offset, first)}; "
                f"the generalization hierarchy does not cover nulls"
            )
        return dict_codes[indices.to_numpy(zero_copy_only=False)]

    def _lookup(self, distinct: pa.Array, indices: pa.Array, row_offset: int | None) -> np.ndarray:
        as_str = to_string(distinct)
        found = pc.index_in(as_str, value_set=self._labels[0])
        if found.null_count:
            missing = pc.is_null(found)
            # Report the value that appears first in the data, with its row.
            positions = np.flatnonzero(missing.to_numpy(zero_copy_only=False))
            idx = pc.fill_null(indices, -1).to_numpy(zero_copy_only=False)
            first_row = int(np.flatnonzero(np.isin(idx, positions))[0])
            bad = as_str[int(idx[first_row])].as_py()
            raise InputError(
                f"column '{self.column}': value '{bad}'{_at(row_offset, first_row)} "
                f"is not in its generalization hierarchy"
            )
        return found.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)

    def missing(self, values: pa.Array) -> np.ndarray:
        """Mask of the ``values`` the hierarchy does not cover (nulls included)."""
        arr = _as_array(values)
        found = pc.index_in(to_string(arr), value_set=self._labels[0])
        return pc.is_null(found).to_numpy(zero_copy_only=False) | pc.is_null(arr).to_numpy(
            zero_copy_only=False
        )

    def check(self, values: pa.Array | pa.ChunkedArray, *, row_offset: int | None = 0) -> None:
        """Raise :class:`InputError` if any value is not covered (see :meth:`encode`)."""
        self.encode(values, row_offset=row_offset)

    def generalize(
        self, values: pa.Array | pa.ChunkedArray | Sequence[object], level: int
    ) -> pa.Array:
        """``values`` generalized to ``level``, as a string array (level 0: the values' string
        form). Vectorized: dictionary-encode, look up the distinct values once, ``take()``."""
        self._check_level(level)
        codes = self.encode(values)
        return self._labels[level].take(pa.array(self._code_map[codes, level]))

    def __repr__(self) -> str:
        return f"Hierarchy(column={self.column!r}, values={len(self._index)}, levels={self.levels})"


def load_hierarchies(paths: Iterable[str | PathLike[str]]) -> dict[str, Hierarchy]:
    """Load several ARX hierarchy files, keyed by column (see :meth:`Hierarchy.from_csv`)."""
    result: dict[str, Hierarchy] = {}
    for path in paths:
        h = Hierarchy.from_csv(path)
        if h.column in result:
            raise PolicyError(f"two hierarchies for column '{h.column}'", where=str(path))
        result[h.column] = h
    return result


def policy_hierarchies(risk: RiskPolicy, policy_dir: str | PathLike[str]) -> dict[str, Hierarchy]:
    """Every hierarchy a policy's ``risk:`` section names, read and validated, by column
    (paths relative to the policy file's folder)."""
    return {c: Hierarchy.from_csv(p, column=c)
            for c, p in risk.hierarchy_paths(policy_dir).items()}
