"""Who is calling, and may they: authentication, the role check, and the audit of refusals.

Authentication: ``X-API-Key: veil_<id>_<secret>`` or ``Authorization: Bearer <key or token>``.
Authorization: every route names one permission (``x-permission`` in the OpenAPI document); the
roles hold permissions as :mod:`veil.service.roles` says. A refusal answers 403 and is appended to
the audit log (``service.denied``, actor ``key:<id>``), coalesced: the first refusal per key and
permission in a minute is recorded, later ones in that minute are counted into the next event
(``counts.suppressed``) or, at shutdown, into a ``service.denied_summary`` event, so a key cannot
flood the log.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from veil.service.apikeys import AUDIT_BASIS, AUDIT_PURPOSE, AuthError, Principal
from veil.service.deps import service_of
from veil.service.roles import allowed

if TYPE_CHECKING:  # pragma: no cover
    from veil.audit.log import AuditLog

log = logging.getLogger("veil.service")

DENIED_WINDOW = 60.0  # seconds: one service.denied event per key and permission in a window

_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="ApiKey",
                        description="An API key `veil_<id>_<secret>` (`veil apikey create`).")
_bearer = HTTPBearer(auto_error=False, scheme_name="Bearer",
                     description="A bearer token from `POST /v1/auth/token`, or an API key.")


class DenialLog:
    """The refusals of one service, coalesced into ``service.denied`` events: the first refusal
    of a key and permission in a window of DENIED_WINDOW seconds is recorded, the others are
    counted into the next event (or the shutdown summary)."""

    def __init__(self, audit: AuditLog) -> None:
        self.audit = audit
        # (key id, permission) -> (start of its window, refusals not yet recorded)
        self.windows: dict[tuple[str, str], tuple[float, int]] = {}

    async def record(self, principal: Principal, permission: str, method: str,
                     route: str) -> None:
        """Append ``service.denied`` for the first refusal of a key and permission in a
        window of DENIED_WINDOW seconds; count the others into the next event."""
        now = time.monotonic()
        slot = (principal.key_id, permission)
        start, pending = self.windows.get(slot, (-DENIED_WINDOW, 0))
        if now - start < DENIED_WINDOW:
            self.windows[slot] = (start, pending + 1)
            return
        self.windows[slot] = (now, 0)
        if len(self.windows) > 100_000:  # bounded: drop windows that ended, oldest first
            for k in [k for k, (s, n) in self.windows.items() if now - s >= DENIED_WINDOW
                      and n == 0][:50_000]:
                del self.windows[k]
        await run_in_threadpool(
            self.audit.record, principal.actor, "service.denied", purpose=AUDIT_PURPOSE,
            legal_basis=AUDIT_BASIS, outcome="denied",
            counts={"suppressed": pending},
            details={"permission": permission, "role": principal.role, "method": method,
                     "route": route, "via": principal.via,
                     "window_seconds": int(DENIED_WINDOW)})

    def flush(self) -> None:
        """At shutdown: one ``service.denied_summary`` per key and permission whose refusals
        were counted but not yet recorded."""
        for (key_id, permission), (_, pending) in sorted(self.windows.items()):
            if pending:
                self.audit.record(f"key:{key_id}", "service.denied_summary",
                                  purpose=AUDIT_PURPOSE, legal_basis=AUDIT_BASIS,
                                  outcome="denied", counts={"suppressed": pending},
                                  details={"permission": permission,
                                           "window_seconds": int(DENIED_WINDOW)})
        self.windows.clear()


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


def presented_credential(request: Request) -> str | None:
    """The credential of a request, read from its headers as the security schemes do."""
    key = request.headers.get("x-api-key")
    if key:
        return key
    scheme, _, value = (request.headers.get("authorization") or "").partition(" ")
    return (value.strip() or None) if scheme.lower() == "bearer" else None


def permission_of(request: Request) -> str:
    """The permission the request's route names (``auth.self`` when it names none)."""
    route = request.scope.get("route")
    extra = getattr(route, "openapi_extra", None) or {}
    return str(extra.get("x-permission") or "auth.self")


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
        await svc.denials.record(principal, permission, request.method, route)
        raise HTTPException(403, f"role '{principal.role}' lacks the permission "
                            f"'{permission}' (key {principal.key_id}); refusals are recorded "
                            "in the audit log")
    return principal


def perm(permission: str, **kw: Any) -> dict[str, Any]:
    """Route options for an endpoint that needs ``permission``."""
    return {"dependencies": [Depends(require(permission))],
            "openapi_extra": {"x-permission": permission}, **kw}


__all__ = ["DENIED_WINDOW", "DenialLog", "admit", "perm", "permission_of",
           "presented_credential", "require"]
