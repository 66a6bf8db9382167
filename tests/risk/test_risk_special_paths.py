"""digamma / trigamma: the few-argument path (Python floats) gives the same bits as the array
path, and ``digamma_trigamma`` the same as the two functions (the population models' fits,
and so their published figures, must not move)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from veil.risk.special import digamma, digamma_trigamma, trigamma

VALUES = st.lists(st.floats(1e-6, 60.0), min_size=1, max_size=16)


@settings(max_examples=50, deadline=None)
@given(values=VALUES)
def test_small_arrays_match_the_array_path_bit_for_bit(values: list[float]) -> None:
    x = np.array(values)
    padded = np.concatenate([x, np.full(40, 3.5)])  # more than 16 arguments: the array path
    assert np.array_equal(digamma(x), digamma(padded)[: len(x)])
    assert np.array_equal(trigamma(x), trigamma(padded)[: len(x)])
    d, t = digamma_trigamma(x)
    assert np.array_equal(d, digamma(x)) and np.array_equal(t, trigamma(x))


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")  # 1/x^2 of a tiny x
def test_known_values() -> None:
    # psi(1) = -Euler-Mascheroni, psi'(1) = pi^2 / 6, psi(0.5) = -gamma - 2 ln 2
    gamma = 0.5772156649015329
    d, t = digamma_trigamma(np.array([1.0, 0.5]))
    assert np.allclose(d, [-gamma, -gamma - 2 * np.log(2)], rtol=1e-14)
    assert np.isclose(t[0], np.pi**2 / 6, rtol=1e-14)
    assert np.isclose(digamma(1e-200)[0], -1e200, rtol=1e-12)  # tiny: the array path
