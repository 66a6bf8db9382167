"""`veil serve` and `veil apikey create|list|revoke`: the compliance service and its keys.

Registered by the main app with ``register(app)``. ``serve`` calls :func:`veil.service.serve`;
the key commands call :class:`veil.service.ApiKeyStore`. A key's secret is printed once, at
creation, and never stored.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from veil._actor import default_actor
from veil.cli.common import JsonOpt, WorkspaceOpt, console, print_json
from veil.errors import InputError
from veil.service.roles import ROLES

_ROLES = ", ".join(ROLES[:-1]) + f" or {ROLES[-1]}"  # the help names every role

apikey_app = typer.Typer(
    help="API keys of the compliance service: create (the secret is shown once), list, revoke."
    "\n\nExample: veil apikey create --role service --name web-app --expires-in '90 days'",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)

def serve(
    policy: Annotated[str | None, typer.Option("--policy", "-p", help="Policy YAML file (or "
                                               "'sample') in force: consent purposes, ROPA. "
                                               "Default: [service] policy in veil.toml.")]
    = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on (default 127.0.0.1; "
                                             "anything but loopback needs TLS).")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Port (default 8600).")
                    ] = None,
    certfile: Annotated[Path | None, typer.Option(help="TLS certificate chain (PEM); or "
                                                  "[service.tls] in veil.toml.")] = None,
    keyfile: Annotated[Path | None, typer.Option(help="TLS private key (PEM).")] = None,
    rate_limit: Annotated[float | None, typer.Option(min=0.0, max=1_000_000.0,
                                                     help="Requests per second per key "
                                                     "(0: off; default 100).")] = None,
    burst: Annotated[int | None, typer.Option(min=1, max=1_000_000,
                                              help="Requests a key may send at once before "
                                              "the rate applies (default: one second's "
                                              "worth of --rate-limit).")] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
    log_format: Annotated[str | None, typer.Option(help="text or json (one JSON object per "
                                                   "line with its request id); default "
                                                   "[service] log_format, else text.")] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Run the compliance service (REST API) over the workspace until stopped.

    Endpoints for consent, data-subject requests, audit proofs, breaches, the policy, records
    of processing and file scans; every one but `/health`, `/ready` and the OpenAPI document
    (`/openapi.json`) needs an API key from `veil apikey create`.

    Example: veil serve --policy policy.yaml --port 8600

    Example: veil serve --rate-limit 5 --burst 10

    Example: veil serve --log-format json

    Example: veil serve --host 0.0.0.0 --certfile certs/server.pem --keyfile certs/server.key
    """
    from veil.service import ServiceConfig
    from veil.service import serve as run
    from veil.store.tls import ServerTLS
    from veil.store.workspace import Workspace

    if log_level not in ("debug", "info", "warning", "error"):
        raise InputError(f"--log-level {log_level!r}: debug, info, warning or error")
    if log_format not in (None, "text", "json"):
        raise InputError("--log-format: text or json")
    if (certfile is None) != (keyfile is None):
        raise InputError("--certfile and --keyfile go together")
    for flag, path in (("--certfile", certfile), ("--keyfile", keyfile)):
        if path is not None and not path.is_file():
            raise InputError(f"{flag} {path}: file not found")
    with Workspace.find(workspace) as ws:
        root = ws.root
    tls = ServerTLS(str(certfile.resolve()), str(keyfile.resolve())) \
        if certfile is not None and keyfile is not None else None
    config = ServiceConfig.load(root, policy=policy, host=host, port=port, rate_limit=rate_limit,
                                rate_burst=burst, tls=tls, log_format=log_format)
    run(config, log_level=log_level)


@apikey_app.command("create")
def create(
    role: Annotated[str, typer.Option(help=f"{_ROLES} (see the permission matrix in "
                                      "docs/service.md).")],
    name: Annotated[str, typer.Option(help="What the key is for, e.g. web-app (no secrets, no "
                                      "personal data).")],
    expires_in: Annotated[str | None, typer.Option("--expires-in", help="Lifetime: '90 days', "
                                                   "'12 months', 'P1Y'.")] = None,
    expires: Annotated[str | None, typer.Option(help="Or an expiry time (ISO 8601 UTC).")] = None,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Create an API key; its secret is printed ONCE (only a keyed hash is stored).

    Example: veil apikey create --role service --name web-app --expires-in '90 days'
    """
    from veil.consent.models import parse_time
    from veil.policy.model import parse_retention
    from veil.service import ApiKeyStore
    from veil.store.workspace import Workspace

    if expires and expires_in:
        raise InputError("give --expires or --expires-in, not both")
    when: datetime | None = None
    if expires_in:
        try:
            when = parse_retention(expires_in.strip(), "--expires-in").after(datetime.now(UTC))
        except ValueError as exc:
            raise InputError(str(exc)) from None
    elif expires:
        try:
            when = parse_time(expires, "--expires")
        except Exception as exc:  # ConsentError from the shared time parser
            raise InputError(str(exc)) from None
    with Workspace.find(workspace) as ws:
        key, secret = ApiKeyStore(ws).create(role, name, expires=when, created_by=default_actor())
    if as_json:
        print_json({**key.to_json(), "secret": secret}, ensure_ascii=True)
        return
    exp = key.expires.strftime("%Y-%m-%dT%H:%M:%SZ") if key.expires else "never"
    console.print(f"Created API key [bold]{key.key_id}[/] (role {key.role}, expires {exp}). "
                  "The secret below is shown once; store it in your secret manager:")
    print(secret)


@apikey_app.command("list")
def list_(
    active: Annotated[bool, typer.Option("--active", help="Only keys not revoked.")] = False,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """List API keys (never their secrets): role, status, expiry, last use.

    Example: veil apikey list --active
    """
    from veil.service import ApiKeyStore
    from veil.store.workspace import Workspace

    with Workspace.find(workspace) as ws:
        keys = ApiKeyStore(ws).list(include_revoked=not active)
    if as_json:
        print_json([k.to_json() for k in keys], ensure_ascii=True)
        return
    if not keys:
        console.print("No API keys yet: create one with `veil apikey create`")
        return
    now = datetime.now(UTC)
    t = Table("key id", "name", "role", "status", "created (UTC)", "expires", "last used")
    for k in keys:
        d = k.to_json()
        t.add_row(k.key_id, escape(k.name), k.role, k.status(now), d["created"],
                  d["expires"] or "never", d["last_used"] or "-")
    console.print(t)


@apikey_app.command("revoke")
def revoke(
    key_id: Annotated[str, typer.Argument(help="The key id (12 hex digits, from `veil apikey "
                                          "list`).")],
    workspace: WorkspaceOpt = None,
) -> None:
    """Revoke an API key and every bearer token issued for it; the next request is refused.

    Example: veil apikey revoke 3fa1c09e2b4d
    """
    from veil.service import ApiKeyStore
    from veil.store.workspace import Workspace

    with Workspace.find(workspace) as ws:
        key = ApiKeyStore(ws).revoke(key_id, by=default_actor())
    console.print(f"Revoked API key [bold]{key.key_id}[/] (role {key.role}, "
                  f"{escape(key.name)})")


def register(app: typer.Typer) -> None:
    """Add `veil serve` and `veil apikey` to the main app."""
    app.command("serve")(serve)
    app.add_typer(apikey_app, name="apikey")


__all__ = ["apikey_app", "register", "serve"]
