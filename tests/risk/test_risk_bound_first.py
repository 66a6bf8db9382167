"""The early exits of the top-down search with non-monotone models: a node whose suppression
bound exceeds the limit is failed without the per-class check, and the roll-up memoizes the
level codes of its last base. Neither may change a verdict: each node's early verdict equals
the full evaluation's (brute force), and classes rolled up through the memo equal those
rolled up from the bottom."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.risk.lattices import model_of, tables
from veil.risk import lattice
from veil.risk.anonymize import Anonymizer
from veil.risk.classes import aggregate
from veil.risk.privacy import (
    KAnonymity,
)
from veil.risk.search import FAILED, LatticeSearch

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(
    data=tables(max_rows=60, text=True),
    kind=st.sampled_from(["basic", "enhanced", "delta", "equal"]),
    x=st.floats(0.0, 1.0),
    k=st.integers(1, 3),
    limit=st.sampled_from([0.0, 0.1, 0.3]),
)
def test_the_bound_first_verdict_equals_the_full_evaluation(
    data: tuple, kind: str, x: float, k: int, limit: float
) -> None:
    table, hs = data
    ec = aggregate(table, list(hs), ["s"])
    models = [KAnonymity(k), model_of(kind, x)]
    engine = Anonymizer(ec, hs, models, suppression_limit=limit)
    brute = engine.evaluate_all()
    for i in range(len(engine.nodes)):
        run = LatticeSearch(engine)  # fresh: nothing known, top-down (bottom_up unset)
        assert run._bounds_first() == (not engine.monotone and engine.prunes_down_sets())
        assert run.classify(i) == bool(brute.anonymous[i])
        if run._bounds_first() and engine.fails_monotone_part(engine.state(engine.nodes[i])):
            below = np.all(engine.nodes <= engine.nodes[i], axis=1)
            assert not brute.anonymous[below].any()
            assert (run.status[below] == FAILED).all()  # the down-set too


@SETTINGS
@given(
    data=tables(max_rows=60, text=True),
    picks=st.lists(st.integers(0, 10_000), min_size=1, max_size=12),
)
def test_roll_ups_through_the_memo_equal_roll_ups_from_the_bottom(
    data: tuple, picks: list[int]
) -> None:
    table, hs = data
    ec = aggregate(table, list(hs), ["s"])
    engine = Anonymizer(ec, hs, [KAnonymity(1)], suppression_limit=0.0)
    rollup = engine.rollup
    nodes = engine.nodes[[p % len(engine.nodes) for p in picks]]
    lo = np.minimum(nodes.min(axis=0), 1)
    # two bases in turn (the memo must follow the base): a hub, and the bottom's classes
    # as a new object (the bottom itself is served from its kept codes, not the memo)
    hubs = [rollup.derive(lo, rollup.bottom), rollup.derive(lo * 0, rollup.bottom)]
    for t, node in enumerate(nodes):
        target = np.maximum(node, lo)
        with pytest.MonkeyPatch.context() as mp:
            if t % 3 == 2:  # a memo of one base: each base pushes the other out
                mp.setattr(lattice, "MEMO_BASES", 1)
            via = rollup.derive(target, hubs[t % 2])
        direct = rollup.derive(target, rollup.bottom)
        np.testing.assert_array_equal(via.sizes, direct.sizes)
        for a, p in direct.pairs.items():
            np.testing.assert_array_equal(via.pairs[a].class_index, p.class_index)
            np.testing.assert_array_equal(via.pairs[a].value_code, p.value_code)
            np.testing.assert_array_equal(via.pairs[a].counts, p.counts)
        # a class's representative may differ, but it is a row of that class
        for j in range(len(target)):
            np.testing.assert_array_equal(
                rollup.codes.level_codes(j, via.rep, int(target[j])),
                rollup.codes.level_codes(j, direct.rep, int(target[j])),
            )
