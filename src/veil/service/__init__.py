"""The compliance service: Veil's library over an authenticated REST API (``veil serve``).

::

    from veil.service import ApiKeyStore, ServiceConfig, create_app
    key, secret = ApiKeyStore(workspace).create("service", "web-app", created_by="ops")
    app = create_app(ServiceConfig.load(workspace.root, policy="policy.yaml"))

See ``docs/service.md`` (roles and the permission matrix, hardening, TLS).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from veil._lazy import lazy_exports

_EXPORTS = {
    "ApiKey": "veil.service.apikeys",
    "ApiKeyStore": "veil.service.apikeys",
    "AuthError": "veil.service.apikeys",
    "Principal": "veil.service.apikeys",
    "ServiceConfig": "veil.service.config",
    "create_app": "veil.service.app",
    "openapi_document": "veil.service.app",
    "serve": "veil.service.server",
    "ROLES": "veil.service.roles",
    "PERMISSIONS": "veil.service.roles",
    "ROLE_PERMISSIONS": "veil.service.roles",
    "matrix_markdown": "veil.service.roles",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:  # pragma: no cover
    from veil.service.apikeys import ApiKey, ApiKeyStore, AuthError, Principal  # noqa: F401
    from veil.service.app import create_app, openapi_document  # noqa: F401
    from veil.service.config import ServiceConfig  # noqa: F401
    from veil.service.roles import (  # noqa: F401
        PERMISSIONS,
        ROLE_PERMISSIONS,
        ROLES,
        matrix_markdown,
    )
    from veil.service.server import serve  # noqa: F401
