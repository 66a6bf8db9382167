"""A decision's review due date and retention end (`veil.decisions.rules.after`, cached per
day) equal the policy duration's own calendar arithmetic (`Duration.after`) at any time of day,
across month ends, leap days and offsets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from veil.decisions.rules import after
from veil.policy.duration import Duration


@pytest.mark.parametrize("text", ["6 months", "1 year 6 months", "30 days", "2 weeks",
                                  "5 years", "1 month", "1 year 1 month 1 week 1 day"])
def test_after_equals_the_durations_own_arithmetic(text: str) -> None:
    d = Duration.parse(text, what="log_retention")
    start = datetime(2023, 12, 28, 0, 0, 0, 1, tzinfo=UTC)
    for k in range(0, 24 * 800, 7):  # every 7 hours for 800 days: month ends, 29 Feb 2024
        at = start + timedelta(hours=k, microseconds=k)
        assert after(d, at) == d.after(at)
    east = datetime(2024, 1, 31, 23, 30, tzinfo=timezone(timedelta(hours=5)))
    assert after(d, east) == d.after(east) and after(d, east).utcoffset() == timedelta(hours=5)


def test_past_year_9999_is_the_same_error() -> None:
    d = Duration.parse("5 years", what="log_retention")
    with pytest.raises(ValueError, match="past year 9999"):
        after(d, datetime(9997, 6, 1, tzinfo=UTC))
