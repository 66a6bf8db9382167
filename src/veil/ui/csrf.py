"""CSRF protection of every form: a random token per session, in a hidden field of each form
(or the ``X-CSRF-Token`` header htmx sends), compared in constant time before any change.

The session cookie is ``SameSite=Strict`` too, so a cross-site form would not carry it; the
token is the second wall (older browsers, same-site subdomains). The login form, before any
session exists, uses a double-submit token: a random cookie and the same value in the form.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.datastructures import FormData

from veil.ui.auth import current_session
from veil.ui.host import uses_tls
from veil.ui.problems import PageProblem
from veil.ui.sessions import UISession

FIELD = "csrf"
HEADER = "x-csrf-token"
LOGIN_COOKIE = "veil_ui_login"

REFUSED = ("Form refused", "This form has no valid security token (it may be stale, or "
           "sent from another site). Reload the page and try again; nothing was changed.")


def _same(given: str | None, expected: str) -> bool:
    return bool(given) and hmac.compare_digest(str(given).encode(), expected.encode())


async def checked_form(request: Request,
                       session: Annotated[UISession, Depends(current_session)]) -> FormData:
    """The form of a POST whose CSRF token matches the session's; else a 403 page."""
    form = await request.form()
    given = form.get(FIELD) or request.headers.get(HEADER)
    if not isinstance(given, str) or not _same(given, session.csrf):
        raise PageProblem(403, *REFUSED)
    return form


def login_token(request: Request) -> str:
    """The login form's token: the one the browser's cookie holds, or a new one."""
    return request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)


def set_login_cookie(request: Request, response: Any, token: str) -> None:
    response.set_cookie(LOGIN_COOKIE, token, max_age=3600, path="/ui/login", httponly=True,
                        samesite="strict", secure=uses_tls(request))


def check_login_form(request: Request, form: FormData) -> None:
    cookie = request.cookies.get(LOGIN_COOKIE)
    given = form.get(FIELD)
    if not cookie or not isinstance(given, str) or not _same(given, cookie):
        raise PageProblem(403, *REFUSED)


CheckedForm = Annotated[FormData, Depends(checked_form)]

__all__ = ["FIELD", "HEADER", "LOGIN_COOKIE", "CheckedForm", "check_login_form", "checked_form",
           "login_token", "set_login_cookie"]
