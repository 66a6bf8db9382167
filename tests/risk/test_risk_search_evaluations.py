"""Every exact evaluation the search makes (each node rolled up from whichever cached finer
node it finds, pruned or not) gives the same anonymous flag and suppressed records as the
brute-force pass (``evaluate_all``, each node rolled up from a neighbour), and the search the
same optimum, for the non-monotone models the bottom-up sweep serves: beta-likeness,
delta-disclosure, t-closeness and delta-presence. Any faster evaluation must keep this."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from veil.risk.anonymize import Anonymizer
from veil.risk.batch import derive_many, split
from veil.risk.classes import aggregate, aggregate_with_population
from veil.risk.hierarchy import Hierarchy
from veil.risk.privacy import (
    BasicBetaLikeness,
    DeltaDisclosure,
    EnhancedBetaLikeness,
    EqualDistanceTCloseness,
    KAnonymity,
)
from veil.risk.table_models import DeltaPresence

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KINDS = ["basic", "enhanced", "delta", "equal", "presence"]


def model_of(kind: str, x: float):
    return {
        "basic": lambda: BasicBetaLikeness("s", 0.1 + 3 * x),
        "enhanced": lambda: EnhancedBetaLikeness("s", 0.1 + 3 * x),
        "delta": lambda: DeltaDisclosure("s", 0.2 + 3 * x),
        "equal": lambda: EqualDistanceTCloseness("s", x),
        "presence": lambda: DeltaPresence(0.0, 0.2 + 0.8 * x),
    }[kind]()


@st.composite
def tables(draw: st.DrawFn) -> tuple[pa.Table, list[bool], dict[str, Hierarchy]]:
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
    sample = draw(st.lists(st.booleans(), min_size=rows, max_size=rows))
    if not any(sample):
        sample[0] = True
    return pa.table(cols), sample, hs


@SETTINGS
@given(
    data=tables(),
    kind=st.sampled_from(KINDS),
    x=st.floats(0.0, 1.0),
    k=st.integers(1, 3),
    limit=st.sampled_from([0.0, 0.1, 0.3]),
)
def test_each_exact_evaluation_of_the_search_matches_brute_force(
    data: tuple, kind: str, x: float, k: int, limit: float
) -> None:
    table, sample, hs = data
    models = [KAnonymity(k), model_of(kind, x)]
    if kind == "presence":
        ec = aggregate_with_population(table.filter(pa.array(sample)), table, list(hs))
    else:
        ec = aggregate(table, list(hs), ["s"])
    brute = Anonymizer(ec, hs, models, suppression_limit=limit).evaluate_all()
    opt = brute.optimum()
    for top_down in (False, True):
        engine = Anonymizer(ec, hs, models, suppression_limit=limit)
        engine.prefers_top_down = lambda t=top_down: t  # type: ignore[method-assign]
        strides = np.array([math.prod(engine.shape[j + 1 :]) for j in range(len(engine.shape))])
        seen: list[tuple[int, bool, int]] = []
        check = engine.check

        def recording(node: np.ndarray, state, check=check, seen=seen, strides=strides):
            out, suppressed, anonymous = check(node, state)
            seen.append((int(node @ strides), anonymous, suppressed))
            return out, suppressed, anonymous

        engine.check = recording  # type: ignore[method-assign]
        if opt < 0:
            with pytest.raises(Exception, match="no generalization"):
                engine.search()
        else:
            best, _ = engine.search()
            assert best.node == tuple(int(v) for v in brute.nodes[opt])
            assert best.loss == brute.loss[opt]
            assert best.suppressed == brute.suppressed[opt]
        for i, anonymous, suppressed in seen:
            assert anonymous == bool(brute.anonymous[i])
            assert suppressed == int(brute.suppressed[i])


@SETTINGS
@given(
    data=tables(),
    kind=st.sampled_from(KINDS),
    x=st.floats(0.0, 1.0),
    limit=st.sampled_from([0.0, 0.1, 0.3]),
    picks=st.lists(st.integers(0, 10_000), min_size=1, max_size=12),
)
def test_a_batch_of_nodes_gives_what_each_node_gives_alone(
    data: tuple, kind: str, x: float, limit: float, picks: list[int]
) -> None:
    """:mod:`veil.risk.batch`: nodes rolled up and checked together, each from a finer base of
    its own (the bottom or a finer node), give each node's classes, outliers, suppressed
    records and anonymous flag exactly."""
    table, sample, hs = data
    models = [KAnonymity(2), model_of(kind, x)]
    if kind == "presence":
        ec = aggregate_with_population(table.filter(pa.array(sample)), table, list(hs))
    else:
        ec = aggregate(table, list(hs), ["s"])
    engine = Anonymizer(ec, hs, models, suppression_limit=limit)
    nodes = engine.nodes[[p % len(engine.nodes) for p in picks]]
    bases = [engine.state(np.minimum(node, p % 2)) for node, p in zip(nodes, picks, strict=True)]
    rollup = engine.rollup
    joined = derive_many(rollup.codes, rollup.value_domains, nodes, bases)
    assert joined is not None
    state, cuts = joined
    out, suppressed, anonymous = engine.check_many(state, cuts)
    for t, (node, base, st_) in enumerate(zip(nodes, bases, split(state, cuts), strict=True)):
        alone = rollup.derive(node, base)
        np.testing.assert_array_equal(st_.rep, alone.rep)
        np.testing.assert_array_equal(st_.sizes, alone.sizes)
        for a, p in alone.pairs.items():
            np.testing.assert_array_equal(st_.pairs[a].class_index, p.class_index)
            np.testing.assert_array_equal(st_.pairs[a].value_code, p.value_code)
            np.testing.assert_array_equal(st_.pairs[a].counts, p.counts)
        if alone.population is not None:
            np.testing.assert_array_equal(st_.population, alone.population)
        mask, sup, anon = engine.check(node, alone)
        np.testing.assert_array_equal(out[cuts[t] : cuts[t + 1]], mask)
        assert (int(suppressed[t]), bool(anonymous[t])) == (sup, anon)
