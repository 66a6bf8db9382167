"""What one (column, recognizer) has validated so far: its distinct values and their scores,
kept as Arrow arrays so a new batch's candidates are looked up all at once
(``pyarrow.compute.index_in``) instead of one Python dict look-up per value."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


class Memo:
    """Validated values (in the order they were validated) and their scores."""

    def __init__(self) -> None:
        self._chunks: list[pa.Array] = []
        self._score_chunks: list[np.ndarray] = []
        self._values: pa.Array | None = None
        self._scores: np.ndarray | None = None
        self.size = 0

    def lookup(self, values: pa.Array) -> np.ndarray:
        """Per value, its position in the memo, or -1 when it was not validated yet."""
        if self.size == 0:
            return np.full(len(values), -1, dtype=np.int64)
        pos = pc.index_in(values, value_set=self.values())
        return pos.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)

    def scores_at(self, pos: np.ndarray) -> np.ndarray:
        if pos.size == 0:
            return np.zeros(0)
        if self._scores is None:
            self._scores = np.concatenate(self._score_chunks)
        return self._scores[pos]

    def values(self) -> pa.Array:
        if self._values is None:
            self._values = pa.concat_arrays(self._chunks)
        return self._values

    def add(self, values: pa.Array, scores: np.ndarray) -> None:
        if len(values) == 0:
            return
        self._chunks.append(values)
        self._score_chunks.append(scores)
        self._values = self._scores = None
        self.size += len(values)

    def keep_last(self, k: int) -> None:
        """Keep the ``k`` values validated last."""
        if k >= self.size:
            return
        vals, scores = self.values(), self.scores_at(np.arange(self.size))
        self.clear()
        if k > 0:
            self.add(vals.slice(len(vals) - k), scores[len(scores) - k :])

    def clear(self) -> None:
        self._chunks.clear()
        self._score_chunks.clear()
        self._values = self._scores = None
        self.size = 0
