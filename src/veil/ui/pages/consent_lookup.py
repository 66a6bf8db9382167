"""One subject's consents, looked up by the id a person typed: the subject's pseudonym, the
status per purpose now, and the events in time order.

The id comes in a form's body (never a URL, so it is in no access log or browser history); it is
not shown back or logged: the answer and the audit event name the subject by pseudonym. Looking
someone up is itself recorded (who looked, which pseudonym), as reading a person's data is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from veil.consent.ledger import Ledger
from veil.consent.models import ConsentStatus, Event, check_subject


@dataclass(frozen=True)
class SubjectLookup:
    pseudonym: str
    known: bool  # the ledger holds events for the subject
    statuses: list[ConsentStatus]  # per purpose: the policy's consent purposes, then the rest
    events: list[Event]  # all purposes, in time order


def lookup_subject(ledger: Ledger, subject: str, purposes: list[str], *,
                   actor: str) -> SubjectLookup:
    """The subject's consents (one audit event ``consent.lookup`` naming the pseudonym)."""
    check_subject(subject)
    ref = ledger.ref(subject)  # "subject #3fa1c09e2b", as the REST API and messages name it
    known = ledger.knows(subject)
    events = ledger.history(subject) if known else []
    checked = list(dict.fromkeys([*purposes, *(e.purpose for e in events)]))
    statuses = [_status(ledger, subject, p) for p in checked]
    _audit(ledger, actor, ledger.ref.token(subject), len(events), known)
    return SubjectLookup(pseudonym=ref, known=known, statuses=statuses, events=events)


def _status(ledger: Ledger, subject: str, purpose: str) -> ConsentStatus:
    """The check's answer; a purpose no longer in the policy is judged without it."""
    from veil.errors import VeilError

    try:
        return ledger.check(subject, purpose)
    except VeilError:
        return Ledger(ledger.workspace).check(subject, purpose)


def _audit(ledger: Ledger, actor: str, token: str, events: int, known: bool) -> None:
    from veil.audit.log import AuditLog

    AuditLog(ledger.workspace).record(
        actor, "consent.lookup", purpose="consent-ledger",
        legal_basis="Art. 5(2) accountability", outcome="success", subjects=[token],
        counts={"events": events}, details={"known": known, "via": "ui"},
        time=datetime.now(UTC))


__all__ = ["SubjectLookup", "lookup_subject"]
