"""One recognizer's validation of a batch's candidates, a whole array at a time.

The outcome is the one of validating the candidates one by one, in order, through a cache
of each distinct value's score (what the scanner did first, kept as
``Matcher.validate_each``): a value already validated in an earlier batch is not validated
again and does not count as tried; the cache of a (column, recognizer) is emptied when it
holds ``per_recognizer`` entries or the scan's caches hold ``budget`` together (later
candidates are then validated anew); a recognizer whose first ``ABANDON_AFTER``
validations (``ABANDON_STRICT_AFTER`` for one with its own ``column_min_rate``) pass at
chance level is abandoned at that value. Here the look-ups are one
``pyarrow.compute.index_in`` per batch, the validations of the values not in the cache one
vectorized call (:mod:`.validators_vec`) for the validators that have a twin, and the
counting of tries, passes and cache entries is done in segments between the points where
the cache is emptied or the recognizer abandoned.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import pyarrow as pa

from veil.detect.registry import Recognizer
from veil.discovery.column_memo import Memo
from veil.discovery.column_state import ColumnState
from veil.discovery.validators_vec import scores as vector_scores

ABANDON_AFTER = 2_000  # validations before giving up on a recognizer at chance level
ABANDON_STRICT_AFTER = 50  # the same for a recognizer with its own ``column_min_rate``


class Budget(Protocol):
    cache_entries: int
    per_recognizer: int
    budget: int


def hopeless(rec: Recognizer, tried: int, passed: int) -> bool:
    """Validations so far show the column is not of this recognizer's type."""
    if rec.column_min_rate is not None:
        return tried == ABANDON_STRICT_AFTER and passed / tried < rec.column_min_rate - 0.2
    return tried == ABANDON_AFTER and passed / tried < 0.05


def abandon_limit(rec: Recognizer) -> int:
    return ABANDON_STRICT_AFTER if rec.column_min_rate is not None else ABANDON_AFTER


def validate_batch(
    budget: Budget, st: ColumnState, rec: Recognizer, values: pa.Array, cand: np.ndarray
) -> np.ndarray:
    """Indexes (into ``values``) of the candidates ``cand`` that ``rec`` validates.

    At most two segments: the values not in the cache up to the point where it is full,
    then (the cache emptied) every candidate from the next value not in it on: each is
    validated, and the cache is emptied again every ``period`` values (it keeps the last
    ones, the scan's count of cache entries follows)."""
    memo = st.memos.get(rec.name)
    if memo is None:
        memo = st.memos[rec.name] = Memo()
    cv = values.take(pa.array(cand))
    if cv.type != pa.string():
        cv = cv.cast(pa.string())
    n = len(cand)
    at = memo.lookup(cv)
    hit = at >= 0
    score = np.zeros(n)
    score[hit] = memo.scores_at(at[hit])
    run = _Run(budget, st, rec, memo, cv, score)
    miss = np.flatnonzero(~hit)
    room = max(0, min(budget.per_recognizer - memo.size, budget.budget - budget.cache_entries))
    stop = run.segment(miss[:room])
    if stop is None and miss.size > room:
        budget.cache_entries -= memo.size  # full: emptied before the next value goes in
        memo.clear()
        base = budget.cache_entries
        period = max(1, min(budget.per_recognizer, budget.budget - base))
        rest = np.arange(miss[room], n)
        stop = run.segment(rest)
        done = memo.size
        kept = (done - 1) % period + 1 if done else 0
        memo.keep_last(kept)
        budget.cache_entries = base + kept
    st.tried[rec.name] = run.tried
    st.passed[rec.name] = run.passed
    return cand[np.flatnonzero(score[: n if stop is None else stop] > 0)]


class _Run:
    """Validates segments of one batch's candidates, counting tries and passes, and stops
    at the value where the recognizer is abandoned."""

    def __init__(
        self,
        budget: Budget,
        st: ColumnState,
        rec: Recognizer,
        memo: Memo,
        cv: pa.Array,
        score: np.ndarray,
    ) -> None:
        self.budget, self.st, self.rec, self.memo = budget, st, rec, memo
        self.cv, self.score = cv, score
        self.tried = st.tried.get(rec.name, 0)
        self.passed = st.passed.get(rec.name, 0)
        self.limit = abandon_limit(rec)

    def segment(self, pos: np.ndarray) -> int | None:
        """Validate the candidates at ``pos`` in order; the position where the recognizer
        was abandoned (that value and the later ones do not count), or None."""
        if self.tried < self.limit <= self.tried + pos.size:
            head = pos[: self.limit - self.tried]
            self._validate(head)
            if hopeless(self.rec, self.tried, self.passed):
                self.st.abandoned.add(self.rec.name)  # not this type: stop paying
                return int(head[-1])
            pos = pos[head.size :]
        self._validate(pos)
        return None

    def _validate(self, pos: np.ndarray) -> None:
        if pos.size == 0:
            return
        vals = self.cv.take(pa.array(pos))
        s = vector_scores(self.rec, vals)
        self.score[pos] = s
        self.memo.add(vals, s)
        self.budget.cache_entries += pos.size
        self.tried += pos.size
        self.passed += int((s > 0).sum())
