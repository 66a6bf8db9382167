"""Many lattice nodes rolled up and checked in one pass of numpy calls.

A node of the bottom-up sweep holds about a thousand classes on Adult, so rolling it up
alone (:meth:`~veil.risk.lattice.RollUp.derive`) costs mostly numpy's per-call overhead. A
level's candidates do not depend on each other (a node's base is strictly finer), so their
bases' classes are concatenated, each node's keys offset into a space of its own, and one
grouping, one pair roll-up and one per-class check serve them all. The classes of each node
come out exactly as :meth:`derive` gives them (same order, same representatives: the
offset keeps each node's keys contiguous and in its own order), then are split per node.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from veil.risk.classes import group_keys
from veil.risk.lattice import ClassState, LevelCodes, SensitivePairs, roll_pairs

__all__ = ["derive_many", "split"]

_KEY_LIMIT = 1 << 62


def derive_many(
    codes: LevelCodes,
    value_domains: dict[str, int],
    nodes: np.ndarray,
    bases: Sequence[ClassState],
) -> tuple[ClassState, np.ndarray] | None:
    """The classes of every ``nodes[t]`` rolled up from ``bases[t]``, in one state (classes
    grouped by node, in node order) and the class boundaries of each node
    (``bounds[t]:bounds[t + 1]``). None when the keys would not fit one int64 space or the
    level codes of every input row are not kept."""
    tables = codes.level_tables()
    if tables is None:
        return None
    m, d = nodes.shape
    radices = [np.maximum(np.asarray(r, dtype=np.int64), 1) for r in codes.radix]
    spaces = [math.prod(int(radices[j][nodes[t, j]]) for j in range(d)) for t in range(m)]
    total = sum(spaces)
    if total >= _KEY_LIMIT:
        return None
    offsets = np.cumsum([0, *spaces[:-1]]).astype(np.int64)
    lens = np.array([len(b.rep) for b in bases], dtype=np.int64)
    node_of = np.repeat(np.arange(m, dtype=np.int64), lens)
    rep = np.concatenate([b.rep for b in bases])
    key = np.zeros(len(rep), dtype=np.int64)
    n_rows = tables[0].shape[1] if d else 0
    for j in range(d):
        flat = tables[j].reshape(-1)
        row_off = np.repeat(nodes[:, j] * n_rows, lens)
        key *= np.repeat(radices[j][nodes[:, j]], lens)
        key += flat[rep + row_off]
    key += np.repeat(offsets, lens)
    inverse, first, groups = group_keys(key, total)
    sizes = np.bincount(
        inverse, weights=np.concatenate([b.sizes for b in bases]), minlength=groups
    ).astype(np.int64)
    starts = np.cumsum(lens) - lens
    pairs = {}
    for a in bases[0].pairs:
        parts = [b.pairs[a] for b in bases]
        plens = [len(p.class_index) for p in parts]
        joined = SensitivePairs(
            np.concatenate([p.class_index for p in parts]) + np.repeat(starts, plens),
            np.concatenate([p.value_code for p in parts]),
            np.concatenate([p.counts for p in parts]),
        )
        pairs[a] = roll_pairs(joined, inverse, groups, value_domains[a])
    population = None
    if bases[0].population is not None:
        population = np.bincount(
            inverse,
            weights=np.concatenate([b.population for b in bases]),  # type: ignore[misc]
            minlength=groups,
        ).astype(np.int64)
    bounds = np.searchsorted(node_of[first], np.arange(m + 1, dtype=np.int64))
    return ClassState(rep=rep[first], sizes=sizes, pairs=pairs, population=population), bounds


def split(state: ClassState, bounds: np.ndarray) -> list[ClassState]:
    """Each node's own state out of :func:`derive_many`'s joined one."""
    cuts = {a: np.searchsorted(p.class_index, bounds) for a, p in state.pairs.items()}
    out = []
    for t in range(len(bounds) - 1):
        g0, g1 = int(bounds[t]), int(bounds[t + 1])
        pairs = {}
        for a, p in state.pairs.items():
            s0, s1 = int(cuts[a][t]), int(cuts[a][t + 1])
            pairs[a] = SensitivePairs(
                p.class_index[s0:s1] - g0, p.value_code[s0:s1], p.counts[s0:s1]
            )
        out.append(
            ClassState(
                rep=state.rep[g0:g1],
                sizes=state.sizes[g0:g1],
                pairs=pairs,
                population=None if state.population is None else state.population[g0:g1],
            )
        )
    return out
