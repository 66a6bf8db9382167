"""An online scoring session: the context manager around a scoring loop. Its start and end are
one ``decision_sessions`` row (the AI Act Art. 12(3)(a) period of use) and two audit events.
Each decision is stored at once (its own transaction); its audit event is either its own
(``audit_every=None``) or shared: one ``decision.session.decisions`` event per ``audit_every``
seconds and at the end, with the decisions' count, the SHA-256 of their ids and their subjects'
pseudonyms. Shared events save the audit log's durable commit per decision (the online latency
goal); the cost: a crash loses the audit event (never the decision rows) of at most the last
``audit_every`` seconds."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from veil.decisions import trail
from veil.decisions.records import DecisionRecord
from veil.errors import InputError
from veil.store.schema import decision_sessions
from veil.store.transactions import write_transaction

if TYPE_CHECKING:  # pragma: no cover
    from veil.decisions.ledger import DecisionLedger
    from veil.decisions.registry import RegisteredModel

__all__ = ["ScoringSession"]


class ScoringSession:
    """Decisions of one model in one sitting. ``decide`` records one; ``refused`` counts the
    subjects refused because they are excluded from the purpose (they get an `InputError`)."""

    def __init__(self, ledger: DecisionLedger, model: RegisteredModel, *,
                 by: str | None = None, audit_every: float | None = 1.0) -> None:
        from veil.decisions.ledger import new_id

        self.ledger = ledger
        self.model = model
        self.id = new_id()
        self.by = (by or f"model:{model.name}.v{model.version}")[:128]
        self.decided = 0
        self.refused = 0
        self.started_at: datetime | None = None
        self.audit_every = audit_every
        self._pending: list[DecisionRecord] = []
        self._flush_at = 0.0

    def start(self) -> None:
        rules = self.ledger.rules(self.model.purpose)
        trail.screen(actor=self.by)
        self.started_at = datetime.now(UTC)
        with write_transaction(self.ledger.engine, "opening a scoring session") as conn:
            conn.execute(decision_sessions.insert().values(
                id=self.id, model=self.model.name, model_version=self.model.version,
                kind="online", started_at=self.started_at, decisions=0, skipped=0, by=self.by))
        self.ledger.audit([trail.event(
            "decision.session.start", self.by, self.model.purpose, rules.legal_basis,
            details={"session": self.id, "model": self.model.name,
                     "version": self.model.version})])

    def decide(self, subject_id: str, features: Mapping[str, Any], score: float, *,
               reasons: Any = None, outcome: str | None = None,
               threshold: float | None = None) -> DecisionRecord:
        kw = {"outcome": outcome, "threshold": threshold, "reasons": reasons,
              "decided_by": self.by, "version": self.model.version, "session": self.id}
        try:
            if self.audit_every is None:
                rec = self.ledger.record(self.model.name, subject_id, features, score, **kw)
            else:
                rec, _ = self.ledger._record_one(self.model.name, subject_id, features, score,
                                                 at=None, **kw)
        except InputError as exc:
            if exc.where == "subject":
                self.refused += 1
            raise
        self.decided += 1
        if self.audit_every is not None:
            self._pending.append(rec)
            now = time.monotonic()
            if now >= self._flush_at:
                self.flush()
                self._flush_at = now + self.audit_every
        return rec

    def flush(self) -> None:
        """Write the shared audit event of the decisions not yet audited."""
        recs, self._pending = self._pending, []
        if not recs:
            return
        rules = self.ledger.rules(self.model.purpose)
        self.ledger.audit([trail.event(
            "decision.session.decisions", self.by, self.model.purpose, rules.legal_basis,
            subjects=sorted({r.subject for r in recs}),
            counts={"decisions": len(recs), "review": sum(r.review is not None for r in recs)},
            digests={"decisions": trail.ids_digest([r.id for r in recs])},
            details={"session": self.id, "model": self.model.name,
                     "version": self.model.version, "first": recs[0].id, "last": recs[-1].id})])

    def end(self) -> None:
        self.flush()
        t = decision_sessions.c
        with write_transaction(self.ledger.engine, "closing a scoring session") as conn:
            conn.execute(sa.update(decision_sessions).where(t.id == self.id).values(
                ended_at=datetime.now(UTC), decisions=self.decided, skipped=self.refused))
        rules = self.ledger.rules(self.model.purpose)
        self.ledger.audit([trail.event(
            "decision.session.end", self.by, self.model.purpose, rules.legal_basis,
            counts={"decisions": self.decided, "refused": self.refused},
            details={"session": self.id, "model": self.model.name,
                     "version": self.model.version})])
