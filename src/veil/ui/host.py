"""What the pages need from the app that serves them, handed in by whoever mounts them.

The UI is an interface beside the REST service, not above it: it imports nothing from
``veil.service``. The service's app mounts the pages (:func:`veil.ui.mount`) and hands in its
permission check; the pages read the service state (``app.state.service``) through the small
:class:`Host` protocol below: the workspace, the policy, the audit log, the TLS setting, and
the API-key check the REST routes use, so a key opens the same role here as there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from fastapi import HTTPException, Request

if TYPE_CHECKING:  # pragma: no cover
    from veil.ui.sessions import SessionStore


class Principal(Protocol):
    key_id: str
    role: str
    name: str

    @property
    def actor(self) -> str: ...


class Host(Protocol):
    """The service state the pages use (``veil.service.state.Service`` is one)."""

    workspace: Any
    policy: Any
    audit: Any
    config: Any

    async def authenticate(self, presented: str) -> Principal: ...


@dataclass
class UIState:
    """What :func:`veil.ui.mount` leaves on ``app.state.ui``."""

    allowed: Callable[[str, str], bool]  # (role, permission) -> may it
    stores: dict[int, SessionStore] = field(default_factory=dict)


def host_of(request: Request) -> Host:
    svc = getattr(request.app.state, "service", None)
    if svc is None:
        raise HTTPException(503, "the service has no workspace")
    host: Host = svc
    return host


def ui_state(request: Request) -> UIState:
    state: UIState = request.app.state.ui
    return state


def sessions_of(request: Request) -> SessionStore:
    """The session store of the served workspace (one per workspace, made on first use)."""
    from veil.ui.sessions import SessionStore

    host, state = host_of(request), ui_state(request)
    store = state.stores.get(id(host.workspace))
    if store is None:
        store = state.stores[id(host.workspace)] = SessionStore(host.workspace)
    return store


def uses_tls(request: Request) -> bool:
    config = getattr(host_of(request), "config", None)
    return getattr(config, "tls", None) is not None or request.url.scheme == "https"


__all__ = ["Host", "Principal", "UIState", "host_of", "sessions_of", "ui_state", "uses_tls"]
