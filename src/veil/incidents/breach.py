"""One breach as recorded (:class:`Breach`): facts, scope, assessment, notifications and steps,
with its 72-hour clock and its JSON form; and what a breach keeps of the policy's controller."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from veil.incidents.clock import Clock, clock, iso, local, parse_time
from veil.incidents.scope import Item


def breach_ref(n: int) -> str:
    return f"BR-{n:04d}"


@dataclass
class Breach:
    """One breach as recorded: facts, scope, assessment, notifications and steps."""

    id: int
    title: str
    status: str
    nature: list[str]
    description: str
    occurred_at: datetime
    occurred_until: datetime | None
    aware_at: datetime
    circumstances: dict[str, Any]
    consequences: list[str]
    measures: list[str]
    controller: dict[str, Any] | None
    scope: dict[str, Any] | None
    assessment: dict[str, Any] | None
    decision: str | None
    created_at: datetime
    created_by: str
    updated_at: datetime
    closed_at: datetime | None
    close_reason: str | None
    version: int
    display_tz: str | None = None  # stored at open/update (--tz), else the policy's zone
    items: list[Item] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ref(self) -> str:
        return breach_ref(self.id)

    @property
    def timezone(self) -> str | None:
        """The zone this breach's times are shown in: the one given at open or update, else
        the policy's ``controller.timezone``, else None (UTC)."""
        return self.display_tz or (self.controller or {}).get("timezone")

    def first_authority_notification(self) -> dict[str, Any] | None:
        sent = [n for n in self.notifications if n["recipient"] == "authority"]
        return min(sent, key=lambda n: n["sent_at"]) if sent else None

    def clock(self, now: datetime | None = None) -> Clock:
        first = self.first_authority_notification()
        return clock(self.aware_at, now or datetime.now(UTC),
                     notified_at=parse_time(first["sent_at"], "sent_at") if first else None,
                     required=self.decision != "none")

    def to_json(self, tz: str | None = None, now: datetime | None = None) -> dict[str, Any]:
        tz = tz or self.timezone
        return {
            "id": self.ref, "title": self.title, "status": self.status, "nature": self.nature,
            "description": self.description, "timezone": tz or "UTC",
            "occurred_at": iso(self.occurred_at),
            "occurred_at_local": local(self.occurred_at, tz),
            "occurred_until": iso(self.occurred_until) if self.occurred_until else None,
            "occurred_until_local": (local(self.occurred_until, tz) if self.occurred_until
                                     else None),
            "aware_at": iso(self.aware_at), "aware_at_local": local(self.aware_at, tz),
            "clock": self.clock(now).to_json(tz),
            "circumstances": self.circumstances, "consequences": self.consequences,
            "measures": self.measures, "controller": self.controller, "scope": self.scope,
            "assessment": self.assessment, "decision": self.decision,
            "notifications": self.notifications, "steps": self.steps,
            "created_at": iso(self.created_at), "created_by": self.created_by,
            "updated_at": iso(self.updated_at),
            "closed_at": iso(self.closed_at) if self.closed_at else None,
            "close_reason": self.close_reason,
        }


def controller_snapshot(policy: Any | None) -> dict[str, Any] | None:
    """What the drafts need from the policy's controller: names, contacts, authority, zone."""
    if policy is None:
        return None
    c = policy.controller
    return {
        "name": c.name, "contact": c.contact, "address": c.address,
        "dpo": c.dpo.model_dump() if c.dpo else None,
        "supervisory_authority": (c.supervisory_authority.model_dump()
                                  if getattr(c, "supervisory_authority", None) else None),
        "timezone": getattr(c, "timezone", None),
        "security_measures": list(policy.security_measures),
    }
