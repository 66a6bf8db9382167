"""The audit events a run writes: one per stage and one for the run, in one transaction,
followed by a signed tree head that the receipt quotes. Events carry counts, digests and
categories, never values or raw subject identifiers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from veil.audit.event import AuditEvent
from veil.audit.log import AuditLog
from veil.pipeline.plan import Plan
from veil.pipeline.stage import StageStats
from veil.store.schema import runs
from veil.store.workspace import Workspace


def _categories(plan: Plan) -> list[str]:
    return sorted({plan.dataset.fields[f.name].category for f in plan.output})


def record_run(ws: Workspace, plan: Plan, receipt: dict[str, Any], stats: list[StageStats],
               actor: str, replaces: list[str] | None = None) -> dict[str, Any]:
    """Append the run's events, sign a head; returns the receipt's `audit` section.
    ``replaces``: the runs whose published output this one overwrites (a ``run.overwrite``
    event names them)."""
    now = datetime.now(UTC)
    purpose, basis = plan.purpose_id, plan.purpose.legal_basis
    cats = _categories(plan)
    run_id = receipt["run_id"]
    events = [
        AuditEvent(time=now, actor=actor, action=f"run.stage.{st.name}", purpose=purpose,
                   legal_basis=basis, outcome="success", data_categories=cats,
                   counts={"rows_in": st.rows_in, "rows_out": st.rows_out},
                   details={"run_id": run_id, "dataset": plan.dataset_id})
        for st in stats
    ]
    digests = {"input": f"sha256:{receipt['input']['sha256']}",
               "output": f"sha256:{receipt['output']['sha256']}",
               "policy": f"sha256:{receipt['policy']['sha256']}"}
    if not receipt["input"]["sha256"]:
        del digests["input"]
    counts = {"rows_in": receipt["rows"]["in"], "rows_out": receipt["rows"]["out"]}
    counts.update({f"dropped:{k}": v for k, v in receipt["rows"]["dropped"].items()})
    events.append(AuditEvent(
        time=now, actor=actor, action="run", purpose=purpose, legal_basis=basis,
        outcome="success", data_categories=cats, counts=counts, digests=digests,
        details={"run_id": run_id, "dataset": plan.dataset_id,
                 "fields_kept": len(receipt["fields"]["kept"]),
                 "fields_dropped": len(receipt["fields"]["dropped"])}))
    if replaces:
        events.append(AuditEvent(
            time=now, actor=actor, action="run.overwrite", purpose=purpose, legal_basis=basis,
            outcome="success", data_categories=cats, counts={"outputs_replaced": len(replaces)},
            digests={"output": f"sha256:{receipt['output']['sha256']}"},
            details={"run_id": run_id, "dataset": plan.dataset_id,
                     "replaces": ",".join(r[:32] for r in replaces[:20])}))
    if _first_use_of_policy(ws, receipt["policy"]["sha256"], run_id):
        events.insert(0, AuditEvent(
            time=now, actor=actor, action="policy.version", purpose=purpose, legal_basis=basis,
            outcome="success", digests={"policy": f"sha256:{receipt['policy']['sha256']}"},
            details={"path": str(receipt["policy"]["path"]), "name": receipt["policy"]["name"],
                     "run_id": run_id}))
    log = AuditLog(ws)
    idxs = log.append(events)
    head = log.sign_head()
    log.deliver()  # forwards to configured sinks; a sink being down never fails the run
    return {"origin": head.origin, "first_index": idxs[0], "last_index": idxs[-1],
            "tree_size": head.size, "root": head.root.hex(), "key_id": head.key_id,
            "checkpoint": head.to_note()}


def _first_use_of_policy(ws: Workspace, digest: str, run_id: str) -> bool:
    """A policy change is recorded the first time a run uses a policy version."""
    with ws.engine.connect() as conn:
        seen = conn.execute(sa.select(runs.c.id).where(
            runs.c.policy_digest == digest, runs.c.id != run_id).limit(1)).first()
    return seen is None


def record_failure(ws: Workspace, plan: Plan, run_id: str, actor: str,
                   exc: BaseException) -> None:
    """Best effort: a failed run is recorded too (error kind only, no message values)."""
    kind = getattr(exc, "kind", None) or type(exc).__name__
    AuditLog(ws).append([AuditEvent(
        time=datetime.now(UTC), actor=actor, action="run", purpose=plan.purpose_id,
        legal_basis=plan.purpose.legal_basis, outcome="failure",
        data_categories=_categories(plan),
        details={"run_id": run_id, "dataset": plan.dataset_id, "error": str(kind)})])
