"""`veil dpia`: draft a purpose's data protection impact assessment (Art. 35).

Registered by the main app with ``veil.cli.dpia.register(app)``; calls
:func:`veil.dpia.write_dpia` and prints where the draft went.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from veil.cli.common import PolicyOpt, WorkspaceOpt, console, print_json

__all__ = ["register"]


def dpia(
    policy: PolicyOpt,
    purpose: Annotated[str, typer.Option("--purpose", help="Purpose id from the policy.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for dpia-PURPOSE.md "
                                         "and dpia-PURPOSE.json.")] = Path("."),
    workspace: WorkspaceOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the draft as JSON.")] = False,
) -> None:
    """Draft the DPIA (Art. 35) of a purpose, as Markdown and JSON, and record it in the audit
    log.

    The draft describes the processing from the policy, lists the EDPB high-risk criteria met
    and why, the fields used against those declared, the re-identification risk measured by
    the purpose's last succeeded run, the safeguards in force, and the open questions the DPO
    must answer (never answered by Veil).

    Example: veil dpia --policy sample --purpose credit_scoring -o dpia
    """
    from veil.dpia import write_dpia
    from veil.policy import load_policy
    from veil.store.workspace import Workspace

    pol = load_policy(policy)
    pol.purpose(purpose)  # an unknown purpose: one line, before the workspace is opened
    ws = Workspace.find(workspace).ready()
    md, js, d = write_dpia(pol, purpose, output, ws)
    if as_json:
        print_json(d.to_dict(), ensure_ascii=True)
        return
    met = [c["title"] for c in d.criteria if c["met"]]
    console.print(f"Wrote the DPIA draft of {purpose}: {md}, {js}")
    console.print(f"{len(met)} EDPB criteria met ({'; '.join(met) or 'none'}); "
                  f"{len(d.open_risks)} open questions for the DPO")


def register(app: typer.Typer) -> None:
    app.command("dpia")(dpia)
