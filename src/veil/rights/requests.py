"""Data-subject requests: open, run (idempotent, recorded steps), extend, close.

A request names its subject by keyed pseudonym (`SubjectRef` token) in every column, audit
event and message; the subject id itself (and a rectification's new values) is kept only
sealed with the workspace's ``dsr`` AEAD keyset, bound to the request id, so a failed request
can be rerun, and the seal is dropped once an erasure is done. Each step of a run is recorded
in ``dsr_steps`` when it completes; a rerun skips finished steps, and every step is safe to
repeat anyway (deleting deleted rows deletes nothing, shredding a shredded key destroys nothing).

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

from veil.errors import InputError, NotFoundError, PolicyError, RunRefused, VeilError
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


def default_actor() -> str:
    from veil.pipeline.run import default_actor as actor

    return actor()


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

    @property
    def article(self) -> str:
        return KINDS[self.kind]

    def urgency(self, now: datetime | None = None, due_soon_days: int = 7) -> str:
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
                "steps": self.steps}


def _record(r: Any, steps: list[dict[str, Any]] | None = None) -> RequestRecord:
    return RequestRecord(
        id=r.id, kind=r.kind, subject=r.subject, received_at=_utc(r.received_at),  # type: ignore[arg-type]
        due_at=_utc(r.due_at), extended_months=r.extended_months,  # type: ignore[arg-type]
        extension_reason=r.extension_reason, status=r.status, verification=r.verification,
        purposes=json.loads(r.purposes) if r.purposes else None, policy_path=r.policy_path,
        opened_by=r.opened_by, updated_at=_utc(r.updated_at),  # type: ignore[arg-type]
        closed_at=_utc(r.closed_at), close_note=r.close_note, result=r.result, error=r.error,
        steps=steps or [])


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
            from veil.crypto.manager import KeyManager

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
            raise RunRefused(f"request {request_id}: the subject id was deleted when the "
                             "erasure completed; open a new request to act again")
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
        with self.engine.begin() as conn:
            conn.execute(dsr_requests.insert().values(
                id=rid, kind=kind, subject=token,
                sealed=None if refusal else self._seal(rid, {"subject": subject,
                                                             "details": details}),
                received_at=recv, due_at=add_months(recv, 1), extended_months=0,
                status=status, verification=(verification or None),
                purposes=json.dumps(purposes) if purposes is not None else None,
                policy_path=pol.source, opened_by=actor, updated_at=now,
                closed_at=now if refusal else None, result=result))
        rec = self.get(rid)
        self._audit("dsr.open", rec, actor, outcome="refused" if refusal else "success",
                    details={"verified": bool(verification), "refusal": refusal})
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
        rank = {"overdue": 0, "due soon": 1, "": 2}
        return sorted(recs, key=lambda r: (r.status not in OPEN_STATES,
                                           rank[r.urgency(now, soon)], r.due_at, r.id))

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
        completed needs the note to say why."""
        actor = actor or default_actor()
        rec = self.get(request_id)
        if rec.status in ("closed", "refused"):
            raise InputError(f"request {rec.id} is already {rec.status}")
        if not note or not note.strip():
            raise InputError("closing needs a note (what the subject was told)")
        with self.engine.begin() as conn:
            conn.execute(dsr_requests.update().where(dsr_requests.c.id == rec.id).values(
                status="closed", close_note=note.strip(), closed_at=datetime.now(UTC),
                updated_at=datetime.now(UTC)))
        self._audit("dsr.close", rec, actor, details={"completed": rec.status == "completed"})
        return self.get(rec.id)

    def lift(self, request_id: str, note: str, *, actor: str | None = None) -> RequestRecord:
        """Lift a restriction or objection: the subject's rows come back into the runs of the
        purposes concerned (Art. 18(3): tell the subject before lifting)."""
        from veil.rights.exclusions import lift_exclusions

        actor = actor or default_actor()
        rec = self.get(request_id)
        if rec.kind not in ("restriction", "objection"):
            raise InputError(f"only restrictions and objections are lifted, not {rec.kind}")
        if rec.status != "completed":
            raise InputError(f"request {rec.id} is {rec.status}: nothing to lift")
        if not note or not note.strip():
            raise InputError("lifting needs a note (why, and that the subject was told)")
        reason = "restricted" if rec.kind == "restriction" else "objected"
        with self.engine.begin() as conn:
            lifted = lift_exclusions(conn, rec.subject, reason, rec.purposes)
            result = dict(rec.result or {})
            result["lifted"] = {"at": iso(datetime.now(UTC)), "note": note.strip(),
                                "purposes": lifted}
            conn.execute(dsr_requests.update().where(dsr_requests.c.id == rec.id).values(
                status="closed", result=result, close_note=f"lifted: {note.strip()}",
                closed_at=datetime.now(UTC), updated_at=datetime.now(UTC)))
        self._audit("dsr.lift", rec, actor, counts={"purposes": len(lifted)})
        return self.get(rec.id)

    # -- run -------------------------------------------------------------------------------

    def run(self, request_id: str, *, actor: str | None = None) -> RequestRecord:
        """Carry out the request. Steps already done (by an earlier, failed run) are skipped;
        each step is recorded; a failure marks the request failed and can be rerun."""
        from veil.rights.steps import plan_steps

        actor = actor or default_actor()
        rec = self.get(request_id)
        if rec.status == "completed":
            return rec  # idempotent: nothing left to do
        if rec.status not in ("open", "failed"):
            raise InputError(f"request {rec.id} is {rec.status}: only open or failed requests "
                             "run")
        pol = self.policy(rec.policy_path)
        payload = self._unseal(rec.id, self._sealed(rec.id))
        self._set(rec.id, status="running", error=None)
        done = {s["step"]: s for s in rec.steps if s["status"] == "done"}
        state: dict[str, Any] = {name: s["detail"] for name, s in done.items()}
        ctx = StepContext(self, pol, rec, payload["subject"], payload.get("details") or {},
                          actor, state)
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
                self._step(rec.id, name, "done", detail)
            result = ctx.result()
        except BaseException as exc:
            msg = exc.message if isinstance(exc, VeilError) else type(exc).__name__
            failed = next((n for n, _ in plan_steps(ctx) if n not in state), "run")
            self._step(rec.id, failed, "failed", {"error": msg[:500]})
            self._set(rec.id, status="failed", error=msg[:2000])
            try:
                self._audit("dsr.run", rec, actor, outcome="failure",
                            details={"step": failed, "error": getattr(exc, "kind", "error")})
            except VeilError:
                pass  # the original error matters more
            raise
        self._set(rec.id, status="completed", result=result, error=None)
        if rec.kind == "erasure":  # the subject id is no longer needed: drop the seal
            self._set(rec.id, sealed=None)
        self._audit("dsr.run", rec, actor, counts={k: v for k, v in ctx.counts.items()},
                    details={"outcome": result.get("outcome")},
                    categories=sorted(ctx.categories))
        return self.get(rec.id)

    def _set(self, request_id: str, **values: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(dsr_requests.update().where(dsr_requests.c.id == request_id)
                         .values(updated_at=datetime.now(UTC), **values))

    def _step(self, request_id: str, step: str, status: str, detail: dict[str, Any]) -> None:
        s = dsr_steps
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(s.c.attempts).where(
                s.c.request_id == request_id, s.c.step == step)).first()
            if row is None:
                conn.execute(s.insert().values(request_id=request_id, step=step, status=status,
                                               attempts=1, at=now, detail=detail))
            else:
                conn.execute(s.update().where(s.c.request_id == request_id, s.c.step == step)
                             .values(status=status, attempts=row.attempts + 1, at=now,
                                     detail=detail))

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
    counts: dict[str, int] = field(default_factory=dict)
    categories: set[str] = field(default_factory=set)
    result_fn: Callable[[StepContext], dict[str, Any]] | None = None

    @property
    def workspace(self) -> Workspace:
        return self.requests.workspace

    @property
    def token(self) -> str:
        return self.request.subject

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
