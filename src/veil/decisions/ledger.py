"""The decision ledger (Art. 22 GDPR; EU AI Act Art. 12, 26(6), Annex III 5(b)): every decision
a registered model makes about a person, recorded append-only.

A record holds the model and version (`veil.decisions.registry.ModelRegistry`), the purpose
(which must declare ``automated_decisions`` in the policy), the subject's keyed pseudonym, the
score, threshold, outcome, reason codes, time, who or what decided, the period the log is kept
(the purpose's ``log_retention``) and the batch or session it belongs to (the period of use).
The input features are sealed under the subject's own key (`veil.decisions.sealing`), so an
erasure shreds them while the record, which holds no personal data, stays. Decision rows are
never updated or deleted: contests, reviews and observed outcomes are rows of their own, and a
reviewer's final decision is a new decision row linked to the automated one (``final_of``).

Subjects with an active exclusion from the purpose (objection under Art. 21, restriction, erasure)
are refused: an online decision with an `InputError`, a batch by leaving them out and counting
them (`RecordedBatch.skipped`). Scoring runs should leave them out before scoring.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import hmac
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from veil.decisions import ledger_store as store
from veil.decisions import trail
from veil.decisions.ids import new_id, subject8
from veil.decisions.online import record_event, record_one
from veil.decisions.records import DecisionRecord, HistoryEntry, QueueItem, iso
from veil.decisions.rules import DecisionRules
from veil.decisions.sealing import open_inputs, open_text
from veil.errors import InputError, NotFoundError
from veil.store.schema import decision_events, decision_sessions, decisions
from veil.store.transactions import read_connection, write_transaction

if TYPE_CHECKING:  # pragma: no cover
    from veil.audit.log import AuditLog
    from veil.decisions.actuals import RecordedActuals
    from veil.decisions.registry import RegisteredModel
    from veil.decisions.session import ScoringSession
    from veil.keys.keystore import StoreSubjectKeys
    from veil.store.workspace import Workspace

__all__ = ["MODEL_TTL", "DecisionLedger", "RecordedBatch", "new_id"]

#: Seconds a "latest version" model lookup is reused before the registry is asked again.
MODEL_TTL = 5.0


class RecordedBatch(builtins.list[str]):
    """The ids of a batch's recorded decisions (in input order), with ``skipped``: how many
    subjects were left out per reason (objected, restricted, erased), ``skipped_rows`` their
    row numbers, ``session`` the batch's id and ``review`` how many went to human review."""

    def __init__(self, ids: Sequence[str], *, skipped: Mapping[str, int],
                 skipped_rows: Sequence[int], session: str, review: int) -> None:
        super().__init__(ids)
        self.skipped = dict(skipped)
        self.skipped_rows = list(skipped_rows)
        self.session = session
        self.review = review

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())


class DecisionLedger:
    """The decisions of one workspace under one policy. Cheap to create; keys, the registry
    and the audit log open on first use."""

    def __init__(self, workspace: Workspace, policy: Any) -> None:
        self.workspace = workspace.ready()
        self.policy = policy
        self._rules: dict[str, DecisionRules] = {}
        self._keys: StoreSubjectKeys | None = None
        self._ref_key: bytes | None = None
        self._log: AuditLog | None = None
        self._registry: Any = None
        self._models: dict[tuple[str, int | None], tuple[RegisteredModel, float]] = {}
        self._shared: dict[tuple[str, int], ScoringSession] = {}
        self._shared_lock = threading.Lock()

    # infrastructure -------------------------------------------------------------------------

    @property
    def engine(self) -> sa.Engine:
        return self.workspace.engine

    @property
    def keys(self) -> StoreSubjectKeys:
        if self._keys is None:
            from veil.keys.manager import KeyManager

            self._keys = KeyManager(self.workspace).subject_keys()
        return self._keys

    def token(self, subject_id: str) -> str:
        """The subject's keyed pseudonym (`veil.consent.models.SubjectRef` token)."""
        return self.tokens([subject_id])[0]

    def tokens(self, subject_ids: Sequence[Any]) -> list[str]:
        if self._ref_key is None:
            from veil.consent.models import SubjectRef

            self._ref_key = SubjectRef(self.workspace.root).key()
        base = hmac.new(self._ref_key, digestmod=hashlib.sha256)
        out = []
        for i, s in enumerate(subject_ids):
            if s is None or (isinstance(s, str) and not s.strip()):
                raise InputError("a subject id is missing", where=f"subjects[{i}]")
            h = base.copy()
            h.update(str(s).encode("utf-8", "surrogatepass"))
            out.append(h.hexdigest())
        return out

    def model(self, name: str, version: int | None = None) -> RegisteredModel:
        """The registered model (latest version unless given); `InputError` if unknown. A
        version is immutable, so it is kept; "the latest" is looked up again after
        `MODEL_TTL` seconds (a newly registered version is used from then on)."""
        key = (name, version)
        hit = self._models.get(key)
        if hit is not None and (version is not None or time.monotonic() < hit[1]):
            return hit[0]
        if self._registry is None:
            from veil.decisions.registry import ModelRegistry

            self._registry = ModelRegistry(self.workspace, self.policy)
        m: RegisteredModel = self._registry.get(name, version)
        self._models[key] = (m, time.monotonic() + MODEL_TTL)
        return m

    def rules(self, purpose: str) -> DecisionRules:
        r = self._rules.get(purpose)
        if r is None:
            r = self._rules[purpose] = DecisionRules.of(self.policy, purpose)
        return r

    @property
    def log(self) -> AuditLog:
        if self._log is None:
            from veil.audit.log import AuditLog

            self._log = AuditLog(self.workspace)
        return self._log

    def audit(self, events: Sequence[Any]) -> None:
        if events:
            self.log.append(events)

    # recording ------------------------------------------------------------------------------

    def record(self, model: str, subject_id: str, features: Mapping[str, Any], score: float,
               *, outcome: str | None = None, threshold: float | None = None,
               reasons: Any = None, decided_by: str | None = None, at: datetime | None = None,
               version: int | None = None, session: str | None = None) -> DecisionRecord:
        """Record one decision (online use) with its own audit event, in one durable
        transaction (it returns once the disk has both); `InputError` for an unknown model or
        purpose, undeclared features or an excluded subject (nothing is recorded). A scoring
        loop is faster in a `scoring` session."""
        return record_one(self, model, subject_id, features, score, outcome=outcome,
                          threshold=threshold, reasons=reasons, decided_by=decided_by, at=at,
                          version=version, session=session, durable=True, events=record_event)

    def record_batch(self, model: str, subject_ids: Sequence[Any], features: Any,
                     scores: Any, *, reasons: Sequence[Any] | None = None,
                     outcomes: Sequence[str | None] | None = None,
                     threshold: float | None = None, decided_by: str | None = None,
                     at: datetime | None = None, version: int | None = None) -> RecordedBatch:
        """Record a batch in one transaction and one audit event; returns the ids of the
        recorded decisions. Excluded subjects are left out and counted (``.skipped``)."""
        from veil.decisions.batch import record_batch

        return record_batch(self, model, subject_ids, features, scores, reasons=reasons,
                            outcomes=outcomes, threshold=threshold, decided_by=decided_by,
                            at=at, version=version)

    @contextlib.contextmanager
    def scoring(self, model: str, *, version: int | None = None, by: str | None = None,
                audit_every: float | None = None, durable: bool = False,
                sync_every: float | None = 1.0) -> Iterator[ScoringSession]:
        """An online scoring session: ``with ledger.scoring("credit-pd") as s:
        s.decide(subject_id, features, score)``. Its start and end are recorded (the period of
        use). Each decision is one transaction with its own audit event, or with ``audit_every``
        seconds one shared event per interval (and at the end) naming the ids' digest and
        subjects (a crash leaves the decisions since the last one without an event). Commits
        do not wait for the disk unless ``durable``; a background checkpoint every
        ``sync_every`` seconds writes them (`veil.decisions.session`)."""
        from veil.decisions.session import ScoringSession

        s = ScoringSession(self, self.model(model, version), by=by, audit_every=audit_every,
                           durable=durable, sync_every=sync_every)
        s.start()
        try:
            yield s
        finally:
            s.end()

    def shared_session(self, model: str, version: int | None = None) -> ScoringSession:
        """A long-lived scoring session of a model version (the latest unless given), shared by
        every caller of this ledger: the service records each request's decision in it, so a
        decision is one transaction with no per-request setup. Each decision gets its own
        audit event. `close` ends these sessions (their period of use)."""
        from veil.decisions.session import ScoringSession

        m = self.model(model, version)
        with self._shared_lock:
            s = self._shared.get((m.name, m.version))
            if s is None:
                s = ScoringSession(self, m, audit_every=None)
                s.start()
                self._shared[(m.name, m.version)] = s
            return s

    def close(self) -> None:
        """End the shared sessions (`shared_session`)."""
        with self._shared_lock:
            sessions, self._shared = list(self._shared.values()), {}
        for s in sessions:
            s.end()

    # reading --------------------------------------------------------------------------------

    def get(self, decision_id: str, *, actor: str | None = None) -> DecisionRecord:
        """One decision; `NotFoundError` if there is none with that id."""
        with read_connection(self.engine, "reading a decision") as conn:
            rows = store.load(conn, [decisions.c.id == str(decision_id)[:32]])
            if not rows:
                raise NotFoundError(f"no decision '{str(decision_id)[:40]}'", where="decision")
            rec = store.to_records(conn, rows)[0]
        if actor:
            self._viewed("decision.show", actor, [rec])
        return rec

    def list(self, purpose: str | None = None, model: str | None = None,
             status: str | None = None, since: datetime | None = None,
             until: datetime | None = None, subject_id: str | None = None, *,
             limit: int | None = None, actor: str | None = None) -> builtins.list[DecisionRecord]:
        """Decisions in time order, filtered; ``limit`` caps how many rows are read."""
        c = decisions.c
        where = [w for w in (
            c.purpose == purpose if purpose else None, c.model == model if model else None,
            c.decided_at >= since if since else None, c.decided_at < until if until else None)
            if w is not None]
        if subject_id:
            token = self.token(subject_id)
            where += [c.subject8 == subject8(token), c.subject == token]
        with read_connection(self.engine, "listing decisions") as conn:
            recs = store.to_records(conn, store.load(conn, where, limit=limit))
        if status:
            recs = [r for r in recs if r.status == status]
        if actor:
            self._viewed("decision.list", actor, recs)
        return recs

    def for_subject(self, subject_id: str) -> builtins.list[DecisionRecord]:
        """Every decision about a person (the access package uses it)."""
        return self.list(subject_id=subject_id)

    def history(self, decision_id: str) -> builtins.list[HistoryEntry]:
        """The contests, reviews and observed outcomes of a decision, texts opened (None once
        the subject is erased)."""
        rec = self.get(decision_id)
        with read_connection(self.engine, "reading a decision's history") as conn:
            rows = store.entries(conn, rec.id)
        return [store.entry(r, open_text(self.keys, rec.subject, rec.id, r.text)) for r in rows]

    def inputs(self, decision_id: str, *, actor: str | None = None) -> dict[str, Any] | None:
        """The decision's input features, decrypted (None once the subject is erased). Each
        reading is an audit event."""
        rec = self.get(decision_id)
        with read_connection(self.engine, "reading a decision's inputs") as conn:
            sealed = conn.execute(sa.select(decisions.c.inputs).where(
                decisions.c.id == rec.id)).scalar()
        out = open_inputs(self.keys, rec.subject, rec.id, sealed)
        self.audit([trail.event(
            "decision.inputs", actor or "unknown", rec.purpose, "Art. 5(2) accountability",
            subjects=[rec.subject], details={"decision": rec.id, "available": out is not None})])
        return out

    def sessions(self, model: str | None = None) -> builtins.list[dict[str, Any]]:
        """The batches and online sessions (the periods of use), oldest first."""
        t = decision_sessions.c
        q = sa.select(decision_sessions).order_by(t.started_at)
        if model:
            q = q.where(t.model == model)
        with read_connection(self.engine, "listing decision sessions") as conn:
            rows = [dict(r._mapping) for r in conn.execute(q)]
        for r in rows:
            r["started_at"], r["ended_at"] = iso(r["started_at"]), iso(r["ended_at"])
        return rows

    def _viewed(self, action: str, actor: str, recs: Sequence[DecisionRecord]) -> None:
        purposes = sorted({r.purpose for r in recs})
        self.audit([trail.event(
            action, actor, ",".join(purposes)[:200] or "decisions", "Art. 5(2) accountability",
            subjects=sorted({r.subject for r in recs})[:1000], counts={"decisions": len(recs)},
            digests={"decisions": trail.ids_digest([r.id for r in recs])})])

    # review and contest ---------------------------------------------------------------------

    def contest(self, decision_id: str, statement: str, *, by: str) -> DecisionRecord:
        """The subject contests a decision and states their view (Art. 22(3)): it enters the
        review queue, due by the policy's ``contest_due``."""
        from veil.decisions.review import contest

        return contest(self, decision_id, statement, by=by)

    def review(self, decision_id: str, *, reviewer: str, outcome: str,
               rationale: str) -> DecisionRecord:
        """A named reviewer decides: the final decision, a new row linked to the automated
        one (``final_of``), is returned."""
        from veil.decisions.review import review

        return review(self, decision_id, reviewer=reviewer, outcome=outcome,
                      rationale=rationale)

    def review_queue(self, now: datetime | None = None, *, actor: str | None = None,
                     limit: int | None = None) -> builtins.list[QueueItem]:
        """Decisions waiting for a human, soonest due first (the first ``limit``: None, all);
        read from the queue's indexes, so its cost follows the queue, not the ledger."""
        return self.review_queue_counted(now, actor=actor, limit=limit)[0]

    def review_queue_counted(self, now: datetime | None = None, *, actor: str | None = None,
                             limit: int | None = None
                             ) -> tuple[builtins.list[QueueItem], int, int]:
        """`review_queue` with how many decisions wait and how many are overdue (all of
        them, whatever ``limit``); with ``actor`` the reading is an audit event."""
        from veil.decisions.review import queue

        items, waiting, overdue = queue(self, now, limit)
        if actor:
            self.audit([trail.event("decision.queue", actor, "decisions",
                                    "Art. 22(3) human intervention",
                                    counts={"waiting": waiting, "overdue": overdue})])
        return items, waiting, overdue

    def record_actual(self, decision_id: str, actual: bool | int, *, by: str = "unknown"
                      ) -> None:
        """The observed outcome (e.g. repaid or defaulted), for error rates in fairness; the
        row and its audit event in one durable transaction."""
        from veil.decisions.actuals import parse_actual

        rec = self.get(decision_id)
        value = parse_actual(actual, "actual")
        trail.screen(actor=by)
        log = self.log  # opened before the transaction: its first use writes
        with write_transaction(self.engine, "recording an observed outcome",
                               durable=True) as conn:
            conn.execute(decision_events.insert().values(
                decision_id=rec.id, kind="actual", at=datetime.now(UTC), by=by[:128],
                outcome=str(value)))
            log.append_in(conn, [trail.event(
                "decision.actual", by, rec.purpose, "Art. 5(2) accountability",
                subjects=[rec.subject], details={"decision": rec.id})])

    def record_actuals(self, decision_ids: Sequence[Any], actuals: Sequence[Any], *,
                       by: str = "unknown", source: str = "actuals") -> RecordedActuals:
        """The observed outcomes of many decisions (``actuals[i]`` of ``decision_ids[i]``, each
        0 or 1) in one transaction and one audit event with counts only; a bad row or an
        unknown id is one `InputError` naming the row (``source`` row N), nothing written."""
        from veil.decisions.actuals import record_actuals

        return record_actuals(self, decision_ids, actuals, by=by, source=source)
