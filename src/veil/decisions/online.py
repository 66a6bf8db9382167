"""One online decision in one transaction (`veil.decisions.rows.transaction`): the subject's
exclusions checked, their key made if they have none, the inputs sealed under it, the row
and the audit events the caller asks for, committed together. Before, these were up to four
transactions (the exclusion check, the new key, the row, the durable audit append); one is
the least an append-only ledger with an audit event per decision can do."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from veil.decisions import trail
from veil.decisions.explain import coerce_reasons
from veil.decisions.inputs import as_scores, excluded
from veil.decisions.records import DecisionRecord
from veil.decisions.rows import insert_row, record_of, row_of, transaction
from veil.decisions.rules import DecisionRules
from veil.decisions.sealing import encode, seal_inputs_in
from veil.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    import sqlalchemy as sa

    from veil.audit.event import AuditEvent
    from veil.decisions.ledger import DecisionLedger

__all__ = ["Events", "record_event", "record_one"]

#: The audit events written with a decision, given its record and its purpose's rules.
Events = Callable[[DecisionRecord, DecisionRules], Sequence["AuditEvent"]]


def record_event(rec: DecisionRecord, rules: DecisionRules) -> list[AuditEvent]:
    """A decision's own event: ``decision.record`` naming it and its subject's pseudonym."""
    return [trail.event(
        "decision.record", rec.decided_by, rec.purpose, rules.legal_basis,
        subjects=[rec.subject], counts={"decisions": 1, "review": int(rec.review is not None)},
        details={"decision": rec.id, "model": rec.model, "version": rec.model_version,
                 "outcome": rec.outcome, "session": rec.session})]


def record_one(ledger: DecisionLedger, model: str, subject_id: str,
               features: Mapping[str, Any], score: float, *, outcome: str | None,
               threshold: float | None, reasons: Any, decided_by: str | None,
               at: datetime | None, version: int | None, session: str | None,
               durable: bool, events: Events, engine: sa.Engine | None = None,
               ) -> DecisionRecord:
    """Record one decision with ``events`` in one transaction (on ``engine``, default the
    workspace's); `InputError` for an unknown model or purpose, undeclared features or an
    excluded subject (nothing is recorded)."""
    m = ledger.model(model, version)
    rules = ledger.rules(m.purpose)
    rules.check_features(features)
    (score,) = as_scores([score], 1)
    token = ledger.token(subject_id)
    by = decided_by or f"model:{m.name}.v{m.version}"
    trail.screen(actor=by)
    row = row_of(m, rules, token, score, threshold, outcome,
                 coerce_reasons(reasons) if reasons is not None else [], by, at, session)
    keys, log = ledger.keys, ledger.log  # opened before the transaction: first use writes
    with transaction(engine or ledger.engine, "recording a decision", durable=durable) as conn:
        why = excluded(conn, m.purpose, [token]).get(token)
        if why is not None:
            raise InputError(f"subject #{token[:10]} is excluded from '{m.purpose}' ({why}): "
                             "no decision may be recorded", where="subject")
        row["inputs"] = seal_inputs_in(conn, keys, [token], [encode(row["id"], features)])[0]
        insert_row(conn, row)
        rec = record_of(row)
        log.append_in(conn, events(rec, rules))
    return rec
