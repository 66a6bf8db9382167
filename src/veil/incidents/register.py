"""The breach register (Art. 33(5)): open, update, assess, notify, close; every step recorded.

A breach is a row of ``breaches`` with its exposed items, subject pseudonyms in scope,
notifications and steps in their own tables (``veil.store.schema``, "breaches" section). Every
state change is one transaction guarded by the breach's ``version`` (a concurrent change is
refused, not overwritten) followed by an audit event (``breach.*``) that holds counts,
categories and subject pseudonyms only.

:class:`Breaches` is the facade a caller uses (the CLI, the service, Python); the work is done
by its collaborators: :mod:`~veil.incidents.inputs` checks what the DPO gives,
:mod:`~veil.incidents.exposure` finds the exposed items and the scope,
:mod:`~veil.incidents.changes` plans an update, :mod:`~veil.incidents.risk` assesses,
:mod:`~veil.incidents.notices` checks notifications and closing,
:class:`~veil.incidents.storage.BreachStore` keeps the record and
:class:`~veil.incidents.trail.BreachTrail` the audit events.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from veil._actor import default_actor
from veil.errors import ConflictError, InputError, NotFoundError
from veil.incidents import inputs
from veil.incidents import risk as risk_rules
from veil.incidents.breach import Breach, breach_ref, controller_snapshot
from veil.incidents.changes import Edit
from veil.incidents.clock import NOTIFY_WITHIN, iso, parse_time, zone
from veil.incidents.exposure import (
    Exposed,
    custom_categories,
    distinct,
    find_items,
    mark_key_exposed,
    policy_for,
    scope_of,
)
from veil.incidents.inputs import NATURES, PARAMS, UPDATE_PARAMS, api_where
from veil.incidents.notices import (
    PHASES,
    RECIPIENTS,
    Notice,
    check_kind,
    content_digest,
    missing_for_close,
    refuse_incomplete,
    required_recipients,
)
from veil.incidents.scope import Evidence
from veil.incidents.storage import BreachStore, Step
from veil.incidents.trail import AUDIT_BASIS, AUDIT_PURPOSE, BreachTrail
from veil.store.workspace import Workspace


class Breaches:
    """The workspace's breach register. Mirrors ``veil breach``; cheap to create.

    ``policy`` (a :class:`veil.policy.Policy`) gives the controller, DPO, supervisory authority
    and time zone for the drafts, and custom categories; without it the policy of the first
    exposed output's run is used.

    >>> reg = Breaches(workspace, policy=policy)                          # doctest: +SKIP
    >>> b = reg.open(title="Laptop lost", occurred_at="2026-03-01T08:00:00Z",
    ...              aware_at="2026-03-01T10:00:00Z", nature="confidentiality",
    ...              outputs=["credit.parquet"])                          # doctest: +SKIP
    >>> reg.assess(b.ref).decision                                        # doctest: +SKIP
    'none'
    """

    parse_ref = staticmethod(inputs.parse_ref)
    required_recipients = staticmethod(required_recipients)

    def __init__(self, workspace: Workspace, *, policy: Any | None = None,
                 actor: str | None = None, cli: bool = False) -> None:
        self.workspace = workspace.ready()
        self.policy = policy
        self.actor = default_actor(actor)[:128]
        #: errors name CLI options (``--aware``) rather than parameters (``aware_at``)
        self.cli = cli
        self.store = BreachStore(self.workspace, self.actor)
        self.trail = BreachTrail(self.workspace, self.actor)

    # -- reading ---------------------------------------------------------------------------
    def get(self, ref: str | int) -> Breach:
        bid = self.parse_ref(ref)
        b = self.store.get(bid)
        if b is None:
            raise NotFoundError(f"unknown breach {breach_ref(bid)} (see `veil breach list`)",
                                where="breach")
        return b

    @api_where(PARAMS)
    def list(self, *, status: str | None = None) -> builtins.list[Breach]:
        if status not in (None, "open", "closed"):
            raise InputError(f"status '{status}' is not open or closed", where="--status")
        return self.store.all(status)

    def subjects(self, ref: str | int) -> builtins.list[str]:
        """The subject pseudonyms in the breach's scope (for the Art. 34 communication)."""
        return self.store.subjects(self.get(ref).id)

    def _open_breach(self, ref: str | int) -> Breach:
        b = self.get(ref)
        if b.status == "closed":
            assert b.closed_at is not None
            raise ConflictError(f"closed since {iso(b.closed_at)}: a closed breach cannot "
                                "change; open a new one that refers to it", where=b.ref)
        return b

    # -- writing ---------------------------------------------------------------------------
    @api_where(PARAMS)
    def open(
        self,
        *,
        title: str,
        occurred_at: datetime | str,
        aware_at: datetime | str,
        nature: Iterable[str] | str,
        description: str = "",
        occurred_until: datetime | str | None = None,
        outputs: Sequence[str] = (),
        datasets: Sequence[str] = (),
        keysets: Sequence[str] = (),
        windows: Sequence[tuple[datetime | str, datetime | str]] = (),
        other: Sequence[str] = (),
        key_exposed: Sequence[str] = (),
        encrypted_datasets: bool = False,
        recipients: str = "unknown",
        malicious: bool = False,
        recoverable: bool = True,
        consequences: Sequence[str] = (),
        measures: Sequence[str] = (),
        estimate_subjects: int | None = None,
        estimate_records: int | None = None,
        categories: Sequence[str] = (),
        tz: str | None = None,
    ) -> Breach:
        """Record a breach and compute its scope from the evidence; returns it.

        Times are instants (ISO 8601 with offset); a local time needs ``tz``. Refused with the
        register unchanged: awareness before the breach, a time in the future, an unknown
        output, dataset or keyset, an unknown nature or category.
        """
        now = datetime.now(UTC)
        title = inputs.title_of(title)
        times = inputs.Times.read(occurred_at, aware_at, occurred_until,
                                  inputs.checked_zone(tz), now)
        nat = inputs.natures(nature)
        circ = inputs.circumstances(recipients, malicious, recoverable)
        wins = inputs.windows(windows, tz)
        if not (outputs or datasets or keysets or wins or other):
            raise InputError("say what was exposed: --output, --dataset, --keyset, --window or "
                             "--other", where="breach")
        ev = Evidence(self.workspace)
        exposed = Exposed(outputs, datasets, keysets, wins, inputs.texts(other, "--other"))
        found = find_items(ev, exposed, self.policy, encrypted_datasets=encrypted_datasets)
        mark_key_exposed(found, key_exposed, ": --key-exposed names one of the --output "
                         "values (or its run id or keyset)")
        items = distinct(found)
        policy = policy_for(self.policy, items)
        scope, pseudonyms = scope_of(ev, items, inputs.estimates(
            estimate_subjects, estimate_records, categories, policy), policy)
        controller = controller_snapshot(policy)
        row = dict(title=title, status="open", nature=nat, description=description.strip(),
                   occurred_at=times.occurred_at, occurred_until=times.occurred_until,
                   aware_at=times.aware_at, circumstances=circ,
                   consequences=inputs.texts(consequences, "--consequence"),
                   measures=inputs.texts(measures, "--measure"), controller=controller,
                   timezone=tz or (controller or {}).get("timezone") or "UTC",
                   scope=scope, assessment=None, decision=None, created_at=now,
                   created_by=self.actor, updated_at=now, closed_at=None, close_reason=None,
                   version=1)
        bid = self.store.insert(row, items, pseudonyms, Step(
            "open", f"opened: {title}; {len(items)} item(s), {scope['subjects']['count']} "
            f"subject(s), {scope['records']['count']} record(s)"), now)
        aware = times.aware_at
        self.trail.record("breach.open", bid, scope, pseudonyms, details={
            "nature": ",".join(nat), "occurred_at": iso(times.occurred_at),
            "aware_at": iso(aware), "deadline": iso(aware + NOTIFY_WITHIN), "items": len(items)})
        return self.get(bid)

    @api_where(UPDATE_PARAMS)
    def update(
        self,
        ref: str | int,
        *,
        title: str | None = None,
        description: str | None = None,
        occurred_at: datetime | str | None = None,
        occurred_until: datetime | str | None = None,
        aware_at: datetime | str | None = None,
        nature: Iterable[str] | str | None = None,
        add_outputs: Sequence[str] = (),
        add_datasets: Sequence[str] = (),
        add_keysets: Sequence[str] = (),
        add_windows: Sequence[tuple[datetime | str, datetime | str]] = (),
        add_other: Sequence[str] = (),
        key_exposed: Sequence[str] = (),
        recipients: str | None = None,
        malicious: bool | None = None,
        recoverable: bool | None = None,
        add_consequences: Sequence[str] = (),
        add_measures: Sequence[str] = (),
        estimate_subjects: int | None = None,
        estimate_records: int | None = None,
        categories: Sequence[str] = (),
        tz: str | None = None,
        rescope: bool = False,
    ) -> Breach:
        """Change facts or add what was exposed; the scope is recomputed when the evidence can
        have changed, and an earlier assessment is marked stale. A closed breach is refused."""
        b = self._open_breach(ref)
        edit = Edit(b, datetime.now(UTC))
        edit.texts(title, description)
        tz = edit.zone(tz)
        edit.times(occurred_at, aware_at, occurred_until, tz)
        edit.facts(nature, recipients, malicious, recoverable)
        edit.lists(add_consequences, add_measures)
        wins = inputs.windows(add_windows, tz)
        ev = Evidence(self.workspace)
        items, added = edit.items(ev, Exposed(add_outputs, add_datasets, add_keysets, wins,
                                              inputs.texts(add_other, "--other")),
                                  self.policy, key_exposed)
        pseudonyms = edit.scope(ev, items, self.policy, subjects=estimate_subjects,
                                records=estimate_records, categories=categories,
                                evidence_changed=bool(added or key_exposed or rescope),
                                added=len(added))
        summary = edit.summary()
        self.store.change(b, edit.now, edit.changes, Step("update", summary),
                          doing=f"updating {b.ref}",
                          items=items if added or key_exposed else None, pseudonyms=pseudonyms)
        self.trail.record("breach.update", b.id, edit.changes.get("scope", b.scope) or {},
                          pseudonyms or [],
                          details={"changed": ",".join(sorted(edit.changes))[:500]})
        return self.get(b.id)

    @api_where(PARAMS)
    def assess(self, ref: str | int, *, exceptions: dict[str, str] | None = None,
               override: str | None = None, reason: str | None = None) -> Breach:
        """Run the documented rule set (:mod:`veil.incidents.risk`) and record the result."""
        b = self._open_breach(ref)
        now = datetime.now(UTC)
        custom = {k: (c.special, c.criminal, c.financial)
                  for k, c in custom_categories(policy_for(self.policy, b.items)).items()}
        result = risk_rules.assess(b.scope or {}, b.nature, b.circumstances,
                                   custom_flags=custom, exceptions=exceptions,
                                   override=override, override_reason=reason)
        result["assessed_at"] = iso(now)
        result["assessed_by"] = self.actor
        self.store.change(b, now, {"assessment": result, "decision": result["decision"]},
                          Step("assess", _assessed(result, reason)),
                          doing=f"assessing {b.ref}")
        self.trail.record("breach.assess", b.id, b.scope or {}, [], details={
            "decision": result["decision"], "computed": result["computed_decision"],
            "severity": result["severity"], "score": float(result["score"]),
            "likelihood": result["likelihood"],
            "exceptions": ",".join(e["exception"] for e in result["exceptions"]) or None,
            "override": bool(result["override"])})
        return self.get(b.id)

    @api_where(PARAMS)
    def notify(self, ref: str | int, *, recipient: str = "authority",
               sent_at: datetime | str | None = None, phase: str = "single",
               delay_reason: str | None = None, reference: str | None = None,
               channel: str | None = None, content: bytes | Path | None = None,
               tz: str | None = None) -> Breach:
        """Record a notification sent to the authority (Art. 33; ``phase`` initial / follow_up /
        final when information comes in phases, Art. 33(4)), to the subjects (Art. 34) or to the
        public (Art. 34(3)(c)). A first authority notification after the 72 hours needs
        ``delay_reason`` (Art. 33(1)). ``content`` (the draft sent) is kept as its SHA-256."""
        b = self._open_breach(ref)
        now = datetime.now(UTC)
        check_kind(recipient, phase)
        sent = parse_time(sent_at, "--sent", tz or b.timezone) if sent_at is not None else now
        notice = Notice(recipient, phase, sent, delay_reason, reference, channel)
        late = notice.check(b, now)
        refuse_incomplete(content)
        digest = content_digest(content)
        self.store.change(b, now, {}, Step(
            "notify", f"notified {recipient} ({phase}) at {iso(sent)}" + (" LATE" if late else "")),
            doing="recording the notification",
            notification=notice.row(late, digest))
        self.trail.record("breach.notify", b.id, b.scope or {}, [], details={
            "recipient": recipient, "phase": phase, "sent_at": iso(sent), "late": late,
            "delay_reason_given": bool((delay_reason or "").strip())},
            digests={"content": f"sha256:{digest}"} if digest else None)
        return self.get(b.id)

    @api_where(PARAMS)
    def close(self, ref: str | int, *, reason: str, force: bool = False) -> Breach:
        """Close a breach once assessed and the notifications its decision requires are
        recorded (``force`` closes anyway; the reason then says why)."""
        b = self._open_breach(ref)
        if not (reason or "").strip():
            raise InputError("closing needs a reason (what was done, what remains)",
                             where="--reason")
        missing = None if force else missing_for_close(b)
        if missing:
            raise InputError(f"{b.ref} cannot be closed yet: {missing} (or --force with a "
                             "reason)", where="close")
        now = datetime.now(UTC)
        self.store.change(b, now, {"status": "closed", "closed_at": now,
                                   "close_reason": reason.strip()},
                          Step("close", "closed" + (" (forced)" if force else "")
                               + f": {reason.strip()}"), doing=f"closing {b.ref}")
        self.trail.record("breach.close", b.id, b.scope or {}, [],
                          details={"forced": force, "decision": b.decision})
        return self.get(b.id)

    # -- drafts and the register -------------------------------------------------------------
    @api_where(PARAMS)
    def draft(self, ref: str | int, out_dir: str | Path, *, tz: str | None = None,
              phase: str | None = None, subjects_notice: bool | None = None) -> dict[str, Path]:
        """Write the Art. 33(3) notification (JSON, Markdown, HTML) for ``phase`` (default:
        single; follow_up after an initial notification; final after a complete one) and, when the
        decision includes the subjects (or ``subjects_notice`` is True), the Art. 34 notice."""
        from veil.incidents.drafts import write_drafts

        return write_drafts(self, ref, out_dir, tz=tz, phase=phase,
                            subjects_notice=subjects_notice)

    def export_register(self, out_dir: str | Path) -> dict[str, Path]:
        """Write the Art. 33(5) register of every breach as CSV and JSON."""
        from veil.incidents.drafts import export_register

        return export_register(self, out_dir)

    def record_draft(self, b: Breach, kind: str, digests: dict[str, str]) -> None:
        """A draft or register export was written: one step and one audit event."""
        self.store.add_step(b.id, datetime.now(UTC), Step("draft", f"wrote {kind} draft"),
                            doing=f"recording the draft of {b.ref}")
        self.trail.record("breach.draft", b.id, b.scope or {}, [], details={"kind": kind},
                          digests=digests)

    def record_export(self, count: int, digests: dict[str, str]) -> None:
        self.trail.register_export(count, digests)


def _assessed(result: dict[str, Any], reason: str | None) -> str:
    """The step an assessment records: severity, likelihood, decision, override, exceptions."""
    summary = (f"assessed: severity {result['severity']} (SE {result['score']:g}), "
               f"likelihood {result['likelihood']} ({result['likelihood_reason']}), "
               f"decision {result['decision']}")
    if result["override"]:
        summary += f" (override of {result['computed_decision']}: {reason})"
    if result["exceptions"]:
        summary += "; exceptions " + ", ".join(e["exception"] for e in result["exceptions"])
    return summary


__all__ = ["AUDIT_BASIS", "AUDIT_PURPOSE", "NATURES", "PHASES", "RECIPIENTS", "Breach",
           "Breaches", "breach_ref", "controller_snapshot", "zone"]
