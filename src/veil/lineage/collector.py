"""A run's subjects, gathered batch by batch in bounded memory.

Each batch's distinct ids are kept as Arrow strings (``pc.unique``) and merged now and then
(`distinct`), so a run over few subjects hashes each of them once. When the distinct ids
waiting pass ``budget`` and the run knows its subject-reference key, they are hashed
(HMAC-SHA256, in slices of `HASH_SLICE`), their 16-byte prefixes sorted and written to disk as
a run (`veil.lineage.spill`), and memory is free again; at the end the runs are merged. A run
that never passed the budget ends in memory as before. Either way the set is the same, byte
for byte (tested with a tiny budget).

Merging the waiting ids as strings pays only when subjects repeat across batches. The first
merges come early (an eighth of the budget more each); once a merge of two or more batches
finds the ids nearly all distinct, later ones skip the string merge and hash batch by batch
(duplicates then go in the sort of the prefixes) and spill every quarter budget, until the
prefixes show repeats again. That keeps the peak low on a table of distinct subjects (the
string merge and its sort cost about 65 bytes per id).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from veil.lineage.sets import DTYPE, PREFIX_BYTES, PseudonymSet, paused_gc, sort_unique
from veil.lineage.spill import SortedRuns, SpilledSet

if TYPE_CHECKING:  # pragma: no cover
    from veil.consent.models import SubjectRef

__all__ = ["BUDGET", "HASH_SLICE", "LineageCollector"]

#: Distinct ids a collector holds before it spills (Arrow strings, some 20 bytes each).
BUDGET = 1 << 18
#: Ids turned into Python bytes and HMAC objects at a time (bounds that transient memory).
HASH_SLICE = 1 << 13
#: Ids a batch is de-duplicated in at a time (``pc.unique``: fast, but its hash table costs
#: about 130 bytes per distinct id, so larger sets are merged by `distinct`'s sort instead).
UNIQUE_SLICE = 1 << 16
#: A merge that keeps at least this share of the ids it merged found them "nearly all distinct".
DISTINCT_SHARE = 0.9


def hash_prefixes(ids: pa.Array | list[pa.Array], key: bytes) -> np.ndarray:
    """Sorted, distinct 16-byte prefixes of HMAC-SHA256(key, id) of the non-null ``ids``
    (string ids as UTF-8; others by their text form, integers in decimal)."""
    from veil.crypto.hmac import hmac_many

    parts = [_text(p).drop_null() for p in (ids if isinstance(ids, list) else [ids])]
    out = np.empty((sum(len(p) for p in parts), PREFIX_BYTES), dtype=np.uint8)
    at = 0
    with paused_gc():
        for part in parts:
            for i in range(0, len(part), HASH_SLICE):
                values = part.slice(i, HASH_SLICE).cast(pa.binary()).to_pylist()
                digests = np.frombuffer(hmac_many(key, b"", values), dtype=np.uint8)
                out[at:at + len(values)] = digests.reshape(-1, 32)[:, :PREFIX_BYTES]
                at += len(values)
    return sort_unique(out.view(DTYPE).reshape(len(out)), in_place=True)


def _text(ids: pa.Array) -> pa.Array:
    return ids if pa.types.is_string(ids.type) else pc.cast(ids, pa.string())


def distinct(ids: pa.Array) -> pa.Array:
    """The distinct non-null values of ``ids``, sorted. A sort and a comparison of neighbours:
    ``pc.unique``'s hash table peaks at about 190 bytes per distinct string (measured on a
    million ids), this at about 35."""
    ids = ids.drop_null()
    if len(ids) < 2:
        return ids
    s = ids.take(pc.array_sort_indices(ids))
    rest = s.slice(1)
    new = pc.not_equal(rest, s.slice(0, len(s) - 1))
    return pa.concat_arrays([s.slice(0, 1), rest.filter(new)])


class LineageCollector:
    """Gathers a run's distinct subject ids (``add`` per batch) into its pseudonym set
    (``finish``). Given the subject-reference key (``ref``), it spills to anonymous files in
    ``spill_dir`` whenever more than ``budget`` distinct ids wait; without it, it keeps them
    all in memory until ``finish(ref)``."""

    def __init__(self, ref: SubjectRef | None = None, *, spill_dir: Path | None = None,
                 budget: int | None = None) -> None:
        self._ref = ref
        self._budget = max(1, BUDGET if budget is None else budget)
        self._limit = max(1, self._budget // 8)  # an early first merge tells what ids these are
        self._decided = False  # a merge of two or more batches has been made
        self._distinct = False  # the last merge found them nearly all distinct
        self._parts: list[pa.Array] = []
        self._size = 0
        self._runs = SortedRuns(spill_dir)
        self.spilled = 0  # runs written to disk so far
        self._hashed: list[np.ndarray] = []  # prefixes hashed elsewhere (`add_hashed`)
        self._hashed_size = 0

    def add(self, ids: pa.Array | pa.ChunkedArray | None) -> None:
        if ids is None or len(ids) == 0:
            return
        if isinstance(ids, pa.ChunkedArray):
            ids = ids.combine_chunks()
        ids = _text(ids)  # one type to concatenate: the ids' text form
        for i in range(0, len(ids), UNIQUE_SLICE):
            u = pc.unique(ids.slice(i, UNIQUE_SLICE))
            self._parts.append(u)
            self._size += len(u)
            if self._size > self._limit:
                self._compact()

    def add_hashed(self, prefixes: np.ndarray) -> None:
        """Prefixes hashed elsewhere (a worker process: `hash_prefixes` with this collector's
        key), kept beside the ids and spilled past the budget: the set is the same."""
        if not len(prefixes):
            return
        self._hashed.append(prefixes)
        self._hashed_size += len(prefixes)
        if self._ref is not None and self._hashed_size > self._budget:
            self._runs.add(sort_unique(np.concatenate(self._hashed), in_place=True))
            self.spilled += 1
            self._hashed, self._hashed_size = [], 0

    def _compact(self) -> None:
        if self._ref is not None and self._distinct:  # hash batch by batch, no string merge
            prefixes = hash_prefixes(self._parts, self._ref.key())
            self._distinct = len(prefixes) >= DISTINCT_SHARE * self._size
            self._spill(prefixes)
            return
        waiting, parts = self._size, len(self._parts)
        merged = self._merged()
        if parts > 1:  # one batch's ids are distinct anyway: no evidence
            self._decided = True
            self._distinct = len(merged) >= DISTINCT_SHARE * waiting
        if self._ref is not None and (self._distinct or len(merged) * 2 > self._budget):
            self._spill(hash_prefixes(merged, self._ref.key()))
        else:  # repeats (or no evidence yet): keep the distinct ids, merge when they grow
            self._parts, self._size = [merged], len(merged)
            self._limit = (max(self._budget, 2 * len(merged)) if self._decided
                           else len(merged) + self._budget // 8)

    def _spill(self, prefixes: np.ndarray) -> None:
        self._runs.add(prefixes)
        self.spilled += 1
        self._parts, self._size = [], 0
        # distinct ids gain nothing from waiting longer: spill them in smaller runs
        self._limit = max(1, self._budget // 4) if self._distinct else self._budget

    def _merged(self) -> pa.Array:
        if not self._parts:
            return pa.array([], type=pa.string())
        if len(self._parts) == 1:
            return self._parts[0]
        return distinct(pa.concat_arrays(self._parts))

    def finish(self, ref: SubjectRef | None = None) -> PseudonymSet | SpilledSet:
        """The run's pseudonym set: in memory if it never spilled, else the merge of its runs
        (an anonymous file read bucket range by bucket range)."""
        ref = self._ref or ref
        if ref is None:
            raise TypeError("LineageCollector.finish needs the subject-reference key")
        rest = hash_prefixes(self._parts if self._distinct else self._merged(), ref.key())
        if self._hashed:
            rest = sort_unique(np.concatenate([rest, *self._hashed]), in_place=True)
        self._parts, self._size, self._hashed, self._hashed_size = [], 0, [], 0
        if not len(self._runs):
            return PseudonymSet(rest)
        if len(rest):
            self._spill(rest)
        return self._runs.merge()

    def close(self) -> None:
        """Free the spilled runs (a run that fails before ``finish``)."""
        self._parts, self._size, self._hashed, self._hashed_size = [], 0, [], 0
        self._runs.close()
