"""Rendering a page: one Jinja2 environment (autoescaped), the base layout's context, the times
in the DPO's time zone, and the page's security headers.

``page(request, "today.html", rows=...)`` is all a route needs: the layout finds the session
(name, role, CSRF token for forms), the links the role may open, and the policy's
``controller.timezone`` (UTC without one) on its own.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from veil.ui.nav import NAV

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"

# Scripts and styles only from /ui/static (no inline script, no CDN); forms post only here.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
HEADERS = {"content-security-policy": CSP, "x-frame-options": "DENY",
           "referrer-policy": "no-referrer", "cache-control": "no-store"}


def zone_name(request: Request) -> str:
    """The DPO's time zone: the policy's ``controller.timezone``, else UTC."""
    svc = getattr(request.app.state, "service", None)
    policy = getattr(svc, "policy", None)
    tz = getattr(getattr(policy, "controller", None), "timezone", None)
    return str(tz) if tz else "UTC"


def _parse(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, int | float):  # microseconds since the epoch, as the store keeps
        return datetime.fromtimestamp(value / 1_000_000, UTC)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def local_time(value: Any, zone: str, fmt: str = "%Y-%m-%d %H:%M %Z") -> str:
    """A time (datetime, ISO text or store microseconds) in ``zone``; '-' for none."""
    parsed = _parse(value)
    if parsed is None:
        return "-" if value in (None, "") else str(value)
    return parsed.astimezone(ZoneInfo(zone)).strftime(fmt)


def hours_left(value: Any, now: datetime | None = None) -> float | None:
    """Hours from now until a deadline (negative: overdue)."""
    parsed = _parse(value)
    if parsed is None:
        return None
    return (parsed - (now or datetime.now(UTC))).total_seconds() / 3600


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)),
                      autoescape=select_autoescape(("html",), default=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["hours_left"] = hours_left
    env.filters["number"] = lambda n: "-" if n is None else f"{n:,}"
    return env


ENV = _environment()


def page(request: Request, template: str, *, status: int = 200, **ctx: Any) -> HTMLResponse:
    """The HTML response of ``template`` with the layout's context and security headers."""
    from veil.ui.auth import may

    session = getattr(request.state, "ui_session", None)
    zone = zone_name(request)
    nav = [(item, request.url.path == item.path or (item.path != "/ui/" and request.url.path
                                                    .startswith(item.path)))
           for item in NAV if may(request, session, item.permission)]
    base = {"request": request, "session": session, "nav": nav, "zone": zone,
            "csrf": session.csrf if session is not None else "",
            "local": lambda v, fmt="%Y-%m-%d %H:%M %Z": local_time(v, zone, fmt),
            "may": lambda perm: may(request, session, perm),
            "now": datetime.now(UTC)}
    html = ENV.get_template(template).render(**{**base, **ctx})
    return HTMLResponse(html, status_code=status, headers=HEADERS)


__all__ = ["CSP", "ENV", "HEADERS", "hours_left", "local_time", "page", "zone_name"]
