"""Population uniqueness (Pitman, Zayatz, SNB, Dankar's rule) and the attackers' risks.

Formulas are checked against hand computations on small histograms (direct sums, math.comb),
the SNB moment equations against a Monte Carlo simulation of the model, and the estimates on
UCI Adult against the values published in ARX's ``TestRiskMetrics.testDecisionRule2``
(arx-deidentifier/arx @ 9f5b7004, ``src/test/org/deidentifier/arx/test/TestRiskMetrics.java``),
which compares four significant digits (``(int)(x * 10000)``).
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from veil.errors import PolicyError
from veil.risk import aggregate, measure
from veil.risk.attacker import (
    expected_inverse_population_size,
    register_risk,
    sampled_risk,
)
from veil.risk.population import (
    SizeHistogram,
    _pitman_terms,
    _snb_expected,
    pitman_fit,
    pitman_uniques,
    population_uniqueness,
    shlosser_classes,
    snb_fit,
    snb_uniques,
    zayatz_uniques,
)
from veil.risk.special import digamma, digamma_trigamma, trigamma

EULER = 0.5772156649015329


def four_digits(x: float) -> int:
    """ARX's comparison: ``(int) (x * 10000)``."""
    return int(x * 10000)


# -- special functions -----------------------------------------------------------------------


def test_digamma_and_trigamma_at_integers_and_halves() -> None:
    n = np.arange(1, 40)
    harmonic = np.array([sum(1.0 / k for k in range(1, i)) for i in n])
    assert np.allclose(digamma(n), -EULER + harmonic, atol=2e-13)
    zeta2 = np.array([math.pi**2 / 6 - sum(1.0 / k**2 for k in range(1, i)) for i in n])
    assert np.allclose(trigamma(n), zeta2, rtol=1e-12)
    # psi(1/2) = -gamma - 2 ln 2
    assert digamma(0.5)[0] == pytest.approx(-EULER - 2 * math.log(2), abs=1e-13)


positive = st.floats(min_value=1e-6, max_value=1e6, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(st.lists(positive, min_size=1, max_size=40), st.lists(positive, min_size=1, max_size=40))
def test_special_functions_are_element_wise_bit_for_bit(a: list[float], b: list[float]) -> None:
    # the Pitman fit evaluates its scalar arguments and its ``j - alpha`` in one array: each
    # value must not depend on its neighbours (nor on which shifting path the array takes)
    d, t = digamma_trigamma(np.array(a + b))
    da, ta = digamma_trigamma(np.array(a))
    db, tb = digamma_trigamma(np.array(b))
    assert np.array_equal(d, np.concatenate([da, db]))
    assert np.array_equal(t, np.concatenate([ta, tb]))
    assert np.array_equal(digamma(np.array(a + b)), d)


# -- Pitman ----------------------------------------------------------------------------------

SMALL = SizeHistogram(np.array([1, 2, 3, 7]), np.array([40, 12, 5, 2]))


def test_pitman_score_is_the_gradient_of_the_likelihood() -> None:
    """The closed forms against direct sums of Hoshino's log-likelihood."""
    theta, alpha = 3.5, 0.4
    u, n = SMALL.classes, SMALL.records

    def loglik(t: float, a: float) -> float:
        out = sum(math.log(t + i * a) for i in range(1, u))
        out -= sum(math.log(t + i) for i in range(1, n))
        for j, f in zip(SMALL.sizes, SMALL.counts, strict=True):
            out += f * sum(math.log(i - a) for i in range(1, int(j)))
        return out

    ll, grad, hess = _pitman_terms(SMALL, theta, alpha, True)
    ll0 = loglik(theta, alpha)
    h = 1e-6
    num = np.array(
        [
            (loglik(theta + h, alpha) - loglik(theta - h, alpha)) / (2 * h),
            (loglik(theta, alpha + h) - loglik(theta, alpha - h)) / (2 * h),
        ]
    )
    assert np.allclose(grad, num, rtol=1e-6)
    # the likelihood differs by a constant only: differences must agree
    ll2, _, _ = _pitman_terms(SMALL, theta + 0.5, alpha - 0.1, False)
    assert ll2 - ll == pytest.approx(loglik(theta + 0.5, alpha - 0.1) - ll0, rel=1e-9)
    h2 = 1e-4
    d2 = (
        loglik(theta + h2, alpha) - 2 * ll0 + loglik(theta - h2, alpha)
    ) / h2**2
    assert hess[0, 0] == pytest.approx(d2, rel=1e-4)


def test_pitman_fit_is_a_maximum() -> None:
    theta, alpha = pitman_fit(SMALL)
    ll, grad, _ = _pitman_terms(SMALL, theta, alpha, False)
    assert np.max(np.abs(grad)) < 1e-8
    for dt, da in ((0.1, 0), (-0.1, 0), (0, 0.01), (0, -0.01)):
        assert _pitman_terms(SMALL, theta + dt, alpha + da, False)[0] < ll
    big_n = 1000.0
    expected = math.exp(math.lgamma(theta + 1) - math.lgamma(theta + alpha)) * big_n**alpha
    assert pitman_uniques(SMALL, big_n) == pytest.approx(expected)


# -- Zayatz ----------------------------------------------------------------------------------


def test_zayatz_by_hand() -> None:
    h = SizeHistogram(np.array([1, 2, 4]), np.array([6, 3, 1]))  # n = 16, u = 10
    big_n = 80.0  # pi = 0.2

    def p_one(k: int) -> float:  # hypergeometric: one of k drawn, 16 draws from 80
        return k * math.comb(80 - k, 15) / math.comb(80, 16)

    denom = (6 * p_one(1) + 3 * p_one(2) + 1 * p_one(4)) / 10
    conditional = (6 / 10) * p_one(1) / denom
    assert zayatz_uniques(h, big_n) == pytest.approx(6 * conditional / 0.2, rel=1e-12)


# -- SNB -------------------------------------------------------------------------------------


def test_snb_moment_equations_match_a_simulation_of_the_model() -> None:
    """Population class sizes 1 + NegBin(a, b), each record sampled with probability f: the
    expected numbers of sample classes of size 1 and 2 (Chen & Keller-McNulty 1998). ARX's
    ``ModelSNB`` raises (1 - d) to +(a + 2) in the second equation; the simulation shows the
    exponent is -(a + 2)."""
    rng = np.random.default_rng(7)
    a, b, f, k = 0.7, 0.3, 0.2, 200_000
    sizes = 1 + rng.negative_binomial(a, b, k)
    sample = rng.binomial(sizes, f)
    e1, e2 = _snb_expected(k, f, a, b)
    assert (sample == 1).sum() == pytest.approx(e1, rel=0.01)
    assert (sample == 2).sum() == pytest.approx(e2, rel=0.02)


def test_snb_fit_reproduces_the_sample_and_shlosser_by_hand() -> None:
    h = SizeHistogram(np.array([1, 2, 3, 5]), np.array([300, 60, 20, 4]))
    f = 0.2
    i, ni = h.sizes.astype(float), h.counts.astype(float)
    by_hand = h.classes + 300 * (
        np.sum(i * f * f * (1 - f * f) ** (i - 1) * ni)
        / np.sum((1 - f) ** i * ((1 + f) ** i - 1) * ni)
    ) * (np.sum((1 - f) ** i * ni) / np.sum(i * f * (1 - f) ** (i - 1) * ni)) ** 2
    assert shlosser_classes(h, f) == pytest.approx(by_hand)
    k, a, b = snb_fit(h, f)
    e1, e2 = _snb_expected(k, f, a, b)
    assert (e1, e2) == (pytest.approx(300, rel=1e-8), pytest.approx(60, rel=1e-8))
    assert snb_uniques(h, h.records / f) == pytest.approx(k * b**a)


# -- Dankar's rule and ARX's published figures on Adult --------------------------------------


@pytest.fixture(scope="module")
def adult_sizes(adult_table: pa.Table) -> np.ndarray:
    return aggregate(adult_table, adult_table.column_names).sizes


def test_adult_sampling_fraction_ten_percent_uses_pitman(adult_sizes: np.ndarray) -> None:
    r = population_uniqueness(adult_sizes, sampling_fraction=0.1)
    assert r.chosen == "pitman"
    assert four_digits(r.uniqueness) == four_digits(0.27684993883653597)  # ARX
    assert r.uniqueness == pytest.approx(0.27684993883653597, rel=1e-9)
    assert r.uniqueness <= r.sample_uniqueness
    zayatz = population_uniqueness(adult_sizes, sampling_fraction=0.1, model="zayatz")
    assert zayatz.uniqueness == pytest.approx(0.3207402393466189, rel=1e-9)  # ARX's other case


def test_adult_one_percent_and_census(adult_sizes: np.ndarray) -> None:
    one = population_uniqueness(adult_sizes, sampling_fraction=0.01)
    assert one.chosen == "pitman"
    assert one.uniqueness == pytest.approx(0.1446083531167384, rel=1e-9)  # ARX
    census = population_uniqueness(adult_sizes, sampling_fraction=1.0)
    assert census.uniqueness == pytest.approx(0.5142895033485844)  # ARX: sample uniqueness
    assert census.chosen == "census"


def test_adult_twenty_percent_snb_converges(adult_sizes: np.ndarray) -> None:
    """ARX reports Zayatz's 0.35770992 here: its SNB does not converge (see the simulation
    test above), so its rule falls back. Veil's SNB converges below Zayatz, and the rule
    (the smaller of the two) takes it. Zayatz itself agrees with ARX."""
    r = population_uniqueness(adult_sizes, sampling_fraction=0.2)
    assert r.estimates["zayatz"] == pytest.approx(0.3577099234829125, rel=1e-9)
    assert r.chosen == "snb"
    assert r.uniqueness == pytest.approx(r.estimates["snb"])
    assert r.uniqueness < r.estimates["zayatz"]


def test_no_sample_unique_means_no_population_unique() -> None:
    r = population_uniqueness(np.array([2, 3, 5]), sampling_fraction=0.01)
    assert (r.uniqueness, r.chosen) == (0.0, "none")
    with pytest.raises(PolicyError, match="sampling fraction or the population size"):
        population_uniqueness(np.array([1]))
    with pytest.raises(PolicyError, match="smaller than the table"):
        population_uniqueness(np.array([1, 2]), population_size=2)
    with pytest.raises(PolicyError, match="unknown population model"):
        population_uniqueness(np.array([1, 2]), sampling_fraction=0.5, model="magic")


# -- journalist and marketer -----------------------------------------------------------------


@given(st.floats(0.001, 0.999), st.lists(st.integers(1, 400), min_size=1, max_size=8))
@settings(max_examples=60, deadline=None)
def test_expected_inverse_population_size(p: float, sizes: list[int]) -> None:
    """``E[1/F | f] = integral_0^1 p s^(f-1) / (p + q s) ds`` (Benedetti & Franconi), by a
    fine trapezoid rule; it lies between p/f and 1/f (F >= f) and falls as f grows."""
    f = np.array(sorted(set(sizes)))
    r = expected_inverse_population_size(f, p)
    s = np.linspace(0, 1, 200_001)
    for fi, ri in zip(f, r, strict=True):
        ref = np.trapezoid(p * s ** (fi - 1) / (p + (1 - p) * s), s)
        assert ri == pytest.approx(ref, rel=2e-4, abs=1e-9)
        assert p / fi - 1e-12 <= ri <= 1 / fi + 1e-12
    assert np.all(np.diff(r) <= 1e-15)


def test_unique_record_closed_form_and_census() -> None:
    p = 0.1
    r = expected_inverse_population_size(np.array([1]), p)[0]
    assert r == pytest.approx(p / (1 - p) * math.log(1 / p), rel=1e-14)
    assert np.allclose(expected_inverse_population_size(np.array([1, 2, 5]), 1.0), [1, 0.5, 0.2])


def test_attacker_risks_sampled_and_register() -> None:
    sizes = np.array([1, 1, 2, 4])
    s = sampled_risk(sizes, 0.5, threshold=0.3)
    r = expected_inverse_population_size(sizes, 0.5)
    assert s.prosecutor_highest == 1.0 and s.prosecutor_average == 4 / 8
    assert s.journalist_highest == pytest.approx(r[0])
    assert s.marketer == pytest.approx(np.dot(sizes, r) / 8)
    # r(1) = 0.69 and r(2) = 0.31 are above 0.3, r(4) = 0.16 is not
    assert s.journalist_at_risk == pytest.approx(4 / 8)
    # a population register: F = 2, 3, 2, 10 (ARX's RiskModelSampleSummary definitions)
    g = register_risk(sizes, np.array([2, 3, 2, 10]), threshold=0.3)
    assert g.journalist_highest == 0.5
    assert g.marketer == pytest.approx((1 / 2 + 1 / 3 + 2 / 2 + 4 / 10) / 8)
    assert g.journalist_average == pytest.approx(max(4 / 17, g.marketer))
    assert g.journalist_at_risk == pytest.approx((1 + 1 + 2) / 8)  # 1/F > 0.3: F = 2, 3, 2


def test_report_adds_population_figures(adult_table: pa.Table) -> None:
    r = measure(adult_table, ["sex", "age", "race"], sampling_fraction=0.1)
    assert r.population is not None and r.attacker is not None
    assert r.population.population_size == pytest.approx(301_620)
    assert r.attacker.journalist_highest < r.prosecutor_risk_highest
    d = r.to_dict()
    assert d["population"]["chosen"] == "pitman" and d["attacker"]["source"] == "sampling fraction"
    assert measure(adult_table, ["sex"]).to_dict()["population"] is None


def test_the_docs_population_example_runs_as_written(monkeypatch, capsys,
                                                     conformance_dir) -> None:
    """The example reads ``../shared/conformance/adult`` (skips with a reason without it)."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    docs = (root / "docs" / "risk.md").read_text()
    block = next(
        b
        for b in re.findall(r"```python\n(.*?)```", docs, flags=re.S)
        if "sampling_fraction=0.1" in b
    )
    monkeypatch.chdir(root)
    exec(compile(block, "docs/risk.md", "exec"), {})
    out = capsys.readouterr().out.splitlines()
    expected = [line.removeprefix("# ") for line in block.splitlines() if line.startswith("# ")]
    assert out == expected


@given(
    st.lists(st.integers(1, 50), min_size=1, max_size=300),
    st.sampled_from([0.001, 0.01, 0.05, 0.1, 0.3, 0.7, 1.0]),
    st.sampled_from(["dankar", "pitman", "zayatz", "snb"]),
)
@settings(max_examples=150, deadline=None)
def test_every_estimate_is_a_share_of_the_population(
    sizes: list[int], pi: float, model: str
) -> None:
    """Whatever the histogram, an estimate is a share in [0, 1] (a model that does not
    converge counts 0 uniques and says so with None), and no sample unique means none."""
    r = population_uniqueness(np.array(sizes), sampling_fraction=pi, model=model)
    assert 0.0 <= r.uniqueness <= 1.0
    assert all(v is None or 0.0 <= v <= 1.0 for v in r.estimates.values())
    if 1 not in sizes:
        assert r.uniqueness == 0.0
