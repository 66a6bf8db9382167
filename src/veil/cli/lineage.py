"""`veil lineage ...`: which outputs and trained models hold whose data.

Registered by the main app with ``register(app)``; every command calls `veil.lineage.Lineage`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from veil._actor import default_actor
from veil.cli.common import JsonBriefOpt, JsonOnlyOpt, WorkspaceOpt, console, print_json

lineage_app = typer.Typer(
    help="Lineage: the subjects in each run output, and the models trained on outputs.\n\n"
    "Example: veil lineage subject CUST-0000042",
    no_args_is_help=True, rich_markup_mode="markdown",
)


def _lineage(workspace: Path | None):  # type: ignore[no-untyped-def]
    from veil.lineage import Lineage
    from veil.store.workspace import Workspace

    return Lineage(Workspace.find(workspace))


def _outputs_table(outputs: list) -> Table:  # type: ignore[type-arg]
    t = Table("run", "created (UTC)", "purpose", "rows", "subjects", "output")
    for o in outputs:
        d = o.to_dict()
        t.add_row(o.run_id[:12], d["created_at"][:19], o.purpose, f"{o.rows:,}",
                  f"{o.subject_count:,}", escape(o.output))
    return t


@lineage_app.command("outputs")
def outputs_cmd(as_json: JsonBriefOpt = False, workspace: WorkspaceOpt = None) -> None:
    """List every recorded run output with its subject count.

    Example: veil lineage outputs
    """
    outs = _lineage(workspace).outputs()
    if as_json:
        print_json([o.to_dict() for o in outs], ensure_ascii=True)
        return
    console.print(_outputs_table(outs))


@lineage_app.command("register-model")
def register_model_cmd(
    model: Annotated[str, typer.Argument(help="Model name (e.g. credit-pd.v3).")],
    trained_on: Annotated[list[str], typer.Option(
        "--trained-on", help="Run id (or prefix) or output path it was trained on; repeatable.")],
    description: Annotated[str | None, typer.Option(help="What the model is.")] = None,
    accept_stale: Annotated[bool, typer.Option(
        "--accept-stale", help="Register even though the training data holds subjects erased, "
        "withdrawn, objecting or restricted since (needs --reason; recorded).")] = False,
    reason: Annotated[str | None, typer.Option(
        "--reason", help="Why the stale data is accepted (kept with the model and in the "
        "audit event).")] = None,
    actor: Annotated[str | None, typer.Option(help="Who registers (default: VEIL_ACTOR or "
                                              "the OS user).")] = None,
    as_json: JsonBriefOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Record that a model was trained on run outputs, so erasures can flag it for retraining.

    Refused when an output holds subjects erased, withdrawn, objecting or restricted since it
    was made, unless --accept-stale --reason TEXT.

    Example: veil lineage register-model credit-pd.v3 --trained-on credit.parquet
    """
    m = _lineage(workspace).register_model(model, trained_on, actor=default_actor(actor),
                                           description=description,
                                           accept_stale=accept_stale, reason=reason)
    if as_json:
        print_json(m.to_dict(), ensure_ascii=True)
        return
    console.print(f"Registered model [bold]{escape(m.name)}[/], trained on "
                  f"{', '.join(r[:12] for r in m.trained_on)}"
                  + (" (stale data accepted)" if m.accepted_stale else ""))


@lineage_app.command("models")
def models_cmd(as_json: JsonBriefOpt = False, workspace: WorkspaceOpt = None) -> None:
    """List registered models, the runs they were trained on, and those to retrain (with the
    number of subjects erased, withdrawn, objecting or restricted since).

    Example: veil lineage models
    """
    models = _lineage(workspace).models()
    if as_json:
        print_json([m.to_dict() for m in models], ensure_ascii=True)
        return
    t = Table("model", "registered (UTC)", "by", "trained on", "retrain")
    for m in models:
        flag = (f"yes ({m.retrain_subjects} subject{'s' if m.retrain_subjects != 1 else ''})"
                if m.retrain_subjects else "no")
        t.add_row(escape(m.name), m.to_dict()["registered_at"][:19], escape(m.registered_by),
                  ", ".join(r[:12] for r in m.trained_on), flag)
    console.print(t)


@lineage_app.command("subject")
def subject_cmd(
    subject: Annotated[str, typer.Argument(help="Subject id, as in the data (never echoed).")],
    as_json: JsonBriefOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """List every run output and registered model that contains a subject's data.

    Example: veil lineage subject CUST-0000042
    """
    s = _lineage(workspace).subject(subject)
    if as_json:
        print_json(s.to_dict(), ensure_ascii=True)
        return
    console.print(f"Subject #{s.subject[:10]}: {len(s.outputs)} output(s), "
                  f"{len(s.models)} model(s)")
    if s.outputs:
        console.print(_outputs_table(s.outputs))
    for m in s.models:
        console.print(f"model [bold]{escape(m.name)}[/] (trained on "
                      f"{', '.join(r[:12] for r in m.trained_on)})")


@lineage_app.command("show")
def show_cmd(
    output: Annotated[str, typer.Argument(help="Run id (or prefix) or output path.")],
    subjects: Annotated[bool, typer.Option("--subjects", help="Also list the subjects' "
                                           "pseudonyms (32 hex digits each).")] = False,
    as_json: JsonOnlyOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Show one output's lineage record as JSON.

    Example: veil lineage show credit.parquet
    """
    lin = _lineage(workspace)
    o = lin.output(output)
    d = o.to_dict()
    if subjects:
        d["subject_pseudonyms"] = lin.subjects_of(o.run_id)
    print_json(d, ensure_ascii=True)


def register(app: typer.Typer) -> None:
    """Add ``lineage`` to the main app (idempotent)."""
    if not any(g.typer_instance is lineage_app for g in app.registered_groups):
        app.add_typer(lineage_app, name="lineage")
