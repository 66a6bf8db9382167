"""Data-subject requests: open, run (idempotent, recorded steps), extend, close.

A request names its subject by keyed pseudonym (`SubjectRef` token) in every column, audit
event and message; the subject id itself (and a rectification's new values) is kept only
sealed with the workspace's ``dsr`` AEAD keyset, bound to the request id, so a failed request
can be rerun, and the seal is dropped once an erasure is done. Each step of a run is recorded
in ``dsr_steps``: a step whose effect is outside the workspace database (a registered store)
first records "started" with the facts it found (e.g. the rows to delete), so a rerun after a
crash reports what the first attempt did and what remains; a step whose effect is in the
workspace database records its outcome in the same transaction. A rerun skips finished steps,
and every step is safe to repeat anyway (deleting deleted rows deletes nothing, shredding a
shredded key destroys nothing).

A run holds the request by a lease (``lease_owner``, ``running_since``): the status changes from
open/failed to running in one compare-and-swap UPDATE, so two runs at once cannot both act; a
run killed mid-way leaves a lease that another run takes over once it is older than
``LEASE_MINUTES`` (or at once with ``force=True``); every step record checks the lease, so a
run that lost it stops. Completion writes the audit event first, then the status, result and
the seal's removal in one transaction (a rerun after a crash in between adds the event only if
it is missing).

Deadlines (Art. 12(3)): one month from receipt, extendable by two further months with a
recorded reason. `Requests.list` puts overdue and due-soon requests first.
"""

from __future__ import annotations

import builtins
import calendar
import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from veil._actor import default_actor
from veil.errors import (
    ConflictError,
    InputError,
    NotFoundError,
    PolicyError,
    RunRefused,
    VeilError,
)
from veil.store.schema import dsr_requests, dsr_steps

if TYPE_CHECKING:  # pragma: no cover
    from veil.policy.model import Policy
    from veil.store.workspace import Workspace

KINDS: dict[str, str] = {
    "access": "Art. 15 right of access",
    "portability": "Art. 20 right to data portability",
    "rectification": "Art. 16 right to rectification",
    "erasure": "Art. 17 right to erasure",
    "restriction": "Art. 18 right to restriction of processing",
    "objection": "Art. 21 right to object",
}
OPEN_STATES = ("open", "running", "failed")
PORTABLE_BASES = ("consent", "contract")
OBJECTABLE_BASES = ("legitimate_interests", "public_task")
DSR_KEYSET = "dsr"
PACKAGE_KEYSET = "dsr-packages"
LEASE_MINUTES = 30
STATUSES = ("open", "running", "failed", "completed", "refused", "closed")
PURPOSE_KINDS = ("restriction", "objection")


def add_months(t: datetime, months: int) -> datetime:
    """Same day ``months`` later (the month's last day when it has fewer days)."""
    m = t.month - 1 + months
    y, m = t.year + m // 12, m % 12 + 1
    return t.replace(year=y, month=m, day=min(t.day, calendar.monthrange(y, m)[1]))


def _utc(t: datetime | None) -> datetime | None:
    if t is None:
        return None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def iso(t: datetime | None) -> str | None:
    t = _utc(t)
    return None if t is None else t.isoformat(timespec="seconds").replace("+00:00", "Z")


def _parse_time(value: datetime | str | None, what: str) -> datetime:
    if value is None:
        return datetime.now(UTC)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise InputError(f"{what} must carry a time zone (e.g. 2025-03-01T09:00:00Z)")
        return value.astimezone(UTC)
    try:
        t = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"{what} '{value}' is not an ISO 8601 time "
                         "(e.g. 2025-03-01T09:00:00Z)") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.astimezone(UTC)


class LeaseLost(ConflictError):
    """Another run took the request over (this one was presumed dead): stop, record nothing."""


class _Row:
    """Column values seen as a row (to build a RequestRecord before it is stored)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update({c.name: None for c in dsr_requests.c})
        self.__dict__.update(values)


def check_value(ftype: str, name: str, value: Any) -> Any:
    """A rectification's new value, converted to the field's policy type with the same
    conversions as reading data (`veil.io.types.conform`); InputError naming the field (never
    the value: it is personal data). None (CLI ``--set field=``) means null."""
    import pyarrow as pa

    from veil.io.types import conform

    if value is None or not isinstance(value, str) or ftype == "string":
        return value
    batch = pa.RecordBatch.from_pydict({name: pa.array([value], type=pa.string())})
    out, bad = conform(batch, {name: ftype})
    if bad:
        raise InputError(f"field '{name}': the new value is not a valid {ftype}")
    return out.column(0)[0].as_py()


@dataclass
class RequestRecord:
    """A request as stored (no personal data: the subject is a pseudonym)."""

    id: str
    kind: str
    subject: str
    received_at: datetime
    due_at: datetime
    extended_months: int
    extension_reason: str | None
    status: str
    verification: str | None
    purposes: list[str] | None
    policy_path: str
    opened_by: str
    updated_at: datetime
    closed_at: datetime | None
    close_note: str | None
    result: dict[str, Any] | None
    error: str | None
    steps: list[dict[str, Any]] = field(default_factory=list)
    lease_owner: str | None = None
    running_since: datetime | None = None
    hold_until: datetime | None = None

    @property
    def article(self) -> str:
        return KINDS[self.kind]

    def urgency(self, now: datetime | None = None, due_soon_days: int = 7) -> str:
        now = now or datetime.now(UTC)
        if self.status == "completed" and self.hold_until is not None:
            return "hold ended: run again" if self.hold_until <= now else "legal hold"
        if self.status not in OPEN_STATES:
            return ""
        now = now or datetime.now(UTC)
        if self.due_at < now:
            return "overdue"
        if self.due_at - now <= timedelta(days=due_soon_days):
            return "due soon"
        return ""

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "article": self.article,
                "subject": self.subject, "received_at": iso(self.received_at),
                "due_at": iso(self.due_at), "urgency": self.urgency(),
                "extended_months": self.extended_months,
                "extension_reason": self.extension_reason, "status": self.status,
                "verification": self.verification, "purposes": self.purposes,
                "policy": self.policy_path, "opened_by": self.opened_by,
                "updated_at": iso(self.updated_at), "closed_at": iso(self.closed_at),
                "close_note": self.close_note, "result": self.result, "error": self.error,
                "running_since": iso(self.running_since), "hold_until": iso(self.hold_until),
                "steps": self.steps}


def _record(r: Any, steps: list[dict[str, Any]] | None = None) -> RequestRecord:
    return RequestRecord(
        id=r.id, kind=r.kind, subject=r.subject, received_at=_utc(r.received_at),  # type: ignore[arg-type]
        due_at=_utc(r.due_at), extended_months=r.extended_months,  # type: ignore[arg-type]
        extension_reason=r.extension_reason, status=r.status, verification=r.verification,
        purposes=json.loads(r.purposes) if r.purposes else None, policy_path=r.policy_path,
        opened_by=r.opened_by, updated_at=_utc(r.updated_at),  # type: ignore[arg-type]
        closed_at=_utc(r.closed_at), close_note=r.close_note, result=r.result, error=r.error,
        steps=steps or [], lease_owner=r.lease_owner, running_since=_utc(r.running_since),
        hold_until=_utc(r.hold_until))


class Requests:
    """The workspace's data-subject requests (see module doc).

    >>> reqs = Requests(workspace, policy)                               # doctest: +SKIP
    >>> r = reqs.open("erasure", "CUST-0000042", verification="ID checked at branch")
    >>> reqs.run(r.id).result["outcome"]                                 # doctest: +SKIP
    'erased'
    """

    def __init__(self, workspace: Workspace, policy: Policy | str | Path | None = None) -> None:
        from veil.consent.models import SubjectRef

        self.workspace = workspace.ready()
        self.engine = workspace.engine
        self._policy = policy
        self.ref = SubjectRef(workspace.root)
        self._aead: Any = None

    # -- helpers ---------------------------------------------------------------------------

    def policy(self, path: str | None = None) -> Policy:
        from veil.policy.loader import load_policy
        from veil.policy.model import Policy

        p = self._policy
        if isinstance(p, Policy):
            return p
        if p is not None:
            self._policy = load_policy(p)
            return self._policy  # type: ignore[return-value]
        if path:
            return load_policy(path)
        raise PolicyError("this needs the policy: pass policy= (or --policy)")

    def _cipher(self) -> Any:
        if self._aead is None:
            from veil.crypto.aead import Aead
            from veil.keys.manager import KeyManager

            ks = KeyManager(self.workspace).ensure(DSR_KEYSET, "aead",
                                                   "veil dsr: sealed subject ids of requests")
            self._aead = Aead(ks)
        return self._aead

    @staticmethod
    def _ad(request_id: str) -> bytes:
        return b"veil:dsr:v1:" + request_id.encode("ascii")

    def _seal(self, request_id: str, payload: dict[str, Any]) -> bytes:
        data = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode("utf-8")
        return bytes(self._cipher().encrypt(data, self._ad(request_id)))

    def _unseal(self, request_id: str, sealed: bytes | None) -> dict[str, Any]:
        if sealed is None:
            raise RunRefused(f"request {request_id}: the subject id was deleted by an erasure "
                             "(Art. 17); open a new request to act again")
        return dict(json.loads(self._cipher().decrypt(bytes(sealed), self._ad(request_id))))

    def _audit(self, action: str, rec: RequestRecord | Any, actor: str, outcome: str = "success",
               counts: dict[str, int] | None = None, details: dict[str, Any] | None = None,
               categories: list[str] | None = None) -> None:
        from veil.audit.event import AuditEvent
        from veil.audit.log import AuditLog

        d = {"request": rec.id, "kind": rec.kind}
        d.update({k: v for k, v in (details or {}).items()
                  if v is None or isinstance(v, str | int | float | bool)})
        AuditLog(self.workspace).append([AuditEvent(
            time=datetime.now(UTC), actor=actor or "unknown", action=action,
            purpose="data-subject-rights", legal_basis=KINDS[rec.kind], outcome=outcome,
            data_categories=categories or [], counts=counts or {},
            subjects=[f"dsr:{rec.subject}"], details=d)])

    # -- open / list / get -----------------------------------------------------------------

    def open(self, kind: str, subject: str, *, received: datetime | str | None = None,
             verification: str | None = None, purposes: list[str] | None = None,
             details: dict[str, Any] | None = None, actor: str | None = None) -> RequestRecord:
        """Record a request; the due date is one month after ``received`` (default now).

        A request type the policy refuses (its ``rights.refuse``, Art. 20 without a consent or
        contract purpose, Art. 21 against a purpose on another legal basis) is recorded as
        refused and raises `RunRefused` saying why (request id included).
        """
        actor = actor or default_actor()
        if kind not in KINDS:
            raise InputError(f"unknown request type '{kind}' (known: {', '.join(KINDS)})")
        if not isinstance(subject, str) or not subject.strip():
            raise InputError("the subject id is empty")
        subject = subject.strip()
        pol = self.policy()
        recv = _parse_time(received, "received")
        if recv > datetime.now(UTC) + timedelta(minutes=5):
            raise InputError(f"received time {iso(recv)} is in the future")
        if purposes is not None:
            if kind not in PURPOSE_KINDS:
                raise InputError(f"--purpose is for restriction and objection requests; "
                                 f"{kind} concerns all the subject's data")
            purposes = list(dict.fromkeys(purposes))
            for p in purposes:
                pol.purpose(p)
        details = dict(details or {})
        if kind == "rectification":
            self._check_corrections(pol, details)
        elif details:
            raise InputError(f"details are for rectification requests, not {kind}")
        refusal = self._refusal(pol, kind, purposes)
        if kind == "objection" and refusal is None and purposes is None:
            purposes = [p for p, d in pol.purposes.items() if d.legal_basis in OBJECTABLE_BASES]
        rid = uuid.uuid4().hex[:12]
        now = datetime.now(UTC)
        token = self.ref.token(subject)
        status = "refused" if refusal else "open"
        result = {"outcome": "refused", "reason": refusal} if refusal else None
        values = dict(
            id=rid, kind=kind, subject=token,
            sealed=None if refusal else self._seal(rid, {"subject": subject,
                                                         "details": details}),
            received_at=recv, due_at=add_months(recv, 1), extended_months=0,
            status=status, verification=(verification or None),
            purposes=json.dumps(purposes) if purposes is not None else None,
            policy_path=pol.source, opened_by=actor, updated_at=now,
            closed_at=now if refusal else None, result=result)
        # the audit event first: a request never exists without its record in the log
        self._audit("dsr.open", _record(_Row(values)), actor,
                    outcome="refused" if refusal else "success",
                    details={"verified": bool(verification), "refusal": refusal})
        with self.engine.begin() as conn:
            conn.execute(dsr_requests.insert().values(**values))
        rec = self.get(rid)
        if refusal:
            raise RunRefused(f"request {rid} ({KINDS[kind]}) refused and recorded: {refusal}",
                             where=pol.source)
        return rec

    @staticmethod
    def _refusal(pol: Policy, kind: str, purposes: list[str] | None) -> str | None:
        if kind in pol.rights.refuse:
            why = pol.rights.refuse_reason or "the policy's rights.refuse lists it"
            return f"{KINDS[kind]} requests are not taken: {why}"
        if kind == "portability" and not any(p.legal_basis in PORTABLE_BASES
                                             for p in pol.purposes.values()):
            return ("Art. 20(1) applies to processing based on consent or a contract; no "
                    "purpose of the policy relies on either")
        if kind == "objection":
            chosen = purposes if purposes is not None else list(pol.purposes)
            bad = [p for p in chosen if pol.purposes[p].legal_basis not in OBJECTABLE_BASES]
            if purposes is not None and bad:
                return (f"Art. 21(1) applies to processing based on legitimate interests or a "
                        f"public task; purpose(s) {', '.join(bad)} rely on another basis "
                        f"({', '.join(sorted({pol.purposes[p].legal_basis_text for p in bad}))})")
            if purposes is None and not any(pol.purposes[p].legal_basis in OBJECTABLE_BASES
                                            for p in chosen):
                return ("Art. 21(1) applies to processing based on legitimate interests or a "
                        "public task; no purpose of the policy relies on either")
        return None

    @staticmethod
    def _check_corrections(pol: Policy, details: dict[str, Any]) -> None:
        fix = details.get("corrections")
        if not isinstance(fix, dict) or not fix:
            raise InputError("a rectification needs details={'corrections': {field: new value}}"
                             " (CLI: --set field=value)")
        ds_name = details.get("dataset")
        stores = [d for d, ds in pol.datasets.items() if ds.store is not None]
        if ds_name is None:
            stores_with = [d for d in stores if all(f in pol.datasets[d].fields for f in fix)]
            if not stores_with:
                raise InputError(f"no dataset with a registered store declares field(s) "
                                 f"{', '.join(fix)}")
            details["datasets"] = stores_with
        else:
            if ds_name not in stores:
                raise InputError(f"dataset '{ds_name}' has no registered store (policy "
                                 "datasets.<name>.store)")
            unknown = [f for f in fix if f not in pol.datasets[ds_name].fields]
            if unknown:
                raise InputError(f"field(s) {', '.join(unknown)} not declared in dataset "
                                 f"'{ds_name}'")
            details["datasets"] = [ds_name]
        for d in details["datasets"]:
            if pol.datasets[d].subject_id in fix:
                raise InputError("the subject id itself cannot be rectified")
        for f, v in fix.items():
            if v is not None and not isinstance(v, str | int | float | bool):
                raise InputError(f"field '{f}': the new value must be text, a number, a "
                                 "boolean or None (null)")
            for d in details["datasets"]:
                check_value(pol.datasets[d].fields[f].type, f, v)

    def get(self, request_id: str) -> RequestRecord:
        """One request with its recorded steps (id or a unique prefix of 4+ characters)."""
        rid = str(request_id).strip().lower()
        t, s = dsr_requests, dsr_steps
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t).where(t.c.id == rid)).all()
            if not rows and len(rid) >= 4 and rid.isalnum():
                rows = conn.execute(sa.select(t).where(t.c.id.like(rid + "%"))).all()
            if not rows:
                raise NotFoundError(f"no request '{request_id}' (see `veil dsr list`)")
            if len(rows) > 1:
                raise InputError(f"request id prefix '{request_id}' is ambiguous")
            steps = [{"step": r.step, "status": r.status, "attempts": r.attempts,
                      "at": iso(r.at), "detail": r.detail}
                     for r in conn.execute(sa.select(s).where(s.c.request_id == rows[0].id)
                                           .order_by(s.c.at, s.c.step))]
        return _record(rows[0], steps)

    def _sealed(self, request_id: str) -> bytes | None:
        with self.engine.connect() as conn:
            v = conn.execute(sa.select(dsr_requests.c.sealed)
                             .where(dsr_requests.c.id == request_id)).scalar()
        return None if v is None else bytes(v)

    def list(self, *, status: str | None = None, include_closed: bool = False,
             subject: str | None = None) -> list[RequestRecord]:
        """Requests, overdue first, then due soon, then by due date; closed ones only with
        ``include_closed`` (or ``status``)."""
        t = dsr_requests
        q = sa.select(t)
        if status is not None and status not in STATUSES:
            raise InputError(f"unknown status '{status}' (known: {', '.join(STATUSES)})")
        if status is not None:
            q = q.where(t.c.status == status)
        elif not include_closed:
            q = q.where(t.c.status.in_([*OPEN_STATES, "completed"]))
        if subject is not None:
            q = q.where(t.c.subject == self.ref.token(subject))
        with self.engine.connect() as conn:
            recs = [_record(r) for r in conn.execute(q)]
        now = datetime.now(UTC)
        soon = self._due_soon_days()
        rank = {"overdue": 0, "hold ended: run again": 0, "due soon": 1, "legal hold": 2,
                "": 2}

        def key(r: RequestRecord) -> tuple[bool, int, datetime, str]:
            u = r.urgency(now, soon)
            return (r.status not in OPEN_STATES and rank[u] != 0, rank[u], r.due_at, r.id)

        return sorted(recs, key=key)

    def _due_soon_days(self) -> int:
        try:
            return self.policy().rights.due_soon_days
        except PolicyError:
            return 7

    # -- extend / close / lift -------------------------------------------------------------

    def extend(self, request_id: str, months: int, reason: str, *,
               actor: str | None = None) -> RequestRecord:
        """Extend the deadline (Art. 12(3): by at most two further months, with a reason)."""
        actor = actor or default_actor()
        rec = self.get(request_id)
        if rec.status not in OPEN_STATES:
            raise InputError(f"request {rec.id} is {rec.status}: only open requests are "
                             "extended")
        if not isinstance(months, int) or months < 1:
            raise InputError("extend by 1 or 2 months")
        first_due = add_months(rec.received_at, 1)
        if datetime.now(UTC) > first_due:
            raise InputError(f"request {rec.id} was due on {iso(first_due)}: Art. 12(3) lets "
                             "the deadline be extended only within the first month (the "
                             "subject must be told of the extension within one month of "
                             "receipt); it is overdue, answer it now")
        if rec.extended_months + months > 2:
            raise InputError(f"Art. 12(3) allows at most two further months; request {rec.id} "
                             f"is already extended by {rec.extended_months}")
        if not reason or not reason.strip():
            raise InputError("an extension needs a reason (the subject must be told why)")
        total = rec.extended_months + months
        note = (rec.extension_reason + "; " if rec.extension_reason else "") + reason.strip()
        with self.engine.begin() as conn:
            conn.execute(dsr_requests.update().where(dsr_requests.c.id == rec.id).values(
                extended_months=total, extension_reason=note,
                due_at=add_months(rec.received_at, 1 + total), updated_at=datetime.now(UTC)))
        self._audit("dsr.extend", rec, actor, counts={"months": months})
        return self.get(rec.id)

    def close(self, request_id: str, note: str, *, actor: str | None = None) -> RequestRecord:
        """Close a request with a note (what the subject was told). Closing one that has not
        completed needs the note to say why. A restriction or objection keeps excluding the
        subject after it is closed, until `lift` (which works on a closed request too)."""
        actor = actor or default_actor()
        rec = self.get(request_id)
        if rec.status in ("closed", "refused"):
            raise ConflictError(f"request {rec.id} is already {rec.status}")
        if rec.status == "running":
            raise ConflictError(f"request {rec.id} is running: wait for the run to finish")
        if not note or not note.strip():
            raise InputError("closing needs a note (what the subject was told)")
        self._audit("dsr.close", rec, actor, details={"completed": rec.status == "completed"})
        with self.engine.begin() as conn:
            conn.execute(dsr_requests.update().where(dsr_requests.c.id == rec.id).values(
                status="closed", close_note=note.strip(), closed_at=datetime.now(UTC),
                updated_at=datetime.now(UTC)))
        return self.get(rec.id)

    def lift(self, request_id: str, note: str, *, actor: str | None = None) -> RequestRecord:
        """Lift a restriction or objection: the subject's rows come back into the runs of the
        purposes concerned (Art. 18(3): tell the subject before lifting). Only this request's
        exclusions are lifted (another request restricting the same subject still holds);
        works on a completed or closed request whose exclusions are active."""
        from veil.rights.exclusions import lift_exclusions, request_exclusions

        actor = actor or default_actor()
        rec = self.get(request_id)
        if rec.kind not in PURPOSE_KINDS:
            raise InputError(f"only restrictions and objections are lifted, not {rec.kind}")
        if not note or not note.strip():
            raise InputError("lifting needs a note (why, and that the subject was told)")
        with self.engine.connect() as conn:
            active = request_exclusions(conn, rec.id)
        if rec.status not in ("completed", "closed") or not active:
            raise InputError(f"request {rec.id} is {rec.status} and excludes nothing: nothing "
                             "to lift")
        self._audit("dsr.lift", rec, actor, counts={"purposes": len(active)})
        with self.engine.begin() as conn:
            lifted = lift_exclusions(conn, rec.id)
            result = dict(rec.result or {})
            result["lifted"] = {"at": iso(datetime.now(UTC)), "note": note.strip(),
                                "purposes": lifted}
            note_text = f"lifted: {note.strip()}"
            if rec.close_note and rec.status == "closed":
                note_text = f"{rec.close_note}; {note_text}"
            conn.execute(dsr_requests.update().where(dsr_requests.c.id == rec.id).values(
                status="closed", result=result, close_note=note_text,
                closed_at=rec.closed_at or datetime.now(UTC), updated_at=datetime.now(UTC)))
        return self.get(rec.id)

    # -- run -------------------------------------------------------------------------------

    def run(self, request_id: str, *, actor: str | None = None, force: bool = False,
            lease_minutes: int = LEASE_MINUTES) -> RequestRecord:
        """Carry out the request. Steps already done (by an earlier, failed or killed run) are
        skipped; each step is recorded; a failure marks the request failed and can be rerun.

        The request is taken by a compare-and-swap (open/failed -> running) with a lease: a
        request another run holds is refused (`ConflictError`) unless its lease is older than
        ``lease_minutes`` or ``force`` (use it only when that run is known to be dead). An
        erasure completed under a legal hold is run again once the hold has ended: the held
        data is then erased and the seal dropped."""
        from veil.rights.steps import plan_steps

        actor = actor or default_actor()
        rec = self.get(request_id)
        now = datetime.now(UTC)
        releasing = (rec.status == "completed" and rec.hold_until is not None
                     and rec.hold_until <= now)
        if rec.status == "completed" and not releasing:
            return rec  # idempotent: nothing left to do
        if rec.status not in ("open", "failed", "running", "completed"):
            raise InputError(f"request {rec.id} is {rec.status}: only open or failed requests "
                             "run")
        owner = f"{default_actor()[:24]}@{os.uname().nodename[:20]}:{os.getpid()}:" \
                f"{uuid.uuid4().hex[:8]}"
        self._take(rec, owner, now, force=force, lease_minutes=lease_minutes,
                   releasing=releasing)
        rec = self.get(rec.id)
        pol = self.policy(rec.policy_path)
        try:
            payload = self._unseal(rec.id, self._sealed(rec.id))
        except BaseException:
            self._release(rec.id, owner, status="completed" if releasing else "failed")
            raise
        done = {s["step"]: s for s in rec.steps if s["status"] == "done"}
        state: dict[str, Any] = {name: s["detail"] for name, s in done.items()}
        prior = {s["step"]: (s["detail"] or {}).get("first_attempt") for s in rec.steps
                 if s["status"] != "done" and (s["detail"] or {}).get("first_attempt")}
        ctx = StepContext(self, pol, rec, payload["subject"], payload.get("details") or {},
                          actor, state, owner=owner, prior=prior, releasing=releasing)
        ran = 0
        try:
            while True:  # re-planned after each step: what `locate` finds decides the rest
                pending = [(n, f) for n, f in plan_steps(ctx) if n not in state]
                if not pending:
                    break
                name, fn = pending[0]
                try:
                    detail = fn(ctx)
                except VeilError:
                    raise
                except Exception as exc:
                    raise RunRefused(f"request {rec.id}: step '{name}' failed: "
                                     f"{type(exc).__name__}") from exc
                state[name] = detail
                ran += 1
                if name not in ctx.recorded:
                    self._step(rec.id, name, "done", detail, owner)
            result = ctx.result()
        except BaseException as exc:
            msg = exc.message if isinstance(exc, VeilError) else type(exc).__name__
            failed = next((n for n, _ in plan_steps(ctx) if n not in state), "run")
            if not isinstance(exc, LeaseLost):
                try:
                    self._step(rec.id, failed, "failed", {"error": msg[:500]}, owner)
                    self._release(rec.id, owner, status="completed" if releasing else "failed",
                                  error=msg[:2000])
                    self._audit("dsr.run", rec, actor, outcome="failure",
                                details={"step": failed, "error": getattr(exc, "kind", "error")})
                except VeilError:
                    pass  # the original error matters more
            raise
        hold_until = ctx.hold_until()
        # the audit event first, then status, result and seal in one transaction; a run that
        # only finishes an interrupted completion adds the event only if it is missing
        if ran or not self._audited(rec.id, "dsr.run"):
            self._audit("dsr.run", rec, actor, counts={k: v for k, v in ctx.counts.items()},
                        details={"outcome": result.get("outcome"),
                                 "hold_released": releasing or None},
                        categories=sorted(ctx.categories))
        values: dict[str, Any] = {"status": "completed", "result": result, "error": None,
                                  "lease_owner": None, "running_since": None,
                                  "hold_until": hold_until}
        if rec.kind == "erasure" and hold_until is None:
            values["sealed"] = None  # the subject id is no longer needed: drop the seal
        with self.engine.begin() as conn:
            n = conn.execute(dsr_requests.update().where(
                dsr_requests.c.id == rec.id, dsr_requests.c.lease_owner == owner)
                .values(updated_at=datetime.now(UTC), **values)).rowcount
        if n != 1:
            raise LeaseLost(f"request {rec.id}: another run took it over before it completed")
        return self.get(rec.id)

    def _take(self, rec: RequestRecord, owner: str, now: datetime, *, force: bool,
              lease_minutes: int, releasing: bool) -> None:
        """Compare-and-swap to running; refuses a request another live run holds."""
        t = dsr_requests.c
        if releasing:
            cond = sa.and_(t.status == "completed", t.hold_until.isnot(None),
                           t.hold_until <= now)
        else:
            stale = sa.and_(t.status == "running",
                            t.running_since < now - timedelta(minutes=lease_minutes))
            if force:
                stale = t.status == "running"
            cond = sa.or_(t.status.in_(["open", "failed"]), stale)
        with self.engine.begin() as conn:
            n = conn.execute(dsr_requests.update().where(t.id == rec.id, cond).values(
                status="running", lease_owner=owner, running_since=now, updated_at=now,
                error=None)).rowcount
        if n == 1:
            return
        cur = self.get(rec.id)
        if cur.status == "running":
            raise ConflictError(
                f"request {rec.id} is being run (since {iso(cur.running_since)}); if that run "
                f"was killed, rerun after {lease_minutes} minutes or with --force")
        if cur.status == "completed" and not releasing:
            raise ConflictError(f"request {rec.id} was completed by another run meanwhile")
        raise ConflictError(f"request {rec.id} is {cur.status}: only open or failed requests "
                            "run")

    def _release(self, request_id: str, owner: str, *, status: str,
                 error: str | None = None) -> None:
        with self.engine.begin() as conn:
            conn.execute(dsr_requests.update().where(
                dsr_requests.c.id == request_id, dsr_requests.c.lease_owner == owner).values(
                status=status, error=error, lease_owner=None, running_since=None,
                updated_at=datetime.now(UTC)))

    def _audited(self, request_id: str, action: str) -> bool:
        """Whether the audit log holds a successful ``action`` event of this request."""
        from veil.audit.log import AuditLog

        for le in AuditLog(self.workspace).events(action=action, outcome="success",
                                                  newest_first=True):
            if le.event.details.get("request") == request_id:
                return True
        return False

    def _step(self, request_id: str, step: str, status: str, detail: dict[str, Any],
              owner: str | None = None, conn: sa.Connection | None = None) -> None:
        """Record a step (in ``conn``'s transaction when given: with the step's effect). The
        facts a "started" record holds are kept through failures; with ``owner`` the lease is
        checked in the same transaction (a run that lost it stops)."""
        if conn is None:
            with self.engine.begin() as c:
                self._step(request_id, step, status, detail, owner, c)
            return
        s = dsr_steps
        now = datetime.now(UTC)
        if owner is not None:
            n = conn.execute(dsr_requests.update().where(
                dsr_requests.c.id == request_id, dsr_requests.c.lease_owner == owner)
                .values(updated_at=now)).rowcount
            if n != 1:
                raise LeaseLost(f"request {request_id}: another run took it over (lease lost);"
                                " this run stops")
        row = conn.execute(sa.select(s.c.attempts, s.c.detail, s.c.status).where(
            s.c.request_id == request_id, s.c.step == step)).first()
        if row is not None and status != "done":
            first = (row.detail or {}).get("first_attempt")
            if first is not None and "first_attempt" not in detail:
                detail = {**detail, "first_attempt": first}
        if row is None:
            conn.execute(s.insert().values(request_id=request_id, step=step, status=status,
                                           attempts=1, at=now, detail=detail))
        else:
            # a new attempt: anything after a failure, or starting again after a kill
            attempts = row.attempts + (1 if row.status == "failed" or (
                status == "started" and row.status == "started") else 0)
            conn.execute(s.update().where(s.c.request_id == request_id, s.c.step == step)
                         .values(status=status, attempts=attempts, at=now, detail=detail))

    # -- packages --------------------------------------------------------------------------

    def folder(self, request_id: str) -> Path:
        return self.workspace.root / "dsr" / request_id

    def export(self, request_id: str, output: str | Path, *, actor: str | None = None,
               reason: str) -> builtins.list[Path]:
        """Decrypt a request's package into ``output`` (a folder) for handing over through a
        secure channel; recorded (actor, reason)."""
        from veil.rights.package import decrypt_package

        actor = actor or default_actor()
        rec = self.get(request_id)
        if not reason or not reason.strip():
            raise InputError("export needs a reason (e.g. 'sent via secure portal, ticket 42')")
        files = decrypt_package(self, rec, Path(output))
        self._audit("dsr.export", rec, actor, counts={"files": len(files)},
                    details={"reason": reason.strip()[:200]})
        return files


@dataclass
class StepContext:
    """What the steps of one request's run share."""

    requests: Requests
    policy: Policy
    request: RequestRecord
    subject_id: str
    details: dict[str, Any]
    actor: str
    state: dict[str, Any]
    owner: str | None = None
    prior: dict[str, Any] = field(default_factory=dict)  # first attempts' facts of unfinished steps
    releasing: bool = False  # an erasure run again after its legal hold ended
    counts: dict[str, int] = field(default_factory=dict)
    categories: set[str] = field(default_factory=set)
    recorded: set[str] = field(default_factory=set)  # steps recorded with their effect
    result_fn: Callable[[StepContext], dict[str, Any]] | None = None
    _lineage: Any = None

    @property
    def workspace(self) -> Workspace:
        return self.requests.workspace

    @property
    def token(self) -> str:
        return self.request.subject

    def lineage(self) -> Any:
        """The subject's outputs and models, looked up once per run of the request."""
        if self._lineage is None:
            from veil.lineage import Lineage

            self._lineage = Lineage(self.workspace).subject_by_token(self.token)
        return self._lineage

    def begin(self, step: str, facts: dict[str, Any]) -> dict[str, Any]:
        """Before an effect outside the workspace database: record the step "started" with
        the facts found; a rerun gets the FIRST attempt's facts back (what was there before
        anything was done), so the outcome reported is never "0 deleted" after a crash."""
        first = self.prior.get(step)
        if first is None:
            first = facts
            self.prior[step] = first
        self.requests._step(self.request.id, step, "started", {"first_attempt": first},
                            self.owner)
        return dict(first)

    def record(self, conn: sa.Connection, step: str, detail: dict[str, Any]) -> dict[str, Any]:
        """Record the step done in ``conn``'s transaction (the one holding its effect)."""
        self.requests._step(self.request.id, step, "done", detail, self.owner, conn)
        self.recorded.add(step)
        return detail

    def hold_until(self) -> datetime | None:
        """When the last legal hold on data this erasure kept ends (None: nothing held)."""
        if self.request.kind != "erasure":
            return None
        released = {n.split(":", 1)[1] for n in self.state if n.startswith("release:")}
        ends = [h["until"] for n, d in self.state.items()
                if n.startswith("store:") and d and n.split(":", 1)[1] not in released
                for h in d.get("holds", [])]
        if not ends:
            return None
        return _parse_time(max(ends), "hold end")

    def result(self) -> dict[str, Any]:
        assert self.result_fn is not None
        return self.result_fn(self)


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
