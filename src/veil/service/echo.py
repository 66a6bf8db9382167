"""No error answer repeats what the request sent (:class:`NoEcho`).

A reflected value is how an error page becomes a cross-site script, how a path like
``../../etc/passwd`` or a subject id lands in a client's log, and how a probe learns what the
server did with its input. The library's messages quote values on purpose (the CLI's user
wants to see the bad value); the service takes them out of every error body at one place, so
no route can forget: each string of the error body loses every value of the request (path
parameters, query values, the JSON body's leaf values, and keys that do not read as field
names), quoted or not, and a quoted part that is the start of a value (a message cuts long
values). Values under 4 characters go only where quoted (inside a word they are harmless and
taking them out would garble the message). What the caller sent is theirs to see; ``where``
names the field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

from veil.service.middleware import ASGIApp, Message, Receive, Scope, Send

GONE = "…"
_MIN_RAW = 4  # shorter values are taken out where quoted, not inside any word
_QUOTED = re.compile(r"""'([^'\n]{1,400})'|"([^"\n]{1,400})\"""")
_KEEP_BODY = 1 << 21  # JSON bodies up to this size are kept for scrubbing an error answer
# A key that reads as a field name is a name, not a value: kept ("body.admin: unknown field").
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,63}$")


def _leaves(obj: Any, out: set[str], depth: int = 0) -> None:
    if depth > 64 or len(out) > 10_000:
        return
    if isinstance(obj, dict):
        for k, v in obj.items():
            if not _NAME.match(str(k)):
                out.add(str(k))
            _leaves(v, out, depth + 1)
    elif isinstance(obj, list):
        for v in obj:
            _leaves(v, out, depth + 1)
    elif isinstance(obj, bool) or obj is None:
        return
    else:
        out.add(str(obj))
        if isinstance(obj, float) and obj.is_integer():
            out.add(str(int(obj)))


def request_values(query: bytes, path_params: dict[str, Any] | None,
                   body: bytes | None) -> set[str]:
    """Every value a request carried: query values, path parameters, the JSON body's leaves,
    and keys that do not read as field names (a body that is not JSON adds nothing)."""
    out: set[str] = set()
    for k, v in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        out.update((k, v) if not _NAME.match(k) else (v,))
    for v in (path_params or {}).values():
        out.add(str(v))
    if body:
        try:
            _leaves(json.loads(body), out)
        except (ValueError, RecursionError):
            pass
    out.discard("")
    return out


def scrub(text: str, values: Iterable[str]) -> str:
    """``text`` without any of ``values``: quoted forms (``'v'``, ``"v"``, ``repr``) and a
    quoted start of a value become ``'…'``; a value of 4 or more characters anywhere
    becomes ``…``."""
    vals = sorted({v for v in values if v}, key=len, reverse=True)
    if not vals or not text:
        return text

    def quoted(m: re.Match[str]) -> str:
        inner = m.group(1) if m.group(1) is not None else m.group(2)
        q = m.group(0)[0]
        for v in vals:
            if inner == v or (len(inner) >= 8 and v.startswith(inner)) \
                    or inner == repr(v)[1:-1] \
                    or (len(v) >= _MIN_RAW and v in inner):
                return f"{q}{GONE}{q}"
        return m.group(0)

    text = _QUOTED.sub(quoted, text)
    for v in vals:
        if len(v) < _MIN_RAW:
            break
        for form in {v, repr(v)[1:-1], json.dumps(v)[1:-1]}:
            if form in text:
                text = text.replace(form, GONE)
    return text


def scrub_json(obj: Any, values: set[str]) -> Any:
    """Every string (and key) of a JSON value scrubbed."""
    if isinstance(obj, str):
        return scrub(obj, values)
    if isinstance(obj, list):
        return [scrub_json(v, values) for v in obj]
    if isinstance(obj, dict):
        return {scrub(k, values): scrub_json(v, values) for k, v in obj.items()}
    return obj


class NoEcho:
    """ASGI: JSON error answers (status 400 and up) lose every value of the request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        kept = 0

        async def keep() -> Message:
            nonlocal kept
            msg = await receive()
            if msg["type"] == "http.request" and kept <= _KEEP_BODY:
                body = msg.get("body", b"")
                kept += len(body)
                chunks.append(body)
            return msg

        start: Message | None = None
        parts: list[bytes] = []

        async def answer(msg: Message) -> None:
            nonlocal start
            if msg["type"] == "http.response.start":
                headers = dict(msg.get("headers", []))
                if msg["status"] >= 400 and headers.get(b"content-type", b"").startswith(
                        b"application/json"):
                    start = msg
                    return
            elif msg["type"] == "http.response.body" and start is not None:
                parts.append(msg.get("body", b""))
                if msg.get("more_body"):
                    return
                await self._send_scrubbed(send, scope, start, b"".join(parts),
                                          b"".join(chunks) if kept <= _KEEP_BODY else None)
                return
            await send(msg)

        await self.app(scope, keep, answer)

    @staticmethod
    async def _send_scrubbed(send: Send, scope: Scope, start: Message, data: bytes,
                             body: bytes | None) -> None:
        values = request_values(scope.get("query_string", b""), scope.get("path_params"), body)
        if values:
            try:
                data = json.dumps(scrub_json(json.loads(data), values)).encode()
            except ValueError:
                pass
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(data)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": data})


__all__ = ["GONE", "NoEcho", "request_values", "scrub", "scrub_json"]
