"""The lifecycle steps of a data-subject request's run: propagation to the outputs and models
holding the subject, and Art. 19 notices to the recipients of the affected purposes' data.

`veil.rights` runs a request's own steps and takes extra ones from a `StepHooks`
(`veil.rights.StepHooks`): this module is that hook, so rights never imports the pipeline that
a rebuild runs. The CLI (``veil dsr run``) and the service use `requests`:

    from veil.lifecycle import requests
    requests(workspace, policy).run(request_id)

=============  =========================================================================
erasure        propagate (erased: every purpose), notify (recipients), then certificate
restriction    propagate (restricted: the purposes concerned), notify
objection      propagate (objected: the purposes concerned)
rectification  notify (recipients of the purposes using the corrected fields)
=============  =========================================================================
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from veil.lifecycle.notices import enqueue
from veil.lifecycle.propagation import propagate

if TYPE_CHECKING:  # pragma: no cover
    from veil.policy.model import Policy
    from veil.rights import Requests, StepContext
    from veil.store.workspace import Workspace

__all__ = ["LifecycleSteps", "requests"]

_REASON = {"erasure": "erased", "restriction": "restricted", "objection": "objected"}
_NOTIFY = ("rectification", "erasure", "restriction")


class LifecycleSteps:
    """`veil.rights.StepHooks`: the ``propagate`` and ``notify`` steps."""

    def steps(self, kind: str) -> list[tuple[str, Callable[[StepContext], dict[str, Any]]]]:
        out: list[tuple[str, Callable[[StepContext], dict[str, Any]]]] = []
        if kind in _REASON:
            out.append(("propagate", propagate_step))
        if kind in _NOTIFY:
            out.append(("notify", notify_step))
        return out


def requests(workspace: Workspace, policy: Policy | str | Path | None = None) -> Requests:
    """`veil.rights.Requests` whose runs propagate and notify."""
    from veil.rights import Requests

    return Requests(workspace, policy, hooks=LifecycleSteps())


def propagate_step(ctx: StepContext) -> dict[str, Any]:
    kind = ctx.request.kind
    purposes: list[str] | None = None
    if kind != "erasure":
        purposes = list((ctx.state.get("exclude") or {}).get("purposes") or [])
        if not purposes:
            return {"rebuilt": [], "purged": [], "flagged": [], "outputs": [],
                    "models_to_retrain": [], "note": "no purpose concerned"}
    p = propagate(ctx.workspace, ctx.policy, ctx.token, _REASON[kind], source=ctx.request.id,
                  actor=ctx.actor, purposes=purposes)
    for done in ("rebuilt", "purged", "flagged"):
        ctx.counts[f"outputs_{done}"] = len(p.of(done))
    ctx.counts["models_to_retrain"] = len(p.models)
    return p.to_dict()


def affected_purposes(ctx: StepContext) -> list[str]:
    """The purposes whose data held the subject: those of the outputs holding them (lineage)
    and those using a registered store where the subject's rows were found (a rectification:
    only those using a corrected field); a restriction keeps only its purposes."""
    pol = ctx.policy
    kind = ctx.request.kind
    stores = {n.split(":", 1)[1] for n, d in ctx.state.items()
              if n.startswith("store:") and d and int(d.get("rows") or 0) > 0}
    found = (ctx.state.get("locate") or {}).get("stores") or {}
    stores |= {ds for ds, n in found.items() if n}
    fields = set((ctx.details.get("corrections") or {}) if kind == "rectification" else ())
    out: set[str] = set()
    for pid, p in pol.purposes.items():
        for ds, use in p.datasets.items():
            if ds in stores and (kind != "rectification" or fields & set(use.fields)):
                out.add(pid)
    if kind != "rectification":
        lin = (ctx.state.get("lineage") or {}).get("outputs")
        out |= {o["purpose"] for o in lin} if lin is not None else {
            o.purpose for o in ctx.lineage().outputs}
    if kind == "restriction":
        ex = (ctx.state.get("exclude") or {}).get("purposes") or []
        if "*" not in ex:
            out &= set(ex)
    return sorted(out)


def notify_step(ctx: StepContext) -> dict[str, Any]:
    purposes = affected_purposes(ctx)
    details: dict[str, Any] = {}
    if ctx.request.kind == "rectification":
        details["fields"] = sorted(ctx.details.get("corrections") or {})
    notices = enqueue(ctx.workspace, ctx.policy, request_id=ctx.request.id,
                      kind=ctx.request.kind, subject_id=ctx.subject_id, token=ctx.token,
                      purposes=purposes, details=details)
    ctx.counts["recipients_notified"] = len(notices)
    return {"purposes": purposes,
            "notices": [{"id": n.id, "recipient": n.recipient, "channel": n.channel,
                         "status": n.status} for n in notices]}
