"""Observed outcomes of many decisions at once (repaid or defaulted, months after the decision),
so the fairness report can give error rates and equalized odds (`veil.decisions.fairness`).

Checked as a whole before anything is written: each outcome is 0 or 1, no decision twice, every
decision id known; a bad row is one `InputError` naming its row (unknown ids: the first rows,
and how many), and nothing is written. Then one transaction writes an ``actual`` row of
``decision_events`` per decision (append-only: a later outcome of the same decision supersedes
an earlier one when read) and one audit event with the counts and the SHA-256 of the ids: no
subject, no outcome per person.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from veil.decisions import trail
from veil.decisions.rows import time_binder, transaction
from veil.errors import InputError
from veil.store.transactions import read_connection

if TYPE_CHECKING:  # pragma: no cover
    from veil.decisions.ledger import DecisionLedger

__all__ = ["RecordedActuals", "parse_actual", "record_actuals"]

_ID = re.compile(r"^[0-9a-f]{32}$")
_CHUNK = 2000  # ids per IN (...) lookup: under SQLite's and PostgreSQL's parameter limits
_SHOWN = 5  # unknown rows named in the error
_WORDS = {"0": 0, "1": 1, "false": 0, "true": 1}


@dataclass(frozen=True)
class RecordedActuals:
    """How many outcomes were recorded, how many were 1 (the favourable outcome deserved),
    and how many replaced an outcome recorded before."""

    recorded: int
    positive: int
    replaced: int

    def to_dict(self) -> dict[str, int]:
        return {"recorded": self.recorded, "positive": self.positive,
                "replaced": self.replaced}


def parse_actual(value: Any, where: str) -> int:
    """0 or 1 from an int, a bool, a whole float, the words true, false or a number written
    as text (a file column mixing ``true`` and ``0.0`` is read as text). The error repeats a
    number, never text: a misplaced column may hold anything about a person."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int) and value in (0, 1):
        return value
    if isinstance(value, float) and math.isfinite(value) and value in (0.0, 1.0):
        return int(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _WORDS:
            return _WORDS[word]
        with contextlib.suppress(ValueError):
            if float(word) in (0.0, 1.0):
                return int(float(word))
    shown = ("nothing" if value is None else "text" if isinstance(value, str)
             else repr(value)[:20] if isinstance(value, (int, float)) else type(value).__name__)
    raise InputError(f"an observed outcome is 0 or 1, got {shown}", where=where)


def _checked(ids: Sequence[Any], actuals: Sequence[Any], source: str) -> list[tuple[str, int]]:
    if len(ids) != len(actuals):
        raise InputError(f"{len(ids)} decision ids for {len(actuals)} outcomes", where=source)
    if not ids:
        raise InputError("no observed outcome to record", where=source)
    seen: dict[str, int] = {}
    out = []
    for i, (d, a) in enumerate(zip(ids, actuals, strict=True)):
        where = f"{source} row {i + 1}"
        did = d.strip().lower() if isinstance(d, str) else ""
        if not _ID.match(did):  # not repeated: the column may hold anything about a person
            raise InputError("column decision id: 32 hexadecimal digits expected, got "
                             f"{'nothing' if d is None else 'another value'}", where=where)
        if did in seen:
            raise InputError(f"decision {did} is already in row {seen[did]}", where=where)
        seen[did] = i + 1
        out.append((did, parse_actual(a, f"{where}, actual")))
    return out


def _in(conn: sa.Connection, sql: str, ids: list[str]) -> list[Any]:
    """``sql`` (with ``{}`` where the id list goes) for each chunk of ``ids``, at the driver
    level: SQLAlchemy renders and processes each expanded parameter, most of the cost of a
    large batch (measured)."""
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    out: list[Any] = []
    with contextlib.closing(conn.connection.cursor()) as cur:
        for lo in range(0, len(ids), _CHUNK):
            part = ids[lo:lo + _CHUNK]
            cur.execute(sql.format(", ".join([mark] * len(part))), part)
            out.extend(cur.fetchall())
    return out


def _known(conn: sa.Connection, ids: list[str]) -> dict[str, str]:
    """id -> purpose of the decisions that exist among ``ids``."""
    return {str(i): str(p) for i, p in _in(
        conn, "SELECT id, purpose FROM decisions WHERE id IN ({})", ids)}


def _recorded_before(conn: sa.Connection, ids: list[str]) -> int:
    return len({r[0] for r in _in(conn, "SELECT decision_id FROM decision_events WHERE "
                                        "kind = 'actual' AND decision_id IN ({})", ids)})


def _insert(conn: sa.Connection, rows: list[tuple[str, int]], now: datetime, by: str) -> None:
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    at = time_binder(conn.dialect)(now)
    with contextlib.closing(conn.connection.cursor()) as cur:
        cur.executemany(
            'INSERT INTO decision_events (decision_id, kind, "at", "by", outcome) VALUES '
            f"({mark}, 'actual', {mark}, {mark}, {mark})",
            [(d, at, by, str(a)) for d, a in rows])


def record_actuals(ledger: DecisionLedger, decision_ids: Sequence[Any], actuals: Sequence[Any],
                   *, by: str = "unknown", source: str = "actuals") -> RecordedActuals:
    """Record the observed outcome of each decision (``actuals[i]`` of ``decision_ids[i]``) in
    one transaction with one audit event; ``source`` names the input in errors (a file)."""
    rows = _checked(decision_ids, actuals, source)
    actor = trail.actor(by, ledger.token)  # a person's name: pseudonymised in the event
    ids = [d for d, _ in rows]
    with read_connection(ledger.engine, "checking the decisions of observed outcomes") as conn:
        purposes = _known(conn, ids)
    unknown = [i for i, d in enumerate(ids) if d not in purposes]
    if unknown:
        named = ", ".join(f"row {i + 1} ({ids[i][:12]}...)" for i in unknown[:_SHOWN])
        more = f" and {len(unknown) - _SHOWN:,} more" if len(unknown) > _SHOWN else ""
        raise InputError(f"{len(unknown):,} decision id(s) unknown: {named}{more}; nothing "
                         "was recorded", where=f"{source} row {unknown[0] + 1}")
    now, who = datetime.now(UTC), by[:128]
    positive = sum(a for _, a in rows)
    log = ledger.log  # opened before the transaction: its first use writes
    with transaction(ledger.engine, "recording observed outcomes", durable=True) as conn:
        replaced = _recorded_before(conn, ids)
        _insert(conn, rows, now, who)
        counts = {"actuals": len(rows), "positive": positive, "replaced": replaced}
        legal = "Art. 5(1)(d) accuracy; Art. 10(2)(f) AI Act bias examination"
        log.append_in(conn, [trail.event(
            "decision.actuals", actor, ",".join(sorted(set(purposes.values())))[:200],
            legal, counts=counts, digests={"decisions": trail.ids_digest(ids)})])
    return RecordedActuals(len(rows), positive, replaced)
