"""Who is looking: the session dependency every page takes, and the role check.

``Depends(current_session)`` gives the caller's :class:`~veil.ui.sessions.UISession` or sends
the browser to the login page (and back afterwards: ``next`` is only ever a path under
``/ui/``, never another site). ``Depends(need("dsr.list"))`` also checks the role holds the
permission, with the same permission table as the REST API (handed in by the host).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from veil.ui.host import sessions_of, ui_state, uses_tls
from veil.ui.problems import LoginRequired, PageProblem
from veil.ui.sessions import IDLE, LIFETIME, UISession

COOKIE = "veil_ui"
COOKIE_PATH = "/ui"

_SAFE_NEXT = re.compile(r"^/ui(/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*)?$")


def safe_next(value: str | None) -> str:
    """``value`` when it is a path on this site under /ui (no scheme, host, ``//`` or
    backslash: no open redirect), else ``/ui/``."""
    if not value or "//" in value or "\\" in value or not _SAFE_NEXT.match(value):
        return "/ui/"
    return value


def set_session_cookie(request: Request, response: Any, sid: str) -> None:
    response.set_cookie(COOKIE, sid, max_age=min(LIFETIME, 12 * 3600), path=COOKIE_PATH,
                        httponly=True, samesite="strict", secure=uses_tls(request))


def clear_session_cookie(request: Request, response: Any) -> None:
    response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict",
                           secure=uses_tls(request))


async def optional_session(request: Request) -> UISession | None:
    """The live session of the request's cookie, or None."""
    if hasattr(request.state, "ui_session"):
        found: UISession | None = request.state.ui_session
        return found
    sid = request.cookies.get(COOKIE)
    session = await run_in_threadpool(sessions_of(request).get, sid) if sid else None
    request.state.ui_session = session
    return session


async def current_session(request: Request) -> UISession:
    """The caller's session, or a redirect to the login page (and back here after it)."""
    session = await optional_session(request)
    if session is None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(safe_next(path) if request.method == "GET" else "/ui/")
    return session


def may(request: Request, session: UISession | None, permission: str | None) -> bool:
    """Whether the session's role holds ``permission`` (None: any logged-in role)."""
    if session is None:
        return False
    return permission is None or ui_state(request).allowed(session.role, permission)


def need(permission: str) -> Callable[..., Any]:
    """The dependency for a page that needs ``permission``: the session, or a 403 page."""

    async def dependency(request: Request,
                         session: Annotated[UISession, Depends(current_session)]) -> UISession:
        if not may(request, session, permission):
            raise PageProblem(403, "Not for your role",
                              f"Your role ({session.role}) may not use this page "
                              f"(it needs the permission {permission}).")
        return session

    return dependency


Session = Annotated[UISession, Depends(current_session)]

__all__ = ["COOKIE", "COOKIE_PATH", "IDLE", "Session", "clear_session_cookie", "current_session",
           "may", "need", "optional_session", "safe_next", "set_session_cookie"]
