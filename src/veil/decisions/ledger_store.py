"""The ledger's reads: rows of ``decisions`` and ``decision_events`` to records, with each
decision's status worked out from the rows that follow it (the decision row itself is never
updated: append-only)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from veil.decisions.explain import Reason
from veil.decisions.records import DecisionRecord, HistoryEntry
from veil.store.schema import decision_events, decisions, subject_keys

__all__ = ["History", "erased_subjects", "history", "load", "to_records"]

_CHUNK = 500


def utc(t: datetime | None) -> datetime | None:
    if t is None:
        return None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def reasons_json(reasons: Iterable[Reason]) -> str:
    """Stored reason codes: feature and contribution only (a value is an input, kept sealed)."""
    return json.dumps([[r.feature, float(r.contribution)] for r in reasons],
                      separators=(",", ":"))


def reasons_of(text: str) -> list[Reason]:
    if not text or text == "[]":  # most decisions: no JSON parsed
        return []
    return [Reason(str(f), float(c)) for f, c in json.loads(text or "[]")]


class History:
    """What followed a set of decisions: contests, reviews (with the final rows), actuals."""

    def __init__(self) -> None:
        self.contested: dict[str, datetime | None] = {}  # id -> contest due
        self.final: dict[str, str] = {}  # automated id -> the reviewer's final id
        self.actual: dict[str, int] = {}


def history(conn: sa.Connection, ids: Sequence[str]) -> History:
    h = History()
    e = decision_events.c
    for lo in range(0, len(ids), _CHUNK):
        part = list(ids[lo:lo + _CHUNK])
        rows = conn.execute(sa.select(e.decision_id, e.kind, e.due, e.outcome, e.final_id)
                            .where(e.decision_id.in_(part)).order_by(e.id)).all()
        for r in rows:
            if r.kind == "contest":
                h.contested[r.decision_id] = utc(r.due)
            elif r.kind == "review" and r.final_id:
                h.final[r.decision_id] = r.final_id
            elif r.kind == "actual" and r.outcome is not None:
                h.actual[r.decision_id] = int(r.outcome)
    return h


def erased_subjects(conn: sa.Connection, subjects: Iterable[str]) -> set[str]:
    """The subjects whose key is destroyed (their sealed inputs are gone)."""
    k = subject_keys.c
    subs = sorted(set(subjects))
    out: set[str] = set()
    for lo in range(0, len(subs), _CHUNK):
        part = subs[lo:lo + _CHUNK]
        out.update(conn.execute(sa.select(k.subject).where(
            k.subject.in_(part), k.erased_at.is_not(None))).scalars())
    return out


def status_of(row: Any, h: History) -> str:
    if row.final_of is not None:
        return "final"
    if row.id in h.final:
        return "reviewed"
    if row.id in h.contested:
        return "contested"
    return "review" if row.review else "final"


def to_records(conn: sa.Connection, rows: Sequence[Any]) -> list[DecisionRecord]:
    h = history(conn, [r.id for r in rows])
    erased = erased_subjects(conn, (r.subject for r in rows))
    return [DecisionRecord(
        id=r.id, model=r.model, model_version=r.model_version, purpose=r.purpose,
        subject=r.subject, score=r.score, threshold=r.threshold, outcome=r.outcome,
        reasons=reasons_of(r.reasons), decided_at=utc(r.decided_at) or datetime.now(UTC),
        decided_by=r.decided_by, status=status_of(r, h), final_of=r.final_of,
        inputs_available=r.inputs is not None and r.subject not in erased,
        review=r.review, review_due=utc(r.review_due), session=r.session,
        retain_until=utc(r.retain_until), final_id=h.final.get(r.id),
        actual=h.actual.get(r.id)) for r in rows]


def load(conn: sa.Connection, where: Sequence[Any], *, limit: int | None = None) -> list[Any]:
    q = sa.select(decisions).where(*where).order_by(decisions.c.decided_at, decisions.c.id)
    if limit is not None:
        q = q.limit(limit)
    return list(conn.execute(q).all())


def entries(conn: sa.Connection, decision_id: str) -> list[Any]:
    """The decision_events rows of one decision, in order (texts still sealed)."""
    e = decision_events.c
    return list(conn.execute(sa.select(decision_events).where(e.decision_id == decision_id)
                             .order_by(e.id)).all())


def entry(row: Any, text: str | None) -> HistoryEntry:
    return HistoryEntry(decision_id=row.decision_id, kind=row.kind, at=utc(row.at) or row.at,
                        by=row.by, due=utc(row.due), outcome=row.outcome,
                        final_id=row.final_id, text=text,
                        text_erased=row.text is not None and text is None)
