"""The early exits of the top-down search with non-monotone models: a node whose suppression
bound exceeds the limit is failed without the per-class check, and the roll-up memoizes the
level codes of its last base. Neither may change a verdict: each node's early verdict equals
the full evaluation's (brute force), and classes rolled up through the memo equal those
rolled up from the bottom."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from veil.risk.anonymize import Anonymizer
from veil.risk.classes import aggregate
from veil.risk.hierarchy import Hierarchy
from veil.risk.privacy import (
    BasicBetaLikeness,
    DeltaDisclosure,
    EnhancedBetaLikeness,
    EqualDistanceTCloseness,
    KAnonymity,
)
from veil.risk.search import FAILED, LatticeSearch

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def model_of(kind: str, x: float):
    return {
        "basic": lambda: BasicBetaLikeness("s", 0.1 + 3 * x),
        "enhanced": lambda: EnhancedBetaLikeness("s", 0.1 + 3 * x),
        "delta": lambda: DeltaDisclosure("s", 0.2 + 3 * x),
        "equal": lambda: EqualDistanceTCloseness("s", x),
    }[kind]()


@st.composite
def tables(draw: st.DrawFn) -> tuple[pa.Table, dict[str, Hierarchy]]:
    rows = draw(st.integers(2, 60))
    cols: dict[str, list[str]] = {}
    hs: dict[str, Hierarchy] = {}
    for j in range(draw(st.integers(1, 3))):
        domain = draw(st.integers(1, 8))
        values = draw(st.lists(st.integers(0, domain - 1), min_size=rows, max_size=rows))
        cols[f"q{j}"] = [str(v) for v in values]
        hs[f"q{j}"] = Hierarchy(
            f"q{j}", [[str(v), f"p{v // 2}", f"q{v // 4}", "*"] for v in range(domain)]
        )
    cols["s"] = [str(v) for v in draw(st.lists(st.integers(0, 3), min_size=rows, max_size=rows))]
    return pa.table(cols), hs


@SETTINGS
@given(
    data=tables(),
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
    data=tables(),
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
