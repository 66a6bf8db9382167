"""Transactions and database errors, the same for every table Veil writes.

``write_transaction`` serializes writers (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: the caller's
row locks and unique keys), ``retrying`` runs a write again on the conflicts a retry resolves,
and ``db_error`` turns a driver's exception into one line that names what was being done and
never the SQL or its parameters (which may hold personal data or key material).
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import sqlalchemy as sa

from veil.errors import StoreError

__all__ = ["db_error", "read_connection", "retryable", "retrying", "write_transaction"]

T = TypeVar("T")


def db_error(exc: BaseException, doing: str) -> StoreError:
    """A one-line StoreError for a database failure (no SQL, no parameters: no secrets)."""
    orig = getattr(exc, "orig", None) or exc  # SQLAlchemy wraps DBAPI errors in .orig
    text = (str(orig).splitlines() or [type(orig).__name__])[0] or type(orig).__name__
    if "locked" in text:
        return StoreError(f"{doing}: the database stayed locked by another writer ({text})")
    if "no such table" in text or ("relation" in text and "does not exist" in text):
        return StoreError(f"{doing}: the store's tables are missing: run `veil db upgrade`")
    return StoreError(f"{doing}: database error ({text[:200]})")


@contextlib.contextmanager
def write_transaction(engine: sa.Engine, doing: str, *,
                      durable: bool = False) -> Iterator[sa.Connection]:
    """A serialized write transaction, committed when the block ends without error.

    SQLite: ``BEGIN IMMEDIATE``, so a read-modify-write cannot interleave with another process;
    ``durable`` also sets ``synchronous=FULL`` for the commit (the audit log). Elsewhere a plain
    BEGIN: lock rows with ``FOR UPDATE``.
    """
    try:
        conn = engine.connect()
    except sa.exc.DBAPIError as exc:
        raise db_error(exc, doing) from None
    sqlite = conn.dialect.name == "sqlite"
    try:
        if sqlite:
            if durable:
                conn.exec_driver_sql("PRAGMA synchronous=FULL")
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        yield conn
        conn.commit()
    except sa.exc.DBAPIError as exc:
        with contextlib.suppress(sa.exc.DBAPIError):
            conn.rollback()
        raise db_error(exc, doing) from None
    except BaseException:
        with contextlib.suppress(sa.exc.DBAPIError):
            conn.rollback()
        raise
    finally:
        if sqlite and durable:
            with contextlib.suppress(sa.exc.DBAPIError):
                conn.exec_driver_sql("PRAGMA synchronous=NORMAL")
        conn.close()


@contextlib.contextmanager
def read_connection(engine: sa.Engine, doing: str) -> Iterator[sa.Connection]:
    """A connection for reading; driver errors become one-line StoreErrors."""
    try:
        with engine.connect() as conn:
            yield conn
    except sa.exc.DBAPIError as exc:
        raise db_error(exc, doing) from None


def retryable(exc: BaseException) -> bool:
    """Conflicts a retry resolves: a concurrent insert of the same key, a serialization failure
    or deadlock (PostgreSQL), a busy or locked database (SQLite)."""
    if isinstance(exc, sa.exc.IntegrityError):
        return True
    orig = getattr(exc, "orig", None)
    if getattr(orig, "sqlstate", None) in ("40001", "40P01", "55P03"):
        return True
    text = str(orig).lower()
    return "locked" in text or "busy" in text


def retrying(engine: sa.Engine, doing: str, fn: Callable[[sa.Connection], T], *,
             attempts: int = 8) -> T:
    """``fn(conn)`` in a write transaction, run again (with a short random pause) when it
    fails on a conflict a retry resolves; any other failure is a one-line StoreError."""
    for attempt in range(attempts):
        try:
            with write_transaction(engine, doing) as conn:
                return fn(conn)
        except StoreError as exc:
            cause = exc.__context__
            if attempt + 1 < attempts and cause is not None and retryable(cause):
                time.sleep(random.uniform(0.002, 0.02) * (attempt + 1))
                continue
            raise
    raise AssertionError("unreachable")
