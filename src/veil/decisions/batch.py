"""Recording a batch of decisions: checked as a whole first (model, purpose, features, scores,
reasons, exclusions), then the inputs sealed under each subject's key, then every row and the
batch's session written in one transaction, then one audit event for the batch (its counts and
the digest of its decision ids). A failure before the commit records nothing."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from veil.decisions import ledger_store as store
from veil.decisions import trail
from veil.decisions.inputs import as_reasons, as_rows, as_scores, excluded
from veil.decisions.rules import default_outcome
from veil.decisions.sealing import seal_inputs
from veil.errors import InputError
from veil.store.schema import decision_sessions, decisions
from veil.store.transactions import read_connection, write_transaction

if TYPE_CHECKING:  # pragma: no cover
    from veil.decisions.ledger import DecisionLedger, RecordedBatch

__all__ = ["insert_rows", "record_batch"]

_COLUMNS = [c.name for c in decisions.columns]


def time_binder(dialect: sa.Dialect) -> Any:
    """The driver value of a time as SQLAlchemy's DateTime column writes it on ``dialect`` (a
    batch converts its few distinct times once, not per row)."""
    proc = decisions.c.decided_at.type.bind_processor(dialect)
    return (lambda v: v) if proc is None else (lambda v: None if v is None else proc(v))


def insert_rows(conn: sa.Connection, rows: list[tuple[Any, ...]]) -> None:
    """Decision rows (tuples in the table's column order, times through `time_binder`) by one
    driver-level executemany: SQLAlchemy's per-row parameter processing would cost more than
    the inserts themselves."""
    if not rows:
        return
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = (f"INSERT INTO decisions ({', '.join(_COLUMNS)}) "
           f"VALUES ({', '.join([mark] * len(_COLUMNS))})")
    conn.exec_driver_sql(sql, rows)


def record_batch(ledger: DecisionLedger, model: str, subject_ids: Sequence[Any], features: Any,
                 scores: Any, *, reasons: Sequence[Any] | None, outcomes: Any,
                 threshold: float | None, decided_by: str | None, at: datetime | None,
                 version: int | None) -> RecordedBatch:
    from veil.decisions.ledger import RecordedBatch, new_id

    m = ledger.model(model, version)
    rules = ledger.rules(m.purpose)
    names, rows = as_rows(features)
    rules.check_features(names)
    n = len(rows)
    if len(subject_ids) != n:
        raise InputError(f"{len(subject_ids)} subjects for {n} feature rows", where="subjects")
    sc = as_scores(scores, n)
    rs = as_reasons(reasons, n)
    if outcomes is not None and len(outcomes) != n:
        raise InputError(f"{len(outcomes)} outcomes for {n} decisions", where="outcomes")
    by = (decided_by or f"model:{m.name}.v{m.version}")[:128]
    trail.screen(actor=by)
    tokens = ledger.tokens(subject_ids)
    with read_connection(ledger.engine, "checking the subjects' exclusions") as conn:
        out_of = excluded(conn, m.purpose, tokens)
    keep = [i for i in range(n) if tokens[i] not in out_of]
    skipped = Counter(out_of[tokens[i]] for i in range(n) if tokens[i] in out_of)
    t = float(m.threshold if threshold is None else threshold)
    when = (at or datetime.now(UTC)).astimezone(UTC)
    session, retain = new_id(), rules.retain_until(when)
    ids = [new_id() for _ in keep]
    sealed = seal_inputs(ledger.keys, [tokens[i] for i in keep], ids, [rows[i] for i in keep])
    bind = time_binder(ledger.engine.dialect)
    due, at_b, retain_b = bind(rules.due("due", when)), bind(when), bind(retain)
    out = []
    review = 0
    for j, i in enumerate(keep):
        s = sc[i]
        o = (outcomes[i] if outcomes is not None else None) or default_outcome(s, t)
        why = rules.route(o, s, t)
        review += why is not None
        out.append((ids[j], m.name, m.version, m.purpose, tokens[i], s, t, str(o)[:64],
                    store.reasons_json(rs[i]), at_b, by, None, why,
                    due if why is not None else None, session, retain_b, sealed[j]))
    with write_transaction(ledger.engine, "recording a batch of decisions") as conn:
        conn.execute(decision_sessions.insert().values(
            id=session, model=m.name, model_version=m.version, kind="batch", started_at=when,
            ended_at=datetime.now(UTC), decisions=len(out), skipped=sum(skipped.values()),
            by=by))
        insert_rows(conn, out)
    counts = {"decisions": len(out), "review": review,
              **{f"skipped_{k}": v for k, v in sorted(skipped.items())}}
    ledger.audit([trail.batch_event(by, m.purpose, rules.legal_basis, ids, counts=counts,
                                    details={"model": m.name, "version": m.version,
                                             "session": session})])
    return RecordedBatch(ids, skipped=skipped, session=session, review=review,
                         skipped_rows=[i for i in range(n) if tokens[i] in out_of])
