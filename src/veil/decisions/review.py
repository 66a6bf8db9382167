"""Human intervention (Art. 22(3) GDPR, AI Act Art. 14): contests, reviews and the queue.

A decision enters the queue when the policy routes it to review (a refusal, a score within
``near_threshold`` of the threshold: due ``review.due`` after the decision) or when the subject
contests it (due ``contest_due`` after the contest). A named reviewer records an outcome and a
rationale; the final decision is a new decision row linked to the automated one (``final_of``),
and the review is a ``decision_events`` row pointing at it. The subject's statement and the
reviewer's rationale are sealed under the subject's key (erasure shreds them too).

Refused with one clear error, nothing recorded: a contest of a decision that does not exist,
of a reviewer's final decision, of one already reviewed or already contested; a review of a
decision that is not waiting for one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa

from veil.decisions import ledger_store as store
from veil.decisions import trail
from veil.decisions.ids import new_id, subject8
from veil.decisions.records import DecisionRecord, QueueItem
from veil.decisions.sealing import seal_text
from veil.errors import ConflictError, InputError
from veil.store.schema import decision_events, decisions
from veil.store.transactions import read_connection, write_transaction

if TYPE_CHECKING:  # pragma: no cover
    from veil.decisions.ledger import DecisionLedger

__all__ = ["contest", "queue", "review"]

MAX_TEXT = 10_000


def _text(value: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"the {what} is empty", where=what)
    if len(value) > MAX_TEXT:
        raise InputError(f"the {what} is longer than {MAX_TEXT} characters", where=what)
    return value.strip()


def _automated(rec: DecisionRecord) -> None:
    if rec.final_of is not None:
        raise ConflictError(f"decision {rec.id} is a reviewer's final decision (of "
                            f"{rec.final_of}): it cannot be contested or reviewed again",
                            where="decision")
    if rec.status == "reviewed":
        raise ConflictError(f"decision {rec.id} is already final and reviewed (final "
                            f"decision {rec.final_id})", where="decision")


def contest(ledger: DecisionLedger, decision_id: str, statement: str, *,
            by: str) -> DecisionRecord:
    rec = ledger.get(decision_id)
    _automated(rec)
    if rec.status == "contested":
        raise ConflictError(f"decision {rec.id} is already contested and waiting for review",
                            where="decision")
    text = _text(statement, "statement")
    if not isinstance(by, str) or not by.strip():
        raise InputError("a contest names who makes it (the subject, or the DPO for them)",
                         where="by")
    actor = trail.actor(by.strip(), ledger.token)
    rules = ledger.rules(rec.purpose)
    now = datetime.now(UTC)
    due = rules.contest_due.after(now)
    sealed = seal_text(ledger.keys, rec.subject, rec.id, text)
    with write_transaction(ledger.engine, "recording a contest") as conn:
        conn.execute(decision_events.insert().values(
            decision_id=rec.id, kind="contest", at=now, by=by.strip()[:128], due=due,
            text=sealed))
    ledger.audit([trail.event(
        "decision.contest", actor, rec.purpose, "Art. 22(3) right to contest",
        subjects=[rec.subject], details={"decision": rec.id, "due": due.date().isoformat()})])
    return ledger.get(rec.id)


def review(ledger: DecisionLedger, decision_id: str, *, reviewer: str, outcome: str,
           rationale: str) -> DecisionRecord:

    rec = ledger.get(decision_id)
    _automated(rec)
    if rec.status not in ("review", "contested"):
        raise ConflictError(f"decision {rec.id} is not waiting for review (the policy did not "
                            "route it and it was not contested)", where="decision")
    if not isinstance(reviewer, str) or not reviewer.strip():
        raise InputError("a review needs the reviewer's name", where="reviewer")
    out = _text(outcome, "outcome")[:64]
    text = _text(rationale, "rationale")
    who = f"reviewer:{reviewer.strip()}"[:128]
    actor = trail.actor(who, ledger.token)
    rules = ledger.rules(rec.purpose)
    now = datetime.now(UTC)
    final_id = new_id()
    sealed = seal_text(ledger.keys, rec.subject, rec.id, text)
    with write_transaction(ledger.engine, "recording a review") as conn:
        if conn.execute(sa.select(decision_events.c.id).where(
                decision_events.c.decision_id == rec.id,
                decision_events.c.kind == "review")).first() is not None:
            raise ConflictError(f"decision {rec.id} was reviewed meanwhile", where="decision")
        conn.execute(decisions.insert().values(
            id=final_id, model=rec.model, model_version=rec.model_version,
            purpose=rec.purpose, subject=rec.subject, score=rec.score,
            threshold=rec.threshold, outcome=out, reasons=store.reasons_json(rec.reasons),
            decided_at=now, decided_by=who, final_of=rec.id, review=None, review_due=None,
            session=None, retain_until=rules.retain_until(now), inputs=None,
            subject8=subject8(rec.subject)))
        conn.execute(decision_events.insert().values(
            decision_id=rec.id, kind="review", at=now, by=who, outcome=out,
            final_id=final_id, text=sealed))
    ledger.audit([trail.event(
        "decision.review", actor, rec.purpose, "Art. 22(3) human intervention",
        subjects=[rec.subject], details={"decision": rec.id, "final": final_id,
                                         "outcome": out, "changed": out != rec.outcome})])
    return ledger.get(final_id)


def queue(ledger: DecisionLedger, now: datetime | None = None) -> list[QueueItem]:
    """Every automated decision routed to review or contested, not yet reviewed."""
    now = now or datetime.now(UTC)
    d, e = decisions.c, decision_events.c
    reviewed = sa.select(e.decision_id).where(e.kind == "review")
    contested = sa.select(e.decision_id).where(e.kind == "contest")
    with read_connection(ledger.engine, "reading the review queue") as conn:
        rows = store.load(conn, [d.final_of.is_(None), d.id.not_in(reviewed),
                                 sa.or_(d.review.is_not(None), d.id.in_(contested))])
        h = store.history(conn, [r.id for r in rows])
    items = []
    for r in rows:
        contest_due = h.contested.get(r.id)
        if r.id in h.contested and contest_due is not None:
            why, due = "contest", contest_due
        else:
            why, due = r.review, store.utc(r.review_due)
        if due is None:
            continue
        items.append(QueueItem(decision_id=r.id, why=why, due=due, overdue=due < now,
                               model=f"{r.model}.v{r.model_version}", purpose=r.purpose,
                               outcome=r.outcome, score=r.score, threshold=r.threshold,
                               since=store.utc(r.decided_at) or now))
    return sorted(items, key=lambda i: (i.due, i.decision_id))
