"""The generalization lattice's data: classes at a node, and how they are computed.

The aggregate's distinct QI combinations are encoded once as hierarchy codes
(:class:`LevelCodes`); the classes of a node are *rolled up* from the classes of an already
known finer node (:class:`RollUp`), not from the rows. This is sound because the hierarchies
are consistent (a finer label has one coarser label). A bounded cache keeps the states the
roll-up starts from.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from veil.errors import InputError
from veil.risk.classes import EquivalenceClasses, SensitiveCounts, combine_codes, group_keys
from veil.risk.hierarchy import Hierarchy

__all__ = [
    "ClassState",
    "LatticeEvaluation",
    "LevelCodes",
    "NodeEvaluation",
    "RollUp",
    "SensitivePairs",
]

#: The cache of rolled-up states holds at most this many classes in all ...
CACHE_CLASSES = 2_000_000
#: ... and at most this many nodes.
CACHE_NODES = 1024
#: Level codes of every input class at every level are kept when they take fewer cells.
ROW_LEVELS_CELLS = 1 << 24
#: ... and of the bottom node's classes, at most this many (a top-down search rolls many
#: nodes up from the bottom: no gather then)
BOTTOM_LEVELS_CELLS = 1 << 21
#: ... and the memoized level codes of at most this many other bases
MEMO_BASES = 64
_NEVER = np.iinfo(np.int64).max // 2


@dataclass(eq=False)
class SensitivePairs:
    """(class, sensitive value) counts of one sensitive attribute at one node."""

    class_index: np.ndarray
    value_code: np.ndarray
    counts: np.ndarray


@dataclass(eq=False)
class ClassState:
    """Classes at one node: a representative input row per class, class sizes, pairs."""

    rep: np.ndarray
    sizes: np.ndarray
    pairs: dict[str, SensitivePairs]
    #: records of each class in the population table (delta-presence), else None
    population: np.ndarray | None = None


@dataclass(frozen=True)
class NodeEvaluation:
    """One lattice node: is it anonymous, how many records it suppresses, its loss."""

    node: tuple[int, ...]
    anonymous: bool
    suppressed: int
    classes: int
    loss: float


@dataclass(frozen=True)
class LatticeEvaluation:
    """Every node of the lattice (``nodes[i]`` levels, the others per node)."""

    nodes: np.ndarray
    anonymous: np.ndarray
    suppressed: np.ndarray
    loss: np.ndarray

    def optimum(self) -> int:
        """Index of the best anonymous node: least loss, then height, then levels."""
        idx = np.flatnonzero(self.anonymous)
        if not len(idx):
            return -1
        heights = self.nodes[idx].sum(axis=1)
        keys = [self.nodes[idx, j] for j in range(self.nodes.shape[1] - 1, -1, -1)]
        order = np.lexsort((*keys, heights, self.loss[idx]))
        return int(idx[order[0]])


class LevelCodes:
    """The aggregate's input classes as hierarchy codes of each QI, at every level.

    ``codes0[i, j]``: the leaf code of input class ``i`` in QI ``j``'s hierarchy (every value
    checked: raises on a value the hierarchy lacks); ``value_counts[j]``: records per leaf.
    """

    def __init__(self, classes: EquivalenceClasses, hierarchies: Sequence[Hierarchy]) -> None:
        d = len(hierarchies)
        leaf_maps = [_leaf_codes(classes, j, h) for j, h in enumerate(hierarchies)]
        self.codes0 = np.stack(
            [leaf_maps[j][classes.codes[:, j]] for j in range(d)], axis=1
        ).astype(np.int64)
        self.sizes0 = classes.sizes.astype(np.int64)
        self.population0 = (
            None if classes.population is None else classes.population.astype(np.int64)
        )
        self.value_counts = [
            np.bincount(
                self.codes0[:, j], weights=self.sizes0, minlength=hierarchies[j].domain_size(0)
            ).astype(np.int64)
            for j in range(d)
        ]
        #: ``radix[j][lv]``: the number of labels of QI ``j`` at level ``lv``.
        self.radix = [[h.domain_size(lv) for lv in range(h.levels)] for h in hierarchies]
        # contiguous per-level maps and per-column codes; when small enough, the level code
        # of every input row at every level (one gather per column per node)
        self._level_maps = [
            [np.ascontiguousarray(h.code_map[:, lv]) for lv in range(h.levels)] for h in hierarchies
        ]
        self._columns0 = [np.ascontiguousarray(self.codes0[:, j]) for j in range(d)]
        self._row_levels: list[list[np.ndarray]] | None = None
        self._tables: list[np.ndarray] | None = None
        if len(self.sizes0) * sum(h.levels for h in hierarchies) <= ROW_LEVELS_CELLS:
            self._row_levels = [
                [m[self._columns0[j]] for m in self._level_maps[j]] for j in range(d)
            ]

    def level_codes(self, j: int, rows: np.ndarray, level: int) -> np.ndarray:
        """Level-``level`` codes of QI ``j`` for input rows ``rows``."""
        if self._row_levels is not None:
            return self._row_levels[j][level][rows]
        return self._level_maps[j][level][self._columns0[j][rows]]

    def level_tables(self) -> list[np.ndarray] | None:
        """Per QI, the (level x input row) table of codes (None: not kept, too large)."""
        if self._row_levels is None:
            return None
        if self._tables is None:
            self._tables = [np.stack(levels) for levels in self._row_levels]
        return self._tables

    def input_state(self, sensitive: Mapping[str, SensitiveCounts]) -> ClassState:
        """The input classes themselves (each its own representative)."""
        return ClassState(
            rep=np.arange(len(self.sizes0), dtype=np.int64),
            sizes=self.sizes0,
            pairs={
                a: SensitivePairs(sc.class_index, sc.value_code, sc.counts)
                for a, sc in sensitive.items()
            },
            population=self.population0,
        )


def _leaf_codes(classes: EquivalenceClasses, j: int, h: Hierarchy) -> np.ndarray:
    """QI ``j``'s dictionary in ``h``'s codes; a value ``h`` lacks is an :class:`InputError`
    naming the row where it first appeared, when the aggregate tracked rows."""
    values = classes.dictionaries[j]
    try:
        return h.encode(values, row_offset=None)
    except InputError:
        if classes.first_rows is None:
            raise
        miss = np.flatnonzero(h.missing(values))
        i = int(miss[np.argmin(classes.first_rows[j][miss])])
        row = int(classes.first_rows[j][i])
        value = values[i].as_py()
        if value is None:
            raise InputError(
                f"column '{h.column}': missing value (null) at row {row} (0-based); "
                f"the generalization hierarchy does not cover nulls"
            ) from None
        raise InputError(
            f"column '{h.column}': value '{value}' at row {row} (0-based) is not in its "
            f"generalization hierarchy"
        ) from None


def roll_pairs(p: SensitivePairs, inverse: np.ndarray, groups: int, m: int) -> SensitivePairs:
    """The (class, value) counts of a finer node's pairs once its classes merge as
    ``inverse`` says (sorted by class, then value). A dense (class x value) table of counts
    when it is small - one ``bincount``, no grouping - else grouped by key."""
    cls = inverse[p.class_index]
    pkey = cls * m
    pkey += p.value_code
    space = groups * m
    if space <= 4 * len(pkey) + 4096:
        table = np.bincount(pkey, weights=p.counts, minlength=space)
        present = (table != 0).nonzero()[0]  # on a bool mask: ~4x faster than on floats
        counts = table[present].astype(np.int64)
        class_index = present // m
        present -= class_index * m  # the value codes (cheaper than a second division)
        return SensitivePairs(
            class_index=class_index,
            value_code=present.astype(p.value_code.dtype, copy=False),
            counts=counts,
        )
    pinv, pfirst, pgroups = group_keys(pkey, space)
    return SensitivePairs(
        class_index=cls[pfirst],
        value_code=p.value_code[pfirst],
        counts=np.bincount(pinv, weights=p.counts, minlength=pgroups).astype(np.int64),
    )


class RollUp:
    """Classes at any node, rolled up from the best cached finer node (then cached).

    The cache is bounded (:data:`CACHE_CLASSES`, :data:`CACHE_NODES`); the bottom node is
    never evicted, so every node has a finer cached node to start from.
    """

    def __init__(
        self, codes: LevelCodes, value_domains: Mapping[str, int], start: ClassState
    ) -> None:
        self.codes = codes
        self.value_domains = dict(value_domains)
        d = len(codes.radix)
        self._bottom_levels: list[list[np.ndarray]] | None = None
        #: level codes of recent bases: id -> (the base, held so that its id stays its
        #: own; (QI, level) -> codes), least recently used first
        self._memo: OrderedDict[int, tuple[ClassState, dict[tuple[int, int], np.ndarray]]] = (
            OrderedDict()
        )
        self._memo_cells = 0
        self._levels_total = sum(len(r) for r in codes.radix)
        self.bottom = self.derive(np.zeros(d, dtype=np.int64), start)
        cells = len(self.bottom.rep) * self._levels_total
        if cells <= BOTTOM_LEVELS_CELLS:  # the bottom's level codes, kept when small
            self._bottom_levels = [
                [codes.level_codes(j, self.bottom.rep, lv) for lv in range(len(codes.radix[j]))]
                for j in range(d)
            ]
        # the cache: slot 0 holds the bottom for good, slots 1.. are reused in turn (FIFO);
        # an empty slot has levels no node reaches, so it is never a base
        self._states: dict[tuple[int, ...], ClassState] = {}
        self._slot_key: list[tuple[int, ...] | None] = [None] * CACHE_NODES
        self._levels = np.full((CACHE_NODES, d), _NEVER, dtype=np.int64)
        self._sizes = np.full(CACHE_NODES, _NEVER, dtype=np.int64)
        # the cached levels packed into one int64 per slot (SWAR: a guard bit above each
        # QI's field), so that "which cached nodes are finer" is one subtraction per slot
        width = max((len(r) for r in codes.radix), default=1).bit_length() + 1
        self._packed: np.ndarray | None = None
        if d * width <= 62:
            shifts = np.arange(d - 1, -1, -1, dtype=np.int64) * width
            self._pack_mult = np.left_shift(np.int64(1), shifts)
            self._guards = int(np.sum(np.left_shift(np.int64(1), shifts + width - 1)))
            empty = self._guards - int(np.sum(self._pack_mult))  # every field at its largest
            self._packed = np.full(CACHE_NODES, empty, dtype=np.int64)
            self._empty = empty
        self._held = 0  # classes held by the cache
        self._next = 0
        #: the occupied slots but the bottom's, oldest first (slots are filled in ring
        #: order, so this is their ring order from the next slot on)
        self._occupied: deque[int] = deque()
        self._last: tuple[bytes, int, tuple[int, ...] | None] | None = None
        self.remember(np.zeros(d, dtype=np.int64), self.bottom)

    def derive(self, node: np.ndarray, base: ClassState) -> ClassState:
        """Classes at ``node`` rolled up from the classes of a finer node ``base``."""
        radix, levels = self.codes.radix, node.tolist()
        # a QI at a level of one label adds nothing to the key (times 1 plus 0): left out
        used = [j for j, lv in enumerate(levels) if radix[j][lv] > 1]
        if used:
            cols = [self._column(base, j, levels[j]) for j in used]
            key, space = combine_codes(cols, [radix[j][levels[j]] for j in used])
        else:
            key, space = np.zeros(len(base.rep), dtype=np.int64), 1
        inverse, first, groups = group_keys(key, space)
        sizes = np.bincount(inverse, weights=base.sizes, minlength=groups).astype(np.int64)
        pairs = {
            a: roll_pairs(p, inverse, groups, self.value_domains[a]) for a, p in base.pairs.items()
        }
        population = None
        if base.population is not None:
            population = np.bincount(inverse, weights=base.population, minlength=groups).astype(
                np.int64
            )
        return ClassState(rep=base.rep[first], sizes=sizes, pairs=pairs, population=population)

    def _column(self, base: ClassState, j: int, level: int) -> np.ndarray:
        """Level-``level`` codes of QI ``j`` for ``base``'s classes. The bottom's are kept;
        other bases' are memoized, in all at most :data:`BOTTOM_LEVELS_CELLS` cells of the
        :data:`MEMO_BASES` bases used last (top-down, a few hubs serve nodes visited in
        turn: the same columns are gathered again)."""
        if base is getattr(self, "bottom", None) and self._bottom_levels is not None:
            return self._bottom_levels[j][level]
        if len(base.rep) * self._levels_total > BOTTOM_LEVELS_CELLS:
            return self.codes.level_codes(j, base.rep, level)  # too large to memoize
        memo = self._memo
        entry = memo.get(id(base))
        if entry is None or entry[0] is not base:
            if entry is not None:
                self._forget(id(base))
            entry = memo[id(base)] = (base, {})
        else:
            memo.move_to_end(id(base))
        col = entry[1].get((j, level))
        if col is None:
            col = entry[1][(j, level)] = self.codes.level_codes(j, base.rep, level)
            self._memo_cells += len(col)
            while len(memo) > 1 and (
                self._memo_cells > BOTTOM_LEVELS_CELLS or len(memo) > MEMO_BASES
            ):
                self._forget(next(iter(memo)))
        return col

    def _forget(self, key: int) -> None:
        _, cols = self._memo.pop(key)
        self._memo_cells -= sum(len(c) for c in cols.values())

    def _evict(self, slot: int) -> None:
        key = self._slot_key[slot]
        if key is None:
            return
        self._held -= len(self._states.pop(key).rep)
        self._slot_key[slot] = None
        self._levels[slot] = _NEVER
        self._sizes[slot] = _NEVER
        if self._packed is not None:
            self._packed[slot] = self._empty

    def remember(self, node: np.ndarray, state: ClassState) -> None:
        """Cache ``state`` as the classes at ``node``, evicting the oldest (not the bottom)
        until it fits."""
        key = tuple(int(x) for x in node)
        if key in self._states:
            return
        slot = self._next
        occupied = self._occupied
        if self._slot_key[slot] is not None:  # the ring came round: the oldest slot (at the
            occupied.remove(slot)  # front, so found at once)
            self._evict(slot)
        while occupied and self._held + len(state.rep) > CACHE_CLASSES:
            self._evict(occupied.popleft())
        if slot:
            occupied.append(slot)
        self._slot_key[slot] = key
        self._states[key] = state
        self._levels[slot] = node
        self._sizes[slot] = len(state.rep)
        if self._packed is not None:
            self._packed[slot] = int(node @ self._pack_mult)
        self._held += len(state.rep)
        self._next = slot % (CACHE_NODES - 1) + 1

    def _base_slot(self, node: np.ndarray) -> int:
        """The cache slot of the finer node with the fewest classes (memoized for the node
        just asked about: the search asks :meth:`base_rows`, then :meth:`state`)."""
        key = node.tobytes()
        last = self._last
        if last is not None and last[0] == key and self._slot_key[last[1]] == last[2]:
            return last[1]  # the same node, and its base is still cached
        if self._packed is not None:
            # every field of (node | guards) - slot keeps its guard bit iff slot <= node there
            diff = (int(node @ self._pack_mult) | self._guards) - self._packed
            below = (diff & self._guards) == self._guards
        else:
            below = (self._levels <= node).all(axis=1)
        slot = int(np.where(below, self._sizes, _NEVER).argmin())
        self._last = (key, slot, self._slot_key[slot])
        return slot

    def base_rows(self, node: np.ndarray) -> int:
        """The classes of the cached node a roll-up to ``node`` would start from."""
        return int(self._sizes[self._base_slot(node)])

    def cached(self, node: np.ndarray) -> ClassState | None:
        """The cached classes at ``node`` itself (None: not cached)."""
        return self._states.get(tuple(int(x) for x in node))

    def base_state(self, node: np.ndarray) -> ClassState:
        """The cached finer node's classes a roll-up to ``node`` would start from."""
        return self._states[self._slot_key[self._base_slot(node)]]  # type: ignore[index]

    def state(self, node: np.ndarray) -> ClassState:
        """Classes at ``node`` (rolled up from the cached finer node with the fewest classes)."""
        key = tuple(int(x) for x in node)
        hit = self._states.get(key)
        if hit is not None:
            return hit
        slot = self._base_slot(node)
        base = self._states[self._slot_key[slot]]  # type: ignore[index]
        result = self.derive(node, base)
        self.remember(node, result)
        return result
