"""The Art. 33(1) clock: 72 hours from awareness, kept in UTC, shown in the DPO's time zone.

Deadlines are absolute instants (awareness + 72 elapsed hours), so a daylight-saving change in
the DPO's zone moves the *wall-clock* deadline by an hour, never the deadline itself. Input times
must say which instant they mean: an offset or ``Z``, or a local time together with an IANA zone
(a local time that falls in a DST gap or overlap is refused: it names no instant, or two).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from veil.errors import InputError

NOTIFY_WITHIN = timedelta(hours=72)
"""Art. 33(1): notify the supervisory authority within 72 hours of becoming aware."""


def zone(name: str | None, what: str = "--tz") -> ZoneInfo:
    """The IANA zone ``name`` (UTC when None); InputError naming ``what`` if unknown."""
    if name is None or name.upper() == "UTC":
        return ZoneInfo("UTC")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(f"'{name}' is not an IANA time zone name (e.g. Europe/Berlin)",
                         where=what) from None


def parse_time(value: datetime | str, what: str, tz: str | None = None) -> datetime:
    """An instant from ISO 8601 text or a datetime, returned aware in UTC.

    Text or datetimes without an offset are read in ``tz`` when one is given (refused when the
    local time is skipped or repeated by a DST change there), and refused otherwise.
    """
    if isinstance(value, str):
        raw = value.strip()
        candidate = raw[:-1] + "+00:00" if raw[-1:] in ("z", "Z") else raw
        try:
            dt = datetime.fromisoformat(candidate)
        except ValueError:
            raise InputError(f"'{raw[:40]}' is not an ISO 8601 time like 2026-03-01T09:30:00Z",
                             where=what) from None
    elif isinstance(value, datetime):
        dt = value
    else:
        raise InputError(f"expected a time, got {type(value).__name__}", where=what)
    if dt.tzinfo is not None and dt.utcoffset() is not None:
        return dt.astimezone(UTC)
    if tz is None:
        raise InputError(f"'{dt.isoformat()}' has no UTC offset: add one (…Z or …+02:00) or "
                         "give the time zone it is in (--tz)", where=what)
    z = zone(tz)
    early, late = dt.replace(tzinfo=z, fold=0), dt.replace(tzinfo=z, fold=1)
    back = early.astimezone(UTC).astimezone(z).replace(tzinfo=None)
    if back != dt:
        raise InputError(f"{dt.isoformat()} does not exist in {tz} (clocks go forward)",
                         where=what)
    if early.utcoffset() != late.utcoffset():
        raise InputError(f"{dt.isoformat()} happens twice in {tz} (clocks go back): add the "
                         f"offset, {early.isoformat()} or {late.isoformat()}", where=what)
    return early.astimezone(UTC)


def deadline(aware_at: datetime) -> datetime:
    """When the authority must have been notified: awareness + 72 elapsed hours, in UTC."""
    return aware_at.astimezone(UTC) + NOTIFY_WITHIN


def format_duration(delta: timedelta) -> str:
    """'2 d 03 h 15 min' (absolute value; the caller says whether it is left or overdue)."""
    minutes = int(abs(delta).total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours:02d} h {mins:02d} min"
    return f"{hours} h {mins:02d} min"


def local(t: datetime, tz: str | None) -> str:
    """``t`` as wall-clock time in ``tz`` with its offset and zone name (UTC when None)."""
    lt = t.astimezone(zone(tz))
    name = tz or "UTC"
    return f"{lt.strftime('%Y-%m-%d %H:%M')} {lt.strftime('%z')[:3]}:{lt.strftime('%z')[3:]} " \
        f"({name})"


@dataclass(frozen=True)
class Clock:
    """Where a breach stands against its 72-hour deadline at ``now``.

    ``state`` is one of: ``running`` (not notified, time left), ``overdue`` (not notified, past
    the deadline), ``notified`` (on time), ``notified_late``, ``not_required`` (assessed as
    unlikely to result in a risk: documented, not notified).
    """

    aware_at: datetime
    deadline: datetime
    now: datetime
    state: str
    notified_at: datetime | None = None

    @property
    def left(self) -> timedelta:
        """Time left to the deadline (negative when past it)."""
        return self.deadline - self.now

    def text(self, tz: str | None = None) -> str:
        """One line for people: the deadline in ``tz`` and the time left or overdue by."""
        when = local(self.deadline, tz)
        if self.state == "running":
            return f"deadline {when}: {format_duration(self.left)} left"
        if self.state == "overdue":
            return f"deadline {when}: OVERDUE by {format_duration(self.left)}"
        if self.state == "not_required":
            return f"deadline {when}: notification not required (assessed)"
        assert self.notified_at is not None
        diff = self.notified_at - self.deadline
        if self.state == "notified_late":
            return f"deadline {when}: notified {format_duration(diff)} late"
        return f"deadline {when}: notified {format_duration(diff)} before it"

    def to_json(self, tz: str | None = None) -> dict[str, object]:
        return {
            "aware_at": iso(self.aware_at),
            "deadline": iso(self.deadline),
            "deadline_local": local(self.deadline, tz),
            "timezone": tz or "UTC",
            "state": self.state,
            "seconds_left": int(self.left.total_seconds()),
            "notified_at": iso(self.notified_at) if self.notified_at else None,
            "text": self.text(tz),
        }


def clock(aware_at: datetime, now: datetime, *, notified_at: datetime | None = None,
          required: bool = True) -> Clock:
    """The clock of a breach: first authority notification ``notified_at``, and whether an
    assessment found notification ``required`` (unassessed breaches count as required)."""
    due = deadline(aware_at)
    if notified_at is not None:
        state = "notified_late" if notified_at > due else "notified"
    elif not required:
        state = "not_required"
    else:
        state = "overdue" if now > due else "running"
    return Clock(aware_at.astimezone(UTC), due, now.astimezone(UTC), state, notified_at)


def iso(t: datetime) -> str:
    """RFC 3339 UTC with ``Z`` (seconds precision unless there are microseconds)."""
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def as_utc(t: datetime) -> datetime:
    """A datetime read back from the store, aware in UTC (SQLite returns naive UTC)."""
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
