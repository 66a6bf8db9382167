"""The receipt: what a run read, kept, dropped and wrote, and the digests that prove it."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from veil.io.writers import atomic_write_bytes


@dataclass
class Receipt:
    run_id: str
    started_at: datetime
    finished_at: datetime
    veil_version: str
    actor: str
    policy: dict[str, Any]
    purpose: dict[str, Any]
    dataset: str
    input: dict[str, Any]
    output: dict[str, Any]
    rows: dict[str, Any]
    fields: dict[str, Any]
    stages: list[dict[str, Any]]
    timings: dict[str, float | int | None]
    rejects: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = {
            "receipt_version": 1,
            "run_id": self.run_id,
            "veil_version": self.veil_version,
            "started_at": self.started_at.isoformat().replace("+00:00", "Z"),
            "finished_at": self.finished_at.isoformat().replace("+00:00", "Z"),
            "actor": self.actor,
            "policy": self.policy,
            "purpose": self.purpose,
            "dataset": self.dataset,
            "input": self.input,
            "output": self.output,
            "rows": self.rows,
            "fields": self.fields,
            "stages": self.stages,
            "timings_seconds": self.timings,
            "rejects": self.rejects,
            "warnings": self.warnings,
        }
        d.update(self.extras)
        return d

    def to_json(self) -> bytes:
        return (json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n").encode()

    def write(self, path: str | Path) -> None:
        atomic_write_bytes(path, self.to_json())


def rows_section(rows_in: int, rows_out: int, dropped: Counter[str]) -> dict[str, Any]:
    return {"in": rows_in, "out": rows_out, "dropped": dict(sorted(dropped.items()))}
