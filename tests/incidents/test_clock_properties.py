"""The 72-hour clock: deadline = awareness + 72 elapsed hours in any time zone, DST included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from veil.errors import InputError
from veil.incidents.clock import NOTIFY_WITHIN, clock, deadline, local, parse_time

ZONES = sorted(z for z in available_timezones() if "/" in z and not z.startswith("Etc/"))[:400]
ZONES += ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu", "UTC"]
instants = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1),
                        timezones=st.just(UTC))


@settings(max_examples=300, deadline=None)
@given(aware=instants, zone=st.sampled_from(ZONES))
def test_deadline_is_72_elapsed_hours_whatever_the_zone(aware: datetime, zone: str) -> None:
    z = ZoneInfo(zone)
    local_aware = aware.astimezone(z)  # the same instant, given in the DPO's zone
    due = deadline(local_aware)
    assert due.tzinfo == UTC and due - aware == NOTIFY_WITHIN
    # what the DPO reads is the same instant: parse the shown wall time back with its offset
    shown = local(due, zone)
    wall, offset = shown.split(" (")[0].rsplit(" ", 1)
    back = datetime.fromisoformat(wall.replace(" ", "T") + ":00" + offset)
    assert back == due.replace(second=0, microsecond=0)
    # across a DST change the wall-clock gap differs from 72 h by exactly the offset change
    gap = due.astimezone(z).replace(tzinfo=None) - local_aware.replace(tzinfo=None)
    shift = due.astimezone(z).utcoffset() - local_aware.utcoffset()
    assert gap == NOTIFY_WITHIN + shift


@settings(max_examples=300, deadline=None)
@given(aware=instants, zone=st.sampled_from(ZONES))
def test_local_input_reads_back_to_the_same_instant_or_is_refused(aware: datetime,
                                                                   zone: str) -> None:
    wall = aware.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
    try:
        got = parse_time(wall.isoformat(), "--aware", zone)
    except InputError as exc:  # an ambiguous wall time (clocks went back) names both offsets
        assert "happens twice" in exc.message
        return
    assert got == aware


@settings(max_examples=200, deadline=None)
@given(aware=instants, offset=st.integers(min_value=-200, max_value=200))
def test_the_state_follows_the_clock(aware: datetime, offset: int) -> None:
    now = aware + timedelta(hours=offset)
    c = clock(aware, now)
    assert c.state == ("overdue" if offset > 72 else "running")
    assert c.left == NOTIFY_WITHIN - timedelta(hours=offset)
    sent = clock(aware, now, notified_at=aware + timedelta(hours=abs(offset)))
    assert sent.state == ("notified_late" if abs(offset) > 72 else "notified")


@pytest.mark.parametrize("text, zone, utc", [
    ("2025-03-29T10:00", "Europe/Berlin", "2025-03-29T09:00:00+00:00"),  # before spring DST
    ("2025-03-30T03:00", "Europe/Berlin", "2025-03-30T01:00:00+00:00"),  # first minute after
    ("2025-11-02T01:30-04:00", None, "2025-11-02T05:30:00+00:00"),  # explicit offset wins
    ("2025-06-01T12:00:00Z", "Asia/Tokyo", "2025-06-01T12:00:00+00:00"),
])
def test_known_instants(text: str, zone: str | None, utc: str) -> None:
    assert parse_time(text, "t", zone) == datetime.fromisoformat(utc)


def test_dst_gap_and_overlap_are_refused() -> None:
    with pytest.raises(InputError, match="does not exist"):
        parse_time("2025-03-09T02:30", "t", "America/New_York")
    with pytest.raises(InputError, match="happens twice"):
        parse_time("2025-11-02T01:30", "t", "America/New_York")
    with pytest.raises(InputError, match="not an IANA time zone"):
        parse_time("2025-11-02T01:30", "t", "Mars/Olympus")
