"""Request and response bodies of the service (pydantic): strict types, no unknown fields.

Subject ids travel only in request bodies (never in paths or query strings, which proxies and
access logs keep), and responses name subjects by their keyed pseudonym (``subject_ref``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from veil.consent.models import CHANNELS, MAX_SUBJECT

# The document says exactly what the server accepts: these patterns are checked by the server
# (pydantic) and stated in the OpenAPI document, so a schema-valid value is never refused for
# its shape. Subject ids: no control characters, not blank (veil.consent.models.check_subject).
SUBJECT_PATTERN = r"^[^\x00-\x1f\x7f]*[^\x00-\x1f\x7f\s][^\x00-\x1f\x7f]*$"
# One line: no control characters (what the ledger keeps for free text).
LINE_PATTERN = r"^[^\x00-\x1f\x7f]*$"
# An explicit action: one line, at least 3 characters once trimmed.
_C, _N = r"[^\x00-\x1f\x7f]", r"[^\x00-\x1f\x7f\s]"
ACTION_PATTERN = f"^{_C}*{_N}{_C}+{_N}{_C}*$"
# An RFC 3339 date-time whose every match is a real time (day within its month, 29 February
# in leap years only, no leap second), years 1900 to 2999 (so an offset never leaves the
# range a time is stored in).
_YEAR = r"(?:19|2\d)\d\d"
_DATE = (rf"(?:{_YEAR}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1\d|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)"
         r"|(?:0[13578]|1[02])-31)"
         r"|(?:19|2\d)(?:0[48]|[2468][048]|[13579][26])-02-29|(?:2000|2400|2800)-02-29)")
_CLOCK = r"T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d{1,6})?"
_OFFSET = r"(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)"
TIME_PATTERN = f"^{_DATE}{_CLOCK}{_OFFSET}$"
LOCAL_TIME_PATTERN = f"^{_DATE}{_CLOCK}{_OFFSET}?$"
TIME_MESSAGE = ("not an ISO 8601 (RFC 3339) time like 2026-03-01T09:30:00Z (years 1900 to "
                "2999)")

Subject = Annotated[str, Field(min_length=1, max_length=MAX_SUBJECT, pattern=SUBJECT_PATTERN,
                               description="The subject id as it appears in the data (no "
                                           "control characters, not blank).")]
PurposeId = Annotated[str, Field(min_length=1, max_length=128,
                                 pattern=r"^[A-Za-z_][A-Za-z0-9_.\-]{0,127}$",
                                 json_schema_extra={"x-purpose": "any"},
                                 description="One purpose id from the policy (the served "
                                             "document lists them).")]
ConsentPurpose = Annotated[str, Field(min_length=1, max_length=128,
                                      pattern=r"^[A-Za-z_][A-Za-z0-9_.\-]{0,127}$",
                                      json_schema_extra={"x-purpose": "consent"},
                                      description="A purpose of the policy that relies on "
                                                  "consent (the served document lists them).")]
DecisionPurpose = Annotated[str, Field(min_length=1, max_length=128,
                                       pattern=r"^[A-Za-z_][A-Za-z0-9_.\-]{0,127}$",
                                       json_schema_extra={"x-purpose": "automated_decisions"},
                                       description="A purpose of the policy that declares "
                                                   "automated_decisions (the served document "
                                                   "lists them).")]
Time = Annotated[str, Field(pattern=TIME_PATTERN,  # the pattern bounds the length (20..32)
                            json_schema_extra={"format": "date-time"},
                            description="RFC 3339 time with a UTC offset, e.g. "
                                        "2026-03-01T09:30:00Z (years 1900 to 2999)")]
LocalTime = Annotated[str, Field(pattern=LOCAL_TIME_PATTERN,
                                 description="RFC 3339 time, e.g. 2026-03-01T09:30:00Z; "
                                             "without an offset it is read in `tz`")]


# What a refused pattern means, in words (pydantic would quote the regular expression).
PATTERN_MESSAGES: dict[str, str] = {
    TIME_PATTERN: TIME_MESSAGE,
    LOCAL_TIME_PATTERN: TIME_MESSAGE.replace("like", "like 2026-03-01T09:30:00 or"),
    SUBJECT_PATTERN: "a subject id has no control characters and is not blank",
    LINE_PATTERN: "one line: no control characters",
    ACTION_PATTERN: "one line of at least 3 characters (what the subject did)",
}


def _whole(value: Any) -> Any:
    """A JSON number with no fraction (``129.0``) is an integer to JSON Schema: take it."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# In ``Annotated[int, Field(ge=.., le=..), WholeNumber]``: 5 or 5.0, never "5" or true.
WholeNumber = BeforeValidator(_whole)
Version = Annotated[str, Field(min_length=1, max_length=64,
                               pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-+]{0,63}$")]
EventId = Annotated[str, Field(min_length=1, max_length=64,
                               pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}$")]
Evidence = Annotated[str, Field(pattern=r"^(sha256:)?[0-9a-fA-F]{64}$",
                                description="SHA-256 of the signed form or UI snapshot.")]
Channel = Literal[tuple(c for c in CHANNELS if c != "system")]  # type: ignore[valid-type]
Text = Annotated[str, Field(min_length=1, max_length=2000, pattern=LINE_PATTERN)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class GrantIn(_In):
    """A grant or renewal: the subject's explicit action is required (GDPR Art. 7)."""

    subject: Subject
    purpose: ConsentPurpose
    channel: Channel  # type: ignore[valid-type]
    action: Annotated[str, Field(min_length=3, max_length=2000, pattern=ACTION_PATTERN,
                                 description="What the subject did, e.g. \"clicked 'I agree'\"")]
    notice_version: Version | None = None
    evidence: Evidence | None = None
    expires: Time | None = None
    age: Annotated[int, Field(ge=0, le=130), WholeNumber] | None = None
    guardian: Annotated[str, Field(min_length=1, max_length=256,
                                   pattern=LINE_PATTERN)] | None = None
    time: Time | None = None
    event_id: EventId | None = None


class WithdrawIn(_In):
    subject: Subject
    purpose: PurposeId
    channel: Channel  # type: ignore[valid-type]
    action: Text | None = None
    evidence: Evidence | None = None
    time: Time | None = None
    event_id: EventId | None = None


class CheckIn(_In):
    subject: Subject
    purpose: PurposeId
    at: Time | None = Field(None, description="Check as of this past time (default: now).")
    notice_version: Version | None = None


class BulkCheckIn(_In):
    purpose: PurposeId
    subjects: Annotated[list[Subject | None], Field(min_length=1, max_length=10_000)]
    at: Time | None = None
    notice_version: Version | None = None


class SubjectIn(_In):
    subject: Subject
    purpose: PurposeId | None = None


class ReceiptIn(_In):
    subject: Subject


class TokenIn(_In):
    minutes: Annotated[int, Field(ge=1, le=720), WholeNumber] | None = Field(
        None, description="Lifetime (default: the service's token_minutes).")


# -- responses -----------------------------------------------------------------------------


class ErrorDetail(BaseModel):
    status: int
    kind: str
    message: str
    where: str | None = None
    fields: list[dict[str, str]] | None = None


class ErrorOut(BaseModel):
    error: ErrorDetail


class ConsentEventOut(BaseModel):
    event_id: str
    subject_ref: str
    purpose: str
    event: str
    time: str
    recorded: str | None
    channel: str
    collector: str
    notice_version: str | None = None
    action: str | None = None
    evidence: str | None = None
    expires: str | None = None
    minor: bool | None = None


class CheckOut(BaseModel):
    subject_ref: str
    purpose: str
    at: str
    valid: bool
    reason: str
    status: str | None = None
    since: str | None = None
    expires: str | None = None
    notice_version: str | None = None
    minor: bool | None = None
    event_id: str | None = None


class BulkCheckOut(BaseModel):
    purpose: str
    at: str
    count: int
    valid: int
    mask: list[bool]
    reasons: list[str]
    counts: dict[str, int]


class HistoryOut(BaseModel):
    subject_ref: str
    events: list[ConsentEventOut]


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"]
    expires_in: int
    expires: str
    key_id: str
    role: str


class WhoAmI(BaseModel):
    key_id: str
    role: str
    name: str
    via: str
    permissions: list[str]


class HeadOut(BaseModel):
    origin: str
    size: int
    root: str
    signed: dict[str, Any] | None


class VerifyOut(BaseModel):
    ok: bool
    size: int
    origin: str | None = None
    root: str | None = None
    heads_checked: int | None = None
    latest_signed_size: int | None = None
    nodes_checked: int | None = None
    key_id: str | None = None
    seconds: float | None = None
    failed_index: int | None = None
    failed_check: str | None = None
    detail: str | None = None
    checked_at: str


class AuditEventOut(BaseModel):
    index: int
    time: str
    action: str
    actor: str
    purpose: str
    outcome: str
    event: dict[str, Any]


class AuditEventsOut(BaseModel):
    events: list[AuditEventOut]
    next_start: int | None


class Health(BaseModel):
    status: str


__all__ = [
    "BulkCheckIn", "BulkCheckOut", "CheckIn", "CheckOut", "ConsentEventOut", "ErrorOut",
    "GrantIn", "HistoryOut", "ReceiptIn", "SubjectIn", "TokenIn", "TokenOut", "WhoAmI",
    "WithdrawIn",
]
