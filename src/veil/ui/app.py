"""The pages' router: every page module's routes under ``/ui``, and the vendored assets.

This module only assembles. To add a page: a module in ``veil/ui/pages/`` with a ``router``,
its template in ``templates/``, one line in :data:`PAGES` and a row in ``veil.ui.nav.NAV``
(docs/ui.md, "Adding a page").
"""

from __future__ import annotations

import mimetypes

from fastapi import APIRouter, HTTPException
from fastapi.responses import RedirectResponse, Response

from veil.ui.pages import breaches, consent, decisions, login, records, requests, runs, today
from veil.ui.render import HERE

STATIC = (HERE / "static").resolve()

# The page modules, in the order of the navigation bar (R2b: consent, runs, records, decisions).
PAGES = [login, today, requests, breaches, consent, runs, records, decisions]

_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml",
          ".png": "image/png", ".txt": "text/plain"}


def static_file(path: str) -> Response:
    """A file under ``veil/ui/static`` (nothing outside it; no directory listing)."""
    target = (STATIC / path).resolve()
    if not target.is_file() or not target.is_relative_to(STATIC):
        raise HTTPException(404, "no such asset")
    kind = _TYPES.get(target.suffix) or mimetypes.guess_type(target.name)[0] or "text/plain"
    return Response(target.read_bytes(), media_type=kind,
                    headers={"cache-control": "public, max-age=3600",
                             "x-content-type-options": "nosniff"})


def build_router() -> APIRouter:
    """Every page and the assets, under ``/ui`` (left out of the OpenAPI document)."""
    router = APIRouter(prefix="/ui", include_in_schema=False)

    @router.get("")
    async def ui_root() -> Response:
        return RedirectResponse("/ui/", status_code=307)

    @router.get("/static/{path:path}")
    async def static(path: str) -> Response:
        return static_file(path)

    for module in PAGES:
        router.include_router(module.router)
    return router


__all__ = ["PAGES", "STATIC", "build_router", "static_file"]
