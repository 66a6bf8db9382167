"""The run's context: what the stages of one run share."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from veil.pipeline.plan import Plan


@dataclass
class RunContext:
    run_id: str
    plan: Plan
    dropped_rows: Counter[str] = field(default_factory=Counter)  # reason -> rows
    extras: dict[str, Any] = field(default_factory=dict)  # for later stages (keys, ledger)
