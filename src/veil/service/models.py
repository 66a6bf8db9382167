"""Request and response bodies of the service (pydantic): strict types, no unknown fields.

Subject ids travel only in request bodies (never in paths or query strings, which proxies and
access logs keep), and responses name subjects by their keyed pseudonym (``subject_ref``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from veil.consent.models import CHANNELS, MAX_SUBJECT

Subject = Annotated[str, Field(min_length=1, max_length=MAX_SUBJECT,
                               description="The subject id as it appears in the data.")]
PurposeId = Annotated[str, Field(min_length=1, max_length=128,
                                 pattern=r"^[A-Za-z_][A-Za-z0-9_.\-]{0,127}$",
                                 description="One purpose id from the policy.")]
Time = Annotated[str, Field(min_length=1, max_length=40,
                            description="ISO 8601 time with a UTC offset, e.g. "
                                        "2026-03-01T09:30:00Z")]
Version = Annotated[str, Field(min_length=1, max_length=64,
                               pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-+]{0,63}$")]
EventId = Annotated[str, Field(min_length=1, max_length=64,
                               pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}$")]
Evidence = Annotated[str, Field(pattern=r"^(sha256:)?[0-9a-fA-F]{64}$",
                                description="SHA-256 of the signed form or UI snapshot.")]
Channel = Literal[tuple(c for c in CHANNELS if c != "system")]  # type: ignore[valid-type]
Text = Annotated[str, Field(min_length=1, max_length=2000)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class GrantIn(_In):
    """A grant or renewal: the subject's explicit action is required (GDPR Art. 7)."""

    subject: Subject
    purpose: PurposeId
    channel: Channel  # type: ignore[valid-type]
    action: Annotated[str, Field(min_length=3, max_length=2000,
                                 description="What the subject did, e.g. \"clicked 'I agree'\"")]
    notice_version: Version | None = None
    evidence: Evidence | None = None
    expires: Time | None = None
    age: Annotated[int, Field(ge=0, le=130)] | None = None
    guardian: Annotated[str, Field(min_length=1, max_length=256)] | None = None
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
    minutes: Annotated[int, Field(ge=1, le=720)] | None = Field(
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
