"""Extending a request's deadline (Art. 12(3)), closing it, and lifting a restriction or an
objection (Art. 18(3)). Each writes its audit event."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from veil._actor import default_actor
from veil.errors import ConflictError, InputError
from veil.rights.audit_trail import audit_request
from veil.rights.records import OPEN_STATES, PURPOSE_KINDS, RequestRecord, add_months, iso
from veil.store.schema import dsr_requests

if TYPE_CHECKING:
    from veil.rights.requests import Requests

__all__ = ["MAX_EXTENSION_MONTHS", "close_request", "extend_request", "lift_request"]

MAX_EXTENSION_MONTHS = 2  # Art. 12(3): "by two further months where necessary"


def extend_request(reqs: Requests, request_id: str, months: int, reason: str, *,
                   actor: str | None) -> RequestRecord:
    """See :meth:`Requests.extend`."""
    actor = actor or default_actor()
    rec = reqs.get(request_id)
    _check_extension(rec, months, reason)
    total = rec.extended_months + months
    note = (rec.extension_reason + "; " if rec.extension_reason else "") + reason.strip()
    with reqs.engine.begin() as conn:
        conn.execute(dsr_requests.update().where(dsr_requests.c.id == rec.id).values(
            extended_months=total, extension_reason=note,
            due_at=add_months(rec.received_at, 1 + total), updated_at=datetime.now(UTC)))
    audit_request(reqs.workspace, "dsr.extend", rec, actor, counts={"months": months})
    return reqs.get(rec.id)


def _check_extension(rec: RequestRecord, months: int, reason: str) -> None:
    """An open request, within its first month, by at most two months in all, with a reason."""
    if rec.status not in OPEN_STATES:
        raise InputError(f"request {rec.id} is {rec.status}: only open requests are extended")
    if not isinstance(months, int) or months < 1:
        raise InputError("extend by 1 or 2 months")
    first_due = add_months(rec.received_at, 1)
    if datetime.now(UTC) > first_due:
        raise InputError(f"request {rec.id} was due on {iso(first_due)}: Art. 12(3) lets "
                         "the deadline be extended only within the first month (the "
                         "subject must be told of the extension within one month of "
                         "receipt); it is overdue, answer it now")
    if rec.extended_months + months > MAX_EXTENSION_MONTHS:
        raise InputError(f"Art. 12(3) allows at most two further months; request {rec.id} "
                         f"is already extended by {rec.extended_months}")
    if not reason or not reason.strip():
        raise InputError("an extension needs a reason (the subject must be told why)")


def close_request(reqs: Requests, request_id: str, note: str, *,
                  actor: str | None) -> RequestRecord:
    """See :meth:`Requests.close`."""
    actor = actor or default_actor()
    rec = reqs.get(request_id)
    if rec.status in ("closed", "refused"):
        raise ConflictError(f"request {rec.id} is already {rec.status}")
    if rec.status == "running":
        raise ConflictError(f"request {rec.id} is running: wait for the run to finish")
    _check_not_holding(rec)
    if not note or not note.strip():
        raise InputError("closing needs a note (what the subject was told)")
    audit_request(reqs.workspace, "dsr.close", rec, actor,
                  details={"completed": rec.status == "completed"})
    with reqs.engine.begin() as conn:
        conn.execute(dsr_requests.update().where(dsr_requests.c.id == rec.id).values(
            status="closed", close_note=note.strip(), closed_at=datetime.now(UTC),
            updated_at=datetime.now(UTC)))
    return reqs.get(rec.id)


def _check_not_holding(rec: RequestRecord) -> None:
    """An erasure still keeping data under a legal hold stays completed: closed, it would
    leave `veil dsr list` and its release run would be refused, so the held data would never
    be erased. The subject can be told now (the answer says what is kept until when)."""
    if rec.hold_until is None:
        return
    run = f"`veil dsr run {rec.id}`"
    if rec.hold_until > datetime.now(UTC):
        raise ConflictError(f"request {rec.id} keeps data under a legal hold until "
                            f"{iso(rec.hold_until)}: it stays completed (listed as 'legal "
                            f"hold') so that {run} erases that data once the hold ends; "
                            "close it after that run")
    raise ConflictError(f"request {rec.id}: its legal hold ended on {iso(rec.hold_until)}; "
                        f"run {run} first to erase the held data, then close it")


def lift_request(reqs: Requests, request_id: str, note: str, *,
                 actor: str | None) -> RequestRecord:
    """See :meth:`Requests.lift`."""
    from veil.rights.exclusions import lift_exclusions, request_exclusions

    actor = actor or default_actor()
    rec = reqs.get(request_id)
    if rec.kind not in PURPOSE_KINDS:
        raise InputError(f"only restrictions and objections are lifted, not {rec.kind}")
    if not note or not note.strip():
        raise InputError("lifting needs a note (why, and that the subject was told)")
    with reqs.engine.connect() as conn:
        active = request_exclusions(conn, rec.id)
    if rec.status not in ("completed", "closed") or not active:
        raise InputError(f"request {rec.id} is {rec.status} and excludes nothing: nothing "
                         "to lift")
    audit_request(reqs.workspace, "dsr.lift", rec, actor, counts={"purposes": len(active)})
    with reqs.engine.begin() as conn:
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
    return reqs.get(rec.id)
