"""`veil consent ...`: grant, renew, withdraw, check, history, import, export, notices.

Registered by the main app as ``app.add_typer(consent_app, name="consent")``. Every command calls
the library (:class:`veil.consent.Ledger` and :mod:`veil.consent.interchange`) and prints its
result; a broken rule is a ``ConsentError`` (exit code 9) and leaves the ledger unchanged.
Messages name subjects by a keyed pseudonym ("subject #3fa1c09e2b"), never by their id.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from veil._actor import default_actor
from veil.cli.common import JsonOpt, PolicyOpt, WorkspaceOpt, console, print_json
from veil.errors import ConsentError, ConsentInputError

consent_app = typer.Typer(
    help="The consent ledger: record, withdraw, check and prove consent per purpose.\n\n"
    "Example: veil consent grant C-1 --purpose personalised_offers --policy policy.yaml "
    "--channel web_form --action \"clicked 'I agree'\"",
    no_args_is_help=True,
)
notice_app = typer.Typer(help="Versioned notice texts of consent purposes.",
                         no_args_is_help=True)
consent_app.add_typer(notice_app, name="notice")

OptPolicyOpt = Annotated[str | None, typer.Option("--policy", "-p", help="Policy YAML file, or "
                                                  "'sample' (adds the purpose's details).")]
PurposeOpt = Annotated[str, typer.Option("--purpose", help="Purpose id from the policy (one: "
                                         "consent is per purpose).")]
SubjectArg = Annotated[str, typer.Argument(help="Subject id, as it appears in the data.")]
ChannelOpt = Annotated[str, typer.Option(help="web_form, app, branch, call_recording, api, "
                                         "paper_form or email.")]
CollectorOpt = Annotated[str | None, typer.Option(help="Who records it (default: VEIL_ACTOR or "
                                                  "the OS user).")]
TimeOpt = Annotated[str | None, typer.Option("--time", help="When it happened, ISO 8601 UTC "
                                             "(default: now; never in the future).")]
EventIdOpt = Annotated[str | None, typer.Option("--event-id", help="Unique event id (default: "
                                                "random); a repeated id is refused.")]
EvidenceOpt = Annotated[str | None, typer.Option(help="sha256:<hex> digest of the signed form, "
                                                 "UI snapshot or recording.")]
EvidenceFileOpt = Annotated[Path | None, typer.Option("--evidence-file", help="File whose "
                                                      "SHA-256 is the evidence.")]


def _policy(value: str | None):  # type: ignore[no-untyped-def]
    if value is None:
        return None
    from veil.policy import load_policy

    return load_policy(value)


def _ledger(workspace: Path | None, policy: str | None):  # type: ignore[no-untyped-def]
    from veil.consent import Ledger
    from veil.store.workspace import Workspace

    pol = _policy(policy)
    ws = Workspace.find(workspace)
    return ws, Ledger(ws, pol)


def _evidence(digest: str | None, file: Path | None) -> str | None:
    if digest and file:
        raise ConsentError("give --evidence or --evidence-file, not both")
    if file is not None:
        from veil.consent.models import evidence_of

        return evidence_of(file)
    return digest


def _expires(expires: str | None, valid_for: str | None, time: str | None) -> str | datetime | None:
    if expires and valid_for:
        raise ConsentError("give --expires or --valid-for, not both")
    if valid_for:
        from veil.consent.models import parse_time
        from veil.policy.model import parse_retention

        start = parse_time(time, "--time") if time else datetime.now(UTC)
        try:
            return parse_retention(valid_for, "--valid-for").after(start)
        except ValueError as exc:
            raise ConsentInputError(str(exc)) from None
    return expires


def _recorded(ledger: Any, event: Any, as_json: bool) -> None:
    from veil.consent.models import format_us

    if as_json:
        d = event.to_json()
        d["subject"] = ledger.ref(event.subject)
        print_json(d)
        return
    extra = f", notice {event.notice_version}" if event.notice_version else ""
    if event.expires_us is not None:
        extra += f", expires {format_us(event.expires_us)}"
    if event.minor:
        extra += ", minor (guardian recorded)"
    console.print(f"Recorded [bold]{event.kind}[/] for {ledger.ref(event.subject)}, purpose "
                  f"[bold]{escape(event.purpose)}[/] at {format_us(event.time_us)}{escape(extra)} "
                  f"(event {escape(event.event_id)})")


# -- grant / renew / withdraw --------------------------------------------------------------
def _grant_like(kind: str, subject: str, purpose: str, policy: str, channel: str, action: str,
                notice: str | None, evidence: str | None, evidence_file: Path | None,
                collector: str | None, expires: str | None, valid_for: str | None,
                age: int | None, guardian: str | None, time: str | None,
                event_id: str | None, as_json: bool, workspace: Path | None) -> None:
    from veil.consent.models import ConsentEvent

    ws, ledger = _ledger(workspace, policy)
    with ws:
        ev = ConsentEvent(subject, purpose, kind, channel, default_actor(collector), time, notice,
                          action, _evidence(evidence, evidence_file),
                          _expires(expires, valid_for, time), age, guardian, event_id)
        stored = ledger.append([ev])[0]
        _recorded(ledger, stored, as_json)


@consent_app.command("grant")
def grant(
    subject: SubjectArg,
    purpose: PurposeOpt,
    policy: PolicyOpt,
    channel: ChannelOpt,
    action: Annotated[str, typer.Option(help="The explicit action the subject took, e.g. "
                                        "\"clicked 'I agree'\" (never a pre-ticked box).")],
    notice: Annotated[str | None, typer.Option(help="Notice version shown (default: the one in "
                                               "effect).")] = None,
    evidence: EvidenceOpt = None,
    evidence_file: EvidenceFileOpt = None,
    collector: CollectorOpt = None,
    expires: Annotated[str | None, typer.Option(help="When the consent lapses (ISO 8601 UTC).")]
    = None,
    valid_for: Annotated[str | None, typer.Option("--valid-for", help="Or how long it lasts: "
                                                  "'12 months', 'P2Y'.")] = None,
    age: Annotated[int | None, typer.Option(min=0, max=150,
                                            help="Subject's age at consent (when the policy "
                                            "sets consent_min_age).")] = None,
    guardian: Annotated[str | None, typer.Option(help="Holder of parental responsibility who "
                                                 "gave or authorised consent (Art. 8).")] = None,
    time: TimeOpt = None,
    event_id: EventIdOpt = None,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Record that SUBJECT consented to one purpose by an explicit action.

    Example: veil consent grant C-1 --purpose personalised_offers -p policy.yaml
    --channel web_form --action "clicked 'I agree'" --evidence-file form.pdf
    """
    _grant_like("granted", subject, purpose, policy, channel, action, notice, evidence,
                evidence_file, collector, expires, valid_for, age, guardian, time, event_id,
                as_json, workspace)


@consent_app.command("renew")
def renew(
    subject: SubjectArg,
    purpose: PurposeOpt,
    policy: PolicyOpt,
    channel: ChannelOpt,
    action: Annotated[str, typer.Option(help="The explicit action the subject took.")],
    notice: Annotated[str | None, typer.Option(help="Notice version shown (default: the one in "
                                               "effect).")] = None,
    evidence: EvidenceOpt = None,
    evidence_file: EvidenceFileOpt = None,
    collector: CollectorOpt = None,
    expires: Annotated[str | None, typer.Option(help="When the renewed consent lapses.")] = None,
    valid_for: Annotated[str | None, typer.Option("--valid-for", help="Or how long it lasts.")]
    = None,
    age: Annotated[int | None, typer.Option(min=0, max=150,
                                            help="Subject's age at renewal.")] = None,
    guardian: Annotated[str | None, typer.Option(help="Holder of parental responsibility.")]
    = None,
    time: TimeOpt = None,
    event_id: EventIdOpt = None,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Record that SUBJECT confirmed a consent in force or lapsed (not one withdrawn).

    Example: veil consent renew C-1 --purpose personalised_offers -p policy.yaml --channel app
    --action "confirmed in the app" --valid-for "12 months"
    """
    _grant_like("renewed", subject, purpose, policy, channel, action, notice, evidence,
                evidence_file, collector, expires, valid_for, age, guardian, time, event_id,
                as_json, workspace)


@consent_app.command("withdraw")
def withdraw(
    subject: SubjectArg,
    purpose: PurposeOpt,
    policy: PolicyOpt,
    channel: ChannelOpt,
    action: Annotated[str | None, typer.Option(help="What the subject did, e.g. 'clicked "
                                               "Withdraw' (optional).")] = None,
    evidence: EvidenceOpt = None,
    evidence_file: EvidenceFileOpt = None,
    collector: CollectorOpt = None,
    time: TimeOpt = None,
    event_id: EventIdOpt = None,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Record that SUBJECT withdrew consent to a purpose; effective from its time (Art. 7(3)).

    Runs that start after it no longer use the subject's rows; outputs of the purpose that hold
    the subject are then flagged, purged or rebuilt (the purpose's on_erasure) and models
    trained on them flagged for retraining. Example:
    veil consent withdraw C-1 --purpose personalised_offers -p policy.yaml --channel app
    """
    from veil.consent.models import ConsentEvent
    from veil.lifecycle import propagate_withdrawal

    ws, ledger = _ledger(workspace, policy)
    with ws:
        ev = ConsentEvent(subject, purpose, "withdrawn", channel, default_actor(collector), time,
                          None, action, _evidence(evidence, evidence_file), event_id=event_id)
        _recorded(ledger, ledger.append([ev])[0], as_json)
        p = propagate_withdrawal(ws, _policy(policy), subject, [purpose],
                                 actor=default_actor(collector))
        if p.outputs and not as_json:
            console.print(f"Outputs holding the subject: {len(p.of('rebuilt'))} rebuilt, "
                          f"{len(p.of('purged'))} purged, {len(p.of('flagged'))} flagged; "
                          f"{len(p.models)} model(s) to retrain")


# -- check / history -----------------------------------------------------------------------
@consent_app.command("check")
def check(
    subject: SubjectArg,
    purpose: PurposeOpt,
    policy: PolicyOpt,
    at: Annotated[str | None, typer.Option(help="Check as of this past time (ISO 8601 UTC).")]
    = None,
    notice: Annotated[str | None, typer.Option(help="Require consent under this notice version "
                                               "or a later one.")] = None,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Does SUBJECT hold valid consent to the purpose now (or --at a past time)?

    Exit code 0 when it does; 9, with the reason on stderr, when it does not (no consent,
    withdrawn, expired, outdated notice).

    Example: veil consent check C-1 --purpose personalised_offers -p policy.yaml
    """
    ws, ledger = _ledger(workspace, policy)
    with ws:
        ledger.check_arguments(subject, purpose, at)  # a bad purpose or time first (exit 3, 4)
        if not ledger.knows(subject):
            raise ConsentError(f"unknown subject: the ledger has no consent events for "
                               f"{ledger.ref(subject)}")
        st = ledger.check(subject, purpose, at, notice_version=notice)
    if as_json:
        print_json(st.to_json())
        if not st.valid:
            raise ConsentError(f"no valid consent: {st.reason} ({st.subject_ref}, purpose "
                               f"'{purpose}')")
        return
    from veil.consent.models import format_us, to_us

    when = format_us(to_us(st.at))
    detail = []
    if st.status:
        detail.append(f"{st.status} since {format_us(to_us(st.since))}" if st.since
                      else st.status)
    if st.notice_version:
        detail.append(f"notice {st.notice_version}")
    if st.expires:
        detail.append(f"expires {format_us(to_us(st.expires))}")
    if st.minor:
        detail.append("minor")
    more = f" ({', '.join(detail)})" if detail else ""
    line = f"{st.subject_ref}, purpose '{purpose}' at {when}: {st.reason}{more}"
    if not st.valid:
        raise ConsentError(f"no valid consent: {line}")
    console.print(f"[green]valid[/]: {escape(line)}")


@consent_app.command("history")
def history(
    subject: SubjectArg,
    purpose: Annotated[str | None, typer.Option(help="Only this purpose.")] = None,
    policy: OptPolicyOpt = None,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """List SUBJECT's consent events in time order (nothing is ever rewritten).

    Example: veil consent history C-1
    """
    from veil.consent.models import format_us

    ws, ledger = _ledger(workspace, policy)
    with ws:
        events = ledger.history(subject, purpose)
        if as_json:
            out = []
            for e in events:
                d = e.to_json()
                d["subject"] = ledger.ref(e.subject)
                out.append(d)
            print_json(out)
            return
        t = Table("time (UTC)", "purpose", "event", "channel", "notice", "action", "collector",
                  "expires", "event id", title=f"Consent history of {ledger.ref(subject)}")
        for e in events:
            t.add_row(format_us(e.time_us), e.purpose, e.kind, e.channel, e.notice_version or "-",
                      escape(e.action or "-"), escape(e.collector), format_us(e.expires_us) or "-",
                      e.event_id)
        console.print(t)


# -- import / export -----------------------------------------------------------------------
@consent_app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="CSV file: subject, purpose, event, time, channel, "
                                         "action, ... (see docs/consent.md).")],
    policy: PolicyOpt,
    collector: CollectorOpt = None,
    delimiter: Annotated[str, typer.Option(help="CSV field delimiter.")] = ",",
    encoding: Annotated[str, typer.Option(help="Text encoding.")] = "utf-8",
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Import consent events from CSV, all or nothing: a bad row (named by line) changes nothing.

    Example: veil consent import consents.csv -p policy.yaml
    """
    from veil.consent.interchange import import_csv

    if len(delimiter) != 1:
        raise ConsentError("--delimiter takes one character")
    ws, ledger = _ledger(workspace, policy)
    with ws:
        rep = import_csv(ledger, file, collector=default_actor(collector), delimiter=delimiter,
                         encoding=encoding)
    if as_json:
        print_json(rep.to_json())
        return
    kinds = ", ".join(f"{n:,} {k}" for k, n in rep.by_event.items())
    console.print(f"Imported {rep.events:,} consent events ({kinds}) for {rep.subjects:,} "
                  f"subjects, purposes {', '.join(rep.purposes)}, from {escape(str(file))}")


@consent_app.command("export")
def export(
    subject: Annotated[str | None, typer.Argument(help="Subject whose records to export as an "
                                                  "ISO/IEC TS 27560 consent record.")] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write (.json for a "
                                         "subject, .jsonl for --all).")] = Path("-"),
    all_: Annotated[bool, typer.Option("--all", help="Export the whole ledger as JSON lines.")]
    = False,
    policy: OptPolicyOpt = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Export a subject's consent records (ISO/IEC TS 27560 JSON) or the whole ledger (JSON lines).

    Examples: veil consent export C-1 -p policy.yaml -o c1-consent.json;
    veil consent export --all -o ledger.jsonl
    """
    from veil.consent.interchange import export_ledger, subject_record, write_subject_record

    if all_ == (subject is not None):
        raise ConsentError("give a SUBJECT or --all (not both)")
    ws, ledger = _ledger(workspace, policy)
    with ws:
        if all_:
            if str(output) == "-":
                raise ConsentError("--all needs --output FILE.jsonl")
            n = export_ledger(ledger, output)
            console.print(f"Wrote {n:,} consent events to {escape(str(output))}")
            return
        assert subject is not None
        if str(output) == "-":
            print_json(subject_record(ledger, subject))
            return
        rec = write_subject_record(ledger, subject, output)
        console.print(f"Wrote {len(rec['records'])} consent record(s) of {ledger.ref(subject)} "
                      f"to {escape(str(output))}")


# -- notices -------------------------------------------------------------------------------
@notice_app.command("add")
def notice_add(
    purpose: Annotated[str, typer.Argument(help="Purpose id from the policy.")],
    version: Annotated[str, typer.Option(help="Version label, e.g. 2 or 2026-03.")],
    text_file: Annotated[Path, typer.Option("--text-file", help="The notice text (UTF-8).")],
    policy: PolicyOpt,
    reconsent: Annotated[bool, typer.Option("--reconsent", help="Consents under earlier "
                                            "versions lapse when this one takes effect.")] = False,
    effective: Annotated[str | None, typer.Option(help="When it takes effect (ISO 8601 UTC; "
                                                  "default now).")] = None,
    created_by: Annotated[str | None, typer.Option(help="Who adds it (default: VEIL_ACTOR or "
                                                   "the OS user).")] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Store a new version of a purpose's notice text (texts are never changed, only added).

    Example: veil consent notice add personalised_offers --version 2 --text-file notice-v2.txt
    -p policy.yaml --reconsent
    """
    try:
        text = text_file.read_text("utf-8")
    except FileNotFoundError:
        raise ConsentInputError("file not found", where=str(text_file)) from None
    except UnicodeDecodeError:
        raise ConsentError("the notice text is not UTF-8", where=str(text_file)) from None
    except OSError as exc:
        raise ConsentError(f"cannot read file: {exc.strerror}", where=str(text_file)) from None
    ws, ledger = _ledger(workspace, policy)
    with ws:
        n = ledger.add_notice(purpose, version, text, created_by=default_actor(created_by),
                              effective=effective, reconsent=reconsent)
    from veil.consent.models import format_us

    console.print(f"Added notice {escape(n.version)} (#{n.seq}) of purpose [bold]"
                  f"{escape(purpose)}[/], effective {format_us(n.effective_us)}, sha256:"
                  f"{n.sha256[:16]}…" + (" — earlier consents lapse then (re-consent)"
                                         if n.reconsent else ""))


@notice_app.command("list")
def notice_list(
    purpose: Annotated[str, typer.Argument(help="Purpose id.")],
    policy: OptPolicyOpt = None,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """List a purpose's notice versions, oldest first.

    Example: veil consent notice list personalised_offers
    """
    from veil.consent.models import format_us

    ws, ledger = _ledger(workspace, policy)
    with ws:
        if policy is not None:
            ledger.purpose(purpose)
        notices = ledger.notices(purpose)
    if as_json:
        print_json([n.to_json() for n in notices])
        return
    if not notices:
        console.print(f"Purpose {escape(purpose)} has no notices yet: add one with "
                      "`veil consent notice add`")
        return
    t = Table("#", "version", "effective (UTC)", "re-consent", "sha256", "added by")
    for n in notices:
        t.add_row(str(n.seq), n.version, format_us(n.effective_us) or "-",
                  "yes" if n.reconsent else "no", n.sha256[:16] + "…", escape(n.created_by))
    console.print(t)
