"""beta-likeness, Grassberger entropy l-diversity, delta-presence and the table-level models:
hand computations on small tables, properties (hypothesis), and the search against brute
force."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from veil.errors import InputError, PolicyError
from veil.risk import (
    AlphaKAnonymity,
    Anonymizer,
    DeltaDisclosure,
    EqualDistanceTCloseness,
    HierarchicalDistanceTCloseness,
    Hierarchy,
    OrderedDistanceTCloseness,
    aggregate,
    anonymize,
)
from veil.risk.classes import aggregate_with_population
from veil.risk.likeness import (
    enhanced_beta,
    grassberger_g,
    per_class_beta_basic,
    per_class_entropy_grassberger,
)
from veil.risk.population import population_uniqueness
from veil.risk.privacy import BasicBetaLikeness, EnhancedBetaLikeness, EntropyLDiversity
from veil.risk.table_models import (
    AverageRisk,
    DeltaPresence,
    HighestRisk,
    Population,
    UniquenessLimit,
)


def table(rows: list[tuple[str, str]]) -> pa.Table:
    return pa.table({"q": [r[0] for r in rows], "s": [r[1] for r in rows]})


# -- beta-likeness ----------------------------------------------------------------------------

# q(a) = 4/10, q(b) = 4/10, q(c) = 2/10
ROWS = [("x", "a")] * 3 + [("x", "c")] + [("y", "a")] + [("y", "b")] * 4 + [("z", "c")]


def test_beta_likeness_by_hand() -> None:
    ec = aggregate(table(ROWS), ["q"], ["s"])
    sc = ec.sensitive["s"]
    # class x: a 3/4 (gain (0.75 - 0.4)/0.4 = 0.875), c 1/4 (0.25) -> 0.875
    # class y: a 1/5 (-0.5), b 4/5 (1.0) -> 1.0;  class z: c 1 (gain 4.0) -> 4.0
    assert per_class_beta_basic(sc, ec.sizes) == pytest.approx([0.875, 1.0, 4.0])
    assert BasicBetaLikeness("s", 1.0).failing(ec.sizes, sc).tolist() == [False, False, True]
    # enhanced: bound min(beta, -ln q): for c, -ln 0.2 = 1.609; for b, -ln 0.4 = 0.916
    enh = EnhancedBetaLikeness("s", 3.0).failing(ec.sizes, sc)
    assert enh.tolist() == [False, True, True]  # y: b's gain 1.0 > 0.916
    # the smallest beta that every class meets, enhanced: none (z's gain 4 > -ln 0.2)
    assert enhanced_beta(sc, ec.sizes) == math.inf


@st.composite
def tables(draw: st.DrawFn) -> pa.Table:
    n = draw(st.integers(2, 60))
    qs = draw(st.lists(st.sampled_from("uvwxy"), min_size=n, max_size=n))
    ss = draw(st.lists(st.sampled_from("abcd"), min_size=n, max_size=n))
    return pa.table({"q": qs, "s": ss})


@given(tables(), st.floats(0.05, 5), st.floats(0.05, 5))
@settings(max_examples=80, deadline=None)
def test_beta_likeness_is_monotone_in_beta(t: pa.Table, b1: float, b2: float) -> None:
    """A larger beta never makes more classes fail; enhanced is never weaker than basic."""
    lo, hi = sorted((b1, b2))
    ec = aggregate(t, ["q"], ["s"])
    sc = ec.sensitive["s"]
    for model in (BasicBetaLikeness, EnhancedBetaLikeness):
        fail_lo = model("s", lo).failing(ec.sizes, sc)
        fail_hi = model("s", hi).failing(ec.sizes, sc)
        assert not (fail_hi & ~fail_lo).any()
    basic = BasicBetaLikeness("s", hi).failing(ec.sizes, sc)
    assert not (basic & ~EnhancedBetaLikeness("s", hi).failing(ec.sizes, sc)).any()


# -- Grassberger ------------------------------------------------------------------------------


def test_grassberger_g_matches_arx_precomputed_values() -> None:
    """G_1, G_2, G_4, G_100 as listed in ARX's ``EntropyLDiversity.G_PRECOMPUTED``, and
    ``G_(2n+1) = G_(2n) = -gamma - ln 2 + sum_(k<=n) 2/(2k-1)``."""
    g = grassberger_g(np.array([1, 2, 3, 4, 5, 100, 101]))
    assert g[0] == pytest.approx(-1.2703628454614782, abs=1e-13)
    assert g[1] == pytest.approx(0.7296371545385218, abs=1e-13)
    assert g[2] == pytest.approx(g[1], abs=1e-13)
    assert g[3] == pytest.approx(1.3963038212051886, abs=1e-13)
    assert g[4] == pytest.approx(g[3], abs=1e-13)
    assert g[5] == pytest.approx(4.605186851488337, abs=1e-12)
    by_sum = -0.5772156649015329 - math.log(2) + sum(2 / (2 * k - 1) for k in range(1, 51))
    assert g[6] == pytest.approx(by_sum, abs=1e-12)


def test_grassberger_entropy_by_hand() -> None:
    ec = aggregate(table(ROWS), ["q"], ["s"])
    h = per_class_entropy_grassberger(ec.sensitive["s"], ec.sizes)
    g = grassberger_g(np.arange(1, 6))
    # x: counts 3, 1 of 4;  y: 1, 4 of 5;  z: 1 of 1
    assert h[0] == pytest.approx(g[3] - (3 * g[2] + 1 * g[0]) / 4)
    assert h[1] == pytest.approx(g[4] - (1 * g[0] + 4 * g[3]) / 5)
    assert h[2] == pytest.approx(0.0)
    # l = 2 needs 2 distinct values and entropy >= ln 2
    fails = EntropyLDiversity("s", 2, "grassberger").failing(ec.sizes, ec.sensitive["s"])
    assert fails.tolist() == [h[0] < math.log(2), h[1] < math.log(2), True]
    with pytest.raises(PolicyError, match="entropy estimator"):
        EntropyLDiversity("s", 2, "magic")


# -- delta-presence ---------------------------------------------------------------------------

AGE = Hierarchy("age", [(str(a), f"{a // 10 * 10}s", "*") for a in range(20, 60)])


def people(ages: list[int]) -> pa.Table:
    return pa.table({"age": [str(a) for a in ages]})


def test_delta_presence_by_hand() -> None:
    population = people([21, 22, 23, 24, 31, 32, 33, 34, 41, 42])
    sample = people([21, 22, 31])
    ec = aggregate_with_population(sample, population, ["age"], hierarchies={"age": AGE})
    assert ec.records == 3 and ec.population.sum() == 10
    engine = Anonymizer(ec, {"age": AGE}, [DeltaPresence(0.0, 0.5)])
    # level 1: 20s 2/4, 30s 1/4, 40s 0/2 -> every delta <= 0.5
    assert engine.evaluate([1]).anonymous and not engine.evaluate([0]).anonymous
    state = engine.state(np.array([1]))
    assert DeltaPresence(0.0, 0.5).delta(state.sizes, state.population) == pytest.approx(
        [0.5, 0.25, 0.0]
    )
    # delta_min 0.2: the 40s hold no sample record (delta 0), public records that no
    # suppression can hide -> level 1 fails even with full suppression; level 2 (3/10) holds
    strict = Anonymizer(ec, {"age": AGE}, [DeltaPresence(0.2, 0.5)], suppression_limit=1.0)
    assert not strict.evaluate([1]).anonymous and strict.evaluate([2]).anonymous
    result = anonymize(
        sample,
        {"age": AGE},
        [DeltaPresence(0.2, 0.5)],
        suppression_limit=1.0,
        population=population,
    )
    assert result.levels == {"age": 2} and result.suppressed_records == 0
    assert result.before.records == 3


@given(st.lists(st.integers(20, 59), min_size=1, max_size=40))
@settings(max_examples=40, deadline=None)
def test_delta_presence_of_the_full_population_is_one(ages: list[int]) -> None:
    """A 'sample' that is the whole population has delta = 1 in every class."""
    t = people(ages)
    ec = aggregate_with_population(t, t, ["age"], hierarchies={"age": AGE})
    engine = Anonymizer(ec, {"age": AGE}, [DeltaPresence(0.0, 1.0)])
    for node in ([0], [1], [2]):
        st_ = engine.state(np.array(node))
        assert np.all(DeltaPresence(0, 1).delta(st_.sizes, st_.population) == 1.0)
        assert engine.evaluate(node).anonymous


def test_a_sample_outside_its_population_is_refused() -> None:
    with pytest.raises(InputError, match="must be a subset of the population"):
        aggregate_with_population(people([25, 55]), people([25, 26]), ["age"])
    with pytest.raises(PolicyError, match="population table"):
        Anonymizer(aggregate(people([25]), ["age"]), {"age": AGE}, [DeltaPresence(0, 1)])


def test_delta_presence_search_matches_brute_force() -> None:
    rng = np.random.default_rng(3)
    pop = pa.table(
        {
            "age": [str(a) for a in rng.integers(20, 60, 400)],
            "sex": rng.choice(["F", "M"], 400).tolist(),
        }
    )
    sample = pop.take(pa.array(np.flatnonzero(rng.random(400) < 0.3)))
    sex = Hierarchy("sex", [("F", "*"), ("M", "*")])
    hs = {"age": AGE, "sex": sex}
    ec = aggregate_with_population(sample, pop, ["age", "sex"], hierarchies=hs)
    for limit in (0.0, 0.1):
        engine = Anonymizer(ec, hs, [DeltaPresence(0.1, 0.45)], suppression_limit=limit)
        brute = engine.evaluate_all()
        best, _ = engine.search()
        assert best.node == tuple(brute.nodes[brute.optimum()])


# -- table-level models -----------------------------------------------------------------------


def test_uniqueness_limit_suppresses_the_fewest_smallest_classes() -> None:
    sizes = np.array([1, 1, 1, 2, 5, 10])  # 3 uniques of 20 records: 15%
    m = UniquenessLimit(0.06)
    keep = np.ones(6, dtype=bool)
    out = m.to_suppress(sizes, keep)
    # removing 2 uniques leaves 1 of 18 (5.6%); removing 1 leaves 2 of 19 (10.5%)
    assert out.tolist() == [True, True, False, False, False, False]
    assert m.figure(sizes[~out]) == pytest.approx(1 / 18)
    # with a budget of 1 record the model cannot be met: everything is marked
    assert m.to_suppress(sizes, keep, budget=1).all()


def test_average_and_highest_risk() -> None:
    sizes = np.array([1, 2, 3, 6])  # 4 classes, 12 records: average prosecutor risk 1/3
    assert AverageRisk(0.5).holds(sizes) and not AverageRisk(0.3).holds(sizes)
    out = AverageRisk(0.3).to_suppress(sizes, np.ones(4, bool))
    assert out.tolist() == [True, False, False, False]  # 3 classes of 11 records: 0.27
    assert HighestRisk(0.34).min_class_size == 3
    assert HighestRisk(0.34).failing(sizes, None).tolist() == [True, True, False, False]
    journalist = HighestRisk(0.3, Population(sampling_fraction=0.5)).bind(12)
    # E[1/F | f] at p = 0.5: f = 1: 0.69, f = 2: 0.31, f = 3: 0.19
    assert journalist.failing(sizes, None).tolist() == [True, True, False, False]
    with pytest.raises(PolicyError, match="sampling fraction or its size"):
        Population()


def test_population_uniqueness_limit_in_the_search(
    adult_table: pa.Table, adult_hierarchies: dict
) -> None:
    qis = ["sex", "age", "race", "marital-status"]
    hs = {q: adult_hierarchies[q] for q in qis}
    model = UniquenessLimit(0.0005, Population(sampling_fraction=0.01))
    before = population_uniqueness(aggregate(adult_table, qis).sizes, sampling_fraction=0.01)
    assert before.uniqueness > 0.0005  # the model has something to do
    result = anonymize(adult_table, hs, [model], suppression_limit=0.02)
    assert result.after is not None and result.suppressed_records > 0
    kept = result.after.class_size_distribution
    sizes = np.repeat(list(kept), list(kept.values()))
    after = population_uniqueness(sizes, population_size=100 * adult_table.num_rows)
    assert after.uniqueness <= 0.0005 + 1e-12
    # the search's optimum is the brute force's
    engine = Anonymizer(aggregate(adult_table, qis), hs, [model], suppression_limit=0.02)
    brute = engine.evaluate_all()
    assert result.node == tuple(brute.nodes[brute.optimum()])


# -- the size below which a model always fails (the search's quick test relies on it) ---------

S_LEVELS = Hierarchy("s", [("a", "ab", "*"), ("b", "ab", "*"), ("c", "cd", "*"), ("d", "cd", "*")])


@given(tables(), st.floats(0.01, 0.9), st.floats(0.05, 4))
@settings(max_examples=80, deadline=None)
def test_classes_below_the_smallest_passing_size_fail(t: pa.Table, tt: float, b: float) -> None:
    ec = aggregate(t, ["q"], ["s"])
    sc = ec.sensitive["s"]
    q = sc.reference_distribution()
    order = tuple(v for v in "abcd" if v in set(sc.values.to_pylist()))
    models = [
        EqualDistanceTCloseness("s", tt),
        OrderedDistanceTCloseness("s", tt, order=order),
        HierarchicalDistanceTCloseness("s", tt, S_LEVELS),
        BasicBetaLikeness("s", b),
        EnhancedBetaLikeness("s", b),
        DeltaDisclosure("s", b),
        AlphaKAnonymity("s", tt, 1),
    ]
    for m in models:
        small = ec.sizes < m.smallest_passing_size(q)
        assert m.failing(ec.sizes, sc)[small].all(), m


def test_utility_of_the_released_table_by_hand() -> None:
    """Three classes: x (a a a c), y (a b b b b), z (c). With k = 2 and room to suppress z:
    DM = 16 + 25 + 10 * 1, DM* = 16 + 25 + 1, AECS = 10 / (2 + 1); classification: x's
    majority a leaves 1 record, y's majority b leaves 1, z suppressed: (1 + 1 + 1) / 10."""
    from veil.risk import KAnonymity

    ident = Hierarchy("q", [("x", "*"), ("y", "*"), ("z", "*")])
    r = anonymize(
        table(ROWS), {"q": ident}, [KAnonymity(2)], suppression_limit=0.1, utility_target="s"
    )
    assert r.levels == {"q": 0} and r.suppressed_records == 1
    u = r.utility
    assert (u.discernibility, u.dm_star) == (16 + 25 + 10, 16 + 25 + 1)
    assert u.aecs == pytest.approx(10 / 3) and u.classes == 2 and u.released == 9
    assert u.classification == pytest.approx(3 / 10)
    # a tie (no strict majority) penalizes the whole class: q = * holds a 4, b 4, c 2
    top = anonymize(
        table(ROWS), {"q": ident}, [KAnonymity(10)], suppression_limit=0.0, utility_target="s"
    )
    assert top.levels == {"q": 1} and top.utility.classification == pytest.approx(1.0)
