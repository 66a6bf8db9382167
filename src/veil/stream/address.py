"""Where a stream is: ``nats://HOST:PORT/STREAM[/SUBJECT]``, parsed once, checked early."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from veil.errors import InputError

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,200}$")  # JetStream stream and consumer names
_SUBJECT = re.compile(r"^[^\s/]{1,255}$")


@dataclass(frozen=True)
class StreamAddress:
    server: str  # nats://host:port
    stream: str
    subject: str | None  # a filter subject inside the stream (None: all of it)

    @property
    def url(self) -> str:
        return f"{self.server}/{self.stream}" + (f"/{self.subject}" if self.subject else "")


def parse_address(text: str) -> StreamAddress:
    """``nats://127.0.0.1:4222/ORDERS/orders.new`` -> server, stream ``ORDERS``, subject."""
    parts = urlsplit(text)
    if parts.scheme != "nats" or not parts.hostname:
        raise InputError("a stream source is nats://HOST:PORT/STREAM[/SUBJECT], e.g. "
                         "nats://127.0.0.1:4222/ORDERS/orders.new", where=text[:200])
    stream, _, subject = parts.path.lstrip("/").partition("/")
    if not _NAME.match(stream):
        raise InputError("the stream name (letters, digits, '-' and '_') is missing or invalid",
                         where=text[:200])
    if subject and not _SUBJECT.match(subject):
        raise InputError(f"invalid subject '{subject[:80]}'", where=text[:200])
    port = parts.port or 4222
    return StreamAddress(f"nats://{parts.hostname}:{port}", stream, subject or None)


def check_name(name: str, what: str) -> str:
    if not _NAME.match(name):
        raise InputError(f"invalid {what} '{name[:80]}' (letters, digits, '-' and '_')")
    return name
