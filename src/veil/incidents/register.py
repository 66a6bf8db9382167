"""The breach register (Art. 33(5)): open, update, assess, notify, close; every step recorded.

A breach is a row of ``breaches`` with its exposed items, subject pseudonyms in scope,
notifications and steps in their own tables (``veil.store.schema``, "breaches" section). Every
state change is one transaction guarded by the breach's ``version`` (a concurrent change is
refused, not overwritten) followed by an audit event (``breach.*``) that holds counts,
categories and subject pseudonyms only.
"""

from __future__ import annotations

import builtins
import functools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import sqlalchemy as sa

from veil._actor import default_actor
from veil.errors import ConflictError, InputError, NotFoundError, StoreError, VeilError
from veil.incidents import risk as risk_rules
from veil.incidents.clock import (
    NOTIFY_WITHIN,
    Clock,
    as_utc,
    clock,
    format_duration,
    iso,
    local,
    parse_time,
    zone,
)
from veil.incidents.scope import Evidence, Item, compute_scope
from veil.policy.taxonomy import Category
from veil.store.schema import (
    breach_items,
    breach_notifications,
    breach_steps,
    breach_subjects,
    breaches,
)
from veil.store.workspace import Workspace

NATURES = ("confidentiality", "integrity", "availability")
RECIPIENTS = ("authority", "subjects", "public")
PHASES = ("single", "initial", "follow_up", "final")
AUDIT_PURPOSE = "breach-management"
AUDIT_BASIS = "Art. 33-34 GDPR"
_AUDIT_SUBJECTS = 1000
_REF = re.compile(r"^(?:BR-?)?0*(\d{1,12})$", re.IGNORECASE)


#: Where the Python API's errors point: the parameter, not the CLI option (``veil breach``
#: keeps the options; the REST service's body fields are the parameter names).
_PARAMS = {"--title": "title", "--description": "description", "--occurred": "occurred_at",
           "--aware": "aware_at", "--until": "occurred_until", "--nature": "nature",
           "--recipients": "recipients", "--tz": "tz", "--subjects": "estimate_subjects",
           "--records": "estimate_records", "--category": "categories",
           "--key-exposed": "key_exposed", "--status": "status", "--exception": "exceptions",
           "--override": "override", "--reason": "reason", "--to": "recipient",
           "--sent": "sent_at", "--phase": "phase", "--delay-reason": "delay_reason",
           "--output": "outputs", "--dataset": "datasets", "--keyset": "keysets",
           "--window": "windows", "--other": "other", "--consequence": "consequences",
           "--measure": "measures"}
_UPDATE_PARAMS = {**_PARAMS, **{f"--{k}": f"add_{v}" for k, v in (
    ("output", "outputs"), ("dataset", "datasets"), ("keyset", "keysets"),
    ("window", "windows"), ("other", "other"), ("consequence", "consequences"),
    ("measure", "measures"))}}
_P = ParamSpec("_P")
_R = TypeVar("_R")


def _api_where(names: dict[str, str]) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """Rename a CLI option in an error's ``where`` to the parameter, unless called by the CLI."""
    def deco(fn: Callable[_P, _R]) -> Callable[_P, _R]:
        @functools.wraps(fn)
        def wrapper(*args: _P.args, **kw: _P.kwargs) -> _R:
            try:
                return fn(*args, **kw)
            except VeilError as exc:
                if getattr(args[0], "cli", False) or exc.where not in names:
                    raise
                try:
                    new = type(exc)(exc.message, where=names[str(exc.where)])
                except TypeError:  # a subclass with another constructor: keep it as it is
                    raise exc from None
                raise new from None
        return wrapper
    return deco


def breach_ref(n: int) -> str:
    return f"BR-{n:04d}"


def _texts(values: Iterable[str] | str | None, what: str) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    out = []
    for v in values:
        if not isinstance(v, str) or not v.strip():
            raise InputError("must be non-empty text", where=what)
        out.append(v.strip())
    return out


def _nature(values: Iterable[str] | str) -> list[str]:
    vals = [values] if isinstance(values, str) else list(values)
    parts = [p.strip().lower() for v in vals for p in str(v).split(",") if p.strip()]
    if not parts:
        raise InputError("give the nature of the breach: confidentiality, integrity and/or "
                         "availability", where="--nature")
    for p in parts:
        if p not in NATURES:
            raise InputError(f"'{p}' is not a breach nature (confidentiality, integrity, "
                             "availability)", where="--nature")
    return [n for n in NATURES if n in parts]


@dataclass
class Breach:
    """One breach as recorded: facts, scope, assessment, notifications and steps."""

    id: int
    title: str
    status: str
    nature: list[str]
    description: str
    occurred_at: datetime
    occurred_until: datetime | None
    aware_at: datetime
    circumstances: dict[str, Any]
    consequences: list[str]
    measures: list[str]
    controller: dict[str, Any] | None
    scope: dict[str, Any] | None
    assessment: dict[str, Any] | None
    decision: str | None
    created_at: datetime
    created_by: str
    updated_at: datetime
    closed_at: datetime | None
    close_reason: str | None
    version: int
    display_tz: str | None = None  # stored at open/update (--tz), else the policy's zone
    items: list[Item] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ref(self) -> str:
        return breach_ref(self.id)

    @property
    def timezone(self) -> str | None:
        """The zone this breach's times are shown in: the one given at open or update, else
        the policy's ``controller.timezone``, else None (UTC)."""
        return self.display_tz or (self.controller or {}).get("timezone")

    def first_authority_notification(self) -> dict[str, Any] | None:
        sent = [n for n in self.notifications if n["recipient"] == "authority"]
        return min(sent, key=lambda n: n["sent_at"]) if sent else None

    def clock(self, now: datetime | None = None) -> Clock:
        first = self.first_authority_notification()
        return clock(self.aware_at, now or datetime.now(UTC),
                     notified_at=parse_time(first["sent_at"], "sent_at") if first else None,
                     required=self.decision != "none")

    def to_json(self, tz: str | None = None, now: datetime | None = None) -> dict[str, Any]:
        tz = tz or self.timezone
        return {
            "id": self.ref, "title": self.title, "status": self.status, "nature": self.nature,
            "description": self.description, "timezone": tz or "UTC",
            "occurred_at": iso(self.occurred_at),
            "occurred_at_local": local(self.occurred_at, tz),
            "occurred_until": iso(self.occurred_until) if self.occurred_until else None,
            "occurred_until_local": (local(self.occurred_until, tz) if self.occurred_until
                                     else None),
            "aware_at": iso(self.aware_at), "aware_at_local": local(self.aware_at, tz),
            "clock": self.clock(now).to_json(tz),
            "circumstances": self.circumstances, "consequences": self.consequences,
            "measures": self.measures, "controller": self.controller, "scope": self.scope,
            "assessment": self.assessment, "decision": self.decision,
            "notifications": self.notifications, "steps": self.steps,
            "created_at": iso(self.created_at), "created_by": self.created_by,
            "updated_at": iso(self.updated_at),
            "closed_at": iso(self.closed_at) if self.closed_at else None,
            "close_reason": self.close_reason,
        }


def controller_snapshot(policy: Any | None) -> dict[str, Any] | None:
    """What the drafts need from the policy's controller: names, contacts, authority, zone."""
    if policy is None:
        return None
    c = policy.controller
    return {
        "name": c.name, "contact": c.contact, "address": c.address,
        "dpo": c.dpo.model_dump() if c.dpo else None,
        "supervisory_authority": (c.supervisory_authority.model_dump()
                                  if getattr(c, "supervisory_authority", None) else None),
        "timezone": getattr(c, "timezone", None),
        "security_measures": list(policy.security_measures),
    }


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

    def __init__(self, workspace: Workspace, *, policy: Any | None = None,
                 actor: str | None = None, cli: bool = False) -> None:
        self.workspace = workspace.ready()
        self.policy = policy
        self.actor = default_actor(actor)[:128]
        #: errors name CLI options (``--aware``) rather than parameters (``aware_at``)
        self.cli = cli

    # -- reading ---------------------------------------------------------------------------
    @staticmethod
    def parse_ref(ref: str | int) -> int:
        if isinstance(ref, int) and not isinstance(ref, bool):
            return ref
        m = _REF.match(str(ref).strip())
        if not m:
            raise InputError(f"'{ref}' is not a breach reference like BR-0001", where="breach")
        return int(m.group(1))

    def get(self, ref: str | int) -> Breach:
        bid = self.parse_ref(ref)
        with self.workspace.engine.connect() as conn:
            b = self._load(conn, bid)
        if b is None:
            raise NotFoundError(f"unknown breach {breach_ref(bid)} (see `veil breach list`)",
                             where="breach")
        return b

    @_api_where(_PARAMS)
    def list(self, *, status: str | None = None) -> builtins.list[Breach]:
        if status not in (None, "open", "closed"):
            raise InputError(f"status '{status}' is not open or closed", where="--status")
        q = sa.select(breaches.c.id).order_by(breaches.c.id)
        if status:
            q = q.where(breaches.c.status == status)
        with self.workspace.engine.connect() as conn:
            ids = conn.execute(q).scalars().all()
            out = [self._load(conn, i) for i in ids]
        return [b for b in out if b is not None]

    def subjects(self, ref: str | int) -> builtins.list[str]:
        """The subject pseudonyms in the breach's scope (for the Art. 34 communication)."""
        bid = self.get(ref).id
        with self.workspace.engine.connect() as conn:
            return list(conn.execute(sa.select(breach_subjects.c.subject).where(
                breach_subjects.c.breach_id == bid).order_by(breach_subjects.c.subject))
                .scalars())

    def _load(self, conn: sa.Connection, bid: int) -> Breach | None:
        r = conn.execute(sa.select(breaches).where(breaches.c.id == bid)).first()
        if r is None:
            return None
        items = [Item(kind=i.kind, ref=i.ref, run_id=i.run_id, encrypted=i.encrypted,
                      keyset=i.keyset, key_exposed=i.key_exposed, detail=dict(i.detail or {}))
                 for i in conn.execute(sa.select(breach_items).where(
                     breach_items.c.breach_id == bid).order_by(breach_items.c.seq))]
        notes = [{"id": n.id, "recipient": n.recipient, "phase": n.phase,
                  "sent_at": iso(as_utc(n.sent_at)), "late": bool(n.late),
                  "delay_reason": n.delay_reason, "reference": n.reference,
                  "channel": n.channel, "content_sha256": n.content_sha256,
                  "recorded_at": iso(as_utc(n.recorded_at)), "recorded_by": n.recorded_by}
                 for n in conn.execute(sa.select(breach_notifications).where(
                     breach_notifications.c.breach_id == bid)
                     .order_by(breach_notifications.c.sent_at, breach_notifications.c.id))]
        steps = [{"time": iso(as_utc(s.time)), "actor": s.actor, "action": s.action,
                  "summary": s.summary}
                 for s in conn.execute(sa.select(breach_steps).where(
                     breach_steps.c.breach_id == bid).order_by(breach_steps.c.id))]
        return Breach(
            id=r.id, title=r.title, status=r.status, nature=list(r.nature),
            description=r.description, occurred_at=as_utc(r.occurred_at),
            occurred_until=as_utc(r.occurred_until) if r.occurred_until else None,
            aware_at=as_utc(r.aware_at), circumstances=dict(r.circumstances),
            consequences=list(r.consequences), measures=list(r.measures),
            controller=r.controller, scope=r.scope, assessment=r.assessment,
            decision=r.decision, created_at=as_utc(r.created_at), created_by=r.created_by,
            updated_at=as_utc(r.updated_at),
            closed_at=as_utc(r.closed_at) if r.closed_at else None,
            close_reason=r.close_reason, version=r.version, display_tz=r.timezone,
            items=items,
            notifications=notes, steps=steps)

    # -- evidence --------------------------------------------------------------------------
    def _items(self, ev: Evidence, *, outputs: Sequence[str], datasets: Sequence[str],
               keysets: Sequence[str], windows: Sequence[tuple[datetime, datetime]],
               other: Sequence[str], key_exposed: Sequence[str],
               encrypted_datasets: bool = False) -> builtins.list[Item]:
        exposed_keys = set(key_exposed)
        items: list[Item] = []
        for ref in outputs:
            items.append(ev.output_item(ref))
        for start, end in windows:
            items += ev.window_items(start, end)
        for name in datasets:
            it = ev.dataset_item(name, self.policy)
            if encrypted_datasets:
                it.encrypted = True
            items.append(it)
        for name in keysets:
            items.append(ev.keyset_item(name))
        for text in other:
            items.append(Item("other", text, detail={"description": text}))
        for it in items:
            if it.kind == "output" and (it.ref in exposed_keys or it.run_id in exposed_keys
                                        or (it.keyset and it.keyset in exposed_keys)):
                it.key_exposed = True
        known = {it.ref for it in items} | {it.run_id for it in items if it.run_id} | \
            {it.keyset for it in items if it.keyset}
        for k in exposed_keys:
            if k not in known:
                raise InputError(f"'{k}' is not an exposed output or its keyset: --key-exposed "
                                 "names one of the --output values (or its run id or keyset)",
                                 where="--key-exposed")
        seen: dict[tuple[str, str], Item] = {}
        for it in items:  # one item per run / dataset / keyset
            seen.setdefault((it.kind, it.run_id or it.ref), it)
        return builtins.list(seen.values())

    def _policy_for(self, items: Sequence[Item]) -> Any | None:
        if self.policy is not None:
            return self.policy
        from veil.policy import load_policy

        for it in items:
            path = it.detail.get("policy")
            if path:
                try:
                    return load_policy(path)
                except Exception:
                    continue
        return None

    @staticmethod
    def _custom(policy: Any | None) -> dict[str, Category]:
        if policy is None:
            return {}
        return {k: policy.category(k) for k in policy.categories}

    # -- writing ---------------------------------------------------------------------------
    def _check_times(self, occurred_at: datetime, aware_at: datetime,
                     occurred_until: datetime | None, now: datetime) -> None:
        if aware_at < occurred_at:
            raise InputError(f"awareness ({iso(aware_at)}) is before the breach itself "
                             f"({iso(occurred_at)})", where="--aware")
        if occurred_at > now:
            raise InputError(f"the breach time {iso(occurred_at)} is in the future",
                             where="--occurred")
        if aware_at > now:
            raise InputError(f"the awareness time {iso(aware_at)} is in the future",
                             where="--aware")
        if occurred_until is not None:
            if occurred_until < occurred_at:
                raise InputError(f"the end of the breach ({iso(occurred_until)}) is before its "
                                 f"start ({iso(occurred_at)})", where="--until")
            if occurred_until > now:
                raise InputError(f"the end of the breach {iso(occurred_until)} is in the future "
                                 "(leave it out while it goes on)", where="--until")

    @_api_where(_PARAMS)
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
        title = (title or "").strip()
        if not title:
            raise InputError("a breach needs a title", where="--title")
        if tz is not None:
            zone(tz)
        occ = parse_time(occurred_at, "--occurred", tz)
        aware = parse_time(aware_at, "--aware", tz)
        until = parse_time(occurred_until, "--until", tz) if occurred_until is not None else None
        self._check_times(occ, aware, until, now)
        nat = _nature(nature)
        circ = self._circumstances(recipients, malicious, recoverable)
        wins = [(parse_time(a, "--window", tz), parse_time(b, "--window", tz))
                for a, b in windows]
        if not (outputs or datasets or keysets or wins or other):
            raise InputError("say what was exposed: --output, --dataset, --keyset, --window or "
                             "--other", where="breach")
        ev = Evidence(self.workspace)
        items = self._items(ev, outputs=outputs, datasets=datasets, keysets=keysets,
                            windows=wins, other=_texts(other, "--other"),
                            key_exposed=key_exposed, encrypted_datasets=encrypted_datasets)
        policy = self._policy_for(items)
        estimates = self._estimates(estimate_subjects, estimate_records, categories, policy)
        scope, pseudonyms = compute_scope(ev, items, estimates=estimates,
                                          custom_categories=self._custom(policy))
        scope["estimates"] = estimates
        row = dict(title=title, status="open", nature=nat, description=description.strip(),
                   occurred_at=occ, occurred_until=until, aware_at=aware, circumstances=circ,
                   consequences=_texts(consequences, "--consequence"),
                   measures=_texts(measures, "--measure"),
                   controller=controller_snapshot(policy),
                   timezone=tz or (controller_snapshot(policy) or {}).get("timezone") or "UTC",
                   scope=scope, assessment=None,
                   decision=None, created_at=now, created_by=self.actor, updated_at=now,
                   closed_at=None, close_reason=None, version=1)
        try:
            with self.workspace.engine.begin() as conn:
                key = conn.execute(breaches.insert().values(**row)).inserted_primary_key
                assert key is not None
                bid = int(key[0])
                self._write_items(conn, bid, items)
                self._write_subjects(conn, bid, pseudonyms)
                self._step(conn, bid, now, "open", f"opened: {title}; {len(items)} item(s), "
                           f"{scope['subjects']['count']} subject(s), "
                           f"{scope['records']['count']} record(s)")
        except sa.exc.DBAPIError as exc:
            raise StoreError(f"recording the breach: database error ({_first(exc)})") from None
        self._audit("breach.open", bid, scope, pseudonyms, details={
            "nature": ",".join(nat), "occurred_at": iso(occ), "aware_at": iso(aware),
            "deadline": iso(aware + NOTIFY_WITHIN), "items": len(items)})
        return self.get(bid)

    @_api_where(_UPDATE_PARAMS)
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
        now = datetime.now(UTC)
        changes: dict[str, Any] = {}
        said: list[str] = []
        if title is not None:
            if not title.strip():
                raise InputError("a breach needs a title", where="--title")
            changes["title"] = title.strip()
        if description is not None:
            changes["description"] = description.strip()
        if tz is not None:
            zone(tz)
            if tz != b.display_tz:
                changes["timezone"] = tz
        tz = tz or b.timezone  # times without an offset are read in the breach's zone
        occ = parse_time(occurred_at, "--occurred", tz) if occurred_at is not None \
            else b.occurred_at
        aware = parse_time(aware_at, "--aware", tz) if aware_at is not None else b.aware_at
        until = parse_time(occurred_until, "--until", tz) if occurred_until is not None \
            else b.occurred_until
        self._check_times(occ, aware, until, now)
        if occ != b.occurred_at:
            changes["occurred_at"] = occ
        if until != b.occurred_until:
            changes["occurred_until"] = until
        if aware != b.aware_at:
            if b.first_authority_notification() is not None:
                raise InputError("the authority was already notified: awareness can no longer "
                                 "move (record a follow-up instead)", where="--aware")
            changes["aware_at"] = aware
            said.append(f"awareness now {iso(aware)} (deadline {iso(aware + NOTIFY_WITHIN)})")
        if nature is not None:
            changes["nature"] = _nature(nature)
        if recipients is not None or malicious is not None or recoverable is not None:
            c = b.circumstances
            changes["circumstances"] = self._circumstances(
                recipients if recipients is not None else c.get("recipients", "unknown"),
                malicious if malicious is not None else c.get("malicious", False),
                recoverable if recoverable is not None else c.get("recoverable", True))
        if add_consequences:
            changes["consequences"] = b.consequences + _texts(add_consequences, "--consequence")
        if add_measures:
            changes["measures"] = b.measures + _texts(add_measures, "--measure")
        wins = [(parse_time(a, "--window", tz), parse_time(z, "--window", tz))
                for a, z in add_windows]
        ev = Evidence(self.workspace)
        new_items = self._items(ev, outputs=add_outputs, datasets=add_datasets,
                                keysets=add_keysets, windows=wins,
                                other=_texts(add_other, "--other"), key_exposed=())
        have = {(i.kind, i.run_id or i.ref) for i in b.items}
        new_items = [i for i in new_items if (i.kind, i.run_id or i.ref) not in have]
        items = b.items + new_items
        if key_exposed:
            marked = set(key_exposed)
            for it in items:
                if it.kind == "output" and marked & {it.ref, it.run_id, it.keyset}:
                    it.key_exposed = True
            known = {x for it in items for x in (it.ref, it.run_id, it.keyset) if x}
            unknown = sorted(marked - known)
            if unknown:
                raise InputError(f"'{unknown[0]}' is not an exposed output or its keyset",
                                 where="--key-exposed")
        est_old = (b.scope or {}).get("estimates") or {}
        policy = self._policy_for(items)
        estimates = self._estimates(
            estimate_subjects if estimate_subjects is not None else est_old.get("subjects"),
            estimate_records if estimate_records is not None else est_old.get("records"),
            list(est_old.get("categories") or []) + list(categories), policy)
        evidence_changed = bool(new_items or key_exposed or rescope or categories
                                or estimate_subjects is not None
                                or estimate_records is not None)
        pseudonyms: list[str] | None = None
        if evidence_changed:
            scope, pseudonyms = compute_scope(ev, items, estimates=estimates,
                                              custom_categories=self._custom(policy))
            scope["estimates"] = estimates
            changes["scope"] = scope
            said.append(f"scope: {len(new_items)} new item(s), {scope['subjects']['count']} "
                        f"subject(s), {scope['records']['count']} record(s)")
        if b.assessment and ({"scope", "nature", "circumstances"} & set(changes)):
            changes["assessment"] = {**b.assessment, "stale": True}
        if not changes:
            raise InputError("nothing to update: give at least one change", where="update")
        said.insert(0, "changed " + ", ".join(sorted(k for k in changes if k != "assessment")))
        try:
            with self.workspace.engine.begin() as conn:
                self._bump(conn, b, now, changes)
                if new_items or key_exposed:
                    conn.execute(breach_items.delete().where(breach_items.c.breach_id == b.id))
                    self._write_items(conn, b.id, items)
                if pseudonyms is not None:
                    conn.execute(breach_subjects.delete().where(
                        breach_subjects.c.breach_id == b.id))
                    self._write_subjects(conn, b.id, pseudonyms)
                self._step(conn, b.id, now, "update", "; ".join(said))
        except sa.exc.DBAPIError as exc:
            raise StoreError(f"updating {b.ref}: database error ({_first(exc)})") from None
        scope_now = changes.get("scope", b.scope) or {}
        self._audit("breach.update", b.id, scope_now, pseudonyms or [],
                    details={"changed": ",".join(sorted(changes))[:500]})
        return self.get(b.id)

    @_api_where(_PARAMS)
    def assess(self, ref: str | int, *, exceptions: dict[str, str] | None = None,
               override: str | None = None, reason: str | None = None) -> Breach:
        """Run the documented rule set (:mod:`veil.incidents.risk`) and record the result."""
        b = self._open_breach(ref)
        now = datetime.now(UTC)
        policy = self._policy_for(b.items)
        custom = {k: (c.special, c.criminal, c.financial)
                  for k, c in self._custom(policy).items()}
        result = risk_rules.assess(b.scope or {}, b.nature, b.circumstances,
                                   custom_flags=custom, exceptions=exceptions,
                                   override=override, override_reason=reason)
        result["assessed_at"] = iso(now)
        result["assessed_by"] = self.actor
        summary = (f"assessed: severity {result['severity']} (SE {result['score']:g}), "
                   f"likelihood {result['likelihood']} ({result['likelihood_reason']}), "
                   f"decision {result['decision']}")
        if result["override"]:
            summary += f" (override of {result['computed_decision']}: {reason})"
        if result["exceptions"]:
            summary += "; exceptions " + ", ".join(e["exception"] for e in result["exceptions"])
        try:
            with self.workspace.engine.begin() as conn:
                self._bump(conn, b, now, {"assessment": result, "decision": result["decision"]})
                self._step(conn, b.id, now, "assess", summary)
        except sa.exc.DBAPIError as exc:
            raise StoreError(f"assessing {b.ref}: database error ({_first(exc)})") from None
        self._audit("breach.assess", b.id, b.scope or {}, [], details={
            "decision": result["decision"], "computed": result["computed_decision"],
            "severity": result["severity"], "score": float(result["score"]),
            "likelihood": result["likelihood"],
            "exceptions": ",".join(e["exception"] for e in result["exceptions"]) or None,
            "override": bool(result["override"])})
        return self.get(b.id)

    @_api_where(_PARAMS)
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
        if recipient not in RECIPIENTS:
            raise InputError(f"recipient '{recipient}' is not one of {', '.join(RECIPIENTS)}",
                             where="--to")
        if phase not in PHASES:
            raise InputError(f"phase '{phase}' is not one of {', '.join(PHASES)}",
                             where="--phase")
        sent = parse_time(sent_at, "--sent", tz or b.timezone) if sent_at is not None else now
        if sent > now:
            raise InputError(f"the sending time {iso(sent)} is in the future", where="--sent")
        if sent < b.aware_at:
            raise InputError(f"the sending time {iso(sent)} is before awareness "
                             f"({iso(b.aware_at)})", where="--sent")
        first = b.first_authority_notification()
        late = False
        if recipient == "authority":
            if phase in ("follow_up", "final") and first is None:
                raise InputError(f"{b.ref} has no initial notification to the authority yet: "
                                 "record it first (--phase initial or single)", where="--phase")
            is_first = first is None or sent < parse_time(first["sent_at"], "sent_at")
            late = is_first and sent > b.aware_at + NOTIFY_WITHIN
            if late and not (delay_reason or "").strip():
                raise InputError(
                    f"this notification is {_late_by(sent, b.aware_at)} past the 72-hour "
                    "deadline: Art. 33(1) requires the reasons for the delay (--delay-reason)",
                    where="--delay-reason")
        digest = None
        if content is not None:
            import hashlib

            data = content if isinstance(content, bytes) else _read(content)
            digest = hashlib.sha256(data).hexdigest()
        summary = f"notified {recipient} ({phase}) at {iso(sent)}" + (" LATE" if late else "")
        try:
            with self.workspace.engine.begin() as conn:
                self._bump(conn, b, now, {})
                conn.execute(breach_notifications.insert().values(
                    breach_id=b.id, recipient=recipient, phase=phase, sent_at=sent, late=late,
                    delay_reason=(delay_reason or "").strip() or None,
                    reference=(reference or "").strip() or None,
                    channel=(channel or "").strip() or None, content_sha256=digest,
                    recorded_at=now, recorded_by=self.actor))
                self._step(conn, b.id, now, "notify", summary)
        except sa.exc.DBAPIError as exc:
            raise StoreError(f"recording the notification: database error "
                             f"({_first(exc)})") from None
        self._audit("breach.notify", b.id, b.scope or {}, [], details={
            "recipient": recipient, "phase": phase, "sent_at": iso(sent), "late": late,
            "delay_reason_given": bool((delay_reason or "").strip())},
            digests={"content": f"sha256:{digest}"} if digest else None)
        return self.get(b.id)

    @_api_where(_PARAMS)
    def close(self, ref: str | int, *, reason: str, force: bool = False) -> Breach:
        """Close a breach once assessed and the notifications its decision requires are
        recorded (``force`` closes anyway; the reason then says why)."""
        b = self._open_breach(ref)
        if not (reason or "").strip():
            raise InputError("closing needs a reason (what was done, what remains)",
                             where="--reason")
        if not force:
            missing = self._missing_for_close(b)
            if missing:
                raise InputError(f"{b.ref} cannot be closed yet: {missing} (or --force with a "
                                 "reason)", where="close")
        now = datetime.now(UTC)
        try:
            with self.workspace.engine.begin() as conn:
                self._bump(conn, b, now, {"status": "closed", "closed_at": now,
                                          "close_reason": reason.strip()})
                self._step(conn, b.id, now, "close", "closed" + (" (forced)" if force else "")
                           + f": {reason.strip()}")
        except sa.exc.DBAPIError as exc:
            raise StoreError(f"closing {b.ref}: database error ({_first(exc)})") from None
        self._audit("breach.close", b.id, b.scope or {}, [],
                    details={"forced": force, "decision": b.decision})
        return self.get(b.id)

    @_api_where(_PARAMS)
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
        now = datetime.now(UTC)
        with self.workspace.engine.begin() as conn:
            self._step(conn, b.id, now, "draft", f"wrote {kind} draft")
        self._audit("breach.draft", b.id, b.scope or {}, [], details={"kind": kind},
                    digests=digests)

    def record_export(self, count: int, digests: dict[str, str]) -> None:
        from veil.audit.log import AuditLog

        AuditLog(self.workspace).record(
            self.actor, "breach.register_export", purpose=AUDIT_PURPOSE,
            legal_basis="Art. 33(5) GDPR", outcome="success", counts={"breaches": count},
            digests=digests)

    # -- helpers ---------------------------------------------------------------------------
    @staticmethod
    def required_recipients(b: Breach) -> builtins.list[str]:
        """Who the breach's decision says must be notified: authority, subjects or public."""
        need: list[str] = []
        if b.decision in ("authority", "authority_and_subjects"):
            need.append("authority")
        comm = (b.assessment or {}).get("subjects_communication")
        if b.decision == "authority_and_subjects":
            if comm == "individual":
                need.append("subjects")
            elif comm == "public":
                need.append("public")
        return need

    def _missing_for_close(self, b: Breach) -> str | None:
        if b.assessment is None:
            return "it has not been assessed (`veil breach assess`)"
        if b.assessment.get("stale"):
            return "its assessment predates later changes: assess again"
        what = {"authority": "the authority has not been notified",
                "subjects": "the subjects have not been told (Art. 34)",
                "public": "the public communication (Art. 34(3)(c)) is not recorded"}
        problems: list[str] = []
        for rcp in self.required_recipients(b):
            phases = [n["phase"] for n in b.notifications if n["recipient"] == rcp]
            if not phases:
                problems.append(what[rcp])
            elif not {"single", "final"} & set(phases):
                problems.append(f"the notification to the {rcp} has only its "
                                + " and ".join(dict.fromkeys(p.replace("_", "-")
                                                             for p in phases))
                                + " phase: record the final one (Art. 33(4): --phase final)")
        return "; ".join(problems) or None

    def _open_breach(self, ref: str | int) -> Breach:
        b = self.get(ref)
        if b.status == "closed":
            assert b.closed_at is not None
            raise ConflictError(f"closed since {iso(b.closed_at)}: a closed breach cannot "
                                "change; open a new one that refers to it", where=b.ref)
        return b

    @staticmethod
    def _circumstances(recipients: str, malicious: bool, recoverable: bool) -> dict[str, Any]:
        if recipients not in risk_rules.RECIPIENTS:
            raise InputError(f"recipients '{recipients}' is not one of "
                             f"{', '.join(risk_rules.RECIPIENTS)}", where="--recipients")
        return {"recipients": recipients, "malicious": bool(malicious),
                "recoverable": bool(recoverable)}

    @staticmethod
    def _estimates(subjects: int | None, records: int | None, categories: Sequence[str],
                   policy: Any | None) -> dict[str, Any]:
        from veil.policy.taxonomy import BUILTIN_CATEGORIES

        for n, what in ((subjects, "--subjects"), (records, "--records")):
            if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 0):
                raise InputError("must be a whole number of at least 0", where=what)
        known = set(BUILTIN_CATEGORIES) | set(getattr(policy, "categories", {}) or {})
        cats = sorted({c.strip() for c in categories if c.strip()})
        for c in cats:
            if c not in known:
                raise InputError(f"unknown data category '{c}' (see `veil policy check`; "
                                 "built in: " + ", ".join(sorted(BUILTIN_CATEGORIES)) + ")",
                                 where="--category")
        return {"subjects": subjects, "records": records, "categories": cats}

    def _bump(self, conn: sa.Connection, b: Breach, now: datetime,
              values: dict[str, Any]) -> None:
        res = conn.execute(breaches.update().where(
            breaches.c.id == b.id, breaches.c.version == b.version, breaches.c.status == "open")
            .values(**values, updated_at=now, version=b.version + 1))
        if res.rowcount != 1:
            raise StoreError("changed by someone else meanwhile: show it and try again",
                             where=b.ref)

    def _write_items(self, conn: sa.Connection, bid: int, items: Sequence[Item]) -> None:
        if items:
            conn.execute(breach_items.insert(), [
                {"breach_id": bid, "seq": n, "kind": it.kind, "ref": it.ref[:2000],
                 "run_id": it.run_id, "encrypted": it.encrypted, "keyset": it.keyset,
                 "key_exposed": it.key_exposed, "detail": it.detail}
                for n, it in enumerate(items)])

    @staticmethod
    def _write_subjects(conn: sa.Connection, bid: int, pseudonyms: Sequence[str]) -> None:
        for i in range(0, len(pseudonyms), 5000):
            conn.execute(breach_subjects.insert(), [{"breach_id": bid, "subject": s}
                                                    for s in pseudonyms[i:i + 5000]])

    def _step(self, conn: sa.Connection, bid: int, now: datetime, action: str,
              summary: str) -> None:
        conn.execute(breach_steps.insert().values(breach_id=bid, time=now, actor=self.actor,
                                                  action=action, summary=summary[:4000]))

    def _audit(self, action: str, bid: int, scope: dict[str, Any], pseudonyms: Sequence[str],
               *, details: dict[str, Any], digests: dict[str, str] | None = None) -> None:
        from veil.audit.event import AuditEvent
        from veil.audit.log import AuditLog

        now = datetime.now(UTC)
        cats = list(scope.get("categories") or [])
        counts = {"subjects": int((scope.get("subjects") or {}).get("count") or 0),
                  "records": int((scope.get("records") or {}).get("count") or 0)}
        base = {"breach": breach_ref(bid), **{k: v for k, v in details.items()}}
        chunks = [list(pseudonyms[i:i + _AUDIT_SUBJECTS])
                  for i in range(0, len(pseudonyms), _AUDIT_SUBJECTS)] or [[]]
        events = [AuditEvent(
            time=now, actor=self.actor, action=action if n == 0 else "breach.scope",
            purpose=AUDIT_PURPOSE, legal_basis=AUDIT_BASIS, outcome="success",
            data_categories=cats, counts=counts, subjects=part, digests=digests or {},
            details=base if n == 0 else {"breach": breach_ref(bid), "part": n})
            for n, part in enumerate(chunks)]
        AuditLog(self.workspace).append(events)


def _late_by(sent: datetime, aware: datetime) -> str:
    return format_duration(sent - aware - NOTIFY_WITHIN)


def _read(path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the notification content: {exc.strerror}",
                         where=str(path)) from None


def _first(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    return ((str(orig).splitlines() or [type(orig).__name__])[0])[:200]


__all__ = ["NATURES", "PHASES", "RECIPIENTS", "Breach", "Breaches", "breach_ref",
           "controller_snapshot", "zone"]
