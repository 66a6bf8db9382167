"""`veil doctor`: report (and with --repair fix) what a crash or an outage left behind.

Registered by the main app with ``veil.cli.doctor.register(app)``; calls
:func:`veil.doctor.doctor`. Exit 0 when nothing needs attention (after the repairs, with
--repair), 5 when something does.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from veil.cli.common import InspectWorkspaceOpt, JsonOpt, console, print_json

__all__ = ["register"]


def doctor(
    repair: Annotated[bool, typer.Option("--repair", help="Fix what is found: roll back or "
                                         "finish runs whose process is gone, remove leftover "
                                         "temporary files, free requests held by dead runs, "
                                         "deliver outboxes, resume stopped disposals.")
                      ] = False,
    as_json: JsonOpt = False,
    workspace: InspectWorkspaceOpt = None,
) -> None:
    """Check the workspace for what a crash or an outage left behind: runs whose process is
    gone, leftover temporary files beside outputs, data-subject requests held by dead runs,
    audit and recipient outbox backlogs, retention disposals stopped part-way.

    Exits 0 when nothing needs attention, 5 when something does (after the repairs, with
    --repair). Example: veil doctor --repair
    """
    from veil.doctor import doctor as run_doctor
    from veil.store.workspace import Workspace

    with Workspace.find(workspace) as ws:
        report = run_doctor(ws, repair=repair)
    if as_json:
        print_json(report.to_dict())
    else:
        _print(report)
    left = sum(1 for f in report.remaining if f.severity == "problem")
    if left:
        from veil.errors import StoreError

        raise StoreError(f"{left} problem(s) need attention"
                         + ("" if repair else ": run `veil doctor --repair`"))


def _print(report) -> None:  # type: ignore[no-untyped-def]
    for f in report.found:
        mark = {"problem": "[yellow]found[/]", "info": "[dim]note[/]"}[f.severity]
        line = f"{mark} {f.kind}: {escape(f.message)}"
        if f.repaired is not None:
            line += f"\n  [green]repaired[/]: {escape(f.repaired)}"
        elif f.error is not None:
            line += f"\n  [red]repair failed[/]: {escape(f.error)}"
        elif f.severity == "problem":
            line += f"\n  --repair would: {escape(f.action)}"
        console.print(line, highlight=False, soft_wrap=True)
    if report.healthy:
        console.print("[green]OK[/]: nothing needs attention"
                      + (f" ({len(report.repaired())} repaired)" if report.repair else ""))


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)
