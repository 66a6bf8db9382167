"""An update to a breach: the columns that change, and the sentence its step records.

Checks run in the order the facts are given (title, zone, times, nature, circumstances, texts,
exposed items, estimates), so the first mistake is the one reported; the scope is recomputed
only when the evidence can have changed, and an earlier assessment is then marked stale."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from veil.errors import InputError
from veil.incidents import inputs
from veil.incidents.breach import Breach
from veil.incidents.clock import NOTIFY_WITHIN, iso, parse_time
from veil.incidents.exposure import (
    Exposed,
    distinct,
    find_items,
    mark_key_exposed,
    new_items,
    policy_for,
    scope_of,
)
from veil.incidents.scope import Evidence, Item

#: A change to any of these makes an earlier assessment stale.
_ASSESSED = {"scope", "nature", "circumstances"}


@dataclass
class Edit:
    """The changes an update makes to breach ``b``, and what its step says about them."""

    b: Breach
    now: datetime
    changes: dict[str, Any] = field(default_factory=dict)
    said: list[str] = field(default_factory=list)

    def texts(self, title: str | None, description: str | None) -> None:
        if title is not None:
            self.changes["title"] = inputs.title_of(title)
        if description is not None:
            self.changes["description"] = description.strip()

    def zone(self, tz: str | None) -> str | None:
        """Store a new zone; returns the zone to read times without an offset in."""
        if inputs.checked_zone(tz) is not None and tz != self.b.display_tz:
            self.changes["timezone"] = tz
        return tz or self.b.timezone

    def times(self, occurred_at: datetime | str | None, aware_at: datetime | str | None,
              occurred_until: datetime | str | None, tz: str | None) -> None:
        """New times, checked together with those that stay; awareness cannot move once the
        authority was notified (the deadline was reckoned from it)."""
        b = self.b
        occ = b.occurred_at if occurred_at is None else parse_time(occurred_at, "--occurred", tz)
        aware = b.aware_at if aware_at is None else parse_time(aware_at, "--aware", tz)
        until = (b.occurred_until if occurred_until is None
                 else parse_time(occurred_until, "--until", tz))
        inputs.Times(occ, aware, until).check(self.now)
        for name, new, old in (("occurred_at", occ, b.occurred_at),
                               ("occurred_until", until, b.occurred_until)):
            if new != old:
                self.changes[name] = new
        if aware != b.aware_at:
            if b.first_authority_notification() is not None:
                raise InputError("the authority was already notified: awareness can no longer "
                                 "move (record a follow-up instead)", where="--aware")
            self.changes["aware_at"] = aware
            self.said.append(f"awareness now {iso(aware)} (deadline {iso(aware + NOTIFY_WITHIN)})")

    def facts(self, nature: Iterable[str] | str | None, recipients: str | None,
              malicious: bool | None, recoverable: bool | None) -> None:
        """The nature and the circumstances (each one given replaces the stored one)."""
        if nature is not None:
            self.changes["nature"] = inputs.natures(nature)
        if recipients is None and malicious is None and recoverable is None:
            return
        c = self.b.circumstances
        self.changes["circumstances"] = inputs.circumstances(
            recipients if recipients is not None else c.get("recipients", "unknown"),
            malicious if malicious is not None else c.get("malicious", False),
            recoverable if recoverable is not None else c.get("recoverable", True))

    def lists(self, consequences: Sequence[str], measures: Sequence[str]) -> None:
        """Consequences and measures are added to, never replaced."""
        if consequences:
            self.changes["consequences"] = (self.b.consequences
                                            + inputs.texts(consequences, "--consequence"))
        if measures:
            self.changes["measures"] = self.b.measures + inputs.texts(measures, "--measure")

    def items(self, ev: Evidence, exposed: Exposed, policy: Any | None,
              key_exposed: Sequence[str]) -> tuple[list[Item], list[Item]]:
        """Every item once the new ones are added and the exposed keys marked, and the new."""
        added = new_items(self.b.items, distinct(find_items(ev, exposed, policy)))
        items = self.b.items + added
        if key_exposed:
            mark_key_exposed(items, key_exposed)
        return items, added

    def scope(self, ev: Evidence, items: Sequence[Item], policy: Any | None, *,
              subjects: int | None, records: int | None, categories: Sequence[str],
              evidence_changed: bool, added: int) -> list[str] | None:
        """Recompute the scope when the evidence or the estimates changed; returns the new
        subject pseudonyms (None: unchanged)."""
        old = (self.b.scope or {}).get("estimates") or {}
        policy = policy_for(policy, items)
        estimates = inputs.estimates(
            subjects if subjects is not None else old.get("subjects"),
            records if records is not None else old.get("records"),
            list(old.get("categories") or []) + list(categories), policy)
        if not (evidence_changed or categories or subjects is not None or records is not None):
            return None
        scope, pseudonyms = scope_of(ev, items, estimates, policy)
        self.changes["scope"] = scope
        self.said.append(f"scope: {added} new item(s), {scope['subjects']['count']} "
                         f"subject(s), {scope['records']['count']} record(s)")
        return pseudonyms

    def summary(self) -> str:
        """Mark an earlier assessment stale if need be; the step's sentence. InputError when
        nothing changes."""
        if self.b.assessment and (_ASSESSED & set(self.changes)):
            self.changes["assessment"] = {**self.b.assessment, "stale": True}
        if not self.changes:
            raise InputError("nothing to update: give at least one change", where="update")
        changed = "changed " + ", ".join(sorted(k for k in self.changes if k != "assessment"))
        return "; ".join([changed, *self.said])
