"""Delivering Art. 19 notices: webhook (HTTP POST of the JSON payload, signed with
HMAC-SHA256 when the recipient names a secret) or email (SMTP), with retries.

A failed attempt keeps the notice pending with its error (one line, never the payload) and the
next attempt after an exponential backoff (1 minute, doubling, at most 6 hours); after
``MAX_ATTEMPTS`` it is marked failed (a person must act). SMTP settings come from the
environment: VEIL_SMTP_HOST, VEIL_SMTP_PORT (25), VEIL_SMTP_USER, VEIL_SMTP_PASSWORD,
VEIL_SMTP_STARTTLS (1/true), VEIL_SMTP_FROM.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from veil._actor import default_actor
from veil.lifecycle.notices import sealed_payload
from veil.store.schema import recipient_notices

if TYPE_CHECKING:  # pragma: no cover
    from veil.store.workspace import Workspace

__all__ = ["MAX_ATTEMPTS", "Delivery", "backoff", "deliver"]

MAX_ATTEMPTS = 12
SIGNATURE_HEADER = "X-Veil-Signature"


class DeliveryFailed(Exception):
    """One attempt failed; the message is one line without personal data."""


@dataclass
class Delivery:
    """What one `deliver` call did."""

    sent: list[str] = field(default_factory=list)
    retrying: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"sent": self.sent, "retrying": self.retrying, "failed": self.failed}


def backoff(attempts: int) -> timedelta:
    """Wait before the next attempt after ``attempts`` failures: 1 min doubling, max 6 h."""
    return timedelta(minutes=min(2 ** max(attempts - 1, 0), 360))


def deliver(ws: Workspace, *, now: datetime | None = None, actor: str | None = None,
            timeout: float = 10.0) -> Delivery:
    """Attempt every due notice (pending, next attempt reached, not by hand)."""
    now = now or datetime.now(UTC)
    t = recipient_notices.c
    with ws.engine.connect() as conn:
        due = conn.execute(sa.select(recipient_notices).where(
            t.status == "pending", t.channel != "manual", t.next_attempt <= now)
            .order_by(t.next_attempt, t.id)).all()
    out = Delivery()
    for row in due:
        try:
            _send(sealed_payload(ws, row.id, row.sealed), timeout)
        except DeliveryFailed as exc:
            _failed(ws, row, str(exc), now, out)
            continue
        with ws.engine.begin() as conn:
            conn.execute(recipient_notices.update().where(t.id == row.id).values(
                status="sent", sent_at=datetime.now(UTC), attempts=row.attempts + 1,
                last_error=None, next_attempt=None))
        out.sent.append(row.id)
    if due:
        _audit(ws, out, default_actor(actor))
    return out


def _failed(ws: Workspace, row: Any, error: str, now: datetime, out: Delivery) -> None:
    n = row.attempts + 1
    final = n >= MAX_ATTEMPTS
    nxt = None if final else now + backoff(n)
    with ws.engine.begin() as conn:
        conn.execute(recipient_notices.update().where(recipient_notices.c.id == row.id)
                     .values(status="failed" if final else "pending", attempts=n,
                             last_error=error[:500], next_attempt=nxt))
    item = {"id": row.id, "recipient": row.recipient, "error": error[:500], "attempts": n,
            "next_attempt": nxt.isoformat() if nxt else None}
    (out.failed if final else out.retrying).append(item)


def _send(payload: dict[str, Any], timeout: float) -> None:
    to = payload.get("to") or {}
    body = {k: v for k, v in payload.items() if k != "to"}
    data = json.dumps(body, ensure_ascii=False, sort_keys=True).encode("utf-8")
    if to.get("channel") == "webhook":
        _post(to["address"], data, payload["notice"], to.get("secret_env"), timeout)
    elif to.get("channel") == "email":
        _mail(to["address"], body, data, timeout)
    else:
        raise DeliveryFailed("the notice has no delivery channel (tracked by hand)")


def _post(url: str, data: bytes, notice_id: str, secret_env: str | None,
          timeout: float) -> None:
    import httpx

    headers = {"Content-Type": "application/json", "X-Veil-Notice": notice_id}
    if secret_env:
        secret = os.environ.get(secret_env)
        if not secret:
            raise DeliveryFailed(f"environment variable {secret_env} (the webhook's signing "
                                 "secret) is not set")
        mac = hmac.new(secret.encode("utf-8"), data, hashlib.sha256).hexdigest()
        headers[SIGNATURE_HEADER] = f"sha256={mac}"
    try:
        r = httpx.post(url, content=data, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        raise DeliveryFailed(f"webhook {_origin(url)} unreachable ({type(exc).__name__}); "
                             "the notice stays pending and is retried") from None
    if not 200 <= r.status_code < 300:
        raise DeliveryFailed(f"webhook {_origin(url)} answered HTTP {r.status_code}")


def _origin(url: str) -> str:
    from urllib.parse import urlsplit

    u = urlsplit(url)
    return f"{u.scheme}://{u.hostname}" + (f":{u.port}" if u.port else "")


def _mail(address: str, body: dict[str, Any], data: bytes, timeout: float) -> None:
    import smtplib
    from email.message import EmailMessage

    host = os.environ.get("VEIL_SMTP_HOST")
    sender = os.environ.get("VEIL_SMTP_FROM")
    if not host or not sender:
        raise DeliveryFailed("email needs VEIL_SMTP_HOST and VEIL_SMTP_FROM")
    msg = EmailMessage()
    msg["From"], msg["To"] = sender, address
    msg["Subject"] = (f"GDPR Art. 19 notice {body['notice']}: {body['kind']} "
                      f"(request {body['request']})")
    msg.set_content(f"{body['what']}\n\nPlease apply the same to the data you received from "
                    f"{body['controller']} for: {', '.join(body['purposes'])}.\n"
                    f"Acknowledge with the token below ({body['ack']['path']}).\n\n"
                    + json.dumps(body, ensure_ascii=False, indent=2, sort_keys=True))
    msg.add_attachment(data, maintype="application", subtype="json",
                       filename=f"notice-{body['notice']}.json")
    try:
        port = int(os.environ.get("VEIL_SMTP_PORT") or 25)
        with smtplib.SMTP(host, port, timeout=timeout) as s:
            if (os.environ.get("VEIL_SMTP_STARTTLS") or "").lower() in ("1", "true", "yes"):
                s.starttls()
            user = os.environ.get("VEIL_SMTP_USER")
            if user:
                s.login(user, os.environ.get("VEIL_SMTP_PASSWORD") or "")
            s.send_message(msg)
    except (OSError, smtplib.SMTPException, ValueError) as exc:
        raise DeliveryFailed(f"SMTP delivery failed: {type(exc).__name__}") from None


def _audit(ws: Workspace, d: Delivery, actor: str) -> None:
    from veil.audit.event import AuditEvent
    from veil.audit.log import AuditLog

    AuditLog(ws).append([AuditEvent(
        time=datetime.now(UTC), actor=actor, action="recipients.notice.deliver",
        purpose="data-subject-rights", legal_basis="Art. 19",
        outcome="success" if not (d.retrying or d.failed) else "partial",
        counts={"sent": len(d.sent), "retrying": len(d.retrying), "failed": len(d.failed)},
        details={"sent": ",".join(d.sent)[:200] or None})])
