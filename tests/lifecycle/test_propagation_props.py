"""Property tests for the small cores of propagation and delivery: the retry backoff and the
stale report's arithmetic."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from veil.lifecycle.notices_delivery import MAX_ATTEMPTS, backoff
from veil.lineage import StaleReport


@given(st.integers(min_value=0, max_value=10_000))
def test_backoff_grows_and_is_bounded(n: int) -> None:
    assert timedelta(minutes=1) <= backoff(n) <= timedelta(hours=6)
    assert backoff(n) <= backoff(n + 1)


def test_backoff_reaches_its_cap_before_giving_up() -> None:
    assert backoff(MAX_ATTEMPTS - 1) == timedelta(hours=6)


counts = st.integers(min_value=0, max_value=10**6)


@given(counts, counts, counts, counts)
def test_stale_report_total_and_text(e: int, w: int, o: int, r: int) -> None:
    rep = StaleReport("a" * 32, "p", e, w, o, r)
    assert rep.total == e + w + o + r and bool(rep) == (rep.total > 0)
    text = rep.describe()
    assert text.startswith(f"{rep.total} subject")
    for n, word in ((e, "erased"), (w, "withdrawn"), (o, "objecting"), (r, "restricted")):
        assert (f"{n} {word}" in text) == (n > 0)
