"""The service's settings: ``[service]`` in ``veil.toml``, overridden by ``veil serve`` options.

::

    [service]
    host = "127.0.0.1"
    port = 8600
    policy = "policy.yaml"            # the policy in force (consent purposes, ROPA)
    max_body_bytes = 1048576          # JSON bodies (413 beyond)
    max_upload_bytes = 33554432       # uploaded files to scan (413 beyond)
    rate_limit = 100                  # requests per second per key (token bucket; 0: off)
    rate_burst = 100                  # bucket size (default: one second's worth of rate_limit)
    cors_origins = []                 # CORS is off unless origins are listed
    token_minutes = 15                # lifetime of bearer tokens from POST /v1/auth/token
    log_format = "text"               # or "json": one JSON object per line (veil.service.logs)
    metrics_port = 9600               # optional: /metrics without credentials on 127.0.0.1 only

    [service.tls]                     # see veil.store.tls.ServerTLS
    certfile = "certs/server.pem"
    keyfile = "certs/server.key"

Without ``[service.tls]`` the service listens only on a loopback address (put it behind a TLS
terminating proxy, or give it certificates).
"""

from __future__ import annotations

import ipaddress
import math
import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from veil.errors import InputError, StoreError
from veil.policy.loader import policy_path
from veil.store.tls import ServerTLS, TLSConfigError

_INTS = {"port": (1, 65535), "max_body_bytes": (1024, 1 << 30),
         "max_upload_bytes": (1024, 1 << 34), "token_minutes": (1, 720)}


@dataclass(frozen=True)
class ServiceConfig:
    """Everything :func:`veil.service.create_app` and :func:`veil.service.serve` need."""

    workspace: Path
    policy: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8600
    max_body_bytes: int = 1 << 20
    max_upload_bytes: int = 32 << 20
    rate_limit: float = 100.0
    rate_burst: int | None = None  # None: one second's worth of rate_limit (see ``burst``)
    cors_origins: tuple[str, ...] = ()
    token_minutes: int = 15
    tls: ServerTLS | None = None
    log_format: str = "text"
    metrics_port: int | None = None  # a separate loopback bind for Prometheus (no credentials)
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._check_numbers()
        self._check_ops()
        self._check_tls_files()
        self._check_origins()

    def _check_ops(self) -> None:
        if self.log_format not in ("text", "json"):
            raise InputError("[service] log_format must be \"text\" or \"json\"")
        p = self.metrics_port
        if p is not None and (isinstance(p, bool) or not isinstance(p, int)
                              or not 1 <= p <= 65535 or p == self.port):
            raise InputError("[service] metrics_port must be a port in 1..65535 other than "
                             "the service's port")

    def _check_numbers(self) -> None:
        for name, (lo, hi) in _INTS.items():
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise InputError(f"[service] {name} must be a whole number in {lo}..{hi}")
        if isinstance(self.rate_limit, bool) or not isinstance(self.rate_limit, int | float) \
                or not 0 <= self.rate_limit <= 1_000_000:
            raise InputError("[service] rate_limit must be a number of requests per second "
                             "(0 turns rate limiting off)")
        b = self.rate_burst
        if b is not None and (isinstance(b, bool) or not isinstance(b, int)
                              or not 1 <= b <= 1_000_000):
            raise InputError("[service] rate_burst must be a whole number in 1..1000000 (the "
                             "requests a key may send at once)")

    def _check_tls_files(self) -> None:
        """The certificate files exist (fails here, with the file named, not mid-handshake)."""
        if self.tls is None:
            return
        for name in ("certfile", "keyfile", "client_ca"):
            path = getattr(self.tls, name, None)
            if path and not os.path.isfile(path):
                raise TLSConfigError(f"TLS {name}: file not found", where=str(path))

    def _check_origins(self) -> None:
        for o in self.cors_origins:
            if not isinstance(o, str) or not (o.startswith("https://") or o.startswith("http://")):
                raise InputError(f"[service] cors_origins: '{str(o)[:60]}' is not an origin "
                                 "like https://app.example-bank.eu")

    @property
    def burst(self) -> int:
        """The bucket size: ``rate_burst``, else one second's worth of ``rate_limit`` (at
        least 1), so ``rate_limit = 5`` allows 5 requests at once, not 200."""
        if self.rate_burst is not None:
            return self.rate_burst
        return max(1, math.ceil(self.rate_limit))

    @property
    def loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    def check_listen(self) -> None:
        """Refuse plain HTTP on a non-loopback address: personal data must not cross a network
        unencrypted."""
        if self.tls is None and not self.loopback:
            raise InputError(f"refusing to serve plain HTTP on {self.host}: give [service.tls] "
                             "certificates (or --certfile/--keyfile), or listen on 127.0.0.1 "
                             "behind a TLS-terminating proxy")

    @classmethod
    def load(cls, workspace: Path, **overrides: Any) -> ServiceConfig:
        """``[service]`` of the workspace's ``veil.toml``, then ``overrides`` (None: not given)."""
        root = Path(workspace).resolve()
        cfg_path = root / "veil.toml"
        table = _service_table(cfg_path, root)
        tls_table = table.pop("tls", None)
        known = {f.name for f in fields(cls)} - {"workspace", "tls", "extra"}
        unknown = sorted(set(table) - known)
        if unknown:
            raise InputError(f"[service] unknown setting(s): {', '.join(unknown)} (known: "
                             f"{', '.join(sorted(known))})", where=str(cfg_path))
        values = _table_values(table, cfg_path, root)
        tls = ServerTLS.from_config(tls_table, root) if tls_table is not None else None
        config = cls(workspace=root, tls=tls, **values)
        given = _given(overrides)
        return replace(config, **given) if given else config


def _service_table(cfg_path: Path, root: Path) -> dict[str, Any]:
    """``[service]`` of the workspace's ``veil.toml`` (a copy: the caller may pop from it)."""
    try:
        cfg = tomllib.loads(cfg_path.read_text("utf-8"))
    except FileNotFoundError:
        raise StoreError("not a Veil workspace (no veil.toml)", where=str(root)) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise StoreError(f"invalid workspace config: {exc}", where=str(cfg_path)) from None
    table = dict(cfg.get("service") or {})
    if not isinstance(table, dict):
        raise InputError("[service] must be a table", where=str(cfg_path))
    return table


def _table_values(table: dict[str, Any], cfg_path: Path, root: Path) -> dict[str, Any]:
    """The settings of ``[service]`` as ServiceConfig takes them (a tuple of origins, the
    policy as a path relative to the workspace)."""
    values: dict[str, Any] = dict(table)
    if "cors_origins" in values:
        if not isinstance(values["cors_origins"], list):
            raise InputError("[service] cors_origins must be a list", where=str(cfg_path))
        values["cors_origins"] = tuple(values["cors_origins"])
    if "policy" in values:
        if not isinstance(values["policy"], str):
            raise InputError("[service] policy must be a path", where=str(cfg_path))
        values["policy"] = _path(values["policy"], root)
    return values


def _given(overrides: dict[str, Any]) -> dict[str, Any]:
    """The overrides given (None: not given); a policy of "sample" is the bundled one."""
    given = {k: v for k, v in overrides.items() if v is not None}
    if "policy" in given:
        given["policy"] = policy_path(given["policy"])
    return given


def _path(value: str, root: Path) -> Path:
    p = policy_path(value).expanduser()
    return p if p.is_absolute() else root / p


__all__ = ["ServiceConfig"]
