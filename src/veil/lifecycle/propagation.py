"""Propagation: an erasure, a consent withdrawal, an objection or a restriction reaches the run
outputs and models that hold the subject.

From lineage (`veil.lineage.Lineage.subject_by_token`), every output that holds the subject, of
the purposes concerned, is marked; then the output's purpose decides (``on_erasure``):

- ``flag``: the mark only (a person decides; `veil lineage` shows it);
- ``purge``: the output is disposed of (file deleted, its own key destroyed:
  `veil.lifecycle.dispose_output`);
- ``rebuild``: the old output is disposed of and the purpose runs again over the run's recorded
  input to the same path (`veil.lifecycle.propagation_rebuild`); the run's stages leave the
  subject out. When the input is gone, the output is flagged instead, and the result says why.

Models trained on an affected output are marked for retraining (``veil lineage models`` shows
how many subjects). The marks are written before anything is deleted, so a propagation killed
part way finishes when run again (same ``source``). An output under a legal hold is kept and
flagged. One ``lifecycle.propagate`` audit event records it, the subject by pseudonym only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from veil._actor import default_actor
from veil.errors import ConflictError, InputError, VeilError
from veil.lineage import Lineage, OutputRecord
from veil.lineage.marks import mark, pending, resolve

if TYPE_CHECKING:  # pragma: no cover
    from veil.policy.model import Policy
    from veil.store.workspace import Workspace

__all__ = ["OutputAction", "Propagation", "propagate", "propagate_withdrawal"]

REASONS = {"erased": "Art. 17", "withdrawn": "Art. 7(3)", "objected": "Art. 21",
           "restricted": "Art. 18"}
DONE = {"flag": "flagged", "purge": "purged", "rebuild": "rebuilt"}


@dataclass(frozen=True)
class OutputAction:
    """What happened to one output: asked (the purpose's on_erasure) and done."""

    run_id: str
    output: str
    purpose: str
    asked: str  # rebuild | purge | flag
    done: str  # rebuilt | purged | flagged | already rebuilt | already purged
    new_run: str | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "output": self.output, "purpose": self.purpose,
                "on_erasure": self.asked, "done": self.done, "new_run": self.new_run,
                "note": self.note}


@dataclass(frozen=True)
class Propagation:
    """The outcome of one propagation (subject by pseudonym only)."""

    subject: str
    reason: str
    source: str
    outputs: list[OutputAction] = field(default_factory=list)
    models: list[dict[str, Any]] = field(default_factory=list)

    def of(self, done: str) -> list[OutputAction]:
        return [o for o in self.outputs if o.done == done]

    def to_dict(self) -> dict[str, Any]:
        return {"subject": self.subject, "reason": self.reason, "source": self.source,
                "rebuilt": [o.to_dict() for o in self.of("rebuilt")],
                "purged": [o.to_dict() for o in self.of("purged")],
                "flagged": [o.to_dict() for o in self.of("flagged")],
                "outputs": [o.to_dict() for o in self.outputs],
                "models_to_retrain": list(self.models)}


def _asked(policy: Policy | None, purpose: str) -> str:
    p = policy.purposes.get(purpose) if policy is not None else None
    return str(getattr(p, "on_erasure", "flag") or "flag") if p is not None else "flag"


def propagate(ws: Workspace, policy: Policy | None, token: str, reason: str, *, source: str,
              actor: str | None = None, purposes: list[str] | None = None) -> Propagation:
    """Mark, purge or rebuild every output holding pseudonym ``token`` (of ``purposes``; None
    or ``["*"]``: all), and flag the models trained on them. ``reason``: erased, withdrawn,
    objected or restricted; ``source``: what caused it (a request id, ``consent:<purpose>``);
    running it again with the same source finishes an interrupted propagation."""
    if reason not in REASONS:
        raise InputError(f"unknown propagation reason '{reason}' ({', '.join(REASONS)})")
    actor = default_actor(actor)
    lin = Lineage(ws)
    found = lin.subject_by_token(token)
    every = purposes is None or "*" in purposes
    hit = [o for o in found.outputs if every or o.purpose in (purposes or [])]
    now = datetime.now(UTC)
    with ws.engine.begin() as conn:  # the intent, before anything is deleted
        for o in hit:
            mark(conn, "output", o.run_id, [token], reason, source=source,
                 action=_asked(policy, o.purpose), at=now)
        todo = pending(conn, token, source)
    by_run = {o.run_id: o for o in hit}
    actions = [OutputAction(o.run_id, o.output, o.purpose, "flag", "flagged")
               for o in hit if _asked(policy, o.purpose) == "flag"]
    for run_id, asked, marked_at in todo:
        actions.append(_act(ws, policy, by_run.get(run_id), run_id, asked, marked_at,
                            token=token, reason=reason, source=source, actor=actor))
    runs = {a.run_id for a in actions}
    models = _flag_models(ws, lin, runs, token, reason, source)
    result = Propagation(token, reason, source, actions, models)
    _audit(ws, result, actor, hit)
    return result


def _act(ws: Workspace, policy: Policy | None, out: OutputRecord | None, run_id: str,
         asked: str, marked_at: datetime, *, token: str, reason: str, source: str,
         actor: str) -> OutputAction:
    """Purge or rebuild one output; falls back to a flag (saying why) when it cannot."""
    from veil.lifecycle.propagation_rebuild import rebuild_run, run_input

    src = run_input(ws, run_id)
    where = out.output if out else str(src.output)
    purpose = out.purpose if out else src.purpose
    why = f"{source}: subject {reason} ({REASONS[reason]}), on_erasure {asked}"
    if asked == "rebuild":
        again = _rebuilt_since(ws, src.output, purpose, marked_at, run_id)
        if again:
            _resolve(ws, run_id, f"rebuilt as run {again}")
            return OutputAction(run_id, where, purpose, asked, "already rebuilt", again)
        if src.input is None:
            note = f"rebuild impossible: {src.why_not}; flagged for a person to act"
            _set_flag(ws, run_id, token, reason, note)
            return OutputAction(run_id, where, purpose, asked, "flagged", None, note)
    try:
        _dispose(ws, run_id, why, actor)
    except (ConflictError, InputError) as exc:
        note = f"not disposed of ({exc.message[:200]}); flagged"
        _set_flag(ws, run_id, token, reason, note)
        return OutputAction(run_id, where, purpose, asked, "flagged", None, note)
    if asked == "purge":
        _resolve(ws, run_id, "purged")
        return OutputAction(run_id, where, purpose, asked, "purged")
    assert policy is not None or src.policy_path
    try:
        new = rebuild_run(ws, policy, src, actor=actor)  # type: ignore[arg-type]
    except VeilError as exc:
        note = f"disposed of; the rebuild failed ({exc.message[:200]}): run the purpose again"
        _resolve(ws, run_id, note)
        return OutputAction(run_id, where, purpose, asked, "purged", None, note)
    _resolve(ws, run_id, f"rebuilt as run {new}")
    return OutputAction(run_id, where, purpose, asked, "rebuilt", new)


def _dispose(ws: Workspace, run_id: str, why: str, actor: str) -> None:
    from veil.lifecycle.retention_dispose import dispose_output

    dispose_output(ws, run_id, reason=why, actor=actor)


def _rebuilt_since(ws: Workspace, output: Any, purpose: str, since: datetime,
                   old: str) -> str | None:
    """A run of the purpose that published to the same path after the mark (an interrupted
    propagation already rebuilt it)."""
    from veil.store.schema import runs

    r = runs.c
    with ws.engine.connect() as conn:
        row = conn.execute(sa.select(r.id).where(
            r.output_ref == str(output), r.purpose == purpose, r.status == "succeeded",
            r.started_at >= since, r.id != old).order_by(r.started_at.desc())).first()
    return row.id if row else None


def _resolve(ws: Workspace, run_id: str, note: str) -> None:
    with ws.engine.begin() as conn:
        resolve(conn, "output", run_id, note)


def _set_flag(ws: Workspace, run_id: str, token: str, reason: str, note: str) -> None:
    from veil.store.schema import lineage_marks as t

    with ws.engine.begin() as conn:
        conn.execute(t.update().where(t.c.kind == "output", t.c.target == run_id,
                                      t.c.subject == token, t.c.reason == reason)
                     .values(action="flag", note=note[:500]))


def _flag_models(ws: Workspace, lin: Lineage, runs: set[str], token: str, reason: str,
                 source: str) -> list[dict[str, Any]]:
    """Mark every model trained on an affected output; returns each with its count."""
    models = [m for m in lin.models() if runs & set(m.trained_on)]
    if not models:
        return []
    with ws.engine.begin() as conn:
        for m in models:
            mark(conn, "model", m.name, [token], reason, source=source, action="retrain")
    counts = {m.name: m.retrain_subjects for m in lin.models()}
    return [{"name": m.name, "trained_on": list(m.trained_on),
             "affected_subjects": counts.get(m.name, 0)} for m in models]


def _audit(ws: Workspace, p: Propagation, actor: str, hit: list[OutputRecord]) -> None:
    from veil.audit.event import AuditEvent
    from veil.audit.log import AuditLog

    AuditLog(ws).append([AuditEvent(
        time=datetime.now(UTC), actor=actor, action="lifecycle.propagate",
        purpose=",".join(sorted({o.purpose for o in p.outputs}))[:200] or "none",
        legal_basis=REASONS[p.reason], outcome="success",
        data_categories=sorted({c for o in hit for c in o.categories}),
        counts={"outputs": len(p.outputs), "rebuilt": len(p.of("rebuilt")),
                "purged": len(p.of("purged")), "flagged": len(p.of("flagged")),
                "models": len(p.models)},
        subjects=[p.subject[:32]], details={"reason": p.reason, "source": p.source[:160]})])


def propagate_withdrawal(ws: Workspace, policy: Policy | None, subject_id: str,
                         purposes: list[str], *, actor: str | None = None) -> Propagation:
    """After a consent withdrawal has committed: propagate it to the outputs of the withdrawn
    purposes (the CLI and the service call it; ``veil lifecycle propagate`` too)."""
    from veil.consent.models import SubjectRef

    if not purposes:
        raise InputError("a withdrawal names at least one purpose")
    token = SubjectRef(ws.root).token(subject_id)
    return propagate(ws, policy, token, "withdrawn", purposes=list(purposes),
                     source="consent:" + ",".join(sorted(purposes)), actor=actor)
