"""Equivalence classes of a table, counted in one streaming pass.

The table arrives as Arrow record batches. Each batch is reduced to counts per combination of
quasi-identifier (QI) values (its *equivalence classes*), and per (class, sensitive value) for
each sensitive attribute. Partial counts are merged across batches (re-grouped whenever the
buffer grows), so memory is bounded by the number of distinct combinations, never by the
number of rows. The metrics (:mod:`veil.risk.metrics`) and the lattice search
(:mod:`veil.risk.anonymize`) work on the resulting :class:`EquivalenceClasses`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from veil.errors import InputError, PolicyError
from veil.risk.hierarchy import Hierarchy

__all__ = [
    "ClassAggregator",
    "DataSource",
    "EquivalenceClasses",
    "SensitiveCounts",
    "aggregate",
    "aggregate_with_population",
    "code_dtype",
    "combine_codes",
    "divide",
    "group_keys",
    "iter_batches",
]

DataSource: TypeAlias = pa.Table | pa.RecordBatch | pa.RecordBatchReader | Iterable[pa.RecordBatch]

_COUNT = "__veil_count"
_KEY_LIMIT = 1 << 62


# ---------------------------------------------------------------------------------------------
# Integer keys for rows of codes
# ---------------------------------------------------------------------------------------------


def combine_codes(columns: Sequence[np.ndarray], radices: Sequence[int]) -> tuple[np.ndarray, int]:
    """One int64 key per row of small non-negative integer codes.

    Keys are equal iff the rows are equal, and sort like the rows (lexicographically, first
    column most significant). Mixed-radix ``((c0 * r1 + c1) * r2 + c2) ...``; when the product
    of the radices would overflow, the partial key is first compressed to its rank among the
    distinct partial keys (``np.unique``), which keeps both properties. Returns the keys and
    the size of their space (every key is ``< space``).

    Keys are comparable only among the rows passed in one call.
    """
    n = len(columns[0]) if columns else 0
    key = np.zeros(n, dtype=np.int64)
    space = 1
    for col, radix in zip(columns, radices, strict=True):
        radix = max(int(radix), 1)
        if space * radix >= _KEY_LIMIT:
            uniq, inverse = np.unique(key, return_inverse=True)
            key = inverse.astype(np.int64, copy=False).reshape(-1)
            space = max(len(uniq), 1)
        key *= radix  # in place: ``key`` is this function's own array
        key += col.astype(np.int64, copy=False)
        space *= radix
    return key, space


def group_keys(key: np.ndarray, space: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Group rows by key: ``(inverse, first_row, groups)``, groups sorted by key.

    ``inverse[i]`` is the group of row ``i``, ``first_row[g]`` one row of group ``g``. Uses a
    dense ``bincount`` table when the key space is small (no sort), ``np.unique`` otherwise.
    """
    n = len(key)
    if n == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64), 0
    if space <= 4 * n + 4096:
        first = np.full(space, -1, dtype=np.int64)
        first[key[::-1]] = np.arange(n - 1, -1, -1, dtype=np.int64)
        present = (first >= 0).nonzero()[0]  # the keys in use, in order
        ids = np.empty(space, dtype=np.int64)  # only the keys in use are read
        ids[present] = np.arange(len(present), dtype=np.int64)
        return ids[key], first[present], len(present)
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    return inverse.astype(np.int64, copy=False).reshape(-1), first.astype(np.int64), len(first)


def code_dtype(values: int) -> np.dtype:
    """The smallest unsigned integer type that holds codes ``0 .. values - 1``."""
    return np.dtype(np.min_scalar_type(max(values - 1, 0)))


def _weighted_bincount(index: np.ndarray, weights: np.ndarray, length: int) -> np.ndarray:
    if len(index) == 0:
        return np.zeros(length, dtype=np.int64)
    return np.rint(np.bincount(index, weights=weights, minlength=length)).astype(np.int64)


# ---------------------------------------------------------------------------------------------
# The aggregate
# ---------------------------------------------------------------------------------------------


def _once(fn: Callable[[Any], Any]) -> Any:
    """A property computed on first use and kept in the instance (as
    ``functools.cached_property``, without its lock: a search reads these per node)."""
    name = fn.__name__

    def get(self: Any) -> Any:
        cache = self.__dict__
        if name not in cache:
            cache[name] = fn(self)
        return cache[name]

    return property(get, doc=fn.__doc__)


def divide(a: np.ndarray, b: np.ndarray, where_zero: float) -> np.ndarray:
    """``a / b``, and ``where_zero`` where ``b`` is 0 (without a floating-point warning)."""
    if b.all():  # the usual case: a plain division (a masked one is slower)
        return a / b
    return np.divide(a, b, out=np.full(np.shape(a), where_zero), where=b != 0)


@dataclass(frozen=True, eq=False)
class SensitiveCounts:
    """Counts per (equivalence class, sensitive value) for one sensitive attribute.

    ``values`` holds the distinct values (sorted); pairs are sorted by class, then value.
    ``reference`` is the distribution the class distributions are compared with (t-closeness,
    delta-disclosure): counts per value code, by default the table's own totals.
    """

    attribute: str
    values: pa.Array
    class_index: np.ndarray
    value_code: np.ndarray
    counts: np.ndarray
    reference: np.ndarray | None = None

    def totals(self) -> np.ndarray:
        """Records per value code in the whole table."""
        return _weighted_bincount(self.value_code, self.counts, len(self.values))

    def reference_distribution(self) -> np.ndarray:
        """Q: the share of each value (code) in the reference distribution (computed once:
        do not modify it)."""
        return self._reference_shares

    @_once
    def _reference_shares(self) -> np.ndarray:
        ref = self.totals() if self.reference is None else self.reference
        total = ref.sum()
        return ref / total if total else np.zeros(len(ref))

    # The models of one node read the same per-pair arrays (a search checks a node's bound,
    # then its classes): each is computed once per object.

    @_once
    def pair_reference(self) -> np.ndarray:
        """Q of each pair's value."""
        return self.reference_distribution()[self.value_code]

    def pair_sizes(self, sizes: np.ndarray) -> np.ndarray:
        """``sizes`` of each pair's class (kept for the last ``sizes`` asked)."""
        last = self._memo.get("sizes")
        if last is None or last[0] is not sizes:
            last = self._memo["sizes"] = (sizes, sizes[self.class_index])
        return last[1]

    def class_max(self, values: np.ndarray, n_classes: int) -> np.ndarray:
        """The largest of per-pair ``values`` in each class; 0 for a class without pairs (an
        empty class of a population table)."""
        out = np.zeros(n_classes)
        if not len(values):
            return out
        out[self._owners] = -np.inf
        np.maximum.at(out, self.class_index, values)  # (numpy 2: faster than reduceat)
        return out

    def classes_with(self, pairs: np.ndarray, n_classes: int) -> np.ndarray:
        """Per class: does it hold a pair of the mask ``pairs``? (A model that fails a class
        when some value's figure is beyond its threshold tests the pairs, not their
        maximum.)"""
        out = np.zeros(n_classes, dtype=bool)
        out[self.class_index[pairs]] = True
        return out

    @_once
    def _owners(self) -> np.ndarray:
        """The classes that have pairs."""
        first = np.ones(len(self.class_index), dtype=bool)
        first[1:] = self.class_index[1:] != self.class_index[:-1]
        return self.class_index[first]

    @_once
    def _memo(self) -> dict[str, Any]:
        return {}


@dataclass(frozen=True, eq=False)
class EquivalenceClasses:
    """The aggregate: one row per distinct QI combination, with its size.

    ``codes[i, j]`` indexes ``dictionaries[j]`` (sorted distinct values of QI ``j``); rows are
    sorted lexicographically by code, so the order is deterministic whatever the batch order.
    """

    quasi_identifiers: tuple[str, ...]
    dictionaries: tuple[pa.Array, ...]
    codes: np.ndarray
    sizes: np.ndarray
    sensitive: Mapping[str, SensitiveCounts] = field(default_factory=dict)
    #: With a population table (delta-presence): the records of each class in the
    #: population; ``sizes`` then count the sample's records and may be 0.
    population: np.ndarray | None = None
    #: When tracked (``ClassAggregator(track_rows=True)``): per QI, the 0-based row where
    #: each dictionary value first appeared, so that a later error can name it.
    first_rows: tuple[np.ndarray, ...] | None = None

    @property
    def records(self) -> int:
        return int(self.sizes.sum())

    @property
    def classes(self) -> int:
        return len(self.sizes)

    def class_values(self, index: int) -> dict[str, Any]:
        """The QI values of class ``index``."""
        return {
            q: self.dictionaries[j][int(self.codes[index, j])].as_py()
            for j, q in enumerate(self.quasi_identifiers)
        }

    def sample_only(self) -> EquivalenceClasses:
        """The classes that hold sample records, without the population counts."""
        if self.population is None:
            return self
        keep = self.sizes > 0
        new_index = np.cumsum(keep) - 1
        sensitive = {
            a: SensitiveCounts(
                a, sc.values, new_index[sc.class_index], sc.value_code, sc.counts, sc.reference
            )
            for a, sc in self.sensitive.items()
        }
        return EquivalenceClasses(
            self.quasi_identifiers, self.dictionaries, self.codes[keep], self.sizes[keep], sensitive
        )

    def projected_sizes(self, keep: Sequence[int]) -> np.ndarray:
        """Class sizes when only the QIs at positions ``keep`` are quasi-identifiers."""
        if not keep:
            return np.array([self.records], dtype=np.int64)
        cols = [self.codes[:, j] for j in keep]
        key, space = combine_codes(cols, [len(self.dictionaries[j]) for j in keep])
        inverse, _, groups = group_keys(key, space)
        return _weighted_bincount(inverse, self.sizes, groups)


def iter_batches(data: DataSource) -> Iterator[pa.RecordBatch]:
    """Record batches of a table, a batch, a reader or any iterable of batches."""
    if isinstance(data, pa.Table):
        yield from data.to_batches()
    elif isinstance(data, pa.RecordBatch):
        yield data
    else:
        for batch in data:
            if isinstance(batch, pa.Table):
                yield from batch.to_batches()
            elif isinstance(batch, pa.RecordBatch):
                yield batch
            else:
                raise InputError(f"expected pyarrow record batches, got {type(batch).__name__}")


class _Dictionary:
    """Global codes for the values of one column, grown batch by batch.

    Each batch is dictionary-encoded by Arrow; only its distinct values are looked up (and,
    when new, appended), so the per-row work is one ``take``. Null is a value like any other.
    """

    def __init__(
        self, column: str, hierarchy: Hierarchy | None = None, track_rows: bool = False
    ) -> None:
        self.column = column
        self.hierarchy = hierarchy
        self.index: dict[object, int] = {}
        self.chunks: list[pa.Array] = []
        self.type: pa.DataType | None = None
        #: the row where each code first appeared (when tracked)
        self.first_rows: list[np.ndarray] | None = [] if track_rows else None

    def encode(self, values: pa.ChunkedArray | pa.Array, row_offset: int) -> np.ndarray:
        arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
        if pa.types.is_dictionary(arr.type):
            arr = arr.dictionary_decode()
        try:
            enc = pc.dictionary_encode(arr, null_encoding="encode")
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid) as exc:
            raise InputError(
                f"column '{self.column}': cannot group values of type {arr.type}: {exc}"
            ) from exc
        local = enc.dictionary
        if self.type is None or (pa.types.is_null(self.type) and not pa.types.is_null(local.type)):
            # first batch, or the first with a type (earlier ones held only nulls)
            self.type = local.type
            self.chunks = [c.cast(self.type) for c in self.chunks]
        elif local.type != self.type and not pa.types.is_null(local.type):
            try:
                local = local.cast(self.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                raise InputError(
                    f"column '{self.column}' changes type from {self.type} to "
                    f"{local.type} between batches"
                ) from None
        elif pa.types.is_null(local.type) and not pa.types.is_null(self.type):
            local = pa.nulls(len(local), type=self.type)
        mapping = np.empty(len(local), dtype=np.int64)
        fresh: list[int] = []
        try:
            for i, value in enumerate(local.to_pylist()):
                code = self.index.get(value)
                if code is None:
                    code = self.index[value] = len(self.index)
                    fresh.append(i)
                mapping[i] = code
        except TypeError:
            raise InputError(
                f"column '{self.column}' holds values that cannot be grouped (type {local.type})"
            ) from None
        if fresh:
            new = local.take(pa.array(fresh, pa.int64()))
            if self.hierarchy is not None:
                try:
                    self.hierarchy.encode(new, row_offset=None)
                except InputError:
                    self.hierarchy.encode(arr, row_offset=row_offset)  # names the row
                    raise
            self.chunks.append(new)
        indices = enc.indices.to_numpy(zero_copy_only=False)
        if fresh and self.first_rows is not None:
            first = np.full(len(local), -1, dtype=np.int64)
            first[indices[::-1]] = np.arange(len(indices) - 1, -1, -1, dtype=np.int64)
            self.first_rows.append(row_offset + first[np.array(fresh, dtype=np.int64)])
        return mapping[indices]

    def rows(self) -> np.ndarray | None:
        """The first row of each code (None: not tracked)."""
        if self.first_rows is None:
            return None
        if not self.first_rows:
            return np.empty(0, dtype=np.int64)
        return np.concatenate(self.first_rows)

    def values(self) -> pa.Array:
        if not self.chunks:
            return pa.array([], type=self.type or pa.null())
        if self.type is not None and pa.types.is_null(self.type):
            return pa.concat_arrays(self.chunks)
        return pa.concat_arrays(
            [c if c.type == self.type else c.cast(self.type) for c in self.chunks]
        )


def _sort_dictionary(values: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """(sorted values, rank of each original code); null sorts last."""
    order = pc.array_sort_indices(values, null_placement="at_end").to_numpy()
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order), dtype=np.int64)
    return values.take(pa.array(order)), rank


class _Partials:
    """Counts per combination of integer codes, merged across batches.

    Codes are packed into one int64 key (first column most significant, so keys sort like
    the rows), each batch is reduced with ``np.unique`` and partials are re-grouped when they
    outgrow ``max(buffer_rows, 2 x last merged size)``: amortized linear time, memory a small
    constant times the distinct combinations (16 bytes each). Bit widths follow the growing
    dictionaries (buffered keys are re-packed when a column needs more bits); when the codes
    no longer fit 63 bits, the partials move to Arrow ``group_by`` on the code columns.
    """

    def __init__(self, width: int, buffer_rows: int) -> None:
        self.width = width
        self.buffer_rows = buffer_rows
        self.bits = [0] * width
        self.keys: list[np.ndarray] = []
        self.counts: list[np.ndarray] = []
        self.tables: list[pa.Table] | None = None
        self.buffered = 0
        self.merged = 0

    @staticmethod
    def _pack(codes: Sequence[np.ndarray], bits: Sequence[int]) -> np.ndarray:
        key = np.zeros(len(codes[0]), dtype=np.int64)
        for c, b in zip(codes, bits, strict=True):
            key = (key << b) | c
        return key

    @staticmethod
    def _unpack(keys: np.ndarray, bits: Sequence[int]) -> list[np.ndarray]:
        out = []
        shift = sum(bits)
        for b in bits:
            shift -= b
            out.append((keys >> shift) & ((1 << b) - 1))
        return out

    def _names(self) -> list[str]:
        return [f"c{j}" for j in range(self.width)]

    def _to_tables(self) -> None:
        names = self._names()
        self.tables = [
            pa.table(
                {
                    **{
                        n: pa.array(c)
                        for n, c in zip(names, self._unpack(k, self.bits), strict=True)
                    },
                    _COUNT: pa.array(cnt),
                }
            )
            for k, cnt in zip(self.keys, self.counts, strict=True)
        ]
        self.keys, self.counts = [], []

    def add(self, codes: Sequence[np.ndarray], cardinalities: Sequence[int]) -> None:
        if self.tables is None:
            need = [max(1, int(card - 1).bit_length()) for card in cardinalities]
            if any(n > b for n, b in zip(need, self.bits, strict=True)):
                new = [n + 1 if n > b else b for n, b in zip(need, self.bits, strict=True)]
                if sum(new) > 63:
                    self._to_tables()
                else:
                    self.keys = [self._pack(self._unpack(k, self.bits), new) for k in self.keys]
                    self.bits = new
        if self.tables is not None:
            names = self._names()
            t = pa.table({n: pa.array(c) for n, c in zip(names, codes, strict=True)})
            part = t.group_by(names, use_threads=False).aggregate([([], "count_all")])
            self.tables.append(part.select([*names, "count_all"]).rename_columns([*names, _COUNT]))
            rows = part.num_rows
        else:
            keys, counts = np.unique(self._pack(codes, self.bits), return_counts=True)
            self.keys.append(keys)
            self.counts.append(counts.astype(np.int64))
            rows = len(keys)
        self.buffered += rows
        if self.buffered > max(self.buffer_rows, self.merged + self.merged // 4):
            self.compact()

    def compact(self) -> None:
        if self.tables is not None:
            if len(self.tables) > 1:
                names = self._names()
                merged = pa.concat_tables(self.tables)
                merged = merged.group_by(names, use_threads=False).aggregate([(_COUNT, "sum")])
                self.tables = [
                    merged.select([*names, f"{_COUNT}_sum"]).rename_columns([*names, _COUNT])
                ]
                pa.default_memory_pool().release_unused()
            self.buffered = self.merged = sum(t.num_rows for t in self.tables)
            return
        if len(self.keys) > 1:
            # the runs are sorted: a stable (merge) sort of their concatenation is cheap, and
            # every temporary is one array of the buffered rows at a time
            keys = np.concatenate(self.keys)
            self.keys = []
            counts = np.concatenate(self.counts)
            self.counts = []
            order = np.argsort(keys, kind="stable")
            keys = keys[order]
            counts = counts[order]
            del order
            first = np.empty(len(keys), dtype=bool)
            first[:1] = True
            np.not_equal(keys[1:], keys[:-1], out=first[1:])
            starts = np.flatnonzero(first)
            del first
            self.counts = [np.add.reduceat(counts, starts) if len(keys) else counts]
            del counts
            self.keys = [keys[starts]]
            del keys, starts
        self.buffered = self.merged = sum(len(k) for k in self.keys)

    def result(self) -> tuple[list[np.ndarray], np.ndarray]:
        """(codes per column, counts), one row per distinct combination."""
        self.compact()
        if self.tables is not None:
            t = self.tables[0] if self.tables else None
            if t is None:
                return [np.empty(0, np.int64)] * self.width, np.empty(0, np.int64)
            codes = [t[n].to_numpy().astype(np.int64) for n in self._names()]
            return codes, t[_COUNT].to_numpy().astype(np.int64)
        if not self.keys:
            return [np.empty(0, np.int64)] * self.width, np.empty(0, np.int64)
        return self._unpack(self.keys[0], self.bits), self.counts[0]


class ClassAggregator:
    """Streaming equivalence-class counter.

    ``update()`` each batch, then ``finish()``. Each QI (and sensitive) column is mapped to
    integer codes of a growing global dictionary (Arrow ``dictionary_encode``; only the
    distinct values of a batch are looked up); code combinations are counted per batch and
    merged across batches (see :class:`_Partials`), so memory stays proportional to the
    number of distinct combinations. With ``hierarchies``, every new QI value is checked
    against its hierarchy as its batch arrives: an :class:`InputError` names column, value and
    row before anything else is done.
    """

    def __init__(
        self,
        quasi_identifiers: Sequence[str],
        sensitive: Sequence[str] = (),
        *,
        hierarchies: Mapping[str, Hierarchy] | None = None,
        buffer_rows: int = 1 << 20,
        share_dictionaries: ClassAggregator | None = None,
        track_rows: bool = False,
    ) -> None:
        qis = tuple(quasi_identifiers)
        if not qis:
            raise PolicyError("at least one quasi-identifier is required")
        if len(set(qis)) != len(qis):
            raise PolicyError(f"quasi-identifiers listed twice: {list(qis)}")
        sens = tuple(dict.fromkeys(sensitive))
        both = sorted(set(qis) & set(sens))
        if both:
            raise PolicyError(f"column '{both[0]}' cannot be both quasi-identifier and sensitive")
        hs = dict(hierarchies or {})
        self.quasi_identifiers = qis
        self.sensitive = sens
        self.rows = 0
        self._dicts = {
            c: _Dictionary(c, hs.get(c), track_rows=track_rows and c in qis) for c in (*qis, *sens)
        }
        if share_dictionaries is not None:  # codes comparable with the other aggregate's
            for q in qis:
                self._dicts[q] = share_dictionaries._dicts[q]
        d = len(qis)
        self._parts: dict[str | None, _Partials] = {
            None: _Partials(d, buffer_rows),
            **{s: _Partials(d + 1, buffer_rows) for s in sens},
        }

    def update(self, batch: pa.RecordBatch | pa.Table) -> None:
        names = set(batch.schema.names)
        for col in (*self.quasi_identifiers, *self.sensitive):
            if col not in names:
                raise InputError(
                    f"column '{col}' is not in the data (columns: {', '.join(batch.schema.names)})"
                )
        n = batch.num_rows
        if n == 0:
            return
        codes = {c: self._dicts[c].encode(batch.column(c), self.rows) for c in self._dicts}
        self.rows += n
        qcodes = [codes[q] for q in self.quasi_identifiers]
        qcards = [len(self._dicts[q].index) for q in self.quasi_identifiers]
        for target, parts in self._parts.items():
            if target is None:
                parts.add(qcodes, qcards)
            else:
                parts.add([*qcodes, codes[target]], [*qcards, len(self._dicts[target].index)])

    def _sorted_dictionaries(
        self,
    ) -> tuple[list[pa.Array], list[np.ndarray], tuple[np.ndarray, ...] | None]:
        """(sorted dictionary, rank of each raw code, first rows by rank) per QI."""
        dictionaries: list[pa.Array] = []
        ranks: list[np.ndarray] = []
        first_rows: list[np.ndarray] = []
        for q in self.quasi_identifiers:
            values, rank = _sort_dictionary(self._dicts[q].values())
            dictionaries.append(values)
            ranks.append(rank)
            rows = self._dicts[q].rows()
            if rows is not None:
                by_rank = np.empty(len(rank), dtype=np.int64)
                by_rank[rank] = rows
                first_rows.append(by_rank)
        tracked = tuple(first_rows) if len(first_rows) == len(ranks) else None
        return dictionaries, ranks, tracked

    def _spent(self) -> None:
        """The aggregator is spent: free the partials."""
        for parts in self._parts.values():
            parts.keys, parts.counts, parts.tables = [], [], None
            parts.bits = [0] * parts.width
        self.rows = 0

    def finish(self) -> EquivalenceClasses:
        """The equivalence classes, sorted by their (sorted-dictionary) codes."""
        if self.rows == 0:
            raise InputError("empty table: there are no records to measure")
        main = self._parts[None]
        main.compact()
        packed = main.tables is None and all(
            p.tables is None and p.bits[: main.width] == main.bits
            for a, p in self._parts.items()
            if a is not None
        )
        return self._finish_packed() if packed else self._finish_generic()

    def _finish_packed(self) -> EquivalenceClasses:
        """The classes from the packed keys, one array of the classes at a time (memory:
        about 40 bytes per class at the peak, plus the pairs)."""
        d = len(self.quasi_identifiers)
        dictionaries, ranks, first_rows = self._sorted_dictionaries()
        main = self._parts[None]
        bits = list(main.bits)
        keys = main.keys[0] if main.keys else np.empty(0, dtype=np.int64)
        counts = main.counts[0] if main.counts else np.empty(0, dtype=np.int64)
        main.keys, main.counts = [], []
        n = len(keys)
        ranked = np.zeros(n, dtype=np.int64)  # the keys, re-packed with the ranks
        shift = sum(bits)
        for j, b in enumerate(bits):
            shift -= b
            col = (keys >> shift) & ((1 << b) - 1)
            ranked <<= b
            ranked |= ranks[j][col]
            del col
        if not self.sensitive:
            del keys
        order = np.argsort(ranked, kind="stable")
        ranked = ranked[order]
        sizes = counts[order]
        del counts
        codes = np.empty((n, d), dtype=code_dtype(max((len(v) for v in dictionaries), default=1)))
        shift = sum(bits)
        for j, b in enumerate(bits):
            shift -= b
            codes[:, j] = (ranked >> shift) & ((1 << b) - 1)
        del ranked
        sensitive: dict[str, SensitiveCounts] = {}
        if self.sensitive:
            position = np.empty(n, dtype=np.int64)
            position[order] = np.arange(n, dtype=np.int64)
            del order
            for s in self.sensitive:
                parts = self._parts[s]
                parts.compact()
                pkeys, pcounts = parts.keys[0], parts.counts[0]
                parts.keys, parts.counts = [], []
                value_bits = parts.bits[d]
                class_index = position[np.searchsorted(keys, pkeys >> value_bits)]
                value_raw = pkeys & ((1 << value_bits) - 1)
                del pkeys
                sensitive[s] = self._pairs(s, class_index, value_raw, pcounts)
        self._spent()
        return EquivalenceClasses(
            self.quasi_identifiers,
            tuple(dictionaries),
            codes,
            sizes,
            sensitive,
            first_rows=first_rows,
        )

    def _pairs(
        self, s: str, class_index: np.ndarray, value_raw: np.ndarray, counts: np.ndarray
    ) -> SensitiveCounts:
        """The (class, value) pairs of ``s``, sorted by class then value."""
        values, rank = _sort_dictionary(self._dicts[s].values())
        value_code = rank[value_raw]
        porder = np.lexsort((value_code, class_index))
        return SensitiveCounts(
            attribute=s,
            values=values,
            class_index=class_index[porder],
            value_code=value_code[porder],
            counts=counts[porder],
        )

    def _finish_generic(self) -> EquivalenceClasses:
        """The classes from code columns (when the codes outgrew 63 bits)."""
        qis = self.quasi_identifiers
        d = len(qis)
        dictionaries, ranks, first_rows = self._sorted_dictionaries()
        radices = [len(v) for v in dictionaries]
        raw, sizes = self._parts[None].result()
        # classes in lexicographic order of their (sorted-dictionary) codes
        keys, _ = combine_codes([ranks[j][raw[j]] for j in range(d)], radices)
        order = np.argsort(keys, kind="stable")
        del keys
        raw = [c[order] for c in raw]
        sizes = sizes[order]
        codes = np.stack([ranks[j][raw[j]] for j in range(d)], axis=1).astype(
            code_dtype(max(radices, default=1))
        )
        sensitive: dict[str, SensitiveCounts] = {}
        for s in self.sensitive:
            class_index, value_raw, counts = self._pairs_to_classes(s, raw, radices)
            sensitive[s] = self._pairs(s, class_index, value_raw, counts)
        self._spent()
        return EquivalenceClasses(
            qis, tuple(dictionaries), codes, sizes, sensitive, first_rows=first_rows
        )

    def _pairs_to_classes(
        self, attribute: str, class_raw: list[np.ndarray], radices: list[int]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(class index, raw value code, count) of each (class, value) pair."""
        parts = self._parts[attribute]
        d = len(class_raw)
        parts.compact()
        if parts.tables is None:
            # Packed keys: the QI part of a pair key is the class packed with the same bits.
            if not parts.keys:
                return (np.empty(0, np.int64),) * 3  # type: ignore[return-value]
            pkeys, counts = parts.keys[0], parts.counts[0]
            value_bits = parts.bits[d]
            qi_part = pkeys >> value_bits
            value_raw = pkeys & ((1 << value_bits) - 1)
            class_keys = _Partials._pack(class_raw, parts.bits[:d])
            by_key = np.argsort(class_keys, kind="stable")
            pos = np.searchsorted(class_keys[by_key], qi_part)
            return by_key[pos], value_raw, counts
        pcodes, counts = parts.result()
        cols = [np.concatenate([class_raw[j], pcodes[j]]) for j in range(d)]
        keys, _ = combine_codes(cols, [len(self._dicts[q].index) for q in self.quasi_identifiers])
        class_keys, pair_keys = keys[: len(class_raw[0])], keys[len(class_raw[0]) :]
        by_key = np.argsort(class_keys, kind="stable")
        pos = np.searchsorted(class_keys[by_key], pair_keys)
        return by_key[pos], pcodes[d], counts


def aggregate(
    data: DataSource | EquivalenceClasses,
    quasi_identifiers: Sequence[str],
    sensitive: Sequence[str] = (),
    *,
    hierarchies: Mapping[str, Hierarchy] | None = None,
) -> EquivalenceClasses:
    """Equivalence classes of a table or stream of batches (one pass)."""
    if isinstance(data, EquivalenceClasses):
        return data
    agg = ClassAggregator(quasi_identifiers, sensitive, hierarchies=hierarchies)
    for batch in iter_batches(data):
        agg.update(batch)
    return agg.finish()


def aggregate_with_population(
    sample: DataSource,
    population: DataSource,
    quasi_identifiers: Sequence[str],
    sensitive: Sequence[str] = (),
    *,
    hierarchies: Mapping[str, Hierarchy] | None = None,
) -> EquivalenceClasses:
    """The classes of a population table, with the records a sample (a subset of it) holds
    in each (``sizes``, possibly 0) and the population's (``population``). Sensitive
    attributes are read from the sample only. Every sample record must fall in a class of
    the population (an :class:`InputError` otherwise)."""
    pop_agg = ClassAggregator(quasi_identifiers, hierarchies=hierarchies)
    for batch in iter_batches(population):
        pop_agg.update(batch)
    smp_agg = ClassAggregator(
        quasi_identifiers, sensitive, hierarchies=hierarchies, share_dictionaries=pop_agg
    )
    for batch in iter_batches(sample):
        smp_agg.update(batch)
    if pop_agg.rows == 0:
        raise InputError("empty population table")
    smp = smp_agg.finish()
    pop = pop_agg.finish()  # same (shared, final) dictionaries: codes are comparable
    radices = [len(v) for v in smp.dictionaries]
    d = len(radices)
    both = np.concatenate([pop.codes, smp.codes])
    keys, _ = combine_codes([both[:, j] for j in range(d)], radices)
    pkeys, skeys = keys[: len(pop.sizes)], keys[len(pop.sizes) :]
    order = np.argsort(pkeys, kind="stable")
    pos = np.clip(np.searchsorted(pkeys[order], skeys), 0, max(len(pkeys) - 1, 0))
    target = order[pos]
    missing = pkeys[target] != skeys
    if missing.any():
        raise InputError(
            f"{int(smp.sizes[missing].sum()):,} records of the sample fall in "
            f"{int(missing.sum()):,} classes the population table does not have: the sample "
            f"must be a subset of the population"
        )
    sizes = np.zeros(len(pop.sizes), dtype=np.int64)
    sizes[target] = smp.sizes
    if (sizes > pop.sizes).any():
        raise InputError("a class holds more records in the sample than in the population")
    sens = {
        a: SensitiveCounts(a, sc.values, target[sc.class_index], sc.value_code, sc.counts)
        for a, sc in smp.sensitive.items()
    }
    return EquivalenceClasses(
        pop.quasi_identifiers, smp.dictionaries, pop.codes, sizes, sens, population=pop.sizes
    )

