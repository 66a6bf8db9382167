"""How errors are answered: one JSON error body (``error_body``) for every failure, a status
per error family (:data:`STATUS`, a rule table), never a server file path or a traceback."""

from __future__ import annotations

import logging
import traceback
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
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
from veil.service.apikeys import AuthError
from veil.service.auth import admit, permission_of, presented_credential
from veil.service.middleware import error_body
from veil.service.models import PATTERN_MESSAGES

log = logging.getLogger("veil.service")

# The HTTP status of each error family, first match wins (anything else: 422).
STATUS: list[tuple[type[VeilError], int]] = [
    (AuthError, 401), (NotFoundError, 404), (ConflictError, 409), (InputError, 422),
    (PolicyError, 422), (ConsentError, 422),
    (AuditError, 422), (RunRefused, 409), (CryptoError, 422), (StoreError, 503),
]

# The error kind an HTTP status is answered with (anything else: "error").
HTTP_KINDS: dict[int, str] = {401: "authentication error", 403: "permission denied",
                              404: "not found", 413: "input error", 429: "rate limited"}


def _field_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    out = []
    for e in exc.errors()[:20]:
        loc = ".".join(str(p) for p in e.get("loc", ()))
        msg = str(e.get("msg", "invalid"))
        if e.get("type") == "extra_forbidden":
            msg = "unknown field"
        elif e.get("type") == "string_pattern_mismatch":  # words, not the regular expression
            msg = PATTERN_MESSAGES.get(str((e.get("ctx") or {}).get("pattern")), msg)
        out.append({"field": loc or "body", "message": msg, "type": str(e.get("type"))})
    return out


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


async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 naming the first invalid field; 400 for malformed JSON, after authentication."""
    bad_json = next((e for e in exc.errors() if e.get("type") == "json_invalid"), None)
    if bad_json is not None:
        # FastAPI parses the body before the route's dependencies run: authenticate (and
        # authorize) here, so a caller without credentials learns nothing but 401.
        try:
            await admit(request, presented_credential(request), permission_of(request))
        except StarletteHTTPException as denied:
            return await http_error(request, denied)
        except VeilError as failed:  # the store is down
            return await veil_error(request, failed)
        return JSONResponse(error_body(400, "input error", _json_position(bad_json, exc),
                                       where="body"), status_code=400)
    fields = _field_errors(exc)
    n = len(exc.errors())
    first = fields[0] if fields else {"field": "body", "message": "invalid"}
    more = f" (and {n - 1} more)" if n > 1 else ""
    return JSONResponse(error_body(422, "input error",
                                   f"{first['field']}: {first['message']}{more}",
                                   where=first["field"], fields=fields), status_code=422)


async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    kind = HTTP_KINDS.get(exc.status_code, "error")
    return JSONResponse(error_body(exc.status_code, kind, str(exc.detail)),
                        status_code=exc.status_code, headers=getattr(exc, "headers", None))


async def veil_error(request: Request, exc: VeilError) -> JSONResponse:
    status = next((s for cls, s in STATUS if isinstance(exc, cls)), 422)
    if status == 503:
        log.error("store unavailable: %s", exc.message[:300])
    svc = request.app.state.service
    message, where = exc.message, exc.where
    if svc is not None:  # never a server file path in an answer
        message, where = svc.scrub(message) or "", svc.scrub(where)
    return JSONResponse(error_body(status, exc.kind, message, where=where),
                        status_code=status,
                        headers={"WWW-Authenticate": "Bearer"} if status == 401 else None)


async def internal_error(request: Request, exc: Exception) -> JSONResponse:
    # The type and the frames only: an exception's message may quote data.
    frames = traceback.extract_tb(exc.__traceback__)[-3:]
    at = "; ".join(f"{Path(f.filename).name}:{f.lineno} in {f.name}" for f in frames)
    log.error("internal error: %s at %s", type(exc).__name__, at)
    return JSONResponse(error_body(500, "internal error", "internal error (a bug: the "
                                   "service log has its place)"), status_code=500)


# What app.py registers: each exception family and the handler that answers it.
HANDLERS: list[tuple[type[Exception], Any]] = [
    (RequestValidationError, invalid_request),
    (StarletteHTTPException, http_error),
    (VeilError, veil_error),
    (Exception, internal_error),
]

__all__ = ["HANDLERS", "HTTP_KINDS", "STATUS", "http_error", "internal_error",
           "invalid_request", "veil_error"]
