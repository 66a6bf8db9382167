"""One calendar-correct duration (issue 18): a month is a calendar month, a year twelve."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from veil.policy.duration import MAX_YEARS, Duration


@pytest.mark.parametrize(("start", "text", "end"), [
    ("2025-01-01", "12 months", "2026-01-01"),
    ("2024-02-29", "12 months", "2025-02-28"),
    ("2024-02-29", "1 year", "2025-02-28"),
    ("2024-02-29", "4 years", "2028-02-29"),
    ("2025-01-31", "1 month", "2025-02-28"),
    ("2024-01-31", "P1M", "2024-02-29"),
    ("2025-01-01", "5 years", "2030-01-01"),
    ("2025-03-01", "1 year 6 months", "2026-09-01"),
    ("2025-03-01", "P1Y6M", "2026-09-01"),
    ("2025-12-25", "2 weeks", "2026-01-08"),
    ("2025-12-25", "10d", "2026-01-04"),
])
def test_calendar_ends(start: str, text: str, end: str) -> None:
    t = datetime.fromisoformat(start).replace(tzinfo=UTC)
    assert Duration.parse(text).after(t).date().isoformat() == end


@pytest.mark.parametrize("text", ["", "  ", "x", "5 yrs", "-1 day", "1.5 years", "5 years 5 years",
                                  "P", "years 5", "5"])
def test_not_a_duration(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        Duration.parse(text)


@pytest.mark.parametrize("text", ["99999999999 years", "P99999999999999Y",
                                  "1" + "0" * 400 + " days", f"{MAX_YEARS + 1} years"])
def test_absurd_lengths_get_one_clear_error(text: str) -> None:
    with pytest.raises(ValueError, match=f"longer than {MAX_YEARS} years"):
        Duration.parse(text, what="retention")


def test_past_year_9999_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="past year 9999"):
        Duration(years=900).after(datetime(9500, 1, 1))


def test_covers() -> None:
    six = Duration(months=6)
    assert Duration(years=1).covers(six) and six.covers(Duration(days=181))
    assert not Duration(days=183).covers(six) and Duration(days=184).covers(six)
    assert not Duration(months=5).covers(six)


durations = st.builds(Duration, years=st.integers(0, 50), months=st.integers(0, 30),
                      weeks=st.integers(0, 10), days=st.integers(0, 400))
starts = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2100, 12, 31))


@settings(max_examples=300, deadline=None)
@given(durations, starts)
def test_text_and_iso_round_trip_and_time_moves_forward(d: Duration, t: datetime) -> None:
    assert Duration.parse(str(d)) == d
    if d:
        assert Duration.parse(d.iso()) == d
        assert d.after(t) > t and d.before(t) < t
    assert d.after(t).time() == t.time()


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 1200), starts)
def test_months_add_up_and_clamp_to_the_month_end(n: int, t: datetime) -> None:
    end = Duration(months=n).after(t)
    assert (end.year - t.year) * 12 + end.month - t.month == n
    assert end.day == t.day or (end.day < t.day and (end + timedelta(days=1)).day == 1)


@settings(max_examples=200, deadline=None)
@given(durations, durations)
def test_covers_is_sound(a: Duration, b: Duration) -> None:
    if a.covers(b):
        for t in (datetime(2024, 1, 31), datetime(2023, 2, 28), datetime(2024, 2, 29),
                  datetime(2025, 7, 31)):
            assert a.after(t) >= b.after(t)
