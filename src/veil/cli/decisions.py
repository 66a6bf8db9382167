"""`veil decisions ...`: the decision ledger (Art. 22 GDPR; EU AI Act Annex III 5(b)).

Registered by the main app with ``register(app)``; every command calls
`veil.decisions.DecisionLedger` (explain, fairness and the model registry add theirs here).
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from veil._actor import default_actor
from veil.cli.common import (
    MAX_LIMIT,
    JsonBriefOpt,
    JsonOnlyOpt,
    WorkspaceOpt,
    console,
    print_json,
)
from veil.errors import InputError

decisions_app = typer.Typer(
    help="Decisions: the ledger of a credit model's decisions about people, their review and "
    "contest.\n\nExample: veil decisions list --status review",
    no_args_is_help=True, rich_markup_mode="markdown",
)

NeedPolicyOpt = Annotated[str | None, typer.Option(
    "--policy", "-p", help="Policy YAML file, or 'sample' (required: its "
    "automated_decisions rules apply).")]
ActorOpt = Annotated[str | None, typer.Option("--actor", help="Who acts (recorded; default: "
                                              "VEIL_ACTOR or the OS user).")]
IdArg = Annotated[str, typer.Argument(help="Decision id (32 hex digits).")]


def ledger(workspace: Path | None, policy: str | None, *, need: bool = False) -> Any:
    """The workspace's `DecisionLedger` under the policy (None: reading only)."""
    if need and policy is None:
        raise InputError("this command needs the policy: add --policy FILE (or -p sample)",
                         where="--policy")
    from veil.decisions import DecisionLedger
    from veil.policy import load_policy
    from veil.store.workspace import Workspace

    return DecisionLedger(Workspace.find(workspace), None if policy is None
                          else load_policy(policy))


def _pairs(items: list[str], what: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise InputError(f"write {what} as NAME=VALUE, got '{item[:40]}'", where=what)
        try:
            out[name.strip()] = float(value)
        except ValueError:
            out[name.strip()] = value
    return out


def _read_file(path: Path, id_column: str) -> Any:
    """A batch or outcomes file as a pyarrow Table (CSV, Parquet or JSON lines, by suffix), its
    id column read as text: ``00123`` stays ``00123`` and an empty cell stays missing (the
    ledger refuses it, naming the row). Errors name the file (and line), never a value."""
    import pyarrow as pa

    from veil.io.readers import format_of

    if not path.is_file():
        raise InputError("file not found", where=str(path))
    fmt = format_of(path)
    if fmt == "csv":
        return _read_csv(path, id_column)
    if fmt == "jsonl":
        return _read_json_lines(path, id_column)
    import pyarrow.parquet as pq

    try:
        tab = pq.read_table(path)
    except (OSError, pa.ArrowInvalid):
        raise InputError("not a readable Parquet file", where=str(path)) from None
    return _text_ids(tab, id_column, str(path))


def _read_csv(path: Path, id_column: str) -> Any:
    """Arrow's CSV reader; a row with too few or too many fields is named by its line (Arrow's
    own error would quote the row)."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    from veil.io.readers import CsvOptions, Reject, fix_lines

    malformed: list[Reject] = []

    def skip(row: Any) -> str:
        malformed.append(Reject(-1 if row.number is None else row.number - 1, None, None,
                                f"expected {row.expected_columns} columns, found "
                                f"{row.actual_columns}"))
        return "skip"

    def read(threads: bool) -> Any:
        return pcsv.read_csv(path, read_options=pcsv.ReadOptions(use_threads=threads),
                             parse_options=pcsv.ParseOptions(invalid_row_handler=skip),
                             convert_options=pcsv.ConvertOptions(
                                 column_types={id_column: pa.string()}))

    try:
        tab = read(True)
        if malformed and malformed[0].record < 0:  # a threaded read does not number rows
            malformed.clear()
            read(False)
    except pa.ArrowInvalid as exc:  # Arrow quotes the value: keep what comes before it
        reason = re.split(r": invalid value|'", str(exc).splitlines()[0])[0]
        raise InputError(f"unreadable CSV: {reason}", where=str(path)) from None
    if malformed:
        fix_lines(path, CsvOptions(), malformed[:1])
        raise InputError(malformed[0].reason, where=malformed[0].place(str(path)))
    return tab


def _read_json_lines(path: Path, id_column: str) -> Any:
    """JSON lines read with the standard library to name a bad line; a column mixing types
    (``true`` and ``0.0``) is read as text, as a CSV's would be."""
    import pyarrow as pa

    from veil.io.readers import json_column

    columns: dict[str, list[Any]] = {}
    lines: list[int] = []
    with open(path, "rb") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except UnicodeDecodeError:
                raise InputError("invalid UTF-8 text", where=f"{path}:{n}") from None
            except json.JSONDecodeError as exc:
                raise InputError(f"invalid JSON: {exc.msg} at column {exc.colno}",
                                 where=f"{path}:{n}") from None
            if not isinstance(obj, dict):
                raise InputError("a line must hold a JSON object", where=f"{path}:{n}")
            for k in obj:
                columns.setdefault(k, [None] * len(lines))
            for k, values in columns.items():
                values.append(obj.get(k))
            lines.append(n)
    ids = columns.get(id_column, [])
    for i, v in enumerate(ids):
        if isinstance(v, int) and not isinstance(v, bool):
            ids[i] = str(v)
        elif v is not None and not isinstance(v, str):
            raise InputError(f"column '{id_column}': an id is text or a whole number",
                             where=f"{path}:{lines[i]}")

    def column(values: list[Any]) -> Any:
        try:
            return pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            return json_column(values, "string")

    return pa.table({k: column(v) for k, v in columns.items()})


def _text_ids(tab: Any, id_column: str, where: str) -> Any:
    """``tab`` with its id column as text: whole numbers become their digits, any other type
    is refused (``1.5e3`` has no one text)."""
    import pyarrow as pa

    if id_column not in tab.column_names:
        return tab
    t = tab.schema.field(id_column).type
    if pa.types.is_dictionary(t):
        t = t.value_type
    if not (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_integer(t)
            or pa.types.is_null(t)):
        raise InputError(f"column '{id_column}' holds {t} values: an id is text or a whole "
                         "number", where=where)
    return tab.set_column(tab.column_names.index(id_column), id_column,
                          tab.column(id_column).cast(pa.string()))


def _when(text: str | None, what: str) -> datetime | None:
    if text is None:
        return None
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"'{text[:40]}' is not a date (YYYY-MM-DD or ISO 8601)",
                         where=what) from None
    return t if t.tzinfo else t.astimezone()


def _table(recs: list[Any]) -> Table:
    t = Table("decision", "decided (UTC)", "model", "subject", "score", "outcome", "status")
    for r in recs:
        t.add_row(r.id, r.decided_at.isoformat()[:19], escape(f"{r.model}.v{r.model_version}"),
                  f"#{r.subject[:10]}", f"{r.score:.4f}", escape(r.outcome), r.status)
    return t


@decisions_app.command("record")
def record_cmd(
    model: Annotated[str, typer.Argument(help="Registered model name.")],
    subject: Annotated[str | None, typer.Argument(help="The person's id (one decision).")] = None,
    score: Annotated[float | None, typer.Option(min=-1e12, max=1e12,
                                                help="The model's score (one decision).")] = None,
    feature: Annotated[list[str] | None, typer.Option(
        "--feature", "-f", help="An input NAME=VALUE (one decision); repeatable.")] = None,
    reason: Annotated[list[str] | None, typer.Option(
        "--reason", help="A reason code FEATURE=CONTRIBUTION (one decision); repeatable.")] = None,
    from_file: Annotated[Path | None, typer.Option(
        "--from", help="A batch: CSV/Parquet/JSONL with the subject and score columns; every "
        "other column is a feature.")] = None,
    subject_column: Annotated[str, typer.Option(help="The batch's subject id column.")] = "subject",
    score_column: Annotated[str, typer.Option(help="The batch's score column.")] = "score",
    version: Annotated[int | None, typer.Option(min=1, max=999_999_999,
                                                help="Model version (default: latest).")] = None,
    policy: NeedPolicyOpt = None,
    as_json: JsonBriefOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Record one decision (SUBJECT, --score, --feature) or a batch (--from FILE).

    Subjects who objected to the purpose (or are restricted or erased) are refused: one
    decision with an error, a batch by leaving them out and counting them.

    Example: veil decisions record credit-pd CUST-0000042 --score 0.31 -f annual_income=28000
    -p sample
    """
    led = ledger(workspace, policy, need=True)
    if from_file is not None:
        tab = _read_file(from_file, subject_column)
        for col in (subject_column, score_column):
            if col not in tab.column_names:
                raise InputError(f"no column '{col}' in {from_file.name}", where=str(from_file))
        subjects = tab.column(subject_column).to_pylist()
        scores = tab.column(score_column).to_pylist()
        feats = tab.drop_columns([subject_column, score_column])
        b = led.record_batch(model, subjects, feats, scores, version=version)
        out = {"recorded": len(b), "review": b.review, "skipped": b.skipped,
               "session": b.session, "ids": list(b)}
        if as_json:
            print_json(out)
            return
        console.print(f"Recorded {len(b):,} decision(s) ({b.review:,} to review); skipped "
                      f"{b.skipped_total:,} excluded subject(s) {b.skipped or ''}; batch "
                      f"{b.session}")
        return
    if subject is None or score is None:
        raise InputError("give SUBJECT and --score (one decision) or --from FILE (a batch)",
                         where="decisions record")
    rec = led.record(model, subject, _pairs(feature or [], "--feature"), score,
                     reasons=_pairs(reason or [], "--reason") or None, version=version)
    if as_json:
        print_json(rec.to_dict())
        return
    console.print(f"Recorded decision [bold]{rec.id}[/]: {escape(rec.outcome)} (score "
                  f"{rec.score:.4f}, threshold {rec.threshold:.4f}), status {rec.status}"
                  + (f", review due {rec.review_due:%Y-%m-%d}" if rec.review_due else ""))


@decisions_app.command("list")
def list_cmd(
    purpose: Annotated[str | None, typer.Option(help="Only this purpose.")] = None,
    model: Annotated[str | None, typer.Option(help="Only this model.")] = None,
    status: Annotated[str | None, typer.Option(
        help="final | review | contested | reviewed.")] = None,
    since: Annotated[str | None, typer.Option(help="From this date (ISO 8601).")] = None,
    until: Annotated[str | None, typer.Option(help="Before this date (ISO 8601).")] = None,
    subject: Annotated[str | None, typer.Option(help="Only this person's decisions.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=MAX_LIMIT, help="At most this many rows read.")
                     ] = 1000,
    actor: ActorOpt = None,
    as_json: JsonBriefOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """List decisions, oldest first (the listing is recorded in the audit log).

    Example: veil decisions list --status review --since 2026-01-01
    """
    from veil.decisions.records import STATUSES

    if status is not None and status not in STATUSES:
        raise InputError(f"--status: '{status[:40]}' is not one of {', '.join(STATUSES)}")
    recs = ledger(workspace, None).list(
        purpose=purpose, model=model, status=status, since=_when(since, "--since"),
        until=_when(until, "--until"), subject_id=subject, limit=limit,
        actor=default_actor(actor))
    if as_json:
        print_json([r.to_dict() for r in recs])
        return
    console.print(_table(recs))


@decisions_app.command("show")
def show_cmd(decision: IdArg, actor: ActorOpt = None, workspace: WorkspaceOpt = None,
             as_json: JsonOnlyOpt = False) -> None:
    """Show one decision and its review history as JSON (recorded in the audit log).

    Example: veil decisions show 3f2a9c0e4b7d4e21a5c6b8d9e0f1a2b3
    """
    led = ledger(workspace, None)
    rec = led.get(decision, actor=default_actor(actor))
    out = rec.to_dict()
    out["history"] = [h.to_dict() for h in led.history(rec.id)]
    print_json(out)


@decisions_app.command("contest")
def contest_cmd(
    decision: IdArg,
    statement: Annotated[str, typer.Option(help="The person's point of view (Art. 22(3)).")],
    by: Annotated[str, typer.Option(help="Who contests: 'subject', or the DPO on their "
                                    "behalf.")] = "subject",
    policy: NeedPolicyOpt = None,
    as_json: JsonBriefOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Contest a decision for the person: it enters the review queue, due by contest_due.

    Example: veil decisions contest 3f2a9c0e... --statement "My income doubled" -p sample
    """
    rec = ledger(workspace, policy, need=True).contest(decision, statement, by=by)
    if as_json:
        print_json(rec.to_dict())
        return
    console.print(f"Decision [bold]{rec.id}[/] contested: waiting for a reviewer")


@decisions_app.command("review")
def review_cmd(
    decision: IdArg,
    reviewer: Annotated[str, typer.Option(help="The reviewer's name (recorded).")],
    outcome: Annotated[str, typer.Option(help="The final outcome, e.g. approve or refuse.")],
    rationale: Annotated[str, typer.Option(help="Why (recorded, encrypted under the "
                                           "person's key).")],
    policy: NeedPolicyOpt = None,
    as_json: JsonBriefOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Record a human review: the final decision, linked to the automated one.

    Example: veil decisions review 3f2a9c0e... --reviewer "Credit review team"
    --outcome approve --rationale "Payslips checked" -p sample
    """
    rec = ledger(workspace, policy, need=True).review(decision, reviewer=reviewer,
                                                      outcome=outcome, rationale=rationale)
    if as_json:
        print_json(rec.to_dict())
        return
    console.print(f"Final decision [bold]{rec.id}[/] ({escape(rec.outcome)}) replaces "
                  f"{rec.final_of}")


@decisions_app.command("record-actual")
def record_actual_cmd(
    file: Annotated[Path, typer.Argument(help="CSV, Parquet or JSON lines with a decision id "
                                         "and an observed outcome (0 or 1) per row.")],
    id_column: Annotated[str, typer.Option(help="The decision id column.")] = "decision_id",
    actual_column: Annotated[str, typer.Option(
        help="The observed outcome column: 1 when the favourable outcome was deserved "
        "(e.g. the loan was repaid), else 0.")] = "actual",
    actor: ActorOpt = None,
    as_json: JsonBriefOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Record the observed outcomes of many decisions (for error rates in `fairness`).

    One transaction and one audit event (counts only). A bad outcome, a repeated or unknown
    decision id: one error naming the row, nothing recorded.

    Example: veil decisions record-actual outcomes.csv   (columns decision_id,actual)
    """
    tab = _read_file(file, id_column)
    for col in (id_column, actual_column):
        if col not in tab.column_names:
            raise InputError(f"no column '{col}' in {file.name} (it has "
                             f"{', '.join(tab.column_names)[:200]})", where=str(file))
    res = ledger(workspace, None).record_actuals(
        tab.column(id_column).to_pylist(), tab.column(actual_column).to_pylist(),
        by=default_actor(actor), source=file.name)
    if as_json:
        print_json(res.to_dict())
        return
    console.print(f"Recorded {res.recorded:,} observed outcome(s) ({res.positive:,} "
                  f"favourable; {res.replaced:,} replaced an earlier one)")


@decisions_app.command("queue")
def queue_cmd(actor: ActorOpt = None, as_json: JsonBriefOpt = False,
              limit: Annotated[int, typer.Option(min=1, max=MAX_LIMIT,
                                                 help="At most this many, soonest due first.")
                               ] = 1000,
              workspace: WorkspaceOpt = None) -> None:
    """The review queue: decisions waiting for a human, soonest due first.

    Example: veil decisions queue --limit 20
    """
    items, waiting, overdue = ledger(workspace, None).review_queue_counted(
        actor=default_actor(actor), limit=limit)
    if as_json:
        print_json([i.to_dict() for i in items])
        return
    t = Table("decision", "why", "due (UTC)", "model", "outcome", "score")
    for i in items:
        due = i.due.isoformat()[:16] + (" [red]overdue[/]" if i.overdue else "")
        t.add_row(i.decision_id, i.why, due, escape(i.model), escape(i.outcome),
                  f"{i.score:.4f}")
    console.print(t)
    console.print(f"{waiting:,} waiting ({overdue:,} overdue)"
                  + (f"; the {len(items):,} due soonest shown" if waiting > len(items) else ""))


def _add_model_group() -> None:
    from veil.cli.decision_models import model_app  # the model registry (register, card, ...)

    decisions_app.add_typer(model_app, name="model")


_add_model_group()


def _add_explain_commands() -> None:
    from veil.cli.decisions_explain import explain_cmd, fairness_cmd  # explanations, bias

    decisions_app.command("explain")(explain_cmd)
    decisions_app.command("fairness")(fairness_cmd)


_add_explain_commands()


def register(app: typer.Typer) -> None:
    """Add ``decisions`` to the main app (idempotent)."""
    if not any(g.typer_instance is decisions_app for g in app.registered_groups):
        app.add_typer(decisions_app, name="decisions")
