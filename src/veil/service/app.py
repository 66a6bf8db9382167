"""The compliance service: one authenticated FastAPI app over Veil's library.

This module only assembles the app: the routers (one module per resource, ``routes_*.py``),
the exception handlers (:mod:`veil.service.exception_handlers`) and the middleware. What the
routes share is :class:`veil.service.state.Service` (its docstring says why the hot path runs
inline on SQLite); who may call what is :mod:`veil.service.auth`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI

from veil.service import (
    routes_audit,
    routes_auth,
    routes_breach,
    routes_consent,
    routes_decisions,
    routes_dsr,
    routes_health,
    routes_metrics,
    routes_policy,
    routes_recipients,
    routes_retention,
    routes_ropa,
    routes_scan,
    routes_witness,
)
from veil.service.auth import require
from veil.service.config import ServiceConfig
from veil.service.contract import committed, serve_exact_document
from veil.service.echo import NoEcho
from veil.service.exception_handlers import HANDLERS
from veil.service.middleware import BodyLimit, Hardening
from veil.service.observe import Observe
from veil.service.state import Service

# The routers, in the order the OpenAPI document lists their paths.
CORE_ROUTERS: list[APIRouter] = [
    routes_health.router, routes_auth.router, routes_consent.router, routes_audit.router,
    routes_policy.router, routes_ropa.router, routes_scan.router, routes_witness.router,
    routes_metrics.router,
]
WORKFLOW_ROUTERS: list[APIRouter] = [routes_dsr.router, routes_breach.router,
                                     routes_retention.router, routes_recipients.router,
                                     routes_decisions.router]

DESCRIPTION = (
    "Consent, data-subject requests, audit proofs, breaches, policy and records of "
    "processing over the network. Every endpoint except `/health`, `/ready`, this "
    "document and a recipient's notice acknowledgement (authenticated by the notice's own "
    "token) needs credentials (`X-API-Key` or `Authorization: Bearer`); each names "
    "the permission it needs in `x-permission`. Subject ids travel only in request "
    "bodies; responses name subjects by keyed pseudonym.")


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    if app.state.service is not None:  # runs whose holder died: as every CLI command does
        _recover(app.state.service.workspace)
    yield
    if app.state.service is not None:
        await app.state.service.close()
    if getattr(app.state, "tracing", None) is not None:
        app.state.tracing.shutdown()  # sends the spans still batched


def _recover(workspace: Any) -> None:
    """Roll back or finish the runs whose holder is gone (`veil.pipeline.recovery`); a
    failure here never stops the service (`veil doctor` reports it)."""
    import logging

    from veil.pipeline.recovery import recover_stale_runs

    try:
        for r in recover_stale_runs(workspace):
            logging.getLogger("veil.service").warning("recovered %s", r.line())
    except Exception as exc:  # noqa: BLE001
        logging.getLogger("veil.service").warning("run recovery failed: %s",
                                                  type(exc).__name__)


def _add_middleware(app: FastAPI, config: ServiceConfig | None) -> None:
    if config is not None and config.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(config.cors_origins),
                           allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "X-API-Key", "Content-Type"],
                           allow_credentials=False)
    defaults = ServiceConfig(workspace=Path("."))
    app.add_middleware(BodyLimit,
                       limit=(config or defaults).max_body_bytes,
                       upload_limit=(config or defaults).max_upload_bytes,
                       upload_paths=frozenset({routes_scan.SCAN_PATH}))
    app.add_middleware(NoEcho)  # error answers never repeat the request's values
    app.add_middleware(Hardening, hsts=bool(config is not None and config.tls is not None))
    app.add_middleware(Observe, state=app.state)  # request id, access log, metrics, traces


def build_app(service: Service | None, *, extra_routers: list[APIRouter] | None = None
              ) -> FastAPI:
    """The FastAPI app over ``service`` (None: routes only, e.g. for the OpenAPI document).
    ``extra_routers`` replaces the workflow routers (data-subject requests, breaches)."""
    import veil

    app = FastAPI(
        title="Veil compliance service", version=veil.__version__, description=DESCRIPTION,
        docs_url=None, redoc_url=None, openapi_url="/openapi.json", lifespan=_lifespan)
    app.state.service = service
    app.state.metrics = app.state.tracing = None
    if service is not None:
        from veil.service import metrics
        from veil.service.tracing import Tracing

        app.state.metrics = metrics.Metrics(service.workspace) if metrics.available() else None
        app.state.tracing = Tracing.from_env()
    for router in [*CORE_ROUTERS, *(WORKFLOW_ROUTERS if extra_routers is None
                                     else extra_routers)]:
        app.include_router(router)
    for exc_class, handler in HANDLERS:
        app.add_exception_handler(exc_class, handler)
    from veil.service.roles import allowed
    from veil.ui import mount as mount_ui

    mount_ui(app, allowed=allowed)  # the DPO's pages under /ui/ (same store, same roles)
    _add_middleware(app, service.config if service is not None else None)
    if service is not None:  # the served document names the policy's purposes
        serve_exact_document(app, service.policy)
    return app


def create_app(config: ServiceConfig | None = None, **settings: Any) -> FastAPI:
    """The service app over a workspace: ``create_app(ServiceConfig.load(root, policy=...))``,
    or ``create_app(workspace=root, policy=...)``."""
    if config is None:
        workspace = settings.pop("workspace", None)
        if workspace is None:
            from veil.store.workspace import Workspace

            with Workspace.find() as ws:
                workspace = ws.root
        config = ServiceConfig.load(Path(workspace), **settings)
    elif settings:
        raise TypeError("give a ServiceConfig or settings, not both")
    return build_app(Service(config))


def openapi_document() -> dict[str, Any]:
    """The service's OpenAPI document (committed as docs/openapi.json)."""
    doc: dict[str, Any] = committed(build_app(None).openapi())
    return doc


__all__ = ["Service", "build_app", "create_app", "openapi_document", "require"]
