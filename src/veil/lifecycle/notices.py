"""The Art. 19 outbox: one notice per recipient of the affected purposes' data when a
rectification, an erasure or a restriction is carried out, tracked until acknowledged.

A notice's payload names the subject (the recipient must find the person's data), so it is kept
only AEAD-encrypted under the workspace's ``recipient-notices`` keyset and bound to the notice
id; rows, logs, errors and audit events carry the subject's pseudonym only. Each notice holds a
random acknowledgement token (only its SHA-256 is stored): the recipient acknowledges with it
(``POST /recipients/notices/{id}/ack``), or the DPO records the acknowledgement
(``veil recipients ack``). Once acknowledged, the sealed payload is dropped: nothing is kept
that names the subject. Delivery (with retries) is `veil.lifecycle.notices_delivery`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from veil._actor import default_actor
from veil.errors import ConflictError, InputError, NotFoundError
from veil.lifecycle.recipients import channel_of, recipients_of_purposes
from veil.store.schema import recipient_notices

if TYPE_CHECKING:  # pragma: no cover
    from veil.policy.model import Policy
    from veil.store.workspace import Workspace

__all__ = ["NOTICE_KEYSET", "Notice", "acknowledge", "enqueue", "list_notices", "sealed_payload"]

NOTICE_KEYSET = "recipient-notices"
ACK_PATH = "/v1/recipients/notices/{id}/ack"
STATUSES = ("pending", "sent", "acknowledged", "failed")
WHAT = {"rectification": "rectified (Art. 16)", "erasure": "erased (Art. 17(1))",
        "restriction": "restricted (Art. 18)"}


@dataclass(frozen=True)
class Notice:
    """One notice as the outbox holds it (no subject id: the pseudonym only)."""

    id: str
    recipient: str
    request_id: str
    kind: str
    subject: str
    purposes: list[str]
    channel: str
    status: str
    attempts: int
    next_attempt: datetime | None
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None

    def to_dict(self) -> dict[str, Any]:
        def t(x: datetime | None) -> str | None:
            return _iso(x) if x else None

        return {"id": self.id, "recipient": self.recipient, "request": self.request_id,
                "kind": self.kind, "subject": self.subject, "purposes": list(self.purposes),
                "channel": self.channel, "status": self.status, "attempts": self.attempts,
                "next_attempt": t(self.next_attempt), "last_error": self.last_error,
                "created_at": t(self.created_at), "sent_at": t(self.sent_at),
                "acknowledged_at": t(self.acknowledged_at),
                "acknowledged_by": self.acknowledged_by}


def _iso(t: datetime) -> str:
    t = t.replace(tzinfo=UTC) if t.tzinfo is None else t
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _utc(t: datetime | None) -> datetime | None:
    return None if t is None else (t.replace(tzinfo=UTC) if t.tzinfo is None else t)


def notice_of(row: Any) -> Notice:
    return Notice(row.id, row.recipient, row.request_id, row.kind, row.subject,
                  list(row.purposes or []), row.channel, row.status, int(row.attempts),
                  _utc(row.next_attempt), row.last_error, _utc(row.created_at),  # type: ignore
                  _utc(row.sent_at), _utc(row.acknowledged_at), row.acknowledged_by)


def _cipher(ws: Workspace) -> Any:
    from veil.crypto.aead import Aead
    from veil.keys.manager import KeyManager

    ks = KeyManager(ws).ensure(NOTICE_KEYSET, "aead",
                               "veil recipients: sealed Art. 19 notice payloads")
    return Aead(ks)


def _ad(notice_id: str) -> bytes:
    return b"veil:notice:v1:" + notice_id.encode("ascii")


def sealed_payload(ws: Workspace, notice_id: str, sealed: bytes | None) -> dict[str, Any]:
    """The notice's payload (with the subject id): for delivery only, never logged."""
    if sealed is None:
        raise ConflictError(f"notice {notice_id}: its payload was dropped (acknowledged)")
    return dict(json.loads(_cipher(ws).decrypt(bytes(sealed), _ad(notice_id))))


def enqueue(ws: Workspace, policy: Policy, *, request_id: str, kind: str, subject_id: str,
            token: str, purposes: list[str], details: dict[str, Any] | None = None,
            conn: sa.Connection | None = None) -> list[Notice]:
    """One pending notice per recipient of ``purposes``' data (idempotent per request and
    recipient: a rerun adds none twice). ``token`` is the subject's pseudonym."""
    if kind not in WHAT:
        raise InputError(f"Art. 19 notices are for {', '.join(WHAT)}, not '{kind}'")
    who = recipients_of_purposes(policy, purposes)
    if not who:
        return []
    if conn is None:
        with ws.engine.begin() as c:
            return enqueue(ws, policy, request_id=request_id, kind=kind, subject_id=subject_id,
                           token=token, purposes=purposes, details=details, conn=c)
    t = recipient_notices.c
    aead = _cipher(ws)
    now = datetime.now(UTC)
    for rid, ps in who.items():
        if conn.execute(sa.select(t.id).where(t.request_id == request_id,
                                              t.recipient == rid)).first():
            continue
        channel, address = channel_of(policy.recipients[rid])
        nid = secrets.token_hex(8)
        ack = secrets.token_urlsafe(24)
        payload = {"notice": nid, "article": "GDPR Art. 19", "kind": kind,
                   "what": f"The data subject's personal data was {WHAT[kind]}.",
                   "request": request_id, "subject_id": subject_id, "purposes": ps,
                   "controller": policy.controller.name, "recipient": rid,
                   "created_at": _iso(now), "details": details or {},
                   "ack": {"path": ACK_PATH.format(id=nid), "token": ack},
                   "to": {"channel": channel, "address": address,
                          "secret_env": _secret_env(policy.recipients[rid])}}
        data = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode("utf-8")
        conn.execute(recipient_notices.insert().values(
            id=nid, recipient=rid, request_id=request_id, kind=kind, subject=token,
            purposes=ps, channel=channel, sealed=bytes(aead.encrypt(data, _ad(nid))),
            token_hash=hashlib.sha256(ack.encode()).hexdigest(), status="pending",
            attempts=0, next_attempt=now if channel != "manual" else None,
            created_at=now))
    rows = conn.execute(sa.select(recipient_notices).where(t.request_id == request_id)
                        .order_by(t.recipient)).all()
    return [notice_of(r) for r in rows]


def _secret_env(recipient: Any) -> str | None:
    n = getattr(recipient, "notify", None)
    return n.secret_env if n is not None else None


def list_notices(ws: Workspace, *, pending: bool = False,
                 request_id: str | None = None) -> list[Notice]:
    """The outbox, oldest first; ``pending``: not yet acknowledged (pending, sent, failed)."""
    t = recipient_notices.c
    q = sa.select(recipient_notices).order_by(t.created_at, t.recipient)
    if pending:
        q = q.where(t.status != "acknowledged")
    if request_id:
        q = q.where(t.request_id == request_id)
    with ws.engine.connect() as conn:
        return [notice_of(r) for r in conn.execute(q)]


def get_notice(ws: Workspace, notice_id: str) -> Any:
    t = recipient_notices.c
    nid = str(notice_id).strip()
    with ws.engine.connect() as conn:
        row = conn.execute(sa.select(recipient_notices).where(t.id == nid)).first()
    if row is None:
        raise NotFoundError(f"no notice '{nid[:40]}' (see `veil recipients notices`)")
    return row


def acknowledge(ws: Workspace, notice_id: str, *, token: str | None = None,
                actor: str | None = None, note: str | None = None) -> Notice:
    """Record that the recipient acknowledged the notice. With ``token`` (the recipient's own
    acknowledgement over HTTP) the token must match; without it, the DPO records it by hand
    (``actor``). The sealed payload is dropped. Acknowledging twice is a no-op."""
    row = get_notice(ws, notice_id)
    if token is not None:
        want = row.token_hash.encode()
        if not hmac.compare_digest(hashlib.sha256(token.encode()).hexdigest().encode(), want):
            from veil.errors import RunRefused

            raise RunRefused(f"notice {row.id}: the acknowledgement token does not match")
    who = (actor or (f"recipient:{row.recipient}" if token else default_actor()))[:128]
    if row.status == "acknowledged":
        return notice_of(row)
    t = recipient_notices.c
    now = datetime.now(UTC)
    with ws.engine.begin() as conn:
        conn.execute(recipient_notices.update().where(t.id == row.id).values(
            status="acknowledged", acknowledged_at=now, acknowledged_by=who, sealed=None,
            next_attempt=None))
    _audit(ws, "recipients.notice.ack", row, who, {"by_token": token is not None,
                                                   "note": (note or "")[:200] or None})
    return notice_of(get_notice(ws, row.id))


def _audit(ws: Workspace, action: str, row: Any, actor: str, details: dict[str, Any]) -> None:
    from veil.audit.event import AuditEvent
    from veil.audit.log import AuditLog

    AuditLog(ws).append([AuditEvent(
        time=datetime.now(UTC), actor=actor, action=action,
        purpose=",".join(row.purposes or [])[:200] or "none", legal_basis="Art. 19",
        outcome="success", counts={"notices": 1}, subjects=[row.subject[:32]],
        details={"notice": row.id, "recipient": row.recipient, "request": row.request_id,
                 "kind": row.kind, **details})])
