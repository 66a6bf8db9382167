"""Consent events, states and the rules they obey (GDPR Art. 7 and 8), as plain values.

Nothing here touches the store: :mod:`veil.consent.ledger` persists what this module validates.

An event is one thing that happened to one subject's consent to one purpose: ``granted``,
``renewed``, ``withdrawn`` or ``expired``. The state of a (subject, purpose) at a time is decided
by the last event at or before that time (in time order, then append order); which transitions
are allowed is decided by :func:`transition`. Times are integer microseconds since the Unix epoch,
UTC ("µs" below): exact, totally ordered, and cheap to compare in numpy.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from veil.errors import ConsentError, ConsentInputError, StoreError

EventKind = Literal["granted", "renewed", "withdrawn", "expired"]
KINDS: tuple[str, ...] = ("granted", "renewed", "withdrawn", "expired")

# Channels through which a consent event reaches the controller. "system" is only for expiries
# recorded by a system (a consent that lapses is not an action of the subject).
CHANNELS: tuple[str, ...] = (
    "web_form", "app", "branch", "call_recording", "api", "paper_form", "email", "system",
)

# Per-row reason codes of the bulk check (index = code). Code 0 is the only valid one.
OK, NO_CONSENT, WITHDRAWN, EXPIRED, OUTDATED_NOTICE, NO_SUBJECT = range(6)
REASONS: tuple[str, ...] = (
    "ok",
    "no consent",
    "consent withdrawn",
    "consent expired",
    "consent under an outdated notice",
    "no subject id",
)

MAX_SUBJECT = 256
MAX_TEXT = 2000
_EVENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}$")
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-+]{0,63}$")
_PURPOSE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,127}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Recital 32: "Silence, pre-ticked boxes or inactivity should not ... constitute consent".
_NOT_AN_ACTION = re.compile(
    r"pre-?\s?(tick|check|select|fill)|by default|\bdefault\b|implied|implicit|opt-?\s?out|"
    r"silen(ce|t)|inactiv|no objection|did not object|not object|continued (use|browsing)|"
    r"browsing|assumed|automatic",
    re.IGNORECASE,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

EVENT_COLUMNS: tuple[str, ...] = (
    "event_id", "subject", "purpose", "kind", "time_us", "recorded_us", "notice_version",
    "notice_seq", "channel", "action", "evidence", "collector", "expires_us", "age", "minor",
    "guardian", "source",
)
STATE_COLUMNS: tuple[str, ...] = (
    "status", "time_us", "event_id", "expires_us", "notice_version", "notice_seq", "minor",
)


# --------------------------------------------------------------------------- time


def to_us(value: datetime) -> int:
    """An aware datetime -> integer microseconds since the epoch (UTC)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ConsentError("time has no time zone: give UTC times (e.g. 2026-03-01T09:30:00Z)")
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(us: int) -> datetime:
    """Integer microseconds since the epoch -> aware UTC datetime."""
    return datetime.fromtimestamp(us // 1_000_000, UTC).replace(microsecond=us % 1_000_000)


def format_us(us: int | None) -> str | None:
    """RFC 3339 UTC text ('2026-03-01T09:30:00Z', with microseconds only when non-zero)."""
    if us is None:
        return None
    dt = from_us(us)
    # four-digit years always (strftime's %Y gives "1-01-01" for year 1 on glibc)
    text = (f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:"
            f"{dt.second:02d}")
    if dt.microsecond:
        text += f".{dt.microsecond:06d}"
    return text + "Z"


def now_us() -> int:
    return to_us(datetime.now(UTC))


def parse_time(text: str, what: str = "time") -> datetime:
    """ISO 8601 / RFC 3339 text with a UTC offset or Z -> aware datetime (UTC)."""
    raw = text.strip()
    if not raw:
        raise ConsentInputError(f"{what} is empty")
    candidate = raw[:-1] + "+00:00" if raw[-1] in "zZ" else raw
    try:
        dt = datetime.fromisoformat(candidate)
    except ValueError:
        raise ConsentInputError(f"{what} is not an ISO 8601 time like "
                                "2026-03-01T09:30:00Z") from None
    if dt.tzinfo is None:
        raise ConsentInputError(f"{what} has no UTC offset: write it as UTC, e.g. "
                                "2026-03-01T09:30:00Z, or with its offset, e.g. "
                                "2026-03-01T10:30:00+01:00")
    return dt.astimezone(UTC)


def as_time(value: datetime | str | int | None, what: str = "time") -> int | None:
    """datetime, ISO text or µs -> µs (None stays None)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ConsentError(f"{what} must be a time, not a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return to_us(parse_time(value, what))
    if isinstance(value, datetime):
        return to_us(value)
    raise ConsentError(f"{what} must be a datetime or ISO 8601 text")


# --------------------------------------------------------------------------- subject references


SUBJECT_REF_SECRET = "subject_ref"  # keys/subject_ref.sealed
LEGACY_REF_KEY = Path("keys") / "consent_ref.key"  # the plaintext key of older versions


class SubjectRef:
    """Keyed short pseudonyms of subject ids for messages: errors and logs never echo an id.

    The key is 32 random bytes sealed under the workspace's KEK in
    ``<workspace>/keys/subject_ref.sealed`` (made on first use; a plaintext
    ``keys/consent_ref.key`` an older version left is sealed and removed), so a copy of the
    workspace without the KEK cannot recompute a subject's pseudonym. A workspace without a KEK
    gets the KEK's clear error; without a workspace, a random per-process key.
    ``ref('C-1')`` -> ``'subject #3fa1c09e2b'``.
    """

    def __init__(self, root: Path | None = None) -> None:
        self._root = root
        self._key: bytes | None = None

    def key(self) -> bytes:
        """The HMAC key of the references (``token(x) == HMAC-SHA256(key, x)``), for callers
        that hash many ids in bulk (lineage, the ``encrypt`` transform)."""
        return self._load()

    def _load(self) -> bytes:
        if self._key is not None:
            return self._key
        if self._root is None:
            self._key = secrets.token_bytes(32)
            return self._key
        from veil.kek.sealed import sealed_path, sealed_secret

        try:  # unwrapped once per process (sealed_secret caches), then once per instance
            key = sealed_secret(self._root, SUBJECT_REF_SECRET, legacy=self._root / LEGACY_REF_KEY)
        except OSError as exc:
            raise StoreError(f"cannot read or create the subject-reference key: {exc.strerror}",
                             where=str(sealed_path(self._root, SUBJECT_REF_SECRET))) from None
        if len(key) < 16:  # a short legacy key: stretched as before, so pseudonyms stay
            key = hashlib.sha256(b"veil.consent.ref\0" + key).digest()
        self._key = key
        return key

    def __call__(self, subject: str) -> str:
        return f"subject #{self.token(subject)[:10]}"

    def token(self, text: str) -> str:
        """Keyed SHA-256 (hex) of any text that may hold a subject id."""
        return hmac.new(self._load(), text.encode("utf-8", "surrogatepass"),
                        hashlib.sha256).hexdigest()


# --------------------------------------------------------------------------- events


@dataclass(frozen=True)
class ConsentEvent:
    """One consent event as given to :meth:`Ledger.append` (validated there).

    ``time``/``expires`` accept aware datetimes, ISO 8601 text or µs. ``source`` names where the
    event came from ("consents.csv:12") and is used in error messages instead of the subject.
    """

    subject: str
    purpose: str
    kind: str
    channel: str
    collector: str
    time: datetime | str | int | None = None
    notice_version: str | None = None
    action: str | None = None
    evidence: str | None = None
    expires: datetime | str | int | None = None
    age: int | None = None
    guardian: str | None = None
    event_id: str | None = None
    source: str | None = None


@dataclass(frozen=True)
class Event:
    """A validated event, as stored (times in µs)."""

    event_id: str
    subject: str
    purpose: str
    kind: str
    time_us: int
    channel: str
    collector: str
    notice_version: str | None = None
    notice_seq: int | None = None
    action: str | None = None
    evidence: str | None = None
    expires_us: int | None = None
    age: int | None = None
    minor: bool | None = None
    guardian: str | None = None
    source: str | None = None
    recorded_us: int = 0
    seq: int = 0  # append order (0 until stored)

    def values(self) -> tuple[Any, ...]:
        """The stored columns, in EVENT_COLUMNS order."""
        return (self.event_id, self.subject, self.purpose, self.kind, self.time_us,
                self.recorded_us, self.notice_version, self.notice_seq, self.channel,
                self.action, self.evidence, self.collector, self.expires_us, self.age,
                self.minor, self.guardian, self.source)

    def row(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id, "subject": self.subject, "purpose": self.purpose,
            "kind": self.kind, "time_us": self.time_us, "recorded_us": self.recorded_us,
            "notice_version": self.notice_version, "notice_seq": self.notice_seq,
            "channel": self.channel, "action": self.action, "evidence": self.evidence,
            "collector": self.collector, "expires_us": self.expires_us, "age": self.age,
            "minor": self.minor, "guardian": self.guardian, "source": self.source,
        }

    def to_json(self) -> dict[str, Any]:
        """The event as the JSON-lines export writes it (RFC 3339 UTC times)."""
        return {
            "event_id": self.event_id, "seq": self.seq, "subject": self.subject,
            "purpose": self.purpose, "event": self.kind, "time": format_us(self.time_us),
            "recorded": format_us(self.recorded_us), "notice_version": self.notice_version,
            "channel": self.channel, "action": self.action, "evidence": self.evidence,
            "collector": self.collector, "expires": format_us(self.expires_us),
            "age": self.age, "minor": self.minor, "guardian": self.guardian,
            "source": self.source,
        }


@dataclass(frozen=True)
class State:
    """The state of one (subject, purpose) after its last event (materialized in the store)."""

    status: str  # granted | withdrawn | expired
    time_us: int  # time of the last event
    event_id: str
    expires_us: int | None = None
    notice_version: str | None = None
    notice_seq: int | None = None
    minor: bool | None = None

    def values(self) -> tuple[Any, ...]:
        """The stored columns, in STATE_COLUMNS order."""
        return (self.status, self.time_us, self.event_id, self.expires_us, self.notice_version,
                self.notice_seq, self.minor)

    def row(self) -> dict[str, Any]:
        return {"status": self.status, "time_us": self.time_us, "event_id": self.event_id,
                "expires_us": self.expires_us, "notice_version": self.notice_version,
                "notice_seq": self.notice_seq, "minor": self.minor}


STATUS_AFTER: dict[str, str] = {"granted": "granted", "renewed": "granted",
                                "withdrawn": "withdrawn", "expired": "expired"}


def state_after(event: Event) -> State:
    """The state an event leaves behind: it depends on that event alone."""
    granted = event.kind in ("granted", "renewed")
    return State(
        status=STATUS_AFTER[event.kind], time_us=event.time_us, event_id=event.event_id,
        expires_us=event.expires_us if granted else None,
        notice_version=event.notice_version if granted else None,
        notice_seq=event.notice_seq if granted else None,
        minor=event.minor if granted else None,
    )


def transition(previous: str | None, kind: str) -> str | None:
    """None when `kind` may follow a state of `previous`, else why not (no subject in it)."""
    if kind == "granted":
        return None  # a fresh, explicit grant is always possible (re-consent included)
    if kind == "renewed":
        if previous is None:
            return "renewal without a prior grant"
        if previous == "withdrawn":
            return "renewal after a withdrawal: the subject must grant consent anew"
        return None
    if kind == "withdrawn":
        if previous is None:
            return "withdrawal without a prior grant"
        if previous == "withdrawn":
            return "withdrawal of a consent that is already withdrawn"
        return None
    if kind == "expired":
        if previous is None:
            return "expiry without a prior grant"
        if previous != "granted":
            return f"expiry of a consent that is already {previous}"
        return None
    return f"unknown event (known: {', '.join(KINDS)})"


def fold(events: Iterable[Event]) -> State | None:
    """The state after `events` (any order; sorted by time then seq). Raises on a bad sequence."""
    state: State | None = None
    for ev in sorted(events, key=lambda e: (e.time_us, e.seq)):
        why = transition(state.status if state else None, ev.kind)
        if why:
            raise ConsentError(why, where=ev.source)
        state = state_after(ev)
    return state


def code_at(state: State | None, at_us: int, required_seq: int | None) -> int:
    """The reason code of a state at time `at_us` (see REASONS)."""
    if state is None:
        return NO_CONSENT
    if state.status == "withdrawn":
        return WITHDRAWN
    if state.status == "expired":
        return EXPIRED
    if state.expires_us is not None and state.expires_us <= at_us:
        return EXPIRED
    if required_seq is not None and (state.notice_seq or 0) < required_seq:
        return OUTDATED_NOTICE
    return OK


# --------------------------------------------------------------------------- field checks


def check_subject(subject: object) -> str:
    if not isinstance(subject, str):
        raise ConsentError("subject id must be text")
    if not subject or not subject.strip():
        raise ConsentError("subject id is empty")
    if len(subject) > MAX_SUBJECT:
        raise ConsentError(f"subject id is longer than {MAX_SUBJECT} characters")
    if _CONTROL.search(subject):
        raise ConsentError("subject id contains control characters")
    return subject


def check_purpose_id(purpose: object) -> str:
    if not isinstance(purpose, str) or not _PURPOSE.match(purpose):
        if isinstance(purpose, str) and ("," in purpose or " " in purpose.strip()):
            raise ConsentError("one purpose per consent (GDPR Art. 7: no bundled consent), got "
                               "a list")
        raise ConsentError("not a purpose id: a letter or _, then up to 127 letters, digits "
                           "or _ . -")
    return purpose


def check_event_id(event_id: str) -> str:
    if not _EVENT_ID.match(event_id):
        raise ConsentError("event id must be 1-64 letters, digits or . _ : -")
    return event_id


def check_version(version: str) -> str:
    if not isinstance(version, str) or not _VERSION.match(version):
        raise ConsentError("notice version must be 1-64 letters, digits or . _ : - +")
    return version


def check_channel(channel: str, kind: str) -> str:
    if channel not in CHANNELS:
        raise ConsentError(f"unknown channel (known: {', '.join(CHANNELS)})")
    if channel == "system" and kind != "expired":
        raise ConsentError(f"channel 'system' is only for expiries: a {kind} event comes from "
                           "the subject through a real channel")
    return channel


def check_action(action: str | None, kind: str) -> str | None:
    """Grants and renewals need an explicit, affirmative action by the subject (Art. 4(11))."""
    if action is not None:
        action = action.strip()
        if len(action) > MAX_TEXT or _CONTROL.search(action):
            raise ConsentError("action must be one line of at most 2000 characters")
    if kind in ("granted", "renewed"):
        if not action or len(action) < 3:
            raise ConsentError(f"a {'grant' if kind == 'granted' else 'renewal'} needs the "
                               "explicit action the subject took, e.g. \"clicked 'I agree'\" "
                               "(GDPR Art. 7, Recital 32)")
        if _NOT_AN_ACTION.search(action):
            raise ConsentError("the action is not an explicit action: silence, pre-ticked "
                               "boxes and inactivity are not consent (GDPR Recital 32)")
    return action or None


def check_evidence(evidence: str | None) -> str | None:
    """'sha256:<64 hex>' (a bare 64-hex digest is accepted and prefixed)."""
    if evidence is None or not evidence.strip():
        return None
    e = evidence.strip().lower()
    if e.startswith("sha256:"):
        e = e[7:]
    if not _HEX64.match(e):
        raise ConsentError("evidence must be a SHA-256 digest of the signed form or UI snapshot "
                           "('sha256:' and 64 hex digits)")
    return "sha256:" + e


def check_text(value: str | None, what: str, limit: int = 128) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if len(value) > limit or _CONTROL.search(value):
        raise ConsentError(f"{what} must be one line of at most {limit} characters")
    return value


def check_age(age: object) -> int | None:
    if age is None:
        return None
    if isinstance(age, bool) or not isinstance(age, int) or not 0 <= age <= 130:
        raise ConsentError("age must be a whole number of years between 0 and 130")
    return age


def evidence_of(path: str | os.PathLike[str]) -> str:
    """'sha256:<hex>' of a file (the signed form, the UI snapshot, the call recording)."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    except OSError as exc:
        raise ConsentError(f"cannot read evidence file: {exc.strerror}", where=str(path)) from None
    return "sha256:" + h.hexdigest()


@dataclass
class Notice:
    """A versioned notice text of a purpose (what the subject was shown)."""

    purpose: str
    version: str
    seq: int
    sha256: str
    effective_us: int
    reconsent: bool
    created_us: int
    created_by: str
    text: str | None = None

    def to_json(self, with_text: bool = False) -> dict[str, Any]:
        d = {"purpose": self.purpose, "version": self.version, "seq": self.seq,
             "sha256": self.sha256, "effective": format_us(self.effective_us),
             "reconsent": self.reconsent, "created": format_us(self.created_us),
             "created_by": self.created_by}
        if with_text:
            d["text"] = self.text
        return d


@dataclass(frozen=True)
class ConsentStatus:
    """The answer of :meth:`Ledger.check`. ``bool(status)`` is True only for valid consent.

    It names the subject by pseudonym (``subject_ref``), so it can be logged.
    """

    subject_ref: str
    purpose: str
    at: datetime
    valid: bool
    reason: str  # one of REASONS
    status: str | None = None  # granted | withdrawn | expired | None (never granted)
    since: datetime | None = None  # time of the event that decided the state
    expires: datetime | None = None
    notice_version: str | None = None
    minor: bool | None = None
    event_id: str | None = None
    required_notice: int | None = field(default=None, repr=False)

    def __bool__(self) -> bool:
        return self.valid

    def to_json(self) -> dict[str, Any]:
        def t(d: datetime | None) -> str | None:
            return format_us(to_us(d)) if d else None

        return {"subject": self.subject_ref, "purpose": self.purpose, "at": t(self.at),
                "valid": self.valid, "reason": self.reason, "status": self.status,
                "since": t(self.since), "expires": t(self.expires),
                "notice_version": self.notice_version, "minor": self.minor,
                "event_id": self.event_id}


def with_source(ev: ConsentEvent, source: str) -> ConsentEvent:
    return replace(ev, source=source)
