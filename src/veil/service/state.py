"""What the routes share: one :class:`Service` per app, over one workspace.

Concurrency. The hot path is the consent check plus the key check every request makes. On
PostgreSQL both run on psycopg's async driver (:meth:`veil.consent.Ledger.acheck`): a network
round trip must not block the event loop. On SQLite both run inline on the event loop: they are
primary-key lookups in a local WAL-mode file (tens of microseconds, and WAL readers never wait for
writers), and handing them to aiosqlite's thread costs more than the query itself (measured:
about 2 ms per request, which capped the service below 500 checks/s). Everything else (consent
writes, bulk checks, audit proofs and verification, scans, requests and breaches) calls the
same synchronous library
functions the CLI calls, in Starlette's thread pool: those functions own their transactions,
locks and retries, and rewriting them async would fork their rules; they are also the rarer
calls, or CPU-bound ones for which an async driver would gain nothing.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from starlette.concurrency import run_in_threadpool

from veil.errors import StoreError, VeilError
from veil.service.apikeys import (
    KEY_ROW,
    TOKEN_ROW,
    ApiKeyStore,
    Principal,
    parse_credential,
)
from veil.service.auth import DenialLog
from veil.service.config import ServiceConfig
from veil.service.middleware import RateLimiter

log = logging.getLogger("veil.service")

_TOUCH_EVERY = 60.0  # seconds between last-used updates of one key
_FAILED_AUTH_RATE = 5.0  # failed authentications per second per client address (burst 20)


class Service:
    """What the routes share: the workspace, the ledger, the audit log, the keys, rate limits."""

    def __init__(self, config: ServiceConfig) -> None:
        from veil.audit.log import AuditLog
        from veil.consent import Ledger
        from veil.store.workspace import Workspace

        self.config = config
        self.workspace = Workspace.open(config.workspace).ready()
        self.policy = None
        if config.policy is not None:
            from veil.policy import load_policy

            self.policy = load_policy(config.policy)
        self.ledger = Ledger(self.workspace, self.policy)
        self.decision_ledger: Any = None  # veil.decisions.DecisionLedger, made on first use
        self.audit = AuditLog(self.workspace)
        self.keys = ApiKeyStore(self.workspace)
        self.limiter = RateLimiter(config.rate_limit, config.burst)
        self.failures = RateLimiter(_FAILED_AUTH_RATE, 20)
        self._aengine: Any = None
        self._aloop: asyncio.AbstractEventLoop | None = None
        self._touched: dict[str, float] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.verify_lock = asyncio.Lock()
        # SQLite: point reads inline on the event loop (see the module docstring), the key
        # lookups on one read-only connection of the loop's own (autocommit: every lookup sees
        # the latest commit, so a revocation counts at the next request).
        url = sa.make_url(self.workspace.database_url)
        self.inline = url.get_backend_name() == "sqlite"
        self._reader: sqlite3.Connection | None = None
        self._reader_sql: dict[str, tuple[str, Any]] = {}
        # The consent check's two statements (now / as of a time), compiled once for the same
        # connection: (SQL, bind names in order, row type). Going through SQLAlchemy's engine
        # cost about 55 us of the check's 75 us (pool checkout, execution context, result
        # proxy), on the event loop, per request.
        self._check_sql: dict[bool, tuple[str, tuple[str, ...], Any, dict[str, Any]]] = {}
        if self.inline:
            dialect = self.workspace.engine.dialect
            self._reader_sql = {
                kind: (str(stmt.compile(dialect=dialect)), collections.namedtuple(  # type: ignore[misc]
                    "KeyRow", [str(c.key) for c in stmt.selected_columns]))
                for kind, stmt in (("key", KEY_ROW), ("token", TOKEN_ROW))}
            for as_of, stmt in zip((False, True), self.ledger.check_statements(), strict=True):
                compiled = stmt.compile(dialect=dialect)
                names = tuple(compiled.positiontup or ())
                row = collections.namedtuple(  # type: ignore[misc]
                    "CheckRow", [str(c.key) for c in stmt.selected_columns])
                self._check_sql[as_of] = (str(compiled), names, row, dict(compiled.params))
        # The last full verification of the audit log: (log size, result), see /v1/audit/verify.
        self.verified: tuple[int, dict[str, Any]] | None = None
        self.denials = DenialLog(self.audit)
        self._scrubs = self._server_paths()

    def _server_paths(self) -> list[tuple[str, str]]:
        """Server file paths an error may quote, longest first, and what to say instead."""
        pairs: dict[str, str] = {}
        if self.policy is not None:
            src = str(self.policy.source)
            for p in {src, str(Path(src).resolve()), str(self.config.policy or src)}:
                pairs[p] = "policy"
        root = str(Path(self.workspace.root).resolve())
        pairs[root] = "<workspace>"
        pairs[str(self.workspace.root)] = "<workspace>"
        return sorted(((k, v) for k, v in pairs.items() if k and k != "."),
                      key=lambda kv: -len(kv[0]))

    def scrub(self, text: str | None) -> str | None:
        """``text`` without server file paths (the policy file becomes "policy")."""
        if not text:
            return text
        for path, say in self._scrubs:
            text = text.replace(path, say)
        return text

    # -- async store access (the per-request key check)

    def _async_engine(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._aengine is not None and self._aloop is loop:
            return self._aengine
        from sqlalchemy.ext.asyncio import create_async_engine

        url = sa.make_url(self.workspace.database_url)
        if url.get_backend_name() == "sqlite":
            url = url.set(drivername="sqlite+aiosqlite")
            self._aengine = create_async_engine(url, connect_args={"timeout": 30})
        else:
            url = url.set(drivername="postgresql+psycopg")
            self._aengine = create_async_engine(url, pool_pre_ping=True)
        self._aloop = loop
        return self._aengine

    async def authenticate(self, presented: str) -> Principal:
        kind, ident, secret = parse_credential(presented)
        stmt = KEY_ROW if kind == "key" else TOKEN_ROW
        try:
            if self.inline:
                row = self._lookup(kind, ident)
            else:
                async with self._async_engine().connect() as conn:
                    row = (await conn.execute(stmt, {"id": ident})).first()
        except (sa.exc.DBAPIError, sqlite3.Error) as exc:
            raise StoreError(f"checking an API key: database error ({type(exc).__name__})"
                             ) from None
        now = datetime.now(UTC)
        principal = self.keys.hasher.judge(
            kind, ident, secret, row, int(now.timestamp()) * 1_000_000 + now.microsecond)
        self._touch(principal.key_id)
        return principal

    def check_inline(self, subject: str, purpose: str, at: str | None,
                     notice_version: str | None) -> Any:
        """:meth:`Ledger.check` on SQLite, on the loop's read-only connection (autocommit:
        every check sees the latest commit). The same statements and the same judgement
        (``Ledger.status_from_row``) as the library; only the engine layer is skipped."""
        if notice_version is not None:  # a second lookup: the rare case keeps the library path
            return self.ledger.check(subject, purpose, at, notice_version=notice_version)
        at_us, as_of = self.ledger.check_arguments(subject, purpose, at)
        sql, names, row_type, literals = self._check_sql[as_of]
        values = {**literals, "p": purpose, "s": subject, "at": at_us}  # literals: LIMIT 1
        try:
            raw = self._connection().execute(sql, tuple(values[n] for n in names)).fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"checking consent: database error ({type(exc).__name__})"
                             ) from None
        row = row_type._make(raw) if raw is not None else None
        return self.ledger.status_from_row(subject, purpose, at_us, row, None)

    def _connection(self) -> sqlite3.Connection:
        if self._reader is None:
            path = sa.make_url(self.workspace.database_url).database
            assert path is not None
            self._reader = sqlite3.connect(Path(path).resolve().as_uri() + "?mode=ro", uri=True,
                                           isolation_level=None, check_same_thread=False,
                                           timeout=30)
        return self._reader

    def _lookup(self, kind: str, ident: str) -> Any:
        sql, row_type = self._reader_sql[kind]
        row = self._connection().execute(sql, (ident,)).fetchone()
        return row_type._make(row) if row is not None else None

    def _touch(self, key_id: str) -> None:
        """Last-used time, written at most once a minute per key (not a write per request)."""
        now = time.monotonic()
        if now - self._touched.get(key_id, -_TOUCH_EVERY) < _TOUCH_EVERY:
            return
        self._touched[key_id] = now

        async def write() -> None:
            try:
                await run_in_threadpool(self.keys.touch, key_id)
            except VeilError as exc:
                log.warning("could not record the last use of key %s: %s", key_id, exc.kind)

        task = asyncio.get_running_loop().create_task(write())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def flush_denied(self) -> None:
        """At shutdown: record the refusals counted but not yet recorded (see
        :class:`veil.service.auth.DenialLog`)."""
        self.denials.flush()

    async def close(self) -> None:
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        try:
            await run_in_threadpool(self.flush_denied)
        except VeilError as exc:
            log.warning("could not record the refusals counted at shutdown: %s", exc.kind)
        if self._aengine is not None:
            await self._aengine.dispose()
            self._aengine = None
        await self.ledger.aclose()
        decisions = self.decision_ledger
        if decisions is not None:
            try:  # ends the shared scoring sessions: their period of use, a durable commit
                await run_in_threadpool(decisions.close)
            except VeilError as exc:
                log.warning("could not close the decision sessions at shutdown: %s", exc.kind)
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        self.workspace.close()


__all__ = ["Service"]
