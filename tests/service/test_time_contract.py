"""Times at the service's edge: what the document says is what the server takes (RFC 3339 with
an offset, years 1900 to 2999, real dates), refusals say the rule without the value, and a
time the ledger holds formats with a four-digit year (year 1: 0001-01-01T00:00:00Z)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.service.conftest import GRANT, SUBJECT

ACCEPTED = ["2026-03-01T09:30:00Z", "2024-02-29T23:59:59.123456+14:00"[:-6] + "+13:59",
            "2000-02-29T00:00:00-23:59", "1900-01-01T00:00:00Z", "2999-12-31T23:59:59Z"]
REFUSED = ["0001-01-01T00:00:00Z", "2023-02-29T00:00:00Z", "1900-02-29T00:00:00Z",
           "2026-04-31T00:00:00Z", "2026-03-01T24:00:00Z", "2026-03-01T09:30:00",
           "2026-03-01 09:30:00Z", "2026-03-01T09:30Z", "2026-03-01T09:30:60Z",
           "2026-03-01T09:30:00.1234567Z", "3000-01-01T00:00:00Z", "../../etc/passwd"]


@pytest.mark.parametrize("text", ACCEPTED)
def test_the_pattern_takes_real_times(text: str) -> None:
    from veil.service.models import TIME_PATTERN
    from veil.service.times import parse_iso

    assert re.match(TIME_PATTERN, text)
    parse_iso(text).astimezone(UTC)  # representable in UTC


@pytest.mark.parametrize("text", REFUSED)
def test_the_pattern_refuses_the_rest(text: str) -> None:
    from veil.service.models import TIME_PATTERN

    assert not re.match(TIME_PATTERN, text)


@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2999, 12, 31, 23, 59)),
       st.integers(-23 * 60 - 59, 23 * 60 + 59), st.booleans())
@settings(max_examples=300, deadline=None)
def test_every_real_time_matches_and_parses(dt: datetime, offset_min: int, frac: bool) -> None:
    """Property: every date-time of the range, any offset, matches the pattern and converts to
    UTC without leaving the range a time is stored in."""
    from veil.consent.models import format_us, to_us
    from veil.service.models import TIME_PATTERN
    from veil.service.times import parse_iso

    sign = "+" if offset_min >= 0 else "-"
    h, m = divmod(abs(offset_min), 60)
    text = dt.strftime("%Y-%m-%dT%H:%M:%S") + (f".{dt.microsecond:06d}" if frac else "") + \
        f"{sign}{h:02d}:{m:02d}"
    text = f"{dt.year:04d}" + text[text.index("-"):]
    assert re.match(TIME_PATTERN, text), text
    assert re.match(TIME_PATTERN, format_us(to_us(parse_iso(text))) or "")


def test_year_one_formats_with_four_digits() -> None:
    from veil.consent.models import format_us, to_us

    assert format_us(to_us(datetime(1, 1, 1, tzinfo=UTC))) == "0001-01-01T00:00:00Z"
    assert format_us(to_us(datetime(9999, 12, 31, 23, 59, 59, 5, tzinfo=UTC))) == \
        "9999-12-31T23:59:59.000005Z"


def test_the_service_refuses_a_year_one_at_naming_the_rule(svc) -> None:
    h = svc.h("service")
    r = svc.client.post("/v1/consent/check", headers=h,
                        json={"subject": SUBJECT, "purpose": "offers",
                              "at": "0001-01-01T00:00:00Z"})
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["where"] == "body.at" and "years 1900 to 2999" in err["message"]
    assert "0001" not in r.text
    past = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    svc.client.post("/v1/consent/grant", headers=h, json={"subject": SUBJECT, **GRANT})
    r = svc.client.post("/v1/consent/check", headers=h,
                        json={"subject": SUBJECT, "purpose": "offers", "at": past})
    assert r.status_code == 200 and re.match(r"^\d{4}-", r.json()["at"])
