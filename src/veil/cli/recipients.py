"""`veil recipients ...`: the register of recipients and processors (Art. 19, 28) and the
outbox of Art. 19 notices (list, deliver, acknowledge).

Registered by the main app with ``register(app)``; every command calls `veil.lifecycle`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from veil._actor import default_actor
from veil.cli.common import JsonBriefOpt, PolicyOpt, WorkspaceOpt, console, print_json

recipients_app = typer.Typer(
    help="Recipients and processors (Art. 19, 28) and the Art. 19 notices sent to them.\n\n"
    "Example: veil recipients notices --pending",
    no_args_is_help=True, rich_markup_mode="markdown",
)


def _ws(workspace: Path | None) -> Any:
    from veil.store.workspace import Workspace

    return Workspace.find(workspace)


@recipients_app.command("list")
def list_cmd(policy: PolicyOpt, as_json: JsonBriefOpt = False) -> None:
    """List the policy's register: each recipient's role, Art. 28 contract, country, how
    notices reach it and the purposes whose data it receives.

    Example: veil recipients list -p sample
    """
    from veil.lifecycle import recipients_register
    from veil.policy import load_policy

    reg = recipients_register(load_policy(policy))
    if as_json:
        print_json(reg, ensure_ascii=True)
        return
    t = Table("id", "name", "role", "contract", "country", "notices", "purposes")
    for r in reg:
        how = r["channel"] + (f" {r['address']}" if r["address"] else " (by hand)")
        t.add_row(r["id"], escape(r["name"]), r["role"], escape(r["contract"] or "-"),
                  r["country"] or "-", escape(how), ", ".join(r["purposes"]) or "-")
    console.print(t)


@recipients_app.command("notices")
def notices_cmd(
    pending: Annotated[bool, typer.Option("--pending", help="Only those not acknowledged "
                                          "yet (pending, sent or failed).")] = False,
    request: Annotated[str | None, typer.Option("--request", help="Only this request's.")]
    = None,
    as_json: JsonBriefOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """List the Art. 19 notices: recipient, request, status, attempts, last error.

    Example: veil recipients notices --pending
    """
    from veil.lifecycle import list_notices

    ns = list_notices(_ws(workspace), pending=pending, request_id=request)
    if as_json:
        print_json([n.to_dict() for n in ns], ensure_ascii=True)
        return
    t = Table("notice", "recipient", "request", "kind", "channel", "status", "attempts",
              "last error")
    for n in ns:
        t.add_row(n.id, n.recipient, n.request_id, n.kind, n.channel, n.status,
                  str(n.attempts), escape(n.last_error or ""))
    console.print(t if ns else "No notices.")


@recipients_app.command("deliver")
def deliver_cmd(actor: Annotated[str | None, typer.Option(help="Who delivers (default: "
                                                          "VEIL_ACTOR or the OS user).")] = None,
                as_json: JsonBriefOpt = False, workspace: WorkspaceOpt = None) -> None:
    """Attempt every due notice: webhooks by HTTP POST (signed when the recipient names a
    secret), email by SMTP (VEIL_SMTP_* settings). A failure keeps the notice pending with its
    error and retries it later (backoff).

    Example: veil recipients deliver
    """
    from veil.lifecycle import deliver

    d = deliver(_ws(workspace), actor=default_actor(actor))
    if as_json:
        print_json(d.to_dict(), ensure_ascii=True)
        return
    console.print(f"{len(d.sent)} sent, {len(d.retrying)} to retry, {len(d.failed)} failed")
    for f in d.retrying + d.failed:
        console.print(f"notice {f['id']} ({escape(f['recipient'])}): {escape(f['error'])}",
                      markup=True, highlight=False)


@recipients_app.command("ack")
def ack_cmd(
    notice: Annotated[str, typer.Argument(help="Notice id (from `veil recipients notices`).")],
    note: Annotated[str | None, typer.Option(help="How the recipient confirmed it.")] = None,
    actor: Annotated[str | None, typer.Option(help="Who records it (default: VEIL_ACTOR or "
                                              "the OS user).")] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Record that a recipient acknowledged a notice (e.g. confirmed by phone or mail); the
    notice's sealed payload (which names the subject) is then dropped.

    Example: veil recipients ack 3f2a9c1d5e7b8a90 --note "confirmed by email"
    """
    from veil.lifecycle import acknowledge

    n = acknowledge(_ws(workspace), notice, actor=default_actor(actor), note=note)
    console.print(f"Notice {n.id} ({escape(n.recipient)}): acknowledged")


def register(app: typer.Typer) -> None:
    """Add ``recipients`` to the main app (idempotent)."""
    if not any(g.typer_instance is recipients_app for g in app.registered_groups):
        app.add_typer(recipients_app, name="recipients")
