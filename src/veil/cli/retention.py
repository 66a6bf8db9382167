"""`veil retention ...`: what is kept until when, the sweep that disposes of expired outputs,
and legal holds.

Registered by the main app with ``register(app)``; every command calls `veil.lifecycle`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from veil.cli.common import JsonBriefOpt, WorkspaceOpt, console, print_json

retention_app = typer.Typer(
    help="Retention (Art. 5(1)(e)): run outputs' expiry, the sweep that deletes expired outputs "
    "and destroys their keys, legal holds.\n\n"
    "Example: veil retention status --due",
    no_args_is_help=True, rich_markup_mode="markdown",
)

NowOpt = Annotated[str | None, typer.Option(
    "--now", help="Judge expiry as of this ISO 8601 time instead of the clock (e.g. "
    "2031-01-01T00:00:00Z); a sweep takes a later time than the clock's only with --dry-run.")]
ActorOpt = Annotated[str | None, typer.Option("--actor", help="Who acts (default: VEIL_ACTOR "
                                              "or the OS user).")]
OutputArg = Annotated[str, typer.Argument(help="Run id (or a unique prefix) or output path.")]


def _ws(workspace: Path | None) -> Any:
    from veil.store.workspace import Workspace

    return Workspace.find(workspace)


@retention_app.command("status")
def status_cmd(
    due: Annotated[bool, typer.Option("--due", help="Only expired outputs (held ones "
                                      "flagged) and unfinished disposals.")] = False,
    all_: Annotated[bool, typer.Option("--all", help="Include disposed outputs.")] = False,
    now: NowOpt = None,
    as_json: JsonBriefOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """List run outputs with their expiry, soonest first: due/overdue, legal holds, keys.

    Example: veil retention status --due --json
    """
    from veil.lifecycle import retention_status
    from veil.lifecycle.retention_records import parse_now

    at = parse_now(now)
    recs = retention_status(_ws(workspace), at, due=due, include_disposed=all_)
    if as_json:
        print_json([r.to_dict(at) for r in recs])
        return
    if not recs:
        console.print("nothing due" if due else "no outputs recorded")
        return
    t = Table("run", "purpose", "retention", "expires (UTC)", "status", "key", "output")
    for r in recs:
        d = r.to_dict(at)
        status = d["urgency"] or "kept"
        if r.hold_reason:
            status += f" (hold: {r.hold_reason[:40]})"
        key = "own" if r.own_key else (r.keyset or "clear")
        t.add_row(r.run_id[:12], r.purpose, r.retention, d["expires_at"][:19],
                  escape(status), escape(key), escape(r.output))
    console.print(t)


@retention_app.command("sweep")
def sweep_cmd(
    policy: Annotated[str | None, typer.Option(
        "--policy", "-p", help="Policy YAML file, or 'sample': its `retention:` periods also "
        "apply to closed requests and ended consents' evidence.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would go; change "
                                          "nothing.")] = False,
    now: NowOpt = None,
    actor: ActorOpt = None,
    as_json: JsonBriefOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Dispose of expired outputs not under a legal hold: delete the file, destroy the key
    that alone encrypts it (copies die too), record an audit event each and write a disposal
    certificate. Re-running finishes a sweep that was interrupted.

    Example: veil retention sweep --dry-run --now 2031-01-01T00:00:00Z
    """
    from veil.lifecycle import sweep
    from veil.policy import load_policy, policy_path

    pol = load_policy(policy_path(policy)) if policy else None
    rep = sweep(_ws(workspace), pol, now=now, dry_run=dry_run, actor=actor)
    if as_json:
        print_json(rep.to_dict())
        return
    verb = "would dispose of" if dry_run else "disposed of"
    console.print(f"{verb} {len(rep.disposed)} output(s) as of {rep.to_dict()['as_of']}")
    for d in rep.disposed:
        console.print(f"  {d.run_id[:12]}  {escape(d.output)}  key: {escape(d.key)}")
    for h in rep.held:
        console.print(f"  kept (legal hold): {h.run_id[:12]}  {escape(h.hold_reason or '')}")
    if rep.requests:
        console.print(f"requests reduced to tombstones: {len(rep.requests)}")
    if rep.consent_events:
        console.print(f"consent events whose evidence was removed: {rep.consent_events}")
    if rep.certificate:
        console.print(f"certificate: {escape(rep.certificate)}")
    for n in rep.notes:
        console.print(f"[dim]{escape(n)}[/]")


@retention_app.command("hold")
def hold_cmd(
    output: OutputArg,
    reason: Annotated[str, typer.Option("--reason", help="Why it must be kept (recorded).")],
    actor: ActorOpt = None,
    as_json: JsonBriefOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Put an output under a legal hold: sweeps keep it past its expiry until released.

    Example: veil retention hold 3f2a9c81 --reason "litigation 2026-17"
    """
    from veil.lifecycle import hold

    rec = hold(_ws(workspace), output, reason=reason, actor=actor)
    if as_json:
        print_json(rec.to_dict())
        return
    console.print(f"output {rec.run_id[:12]} held: {escape(reason)}")


@retention_app.command("release")
def release_cmd(
    output: OutputArg,
    actor: ActorOpt = None,
    as_json: JsonBriefOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Release an output's legal hold (the next sweep disposes of it once expired).

    Example: veil retention release 3f2a9c81
    """
    from veil.lifecycle import release

    rec = release(_ws(workspace), output, actor=actor)
    if as_json:
        print_json(rec.to_dict())
        return
    expired = rec.expires_at <= datetime.now(UTC)
    console.print(f"output {rec.run_id[:12]} released"
                  + (" (expired: the next sweep disposes of it)" if expired else ""))


def register(app: typer.Typer) -> None:
    """Add ``retention`` to the main app (idempotent)."""
    if not any(g.typer_instance is retention_app for g in app.registered_groups):
        app.add_typer(retention_app, name="retention")
