"""Validation of consent events before they are stored: each field, the time, the expiry, the
age rule of Art. 8, and ids repeated within a batch.

The checks run in a fixed order (the first refusal is the one reported) and a refusal names the
event's source row when it has one: the row beats the policy file as the place to fix.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from veil.consent.models import (
    KINDS,
    ConsentEvent,
    Event,
    as_time,
    check_action,
    check_age,
    check_channel,
    check_event_id,
    check_evidence,
    check_subject,
    check_text,
    check_version,
    format_us,
)
from veil.consent.purposes import consent_min_age, policy_purpose
from veil.errors import ConsentError

if TYPE_CHECKING:
    from veil.policy.model import Policy

__all__ = ["prepare_event", "refuse_repeated_ids"]

GIVING = ("granted", "renewed")  # the kinds by which a subject gives consent


def prepare_event(ev: ConsentEvent, now: int, policy: Policy | None) -> Event:
    """A checked, complete :class:`Event` from what a caller gave (``now``: the append time)."""
    try:
        return _prepare(ev, now, policy)
    except ConsentError as exc:
        source = getattr(ev, "source", None)
        if source and exc.where != source:  # the row beats the policy file as the place
            raise ConsentError(exc.message, where=source) from None
        raise


def refuse_repeated_ids(events: list[Event]) -> None:
    """A batch may not hold the same event id twice (a retried import must not count twice)."""
    seen: dict[str, Event] = {}
    for ev in events:
        first = seen.get(ev.event_id)
        if first is not None:
            also = f" (first at {first.source})" if first.source else ""
            raise ConsentError(f"duplicate event id{also}", where=ev.source)
        seen[ev.event_id] = ev


def _prepare(ev: ConsentEvent, now: int, policy: Policy | None) -> Event:
    if not isinstance(ev, ConsentEvent):
        raise ConsentError(f"expected a ConsentEvent, got {type(ev).__name__}")
    kind = ev.kind
    if kind not in KINDS:
        raise ConsentError(f"unknown event (known: {', '.join(KINDS)})")
    subject = check_subject(ev.subject)
    purpose_def = policy_purpose(policy, ev.purpose, granting=kind in GIVING,
                                 quote=not ev.source)
    channel = check_channel(ev.channel, kind)
    collector = check_text(ev.collector, "collector")
    if not collector:
        raise ConsentError("collector is missing: who or what recorded the event")
    action = check_action(ev.action, kind)
    evidence = check_evidence(ev.evidence)
    t = _event_time(ev, now)
    expires = _expiry(ev, kind, t)
    version = check_version(ev.notice_version) if ev.notice_version else None
    age = check_age(ev.age)
    guardian = check_text(ev.guardian, "guardian", 256)
    minor = _minor(ev, kind, age, guardian, consent_min_age(purpose_def))
    event_id = check_event_id(ev.event_id) if ev.event_id else uuid.uuid4().hex
    source = check_text(ev.source, "source", 512)
    return Event(event_id=event_id, subject=subject, purpose=ev.purpose, kind=kind,
                 time_us=t, channel=channel, collector=collector, notice_version=version,
                 action=action, evidence=evidence, expires_us=expires, age=age, minor=minor,
                 guardian=guardian, source=source, recorded_us=now)


def _event_time(ev: ConsentEvent, now: int) -> int:
    """The event's time (default: now); never in the future."""
    t = now if ev.time is None else as_time(ev.time)
    assert t is not None
    if t > now:
        raise ConsentError(f"event time {format_us(t)} is in the future (now {format_us(now)})")
    return t


def _expiry(ev: ConsentEvent, kind: str, t: int) -> int | None:
    """A grant's or renewal's expiry, after the event's own time."""
    expires = as_time(ev.expires, "expiry")
    if expires is None:
        return None
    if kind not in GIVING:
        raise ConsentError(f"only grants and renewals carry an expiry, not a {kind} event")
    if expires <= t:
        raise ConsentError(f"expiry {format_us(expires)} is not after the event time "
                           f"{format_us(t)}")
    return expires


def _minor(ev: ConsentEvent, kind: str, age: int | None, guardian: str | None,
           min_age: int | None) -> bool | None:
    """Art. 8: whether the subject was a minor (None when the policy sets no minimum age); a
    minor's consent needs the guardian who gave or authorised it."""
    if kind not in GIVING:
        if age is not None or guardian is not None:
            raise ConsentError(f"age and guardian belong to grants and renewals, not to a "
                               f"{kind} event")
        return None
    if min_age is None:
        return None
    if age is None:
        raise ConsentError(f"purpose '{ev.purpose}' needs the subject's age at consent (the "
                           f"policy sets consent_min_age {min_age}, GDPR Art. 8)")
    minor = age < min_age
    if minor and not guardian:
        raise ConsentError(f"the subject is under {min_age}: consent must be given or "
                           "authorised by the holder of parental responsibility (GDPR Art. 8): "
                           "record the guardian")
    return minor
