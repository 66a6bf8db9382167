"""An online scoring session: the context manager around a scoring loop. Its start and end are
one ``decision_sessions`` row (the AI Act Art. 12(3)(a) period of use) and two audit events.

Each decision is one transaction (`veil.decisions.online.record_one`) holding the row, the
subject's new key and the audit event due with it: by default the decision's own
``decision.record``; with ``audit_every`` seconds, a shared ``decision.session.decisions``
event, once per ``audit_every`` seconds, with the count, the SHA-256 of the ids and the
pseudonyms of the decisions since the last one (the rest are in the event written at the end;
a process crash leaves the decisions since the last shared event without an event, which is
why it is not the default).

The commits do not wait for the disk (``durable=False``, the default): a process crash loses
nothing committed; a power loss or OS crash may lose the last decisions, each with its own
event, until the next durable commit (the session's end, a batch, any audit append, a signed
head) or checkpoint writes them; on SQLite a background checkpoint every ``sync_every``
seconds (1 s) bounds that, off the decisions' path. ``durable=True`` makes every decision
wait for the disk (one fsync each)."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from veil.decisions import trail
from veil.decisions.checkpointer import Checkpointer
from veil.decisions.ids import new_id
from veil.decisions.online import record_event, record_one
from veil.decisions.records import DecisionRecord
from veil.decisions.rows import transaction
from veil.decisions.rules import DecisionRules
from veil.errors import InputError
from veil.store.schema import decision_sessions

if TYPE_CHECKING:  # pragma: no cover
    from veil.audit.event import AuditEvent
    from veil.decisions.ledger import DecisionLedger
    from veil.decisions.registry import RegisteredModel

__all__ = ["ScoringSession"]


class ScoringSession:
    """Decisions of one model in one sitting. ``decide`` records one; ``refused`` counts the
    subjects refused because they are excluded from the purpose (they get an `InputError`).
    Safe to share between threads (the service keeps one per model version)."""

    def __init__(self, ledger: DecisionLedger, model: RegisteredModel, *,
                 by: str | None = None, audit_every: float | None = None,
                 durable: bool = False, sync_every: float | None = 1.0) -> None:
        self.ledger = ledger
        self.model = model
        self.id = new_id()
        self.by = (by or f"model:{model.name}.v{model.version}")[:128]
        self.decided = 0
        self.refused = 0
        self.started_at: datetime | None = None
        self.audit_every = audit_every
        self.durable = durable
        self._sync = None if durable or sync_every is None else Checkpointer(
            ledger.engine, sync_every)
        self._pending: list[DecisionRecord] = []
        self._flush_at = 0.0
        self._lock = threading.RLock()
        self._ended = False

    @property
    def rules(self) -> DecisionRules:
        return self.ledger.rules(self.model.purpose)

    def _event(self, action: str, **kw: Any) -> AuditEvent:
        return trail.event(action, self.by, self.model.purpose, self.rules.legal_basis,
                           **kw)

    def _details(self) -> dict[str, str | int]:
        return {"session": self.id, "model": self.model.name, "version": self.model.version}

    def start(self) -> None:
        trail.screen(actor=self.by)
        self.started_at = datetime.now(UTC)
        with transaction(self.ledger.engine, "opening a scoring session", durable=True) as conn:
            conn.execute(decision_sessions.insert().values(
                id=self.id, model=self.model.name, model_version=self.model.version,
                kind="online", started_at=self.started_at, decisions=0, skipped=0, by=self.by))
            self.ledger.log.append_in(conn, [self._event("decision.session.start",
                                                         details=self._details())])
        if self._sync is not None:
            self._sync.start()

    def decide(self, subject_id: str, features: Mapping[str, Any], score: float, *,
               reasons: Any = None, outcome: str | None = None,
               threshold: float | None = None) -> DecisionRecord:
        """Record one decision (and the audit event due with it) in one transaction."""
        if self.audit_every is None:
            return self._decide(subject_id, features, score, reasons, outcome, threshold,
                                record_event)
        with self._lock:  # the shared event covers the decisions in the order written
            now = time.monotonic()
            due = now >= self._flush_at

            def events(rec: DecisionRecord, rules: DecisionRules) -> list[AuditEvent]:
                return [self._group([*self._pending, rec])] if due else []

            rec = self._decide(subject_id, features, score, reasons, outcome, threshold, events)
            if due:
                self._pending, self._flush_at = [], now + self.audit_every
            else:
                self._pending.append(rec)
            return rec

    def _decide(self, subject_id: str, features: Mapping[str, Any], score: float,
                reasons: Any, outcome: str | None, threshold: float | None,
                events: Any) -> DecisionRecord:
        if self._ended:
            raise InputError("this scoring session has ended", where="session")
        try:
            rec = record_one(self.ledger, self.model.name, subject_id, features, score,
                             outcome=outcome, threshold=threshold, reasons=reasons,
                             decided_by=self.by, at=None, version=self.model.version,
                             session=self.id, durable=self.durable, events=events,
                             engine=self._sync.engine if self._sync is not None else None)
        except InputError as exc:
            if exc.where == "subject":
                with self._lock:
                    self.refused += 1
            raise
        with self._lock:
            self.decided += 1
        return rec

    def _group(self, recs: Sequence[DecisionRecord]) -> AuditEvent:
        return self._event(
            "decision.session.decisions", subjects=sorted({r.subject for r in recs}),
            counts={"decisions": len(recs), "review": sum(r.review is not None for r in recs)},
            digests={"decisions": trail.ids_digest([r.id for r in recs])},
            details={**self._details(), "first": recs[0].id, "last": recs[-1].id})

    def flush(self) -> None:
        """Write the shared audit event of the decisions not yet audited (durably)."""
        with self._lock, transaction(self.ledger.engine, "auditing a scoring session",
                                     durable=True) as conn:
            if self._pending:
                self.ledger.log.append_in(conn, [self._group(self._pending)])
                self._pending = []

    def end(self) -> None:
        """Close the session: the pending shared event, the period of use and the end event
        in one durable transaction (everything the session wrote is on disk after it)."""
        with self._lock:
            if self._ended:
                return
            self._ended = True
            if self._sync is not None:
                self._sync.stop()
            t = decision_sessions.c
            with transaction(self.ledger.engine, "closing a scoring session",
                             durable=True) as conn:
                events = [self._group(self._pending)] if self._pending else []
                events.append(self._event(
                    "decision.session.end", details=self._details(),
                    counts={"decisions": self.decided, "refused": self.refused}))
                conn.execute(sa.update(decision_sessions).where(t.id == self.id).values(
                    ended_at=datetime.now(UTC), decisions=self.decided, skipped=self.refused))
                self.ledger.log.append_in(conn, events)
                self._pending = []
