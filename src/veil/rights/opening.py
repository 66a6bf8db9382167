"""Opening a request: the checks at the door and the refusals the policy decides.

A request type the policy does not take is recorded as refused (with its audit event) and the
caller is told why. The refusals are a table (:data:`REFUSAL_RULES`): the first row that
applies decides, so a DPO can point at the row.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from veil._actor import default_actor
from veil.errors import InputError, RunRefused
from veil.rights.audit_trail import audit_request
from veil.rights.records import (
    KINDS,
    OBJECTABLE_BASES,
    PORTABLE_BASES,
    PURPOSE_KINDS,
    RequestRecord,
    add_months,
    iso,
    parse_time,
    record_from_values,
)
from veil.store.schema import dsr_requests

if TYPE_CHECKING:
    from veil.policy.model import Policy
    from veil.rights.requests import Requests

__all__ = ["REFUSAL_RULES", "RefusalRule", "check_corrections", "check_value", "open_request",
           "refusal"]


# -- refusals --------------------------------------------------------------------------------

Refuses = Callable[["Policy", str, "list[str] | None"], "str | None"]


@dataclass(frozen=True)
class RefusalRule:
    """One reason a request type is refused when it is opened."""

    name: str
    kinds: tuple[str, ...] | None  # the request types it concerns (None: every type)
    refuses: Refuses  # (policy, kind, purposes named) -> why it is refused, or None


def _policy_refuses(pol: Policy, kind: str, purposes: list[str] | None) -> str | None:
    if kind not in pol.rights.refuse:
        return None
    why = pol.rights.refuse_reason or "the policy's rights.refuse lists it"
    return f"{KINDS[kind]} requests are not taken: {why}"


def _nothing_portable(pol: Policy, kind: str, purposes: list[str] | None) -> str | None:
    if any(p.legal_basis in PORTABLE_BASES for p in pol.purposes.values()):
        return None
    return ("Art. 20(1) applies to processing based on consent or a contract; no purpose of "
            "the policy relies on either")


def _named_not_objectable(pol: Policy, kind: str, purposes: list[str] | None) -> str | None:
    bad = [p for p in purposes or [] if pol.purposes[p].legal_basis not in OBJECTABLE_BASES]
    if not bad:
        return None
    bases = ", ".join(sorted({pol.purposes[p].legal_basis_text for p in bad}))
    return (f"Art. 21(1) applies to processing based on legitimate interests or a public "
            f"task; purpose(s) {', '.join(bad)} rely on another basis ({bases})")


def _nothing_objectable(pol: Policy, kind: str, purposes: list[str] | None) -> str | None:
    if purposes is not None or any(p.legal_basis in OBJECTABLE_BASES
                                   for p in pol.purposes.values()):
        return None
    return ("Art. 21(1) applies to processing based on legitimate interests or a public task; "
            "no purpose of the policy relies on either")


REFUSAL_RULES: tuple[RefusalRule, ...] = (
    RefusalRule("the policy's rights.refuse lists the type", None, _policy_refuses),
    RefusalRule("Art. 20(1): no purpose on consent or contract", ("portability",),
                _nothing_portable),
    RefusalRule("Art. 21(1): a purpose named relies on another basis", ("objection",),
                _named_not_objectable),
    RefusalRule("Art. 21(1): no purpose on legitimate interests or a public task",
                ("objection",), _nothing_objectable),
)


def refusal(pol: Policy, kind: str, purposes: list[str] | None) -> str | None:
    """Why the policy refuses this request (the first rule that applies), or None."""
    for rule in REFUSAL_RULES:
        if rule.kinds is None or kind in rule.kinds:
            why = rule.refuses(pol, kind, purposes)
            if why:
                return why
    return None


# -- rectifications --------------------------------------------------------------------------

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


def check_corrections(pol: Policy, details: dict[str, Any]) -> None:
    """A rectification's corrections: fields of datasets with a registered store (all that
    declare them, or the one named), never the subject id, values of the fields' types.
    Sets ``details["datasets"]``."""
    fix = details.get("corrections")
    if not isinstance(fix, dict) or not fix:
        raise InputError("a rectification needs details={'corrections': {field: new value}}"
                         " (CLI: --set field=value)")
    details["datasets"] = _datasets_to_correct(pol, fix, details.get("dataset"))
    for d in details["datasets"]:
        if pol.datasets[d].subject_id in fix:
            raise InputError("the subject id itself cannot be rectified")
    for f, v in fix.items():
        if v is not None and not isinstance(v, str | int | float | bool):
            raise InputError(f"field '{f}': the new value must be text, a number, a "
                             "boolean or None (null)")
        for d in details["datasets"]:
            check_value(pol.datasets[d].fields[f].type, f, v)


def _datasets_to_correct(pol: Policy, fix: dict[str, Any], ds_name: str | None) -> list[str]:
    stores = [d for d, ds in pol.datasets.items() if ds.store is not None]
    if ds_name is None:
        stores_with = [d for d in stores if all(f in pol.datasets[d].fields for f in fix)]
        if not stores_with:
            raise InputError(f"no dataset with a registered store declares field(s) "
                             f"{', '.join(fix)}")
        return stores_with
    if ds_name not in stores:
        raise InputError(f"dataset '{ds_name}' has no registered store (policy "
                         "datasets.<name>.store)")
    unknown = [f for f in fix if f not in pol.datasets[ds_name].fields]
    if unknown:
        raise InputError(f"field(s) {', '.join(unknown)} not declared in dataset '{ds_name}'")
    return [ds_name]


# -- open ------------------------------------------------------------------------------------

def open_request(reqs: Requests, kind: str, subject: str, *, received: datetime | str | None,
                 verification: str | None, purposes: list[str] | None,
                 details: dict[str, Any] | None, actor: str | None) -> RequestRecord:
    """See :meth:`Requests.open`."""
    actor = actor or default_actor()
    if kind not in KINDS:
        raise InputError(f"unknown request type '{kind}' (known: {', '.join(KINDS)})")
    if not isinstance(subject, str) or not subject.strip():
        raise InputError("the subject id is empty")
    subject = subject.strip()
    pol = reqs.policy()
    recv = parse_time(received, "received")
    if recv > datetime.now(UTC) + timedelta(minutes=5):
        raise InputError(f"received time {iso(recv)} is in the future")
    purposes = _checked_purposes(pol, kind, purposes)
    details = _checked_details(pol, kind, details)
    refused = refusal(pol, kind, purposes)
    if kind == "objection" and refused is None and purposes is None:
        purposes = [p for p, d in pol.purposes.items() if d.legal_basis in OBJECTABLE_BASES]
    rid = uuid.uuid4().hex[:12]
    now = datetime.now(UTC)
    values = dict(
        id=rid, kind=kind, subject=reqs.ref.token(subject),
        sealed=None if refused else reqs.seals.seal(rid, {"subject": subject,
                                                          "details": details}),
        received_at=recv, due_at=add_months(recv, 1), extended_months=0,
        status="refused" if refused else "open", verification=(verification or None),
        purposes=json.dumps(purposes) if purposes is not None else None,
        policy_path=pol.source, opened_by=actor, updated_at=now,
        closed_at=now if refused else None,
        result={"outcome": "refused", "reason": refused} if refused else None)
    # the audit event first: a request never exists without its record in the log
    audit_request(reqs.workspace, "dsr.open", record_from_values(values), actor,
                  outcome="refused" if refused else "success",
                  details={"verified": bool(verification), "refusal": refused})
    with reqs.engine.begin() as conn:
        conn.execute(dsr_requests.insert().values(**values))
    rec = reqs.get(rid)
    if refused:
        raise RunRefused(f"request {rid} ({KINDS[kind]}) refused and recorded: {refused}",
                         where=pol.source)
    return rec


def _checked_purposes(pol: Policy, kind: str, purposes: list[str] | None) -> list[str] | None:
    """Purposes are named only by a restriction or an objection, and must be the policy's."""
    if purposes is None:
        return None
    if kind not in PURPOSE_KINDS:
        raise InputError(f"--purpose is for restriction and objection requests; "
                         f"{kind} concerns all the subject's data")
    purposes = list(dict.fromkeys(purposes))
    for p in purposes:
        pol.purpose(p)
    return purposes


def _checked_details(pol: Policy, kind: str, details: dict[str, Any] | None) -> dict[str, Any]:
    """Details belong to a rectification only (its corrections, checked)."""
    details = dict(details or {})
    if kind == "rectification":
        check_corrections(pol, details)
    elif details:
        raise InputError(f"details are for rectification requests, not {kind}")
    return details
