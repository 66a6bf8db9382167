"""A quick lower bound of the records a node must suppress, without grouping its classes.

The lattice search asks it first: when the bound already exceeds the suppression limit, the
node surely fails and the exact (sorting) evaluation is skipped.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from veil.risk.hierarchy import Hierarchy
from veil.risk.lattice import ClassState

__all__ = ["SmallClassBound"]

#: Hashed labels of every bottom class at every level are kept when they take fewer cells.
HASHED_CELLS = 1 << 24
_SEED = 0x7EE1


class SmallClassBound:
    """A lower bound of the records in classes smaller than ``k_min`` at a node.

    The bottom classes are hashed into 2^b buckets by a random 64-bit sum of their labels at
    the node's levels. A bucket holds a whole class (and, rarely, several): so a record in a
    bucket smaller than k is in a class smaller than k. Merging classes only makes buckets
    larger, so the count never exceeds the truth: a node whose bound is above the
    suppression limit surely fails.
    """

    def __init__(
        self,
        hierarchies: Sequence[Hierarchy],
        bottom: ClassState,
        level_codes: Callable[[int, np.ndarray, int], np.ndarray],
        k_min: int,
    ) -> None:
        self.k_min = k_min
        self._rep = bottom.rep
        self._level_codes = level_codes
        rows = len(bottom.rep)
        self.bits = int(min(max(math.ceil(math.log2(max(rows, 2))) + 3, 16), 24))
        rng = np.random.default_rng(_SEED)
        self._salts = [
            [
                rng.integers(0, 1 << 63, size=h.domain_size(lv), dtype=np.uint64) * np.uint64(2)
                + np.uint64(1)
                for lv in range(h.levels)
            ]
            for h in hierarchies
        ]
        self._hashed: list[list[np.ndarray]] | None = None
        if rows * sum(h.levels for h in hierarchies) <= HASHED_CELLS:
            self._hashed = [
                [salt[level_codes(j, bottom.rep, lv)] for lv, salt in enumerate(salts)]
                for j, salts in enumerate(self._salts)
            ]
        self._weights = bottom.sizes.astype(float)

    def _keys(self, node: np.ndarray) -> np.ndarray:
        d = len(node)
        if self._hashed is not None:
            key = self._hashed[0][int(node[0])].copy()
            for j in range(1, d):
                key += self._hashed[j][int(node[j])]
            return key
        rep, level_codes = self._rep, self._level_codes
        key = self._salts[0][int(node[0])][level_codes(0, rep, int(node[0]))]
        for j in range(1, d):
            key += self._salts[j][int(node[j])][level_codes(j, rep, int(node[j]))]
        return key

    def suppressed(self, node: np.ndarray) -> int:
        """Records surely in classes smaller than ``k_min`` at ``node``."""
        bins = (self._keys(node) >> np.uint64(64 - self.bits)).astype(np.intp)
        w = self._weights
        counts = np.bincount(bins, weights=w, minlength=1 << self.bits)
        return int(w[counts[bins] < self.k_min].sum())
