"""Notifications (Art. 33 to the authority, Art. 34 to the subjects or the public) and what
closing needs: who the decision says must be told, whether a notification is late (then it
needs the reasons, Art. 33(1)), and which phases complete it (Art. 33(4))."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from veil.errors import InputError
from veil.incidents.breach import Breach
from veil.incidents.clock import NOTIFY_WITHIN, format_duration, iso, parse_time

RECIPIENTS = ("authority", "subjects", "public")
PHASES = ("single", "initial", "follow_up", "final")
#: What is missing, by recipient, while the decision requires telling them.
_NOT_TOLD = {"authority": "the authority has not been notified",
             "subjects": "the subjects have not been told (Art. 34)",
             "public": "the public communication (Art. 34(3)(c)) is not recorded"}


def check_kind(recipient: str, phase: str) -> None:
    """A known recipient and phase."""
    if recipient not in RECIPIENTS:
        raise InputError(f"recipient '{recipient}' is not one of {', '.join(RECIPIENTS)}",
                         where="--to")
    if phase not in PHASES:
        raise InputError(f"phase '{phase}' is not one of {', '.join(PHASES)}", where="--phase")


@dataclass(frozen=True)
class Notice:
    """A notification as the DPO reports it: to whom, which phase, when, and about it."""

    recipient: str
    phase: str
    sent_at: datetime
    delay_reason: str | None = None
    reference: str | None = None
    channel: str | None = None

    def check(self, b: Breach, now: datetime) -> bool:
        """Refuse a time in the future or before awareness, a follow-up without a first
        notification, a late one without its reasons. Returns whether it is late."""
        sent = self.sent_at
        if sent > now:
            raise InputError(f"the sending time {iso(sent)} is in the future", where="--sent")
        if sent < b.aware_at:
            raise InputError(f"the sending time {iso(sent)} is before awareness "
                             f"({iso(b.aware_at)})", where="--sent")
        return self.recipient == "authority" and self._late(b)

    def _late(self, b: Breach) -> bool:
        """Is this the first notification to the authority, after the 72 hours?"""
        first = b.first_authority_notification()
        if self.phase in ("follow_up", "final") and first is None:
            raise InputError(f"{b.ref} has no initial notification to the authority yet: "
                             "record it first (--phase initial or single)", where="--phase")
        is_first = first is None or self.sent_at < parse_time(first["sent_at"], "sent_at")
        late = is_first and self.sent_at > b.aware_at + NOTIFY_WITHIN
        if late and not (self.delay_reason or "").strip():
            by = format_duration(self.sent_at - b.aware_at - NOTIFY_WITHIN)
            raise InputError(f"this notification is {by} past the 72-hour deadline: Art. 33(1) "
                             "requires the reasons for the delay (--delay-reason)",
                             where="--delay-reason")
        return late

    def row(self, late: bool, content_sha256: str | None) -> dict[str, Any]:
        """The columns of ``breach_notifications`` (empty texts as NULL)."""
        return {"recipient": self.recipient, "phase": self.phase, "sent_at": self.sent_at,
                "late": late, "delay_reason": _text(self.delay_reason),
                "reference": _text(self.reference), "channel": _text(self.channel),
                "content_sha256": content_sha256}


def _text(v: str | None) -> str | None:
    return (v or "").strip() or None


def content_digest(content: bytes | Path | None) -> str | None:
    """The SHA-256 of what was sent (bytes, or a file to read), or None."""
    data = content_bytes(content)
    return None if data is None else hashlib.sha256(data).hexdigest()


def content_bytes(content: bytes | Path | None) -> bytes | None:
    """What was sent: the bytes given, or the file's; None when nothing was given."""
    if content is None or isinstance(content, bytes):
        return content
    try:
        return Path(content).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the notification content: {exc.strerror}",
                         where=str(content)) from None


def refuse_incomplete(content: bytes | Path | None) -> None:
    """A notification is not recorded as sent while its text still reads ``MISSING: ...`` (a
    draft whose gaps were never filled, e.g. ``MISSING: supervisory authority``). Information
    that comes later is written as such ("to follow, Art. 33(4)") and sent in phases."""
    data = content_bytes(content)
    if data is None:
        return
    gaps = [re.split(r"\s*[|<\"]", line[line.index("MISSING:"):])[0].strip()
            for line in data.decode("utf-8", "replace").splitlines() if "MISSING:" in line]
    if gaps:
        shown = "; ".join(g[:60] for g in gaps[:3]) + ("; ..." if len(gaps) > 3 else "")
        raise InputError(f"the notification still reads {len(gaps)} MISSING item(s) "
                         f"({shown}): fill them in (or write 'to follow, Art. 33(4)' and "
                         "notify in phases) before recording it as sent",
                         where=str(content) if isinstance(content, Path) else "content")


def required_recipients(b: Breach) -> list[str]:
    """Who the breach's decision says must be notified: authority, subjects or public."""
    need: list[str] = []
    if b.decision in ("authority", "authority_and_subjects"):
        need.append("authority")
    comm = (b.assessment or {}).get("subjects_communication")
    if b.decision == "authority_and_subjects" and comm in ("individual", "public"):
        need.append("subjects" if comm == "individual" else "public")
    return need


def _incomplete(rcp: str, phases: list[str]) -> str | None:
    """What the notifications to ``rcp`` lack: any at all, or their complete phase."""
    if not phases:
        return _NOT_TOLD[rcp]
    if {"single", "final"} & set(phases):
        return None
    return (f"the notification to the {rcp} has only its "
            + " and ".join(dict.fromkeys(p.replace("_", "-") for p in phases))
            + " phase: record the final one (Art. 33(4): --phase final)")


def missing_for_close(b: Breach) -> str | None:
    """Why ``b`` cannot be closed yet (None: it can)."""
    if b.assessment is None:
        return "it has not been assessed (`veil breach assess`)"
    if b.assessment.get("stale"):
        return "its assessment predates later changes: assess again"
    problems = [_incomplete(rcp, [n["phase"] for n in b.notifications if n["recipient"] == rcp])
                for rcp in required_recipients(b)]
    return "; ".join(p for p in problems if p) or None
