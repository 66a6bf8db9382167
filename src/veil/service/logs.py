"""Structured logs: one JSON object per line, each carrying the request id it was written for.

``veil serve --log-format json`` (or ``[service] log_format = "json"``) formats every record of
the service as JSON: ``time`` (RFC 3339, UTC, milliseconds), ``level``, ``logger``,
``message``, ``request_id`` (when written while serving a request) and, on the access log, the
request's ``method``, ``route`` (the template, ``/v1/dsr/{request_id}``: never the raw path
with its ids), ``status``, ``duration_ms``, ``role`` and ``key_id``. Fields are a fixed list:
nothing from a record's free-form extras, and the service never logs bodies, query strings or
subject ids, so no line holds personal data.
"""

from __future__ import annotations

import contextvars
import json
import logging
import time
from typing import Any

#: The request id of the request being served (set by :class:`veil.service.observe.Observe`).
REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "veil_request_id", default=None)

# The fields an access-log record carries (``extra=``), in the order they are written.
ACCESS_FIELDS = ("method", "route", "status", "duration_ms", "role", "key_id", "trace_id")


class RequestIdFilter(logging.Filter):
    """Stamps every record with the current request id (``-`` outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines in messages are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": _rfc3339_ms(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None) or REQUEST_ID.get()
        if rid and rid != "-":
            out["request_id"] = rid
        for name in ACCESS_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                out[name] = value
        if record.exc_info and record.exc_info[0] is not None:
            out["error"] = record.exc_info[0].__name__  # the type only: a message may quote data
        return json.dumps(out, ensure_ascii=False, separators=(",", ":"))


def _rfc3339_ms(created: float) -> str:
    whole = int(created)
    ms = int((created - whole) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{ms:03d}Z"


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"
LOG_FORMATS = ("text", "json")


def formatter_config(log_format: str) -> dict[str, Any]:
    """The ``formatters`` entry of a :func:`logging.config.dictConfig` for ``log_format``."""
    if log_format == "json":
        return {"()": f"{__name__}.JsonFormatter"}
    return {"format": TEXT_FORMAT}


__all__ = ["ACCESS_FIELDS", "LOG_FORMATS", "REQUEST_ID", "JsonFormatter", "RequestIdFilter",
           "formatter_config"]
