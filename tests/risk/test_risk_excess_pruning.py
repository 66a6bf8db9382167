"""The excess bound (:mod:`veil.risk.excess`) that lets the search fail a node's down-set for
non-monotone models: it never exceeds what any predecessor suppresses (checked by brute force
over every node), so the nodes it prunes are never anonymous, and the search still finds the
brute-force optimum whichever way it sweeps."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.risk.lattices import model_of, tables
from veil.risk.anonymize import Anonymizer
from veil.risk.classes import SensitiveCounts, aggregate, aggregate_with_population
from veil.risk.excess import emd_excess, presence_excess, share_excess, shortfall_excess
from veil.risk.privacy import (
    KAnonymity,
)
from veil.risk.table_models import DeltaPresence

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])

KINDS = ["delta", "basic", "enhanced", "equal", "hierarchical", "entropy", "alpha"]


@SETTINGS
@given(
    data=tables(),
    kind=st.sampled_from(KINDS),
    x=st.floats(0.0, 1.0),
    k=st.integers(1, 3),
    limit=st.sampled_from([0.0, 0.1, 0.3]),
)
def test_the_bound_never_exceeds_what_a_predecessor_suppresses(
    data: tuple, kind: str, x: float, k: int, limit: float
) -> None:
    table, hs = data
    ec = aggregate(table, list(hs), ["s"])
    models = [KAnonymity(k), model_of(kind, x)]
    engine = Anonymizer(ec, hs, models, suppression_limit=limit)
    brute = engine.evaluate_all()
    nodes = brute.nodes
    for i in range(len(nodes)):
        bound = engine.suppressed_lower_bound(engine.state(nodes[i]))
        below = np.all(nodes <= nodes[i], axis=1)
        if engine.max_outliers > 0:  # (without suppression only "> 0" means something)
            assert bound <= brute.suppressed[below].min() + 1e-9
        if engine.fails_monotone_part(engine.state(nodes[i])):  # what the search prunes
            assert not brute.anonymous[below].any()
            assert bound > engine.max_outliers


@SETTINGS
@given(
    data=tables(),
    sample=st.lists(st.booleans(), min_size=40, max_size=40),
    low=st.sampled_from([0.0, 0.1]),
    high=st.floats(0.0, 1.0),
    k=st.integers(1, 3),
    limit=st.sampled_from([0.1, 0.3]),
)
def test_the_delta_presence_bound_never_exceeds_what_a_predecessor_suppresses(
    data: tuple, sample: list[bool], low: float, high: float, k: int, limit: float
) -> None:
    # the sample's records over the population's in each class: the upper side's excess
    table, hs = data
    picked = sample[: table.num_rows]
    picked[0] = True
    ec = aggregate_with_population(table.filter(pa.array(picked)), table, list(hs))
    models = [KAnonymity(k), DeltaPresence(low, max(low, high))]
    engine = Anonymizer(ec, hs, models, suppression_limit=limit)
    brute = engine.evaluate_all()
    nodes = brute.nodes
    for i in range(len(nodes)):
        state = engine.state(nodes[i])
        below = np.all(nodes <= nodes[i], axis=1)
        assert engine.suppressed_lower_bound(state) <= brute.suppressed[below].min() + 1e-9
        if engine.fails_monotone_part(state):  # what the search prunes
            assert not brute.anonymous[below].any()
    opt = brute.optimum()
    for top_down in (False, True):
        search = Anonymizer(ec, hs, models, suppression_limit=limit)
        search.prefers_top_down = lambda t=top_down: t  # type: ignore[method-assign]
        if opt < 0:
            with pytest.raises(Exception, match="no generalization"):
                search.search()
            continue
        best, _ = search.search()
        assert best.node == tuple(int(v) for v in brute.nodes[opt])
        assert best.loss == brute.loss[opt]


@SETTINGS
@given(
    data=tables(),
    kind=st.sampled_from(["entropy", "alpha"]),  # the others: test_risk_present_caps_pruning
    x=st.floats(0.0, 1.0),
    k=st.integers(1, 3),
    limit=st.sampled_from([0.1, 0.3]),
)
def test_the_search_finds_the_brute_force_optimum_either_way(
    data: tuple, kind: str, x: float, k: int, limit: float
) -> None:
    table, hs = data
    ec = aggregate(table, list(hs), ["s"])
    models = [KAnonymity(k), model_of(kind, x)]
    brute = Anonymizer(ec, hs, models, suppression_limit=limit).evaluate_all()
    opt = brute.optimum()
    for top_down in (False, True):
        engine = Anonymizer(ec, hs, models, suppression_limit=limit)
        engine.prefers_top_down = lambda t=top_down: t  # type: ignore[method-assign]
        if opt < 0:
            with pytest.raises(Exception, match="no generalization"):
                engine.search()
            continue
        best, _ = engine.search()
        assert best.node == tuple(int(v) for v in brute.nodes[opt])
        assert best.loss == brute.loss[opt]


def test_the_excess_by_hand() -> None:
    # two classes on values (a, b), reference shares q = (0.5, 0.5)
    sc = SensitiveCounts(
        "s",
        pa.array(["a", "b"]),
        np.array([0, 0, 1]),
        np.array([0, 1, 0]),
        np.array([9, 1, 4]),
        np.array([5, 5]),
    )
    sizes = np.array([10, 4])
    # cap 0.6 on each share: class 0 holds 9 a's of 10, 3 more than 6: split off, at least
    # 3 / (1 - 0.6) = 7.5 records fail; class 1 is all a: 4 - 2.4 = 1.6, / 0.4 = 4 (all)
    got = share_excess(sc, sizes, np.array([0.6, 0.6]))
    assert got == pytest.approx([7.5, 4.0], abs=1e-6)
    # caps of 1 or more cannot be exceeded
    assert share_excess(sc, sizes, np.array([1.0, 1.0])).tolist() == [0.0, 0.0]
    # EMD 0.4 against t = 0.2 in a class of 10: 10 * 0.2 / 0.8 = 2.5
    assert emd_excess(np.array([0.4, 0.1]), np.array([10, 10]), 0.2) == pytest.approx(
        [2.5, 0.0], abs=1e-6
    )
    # delta-presence at most 0.5: 8 of 10 in the population: (8 - 5) / 0.5 = 6 must go (kept
    # parts hold at most half their population); 2 of 10 is within
    assert presence_excess(np.array([8, 2]), np.array([10, 10]), 0.5) == pytest.approx(
        [6.0, 0.0], abs=1e-6
    )
    # entropy 0 (one value) against ln 2: the whole class
    assert shortfall_excess(np.array([0.0]), np.array([6]), np.log(2)) == pytest.approx(
        [6.0], abs=1e-6
    )


@SETTINGS
@given(data=tables(), kind=st.sampled_from(["delta", "basic", "enhanced"]), x=st.floats(0.0, 1.0))
def test_per_pair_tests_agree_with_the_per_class_figures(data: tuple, kind: str, x: float) -> None:
    # the models fail a class when one of its pairs is beyond the threshold, and the excess
    # leaves out the values below their cap: both as the class maxima say, at every node
    from veil.risk.likeness import per_class_beta_basic, per_class_beta_enhanced_excess
    from veil.risk.metrics import per_class_delta

    table, hs = data
    ec = aggregate(table, list(hs), ["s"])
    model = model_of(kind, x)
    engine = Anonymizer(ec, hs, [model], suppression_limit=0.1)
    for node in engine.nodes:
        state = engine.state(node)
        sc = engine._node_sensitive(state, "s")
        if kind == "delta":
            figure = per_class_delta(sc, state.sizes) >= model.delta
        elif kind == "basic":
            figure = per_class_beta_basic(sc, state.sizes) > model.beta + 1e-12
        else:
            figure = per_class_beta_enhanced_excess(sc, state.sizes, model.beta) > 1e-12
        np.testing.assert_array_equal(model.failing(state.sizes, sc), figure)
        caps = model.present_caps(sc.reference_distribution())
        size = state.sizes[sc.class_index]
        c = caps[sc.value_code]
        with np.errstate(divide="ignore", invalid="ignore"):
            g = np.where(c < 0.999, (sc.counts - c * size) / (1.0 - c) - 1e-9 * size, 0.0)
        full = np.zeros(len(state.sizes))
        np.maximum.at(full, sc.class_index, g)
        np.testing.assert_array_equal(share_excess(sc, state.sizes, caps), full)
