"""`veil dsr ...`: data-subject requests (open, list, show, run, extend, close, lift, export,
decrypt, load-store).

Registered by the main app with ``register(app)``. Every command calls `veil.rights` and prints
its result; subjects are shown by pseudonym only (the id is typed in, never echoed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from veil.cli.common import (
    JsonBriefOpt,
    PolicyOpt,
    RecordedActorOpt,
    WorkspaceOpt,
    console,
    print_json,
)
from veil.policy import policy_path

dsr_app = typer.Typer(
    help="Data-subject requests (GDPR Art. 15-21) with due dates, recorded steps, packages and "
    "erasure certificates.\n\n"
    "Example: veil dsr open erasure CUST-0000042 -p sample --verification \"ID checked\"",
    no_args_is_help=True, rich_markup_mode="markdown",
)

OptPolicyOpt = Annotated[str | None, typer.Option(
    "--policy", "-p", help="Policy YAML file, or 'sample' (default: the one the request was "
    "opened with).")]
ActorOpt = Annotated[str | None, typer.Option("--actor", help="Who acts (default: VEIL_ACTOR or "
                                              "the OS user).")]
IdArg = Annotated[str, typer.Argument(help="Request id (or a unique prefix).")]


def _requests(workspace: Path | None, policy: str | None) -> Any:
    from veil.lifecycle import requests  # runs also propagate and notify (Art. 19)
    from veil.store.workspace import Workspace

    return requests(Workspace.find(workspace), None if policy is None else policy_path(policy))


def _show(rec: Any, as_json: bool) -> None:
    if as_json:
        print_json(rec.to_dict())
        return
    d = rec.to_dict()
    t = Table(show_header=False, box=None, pad_edge=False)
    for k in ("id", "kind", "article", "subject", "status", "received_at", "due_at",
              "urgency", "extended_months", "extension_reason", "verification", "purposes",
              "hold_until", "running_since", "error", "close_note"):
        v = d[k]
        if v not in (None, "", 0) or k in ("id", "status", "due_at"):
            t.add_row(k.replace("_", " "), escape(str(v)))
    console.print(t)
    if d["steps"]:
        st = Table("step", "status", "attempts", "at")
        for s in d["steps"]:
            st.add_row(s["step"], s["status"], str(s["attempts"]), s["at"] or "")
        console.print(st)
    if d["result"]:
        _show_result(d["result"])


def _show_result(r: dict[str, Any]) -> None:
    """A request's answer: outcome, text, what to rebuild, certificate and package files."""
    console.print(f"[bold]outcome[/]: {escape(str(r.get('outcome')))}")
    if r.get("answer"):
        console.print(escape(r["answer"]))
    if r.get("rebuild"):
        rb = r["rebuild"]
        outputs = rb.get("output_paths") or rb.get("outputs", [])
        console.print(f"rebuild outputs: {escape(', '.join(outputs)) or '-'}; "
                      f"models: {escape(', '.join(rb.get('models', []))) or '-'}")
        if r["rebuild"].get("running"):
            console.print("runs still running (may contain the subject: check after they "
                          f"finish): {', '.join(r['rebuild']['running'])}")
    for f in r.get("certificate", []) or []:
        console.print(f"certificate: {escape(f)}")
    for f in r.get("files", []) or []:
        console.print(f"package (encrypted): {escape(f['path'])}")


@dsr_app.command("open")
def open_cmd(
    kind: Annotated[str, typer.Argument(help="access, portability, rectification, erasure, "
                                        "restriction or objection.")],
    subject: Annotated[str, typer.Argument(help="Subject id, as in the data (never echoed).")],
    policy: PolicyOpt,
    received: Annotated[str | None, typer.Option(help="When the request arrived, ISO 8601 "
                                                 "(default: now); the due date is a month "
                                                 "later.")] = None,
    verification: Annotated[str | None, typer.Option(help="How the requester's identity was "
                                                     "verified (recorded).")] = None,
    purpose: Annotated[list[str] | None, typer.Option(
        "--purpose", help="Purpose(s) concerned (restriction, objection); repeatable.")] = None,
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="Rectification: FIELD=NEW_VALUE (checked against the field's type; "
        "FIELD= with nothing after it sets the field to null); repeatable.")] = None,
    dataset: Annotated[str | None, typer.Option(help="Rectification: the dataset (default: "
                                                "every registered one with the fields).")
                       ] = None,
    actor: ActorOpt = None,
    as_json: JsonBriefOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Record a data-subject request; it is due one month after receipt (Art. 12(3)).

    A type the policy does not take (e.g. portability without a consent or contract purpose)
    is recorded as refused and exits 6 with the reason.

    Example: veil dsr open access CUST-0000042 -p sample --verification "passport seen"

    Example: veil dsr open rectification CUST-0000042 -p sample --set email=new@example.eu
    """
    from veil.errors import InputError

    details: dict[str, Any] = {}
    if set_:
        fix: dict[str, Any] = {}
        for i, item in enumerate(set_, 1):
            k, sep, v = item.partition("=")
            if not sep or not k.strip():  # never echo it: the text may be personal data
                raise InputError(f"--set #{i} is not FIELD=VALUE (e.g. --set email=new@x.eu)")
            fix[k.strip()] = v if v != "" else None  # `--set field=` sets it to null
        details["corrections"] = fix
        if dataset:
            details["dataset"] = dataset
    reqs = _requests(workspace, policy)
    rec = reqs.open(kind, subject, received=received, verification=verification,
                    purposes=purpose or None, details=details or None, actor=actor)
    if as_json:
        _show(rec, True)
        return
    console.print(f"Opened request [bold]{rec.id}[/] ({rec.article}) for subject "
                  f"#{rec.subject[:10]}, due {rec.to_dict()['due_at']}. Next: veil dsr run "
                  f"{rec.id}")


@dsr_app.command("list")
def list_cmd(
    status: Annotated[str | None, typer.Option(help="Only this status (open, running, failed, "
                                               "completed, refused, closed).")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Include closed and refused ones.")
                    ] = False,
    policy: OptPolicyOpt = None,
    as_json: JsonBriefOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """List requests: overdue first, then due soon, then by due date. Erasures kept open by
    a legal hold show "legal hold", and "hold ended: run again" once it has ended.

    Example: veil dsr list
    """
    recs = _requests(workspace, policy).list(status=status, include_closed=all_)
    if as_json:
        print_json([r.to_dict() for r in recs])
        return
    t = Table("request", "type", "subject", "status", "received", "due", "")
    for r in recs:
        d = r.to_dict()
        flag = d["urgency"]
        t.add_row(r.id, r.kind, f"#{r.subject[:10]}", r.status, d["received_at"][:10],
                  d["due_at"][:10], f"[red]{flag}[/]" if flag in ("overdue", "hold ended: "
                                                                   "run again") else
                  (f"[yellow]{flag}[/]" if flag else ""))
    console.print(t)


@dsr_app.command("show")
def show_cmd(request: IdArg, as_json: JsonBriefOpt = False, workspace: WorkspaceOpt = None) -> None:
    """Show a request: dates, status, recorded steps and the answer.

    Example: veil dsr show 3f2a9c
    """
    _show(_requests(workspace, None).get(request), as_json)


@dsr_app.command("run")
def run_cmd(request: IdArg, policy: OptPolicyOpt = None, actor: ActorOpt = None,
            force: Annotated[bool, typer.Option(
                "--force", help="Take over a request another run holds (use only when that "
                "run was killed; otherwise a lease older than 30 minutes is taken over).")
            ] = False,
            as_json: JsonBriefOpt = False, workspace: WorkspaceOpt = None) -> None:
    """Carry out a request; rerun it after a failure (finished steps are skipped, each step is
    recorded).

    Access/portability: an encrypted package (JSON + HTML). Erasure: rows deleted or masked in
    the registered stores (restricted under a legal hold), consent withdrawn, the subject key
    shredded, later runs exclude the subject, a certificate lists what was done and the
    outputs and models to rebuild. An erasure kept open by a legal hold (`veil dsr list` shows
    "hold ended: run again") is run again after the hold ends to erase the held data.

    Example: veil dsr run 3f2a9c
    """
    _show(_requests(workspace, policy).run(request, actor=actor, force=force), as_json)


@dsr_app.command("extend")
def extend_cmd(request: IdArg,
               months: Annotated[int, typer.Option(min=1, max=2,
                                                   help="1 or 2 (Art. 12(3): at most two "
                                                   "further months in all).")],
               reason: Annotated[str, typer.Option(help="Why (the subject must be told).")],
               actor: ActorOpt = None, as_json: JsonBriefOpt = False,
               workspace: WorkspaceOpt = None) -> None:
    """Extend a request's deadline by one or two months, with the reason recorded.

    Example: veil dsr extend 3f2a9c --months 2 --reason "records across 14 systems"
    """
    _show(_requests(workspace, None).extend(request, months, reason, actor=actor), as_json)


@dsr_app.command("close")
def close_cmd(request: IdArg,
              note: Annotated[str, typer.Option(help="What the subject was told.")],
              actor: ActorOpt = None, as_json: JsonBriefOpt = False,
              workspace: WorkspaceOpt = None) -> None:
    """Close a request with a note. A closed restriction or objection still excludes the
    subject until `veil dsr lift`.

    Example: veil dsr close 3f2a9c --note "package sent via secure portal on 2025-03-04"
    """
    _show(_requests(workspace, None).close(request, note, actor=actor), as_json)


@dsr_app.command("lift")
def lift_cmd(request: IdArg,
             note: Annotated[str, typer.Option(help="Why, and that the subject was told "
                                               "(Art. 18(3)).")],
             actor: ActorOpt = None, as_json: JsonBriefOpt = False,
             workspace: WorkspaceOpt = None) -> None:
    """Lift a restriction or objection (completed or closed): the subject's rows come back
    into those purposes' runs. Only this request's exclusions are lifted.

    Example: veil dsr lift 3f2a9c --note "accuracy verified; subject informed 2025-03-10"
    """
    _show(_requests(workspace, None).lift(request, note, actor=actor), as_json)


@dsr_app.command("export")
def export_cmd(request: IdArg,
               output: Annotated[Path, typer.Option("--output", "-o", help="Folder for "
                                                    "package.json and package.html.")],
               reason: Annotated[str, typer.Option(help="Why and how it is delivered "
                                                   "(recorded).")],
               actor: ActorOpt = None, workspace: WorkspaceOpt = None) -> None:
    """Decrypt a request's package for delivery through a secure channel (recorded).

    Example: veil dsr export 3f2a9c -o out/ --reason "secure portal, ticket 881"
    """
    files = _requests(workspace, None).export(request, output, actor=actor, reason=reason)
    for f in files:
        console.print(f"Wrote {escape(str(f))}")


@dsr_app.command("decrypt")
def decrypt_cmd(
    subject: Annotated[str, typer.Argument(help="Subject id whose values these are.")],
    values: Annotated[list[str], typer.Argument(help="Values written by transform 'encrypt'.")],
    dataset: Annotated[str, typer.Option(help="Dataset the values came from.")],
    field: Annotated[str, typer.Option(help="Field the values came from.")],
    reason: Annotated[str, typer.Option(help="Why (recorded).")],
    actor: RecordedActorOpt,
    as_json: Annotated[bool, typer.Option("--json", help="A JSON list of {value, plaintext} "
                                          "instead of tab-separated lines.")] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Decrypt values of transform 'encrypt' for one subject (recorded); fails with exit 7 once
    the subject is erased.

    Example: veil dsr decrypt CUST-0000042 --dataset transactions --field email --actor dpo
    --reason "case 7" AbC...
    """
    from veil.rights import decrypt_values
    from veil.store.workspace import Workspace

    out = decrypt_values(Workspace.find(workspace), subject, values, dataset=dataset,
                         field=field, actor=actor, reason=reason)
    if as_json:
        print_json([{"value": v, "plaintext": p} for v, p in zip(values, out, strict=True)])
        return
    for v, p in zip(values, out, strict=True):
        typer.echo(f"{v}\t{p}")


@dsr_app.command("load-store")
def load_store_cmd(
    dataset: Annotated[str, typer.Argument(help="Dataset whose registered store to fill.")],
    source: Annotated[Path, typer.Argument(help="CSV, Parquet or JSON-lines file.")],
    policy: PolicyOpt,
    replace: Annotated[bool, typer.Option(help="Drop and reload an existing table.")] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Create a dataset's registered store table (indexed on the subject id) and fill it from a
    file: for trying requests on the sample.

    Example: veil dsr load-store transactions transactions.csv -p sample
    """
    from veil.policy import load_policy
    from veil.rights import load_store
    from veil.store.workspace import Workspace

    ws = Workspace.find(workspace).ready()
    n = load_store(load_policy(policy), dataset, source, ws, replace=replace)
    console.print(f"Loaded {n:,} rows into the store of dataset {escape(dataset)}")


def register(app: typer.Typer) -> None:
    """Add ``dsr`` to the main app (idempotent)."""
    if not any(g.typer_instance is dsr_app for g in app.registered_groups):
        app.add_typer(dsr_app, name="dsr")
