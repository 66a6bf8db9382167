"""`veil ui`: the DPO's pages for one person on their own machine, as Jupyter does it.

Serves the service (REST API and ``/ui/``) on a loopback address only, and prints a one-time
login link (valid :data:`veil.ui.sessions.LINK_LIFETIME` seconds, usable once) that opens a
session for the person running the command, with the role given. Registered by the main app
with ``register(app)``.
"""

from __future__ import annotations

from typing import Annotated

import typer

from veil._actor import default_actor
from veil.cli.common import WorkspaceOpt, console
from veil.errors import InputError

ROLE_CHOICES = ("dpo", "auditor", "reviewer", "engineer")


def ui(
    policy: Annotated[str | None, typer.Option("--policy", "-p", help="Policy YAML file (or "
                                               "'sample') in force. Default: [service] policy "
                                               "in veil.toml.")] = None,
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port on 127.0.0.1.")] = 8700,
    role: Annotated[str, typer.Option(help="The role the link opens: dpo, auditor, reviewer "
                                      "or engineer.")] = "dpo",
    actor: Annotated[str | None, typer.Option(help="Who you are in the audit log (default: "
                                              "VEIL_ACTOR or the OS user; no e-mail or real "
                                              "name).")] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "warning",
    workspace: WorkspaceOpt = None,
) -> None:
    """Open the DPO's pages on this machine: serve them on 127.0.0.1 and print a one-time
    login link (used once, valid 15 minutes; run the command again for a new one).

    Only loopback: for a team, run `veil serve` (with TLS) and log in with API keys.

    Example: veil ui --policy policy.yaml
    """
    from veil.service import ServiceConfig
    from veil.service import serve as run
    from veil.store.workspace import Workspace
    from veil.ui.sessions import SessionStore

    if role not in ROLE_CHOICES:
        raise InputError(f"--role {role!r}: one of {', '.join(ROLE_CHOICES)}")
    if log_level not in ("debug", "info", "warning", "error"):
        raise InputError(f"--log-level {log_level!r}: debug, info, warning or error")
    who = default_actor(actor)[:128]
    with Workspace.find(workspace) as ws:
        root = ws.root
        config = ServiceConfig.load(root, policy=policy, host="127.0.0.1", port=port)
        _screen(who)
        token = SessionStore(ws.ready()).make_link(actor=who, role=role)
    console.print(f"Veil's pages for {who} ({role}), on this machine only. Open this link "
                  "(once; valid 15 minutes):", markup=False, highlight=False)
    console.print(f"    http://127.0.0.1:{port}/ui/login/link?token={token}", markup=False,
                  highlight=False, soft_wrap=True)
    console.file.flush()
    run(config, log_level=log_level)


def _screen(actor: str) -> None:
    """Refuse an actor name the audit log would refuse at login (an e-mail, a real name)."""
    from veil.audit.screen import screen_text
    from veil.errors import AuditError

    try:
        screen_text({"actor": actor})
    except AuditError as exc:
        raise InputError(f"--actor: {exc.message}") from None


def register(app: typer.Typer) -> None:
    """Add `veil ui` to the main app."""
    app.command("ui")(ui)


__all__ = ["register", "ui"]
