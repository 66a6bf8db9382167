"""One calendar-correct duration for the whole project: consent validity, retention, legal holds,
request deadlines, key epochs, API key lifetimes.

A month is a calendar month and a year twelve of them (dateutil's ``relativedelta``): twelve
months from 2025-01-01 is 2026-01-01, one month from 31 January is the last day of February, a
year from 29 February 2024 is 28 February 2025. Weeks and days are exact. A duration is written
as people write it ('5 years', '18 months', '2 weeks', '30 days', '5y', '1 year 6 months') or in
ISO 8601 ('P5Y', 'P1Y6M', 'P2W', 'P30D'); times of day are not durations here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from dateutil.relativedelta import relativedelta

__all__ = ["MAX_YEARS", "Duration"]

#: The longest duration accepted: a retention or validity beyond this is a typing mistake, and
#: dates past year 9999 cannot be represented.
MAX_YEARS = 1000

_UNITS = {"y": "years", "year": "years", "m": "months", "mo": "months", "month": "months",
          "w": "weeks", "week": "weeks", "d": "days", "day": "days"}
_PART = re.compile(r"(\d+)\s*(years?|months?|mo|weeks?|days?|y|m|w|d)(?![a-z])", re.I)
_ISO = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?$")
_FORMS = "'5 years', '18 months', '2 weeks', '30 days', '1 year 6 months' or ISO 8601 'P1Y6M'"


@dataclass(frozen=True, slots=True)
class Duration:
    """A period in calendar units; ``after(t)`` is the calendar-correct end."""

    years: int = 0
    months: int = 0
    weeks: int = 0
    days: int = 0

    @classmethod
    def parse(cls, text: str, *, what: str = "duration") -> Duration:
        """'5 years', '18 months', '1 year 6 months', '30d' or ISO 8601 'P1Y6M'; raises
        ``ValueError`` naming ``what`` and the accepted forms otherwise."""
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"{what} is empty: write it like {_FORMS}")
        s = text.strip()
        m = _ISO.match(s.upper())
        if m and any(m.groups()):
            if any(g and len(g) > 9 for g in m.groups()):
                raise ValueError(f"{what} '{text[:40]}' is longer than {MAX_YEARS} years")
            y, mo, w, d = (int(g) if g else 0 for g in m.groups())
            return cls._checked(text, what, years=y, months=mo, weeks=w, days=d)
        parts: dict[str, int] = {}
        pos = 0
        rest = s.lower().replace(",", " ").replace(" and ", " ")
        for p in _PART.finditer(rest):
            if rest[pos:p.start()].strip():
                break
            u = p.group(2).lower()
            unit = _UNITS[u if u == "mo" else u.rstrip("s")]
            if unit in parts:
                break
            if len(p.group(1)) > 9:
                raise ValueError(f"{what} '{text[:40]}' is longer than {MAX_YEARS} years")
            parts[unit] = int(p.group(1))
            pos = p.end()
        else:
            if parts and not rest[pos:].strip():
                return cls._checked(text, what, **parts)
        raise ValueError(f"{what} '{text[:40]}' is not a duration: write it like {_FORMS}")

    @classmethod
    def _checked(cls, text: str, what: str, **parts: int) -> Duration:
        d = cls(**parts)
        if max(parts.values()) > 10 ** 7 or d.approx_days() > round(MAX_YEARS * 365.25):
            raise ValueError(f"{what} '{text[:40]}' is longer than {MAX_YEARS} years")
        return d

    def _delta(self) -> relativedelta:
        return relativedelta(years=self.years, months=self.months, weeks=self.weeks,
                             days=self.days)

    def after(self, t: datetime) -> datetime:
        """``t`` plus this duration, calendar-correct (month ends clamp: 31 Jan + 1 month is
        28/29 Feb). Raises ``ValueError`` when the result would pass year 9999."""
        try:
            return t + self._delta()
        except (OverflowError, ValueError):
            raise ValueError(f"{t.date()} plus {self} is past year 9999") from None

    def before(self, t: datetime) -> datetime:
        """``t`` minus this duration, calendar-correct."""
        try:
            return t - self._delta()
        except (OverflowError, ValueError):
            raise ValueError(f"{t.date()} minus {self} is before year 1") from None

    def approx_days(self) -> int:
        """Days, counting a year as 365.25 and a month as 30.44 (for sorting and display only;
        never for deadlines)."""
        return round(self.years * 365.25 + self.months * 30.44) + 7 * self.weeks + self.days

    def covers(self, other: Duration) -> bool:
        """True when this duration is at least ``other`` from every start date: compared in
        calendar months and in days separately, or by the shortest against the longest length."""
        mine = (12 * self.years + self.months, 7 * self.weeks + self.days)
        theirs = (12 * other.years + other.months, 7 * other.weeks + other.days)
        if mine[0] >= theirs[0] and mine[1] >= theirs[1]:
            return True
        return min(self._lengths()) >= max(other._lengths())

    def _lengths(self) -> list[int]:
        """Its length in days from every start that matters: each month's 1st and 28th-31st
        over a four-year leap cycle."""
        out = []
        for year in (2023, 2024, 2025, 2026):
            for month in range(1, 13):
                for day in (1, 28, 29, 30, 31):
                    try:
                        start = datetime(year, month, day)
                    except ValueError:
                        continue
                    out.append((self.after(start) - start).days)
        return out

    def iso(self) -> str:
        """ISO 8601 form, e.g. 'P1Y6M' ('P0D' for zero)."""
        s = "".join(f"{n}{u}" for n, u in ((self.years, "Y"), (self.months, "M"),
                                            (self.weeks, "W"), (self.days, "D")) if n)
        return "P" + (s or "0D")

    def __str__(self) -> str:
        parts = [f"{n} {u}{'' if n == 1 else 's'}"
                 for n, u in ((self.years, "year"), (self.months, "month"),
                              (self.weeks, "week"), (self.days, "day")) if n]
        return " ".join(parts) or "0 days"

    def __bool__(self) -> bool:
        return any((self.years, self.months, self.weeks, self.days))
