"""The request layer that makes the service operable: a request id, the access log line,
the request metrics and the trace span of every request (:class:`Observe`).

The request id comes from the caller's ``X-Request-ID`` when it is 8 to 64 letters, digits,
``-`` or ``_`` (anything else is replaced, never refused and never logged), else a new random
one; it is answered in ``X-Request-ID`` and stamped on every log line written while the
request is served (:data:`veil.service.logs.REQUEST_ID`). The access log names the route
template (``/v1/dsr/{request_id}``), never the raw path or the query string, and the caller by
role and key id; it never holds subject ids, bodies or secrets.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from typing import Any

from veil.service.logs import REQUEST_ID
from veil.service.middleware import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("veil.service.access")

REQUEST_ID_PATTERN = re.compile(rb"^[A-Za-z0-9][A-Za-z0-9_-]{7,63}$")
NO_ROUTE = "(no route)"


def request_id(headers: list[tuple[bytes, bytes]]) -> str:
    """The caller's ``X-Request-ID`` if well formed, else a new one (32 hex digits)."""
    for k, v in headers:
        if k == b"x-request-id":
            if REQUEST_ID_PATTERN.match(v):
                return v.decode("ascii")
            break
    return secrets.token_hex(16)


class Observe:
    """ASGI: request id, access log, metrics and tracing around every HTTP request. The
    metrics and the tracer are read from ``state`` (the app's) at each request, so a test or
    an embedding application can set them after the app is built."""

    def __init__(self, app: ASGIApp, *, state: Any) -> None:
        self.app, self.state = app, state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id(scope["headers"])
        header = (b"x-request-id", rid.encode("ascii"))
        token = REQUEST_ID.set(rid)
        method = scope.get("method", "?")
        tracing = getattr(self.state, "tracing", None)
        span = tracing.start(method, scope["headers"]) if tracing is not None else None
        started = time.perf_counter()
        status = 500

        async def answer(msg: Message) -> None:
            nonlocal status
            if msg["type"] == "http.response.start":
                status = msg["status"]
                msg["headers"] = [*msg.get("headers", []), header]
            await send(msg)

        try:
            await self.app(scope, receive, answer)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or NO_ROUTE
            principal = (scope.get("state") or {}).get("principal")
            trace_id = tracing.trace_id(span) if span is not None else None
            access_log.info(
                "%s %s %d %.1fms %s", method, route, status, elapsed * 1000,
                principal.actor if principal is not None else "-",
                extra={"method": method, "route": route, "status": status,
                       "duration_ms": round(elapsed * 1000, 3),
                       "role": principal.role if principal is not None else None,
                       "key_id": principal.key_id if principal is not None else None,
                       "trace_id": trace_id})
            metrics = getattr(self.state, "metrics", None)
            if metrics is not None:
                metrics.observe(method, route, status, elapsed)
            if span is not None:
                tracing.end(span, method, route, status, rid)
            REQUEST_ID.reset(token)


__all__ = ["NO_ROUTE", "REQUEST_ID_PATTERN", "Observe", "access_log", "request_id"]
