"""The register of recipients and processors (Art. 19, 28, 30(1)(d)) as the policy declares it,
and which of them received a set of purposes' data.

The policy's loader refuses a purpose naming an unknown recipient (file:line), so lookups here
can trust the ids.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from veil.policy.model import Policy

__all__ = ["channel_of", "recipients_of_purposes", "recipients_register"]


def channel_of(recipient: Any) -> tuple[str, str | None]:
    """(channel, address): ``webhook`` (preferred when both are given), ``email``, or
    ``manual`` (no ``notify:``: the notice is tracked by hand)."""
    n = getattr(recipient, "notify", None)
    if n is not None and n.webhook:
        return "webhook", n.webhook
    if n is not None and n.email:
        return "email", n.email
    return "manual", None


def recipients_register(policy: Policy) -> list[dict[str, Any]]:
    """Every recipient with its role, Art. 28 contract, country, channel and the purposes
    whose data it receives."""
    uses: dict[str, list[str]] = {}
    for pid in policy.purposes:
        for rid, _ in policy.recipients_of(pid):
            uses.setdefault(rid, []).append(pid)
    out = []
    for rid, r in policy.recipients.items():
        channel, address = channel_of(r)
        out.append({"id": rid, "name": r.name, "role": r.role, "contract": r.contract,
                    "country": r.country, "contact": r.contact.line() if r.contact else None,
                    "channel": channel, "address": address,
                    "signed": bool(r.notify and r.notify.secret_env),
                    "purposes": uses.get(rid, [])})
    return out


def recipients_of_purposes(policy: Policy, purposes: list[str]) -> dict[str, list[str]]:
    """recipient id -> the purposes (of ``purposes``) whose data it receives."""
    out: dict[str, list[str]] = {}
    for pid in purposes:
        if pid not in policy.purposes:
            continue
        for rid, _ in policy.recipients_of(pid):
            out.setdefault(rid, []).append(pid)
    return out
