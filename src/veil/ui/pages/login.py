"""Logging in and out: with an API key (the same keys and roles as the REST API), or with a
one-time link that ``veil ui`` prints. Every login, refused login and logout is an audit event.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from veil.errors import VeilError
from veil.ui import trail
from veil.ui.auth import (
    COOKIE,
    clear_session_cookie,
    optional_session,
    safe_next,
    set_session_cookie,
)
from veil.ui.csrf import CheckedForm, check_login_form, login_token, set_login_cookie
from veil.ui.host import host_of, sessions_of
from veil.ui.problems import PageProblem
from veil.ui.render import page

router = APIRouter()


def _login_page(request: Request, next_path: str, error: str | None = None,
                status: int = 200) -> Response:
    token = login_token(request)
    response = page(request, "login.html", status=status, next=safe_next(next_path),
                    error=error, login_csrf=token)
    set_login_cookie(request, response, token)
    return response


@router.get("/login")
async def login_form(request: Request,
                     next: Annotated[str | None, Query(max_length=2000)] = None) -> Response:
    # Always the form, even with a live session: logging in replaces that session, so a
    # session planted in the browser by someone else is never kept by a redirect.
    await optional_session(request)
    return _login_page(request, next or "/ui/")


def _throttled(request: Request) -> bool:
    """The service's limit on failed authentications per client address, when it has one."""
    failures = getattr(host_of(request), "failures", None)
    client = request.client.host if request.client else "unknown"
    return bool(failures is not None and failures.take(client))


@router.post("/login")
async def login(request: Request) -> Response:
    form = await request.form()
    check_login_form(request, form)
    next_path = safe_next(str(form.get("next") or "/ui/"))
    key = str(form.get("key") or "").strip()
    try:
        principal = await host_of(request).authenticate(key)
    except VeilError:
        if _throttled(request):
            raise PageProblem(429, "Too many attempts", "Too many failed logins from this "
                              "address: wait a minute and try again.") from None
        await trail.record(request, "ui:anonymous", "ui.login", outcome="denied",
                           details={"method": "api-key"})
        return _login_page(request, next_path, "That API key is not valid (unknown, "
                           "revoked or expired).", status=401)
    sid, session = await run_in_threadpool(
        sessions_of(request).create, actor=principal.actor, role=principal.role,
        via="api-key", key_id=principal.key_id, replaces=request.cookies.get(COOKIE))
    await trail.record(request, session.actor, "ui.login",
                       details={"method": "api-key", "role": session.role,
                                "session": session.ref})
    response = RedirectResponse(next_path, status_code=303)
    set_session_cookie(request, response, sid)
    return response


@router.get("/login/link")
async def login_link(request: Request,
                     token: Annotated[str | None, Query(max_length=100)] = None) -> Response:
    """Spend a one-time link from ``veil ui`` and open a session (the token is not logged:
    the access log names the route, never the query)."""
    store = sessions_of(request)
    spent = await run_in_threadpool(store.spend_link, token)
    if spent is None:
        await trail.record(request, "ui:anonymous", "ui.login", outcome="denied",
                           details={"method": "link"})
        return _login_page(request, "/ui/", "That login link is not valid: it was used "
                           "already, or it expired. Run `veil ui` again for a new one.",
                           status=401)
    actor, role = spent
    sid, session = await run_in_threadpool(store.create, actor=actor, role=role, via="link",
                                           replaces=request.cookies.get(COOKIE))
    await trail.record(request, session.actor, "ui.login",
                       details={"method": "link", "role": role, "session": session.ref})
    response = RedirectResponse("/ui/", status_code=303)
    set_session_cookie(request, response, sid)
    return response


@router.post("/logout")
async def logout(request: Request, form: CheckedForm) -> Response:
    session = await optional_session(request)
    assert session is not None  # checked_form required it
    await run_in_threadpool(sessions_of(request).end, session.sid_hash)
    await trail.record(request, session.actor, "ui.logout", details={"session": session.ref})
    response = RedirectResponse("/ui/login", status_code=303)
    clear_session_cookie(request, response)
    return response


__all__ = ["router"]
