"""What `veil doctor` reports: findings, each with the repair it would make."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DoctorReport", "Finding"]


@dataclass
class Finding:
    """One thing a crash or an outage left behind.

    ``severity``: "problem" (counts against health; ``fix`` repairs it) or "info" (reported,
    nothing to repair). ``repaired`` says what the repair did (None: not attempted)."""

    kind: str
    target: str
    message: str
    action: str  # what --repair does
    severity: str = "problem"
    fix: Callable[[], str] | None = field(default=None, repr=False, compare=False)
    repaired: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "target": self.target, "message": self.message,
                "action": self.action, "severity": self.severity, "repaired": self.repaired,
                "error": self.error}


@dataclass
class DoctorReport:
    """Findings before repair, what was repaired, and what remains."""

    found: list[Finding]
    remaining: list[Finding]
    repair: bool

    @property
    def healthy(self) -> bool:
        """Nothing that counts as a problem remains."""
        return not any(f.severity == "problem" for f in self.remaining)

    def repaired(self) -> list[Finding]:
        return [f for f in self.found if f.repaired is not None]

    def to_dict(self) -> dict[str, Any]:
        return {"healthy": self.healthy, "repair": self.repair,
                "found": [f.to_dict() for f in self.found],
                "remaining": [f.to_dict() for f in self.remaining]}
