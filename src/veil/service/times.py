"""Times as the service writes and reads them: the ledger's ISO 8601 form (UTC, microseconds)."""

from __future__ import annotations

from datetime import datetime


def format_us(us: int | None) -> str | None:
    """A time in microseconds since the epoch as the ledger writes it (None stays None)."""
    from veil.consent.models import format_us as ledger_format

    return ledger_format(us)


def format_datetime(t: datetime | None) -> str | None:
    """A datetime as the ledger writes times (None stays None)."""
    from veil.consent.models import format_us as ledger_format
    from veil.consent.models import to_us

    return ledger_format(to_us(t)) if t is not None else None


def parse_iso(text: str) -> datetime:
    """An ISO 8601 time with a zone (``Z`` allowed); ValueError without one."""
    raw = text.strip()
    dt = datetime.fromisoformat(raw[:-1] + "+00:00" if raw[-1:] in "zZ" and raw else raw)
    if dt.tzinfo is None:
        raise ValueError("no time zone")
    return dt


__all__ = ["format_datetime", "format_us", "parse_iso"]
