"""The figures of the last succeeded run of a purpose, from its receipt in the runs table:
rows in and out, why rows were dropped, subjects, and the risk gate's measurements (figures
only; receipts hold no values from the table)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from veil.store.schema import runs
from veil.store.workspace import Workspace


def last_run_figures(workspace: Workspace, purpose_id: str) -> dict[str, Any] | None:
    """None when the purpose has no succeeded run in the workspace."""
    with workspace.engine.connect() as conn:
        row = conn.execute(
            sa.select(runs.c.id, runs.c.finished_at, runs.c.receipt)
            .where(runs.c.purpose == purpose_id, runs.c.status == "succeeded")
            .order_by(runs.c.finished_at.desc(), runs.c.id.desc()).limit(1)).first()
    if row is None:
        return None
    receipt: dict[str, Any] = row.receipt or {}
    rows = receipt.get("rows") or {}
    fields = receipt.get("fields") or {}
    return {
        "run_id": row.id,
        "finished_at": row.finished_at.isoformat() if row.finished_at else None,
        "rows_in": int(rows.get("in") or 0), "rows_out": int(rows.get("out") or 0),
        "dropped": dict(rows.get("dropped") or {}),
        "subjects": (receipt.get("lineage") or {}).get("subjects"),
        "fields_kept": len(fields.get("kept") or []),
        "encrypted": bool((receipt.get("output") or {}).get("encryption")),
        "audit": receipt.get("audit"),
        "gate": _gate(receipt.get("risk")),
    }


def _gate(risk: dict[str, Any] | None) -> dict[str, Any] | None:
    if not risk:
        return None
    keep = ("k", "records", "classes", "sample_uniqueness", "prosecutor_risk_highest",
            "prosecutor_risk_average", "risk_threshold", "records_at_risk")
    return {"outcome": risk.get("outcome"), "quasi_identifiers": risk.get("quasi_identifiers"),
            "models": risk.get("models"),
            "before": {k: (risk.get("before") or {}).get(k) for k in keep},
            "after": ({k: risk["after"].get(k) for k in keep} if risk.get("after") else None)}
