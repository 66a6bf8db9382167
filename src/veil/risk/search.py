"""The search for the optimal node of the generalization lattice (after ARX's Flash).

1. An incumbent: greedy descent from the top node, always to the anonymous direct
   predecessor of least loss.
2. Candidates are the nodes whose lower bound does not exceed the best loss so far,
   classified top-down (highest first): a node that fails the monotone models takes its
   whole down-set with it; when every model is monotone an anonymous node takes its up-set
   too. Classification tries the hashed lower bound of suppression
   (:class:`~veil.risk.small_classes.SmallClassBound`) first and the exact evaluation only
   when that does not settle it. Anonymous candidates get their loss computed; every
   improvement shrinks the candidate set. (Quality models with ``bottom_up`` visit bottom-up
   instead, to use their dynamic bound; so do non-monotone model sets whose failures prune
   little (:meth:`~veil.risk.anonymize.Anonymizer.prefers_top_down`) and whose exact
   evaluations are cheaper rolled up from evaluated predecessors; bottom-up, a level's
   candidates are rolled up and checked together, see :mod:`veil.risk.batch`.)

With non-monotone models a failing node fails its down-set when the records every
predecessor must suppress (:meth:`~veil.risk.anonymize.Anonymizer.suppressed_lower_bound`:
the monotone parts, and the excess of :mod:`veil.risk.excess`) exceed the limit; top-down,
nodes that would roll up from the bottom first cache a hub below them (:meth:`_hub`), and
the bound comes before the per-class check, which only the nodes it does not settle need.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from veil.risk.batch import derive_many, split
from veil.risk.lattice import ClassState, NodeEvaluation

if TYPE_CHECKING:  # pragma: no cover
    from veil.risk.anonymize import Anonymizer

__all__ = ["LatticeSearch"]

UNKNOWN, ANONYMOUS, FAILED = 0, 1, 2
#: The quick test hashes every input class; it is skipped when the node can be rolled up
#: from a cached node with fewer than 1/QUICK_RATIO of them.
QUICK_RATIO = 3
#: ... and, with non-monotone models, after QUICK_MISSES tests in a row that settle nothing,
#: skipped for the next QUICK_SKIP nodes (on Adult, t-closeness top-down: none of ~500 tests
#: failed a node; monotone searches keep it: their exact evaluations are few)
QUICK_MISSES, QUICK_SKIP = 16, 64
#: The bottom-up sweep evaluates a level's candidates together (:mod:`veil.risk.batch`),
#: up to this many base classes per batch (larger batches measured slower on Adult: the
#: joined arrays leave the CPU cache).
BATCH_ROWS = 1 << 13


class LatticeSearch:
    """One search over an :class:`~veil.risk.anonymize.Anonymizer`'s lattice.

    ``status[i]``: what is known of node ``i`` (unknown, anonymous, failed); ``done[i]``:
    its loss was considered (or it failed); ``dynamic``: bounds raised by the quality
    model's per-node bound on successors. ``stats`` counts exact and quick evaluations.
    """

    def __init__(self, engine: Anonymizer) -> None:
        self.engine = engine
        self.nodes, self.heights = engine.nodes, engine.heights
        n, d = self.nodes.shape
        self.bounds = engine.quality.static_bounds(self.nodes)
        self.dynamic = self.bounds.copy()
        self.status = np.zeros(n, dtype=np.int8)
        self.done = np.zeros(n, dtype=bool)
        self.strides = np.array(
            [math.prod(engine.shape[j + 1 :]) for j in range(d)], dtype=np.int64
        )
        self.best: tuple[float, int, tuple[int, ...]] | None = None
        self.best_eval: NodeEvaluation | None = None
        self.stats = {"exact": 0, "quick": 0, "quick_failed": 0}
        self._quick_misses = self._quick_skip = 0
        #: anonymous nodes just classified: their state, outliers and suppressed records,
        #: kept for :meth:`consider`, which follows at once
        self._states: dict[int, tuple[ClassState, np.ndarray, int]] = {}
        #: the sweep visits the candidates bottom-up (set by :meth:`sweep`)
        self.bottom_up = False
        #: nodes evaluated ahead in a batch: (state, outliers, suppressed, anonymous)
        self._batch: dict[int, tuple[ClassState, np.ndarray, int, bool]] = {}
        self._batched_upto = 0

    def run(self) -> NodeEvaluation | None:
        """The optimal anonymous node (None: there is none)."""
        self.greedy_descent()
        self.sweep()
        return self.best_eval

    # -- propagation and classification -----------------------------------------------------

    def mark(self, i: int, anon: bool, monotone_failure: bool = False) -> None:
        """Record node ``i``'s result, and what it implies for its up- or down-set."""
        monotone, nodes, status = self.engine.monotone, self.nodes, self.status
        if anon and monotone:
            status[np.all(nodes >= nodes[i], axis=1)] = ANONYMOUS
        elif not anon and (monotone or monotone_failure):
            status[np.all(nodes <= nodes[i], axis=1)] = FAILED
        status[i] = ANONYMOUS if anon else FAILED

    def _quickly_fails(self, i: int) -> bool:
        """Do classes smaller than ``k_min`` (which fail a monotone model) surely hold more
        records than may be suppressed?"""
        engine = self.engine
        if engine.small_classes.k_min <= 1:
            return False
        if engine.rollup.base_rows(self.nodes[i]) * QUICK_RATIO < len(engine.bottom.rep):
            return False  # a small cached base: the exact evaluation is cheaper than the test
        if self._quick_skip > 0:  # it settled nothing lately: the exact evaluation follows
            self._quick_skip -= 1
            return False
        self.stats["quick"] += 1
        if engine.small_classes.suppressed(self.nodes[i]) <= engine.max_outliers:
            self._quick_misses += 1
            if self._quick_misses >= QUICK_MISSES and not engine.monotone:
                self._quick_skip = QUICK_SKIP
            return False
        self._quick_misses = 0
        self.stats["quick_failed"] += 1
        return True

    def _hub(self, i: int) -> None:
        """Top-down with non-monotone models most nodes are evaluated exactly, and none has a
        finer cached node but the bottom: a node that would roll up from the bottom first
        caches its predecessor one level lower in every QI, a base with far fewer classes
        for its neighbours too (on Adult, beta-likeness: 20 such hubs halve the rows rolled
        up). Only a speed choice."""
        engine = self.engine
        if self.bottom_up or engine.monotone:
            return
        node = self.nodes[i]
        if engine.rollup.base_rows(node) < len(engine.bottom.rep):
            return
        hub = np.maximum(node - 1, 0)
        if hub.any():
            engine.state(hub)

    def _bounds_first(self) -> bool:
        """Top-down with non-monotone models most evaluated nodes fail, and the suppression
        bound of their down-set (which holds at the node itself) usually says so: it comes
        first, the per-class check only when it does not settle the node."""
        engine = self.engine
        return not self.bottom_up and not engine.monotone and engine.prunes_down_sets()

    def classify(self, i: int) -> bool:
        """Is node ``i`` anonymous? (Known, quickly refuted, or evaluated exactly.)"""
        if self.status[i] != UNKNOWN:
            return bool(self.status[i] == ANONYMOUS)
        engine = self.engine
        hit = self._batch.pop(i, None)
        if hit is not None:
            st, out, sup, anon = hit
        else:
            if self._quickly_fails(i):
                self.mark(i, False, monotone_failure=True)
                return False
            self._hub(i)
            st = engine.state(self.nodes[i])
            if self._bounds_first():
                # the bound holds at the node itself: above the limit, the node fails with
                # its down-set, and the per-class check is not needed to say so
                self.stats["exact"] += 1
                if engine.fails_monotone_part(st):
                    self.mark(i, False, monotone_failure=True)
                    return False
                out, sup, anon = engine.check(self.nodes[i], st)
                if anon:
                    self._states[i] = (st, out, sup)
                self.mark(i, anon)
                return anon
            out, sup, anon = engine.check(self.nodes[i], st)
        self.stats["exact"] += 1
        if anon:
            self._states[i] = (st, out, sup)
        monotone_failure = (
            not anon
            and not self.bottom_up  # bottom-up, a node's down-set is already settled
            and not engine.monotone
            and engine.prunes_down_sets()
            and engine.fails_monotone_part(st)
        )
        self.mark(i, anon, monotone_failure=monotone_failure)
        return anon

    def consider(self, i: int) -> float:
        """The loss of anonymous node ``i``; it becomes the best when it beats it."""
        engine, nodes = self.engine, self.nodes
        self.done[i] = True
        if i in self._states:
            st, out, sup = self._states.pop(i)
        else:
            st = engine.state(nodes[i])
            out, sup, _ = engine.check(nodes[i], st)
            self.stats["exact"] += 1
        loss, bound = engine.quality.loss(engine, nodes[i], st, out)
        if bound is not None:
            up = np.all(nodes >= nodes[i], axis=1)
            self.dynamic[up] = np.maximum(self.dynamic[up], bound)
        cand = (loss, int(self.heights[i]), tuple(int(x) for x in nodes[i]))
        if self.best is None or cand < self.best:
            self.best = cand
            self.best_eval = NodeEvaluation(cand[2], True, sup, len(st.sizes), loss)
        return loss

    # -- the two phases ----------------------------------------------------------------------

    def greedy_descent(self) -> None:
        """1. An incumbent (a heuristic: it only makes the bound tight early)."""
        current = len(self.nodes) - 1  # the top node
        while self.classify(current):
            if not self.done[current]:
                self.consider(current)
            choice = self._best_predecessor(current)
            if choice < 0:
                break
            current = choice

    def _best_predecessor(self, current: int) -> int:
        """The anonymous direct predecessor of least loss (-1: none)."""
        choice, choice_loss = -1, math.inf
        for j in range(self.nodes.shape[1]):
            if self.nodes[current, j] == 0:
                continue
            p = current - int(self.strides[j])
            if self.classify(p):
                loss = self.consider(p) if not self.done[p] else math.inf
                if loss < choice_loss:
                    choice, choice_loss = p, loss
        return choice

    def limit(self) -> float:
        """Nodes whose bound exceeds this cannot beat the best loss found."""
        best = self.best
        return math.inf if best is None else best[0] + 1e-9 * max(1.0, abs(best[0]))

    def sweep(self) -> None:
        """2. The candidates, in one pass over a fixed order (the limit only ever shrinks, so
        a node skipped for its bound stays skippable)."""
        bounds, heights = self.bounds, self.heights
        self._quick_misses = self._quick_skip = 0  # the descent's tests say little of these
        if self.engine.quality.bottom_up or not self.engine.prefers_top_down():
            # bottom-up: bounds prune up-sets; and when the monotone parts fail little,
            # failures prune little, while a node's predecessors, evaluated first, are
            # cheap roll-up bases
            order = np.lexsort((bounds, heights))
            self.bottom_up = True
        else:
            order = np.lexsort((bounds, -heights))  # top-down: failures prune down-sets
        visits = order.tolist()
        for pos, i in enumerate(visits):
            if self.done[i] or self.status[i] == FAILED:
                continue
            lim = self.limit()
            if bounds[i] > lim or self.dynamic[i] > lim:
                continue
            if self.bottom_up and pos >= self._batched_upto and self.status[i] == UNKNOWN:
                self._evaluate_level(visits, pos)
            if self.classify(i):
                self.consider(i)
            else:
                self.done[i] = True

    def _evaluate_level(self, visits: list[int], pos: int) -> None:
        """Evaluate the candidates of ``visits[pos]``'s level ahead, together (bottom-up, a
        node's base is strictly finer, so none of them is another's base). Only a speed
        choice: the flags are exact, a node the limit later skips costs only time."""
        engine, rollup = self.engine, self.engine.rollup
        self._batch.clear()
        height, lim = self.heights[visits[pos]], self.limit()
        batch, bases, rows = [], [], 0
        end = pos
        for end in range(pos, len(visits)):
            j = visits[end]
            if self.heights[j] != height or rows > BATCH_ROWS:
                break
            node = self.nodes[j]
            if (
                self.done[j]
                or self.status[j] != UNKNOWN
                or self.bounds[j] > lim
                or self.dynamic[j] > lim
                or rollup.cached(node) is not None
            ):
                continue
            base = rollup.base_state(node)
            batch.append(j)
            bases.append(base)
            rows += len(base.rep)
        else:
            end = len(visits)
        self._batched_upto = end
        if len(batch) < 2:
            return
        joined = derive_many(rollup.codes, rollup.value_domains, self.nodes[batch], bases)
        if joined is None:
            return
        state, cuts = joined
        checked = engine.check_many(state, cuts)
        if checked is None:
            return
        out, suppressed, anonymous = checked
        for t, (j, st) in enumerate(zip(batch, split(state, cuts), strict=True)):
            rollup.remember(self.nodes[j], st)
            self._batch[j] = (
                st,
                out[cuts[t] : cuts[t + 1]],
                int(suppressed[t]),
                bool(anonymous[t]),
            )
