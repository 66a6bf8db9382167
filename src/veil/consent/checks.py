"""The single consent check: its two statements and the judgement of the row they return.

Public so that every path runs the same SQL and the same rules: the ledger's ``check`` and
``acheck``, and the service's read-only hot path on its own connection.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from veil.consent.models import OK, REASONS, ConsentStatus, State, code_at, from_us
from veil.store.schema import consent_events, consent_notices, consent_state

__all__ = ["check_statements", "status_from_row"]

_STATEMENTS: tuple[sa.Select[Any], sa.Select[Any]] | None = None  # built once, on first use


def check_statements() -> tuple[sa.Select[Any], sa.Select[Any]]:
    """The two queries of a single check: the current state, and the state as of a time
    (bind parameters ``p`` purpose, ``s`` subject, ``at`` time in µs); each also returns the
    latest re-consent notice in effect (``req``)."""
    global _STATEMENTS
    if _STATEMENTS is None:
        s, e, n = consent_state.c, consent_events.c, consent_notices.c
        req = (sa.select(sa.func.max(n.seq))
               .where(n.purpose == sa.bindparam("p"), n.reconsent.is_(True),
                      n.effective_us <= sa.bindparam("at"))
               .scalar_subquery())
        current: sa.Select[Any] = (
            sa.select(s.status, s.time_us, s.event_id, s.expires_us, s.notice_version,
                      s.notice_seq, s.minor, req.label("req"))
            .where(s.purpose == sa.bindparam("p"), s.subject == sa.bindparam("s")))
        as_of: sa.Select[Any] = (
            sa.select(e.kind, e.time_us, e.event_id, e.expires_us, e.notice_version,
                      e.notice_seq, e.minor, req.label("req"))
            .where(e.purpose == sa.bindparam("p"), e.subject == sa.bindparam("s"),
                   e.time_us <= sa.bindparam("at"))
            .order_by(e.time_us.desc(), e.seq.desc()).limit(1))
        _STATEMENTS = (current, as_of)
    return _STATEMENTS


def status_from_row(ref: Callable[[str], str], subject: str, purpose: str, at_us: int,
                    row: Any, extra_req: int | None) -> ConsentStatus:
    """Judge one row of :func:`check_statements` (None: the ledger does not know the key);
    ``extra_req``: a notice the caller requires on top of the re-consent notices."""
    state = _state_of(row)
    req = row.req if row is not None else None
    if extra_req is not None:
        req = max(req or 0, extra_req)
    code = code_at(state, at_us, req)
    if state is None:
        return ConsentStatus(
            subject_ref=ref(subject), purpose=purpose, at=from_us(at_us), valid=code == OK,
            reason=REASONS[code], status=None, since=None, expires=None, notice_version=None,
            minor=None, event_id=None, required_notice=req)
    return ConsentStatus(
        subject_ref=ref(subject), purpose=purpose, at=from_us(at_us), valid=code == OK,
        reason=REASONS[code], status=state.status, since=from_us(state.time_us),
        expires=from_us(state.expires_us) if state.expires_us is not None else None,
        notice_version=state.notice_version, minor=state.minor, event_id=state.event_id,
        required_notice=req)


def _state_of(row: Any) -> State | None:
    """The state a row describes; what only a consent in force carries (expiry, notice, age)
    is dropped from a withdrawn or expired one."""
    if row is None:
        return None
    status = "granted" if row[0] == "renewed" else row[0]
    if status != "granted":
        return State(status, row.time_us, row.event_id, None, None, None, None)
    return State(status, row.time_us, row.event_id, row.expires_us, row.notice_version,
                 row.notice_seq, None if row.minor is None else bool(row.minor))
