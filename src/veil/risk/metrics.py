"""Re-identification risk of a table, measured in one streaming pass.

The table arrives as Arrow record batches. Each batch is reduced to counts per combination of
quasi-identifier (QI) values (its *equivalence classes*), and per (class, sensitive value) for
each sensitive attribute, with ``pyarrow.Table.group_by``. Partial counts are merged across
batches (re-grouped whenever the buffer grows), so memory is bounded by the number of distinct
combinations, never by the number of rows. Every metric is then computed from the aggregate
with vectorized numpy: nothing re-reads the data.

Definitions follow ARX (Prasser et al.) and the papers it implements; ``docs/risk.md`` writes
every formula out with references.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from veil.errors import InputError, PolicyError
from veil.risk.hierarchy import Hierarchy

__all__ = [
    "ClassAggregator",
    "EquivalenceClasses",
    "QIContribution",
    "RiskReport",
    "RiskyClass",
    "SensitiveCounts",
    "SensitiveRisk",
    "aggregate",
    "alpha_k_anonymity",
    "class_size_buckets",
    "class_size_distribution",
    "delta_disclosure",
    "distinct_l_diversity",
    "entropy_l_diversity",
    "iter_batches",
    "k_anonymity",
    "mask_value",
    "measure",
    "prosecutor_risk",
    "qi_contributions",
    "records_at_risk",
    "recursive_cl_diversity",
    "report",
    "riskiest_classes",
    "sample_uniqueness",
    "t_closeness_equal",
    "t_closeness_hierarchical",
    "t_closeness_ordered",
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
        key = key * radix + col.astype(np.int64, copy=False)
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
    if space <= max(4 * n, 1 << 16):
        first = np.full(space, -1, dtype=np.int64)
        first[key[::-1]] = np.arange(n - 1, -1, -1, dtype=np.int64)
        present = first >= 0
        ids = np.cumsum(present, dtype=np.int64) - 1
        return ids[key], first[present], int(ids[-1]) + 1
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    return inverse.astype(np.int64, copy=False).reshape(-1), first.astype(np.int64), len(first)


def _weighted_bincount(index: np.ndarray, weights: np.ndarray, length: int) -> np.ndarray:
    if len(index) == 0:
        return np.zeros(length, dtype=np.int64)
    return np.rint(np.bincount(index, weights=weights, minlength=length)).astype(np.int64)


# ---------------------------------------------------------------------------------------------
# The aggregate
# ---------------------------------------------------------------------------------------------


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
        """Q: the share of each value (code) in the reference distribution."""
        ref = self.totals() if self.reference is None else self.reference
        total = ref.sum()
        return ref / total if total else np.zeros(len(ref))


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

    def __init__(self, column: str, hierarchy: Hierarchy | None = None) -> None:
        self.column = column
        self.hierarchy = hierarchy
        self.index: dict[object, int] = {}
        self.chunks: list[pa.Array] = []
        self.type: pa.DataType | None = None

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
        return mapping[enc.indices.to_numpy(zero_copy_only=False)]

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
        if self.buffered > max(self.buffer_rows, 2 * self.merged):
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
            keys = np.concatenate(self.keys)
            counts = np.concatenate(self.counts)
            self.keys, self.counts = [], []
            uniq, inverse = np.unique(keys, return_inverse=True)
            del keys
            self.keys = [uniq]
            self.counts = [_weighted_bincount(inverse.reshape(-1), counts, len(uniq))]
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
        self._dicts = {c: _Dictionary(c, hs.get(c)) for c in (*qis, *sens)}
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

    def finish(self) -> EquivalenceClasses:
        if self.rows == 0:
            raise InputError("empty table: there are no records to measure")
        qis = self.quasi_identifiers
        d = len(qis)
        dictionaries: list[pa.Array] = []
        ranks: list[np.ndarray] = []
        for q in qis:
            values, rank = _sort_dictionary(self._dicts[q].values())
            dictionaries.append(values)
            ranks.append(rank)
        radices = [len(v) for v in dictionaries]
        raw, sizes = self._parts[None].result()
        # classes in lexicographic order of their (sorted-dictionary) codes
        keys, _ = combine_codes([ranks[j][raw[j]] for j in range(d)], radices)
        order = np.argsort(keys, kind="stable")
        del keys
        raw = [c[order] for c in raw]
        sizes = sizes[order]
        codes = np.stack([ranks[j][raw[j]] for j in range(d)], axis=1)
        sensitive: dict[str, SensitiveCounts] = {}
        for s in self.sensitive:
            class_index, value_raw, counts = self._pairs_to_classes(s, raw, radices)
            values, rank = _sort_dictionary(self._dicts[s].values())
            value_code = rank[value_raw]
            porder = np.lexsort((value_code, class_index))
            sensitive[s] = SensitiveCounts(
                attribute=s,
                values=values,
                class_index=class_index[porder],
                value_code=value_code[porder],
                counts=counts[porder],
            )
        for parts in self._parts.values():  # the aggregator is spent: free the partials
            parts.keys, parts.counts, parts.tables = [], [], None
            parts.bits = [0] * parts.width
        self.rows = 0
        return EquivalenceClasses(qis, tuple(dictionaries), codes, sizes, sensitive)

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


# ---------------------------------------------------------------------------------------------
# Identity-disclosure metrics (class sizes only)
# ---------------------------------------------------------------------------------------------


def k_anonymity(ec: EquivalenceClasses) -> int:
    """k: the size of the smallest equivalence class."""
    return int(ec.sizes.min())


def class_size_distribution(ec: EquivalenceClasses) -> dict[int, int]:
    """Class size -> number of classes of that size."""
    sizes, counts = np.unique(ec.sizes, return_counts=True)
    return {int(s): int(c) for s, c in zip(sizes, counts, strict=True)}


#: Lower bounds of the class-size buckets of :func:`class_size_buckets`.
SIZE_BUCKETS = (1, 2, 3, 5, 10, 20, 50, 100, 1000, 10000)


def class_size_buckets(
    distribution: Mapping[int, int], bounds: Sequence[int] = SIZE_BUCKETS
) -> list[dict[str, Any]]:
    """The class size distribution in buckets (``1``, ``2``, ``3-4``, ``5-9``, ... ``10000+``):
    one dict per non-empty bucket with ``label``, ``min``, ``max`` (None: open), ``classes``
    and ``records`` (records in classes of that size)."""
    out = []
    for i, lo in enumerate(bounds):
        hi = bounds[i + 1] - 1 if i + 1 < len(bounds) else None
        classes = records = 0
        for size, count in distribution.items():
            if size >= lo and (hi is None or size <= hi):
                classes += count
                records += size * count
        if classes:
            label = str(lo) if hi == lo else (f"{lo}+" if hi is None else f"{lo}-{hi}")
            out.append(
                {"label": label, "min": lo, "max": hi, "classes": classes, "records": records}
            )
    return out


def sample_uniqueness(ec: EquivalenceClasses) -> float:
    """Share of records that are alone in their class."""
    return float(ec.sizes[ec.sizes == 1].sum() / ec.records)


def prosecutor_risk(ec: EquivalenceClasses) -> tuple[float, float]:
    """(highest, average) prosecutor risk: ``1 / min |E|`` and ``#classes / #records``."""
    return 1.0 / float(ec.sizes.min()), ec.classes / ec.records


def records_at_risk(ec: EquivalenceClasses, threshold: float) -> float:
    """Share of records whose prosecutor risk ``1 / |E|`` is above ``threshold``."""
    at_risk = (1.0 / ec.sizes) > threshold
    return float(ec.sizes[at_risk].sum() / ec.records)


# ---------------------------------------------------------------------------------------------
# Attribute-disclosure metrics: per class, vectorized over (class, value) pairs
# ---------------------------------------------------------------------------------------------


def _class_starts(sc: SensitiveCounts, n_classes: int) -> np.ndarray:
    """Index of the first pair of each class (pairs are sorted by class; every class has one)."""
    return np.searchsorted(sc.class_index, np.arange(n_classes))


def _p(sc: SensitiveCounts, sizes: np.ndarray) -> np.ndarray:
    return sc.counts / sizes[sc.class_index]


def per_class_distinct(sc: SensitiveCounts, sizes: np.ndarray) -> np.ndarray:
    """Number of distinct sensitive values in each class."""
    return np.bincount(sc.class_index, minlength=len(sizes))


def per_class_entropy(sc: SensitiveCounts, sizes: np.ndarray) -> np.ndarray:
    """Shannon entropy (nats) of the sensitive values in each class."""
    p = _p(sc, sizes)
    return -np.bincount(sc.class_index, weights=p * np.log(p), minlength=len(sizes))


def per_class_recursive_ratio(sc: SensitiveCounts, sizes: np.ndarray, l: int) -> np.ndarray:  # noqa: E741
    """``r1 / (r_l + ... + r_m)`` per class (inf when the class has fewer than l values).

    A class satisfies recursive (c,l)-diversity iff ``c`` is larger than this ratio.
    """
    if l < 1:
        raise PolicyError(f"recursive (c,l)-diversity needs l >= 1, got {l}")
    n = len(sizes)
    order = np.lexsort((-sc.counts, sc.class_index))
    cls, cnt = sc.class_index[order], sc.counts[order]
    starts = np.searchsorted(cls, np.arange(n))
    rank = np.arange(len(cls)) - starts[cls]
    tail_mask = rank >= l - 1
    tail = np.bincount(cls[tail_mask], weights=cnt[tail_mask], minlength=n)
    r1 = cnt[starts].astype(float)
    with np.errstate(divide="ignore"):
        return np.where(tail > 0, r1 / np.where(tail > 0, tail, 1), np.inf)


def per_class_max_share(
    sc: SensitiveCounts, sizes: np.ndarray, value: object | None = None
) -> np.ndarray:
    """Largest share of one sensitive value in each class (or the share of ``value``)."""
    p = _p(sc, sizes)
    n = len(sizes)
    if value is None:
        return np.maximum.reduceat(p, _class_starts(sc, n)) if len(p) else np.zeros(n)
    try:
        code = pc.index(sc.values, pa.scalar(value, type=sc.values.type)).as_py()
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as exc:
        raise PolicyError(
            f"value {value!r} does not fit column '{sc.attribute}' ({sc.values.type})"
        ) from exc
    if code < 0:
        return np.zeros(n)
    mask = sc.value_code == code
    return np.bincount(sc.class_index[mask], weights=p[mask], minlength=n)


def per_class_emd_equal(sc: SensitiveCounts, sizes: np.ndarray) -> np.ndarray:
    """Equal-distance EMD of each class to the reference: ``1/2 sum_i |p_i - q_i|``."""
    q = sc.reference_distribution()[sc.value_code]
    p = _p(sc, sizes)
    s = np.bincount(sc.class_index, weights=np.abs(p - q) - q, minlength=len(sizes))
    return np.clip((1.0 + s) / 2.0, 0.0, 1.0)


def _order_ranks(sc: SensitiveCounts, order: Sequence[object] | None) -> np.ndarray:
    """Rank of each value code in the ordered domain."""
    m = len(sc.values)
    if order is None:
        t = sc.values.type
        if not (
            pa.types.is_integer(t)
            or pa.types.is_floating(t)
            or pa.types.is_decimal(t)
            or pa.types.is_temporal(t)
        ):
            raise PolicyError(
                f"ordered-distance t-closeness on '{sc.attribute}' needs a numeric column or an "
                f"explicit order of its values"
            )
        if sc.values.null_count:
            raise InputError(f"column '{sc.attribute}' has nulls: they have no place in the order")
        return np.arange(m)  # values are sorted ascending
    order_arr = pa.array(list(order))
    if order_arr.type != sc.values.type:
        order_arr = order_arr.cast(sc.values.type)
    pos = pc.index_in(sc.values, value_set=order_arr)
    if pos.null_count:
        missing = sc.values.filter(pc.is_null(pos))[0].as_py()
        raise PolicyError(f"value '{missing}' of '{sc.attribute}' is not in the given order")
    raw = pos.to_numpy(zero_copy_only=False)
    return np.argsort(np.argsort(raw, kind="stable"), kind="stable")


def per_class_emd_ordered(
    sc: SensitiveCounts, sizes: np.ndarray, order: Sequence[object] | None = None
) -> np.ndarray:
    """Ordered-distance EMD: ``1/(m-1) sum_{i<m} |sum_{j<=i} (p_j - q_j)|`` per class.

    Vectorized over pairs: between two values present in a class, the class CDF is constant,
    and the sum of ``|c - Q(i)|`` over a run of ``i`` follows from prefix sums of the reference
    CDF ``Q`` split where ``Q`` crosses ``c``.
    """
    n = len(sizes)
    m = len(sc.values)
    if m <= 1:
        return np.zeros(n)
    ranks = _order_ranks(sc, order)
    q_by_rank = np.zeros(m)
    q_by_rank[ranks] = sc.reference_distribution()
    big_q = np.cumsum(q_by_rank)  # Q(i)
    prefix = np.concatenate([[0.0], np.cumsum(big_q)])  # S(i) = sum_{j<i} Q(j)
    r = ranks[sc.value_code]
    o = np.lexsort((r, sc.class_index))
    cls, rk = sc.class_index[o], r[o]
    p = (sc.counts / sizes[sc.class_index])[o]
    starts = np.searchsorted(cls, np.arange(n))
    csum = np.cumsum(p)
    before = np.concatenate([[0.0], csum])[starts][cls]
    c = csum - before  # class CDF after each present value
    nxt = np.empty_like(rk)
    nxt[:-1] = rk[1:]
    last = np.ones(len(rk), dtype=bool)
    last[:-1] = cls[1:] != cls[:-1]
    nxt[last] = m
    lo, hi = rk, nxt
    t = np.clip(np.searchsorted(big_q, c, side="right"), lo, hi)
    seg = c * (t - lo) - (prefix[t] - prefix[lo]) + (prefix[hi] - prefix[t]) - c * (hi - t)
    total = np.bincount(cls, weights=seg, minlength=n)
    total += prefix[rk[starts]]  # before the first present value the class CDF is 0
    return np.clip(total / (m - 1), 0.0, 1.0)


def per_class_emd_hierarchical(
    sc: SensitiveCounts, sizes: np.ndarray, hierarchy: Hierarchy
) -> np.ndarray:
    """Hierarchical-distance EMD (Li et al. 2007) per class.

    With ``A_l = sum over labels N at level l present in the class of (|p_N - q_N| - q_N)``
    the EMD is ``1/(2H) sum_{l=1..H} l (A_{l-1} - A_l)`` (derivation in docs/risk.md); only
    labels present in the class contribute, so the cost is linear in the pairs.
    """
    n = len(sizes)
    leaf = hierarchy.encode(sc.values, row_offset=None)
    levels = [hierarchy.code_map[leaf, lv] for lv in range(hierarchy.levels)]
    height = hierarchy.height
    if hierarchy.domain_size(height) > 1:  # no single root: add one above the top level
        levels.append(np.zeros(len(leaf), dtype=np.int64))
        height += 1
    if height == 0:
        return np.zeros(n)
    q_val = sc.reference_distribution()
    p = sc.counts / sizes[sc.class_index]
    a_prev = np.zeros(n)
    total = np.zeros(n)
    for lv, label_of_value in enumerate(levels):
        width = int(label_of_value.max()) + 1 if len(label_of_value) else 1
        labels = label_of_value[sc.value_code]
        q_label = np.bincount(label_of_value, weights=q_val, minlength=width)
        key, space = combine_codes([sc.class_index, labels], [n, width])
        inverse, first, groups = group_keys(key, space)
        p_n = np.bincount(inverse, weights=p, minlength=groups)
        q_n = q_label[labels[first]]
        a = np.bincount(sc.class_index[first], weights=np.abs(p_n - q_n) - q_n, minlength=n)
        if lv > 0:
            total += lv * (a_prev - a)
        a_prev = a.astype(float)
    return np.clip(total / (2.0 * height), 0.0, 1.0)


def per_class_delta(sc: SensitiveCounts, sizes: np.ndarray) -> np.ndarray:
    """``max |log2(p(s|E) / p(s))|`` over the values present in each class."""
    q = sc.reference_distribution()[sc.value_code]
    p = _p(sc, sizes)
    with np.errstate(divide="ignore"):
        d = np.abs(np.log2(p / q))
    return np.maximum.reduceat(d, _class_starts(sc, len(sizes)))


# Table-level values ------------------------------------------------------------------------


def _sc(ec: EquivalenceClasses, attribute: str) -> SensitiveCounts:
    try:
        return ec.sensitive[attribute]
    except KeyError:
        raise PolicyError(
            f"'{attribute}' was not aggregated as a sensitive attribute "
            f"(sensitive: {sorted(ec.sensitive)})"
        ) from None


def distinct_l_diversity(ec: EquivalenceClasses, attribute: str) -> int:
    """Distinct l: the fewest distinct sensitive values in any class."""
    return int(per_class_distinct(_sc(ec, attribute), ec.sizes).min())


def entropy_l_diversity(ec: EquivalenceClasses, attribute: str) -> float:
    """Entropy l: ``min_E exp(H(E))``; the table is entropy-l-diverse iff l <= this value."""
    return float(np.exp(per_class_entropy(_sc(ec, attribute), ec.sizes).min()))


def recursive_cl_diversity(ec: EquivalenceClasses, attribute: str, l: int) -> float:  # noqa: E741
    """The bound on c for recursive (c,l)-diversity: the table satisfies it iff c > value."""
    return float(per_class_recursive_ratio(_sc(ec, attribute), ec.sizes, l).max())


def t_closeness_equal(ec: EquivalenceClasses, attribute: str) -> float:
    """t with equal ground distance: the largest EMD of a class to the whole table."""
    return float(per_class_emd_equal(_sc(ec, attribute), ec.sizes).max())


def t_closeness_ordered(
    ec: EquivalenceClasses, attribute: str, order: Sequence[object] | None = None
) -> float:
    """t with ordered distance (numeric attributes, or an explicit order)."""
    return float(per_class_emd_ordered(_sc(ec, attribute), ec.sizes, order).max())


def t_closeness_hierarchical(ec: EquivalenceClasses, attribute: str, hierarchy: Hierarchy) -> float:
    """t with hierarchical ground distance over a generalization hierarchy."""
    return float(per_class_emd_hierarchical(_sc(ec, attribute), ec.sizes, hierarchy).max())


def alpha_k_anonymity(
    ec: EquivalenceClasses, attribute: str, value: object | None = None
) -> tuple[float, int]:
    """(alpha, k): the largest share of a sensitive value (or of ``value``) in any class, and
    k. The table is (alpha', k')-anonymous iff alpha <= alpha' and k >= k'."""
    return float(per_class_max_share(_sc(ec, attribute), ec.sizes, value).max()), k_anonymity(ec)


def delta_disclosure(ec: EquivalenceClasses, attribute: str) -> float:
    """The largest ``|log2(p(s|E)/p(s))|``; delta-disclosure private iff delta > value."""
    return float(per_class_delta(_sc(ec, attribute), ec.sizes).max())


# ---------------------------------------------------------------------------------------------
# Which QI makes records unique; the riskiest classes
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QIContribution:
    """How much sample uniqueness falls when one QI is dropped from the QI set."""

    quasi_identifier: str
    uniqueness_without: float
    drop: float


@dataclass(frozen=True)
class RiskyClass:
    """A small equivalence class, its QI values masked (first character kept)."""

    size: int
    risk: float
    values: dict[str, str]


def qi_contributions(ec: EquivalenceClasses) -> tuple[QIContribution, ...]:
    """Uniqueness drop when each QI is removed, largest drop first."""
    base = sample_uniqueness(ec)
    d = len(ec.quasi_identifiers)
    out = []
    for j, q in enumerate(ec.quasi_identifiers):
        sizes = ec.projected_sizes([i for i in range(d) if i != j])
        without = float(sizes[sizes == 1].sum() / ec.records)
        out.append(QIContribution(q, without, base - without))
    return tuple(sorted(out, key=lambda c: (-c.drop, c.quasi_identifier)))


def mask_value(value: object) -> str:
    """Mask a value for display: keep the first character, star the rest."""
    if value is None:
        return "null"
    s = str(value)
    if s == "*" or len(s) <= 1:
        return "*"
    return s[0] + "*" * (len(s) - 1)


def riskiest_classes(ec: EquivalenceClasses, top: int = 10) -> tuple[RiskyClass, ...]:
    """The ``top`` smallest classes (highest prosecutor risk), values masked."""
    if top <= 0:
        return ()
    order = np.argsort(ec.sizes, kind="stable")[:top]
    return tuple(
        RiskyClass(
            size=int(ec.sizes[i]),
            risk=1.0 / float(ec.sizes[i]),
            values={q: mask_value(v) for q, v in ec.class_values(int(i)).items()},
        )
        for i in order
    )


# ---------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else x


@dataclass(frozen=True)
class SensitiveRisk:
    """Attribute-disclosure figures for one sensitive attribute.

    ``recursive_c``: the table is recursive (c, ``recursive_l``)-diverse iff c > this value
    (inf: no c works). ``alpha``: largest share of one value in a class. ``delta``: the table
    is delta-disclosure private iff delta > this value. ``t_*``: largest EMD of a class.
    """

    attribute: str
    distinct_l: int
    entropy_l: float
    recursive_l: int
    recursive_c: float
    t_equal: float
    t_ordered: float | None
    t_hierarchical: float | None
    alpha: float
    delta: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "attribute": self.attribute,
            "distinct_l": self.distinct_l,
            "entropy_l": self.entropy_l,
            "recursive_l": self.recursive_l,
            "recursive_c": _finite(self.recursive_c),
            "t_equal": self.t_equal,
            "t_ordered": self.t_ordered,
            "t_hierarchical": self.t_hierarchical,
            "alpha": self.alpha,
            "delta": _finite(self.delta),
        }


@dataclass(frozen=True)
class RiskReport:
    """Re-identification risk of one table (see docs/risk.md for the definitions)."""

    quasi_identifiers: tuple[str, ...]
    records: int
    classes: int
    k: int
    class_size_distribution: dict[int, int]
    sample_uniqueness: float
    prosecutor_risk_highest: float
    prosecutor_risk_average: float
    risk_threshold: float
    records_at_risk: float
    sensitive: dict[str, SensitiveRisk]
    qi_contributions: tuple[QIContribution, ...]
    riskiest_classes: tuple[RiskyClass, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (non-finite values become None)."""
        return {
            "quasi_identifiers": list(self.quasi_identifiers),
            "records": self.records,
            "classes": self.classes,
            "k": self.k,
            "class_size_distribution": {
                str(s): c for s, c in sorted(self.class_size_distribution.items())
            },
            "sample_uniqueness": self.sample_uniqueness,
            "prosecutor_risk_highest": self.prosecutor_risk_highest,
            "prosecutor_risk_average": self.prosecutor_risk_average,
            "risk_threshold": self.risk_threshold,
            "records_at_risk": self.records_at_risk,
            "sensitive": {a: s.to_dict() for a, s in self.sensitive.items()},
            "qi_contributions": [
                {
                    "quasi_identifier": c.quasi_identifier,
                    "uniqueness_without": c.uniqueness_without,
                    "drop": c.drop,
                }
                for c in self.qi_contributions
            ],
            "riskiest_classes": [
                {"size": r.size, "risk": r.risk, "values": dict(r.values)}
                for r in self.riskiest_classes
            ],
        }


def report(
    ec: EquivalenceClasses,
    *,
    risk_threshold: float = 0.2,
    recursive_l: int = 2,
    sensitive_hierarchies: Mapping[str, Hierarchy] | None = None,
    sensitive_orders: Mapping[str, Sequence[object]] | None = None,
    top: int = 10,
    contributions: bool = True,
) -> RiskReport:
    """All metrics of an aggregate. Ordered-distance t is computed for numeric sensitive
    attributes and those given an order; hierarchical t for those given a hierarchy."""
    if ec.records == 0:
        raise InputError("empty table: there are no records to measure")
    hier = dict(sensitive_hierarchies or {})
    orders = dict(sensitive_orders or {})
    sens: dict[str, SensitiveRisk] = {}
    for a, sc in ec.sensitive.items():
        t = sc.values.type
        numeric = pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)
        t_ord = (
            float(per_class_emd_ordered(sc, ec.sizes, orders.get(a)).max())
            if a in orders or (numeric and not sc.values.null_count)
            else None
        )
        t_h = float(per_class_emd_hierarchical(sc, ec.sizes, hier[a]).max()) if a in hier else None
        sens[a] = SensitiveRisk(
            attribute=a,
            distinct_l=int(per_class_distinct(sc, ec.sizes).min()),
            entropy_l=float(np.exp(per_class_entropy(sc, ec.sizes).min())),
            recursive_l=recursive_l,
            recursive_c=float(per_class_recursive_ratio(sc, ec.sizes, recursive_l).max()),
            t_equal=float(per_class_emd_equal(sc, ec.sizes).max()),
            t_ordered=t_ord,
            t_hierarchical=t_h,
            alpha=float(per_class_max_share(sc, ec.sizes).max()),
            delta=float(per_class_delta(sc, ec.sizes).max()),
        )
    highest, average = prosecutor_risk(ec)
    return RiskReport(
        quasi_identifiers=ec.quasi_identifiers,
        records=ec.records,
        classes=ec.classes,
        k=k_anonymity(ec),
        class_size_distribution=class_size_distribution(ec),
        sample_uniqueness=sample_uniqueness(ec),
        prosecutor_risk_highest=highest,
        prosecutor_risk_average=average,
        risk_threshold=risk_threshold,
        records_at_risk=records_at_risk(ec, risk_threshold),
        sensitive=sens,
        qi_contributions=qi_contributions(ec) if contributions else (),
        riskiest_classes=riskiest_classes(ec, top),
    )


def measure(
    data: DataSource | EquivalenceClasses,
    quasi_identifiers: Sequence[str] = (),
    sensitive: Sequence[str] = (),
    *,
    risk_threshold: float = 0.2,
    recursive_l: int = 2,
    sensitive_hierarchies: Mapping[str, Hierarchy] | None = None,
    sensitive_orders: Mapping[str, Sequence[object]] | None = None,
    top: int = 10,
    contributions: bool = True,
) -> RiskReport:
    """Measure the re-identification risk of a table or stream of batches, in one pass."""
    ec = aggregate(data, quasi_identifiers, sensitive)
    return report(
        ec,
        risk_threshold=risk_threshold,
        recursive_l=recursive_l,
        sensitive_hierarchies=sensitive_hierarchies,
        sensitive_orders=sensitive_orders,
        top=top,
        contributions=contributions,
    )
