"""The receipt: what a run read, kept, dropped and wrote, and the digests that prove it."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from veil._version import __version__ as VEIL_VERSION
from veil.io.readers import Reject
from veil.io.writers import atomic_write_bytes
from veil.pipeline.plan import Plan
from veil.pipeline.stage import Stage, StageStats
from veil.policy.model import Policy


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


def build_receipt(*, run_id: str, started: datetime, finished: datetime, actor: str,
                  pol: Policy, plan: Plan, source: Any, out_path: Path, output: Any,
                  rows_in: int, dropped: Counter[str], stages: list[Stage],
                  stats: list[StageStats], rejected: list[Reject], rejects_path: Path,
                  t_read: float, t_write: float, total: float) -> Receipt:
    """The receipt of a run that is about to publish, from what its runner knows: ``source``
    has the input's ``name``, ``format``, ``digest`` and ``size``; ``output`` (a Parquet sink
    or a parts folder) its ``digest``, ``rows``, ``bytes`` and ``encryption_info``."""
    purpose = plan.purpose
    transformed: dict[str, Any] = {}
    for s in stages:
        transformed.update(s.describe().get("transformed", {}))
    warnings = []
    if plan.missing_optional:
        warnings.append("declared fields absent from the data (not needed for this purpose): "
                        + ", ".join(plan.missing_optional))
    return Receipt(
        run_id=run_id, started_at=started, finished_at=finished, veil_version=VEIL_VERSION,
        actor=actor,
        policy={"path": pol.source, "sha256": pol.digest, "name": pol.name},
        purpose={"id": plan.purpose_id, "description": purpose.description,
                 "legal_basis": purpose.legal_basis, "legal_basis_text": purpose.legal_basis_text,
                 "consent_required": purpose.needs_consent, "retention": purpose.retention},
        dataset=plan.dataset_id,
        input={"ref": source.name, "format": source.format, "sha256": source.digest,
               "bytes": source.size, "snapshot": getattr(source, "snapshot", None)},
        output={"path": str(out_path), "format": "parquet", "sha256": output.digest,
                "bytes": output.bytes, "columns": [f.name for f in plan.output],
                "encryption": output.encryption_info},
        rows=rows_section(rows_in, output.rows, dropped),
        fields={"kept": [f.name for f in plan.output if f.treatment.transform == "keep"],
                "transformed": transformed,
                "dropped": [{"field": k, "reason": v} for k, v in plan.dropped.items()]},
        stages=[s.to_dict() for s in stats],
        timings={"read": round(t_read, 4), "write": round(t_write, 4), "total": round(total, 4),
                 "rows_per_second": round(rows_in / total) if total > 0 else None},
        rejects=({"count": len(rejected), "path": str(rejects_path),
                  "first": [{"record": r.record, "line": r.line, "column": r.column,
                             "reason": r.reason} for r in rejected[:10]]}
                 if rejected else None),
        warnings=warnings,
    )
