"""The compliance service: one authenticated FastAPI app over Veil's library.

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

Authentication: ``X-API-Key: veil_<id>_<secret>`` or ``Authorization: Bearer <key or token>``.
Authorization: every route names one permission (``x-permission`` in the OpenAPI document); the
roles hold permissions as :mod:`veil.service.roles` says. A refusal answers 403 and is appended to
the audit log (``service.denied``, actor ``key:<id>``), coalesced: the first refusal per key and
permission in a minute is recorded, later ones in that minute are counted into the next event
(``counts.suppressed``) or, at shutdown, into a ``service.denied_summary`` event, so a key cannot
flood the log.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import math
import os
import sqlite3
import tempfile
import time
import traceback
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Security
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from veil.errors import (
    AuditError,
    ConflictError,
    ConsentError,
    CryptoError,
    InputError,
    NotFoundError,
    PolicyError,
    RunRefused,
    StoreError,
    VeilError,
)
from veil.service import models as m
from veil.service.apikeys import (
    AUDIT_BASIS,
    AUDIT_PURPOSE,
    KEY_ROW,
    TOKEN_ROW,
    ApiKeyStore,
    AuthError,
    Principal,
    parse_credential,
)
from veil.service.config import ServiceConfig
from veil.service.middleware import BodyLimit, Hardening, RateLimiter, error_body
from veil.service.roles import ROLE_PERMISSIONS, allowed

log = logging.getLogger("veil.service")

SCAN_PATH = "/v1/scan"
_TOUCH_EVERY = 60.0  # seconds between last-used updates of one key
_FAILED_AUTH_RATE = 5.0  # failed authentications per second per client address (burst 20)
DENIED_WINDOW = 60.0  # seconds: one service.denied event per key and permission in a window
_CLOCK_SKEW = timedelta(minutes=5)  # a consent check "at" may be this far ahead of our clock

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": m.ErrorOut, "description": "Malformed request"},
    401: {"model": m.ErrorOut, "description": "Missing, invalid, expired or revoked credentials"},
    403: {"model": m.ErrorOut, "description": "The caller's role lacks the permission"},
    404: {"model": m.ErrorOut, "description": "Not found"},
    409: {"model": m.ErrorOut, "description": "The record's state forbids the change (closed)"},
    413: {"model": m.ErrorOut, "description": "Request body too large"},
    422: {"model": m.ErrorOut, "description": "Invalid input (names the field)"},
    429: {"model": m.ErrorOut, "description": "Rate limit of the key exceeded"},
    503: {"model": m.ErrorOut, "description": "The store is unavailable"},
}

_STATUS: list[tuple[type[VeilError], int]] = [
    (AuthError, 401), (NotFoundError, 404), (ConflictError, 409), (InputError, 422),
    (PolicyError, 422), (ConsentError, 422),
    (AuditError, 422), (RunRefused, 409), (CryptoError, 422), (StoreError, 503),
]


# --------------------------------------------------------------------------- shared state


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
        self.audit = AuditLog(self.workspace)
        self.keys = ApiKeyStore(self.workspace)
        self.limiter = RateLimiter(config.rate_limit, config.burst)
        self.failures = RateLimiter(_FAILED_AUTH_RATE, 20)
        self._aengine: Any = None
        self._aloop: asyncio.AbstractEventLoop | None = None
        self._touched: dict[str, float] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._verify_lock = asyncio.Lock()
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
        self._verified: tuple[int, dict[str, Any]] | None = None
        # (key id, permission) -> (start of its window, refusals not yet recorded)
        self._denied: dict[tuple[str, str], tuple[float, int]] = {}
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

    async def record_denied(self, principal: Principal, permission: str, method: str,
                            route: str) -> None:
        """Append ``service.denied`` for the first refusal of a key and permission in a
        window of DENIED_WINDOW seconds; count the others into the next event."""
        now = time.monotonic()
        slot = (principal.key_id, permission)
        start, pending = self._denied.get(slot, (-DENIED_WINDOW, 0))
        if now - start < DENIED_WINDOW:
            self._denied[slot] = (start, pending + 1)
            return
        self._denied[slot] = (now, 0)
        if len(self._denied) > 100_000:  # bounded: drop windows that ended, oldest first
            for k in [k for k, (s, n) in self._denied.items() if now - s >= DENIED_WINDOW
                      and n == 0][:50_000]:
                del self._denied[k]
        await run_in_threadpool(
            self.audit.record, principal.actor, "service.denied", purpose=AUDIT_PURPOSE,
            legal_basis=AUDIT_BASIS, outcome="denied",
            counts={"suppressed": pending},
            details={"permission": permission, "role": principal.role, "method": method,
                     "route": route, "via": principal.via,
                     "window_seconds": int(DENIED_WINDOW)})

    def flush_denied(self) -> None:
        """At shutdown: one ``service.denied_summary`` per key and permission whose refusals
        were counted but not yet recorded."""
        for (key_id, permission), (_, pending) in sorted(self._denied.items()):
            if pending:
                self.audit.record(f"key:{key_id}", "service.denied_summary",
                                  purpose=AUDIT_PURPOSE, legal_basis=AUDIT_BASIS,
                                  outcome="denied", counts={"suppressed": pending},
                                  details={"permission": permission,
                                           "window_seconds": int(DENIED_WINDOW)})
        self._denied.clear()

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
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        self.workspace.close()


def service_of(request: Request) -> Service:
    svc: Service | None = request.app.state.service
    if svc is None:
        raise HTTPException(503, "the service has no workspace")
    return svc


# --------------------------------------------------------------------------- authentication

_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="ApiKey",
                        description="An API key `veil_<id>_<secret>` (`veil apikey create`).")
_bearer = HTTPBearer(auto_error=False, scheme_name="Bearer",
                     description="A bearer token from `POST /v1/auth/token`, or an API key.")


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def require(permission: str) -> Callable[..., Any]:
    """The dependency that authenticates the caller, applies its rate limit and checks that its
    role holds ``permission`` (403, recorded in the audit log, when it does not)."""

    async def dependency(
        request: Request,
        api_key: Annotated[str | None, Security(_api_key)] = None,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
    ) -> Principal:
        presented = api_key or (bearer.credentials if bearer is not None else None)
        return await admit(request, presented, permission)

    return dependency


def _presented(request: Request) -> str | None:
    """The credential of a request, read from its headers as the security schemes do."""
    key = request.headers.get("x-api-key")
    if key:
        return key
    scheme, _, value = (request.headers.get("authorization") or "").partition(" ")
    return (value.strip() or None) if scheme.lower() == "bearer" else None


async def admit(request: Request, presented: str | None, permission: str) -> Principal:
    """Authenticate ``presented``, apply the key's rate limit, check its role holds
    ``permission``: the principal, or 401 / 429 / 403 (a 403 is recorded, coalesced)."""
    svc = service_of(request)
    challenge = {"WWW-Authenticate": 'Bearer realm="veil"'}
    if not presented:
        raise HTTPException(401, "credentials required: send X-API-Key or "
                            "Authorization: Bearer", headers=challenge)
    try:
        principal = await svc.authenticate(presented)
    except AuthError as exc:
        wait = svc.failures.take(_client(request))
        if wait:
            raise HTTPException(429, "too many failed authentications: slow down",
                                headers={"Retry-After": str(math.ceil(wait))}) from None
        log.info("authentication refused: %s", exc.message)
        raise HTTPException(401, exc.message, headers=challenge) from None
    request.state.principal = principal
    wait = svc.limiter.take(principal.key_id)
    if wait:
        raise HTTPException(429, f"rate limit of key {principal.key_id} exceeded "
                            f"({svc.config.rate_limit:g} requests/s)",
                            headers={"Retry-After": str(math.ceil(wait))})
    if not allowed(principal.role, permission):
        route = getattr(request.scope.get("route"), "path", request.url.path)
        await svc.record_denied(principal, permission, request.method, route)
        raise HTTPException(403, f"role '{principal.role}' lacks the permission "
                            f"'{permission}' (key {principal.key_id}); refusals are recorded "
                            "in the audit log")
    return principal


def perm(permission: str, **kw: Any) -> dict[str, Any]:
    """Route options for an endpoint that needs ``permission``."""
    return {"dependencies": [Depends(require(permission))],
            "openapi_extra": {"x-permission": permission}, **kw}


def caller(request: Request) -> Principal:
    principal: Principal = request.state.principal
    return principal


Caller = Annotated[Principal, Depends(caller)]


# --------------------------------------------------------------------------- helpers


def _fmt(us: int | None) -> str | None:
    from veil.consent.models import format_us

    return format_us(us)


def _iso(t: datetime | None) -> str | None:
    from veil.consent.models import format_us, to_us

    return format_us(to_us(t)) if t is not None else None


def _event_out(svc: Service, e: Any) -> m.ConsentEventOut:
    return m.ConsentEventOut(
        event_id=e.event_id, subject_ref=svc.ledger.ref(e.subject), purpose=e.purpose,
        event=e.kind, time=_fmt(e.time_us) or "", recorded=_fmt(e.recorded_us or None),
        channel=e.channel, collector=e.collector, notice_version=e.notice_version,
        action=e.action, evidence=e.evidence, expires=_fmt(e.expires_us), minor=e.minor)


def _check_out(st: Any) -> m.CheckOut:
    d = st.to_json()
    d["subject_ref"] = d.pop("subject")
    return m.CheckOut(**d)


async def _known(svc: Service, subject: str) -> None:
    from veil.consent.models import check_subject

    check_subject(subject)
    if not await run_in_threadpool(svc.ledger.knows, subject):
        raise HTTPException(404, f"unknown subject: the ledger has no consent events for "
                            f"{svc.ledger.ref(subject)}")


def _not_future(at: str | None) -> None:
    """A check "as of" a time answers for the past or now: a future ``at`` (beyond a few
    minutes of clock skew) is refused, not answered with today's state."""
    if at is None:
        return
    try:
        when = _parse_iso(at)
    except ValueError:
        return  # the ledger's parser gives the one clear error
    if when > datetime.now(UTC) + _CLOCK_SKEW:
        raise InputError(f"at {_iso(when)} is in the future: consent is checked now or at a "
                         f"past time (up to {int(_CLOCK_SKEW.total_seconds() // 60)} minutes "
                         "of clock skew allowed)", where="body.at")


def _need_policy(svc: Service) -> Any:
    if svc.policy is None:
        raise HTTPException(404, "the service runs without a policy (start it with --policy)")
    return svc.policy


# --------------------------------------------------------------------------- routes

public = APIRouter(tags=["health"])
v1 = APIRouter(prefix="/v1", responses=ERRORS)


@public.get("/health", response_model=m.Health, summary="Liveness (no credentials needed)")
async def health() -> m.Health:
    return m.Health(status="ok")


@public.get("/ready", response_model=m.Health, summary="Readiness: the store answers and its "
            "schema is current (no credentials needed)",
            responses={503: {"model": m.Health, "description": "Not ready"}})
async def ready(request: Request) -> Any:
    svc: Service | None = request.app.state.service
    if svc is None:
        return JSONResponse({"status": "not ready"}, status_code=503)
    try:
        await run_in_threadpool(svc.workspace.ready)
    except VeilError:
        return JSONResponse({"status": "not ready"}, status_code=503)
    return m.Health(status="ready")


# -- auth ------------------------------------------------------------------------------------


@v1.get("/auth/whoami", response_model=m.WhoAmI, tags=["auth"], **perm("auth.self"))
async def whoami(who: Caller) -> m.WhoAmI:
    """The calling key (id, role, name) and what its role may do."""
    return m.WhoAmI(key_id=who.key_id, role=who.role, name=who.name, via=who.via,
                    permissions=sorted(ROLE_PERMISSIONS[who.role]))


@v1.post("/auth/token", response_model=m.TokenOut, tags=["auth"], **perm("auth.self"))
async def token(request: Request, who: Caller, body: m.TokenIn | None = None) -> m.TokenOut:
    """Exchange the API key for a short-lived bearer token (OAuth 2 client-credentials style).
    The token carries the key's role and dies with the key."""
    svc = service_of(request)
    if who.via != "api-key":
        raise HTTPException(403, "a bearer token cannot issue another token: use the API key")
    minutes = body.minutes if body is not None and body.minutes else svc.config.token_minutes
    tok, expires = await run_in_threadpool(svc.keys.issue_token, who,
                                           timedelta(minutes=minutes))
    left = max(1, int((expires - datetime.now(UTC)).total_seconds()))
    return m.TokenOut(access_token=tok, token_type="bearer", expires_in=left,
                      expires=_iso(expires) or "", key_id=who.key_id, role=who.role)


# -- consent ---------------------------------------------------------------------------------


async def _append(svc: Service, who: Principal, kind: str, body: Any) -> m.ConsentEventOut:
    from veil.consent.models import ConsentEvent

    ev = ConsentEvent(
        subject=body.subject, purpose=body.purpose, kind=kind, channel=body.channel,
        collector=who.actor, time=body.time,
        notice_version=getattr(body, "notice_version", None), action=body.action,
        evidence=body.evidence, expires=getattr(body, "expires", None),
        age=getattr(body, "age", None), guardian=getattr(body, "guardian", None),
        event_id=body.event_id)
    stored = await run_in_threadpool(svc.ledger.append, [ev])
    return _event_out(svc, stored[0])


@v1.post("/consent/grant", response_model=m.ConsentEventOut, status_code=201, tags=["consent"],
         **perm("consent.write"))
async def consent_grant(request: Request, who: Caller, body: m.GrantIn) -> m.ConsentEventOut:
    """Record that the subject consented to one purpose by an explicit action (GDPR Art. 7).
    The collector recorded (and the audit event's actor) is the calling key."""
    return await _append(service_of(request), who, "granted", body)


@v1.post("/consent/renew", response_model=m.ConsentEventOut, status_code=201, tags=["consent"],
         **perm("consent.write"))
async def consent_renew(request: Request, who: Caller, body: m.GrantIn) -> m.ConsentEventOut:
    """Record that the subject confirmed a consent in force or lapsed (not one withdrawn)."""
    return await _append(service_of(request), who, "renewed", body)


@v1.post("/consent/withdraw", response_model=m.ConsentEventOut, status_code=201,
         tags=["consent"], **perm("consent.write"))
async def consent_withdraw(request: Request, who: Caller,
                           body: m.WithdrawIn) -> m.ConsentEventOut:
    """Record a withdrawal (Art. 7(3)): effective from its time, as easy as granting."""
    return await _append(service_of(request), who, "withdrawn", body)


@v1.post("/consent/check", response_model=m.CheckOut, tags=["consent"],
         **perm("consent.check"))
async def consent_check(request: Request, body: m.CheckIn) -> m.CheckOut:
    """Does the subject hold valid consent to the purpose now (or at a past time)? A subject the
    ledger does not know has "no consent"."""
    svc = service_of(request)
    _not_future(body.at)
    if svc.inline:
        st = svc.check_inline(body.subject, body.purpose, body.at, body.notice_version)
    else:
        st = await svc.ledger.acheck(body.subject, body.purpose, body.at,
                                     notice_version=body.notice_version)
    return _check_out(st)


@v1.post("/consent/check-bulk", response_model=m.BulkCheckOut, tags=["consent"],
         **perm("consent.check"))
async def consent_check_bulk(request: Request, body: m.BulkCheckIn) -> m.BulkCheckOut:
    """Check up to 10,000 subjects against one purpose at once: a mask and a reason per subject,
    in the order given (null subjects get "no subject id")."""
    from veil.consent.models import REASONS

    svc = service_of(request)
    _not_future(body.at)

    def run() -> m.BulkCheckOut:
        snap = svc.ledger.snapshot(body.purpose, body.at, notice_version=body.notice_version)
        res = snap.check(body.subjects)
        return m.BulkCheckOut(purpose=body.purpose, at=_fmt(snap.at_us) or "",
                              count=len(res), valid=res.valid,
                              mask=[bool(c == 0) for c in res.codes.tolist()],
                              reasons=[REASONS[c] for c in res.codes.tolist()],
                              counts=dict(res.counts()))

    return await run_in_threadpool(run)


@v1.post("/consent/history", response_model=m.HistoryOut, tags=["consent"],
         **perm("consent.history"))
async def consent_history(request: Request, body: m.SubjectIn) -> m.HistoryOut:
    """The subject's consent events (all purposes, or one), in time order."""
    svc = service_of(request)
    await _known(svc, body.subject)
    events = await run_in_threadpool(svc.ledger.history, body.subject, body.purpose)
    return m.HistoryOut(subject_ref=svc.ledger.ref(body.subject),
                        events=[_event_out(svc, e) for e in events])


@v1.post("/consent/receipt", response_model=dict[str, Any], tags=["consent"],
         **perm("consent.receipt"))
async def consent_receipt(request: Request, body: m.ReceiptIn) -> dict[str, Any]:
    """The subject's consent receipt: one record per purpose after ISO/IEC TS 27560 (for the
    subject's own copy; it names the subject, so it is returned, never logged)."""
    from veil.consent.interchange import subject_record

    svc = service_of(request)
    await _known(svc, body.subject)
    return await run_in_threadpool(subject_record, svc.ledger, body.subject)


# -- audit -----------------------------------------------------------------------------------


@v1.get("/audit/head", response_model=m.HeadOut, tags=["audit"], **perm("audit.read"))
async def audit_head(request: Request) -> m.HeadOut:
    """The log's current size and root, and its latest signed tree head (a C2SP signed note)."""
    svc = service_of(request)

    def run() -> m.HeadOut:
        head = svc.audit.head()
        signed = svc.audit.signed_head()
        return m.HeadOut(origin=head.origin, size=head.size, root=head.root.hex(),
                         signed=(dict(signed.to_dict(), note=signed.to_note())
                                 if signed is not None else None))

    return await run_in_threadpool(run)


@v1.get("/audit/proof/{index}", response_model=dict[str, Any], tags=["audit"],
        **perm("audit.read"))
async def audit_proof(request: Request, index: Annotated[int, PathParam(ge=0, le=2**53 - 1)]
                      ) -> dict[str, Any]:
    """A self-contained proof file (``veil-audit-proof/v1``) that event ``index`` is in the log:
    the event, its inclusion path and the signed head; check it offline with
    ``veil audit verify-proof``."""
    svc = service_of(request)

    def run() -> dict[str, Any]:
        size = svc.audit.head().size
        if index >= size:
            raise HTTPException(404, f"no event at index {index} (the log has {size})")
        return svc.audit.prove(index)

    return await run_in_threadpool(run)


@v1.get("/audit/verify", response_model=m.VerifyOut, tags=["audit"], **perm("audit.read"))
async def audit_verify(request: Request) -> m.VerifyOut:
    """Recompute the whole tree from the stored events and check every node, head and
    signature. One verification runs at a time; while the log has not grown, the last result
    is returned."""
    from veil.audit.log import AuditVerifyError

    svc = service_of(request)
    async with svc._verify_lock:
        size = (await run_in_threadpool(svc.audit.head)).size
        if svc._verified is not None and svc._verified[0] == size:
            return m.VerifyOut(**svc._verified[1])
        now = _iso(datetime.now(UTC)) or ""
        try:
            rep = await run_in_threadpool(svc.audit.verify)
            out: dict[str, Any] = {
                "ok": True, "size": rep.size, "origin": rep.origin, "root": rep.root.hex(),
                "heads_checked": rep.heads_checked, "latest_signed_size": rep.latest_signed_size,
                "nodes_checked": rep.nodes_checked, "key_id": rep.key_id,
                "seconds": round(rep.seconds, 3), "checked_at": now}
        except AuditVerifyError as exc:
            out = {"ok": False, "size": size, "failed_index": exc.index,
                   "failed_check": exc.check, "detail": exc.detail, "checked_at": now}
        svc._verified = (size, out)
        return m.VerifyOut(**out)


@v1.get("/audit/events", response_model=m.AuditEventsOut, tags=["audit"], **perm("audit.read"))
async def audit_events(
    request: Request,
    action: Annotated[str | None, Query(max_length=128, description="Action, or a prefix "
                                        "ending in * (consent.*)")] = None,
    actor: Annotated[str | None, Query(max_length=128)] = None,
    purpose: Annotated[str | None, Query(max_length=128)] = None,
    outcome: Annotated[str | None, Query(max_length=32)] = None,
    since: Annotated[str | None, Query(max_length=40, description="ISO 8601, inclusive")] = None,
    until: Annotated[str | None, Query(max_length=40, description="ISO 8601, exclusive")] = None,
    start: Annotated[int, Query(ge=0, le=2**53 - 1)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    newest_first: bool = False,
) -> m.AuditEventsOut:
    """Events matching every filter given, by index (events hold pseudonyms only)."""
    svc = service_of(request)

    def run() -> m.AuditEventsOut:
        from veil.audit.event import AuditEvent

        for name, value in (("since", since), ("until", until)):
            if value is not None:
                try:
                    _parse_iso(value)
                except ValueError:
                    raise InputError(f"{name} '{value[:40]}' is not an ISO 8601 time like "
                                     "2026-03-01T09:30:00Z", where=f"query.{name}") from None
        got = list(svc.audit.events(action=action, actor=actor, purpose=purpose,
                                    outcome=outcome, since=since, until=until,
                                    start=start if not newest_first else 0,
                                    newest_first=newest_first, limit=limit + 1))
        more = len(got) > limit
        got = got[:limit]
        out = [m.AuditEventOut(index=e.idx, time=e.time, action=e.action, actor=e.actor,
                               purpose=e.purpose, outcome=e.outcome,
                               event=AuditEvent.from_canonical_bytes(e.data).to_json_obj())
               for e in got]
        nxt = (got[-1].idx + 1 if not newest_first else None) if more else None
        return m.AuditEventsOut(events=out, next_start=nxt)

    return await run_in_threadpool(run)


def _parse_iso(text: str) -> datetime:
    raw = text.strip()
    dt = datetime.fromisoformat(raw[:-1] + "+00:00" if raw[-1:] in "zZ" and raw else raw)
    if dt.tzinfo is None:
        raise ValueError("no time zone")
    return dt


# -- policy and records of processing --------------------------------------------------------


@v1.get("/policy", response_model=dict[str, Any], tags=["policy"], **perm("policy.read"))
async def policy(request: Request) -> dict[str, Any]:
    """The policy in force: purposes, datasets and their treatments, with its SHA-256."""
    pol = _need_policy(service_of(request))
    body = pol.model_dump(mode="json", exclude_none=True)
    return {"source": Path(pol.source).name, "sha256": pol.digest, "policy": body}


@v1.get("/ropa", response_model=dict[str, Any], tags=["ropa"], **perm("ropa.read"))
async def ropa(request: Request) -> dict[str, Any]:
    """Records of processing activities (Art. 30(1)), one per purpose; missing items are
    marked, never left out."""
    from veil.ropa import build_ropa

    return build_ropa(_need_policy(service_of(request)))


@v1.get("/ropa.md", response_class=PlainTextResponse, tags=["ropa"],
        responses={200: {"content": {"text/markdown": {"schema": {"type": "string"}}}}},
        **perm("ropa.read"))
async def ropa_markdown(request: Request) -> PlainTextResponse:
    """The records of processing as Markdown (what ``veil ropa`` writes to ropa.md)."""
    from veil.ropa import build_ropa, render_markdown

    text = render_markdown(build_ropa(_need_policy(service_of(request))))
    return PlainTextResponse(text, media_type="text/markdown; charset=utf-8")


# -- scan ------------------------------------------------------------------------------------

_SUFFIX = {"csv": ".csv", "parquet": ".parquet", "jsonl": ".jsonl", "text": ".txt"}


@v1.post("/scan", response_model=dict[str, Any], tags=["scan"],
         openapi_extra={"x-permission": "scan", "requestBody": {
             "required": True, "description": "The file's bytes (size-limited: 413 beyond "
             "max_upload_bytes).",
             "content": {"application/octet-stream": {
                 "schema": {"type": "string", "format": "binary"}}}}},
         dependencies=[Depends(require("scan"))])
async def scan(
    request: Request,
    who: Caller,
    format: Annotated[Literal["csv", "parquet", "jsonl", "text"], Query(
        description="How to read the upload")],
    sample: Annotated[int | None, Query(ge=1, le=10_000_000,
                                        description="Scan the first N rows only")] = None,
    name: Annotated[str | None, Query(max_length=128, pattern=r"^[A-Za-z0-9._-]+$",
                                      description="A name for the upload in the report")] = None,
) -> dict[str, Any]:
    """Scan an uploaded file (CSV, Parquet, JSON lines or text) for personal data: per column the
    types found, confidence, masked examples and a suggested rule (``veil scan``'s report).
    Values are never returned unmasked; the upload is deleted after the scan."""
    import anyio

    from veil.discovery import scan_source

    svc = service_of(request)
    fd, tmp = tempfile.mkstemp(prefix="veil-upload-", suffix=_SUFFIX[format])
    try:
        size = 0
        # anyio's file object writes in a worker thread: up to max_upload_bytes of disk writes
        # must not stall the event loop (and every other request with it).
        async with anyio.wrap_file(os.fdopen(fd, "wb")) as fh:
            async for chunk in request.stream():
                size += len(chunk)
                if size > svc.config.max_upload_bytes:
                    raise HTTPException(413, f"upload is larger than "
                                        f"{svc.config.max_upload_bytes} bytes")
                if chunk:
                    await fh.write(chunk)
        if size == 0:
            raise InputError("empty upload: nothing to scan", where="body")
        label = name or f"upload{_SUFFIX[format]}"
        try:
            result = await run_in_threadpool(scan_source, tmp, format=format, sample=sample,
                                             policy=svc.policy)
        except VeilError as exc:
            where = label if exc.where and tmp in exc.where else exc.where
            raise type(exc)(exc.message.replace(tmp, label), where=where) from None
        report = result.to_dict()
        report["source"]["ref"] = label
        await run_in_threadpool(
            svc.audit.record, who.actor, "discovery.scan", purpose="discovery",
            legal_basis="Art. 30 and 35 accountability", outcome="success",
            counts={"bytes": size, "rows": int(report.get("rows_scanned")
                                                or report.get("lines_scanned") or 0)},
            details={"format": format, "pii_columns": len(report.get("pii_columns") or [])})
        return report
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


# --------------------------------------------------------------------------- the app


def _field_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    out = []
    for e in exc.errors()[:20]:
        loc = ".".join(str(p) for p in e.get("loc", ()))
        msg = str(e.get("msg", "invalid"))
        if e.get("type") == "extra_forbidden":
            msg = "unknown field"
        out.append({"field": loc or "body", "message": msg, "type": str(e.get("type"))})
    return out


def _permission_of(request: Request) -> str:
    route = request.scope.get("route")
    extra = getattr(route, "openapi_extra", None) or {}
    return str(extra.get("x-permission") or "auth.self")


def _json_position(error: dict[str, Any], exc: RequestValidationError) -> str:
    """"malformed JSON at line L column C: <reason>" from the decoder's character offset."""
    loc = error.get("loc") or ()
    pos = loc[-1] if loc and isinstance(loc[-1], int) else None
    doc = exc.body if isinstance(exc.body, str) else None
    reason = str((error.get("ctx") or {}).get("error") or "not JSON")
    if pos is None or doc is None:
        return f"malformed JSON: {reason}"
    line = doc.count("\n", 0, pos) + 1
    col = pos - (doc.rfind("\n", 0, pos) + 1) + 1
    return f"malformed JSON at line {line} column {col}: {reason}"


def build_app(service: Service | None, *, extra_routers: list[APIRouter] | None = None
              ) -> FastAPI:
    """The FastAPI app over ``service`` (None: routes only, e.g. for the OpenAPI document)."""
    import veil

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if app.state.service is not None:
            await app.state.service.close()

    app = FastAPI(
        title="Veil compliance service",
        version=veil.__version__,
        description=(
            "Consent, data-subject requests, audit proofs, breaches, policy and records of "
            "processing over the network. Every endpoint except `/health`, `/ready` and this "
            "document needs credentials (`X-API-Key` or `Authorization: Bearer`); each names "
            "the permission it needs in `x-permission`. Subject ids travel only in request "
            "bodies; responses name subjects by keyed pseudonym."),
        docs_url=None, redoc_url=None, openapi_url="/openapi.json", lifespan=lifespan)
    app.state.service = service
    app.include_router(public)
    app.include_router(v1)
    for router in _workflow_routers() if extra_routers is None else extra_routers:
        app.include_router(router)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        bad_json = next((e for e in exc.errors() if e.get("type") == "json_invalid"), None)
        if bad_json is not None:
            # FastAPI parses the body before the route's dependencies run: authenticate (and
            # authorize) here, so a caller without credentials learns nothing but 401.
            try:
                await admit(request, _presented(request), _permission_of(request))
            except StarletteHTTPException as denied:
                return await _http(request, denied)
            except VeilError as failed:  # the store is down
                return await _veil(request, failed)
            return JSONResponse(error_body(400, "input error", _json_position(bad_json, exc),
                                           where="body"), status_code=400)
        fields = _field_errors(exc)
        n = len(exc.errors())
        first = fields[0] if fields else {"field": "body", "message": "invalid"}
        more = f" (and {n - 1} more)" if n > 1 else ""
        return JSONResponse(error_body(422, "input error",
                                       f"{first['field']}: {first['message']}{more}",
                                       where=first["field"], fields=fields), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = {401: "authentication error", 403: "permission denied", 404: "not found",
                413: "input error", 429: "rate limited"}.get(exc.status_code, "error")
        return JSONResponse(error_body(exc.status_code, kind, str(exc.detail)),
                            status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(VeilError)
    async def _veil(request: Request, exc: VeilError) -> JSONResponse:
        status = next((s for cls, s in _STATUS if isinstance(exc, cls)), 422)
        if status == 503:
            log.error("store unavailable: %s", exc.message[:300])
        svc: Service | None = request.app.state.service
        message, where = exc.message, exc.where
        if svc is not None:  # never a server file path in an answer
            message, where = svc.scrub(message) or "", svc.scrub(where)
        return JSONResponse(error_body(status, exc.kind, message, where=where),
                            status_code=status,
                            headers={"WWW-Authenticate": "Bearer"} if status == 401 else None)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        # The type and the frames only: an exception's message may quote data.
        frames = traceback.extract_tb(exc.__traceback__)[-3:]
        at = "; ".join(f"{Path(f.filename).name}:{f.lineno} in {f.name}" for f in frames)
        log.error("internal error: %s at %s", type(exc).__name__, at)
        return JSONResponse(error_body(500, "internal error", "internal error (a bug: the "
                                       "service log has its place)"), status_code=500)

    config = service.config if service is not None else None
    if config is not None and config.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(config.cors_origins),
                           allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "X-API-Key", "Content-Type"],
                           allow_credentials=False)
    defaults = ServiceConfig(workspace=Path("."))
    app.add_middleware(BodyLimit,
                       limit=(config or defaults).max_body_bytes,
                       upload_limit=(config or defaults).max_upload_bytes,
                       upload_paths=frozenset({SCAN_PATH}))
    app.add_middleware(Hardening, hsts=bool(config is not None and config.tls is not None))
    return app


def _workflow_routers() -> list[APIRouter]:
    """The routers of the workflows: data-subject requests and breaches."""
    from veil.service.routes_breach import router as breaches
    from veil.service.routes_dsr import router as dsr

    return [dsr, breaches]


def create_app(config: ServiceConfig | None = None, **settings: Any) -> FastAPI:
    """The service app over a workspace: ``create_app(ServiceConfig.load(root, policy=...))``,
    or ``create_app(workspace=root, policy=...)``."""
    if config is None:
        workspace = settings.pop("workspace", None)
        if workspace is None:
            from veil.store.workspace import Workspace

            with Workspace.find() as ws:
                workspace = ws.root
        config = ServiceConfig.load(Path(workspace), **settings)
    elif settings:
        raise TypeError("give a ServiceConfig or settings, not both")
    return build_app(Service(config))


def openapi_document() -> dict[str, Any]:
    """The service's OpenAPI document (committed as docs/openapi.json)."""
    doc: dict[str, Any] = build_app(None).openapi()
    return doc


__all__ = ["Service", "build_app", "create_app", "openapi_document", "require"]
