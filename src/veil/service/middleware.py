"""ASGI layers around the app: body size limits, security headers, rate limits.

They are plain ASGI (no per-request objects beyond what they need), so a request that is too
large is refused before the app reads it, and every response, errors included, gets the
headers. The access log, request ids, metrics and traces are :mod:`veil.service.observe`.
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import HTTPException

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

def error_body(status: int, kind: str, message: str, **extra: Any) -> dict[str, Any]:
    """The one error shape of the service."""
    err: dict[str, Any] = {"status": status, "kind": kind, "message": message}
    err.update({k: v for k, v in extra.items() if v is not None})
    return {"error": err}


async def _send_json(send: Send, status: int, body: dict[str, Any],
                     headers: list[tuple[bytes, bytes]] | None = None) -> None:
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(data)).encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": data})


class BodyLimit:
    """413 for a body over the limit: at once from Content-Length, or while streaming."""

    def __init__(self, app: ASGIApp, *, limit: int, upload_limit: int,
                 upload_paths: frozenset[str]) -> None:
        self.app, self.limit, self.upload_limit = app, limit, upload_limit
        self.upload_paths = upload_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.upload_limit if scope["path"] in self.upload_paths else self.limit
        declared = None
        for k, v in scope["headers"]:
            if k == b"content-length":
                declared = v
                break
        if declared is not None:
            if not declared.isdigit():
                await _send_json(send, 400, error_body(400, "input error",
                                                       "Content-Length is not a number"))
                return
            if int(declared) > limit:
                await _send_json(send, 413, error_body(
                    413, "input error", f"request body is larger than {limit} bytes"))
                return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > limit:
                    raise HTTPException(413, f"request body is larger than {limit} bytes")
            return msg

        await self.app(scope, limited, send)


class Hardening:
    """Security headers on every response."""

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.headers = [
            (b"x-content-type-options", b"nosniff"),
            (b"cache-control", b"no-store"),
            (b"pragma", b"no-cache"),
            (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"no-referrer"),
            (b"cross-origin-resource-policy", b"same-origin"),
        ]
        if hsts:
            self.headers.append((b"strict-transport-security",
                                 b"max-age=31536000; includeSubDomains"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(msg: Message) -> None:
            if msg["type"] == "http.response.start":
                have = {k.lower() for k, _ in msg.get("headers", [])}
                msg["headers"] = [*msg.get("headers", []),
                                  *(h for h in self.headers if h[0] not in have)]
            await send(msg)

        await self.app(scope, receive, with_headers)


class RateLimiter:
    """Token buckets in this process: ``rate`` requests per second, bursts up to ``burst``.

    One bucket per key id (and one per client address for failed authentications). With
    several worker processes each has its own buckets, so the effective limit is per worker.
    The table is bounded (least recently used buckets are dropped)."""

    clock = staticmethod(time.monotonic)  # tests freeze it to count requests, not seconds

    def __init__(self, rate: float, burst: int, *, max_buckets: int = 100_000) -> None:
        self.rate, self.burst, self.max_buckets = float(rate), float(burst), max_buckets
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str) -> float:
        """0.0 when a request may go ahead, else the seconds until one may."""
        if self.rate <= 0:
            return 0.0
        now = self.clock()
        tokens, last = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            wait = 0.0
        else:
            self._buckets[key] = (tokens, now)
            wait = (1.0 - tokens) / self.rate
        if len(self._buckets) > self.max_buckets:
            self._buckets.popitem(last=False)
        return wait


__all__ = ["BodyLimit", "Hardening", "RateLimiter", "error_body"]
