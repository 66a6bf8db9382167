"""Audit events and their canonical bytes (the leaf inputs of the audit Merkle tree).

An event records one processing operation and holds no direct personal data: data subjects appear
only as pseudonyms (see :data:`PSEUDONYM_PATTERN`), and its free text (actor, purpose, details, ...)
is screened by :mod:`veil.audit.screen` when it is appended. Its canonical form is RFC 8785 (JSON
Canonicalization Scheme) JSON, produced by the ``rfc8785`` package, of this object::

    {"action": str, "actor": str, "counts": {str: int}, "data_categories": [str],
     "details": {str: str | int | float | bool | null}, "digests": {str: str},
     "legal_basis": str, "outcome": str, "purpose": str, "subjects": [str],
     "time": "YYYY-MM-DDTHH:MM:SS.ffffffZ", "v": 1}

i.e. keys sorted by UTF-16 code units, no whitespace, UTF-8, ES6 number formatting, the time in
UTC as RFC 3339 with exactly six fractional digits and ``Z``. ``data_categories`` and ``subjects``
are sets: they are sorted and de-duplicated, so the same event always gives the same bytes.
Parsing is strict: :meth:`AuditEvent.from_canonical_bytes` accepts only bytes that are exactly the
canonical form of the event they decode to.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

import rfc8785

from veil.audit.merkle import leaf_hash
from veil.errors import AuditError

EVENT_VERSION = 1
"""The ``v`` field of the canonical form; bumped if the schema ever changes."""

PSEUDONYM_PATTERN = re.compile(r"(?:[a-z][a-z0-9_.-]{0,63}:)?[A-Za-z0-9_-]{32,128}")
"""What a subject reference in an event must look like: an optional ``domain:`` prefix and a
token of 32 to 128 hex / base64url characters (at least 128 bits of a keyed hash, e.g. HMAC-SHA256).
A guard against raw identifiers slipping in, not a proof: names, e-mail addresses, phone numbers,
dates and most national ids and account numbers have other characters or are shorter."""

_TIME_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{6})Z", re.ASCII)
_MAX_SAFE_INT = 2**53 - 1
_STR = {str}  # RFC 8785 numbers are IEEE 754 doubles
_SEQUENCES = (list, tuple, set, frozenset)  # iterables of items, checked without the ABC
_PLAIN = (str, bool)
_FIELDS = (
    "action",
    "actor",
    "counts",
    "data_categories",
    "details",
    "digests",
    "legal_basis",
    "outcome",
    "purpose",
    "subjects",
    "time",
    "v",
)


def format_time(value: datetime) -> str:
    """RFC 3339 in UTC with microseconds and ``Z``: ``2024-05-01T12:00:00.000000Z``."""
    return _format_utc(_utc(value))


def _utc(value: datetime) -> datetime:
    """``value`` in UTC; refuses a naive time or one out of range in UTC."""
    if not isinstance(value, datetime):
        raise AuditError(f"time must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise AuditError("time must be timezone-aware (UTC)")
    try:
        t = value.astimezone(UTC)
    except OverflowError:
        raise AuditError(f"time {value!r} is out of range in UTC") from None
    return t if type(t) is datetime else datetime(*t.timetuple()[:6], t.microsecond, tzinfo=UTC)


def _format_utc(t: datetime) -> str:
    return t.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"  # 4-digit year


def parse_time(text: str) -> datetime:
    """Parse the exact form written by :func:`format_time`."""
    m = _TIME_RE.fullmatch(text) if isinstance(text, str) else None
    if m is None:
        raise AuditError(f"time {text!r} is not RFC 3339 UTC with microseconds (…T…:…:….ffffffZ)")
    try:
        y, mo, d, h, mi, sec, us = (int(g) for g in m.groups())
        return datetime(y, mo, d, h, mi, sec, us, tzinfo=UTC)
    except ValueError as exc:
        raise AuditError(f"time {text!r} is not a valid date and time: {exc}") from None


def canonical_json(value: Any) -> bytes:
    """RFC 8785 canonical JSON bytes of ``value`` (AuditError if it cannot be canonicalized)."""
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError, UnicodeError) as exc:
        raise AuditError(f"value cannot be canonicalized as JSON: {exc}") from None


# For an event without floats and with ASCII keys, RFC 8785 is plain JSON written in a fixed
# order: strings escaped as the standard library's C ``encode_basestring`` escapes them
# (\b \t \n \f \r \" \\, other controls as lowercase \u00xx, nothing else), integers in
# decimal, keys in code-point order (UTF-16 order for ASCII). That is what the standard library's
# C encoder writes with sorted keys and no whitespace, in one call per event. Floats (ES6 number
# formatting) and other keys go through ``rfc8785``. Cross-tested against ``rfc8785`` in
# tests/audit.
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True,
                           check_circular=False, allow_nan=False).encode


def _fast_canonical(e: AuditEvent, time_text: str, counts: dict[str, Any],
                    digests: dict[str, Any], details: dict[str, Any]) -> bytes:
    """:func:`canonical_json` of ``e.to_json_obj()`` for a float-free event with ASCII keys
    (its mappings given as plain dicts); raises UnicodeEncodeError for a lone surrogate."""
    return _ENCODE({
        "action": e.action, "actor": e.actor, "counts": counts,
        "data_categories": e.data_categories, "details": details, "digests": digests,
        "legal_basis": e.legal_basis, "outcome": e.outcome, "purpose": e.purpose,
        "subjects": e.subjects, "time": time_text, "v": EVENT_VERSION,
    }).encode("utf-8")


def _text(name: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise AuditError(f"{name} must be a non-empty string", where=f"event.{name}")
    return value  # lone surrogates: found when the event is encoded (_name_bad_text)


def _check_unicode(name: str, value: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise AuditError(
            f"{name} is not valid Unicode (lone surrogate)", where=f"event.{name}"
        ) from None


def _text_set(name: str, values: object, pattern: re.Pattern[str] | None = None) -> tuple[str, ...]:
    if type(values) not in _SEQUENCES and (isinstance(values, str | bytes)
                                           or not isinstance(values, Iterable)):
        raise AuditError(f"{name} must be a list of strings", where=f"event.{name}")
    try:
        out = set(values)
        ok = set(map(type, out)) <= _STR and "" not in out
    except TypeError:  # an unhashable item
        ok = False
    if not ok:  # the loop says which item is wrong
        out = set()
        for i, v in enumerate(values):
            if not isinstance(v, str) or not v:
                raise AuditError(f"{name}[{i}] must be a non-empty string", where=f"event.{name}")
            out.add(v)
    if pattern is not None:
        match = pattern.fullmatch
        if not all(map(match, out)):
            i = next(i for i, v in enumerate(values) if not match(v))
            raise AuditError(
                f"{name}[{i}] does not look like a pseudonym (refusing a possible raw identifier)",
                where=f"event.{name}",
            )
    return tuple(sorted(out))


def _mapping(name: str, value: object) -> Mapping[str, Any]:
    if type(value) is not dict and not isinstance(value, Mapping):
        raise AuditError(f"{name} must be a mapping", where=f"event.{name}")
    if "" not in value and all(type(k) is str for k in value):
        return value  # type: ignore[return-value]
    for k in value:
        if not isinstance(k, str) or not k:
            raise AuditError(f"{name} keys must be non-empty strings", where=f"event.{name}")
    return value


def _frozen(d: dict[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(sorted(d.items())) if len(d) > 1 else d)


@dataclass(frozen=True)
class AuditEvent:
    """One processing operation, as recorded in the audit log. Immutable; validated on creation.

    ``counts`` are non-negative integers (rows in, rows dropped, ...); ``digests`` map a name to a
    digest string (``"sha256:..."``); ``details`` hold JSON scalars only. Lists are stored as sorted
    tuples and mappings as read-only views.
    """

    time: datetime
    actor: str
    action: str
    purpose: str
    legal_basis: str
    outcome: str
    data_categories: Sequence[str] = ()
    counts: Mapping[str, int] = field(default_factory=dict)
    subjects: Sequence[str] = ()
    digests: Mapping[str, str] = field(default_factory=dict)
    details: Mapping[str, str | int | float | bool | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        t = _utc(self.time)
        set_(self, "time", t)
        for name in ("actor", "action", "purpose", "legal_basis", "outcome"):
            _text(name, getattr(self, name))
        set_(self, "data_categories", _text_set("data_categories", self.data_categories))
        set_(self, "subjects", _text_set("subjects", self.subjects, PSEUDONYM_PATTERN))

        counts = _mapping("counts", self.counts)
        for k, v in counts.items():
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= _MAX_SAFE_INT:
                raise AuditError(
                    f"counts[{k!r}] must be an integer in 0..2**53-1, got {v!r}",
                    where="event.counts",
                )
        counts_d = dict(counts)
        set_(self, "counts", _frozen(counts_d))

        digests = _mapping("digests", self.digests)
        for k, v in digests.items():
            if not isinstance(v, str) or not v:
                raise AuditError(
                    f"digests[{k!r}] must be a non-empty string", where="event.digests"
                )
        digests_d = dict(digests)
        set_(self, "digests", _frozen(digests_d))

        details = _mapping("details", self.details)
        fast = True  # no float and no integer beyond 2**53 (see _fast_canonical)
        for k, v in details.items():
            if type(v) in _PLAIN or v is None or isinstance(v, str | bool):
                continue
            if isinstance(v, int):
                fast = fast and -_MAX_SAFE_INT <= v <= _MAX_SAFE_INT
            elif isinstance(v, float):
                fast = False
            else:
                raise AuditError(
                    f"details[{k!r}] must be a JSON scalar (str, int, float, bool, None), "
                    f"got {type(v).__name__}",
                    where="event.details",
                )
        details_d = dict(details)
        set_(self, "details", _frozen(details_d))
        fast = fast and "".join(counts_d).isascii() and "".join(digests_d).isascii() and (
            "".join(details_d).isascii())
        time_text = _format_utc(t)
        # Numbers out of the JSON domain (NaN, 2**60) fail in rfc8785. The event is immutable,
        # so its canonical bytes are computed once and kept.
        try:
            data = (
                _fast_canonical(self, time_text, counts_d, digests_d, details_d)
                if fast
                else canonical_json(self.to_json_obj(_time=time_text))
            )
        except (UnicodeEncodeError, AuditError):
            self._name_bad_text()  # a lone surrogate: say which field holds it
            raise
        set_(self, "_canonical", data)

    def _name_bad_text(self) -> None:
        """Raise naming the field that holds a lone surrogate (called when encoding failed)."""
        for name in ("actor", "action", "purpose", "legal_basis", "outcome"):
            _check_unicode(name, getattr(self, name))
        for name in ("data_categories", "subjects"):
            for v in getattr(self, name):
                _check_unicode(name, v)
        for name in ("counts", "digests", "details"):
            for k, v in getattr(self, name).items():
                _check_unicode(name, k)
                if isinstance(v, str):
                    _check_unicode(name, v)

    def __hash__(self) -> int:
        return hash(self.canonical_bytes())

    # ------------------------------------------------------------------ canonical form

    def to_json_obj(self, *, _time: str | None = None) -> dict[str, Any]:
        """The plain JSON object that the canonical bytes encode."""
        return {
            "action": self.action,
            "actor": self.actor,
            "counts": dict(self.counts),
            "data_categories": list(self.data_categories),
            "details": dict(self.details),
            "digests": dict(self.digests),
            "legal_basis": self.legal_basis,
            "outcome": self.outcome,
            "purpose": self.purpose,
            "subjects": list(self.subjects),
            "time": _time if _time is not None else format_time(self.time),
            "v": EVENT_VERSION,
        }

    def canonical_bytes(self) -> bytes:
        """The RFC 8785 bytes of this event: the leaf input of the audit tree."""
        cached: bytes = self.__dict__["_canonical"]
        return cached

    def leaf_hash(self) -> bytes:
        """SHA-256(0x00 || canonical bytes): this event's leaf hash (RFC 6962)."""
        return leaf_hash(self.canonical_bytes())

    @classmethod
    def from_json_obj(cls, obj: object) -> AuditEvent:
        """Build an event from its JSON object (as from :meth:`to_json_obj`); strict on fields."""
        if not isinstance(obj, dict):
            raise AuditError("an audit event must be a JSON object")
        missing = [k for k in _FIELDS if k not in obj]
        extra = sorted(set(obj) - set(_FIELDS))
        if missing:
            raise AuditError(f"audit event lacks field(s): {', '.join(missing)}")
        if extra:
            raise AuditError(f"audit event has unknown field(s): {', '.join(extra)}")
        if obj["v"] != EVENT_VERSION or isinstance(obj["v"], bool):
            raise AuditError(f"unsupported audit event version {obj['v']!r} (want {EVENT_VERSION})")
        for name in ("data_categories", "subjects"):
            if not isinstance(obj[name], list):
                raise AuditError(f"{name} must be a JSON array", where=f"event.{name}")
        return cls(
            time=parse_time(obj["time"]),
            actor=obj["actor"],
            action=obj["action"],
            purpose=obj["purpose"],
            legal_basis=obj["legal_basis"],
            outcome=obj["outcome"],
            data_categories=obj["data_categories"],
            counts=obj["counts"],
            subjects=obj["subjects"],
            digests=obj["digests"],
            details=obj["details"],
        )

    @classmethod
    def from_canonical_bytes(cls, data: bytes) -> AuditEvent:
        """Parse canonical bytes back; refuse anything that is not exactly canonical."""
        if not isinstance(data, bytes | bytearray):
            raise AuditError("canonical event must be bytes")
        try:
            text = bytes(data).decode("utf-8")
            obj = json.loads(
                text,
                object_pairs_hook=_no_duplicates,
                parse_constant=_no_constant,
                parse_int=_parse_int,
            )
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise AuditError(f"audit event is not valid UTF-8 JSON: {exc}") from None
        event = cls.from_json_obj(obj)
        if event.canonical_bytes() != bytes(data):
            raise AuditError("audit event bytes are not in canonical form (RFC 8785)")
        return event


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise AuditError(f"audit event has a duplicate key {k!r}")
        out[k] = v
    return out


def _parse_int(text: str) -> int | float:
    # RFC 8785 numbers are doubles: an integral float beyond 2**53 (e.g. 1e20) is written without
    # a fraction or exponent; read it back as the float it was.
    value = int(text)
    return value if -_MAX_SAFE_INT <= value <= _MAX_SAFE_INT else float(text)


def _no_constant(name: str) -> Any:
    raise AuditError(f"audit event holds {name}, which is not JSON")
