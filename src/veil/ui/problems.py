"""What a page answers when it cannot show what was asked: a login redirect, or an HTML page
that says what went wrong in one line (never a traceback, never a server path)."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response


class LoginRequired(Exception):
    """No live session: go to the login page, and come back to ``next`` afterwards."""

    def __init__(self, next_path: str = "/ui/") -> None:
        super().__init__("login required")
        self.next_path = next_path


class PageProblem(Exception):
    """A page that cannot do what was asked: shown as a page with ``status`` and ``message``."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


async def login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    target = "/ui/login"
    if exc.next_path and exc.next_path != "/ui/":
        target += "?next=" + quote(exc.next_path, safe="/")
    if request.headers.get("hx-request"):  # htmx: a full page redirect, not a fragment
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


async def page_problem(request: Request, exc: Exception) -> Response:
    from veil.ui.render import page

    assert isinstance(exc, PageProblem)
    return page(request, "problem.html", status=exc.status, title=exc.title,
                message=exc.message)


HANDLERS = [(LoginRequired, login_required), (PageProblem, page_problem)]

__all__ = ["HANDLERS", "LoginRequired", "PageProblem"]
