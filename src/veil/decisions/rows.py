"""Writing decision rows: the transaction a decision or a batch is recorded in, a row built
from a model's rules, and rows inserted by one driver-level executemany.

A decision, its sealed inputs, its subject's new key and its audit event are written in one
transaction (`transaction`): all of them or none. ``durable`` chooses when the commit returns:
after the disk has it (SQLite ``synchronous=FULL``, one fsync) or at once (SQLite
``synchronous=NORMAL``, PostgreSQL ``synchronous_commit`` off): a process crash loses nothing
committed; a power loss may drop the last commits, each decision with its event, until a
later durable commit or checkpoint writes them (the commits reach the disk in order).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from veil.decisions import ledger_store as store
from veil.decisions.copy_text import copy_text
from veil.decisions.explain import Reason
from veil.decisions.ids import new_id, subject8
from veil.decisions.records import DecisionRecord
from veil.decisions.rules import DecisionRules, default_outcome
from veil.store.schema import decisions
from veil.store.transactions import write_transaction

if TYPE_CHECKING:  # pragma: no cover
    from veil.decisions.registry import RegisteredModel

__all__ = ["COLUMNS", "insert_rows", "record_of", "row_of", "time_binder", "transaction"]

COLUMNS = [c.name for c in decisions.columns]
_COPY_ROWS = 10_000  # rows per piece of COPY data (its text is built a piece at a time)
_ROWS = 400  # rows per INSERT: 7,200 parameters, under SQLite's 32,766 and PostgreSQL's 65,535


@contextlib.contextmanager
def transaction(engine: sa.Engine, doing: str, *, durable: bool) -> Iterator[sa.Connection]:
    """A write transaction whose commit waits for the disk only when ``durable``."""
    with write_transaction(engine, doing, durable=durable) as conn:
        if not conn.in_transaction():  # begun here, so the plain DBAPI statements inside
            conn.begin()  # are committed with it (PostgreSQL begins on the first statement)
        if not durable and conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
        yield conn


@functools.lru_cache(maxsize=16)
def time_binder(dialect: sa.Dialect) -> Any:
    """The driver value of a time as SQLAlchemy's DateTime column writes it on ``dialect`` (a
    batch converts its few distinct times once, not per row)."""
    proc = decisions.c.decided_at.type.dialect_impl(dialect).bind_processor(dialect)
    return (lambda v: v) if proc is None else (lambda v: None if v is None else proc(v))


def insert_rows(conn: sa.Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Decision rows (tuples in `COLUMNS` order, times through `time_binder`) at the driver
    level: SQLAlchemy's per-row parameter processing would cost more than the inserts. On
    PostgreSQL a batch goes by ``COPY`` (its text built column by column,
    `veil.decisions.copy_text`); elsewhere by multi-row ``INSERT ... VALUES (...),
    (...)`` statements of `_ROWS` rows (measured on SQLite: about a seventh less CPU per row
    than an executemany)."""
    if not rows:
        return
    with contextlib.closing(conn.connection.cursor()) as cur:
        if len(rows) > 1 and conn.dialect.name == "postgresql":
            with cur.copy(f"COPY decisions ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                for lo in range(0, len(rows), _COPY_ROWS):
                    copy.write(copy_text(rows[lo : lo + _COPY_ROWS]))
            return
        full = _insert_sql(conn.dialect.paramstyle, _ROWS)
        for lo in range(0, len(rows), _ROWS):
            part = rows[lo : lo + _ROWS]
            sql = full if len(part) == _ROWS else _insert_sql(conn.dialect.paramstyle, len(part))
            cur.execute(sql, [v for r in part for v in r])


@functools.lru_cache(maxsize=8)
def _insert_sql(paramstyle: str, n: int) -> str:
    """``INSERT INTO decisions (...) VALUES`` with ``n`` rows of placeholders (made once)."""
    mark = "?" if paramstyle == "qmark" else "%s"
    one = f"({', '.join([mark] * len(COLUMNS))})"
    return f"INSERT INTO decisions ({', '.join(COLUMNS)}) VALUES " + ", ".join([one] * n)


def insert_row(conn: sa.Connection, row: Mapping[str, Any]) -> None:
    """One decision row given as a mapping of `COLUMNS`."""
    bind = time_binder(conn.dialect)
    times = ("decided_at", "review_due", "retain_until")
    insert_rows(conn, [tuple(bind(row[c]) if c in times else row[c] for c in COLUMNS)])


def row_of(m: RegisteredModel, rules: DecisionRules, token: str, score: float,
           threshold: float | None, outcome: str | None, reasons: list[Reason], by: str,
           at: datetime | None, session: str | None) -> dict[str, Any]:
    """A decision row (inputs not yet sealed): outcome by the threshold unless given, routed
    to review by the policy's rules, kept until the purpose's log retention ends."""
    t = float(m.threshold if threshold is None else threshold)
    out = outcome or default_outcome(score, t)
    when = (at or datetime.now(UTC)).astimezone(UTC)
    why = rules.route(out, score, t)
    return {"id": new_id(), "model": m.name, "model_version": m.version,
            "purpose": m.purpose, "subject": token, "score": score, "threshold": t,
            "outcome": out[:64], "reasons": store.reasons_json(reasons), "decided_at": when,
            "decided_by": by[:128], "final_of": None, "review": why,
            "review_due": rules.due(why, when), "session": session,
            "retain_until": rules.retain_until(when), "inputs": None,
            "subject8": subject8(token)}


def record_of(row: Mapping[str, Any]) -> DecisionRecord:
    """The record of a row just written (nothing follows it yet)."""
    return DecisionRecord(
        id=row["id"], model=row["model"], model_version=row["model_version"],
        purpose=row["purpose"], subject=row["subject"], score=row["score"],
        threshold=row["threshold"], outcome=row["outcome"],
        reasons=store.reasons_of(row["reasons"]), decided_at=row["decided_at"],
        decided_by=row["decided_by"], status="review" if row["review"] else "final",
        final_of=row["final_of"], inputs_available=row["inputs"] is not None,
        review=row["review"], review_due=row["review_due"], session=row["session"],
        retain_until=row["retain_until"])
