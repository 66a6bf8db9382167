"""The steps each kind of request runs. Every step is idempotent and returns a JSON detail
(counts, dataset names, pseudonyms: never a subject's values), recorded in ``dsr_steps``.

=============  ==========================================================================
access         locate, package (JSON + HTML, encrypted)
portability    locate, package (the data provided under consent or contract, JSON + HTML)
erasure        locate, store:<dataset> (delete, mask, or restrict under a legal hold),
               consent (withdraw), exclude (erased: all purposes), shred (subject key),
               lineage (outputs and models to rebuild), certificate
restriction    locate, exclude (restricted: the purposes concerned)
objection      locate, exclude (objected: legitimate-interest / public-task purposes)
rectification  locate, store:<dataset> (correct), lineage (outputs to rebuild)
=============  ==========================================================================
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from veil.rights.requests import KINDS, StepContext, add_months, iso
from veil.store.schema import dsr_requests, subject_keys

Step = Callable[[StepContext], dict[str, Any]]


def plan_steps(ctx: StepContext) -> list[tuple[str, Step]]:
    kind = ctx.request.kind
    steps: list[tuple[str, Step]] = [("locate", locate)]
    known = (ctx.state.get("locate") or {}).get("known", True)
    if kind in ("access", "portability"):
        if known:
            steps.append(("package", package))
        ctx.result_fn = access_result
    elif kind == "erasure":
        if known:
            for ds in _store_datasets(ctx):
                steps.append((f"store:{ds}", _erase_store(ds)))
            steps += [("consent", withdraw_consent), ("exclude", exclude), ("shred", shred),
                      ("lineage", lineage), ("certificate", certificate)]
        ctx.result_fn = erasure_result
    elif kind in ("restriction", "objection"):
        if known:
            steps.append(("exclude", exclude))
        ctx.result_fn = exclusion_result
    elif kind == "rectification":
        if known:
            for ds in ctx.details.get("datasets") or []:
                steps.append((f"store:{ds}", _rectify_store(ds)))
            steps.append(("lineage", lineage))
        ctx.result_fn = rectification_result
    return steps


def _store_datasets(ctx: StepContext) -> list[str]:
    return [d for d, ds in ctx.policy.datasets.items() if ds.store is not None]


def _stores(ctx: StepContext) -> dict[str, Any]:
    from veil.rights.stores import Store

    return {d: Store(ctx.policy, d, ctx.workspace) for d in _store_datasets(ctx)}


# -- locate ------------------------------------------------------------------------------------

def locate(ctx: StepContext) -> dict[str, Any]:
    """Where the subject appears: stores, consent ledger, lineage, subject keys, earlier
    requests. Nothing anywhere: an unknown subject (a clear answer, no changes)."""
    from veil.consent.ledger import Ledger
    from veil.lineage import Lineage

    stores = {d: s.count(ctx.subject_id) for d, s in _stores(ctx).items()}
    consent = len(_history(ctx)) if Ledger(ctx.workspace).knows(ctx.subject_id) else 0
    lin = Lineage(ctx.workspace).subject_by_token(ctx.token)
    t = dsr_requests.c
    k = subject_keys.c
    with ctx.workspace.engine.connect() as conn:
        key = conn.execute(sa.select(k.erased_at).where(k.subject == ctx.token)).first()
        key_state = "none" if key is None else ("erased" if key.erased_at else "live")
        prev = conn.execute(sa.select(t.id, t.updated_at).where(
            t.subject == ctx.token, t.kind == "erasure", t.id != ctx.request.id,
            t.status.in_(["completed", "closed"]), t.sealed.is_(None))
            .order_by(t.updated_at)).first()
    known = bool(sum(stores.values()) or consent or lin.outputs or key_state != "none"
                 or prev is not None)
    ctx.counts["rows_found"] = sum(stores.values())
    return {"known": known, "stores": stores, "consent_events": consent,
            "outputs": len(lin.outputs), "models": len(lin.models), "subject_key": key_state,
            "previously_erased": ({"request": prev.id, "at": iso(prev.updated_at)}
                                  if prev is not None else None)}


def _history(ctx: StepContext) -> list[Any]:
    from veil.consent.ledger import Ledger

    led = Ledger(ctx.workspace)
    return led.history(ctx.subject_id) if led.knows(ctx.subject_id) else []


def _unknown(ctx: StepContext) -> dict[str, Any] | None:
    loc = ctx.state.get("locate") or {}
    if loc.get("known", True):
        return None
    return {"outcome": "no data held",
            "answer": "Veil holds no data about this subject: no rows in the registered "
                      "stores, no consent records, no run outputs, no subject key.",
            "subject": ctx.token}


# -- access / portability ----------------------------------------------------------------------

def package(ctx: StepContext) -> dict[str, Any]:
    from veil.rights.package import build_package, write_package

    pkg = build_package(ctx)
    files = write_package(ctx, pkg)
    ctx.counts["rows"] = sum(len(d["rows"]) for d in pkg["data"].values())
    ctx.categories.update(c for d in pkg["data"].values() for c in d["data_categories"])
    return {"files": files, "rows": ctx.counts["rows"], "datasets": sorted(pkg["data"])}


def access_result(ctx: StepContext) -> dict[str, Any]:
    unknown = _unknown(ctx)
    if unknown:
        return unknown
    p = ctx.state["package"]
    return {"outcome": "package ready", "subject": ctx.token, "rows": p["rows"],
            "datasets": p["datasets"], "files": p["files"],
            "answer": f"{KINDS[ctx.request.kind]}: the package is encrypted with the "
                      "workspace's dsr-packages keyset; `veil dsr export` decrypts it for "
                      "delivery through a secure channel."}


# -- erasure -----------------------------------------------------------------------------------

def _holds(ctx: StepContext, dataset: str) -> list[dict[str, Any]]:
    recv = ctx.request.received_at
    return [{"hold": name, "legal_basis": h.legal_basis, "period": h.period,
             "until": iso(recv + h.period_length)}
            for name, h in ctx.policy.holds_for(dataset)]


def _erase_store(dataset: str) -> Step:
    def step(ctx: StepContext) -> dict[str, Any]:
        from veil.rights.stores import Store

        s = Store(ctx.policy, dataset, ctx.workspace)
        ctx.categories.update(f.category for f in s.dataset.fields.values())
        holds = _holds(ctx, dataset)
        if holds:
            n = s.count(ctx.subject_id)
            ctx.counts["rows_held"] = ctx.counts.get("rows_held", 0) + n
            return {"action": "restricted (legal hold)", "rows": n, "holds": holds,
                    "table": s.describe()}
        if s.spec.erasure == "mask":
            n = s.mask(ctx.subject_id)
            ctx.counts["rows_masked"] = ctx.counts.get("rows_masked", 0) + n
            return {"action": "masked", "rows": n, "fields": list(s.spec.mask),
                    "table": s.describe()}
        n = s.delete(ctx.subject_id)
        ctx.counts["rows_deleted"] = ctx.counts.get("rows_deleted", 0) + n
        return {"action": "deleted", "rows": n, "table": s.describe()}

    return step


def withdraw_consent(ctx: StepContext) -> dict[str, Any]:
    """Record a withdrawal (Art. 7(3)) for every purpose whose consent is in force."""
    from veil.consent.ledger import Ledger
    from veil.consent.models import ConsentEvent

    led = Ledger(ctx.workspace)
    if not led.knows(ctx.subject_id):
        return {"withdrawn": []}
    last: dict[str, str] = {}
    for e in led.history(ctx.subject_id):
        last[e.purpose] = e.kind
    live = sorted(p for p, k in last.items() if k in ("granted", "renewed"))
    if live:
        led.append([ConsentEvent(ctx.subject_id, p, "withdrawn", "api", ctx.actor[:128],
                                 action=f"data-subject request {ctx.request.id} "
                                 f"({ctx.request.kind})") for p in live])
    ctx.counts["consents_withdrawn"] = len(live)
    return {"withdrawn": live}


def exclude(ctx: StepContext) -> dict[str, Any]:
    from veil.rights.exclusions import ALL, add_exclusions

    kind = ctx.request.kind
    held = any(d.get("holds") for n, d in ctx.state.items() if n.startswith("store:") and d)
    with ctx.workspace.engine.begin() as conn:
        if kind == "erasure":
            add_exclusions(conn, ctx.token, "erased", [ALL], ctx.request.id)
            if held:
                add_exclusions(conn, ctx.token, "restricted", [ALL], ctx.request.id,
                               note="legal hold: kept data is restricted (Art. 17(3)(b))")
            return {"reason": "erased", "purposes": [ALL], "restricted_for_hold": held}
        purposes = ctx.request.purposes
        if purposes is None:
            purposes = [ALL] if kind == "restriction" else []
        reason = "restricted" if kind == "restriction" else "objected"
        added = add_exclusions(conn, ctx.token, reason, purposes, ctx.request.id)
    ctx.counts["purposes_excluded"] = len(purposes)
    return {"reason": reason, "purposes": purposes, "newly_excluded": added}


def shred(ctx: StepContext) -> dict[str, Any]:
    from veil.crypto.manager import KeyManager

    destroyed = KeyManager(ctx.workspace, actor=ctx.actor).shred_subjects([ctx.token])
    ctx.counts["keys_destroyed"] = len(destroyed)
    return {"subject_key": "destroyed" if destroyed else "none live (already erased or never "
            "made)"}


def lineage(ctx: StepContext) -> dict[str, Any]:
    from veil.lineage import Lineage

    lin = Lineage(ctx.workspace).subject_by_token(ctx.token)
    ctx.counts["outputs_to_rebuild"] = len(lin.outputs)
    ctx.counts["models_to_rebuild"] = len(lin.models)
    return {"outputs": [o.to_dict() for o in lin.outputs],
            "models": [m.to_dict() for m in lin.models]}


def certificate(ctx: StepContext) -> dict[str, Any]:
    from veil.rights.package import write_certificate

    cert = erasure_certificate(ctx)
    return {"files": write_certificate(ctx, cert)}


def erasure_certificate(ctx: StepContext) -> dict[str, Any]:
    pol = ctx.policy
    stores = {n.split(":", 1)[1]: d for n, d in ctx.state.items() if n.startswith("store:")}
    holds = [h for d in stores.values() for h in d.get("holds", [])]
    lin = ctx.state.get("lineage") or {"outputs": [], "models": []}
    r = ctx.request
    return {
        "certificate": "erasure (GDPR Art. 17)",
        "request": {"id": r.id, "received_at": iso(r.received_at), "due_at": iso(r.due_at),
                    "verification": r.verification},
        "controller": pol.controller.name,
        "subject": ctx.token,
        "issued_at": iso(datetime.now(UTC)),
        "issued_by": ctx.actor,
        "policy": {"path": pol.source, "sha256": pol.digest},
        "stores": stores,
        "consent_withdrawn": (ctx.state.get("consent") or {}).get("withdrawn", []),
        "subject_key": (ctx.state.get("shred") or {}).get("subject_key"),
        "excluded_from_runs": "all purposes (erased)",
        "legal_holds": holds,
        "rebuild": {"outputs": lin["outputs"], "models": lin["models"]},
        "previously_erased": (ctx.state.get("locate") or {}).get("previously_erased"),
        "note": ("Values encrypted under the subject's key (transform 'encrypt') in every "
                 "output and backup can no longer be decrypted. Outputs and models listed under "
                 "'rebuild' contain the subject's data and must be rebuilt or retired."),
    }


def erasure_result(ctx: StepContext) -> dict[str, Any]:
    unknown = _unknown(ctx)
    if unknown:
        return unknown
    cert = erasure_certificate(ctx)
    holds = cert["legal_holds"]
    prev = cert["previously_erased"]
    outcome = "erased except data under legal hold" if holds else "erased"
    answer = "The subject's data was erased."
    if holds:
        answer = ("Data under legal hold is kept, restricted (excluded from every run), until "
                  "the hold ends: " + "; ".join(f"{h['hold']} ({h['legal_basis']}) until "
                                                 f"{h['until']}" for h in holds)
                  + " (Art. 17(3)(b)). Everything else was erased.")
    if prev:
        found = (ctx.state.get("locate") or {}).get("stores", {})
        again = (f"{sum(found.values())} row(s) found again and handled as listed" if
                 sum(found.values()) else "nothing more was held")
        answer = (f"Already erased by request {prev['request']} on {prev['at']}; checked "
                  f"again: {again}.")
        outcome = "already erased"
    return {"outcome": outcome, "subject": ctx.token, "answer": answer,
            "stores": cert["stores"], "consent_withdrawn": cert["consent_withdrawn"],
            "subject_key": cert["subject_key"], "legal_holds": holds,
            "rebuild": {"outputs": [o["run_id"] for o in cert["rebuild"]["outputs"]],
                        "models": [m["name"] for m in cert["rebuild"]["models"]]},
            "certificate": (ctx.state.get("certificate") or {}).get("files", [])}


# -- restriction / objection -------------------------------------------------------------------

def exclusion_result(ctx: StepContext) -> dict[str, Any]:
    unknown = _unknown(ctx)
    if unknown:
        return unknown
    ex = ctx.state["exclude"]
    what = "all purposes" if ex["purposes"] == ["*"] else ", ".join(ex["purposes"])
    verb = ("restricted (Art. 18)" if ctx.request.kind == "restriction"
            else "objected to (Art. 21)")
    return {"outcome": ex["reason"], "subject": ctx.token, "purposes": ex["purposes"],
            "answer": f"Processing {verb} for {what}: the subject's rows are left out of these "
                      "purposes' runs until lifted (`veil dsr lift`)."}


# -- rectification -----------------------------------------------------------------------------

def _rectify_store(dataset: str) -> Step:
    def step(ctx: StepContext) -> dict[str, Any]:
        from veil.rights.stores import Store

        fix = dict(ctx.details["corrections"])
        s = Store(ctx.policy, dataset, ctx.workspace)
        n = s.update(ctx.subject_id, _typed(s, fix))
        ctx.counts["rows_corrected"] = ctx.counts.get("rows_corrected", 0) + n
        ctx.categories.update(s.dataset.fields[f].category for f in fix)
        return {"action": "corrected", "rows": n, "fields": sorted(fix), "table": s.describe()}

    return step


def _typed(store: Any, values: dict[str, Any]) -> dict[str, Any]:
    """Text from the CLI converted to the column's type (dates, numbers, booleans)."""
    from veil.errors import InputError

    out = {}
    for k, v in values.items():
        ftype = store.dataset.fields[k].type
        if v is None or not isinstance(v, str) or ftype == "string":
            out[k] = v
            continue
        try:
            if ftype == "integer":
                out[k] = int(v)
            elif ftype in ("float", "decimal"):
                out[k] = float(v)
            elif ftype == "boolean":
                out[k] = {"true": True, "false": False}[v.strip().lower()]
            elif ftype == "date":
                out[k] = datetime.fromisoformat(v).date()
            elif ftype == "timestamp":
                out[k] = datetime.fromisoformat(v.replace("Z", "+00:00"))
            else:
                out[k] = v
        except (ValueError, KeyError):
            raise InputError(f"field '{k}': the new value is not a valid {ftype}") from None
    return out


def rectification_result(ctx: StepContext) -> dict[str, Any]:
    unknown = _unknown(ctx)
    if unknown:
        return unknown
    stores = {n.split(":", 1)[1]: d for n, d in ctx.state.items() if n.startswith("store:")}
    lin = ctx.state.get("lineage") or {"outputs": []}
    fields = sorted(ctx.details["corrections"])
    recipients = sorted({r for p in ctx.policy.purposes.values()
                         for ds, use in p.datasets.items()
                         if ds in stores and set(fields) & set(use.fields) for r in p.recipients})
    return {"outcome": "rectified", "subject": ctx.token, "stores": stores, "fields": fields,
            "notify_recipients": recipients,
            "rebuild": {"outputs": [o["run_id"] for o in lin["outputs"]]},
            "answer": f"Corrected {', '.join(fields)}; recipients to inform (Art. 19): "
                      f"{', '.join(recipients) or 'none'}."}


__all__ = ["add_months", "plan_steps"]
