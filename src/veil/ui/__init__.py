"""The DPO's web pages (``/ui/`` of ``veil serve``; ``veil ui`` on one's own machine).

Server-rendered HTML over the same library functions the CLI and the REST API call, with the
same store and the same roles: :func:`mount` adds the pages to the service's app, which hands in
its permission check (the UI imports nothing from ``veil.service``: see :mod:`veil.ui.host`).
A page is a route that takes the session (``Session`` or ``Depends(need(permission))``), calls
the library and returns ``page(request, "template.html", **values)``; docs/ui.md says how to
add one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from veil.ui.auth import Session, need
from veil.ui.csrf import CheckedForm
from veil.ui.render import page
from veil.ui.sessions import SessionStore, UISession


def mount(app: Any, *, allowed: Callable[[str, str], bool]) -> None:
    """Add the pages under ``/ui`` to ``app`` (a FastAPI app whose ``state.service`` is the
    workspace's service); ``allowed(role, permission)`` is the role check of the REST API."""
    from veil.ui.app import build_router
    from veil.ui.host import UIState
    from veil.ui.problems import HANDLERS

    app.state.ui = UIState(allowed=allowed)
    app.include_router(build_router())
    for exc_class, handler in HANDLERS:
        app.add_exception_handler(exc_class, handler)


__all__ = ["CheckedForm", "Session", "SessionStore", "UISession", "mount", "need", "page"]
