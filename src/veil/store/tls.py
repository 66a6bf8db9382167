"""Encryption in transit: TLS settings for PostgreSQL connections and for Veil's service.

PostgreSQL. libpq's own parameters, given either in the database URL
(``postgresql://veil@db:5432/veil?sslmode=verify-full&sslrootcert=/etc/veil/ca.pem``) or in
``veil.toml``::

    [database]
    sslmode = "verify-full"          # disable | allow | prefer | require | verify-ca | verify-full
    sslrootcert = "certs/ca.pem"     # the CA that signed the server's certificate
    sslcert = "certs/client.pem"     # client certificate (when the server asks for one)
    sslkey = "certs/client.key"      # its private key (mode 0600)

Relative paths are relative to the workspace. Parameters written in the URL win over
``[database]``. `apply_database_tls` returns the URL with the settings as query parameters,
which SQLAlchemy hands to psycopg (libpq) unchanged; use ``verify-full`` in production: only it
checks both the CA and the server's host name.

Service (for the HTTP service): `ServerTLS` holds the certificate, key and optional client CA;
``ssl_context()`` builds a server ``ssl.SSLContext`` and ``uvicorn_options()`` the matching
``uvicorn.run(...)`` keyword arguments.

This module only uses the standard library (it is imported when a workspace opens).
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from veil.errors import StoreError

__all__ = ["SSLMODES", "DatabaseTLS", "ServerTLS", "TLSConfigError", "apply_database_tls"]

SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
SslMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]
_FILES = ("sslrootcert", "sslcert", "sslkey", "sslcrl")


def _resolve(value: str, root: Path | None) -> str:
    if value == "system":  # libpq >= 16: the system's trust store
        return value
    p = Path(value).expanduser()
    if not p.is_absolute() and root is not None:
        p = root / p
    return str(p)


@dataclass(frozen=True)
class DatabaseTLS:
    """libpq TLS parameters for the store's PostgreSQL connection (None: libpq's default)."""

    sslmode: SslMode | None = None
    sslrootcert: str | None = None
    sslcert: str | None = None
    sslkey: str | None = None
    sslcrl: str | None = None

    def __post_init__(self) -> None:
        if self.sslmode is not None and self.sslmode not in SSLMODES:
            raise StoreError(f"[database] sslmode = {self.sslmode!r}: use one of "
                             f"{', '.join(SSLMODES)}")
        if (self.sslcert is None) != (self.sslkey is None):
            raise StoreError("[database] sslcert and sslkey go together (give both or neither)")

    @classmethod
    def from_config(cls, table: Any, root: Path | None = None) -> DatabaseTLS:
        """From the ``[database]`` table of ``veil.toml`` (None or {} gives no settings)."""
        if table is None:
            return cls()
        if not isinstance(table, dict):
            raise StoreError("[database] must be a table")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(table) - known)
        if unknown:
            raise StoreError(f"[database] unknown setting(s): {', '.join(unknown)} "
                             f"(TLS settings: {', '.join(sorted(known))})")
        for k, v in table.items():
            if not isinstance(v, str):
                raise StoreError(f"[database] {k} must be a string")
        tls = cls(**table)
        return tls.resolved(root)

    def resolved(self, root: Path | None) -> DatabaseTLS:
        """File settings made absolute (relative to ``root``) and checked to exist."""
        changes: dict[str, Any] = {}
        for name in _FILES:
            v = getattr(self, name)
            if v is None:
                continue
            path = _resolve(v, root)
            if path != "system" and not os.path.isfile(path):
                raise StoreError(f"[database] {name}: file not found", where=path)
            changes[name] = path
        return replace(self, **changes)

    def params(self) -> dict[str, str]:
        return {f.name: getattr(self, f.name) for f in fields(self)
                if getattr(self, f.name) is not None}

    def apply(self, url: str) -> str:
        """``url`` with these settings as query parameters (those already in it win).
        Only PostgreSQL URLs take them; SQLite URLs are returned unchanged."""
        params = self.params()
        if not params:
            return url
        parts = urlsplit(url)
        if not parts.scheme.startswith("postgresql"):
            return url
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        merged = {**params, **query}
        return urlunsplit(parts._replace(query=urlencode(merged, safe="/:~")))


def apply_database_tls(url: str, table: Any, root: Path | None = None) -> str:
    """The database URL with ``veil.toml``'s ``[database]`` TLS settings applied.

    For ``Workspace.open``: ``url = apply_database_tls(url, cfg.get("database"), root)``.
    """
    return DatabaseTLS.from_config(table, root).apply(url)


# --------------------------------------------------------------------------------------------
# the service


class TLSConfigError(StoreError):
    """Service TLS settings are unusable (missing file, key does not match, ...)."""

    kind = "TLS configuration error"


ClientAuth = Literal["none", "optional", "required"]
_CERT_REQS = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL,
              "required": ssl.CERT_REQUIRED}
_VERSIONS = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}


@dataclass(frozen=True)
class ServerTLS:
    """TLS for Veil's HTTP service (``[service.tls]`` in ``veil.toml``)::

        [service.tls]
        certfile = "certs/server.pem"    # certificate chain, PEM
        keyfile = "certs/server.key"     # its private key, PEM
        client_ca = "certs/clients.pem"  # optional: CA for client certificates (mutual TLS)
        client_auth = "required"         # none | optional | required
        min_version = "TLSv1.2"          # or TLSv1.3
    """

    certfile: str
    keyfile: str
    client_ca: str | None = None
    client_auth: ClientAuth = "none"
    min_version: Literal["TLSv1.2", "TLSv1.3"] = "TLSv1.2"

    def __post_init__(self) -> None:
        if self.client_auth not in _CERT_REQS:
            raise TLSConfigError(f"client_auth = {self.client_auth!r}: none, optional or required")
        if self.min_version not in _VERSIONS:
            raise TLSConfigError(f"min_version = {self.min_version!r}: TLSv1.2 or TLSv1.3")
        if self.client_auth != "none" and not self.client_ca:
            raise TLSConfigError(f"client_auth = {self.client_auth!r} needs client_ca")

    @classmethod
    def from_config(cls, table: Any, root: Path | None = None) -> ServerTLS | None:
        """From ``[service.tls]`` (None when absent: the service then refuses to listen on
        anything but localhost, the service issue's rule)."""
        if table is None:
            return None
        if not isinstance(table, dict):
            raise TLSConfigError("[service.tls] must be a table")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(table) - known)
        if unknown:
            raise TLSConfigError(f"[service.tls] unknown setting(s): {', '.join(unknown)}")
        missing = [k for k in ("certfile", "keyfile") if k not in table]
        if missing:
            raise TLSConfigError(f"[service.tls] needs {' and '.join(missing)}")
        vals = dict(table)
        for k in ("certfile", "keyfile", "client_ca"):
            if vals.get(k) is not None:
                vals[k] = _resolve(str(vals[k]), root)
        return cls(**vals)

    def ssl_context(self) -> ssl.SSLContext:
        """A server context: the certificate and key loaded, the minimum version set, client
        certificates checked against ``client_ca`` when asked for."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = _VERSIONS[self.min_version]
        try:
            ctx.load_cert_chain(self.certfile, self.keyfile)
            if self.client_ca:
                ctx.load_verify_locations(cafile=self.client_ca)
        except FileNotFoundError as exc:
            raise TLSConfigError("file not found", where=exc.filename) from None
        except ssl.SSLError as exc:
            raise TLSConfigError(f"cannot load the certificate or key ({exc.reason})",
                                 where=self.certfile) from None
        ctx.verify_mode = _CERT_REQS[self.client_auth]
        return ctx

    def uvicorn_options(self) -> dict[str, Any]:
        """Keyword arguments for ``uvicorn.run`` / ``uvicorn.Config``."""
        opts: dict[str, Any] = {"ssl_certfile": self.certfile, "ssl_keyfile": self.keyfile,
                                "ssl_cert_reqs": int(_CERT_REQS[self.client_auth])}
        if self.client_ca:
            opts["ssl_ca_certs"] = self.client_ca
        return opts
