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
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from veil.decisions import ledger_store as store
from veil.decisions import trail
from veil.decisions.ids import new_id, subject8
from veil.decisions.records import DecisionRecord, QueueItem
from veil.decisions.sealing import seal_text
from veil.errors import ConflictError, InputError
from veil.store.schema import decision_events, decisions, rights_exclusions
from veil.store.transactions import read_connection, write_transaction

if TYPE_CHECKING:  # pragma: no cover
    from veil.decisions.ledger import DecisionLedger

__all__ = ["contest", "queue", "review", "waiting"]

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


def _open(conn: sa.Connection, decision_id: str, kind: str) -> bool:
    """Whether a ``kind`` event of the decision is recorded, read inside the write transaction
    once the decision's row is locked (SQLite: ``BEGIN IMMEDIATE``; elsewhere ``FOR UPDATE``),
    so a concurrent contest or review committed first is seen."""
    conn.execute(sa.select(decisions.c.id).where(decisions.c.id == decision_id)
                 .with_for_update())
    return conn.execute(sa.select(decision_events.c.id).where(
        decision_events.c.decision_id == decision_id,
        decision_events.c.kind == kind)).first() is not None


def _after_write() -> None:
    """Called inside the write transaction once the refusals are re-checked (a test hook
    that holds one writer there to show a concurrent one is refused)."""


def _named(text: str | None, what: str, ledger: DecisionLedger) -> dict[str, str]:
    """The name given in a request (``by``, ``reviewer``) as an event's detail when the
    event's actor is the calling key: screened (a person's name becomes its pseudonym)."""
    return {} if text is None else {what: trail.actor(text, ledger.token)}


def contest(ledger: DecisionLedger, decision_id: str, statement: str, *,
            by: str, actor: str | None = None) -> DecisionRecord:
    """``actor``: the caller the event names (an API key) when it is not ``by`` itself."""
    rec = ledger.get(decision_id)
    _automated(rec)
    if rec.status == "contested":
        raise ConflictError(f"decision {rec.id} is already contested and waiting for review",
                            where="decision")
    text = _text(statement, "statement")
    if not isinstance(by, str) or not by.strip():
        raise InputError("a contest names who makes it (the subject, or the DPO for them)",
                         where="by")
    who = trail.actor(by.strip(), ledger.token) if actor is None else actor
    named = {} if actor is None else _named(by.strip(), "by", ledger)
    rules = ledger.rules(rec.purpose)
    now = datetime.now(UTC)
    due = rules.contest_due.after(now)
    sealed = seal_text(ledger.keys, rec.subject, rec.id, text)
    with write_transaction(ledger.engine, "recording a contest") as conn:
        if _open(conn, rec.id, "review"):
            raise ConflictError(f"decision {rec.id} was reviewed meanwhile", where="decision")
        if _open(conn, rec.id, "contest"):
            raise ConflictError(f"decision {rec.id} was contested meanwhile and waits for "
                                "review", where="decision")
        _after_write()
        conn.execute(decision_events.insert().values(
            decision_id=rec.id, kind="contest", at=now, by=by.strip()[:128], due=due,
            text=sealed))
    ledger.audit([trail.event(
        "decision.contest", who, rec.purpose, "Art. 22(3) right to contest",
        subjects=[rec.subject], details={"decision": rec.id, "due": due.date().isoformat(),
                                         **named})])
    return ledger.get(rec.id)


def outcomes(rec: DecisionRecord) -> list[str]:
    """The outcomes a reviewer may give: the model's positive and negative ones (``approve``,
    ``refuse``) and the automated decision's own (a model's named outcome)."""
    return sorted({"approve", "refuse", rec.outcome})


def _outcome(value: str, rec: DecisionRecord) -> str:
    out = _text(value, "outcome")
    known = outcomes(rec)
    if out not in known:
        raise InputError(f"a review's outcome is one of {', '.join(known)} (the rationale "
                         "says why)", where="outcome")
    return out


def review(ledger: DecisionLedger, decision_id: str, *, reviewer: str, outcome: str,
           rationale: str, actor: str | None = None) -> DecisionRecord:
    """``actor``: the caller the event names (an API key), the reviewer's name then a detail.
    Everything is checked and screened before the write transaction: a refusal writes
    nothing."""
    rec = ledger.get(decision_id)
    _automated(rec)
    if rec.status not in ("review", "contested"):
        raise ConflictError(f"decision {rec.id} is not waiting for review (the policy did not "
                            "route it and it was not contested)", where="decision")
    if not isinstance(reviewer, str) or not reviewer.strip():
        raise InputError("a review needs the reviewer's name", where="reviewer")
    out = _outcome(outcome, rec)
    text = _text(rationale, "rationale")
    who = f"reviewer:{reviewer.strip()}"[:128]
    named = {} if actor is None else _named(reviewer.strip(), "reviewer", ledger)
    actor = trail.actor(who, ledger.token) if actor is None else actor
    trail.screen(actor=actor, outcome=out)
    rules = ledger.rules(rec.purpose)
    now = datetime.now(UTC)
    final_id = new_id()
    sealed = seal_text(ledger.keys, rec.subject, rec.id, text)
    with write_transaction(ledger.engine, "recording a review") as conn:
        if _open(conn, rec.id, "review"):
            raise ConflictError(f"decision {rec.id} was reviewed meanwhile", where="decision")
        _after_write()
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
                                         "outcome": out, "changed": out != rec.outcome,
                                         **named})])
    return ledger.get(final_id)


def _not(kind: str, d: Any, *, dated: bool = False) -> Any:
    """No ``kind`` event (a review; a contest with a due date) follows decision ``d``."""
    e = decision_events.c
    q = sa.select(sa.literal(1)).where(e.kind == kind, e.decision_id == d.id)
    return ~sa.exists(q.where(e.due.is_not(None)) if dated else q)


def _not_erased(d: Any) -> Any:
    """The decision's subject has no active erasure: an erased subject's decisions leave the
    queue (their key is shredded, a review could record no rationale). One probe of the
    exclusions' primary key (subject first) per waiting row, no scan."""
    x = rights_exclusions.c
    return ~sa.exists(sa.select(sa.literal(1)).where(
        x.subject == d.subject, x.reason == "erased", x.lifted_at.is_(None)))


def _branches() -> tuple[Any, Any]:
    """(id, due, contest) of the decisions waiting for a person, in two selects over the
    indexes of migration 0017: the routed automated decisions (a partial index by due date,
    covering) and the contested ones (events by kind). A contest with a due date sets the
    due date; a decision with neither a review nor a due date waits for no one, nor one of
    an erased subject."""
    events = decision_events.alias("c")
    d, c = decisions.c, events.c
    routed = sa.select(d.id, d.review_due.label("due"), sa.literal(0).label("contest")).where(
        d.review.is_not(None), d.final_of.is_(None), d.review_due.is_not(None),
        _not("review", d), _not("contest", d, dated=True), _not_erased(d))
    contested = (sa.select(d.id, sa.func.max(c.due).label("due"),
                           sa.literal(1).label("contest"))
                 .select_from(events.join(decisions, d.id == c.decision_id))
                 .where(c.kind == "contest", c.due.is_not(None), d.final_of.is_(None),
                        _not("review", d), _not_erased(d))
                 .group_by(d.id))
    return routed, contested


def _soonest(branch: Any, limit: int) -> Any:
    s = branch.order_by(sa.literal_column("due"), sa.literal_column("id")).limit(limit)
    return sa.select(s.subquery().c)  # SQLite takes no LIMIT in a compound's member


def waiting(conn: sa.Connection, now: datetime, limit: int | None = None
            ) -> tuple[list[QueueItem], int, int]:
    """The soonest ``limit`` (None: all) decisions waiting for a person, how many wait and how
    many are overdue: counted over the indexes alone; with a limit, each branch is cut to its
    soonest (the routed ones come in due order from their index) before the rows are read."""
    now = now.astimezone(UTC)
    routed, contested = _branches()
    w = sa.union_all(routed, contested).subquery("waiting")
    total, late = conn.execute(sa.select(
        sa.func.count(), sa.func.coalesce(sa.func.sum(sa.case((w.c.due < now, 1), else_=0)), 0)
    ).select_from(w)).one()
    if limit is not None:
        w = sa.union_all(_soonest(routed, limit), _soonest(contested, limit)).subquery("w")
    top = sa.select(w).order_by(w.c.due, w.c.id)
    t = (top if limit is None else top.limit(limit)).subquery("top")
    d = decisions.c
    why = sa.case((t.c.contest == 1, sa.literal("contest")), else_=d.review)
    rows = conn.execute(
        sa.select(t.c.id, t.c.due, why.label("why"), d.model, d.model_version, d.purpose,
                  d.outcome, d.score, d.threshold, d.decided_at)
        .join(decisions, d.id == t.c.id).order_by(t.c.due, t.c.id)).all()
    items = []
    for r in rows:
        due = store.utc(r.due) or now
        items.append(QueueItem(decision_id=r.id, why=str(r.why), due=due, overdue=due < now,
                               model=f"{r.model}.v{r.model_version}", purpose=r.purpose,
                               outcome=r.outcome, score=r.score, threshold=r.threshold,
                               since=store.utc(r.decided_at) or now))
    return items, int(total or 0), int(late or 0)


def queue(ledger: DecisionLedger, now: datetime | None = None, limit: int | None = None
          ) -> tuple[list[QueueItem], int, int]:
    """Every automated decision routed to review or contested, not yet reviewed, soonest due
    first (the first ``limit``), with how many wait and how many are overdue."""
    with read_connection(ledger.engine, "reading the review queue") as conn:
        return waiting(conn, now or datetime.now(UTC), limit)
