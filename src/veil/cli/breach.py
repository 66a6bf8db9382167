"""`veil breach ...`: the breach register, the 72-hour clock, the assessment and the drafts.

Registered by the main app with :func:`register`. Every command calls one method of
:class:`veil.incidents.Breaches`; times are UTC inside and shown in the DPO's time zone (``--tz``,
else the policy's ``controller.timezone``, else UTC) with the time left or overdue by.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from veil.cli.common import MAX_COUNT
from veil.errors import InputError

console = Console(width=None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", "160")))

breach_app = typer.Typer(
    help="Personal data breaches (Art. 33-34 GDPR): record, scope from evidence, the 72-hour "
    "clock, risk assessment, notification drafts and the breach register.\n\n"
    "Example: veil breach open --title \"Laptop lost\" --occurred 2026-03-01T08:00:00Z "
    "--aware 2026-03-01T10:00:00Z --nature confidentiality --output credit.parquet",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)

WorkspaceOpt = Annotated[
    Path | None,
    typer.Option("--workspace", "-w", help="Workspace folder (default: VEIL_WORKSPACE or the "
                 "nearest folder up with veil.toml)."),
]
PolicyOpt = Annotated[str | None, typer.Option(
    "--policy", "-p", help="Policy YAML file, or 'sample': controller, DPO, supervisory "
    "authority and time zone (default: the policy of the first exposed output's run).")]
RefArg = Annotated[str, typer.Argument(help="The breach, e.g. BR-0001 (or 1).")]
TzOpt = Annotated[str | None, typer.Option(
    "--tz", help="IANA time zone to show times in, for this command only (default: the "
    "breach's own zone, set by open or update --tz).")]
StoredTzOpt = Annotated[str | None, typer.Option(
    "--tz", help="IANA time zone of the breach: read times without an offset in it and show "
    "the breach in it from now on, in every command and draft (default: the policy's "
    "controller.timezone, else UTC).")]
RecipientsHelp = (
    "Who got the data: **unknown** (default), **public**, or **known**: a known, trusted "
    "recipient (e.g. a wrong but trusted branch or partner bound by confidentiality) who is "
    "not expected to misuse it and has returned or deleted it. *known* makes the likelihood "
    "low and lowers the decision one step (e.g. a high-severity card leak is then notified to "
    "the authority only, not to the people affected); the assessment records this. If in "
    "doubt, leave it unknown.")
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
ActorOpt = Annotated[str | None, typer.Option("--actor", help="Who does this (default: "
                                              "VEIL_ACTOR or the OS user).")]
OutputsOpt = Annotated[list[str] | None, typer.Option(
    "--output", help="An exposed run output: its path or run id (repeatable).")]
DatasetsOpt = Annotated[list[str] | None, typer.Option(
    "--dataset", help="An exposed source dataset of the policy, every field in clear "
    "(repeatable).")]
KeysetsOpt = Annotated[list[str] | None, typer.Option(
    "--keyset", help="An exposed keyset (its key is compromised; repeatable).")]
WindowsOpt = Annotated[list[str] | None, typer.Option(
    "--window", help="START/END: every output written in this time window (repeatable).")]
OtherOpt = Annotated[list[str] | None, typer.Option(
    "--other", help="Something exposed that Veil has no record of (text; repeatable).")]
KeyExposedOpt = Annotated[list[str] | None, typer.Option(
    "--key-exposed", help="An exposed output (path, run id) or keyset whose key was exposed "
    "too (repeatable).")]
ConsequenceOpt = Annotated[list[str] | None, typer.Option(
    "--consequence", help="A likely consequence beyond those derived from the categories.")]
MeasureOpt = Annotated[list[str] | None, typer.Option(
    "--measure", help="A measure taken or proposed (repeatable).")]
CategoryOpt = Annotated[list[str] | None, typer.Option(
    "--category", help="A data category of the --other items (repeatable).")]


def _policy(value: str | None) -> Any:
    if value is None:
        return None
    from veil.policy import load_policy

    return load_policy(value)  # a path, or "sample" for the bundled policy


def _reg(workspace: Path | None, policy: str | None = None, actor: str | None = None) -> Any:
    from veil.incidents import Breaches
    from veil.store.workspace import Workspace

    pol = _policy(policy)
    return Breaches(Workspace.find(workspace), policy=pol, actor=actor, cli=True)


def _windows(values: list[str] | None) -> list[tuple[str, str]]:
    out = []
    for v in values or []:
        start, sep, end = v.partition("/")
        if not sep or not start.strip() or not end.strip():
            raise InputError(f"'{v}' is not START/END, e.g. 2026-03-01T00:00:00Z/"
                             "2026-03-02T00:00:00Z", where="--window")
        out.append((start.strip(), end.strip()))
    return out


def _tz(b: Any, tz: str | None) -> str | None:
    from veil.incidents.clock import zone

    if tz is not None:
        zone(tz)
        return tz
    return b.timezone


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, ensure_ascii=False))


_CLOCK_STYLE = {"overdue": "red", "notified_late": "red", "running": "yellow"}


def _facts_rows(b: Any, tz: str | None) -> list[tuple[str, str]]:
    from veil.incidents.clock import local

    clk = b.clock()
    return [("breach", f"{b.ref} [{b.status}] {escape(b.title)}"),
            ("nature", ", ".join(b.nature)),
            ("occurred", local(b.occurred_at, tz)
             + (f" until {local(b.occurred_until, tz)}" if b.occurred_until else "")),
            ("aware", local(b.aware_at, tz)),
            ("clock", f"[{_CLOCK_STYLE.get(clk.state, 'green')}]{escape(clk.text(tz))}[/]")]


def _scope_rows(s: dict[str, Any]) -> list[tuple[str, str]]:
    from veil.incidents.scope import records_text, subjects_text

    subj = s.get("subjects") or {}
    flags = [f"{k}: {', '.join(s[k])}" for k in ("special", "criminal", "financial") if s.get(k)]
    return ([("subjects", escape(subjects_text(subj)))]
            + [("", escape(f"  {why}")) for why in subj.get("basis") or []]
            + [("records", escape(records_text(s.get("records") or {}))),
               ("categories", ", ".join(s.get("categories") or []) or "none"),
               ("flagged", "; ".join(flags) or "none")]
            + [("exposed", escape(_exposed(it))) for it in s.get("items", [])])


def _exposed(it: dict[str, Any]) -> str:
    """One exposed item: what, which run, how many records, how protected."""
    if it["kind"] in ("keyset", "other"):
        enc = "key compromised" if it["kind"] == "keyset" else "declared"
    else:
        enc = ("encrypted, key safe" if it.get("key_safe") else
               "encrypted, KEY EXPOSED" if it.get("encrypted") else "in clear")
    name = it.get("output") if it["kind"] == "output" and it.get("output") else it["ref"]
    return (f"{it['kind']} {name}" + (f" (run {it['run_id'][:12]})" if it.get("run_id") else "")
            + f": {it.get('records') or '-'} records, {enc}")


def _assessment_rows(b: Any) -> list[tuple[str, str]]:
    a = b.assessment
    if not a:
        return [("assessment", "not yet: run `veil breach assess " + b.ref + "`")]
    said = (f"{a['severity']} severity (SE {a['score']:g}), likelihood {a['likelihood']}"
            + (f" ({a['likelihood_reason']})" if a.get("likelihood_reason") else "")
            + f": {a['risk']}")
    override = f" (override: {a['override']['reason']})" if a.get("override") else ""
    return ([("assessment", escape(said) + (" [STALE: assess again]" if a.get("stale") else "")),
             ("decision", escape(b.decision + override))]
            + [("exception", escape(f"Art. {e['exception']}: {e['reason']}"))
               for e in a.get("exceptions") or []])


def _summary(b: Any, tz: str | None) -> None:
    tz = _tz(b, tz)
    s = b.scope or {}
    t = Table(show_header=False, box=None, pad_edge=False)
    t.add_column(style="bold")
    t.add_column(overflow="fold")
    rows = (_facts_rows(b, tz) + _scope_rows(s) + _assessment_rows(b)
            + [("notified", escape(f"{n['recipient']} ({n['phase']}) {local_of(n, tz)}"
                                   + (f" LATE: {n['delay_reason']}" if n["late"] else "")))
               for n in b.notifications]
            + [("warning", f"[yellow]{escape(w)}[/]") for w in s.get("warnings") or []])
    for label, value in rows:
        t.add_row(label, value)
    console.print(t)


def local_of(n: dict[str, Any], tz: str | None) -> str:
    from veil.incidents.clock import local, parse_time

    return local(parse_time(n["sent_at"], "sent_at"), tz)


@breach_app.command("open")
def open_cmd(
    title: Annotated[str, typer.Option("--title", help="A short name for the breach.")],
    occurred: Annotated[str, typer.Option("--occurred", help="When the breach began (ISO 8601; "
                                          "an offset or --tz).")],
    aware: Annotated[str, typer.Option("--aware", help="When the controller became aware: the "
                                       "72 hours run from here.")],
    nature: Annotated[list[str], typer.Option("--nature", help="confidentiality, integrity "
                                              "and/or availability (repeatable or comma list).")],
    until: Annotated[str | None, typer.Option("--until", help="When it ended, if it did.")] = None,
    description: Annotated[str, typer.Option("--description", help="What happened.")] = "",
    output: OutputsOpt = None,
    dataset: DatasetsOpt = None,
    keyset: KeysetsOpt = None,
    window: WindowsOpt = None,
    other: OtherOpt = None,
    key_exposed: KeyExposedOpt = None,
    encrypted_dataset: Annotated[bool, typer.Option(
        "--encrypted-dataset", help="The --dataset copies were encrypted (declared).")] = False,
    recipients: Annotated[str, typer.Option("--recipients", help=RecipientsHelp)] = "unknown",
    malicious: Annotated[bool, typer.Option("--malicious", help="Malicious intent (theft, "
                                            "attack).")] = False,
    not_recoverable: Annotated[bool, typer.Option(
        "--not-recoverable", help="Altered or lost data cannot be restored.")] = False,
    consequence: ConsequenceOpt = None,
    measure: MeasureOpt = None,
    subjects: Annotated[int | None, typer.Option("--subjects", min=0, max=MAX_COUNT,
                                                 help="Estimated subjects of "
                                                 "the --other items.")] = None,
    records: Annotated[int | None, typer.Option("--records", min=0, max=MAX_COUNT,
                                                help="Estimated records of the "
                                                "--other items.")] = None,
    category: CategoryOpt = None,
    tz: StoredTzOpt = None,
    policy: PolicyOpt = None,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Record a breach; its scope (subjects, categories, records) comes from lineage, receipts
    and the audit log. The 72-hour clock starts at --aware.

    Example: veil breach open --title "Bucket left public" --occurred 2026-03-01T08:00:00Z
    --aware 2026-03-02T09:15:00+01:00 --nature confidentiality --output offers.parquet
    """
    reg = _reg(workspace, policy, actor)
    b = reg.open(title=title, occurred_at=occurred, aware_at=aware, nature=nature,
                 occurred_until=until, description=description, outputs=output or [],
                 datasets=dataset or [], keysets=keyset or [], windows=_windows(window),
                 other=other or [], key_exposed=key_exposed or [],
                 encrypted_datasets=encrypted_dataset, recipients=recipients,
                 malicious=malicious, recoverable=not not_recoverable,
                 consequences=consequence or [], measures=measure or [],
                 estimate_subjects=subjects, estimate_records=records,
                 categories=category or [], tz=tz)
    if as_json:
        _print_json(b.to_json(tz))
        return
    console.print(f"Opened {b.ref}")
    _summary(b, tz)


@breach_app.command("update")
def update_cmd(
    ref: RefArg,
    title: Annotated[str | None, typer.Option("--title")] = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
    occurred: Annotated[str | None, typer.Option("--occurred")] = None,
    until: Annotated[str | None, typer.Option("--until")] = None,
    aware: Annotated[str | None, typer.Option("--aware", help="Corrected awareness time "
                                              "(only before the authority is notified).")] = None,
    nature: Annotated[list[str] | None, typer.Option("--nature")] = None,
    output: OutputsOpt = None,
    dataset: DatasetsOpt = None,
    keyset: KeysetsOpt = None,
    window: WindowsOpt = None,
    other: OtherOpt = None,
    key_exposed: KeyExposedOpt = None,
    recipients: Annotated[str | None, typer.Option("--recipients", help=RecipientsHelp)] = None,
    malicious: Annotated[bool | None, typer.Option("--malicious/--not-malicious")] = None,
    recoverable: Annotated[bool | None, typer.Option("--recoverable/--not-recoverable")] = None,
    consequence: ConsequenceOpt = None,
    measure: MeasureOpt = None,
    subjects: Annotated[int | None, typer.Option("--subjects", min=0, max=MAX_COUNT)] = None,
    records: Annotated[int | None, typer.Option("--records", min=0, max=MAX_COUNT)] = None,
    category: CategoryOpt = None,
    rescope: Annotated[bool, typer.Option("--rescope", help="Recompute the scope from the "
                                          "evidence now.")] = False,
    tz: StoredTzOpt = None,
    policy: PolicyOpt = None,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Change a breach's facts, add what was exposed, measures and consequences. A closed
    breach cannot change. Example: veil breach update BR-0001 --measure "Bucket made private"
    """
    reg = _reg(workspace, policy, actor)
    b = reg.update(ref, title=title, description=description, occurred_at=occurred,
                   occurred_until=until, aware_at=aware, nature=nature,
                   add_outputs=output or [], add_datasets=dataset or [],
                   add_keysets=keyset or [], add_windows=_windows(window),
                   add_other=other or [], key_exposed=key_exposed or [],
                   recipients=recipients, malicious=malicious, recoverable=recoverable,
                   add_consequences=consequence or [], add_measures=measure or [],
                   estimate_subjects=subjects, estimate_records=records,
                   categories=category or [], tz=tz, rescope=rescope)
    if as_json:
        _print_json(b.to_json(tz))
        return
    console.print(f"Updated {b.ref}")
    _summary(b, tz)


@breach_app.command("assess")
def assess_cmd(
    ref: RefArg,
    exception_b: Annotated[str | None, typer.Option(
        "--exception-b", help="Art. 34(3)(b): the measures that make the high risk unlikely "
        "to materialise (subjects then need not be told).")] = None,
    exception_c: Annotated[str | None, typer.Option(
        "--exception-c", help="Art. 34(3)(c): why telling each subject would take "
        "disproportionate effort (a public communication instead).")] = None,
    override: Annotated[str | None, typer.Option(
        "--override", help="none, authority or authority_and_subjects: the DPO's decision "
        "instead of the computed one (needs --reason).")] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Why the override.")] = None,
    policy: PolicyOpt = None,
    actor: ActorOpt = None,
    tz: TzOpt = None,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Assess the risk with the documented rule set (ENISA severity, EDPB likelihood) and
    record every factor and the decision: none, authority, or authority and subjects.

    Example: veil breach assess BR-0001 --exception-c "No current address for most subjects"
    """
    exc = {k: v for k, v in (("b", exception_b), ("c", exception_c)) if v is not None}
    reg = _reg(workspace, policy, actor)
    b = reg.assess(ref, exceptions=exc, override=override, reason=reason)
    if as_json:
        _print_json(b.assessment)
        return
    a = b.assessment
    t = Table("factor", "value", "effect", "source", title=f"{b.ref} risk assessment")
    for f in a["factors"]:
        t.add_row(escape(str(f["factor"])), escape(str(f["value"])), escape(str(f["effect"])),
                  escape(str(f["source"])))
    console.print(t)
    _summary(b, tz)


@breach_app.command("notify")
def notify_cmd(
    ref: RefArg,
    to: Annotated[str, typer.Option("--to", help="authority, subjects or public.")] = "authority",
    sent: Annotated[str | None, typer.Option("--sent", help="When it was sent (default: now).")]
    = None,
    phase: Annotated[str, typer.Option("--phase", help="single, or initial / follow_up / final "
                                       "when information comes in phases (Art. 33(4)).")]
    = "single",
    delay_reason: Annotated[str | None, typer.Option(
        "--delay-reason", help="Why the authority is notified after 72 hours (required "
        "then, Art. 33(1)).")] = None,
    reference: Annotated[str | None, typer.Option("--reference", help="The authority's case "
                                                  "number or the mailing's id.")] = None,
    channel: Annotated[str | None, typer.Option("--channel", help="Portal, e-mail, letter, "
                                                "...")] = None,
    content: Annotated[Path | None, typer.Option("--content", help="The file sent (its SHA-256 "
                                                 "is recorded).")] = None,
    tz: Annotated[str | None, typer.Option(
        "--tz", help="IANA time zone to read --sent in when it has no offset and to show the "
        "clock in (default: the breach's zone).")] = None,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Record a notification sent to the authority, the subjects or the public.

    Example: veil breach notify BR-0001 --to authority --phase initial --reference HBDI-2026-17
    """
    reg = _reg(workspace, None, actor)
    b = reg.notify(ref, recipient=to, sent_at=sent, phase=phase, delay_reason=delay_reason,
                   reference=reference, channel=channel, content=content, tz=tz)
    if as_json:
        _print_json(b.to_json(tz))
        return
    n = b.notifications[-1] if b.notifications else None
    console.print(f"Recorded notification of {b.ref} to {to}"
                  + (" [red](late)[/]" if n and n["late"] else ""))
    console.print(escape(b.clock().text(_tz(b, tz))))


@breach_app.command("close")
def close_cmd(
    ref: RefArg,
    reason: Annotated[str, typer.Option("--reason", help="What was done and what remains.")],
    force: Annotated[bool, typer.Option("--force", help="Close although the decision's "
                                        "notifications are not all recorded.")] = False,
    actor: ActorOpt = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Close a breach once assessed and notified as its decision requires; it stays in the
    register. Example: veil breach close BR-0001 --reason "Cards reissued; no misuse seen"
    """
    b = _reg(workspace, None, actor).close(ref, reason=reason, force=force)
    console.print(f"Closed {b.ref}")


@breach_app.command("list")
def list_cmd(
    status: Annotated[str | None, typer.Option("--status", help="open or closed.")] = None,
    tz: TzOpt = None,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """List breaches with their deadline in the DPO's time zone and the time left.

    Example: veil breach list --status open --tz Europe/Berlin
    """
    items = _reg(workspace).list(status=status)
    if as_json:
        _print_json([b.to_json(tz) for b in items])
        return
    t = Table("breach", "status", "title", "subjects", "decision", "clock")
    for b in items:
        t.add_row(b.ref, b.status, escape(b.title),
                  str(((b.scope or {}).get("subjects") or {}).get("count", "")),
                  b.decision or "not assessed", escape(b.clock().text(_tz(b, tz))))
    console.print(t)
    if not items:
        console.print("No breaches recorded.")


@breach_app.command("show")
def show_cmd(
    ref: RefArg,
    tz: TzOpt = None,
    subjects: Annotated[bool, typer.Option("--subjects", help="Also list the subject "
                                           "pseudonyms in scope.")] = False,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Show one breach: facts, scope, clock, assessment, notifications and every step.

    Example: veil breach show BR-0001 --tz Europe/Berlin
    """
    reg = _reg(workspace)
    b = reg.get(ref)
    if as_json:
        d = b.to_json(tz)
        if subjects:
            d["subject_pseudonyms"] = reg.subjects(b.ref)
        _print_json(d)
        return
    _summary(b, tz)
    t = Table("time", "actor", "step", title="steps")
    from veil.incidents.clock import local, parse_time

    for s in b.steps:
        t.add_row(local(parse_time(s["time"], "time"), _tz(b, tz)), escape(s["actor"]),
                  escape(s["summary"]))
    console.print(t)
    if subjects:
        for p in reg.subjects(b.ref):
            print(p)


@breach_app.command("draft")
def draft_cmd(
    ref: RefArg,
    out: Annotated[Path, typer.Option("--output", "-o", help="Folder for the drafts.")]
    = Path("."),
    phase: Annotated[str | None, typer.Option(
        "--phase", help="single (complete), initial (further information will follow), "
        "follow_up or final (Art. 33(4)). Default: single; follow_up once an initial "
        "notification to the authority is recorded; final once a single or final one is.")]
    = None,
    subjects_notice: Annotated[bool | None, typer.Option(
        "--subjects-notice/--no-subjects-notice", help="Also write the notice to the people "
        "affected (default: only when the decision includes telling them).")] = None,
    tz: TzOpt = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Write the Art. 33(3) notification to the authority (JSON, Markdown, HTML) and, when the
    decision includes the people affected, the plain-language notice to them (Markdown,
    HTML). Missing contents are marked MISSING.

    Example: veil breach draft BR-0001 --phase initial -o drafts
    """
    reg = _reg(workspace)
    paths = reg.draft(ref, out, tz=tz, phase=phase, subjects_notice=subjects_notice)
    for p in paths.values():
        console.print(f"Wrote {p}")
    missing = json.loads(paths["authority.json"].read_text())["missing"]
    if missing:
        console.print("[yellow]Missing before sending:[/] " + escape("; ".join(missing)))


@breach_app.command("register")
def register_cmd(
    out: Annotated[Path, typer.Option("--output", "-o", help="Folder for breach-register.csv "
                                      "and .json.")] = Path("."),
    workspace: WorkspaceOpt = None,
) -> None:
    """Export the Art. 33(5) register of every breach, notified or not (CSV and JSON).

    Example: veil breach register -o records
    """
    paths = _reg(workspace).export_register(out)
    console.print(f"Wrote {paths['csv']} and {paths['json']}")


def register(app: typer.Typer) -> None:
    app.add_typer(breach_app, name="breach")
