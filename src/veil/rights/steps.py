"""The steps each kind of request runs. Every step is idempotent and returns a JSON detail
(counts, dataset names, pseudonyms: never a subject's values), recorded in ``dsr_steps``.

=============  ==========================================================================
access         locate, package (JSON + HTML, encrypted)
portability    locate, package (the data provided under consent or contract, JSON + HTML)
erasure        locate, store:<dataset> (delete, mask, or restrict under a legal hold),
               consent (withdraw, then the ledger's rows keep only the pseudonym), exclude
               (erased: all purposes), shred (subject key), requests (other requests' sealed
               ids and packages destroyed), lineage (outputs, models and running runs to
               check), certificate; once a legal hold ends, a rerun adds release:<dataset>
               and certificate:final
restriction    locate, exclude (restricted: the purposes concerned)
objection      locate, exclude (objected: legitimate-interest / public-task purposes)
rectification  locate, store:<dataset> (correct), lineage (outputs and models to rebuild)
=============  ==========================================================================
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from veil.errors import StoreError
from veil.policy.duration import Duration
from veil.rights.context import StepContext
from veil.rights.erasure_statements import erasure_statements
from veil.rights.opening import check_value
from veil.rights.records import KINDS, add_months, iso
from veil.store.schema import dsr_requests, dsr_steps, subject_keys

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
                      ("requests", other_requests), ("lineage", lineage), *_hooked(ctx),
                      ("certificate", certificate)]
            if ctx.releasing:
                for n, d in list(ctx.state.items()):
                    if n.startswith("store:") and d and d.get("holds"):
                        ds = n.split(":", 1)[1]
                        steps.append((f"release:{ds}", _release_store(ds)))
                steps.append(("certificate:final", certificate))
        ctx.result_fn = erasure_result
    elif kind in ("restriction", "objection"):
        if known:
            steps += [("exclude", exclude), *_hooked(ctx)]
        ctx.result_fn = exclusion_result
    elif kind == "rectification":
        if known:
            for ds in ctx.details.get("datasets") or []:
                steps.append((f"store:{ds}", _rectify_store(ds)))
            steps += [("lineage", lineage), *_hooked(ctx)]
        ctx.result_fn = rectification_result
    return steps


def _hooked(ctx: StepContext) -> list[tuple[str, Step]]:
    """The steps a layer above adds (`StepHooks`: propagation, Art. 19 notices)."""
    return list(ctx.hooks.steps(ctx.request.kind)) if ctx.hooks is not None else []


def _store_datasets(ctx: StepContext) -> list[str]:
    return [d for d, ds in ctx.policy.datasets.items() if ds.store is not None]


def _stores(ctx: StepContext) -> dict[str, Any]:
    from veil.rights.stores import Store

    return {d: Store(ctx.policy, d, ctx.workspace) for d in _store_datasets(ctx)}


def _found(store: Any, subject_id: str) -> int:
    """The subject's rows that still hold erasable data (masked rows are not found again)."""
    if store.spec.erasure == "mask":
        return int(store.count_unmasked(subject_id, list(store.spec.mask)))
    return int(store.count(subject_id))


# -- locate ------------------------------------------------------------------------------------

def locate(ctx: StepContext) -> dict[str, Any]:
    """Where the subject appears: stores, consent ledger, lineage, subject keys, earlier
    requests. Nothing anywhere: an unknown subject (a clear answer, no changes)."""
    from veil.consent.ledger import Ledger

    stores: dict[str, int] = {}
    masked: dict[str, int] = {}
    for d, s in _stores(ctx).items():
        stores[d] = _found(s, ctx.subject_id)
        if s.spec.erasure == "mask":
            masked[d] = s.count(ctx.subject_id) - stores[d]
    consent = len(_history(ctx)) if Ledger(ctx.workspace).knows(ctx.subject_id) else 0
    lin = ctx.lineage()
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
                 or prev is not None or sum(masked.values()))
    ctx.counts["rows_found"] = sum(stores.values())
    return {"known": known, "stores": stores, "masked_earlier": masked,
            "consent_events": consent, "outputs": len(lin.outputs), "models": len(lin.models),
            "subject_key": key_state,
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

def hold_end(start: datetime, period: str) -> datetime:
    """``start`` plus a hold period, calendar-correct (`veil.policy.duration.Duration`)."""
    return Duration.parse(period, what="hold period").after(start)


def _holds(ctx: StepContext, dataset: str) -> list[dict[str, Any]]:
    recv = ctx.request.received_at
    return [{"hold": name, "legal_basis": h.legal_basis, "period": h.period,
             "until": iso(hold_end(recv, h.period)),
             "whole_rows": dataset in h.datasets, "categories": list(h.categories)}
            for name, h in ctx.policy.holds_for(dataset)]


def _erase_store(dataset: str) -> Step:
    def step(ctx: StepContext) -> dict[str, Any]:
        from veil.rights.stores import Store

        name = f"store:{dataset}"
        s = Store(ctx.policy, dataset, ctx.workspace)
        ds = s.dataset
        ctx.categories.update(f.category for f in ds.fields.values())
        holds = _holds(ctx, dataset)
        if holds:
            return _hold_store(ctx, s, name, holds)
        if s.spec.erasure == "mask":
            return _mask_store(ctx, s, name)
        first = ctx.begin(name, {"rows_found": s.count(ctx.subject_id)})
        n = s.delete(ctx.subject_id)
        rows = max(int(first["rows_found"]), n)
        ctx.counts["rows_deleted"] = ctx.counts.get("rows_deleted", 0) + rows
        return {"action": "deleted", "rows": rows, "deleted_this_attempt": n,
                "deleted_earlier": rows - n, "remaining": s.count(ctx.subject_id),
                "table": s.describe()}

    return step


def _mask_store(ctx: StepContext, s: Any, name: str, fields: list[str] | None = None,
                why: str | None = None) -> dict[str, Any]:
    fields = list(s.spec.mask if fields is None else fields)
    total = s.count(ctx.subject_id)
    first = ctx.begin(name, {"rows_found": s.count_unmasked(ctx.subject_id, fields),
                             "rows": total})
    n = s.mask(ctx.subject_id, fields)
    kept = [c for c in s.columns() if c not in fields]
    rows = max(int(first["rows_found"]), n)
    ctx.counts["rows_masked"] = ctx.counts.get("rows_masked", 0) + rows
    return {"action": "masked", "rows": rows, "rows_kept": total,
            "masked_this_attempt": n, "masked_earlier": rows - n,
            "fields": fields, "kept_columns": kept, "still_identifies_subject": s.key in kept,
            "why": why or ("the policy keeps these rows (store erasure: mask); only the "
                           "listed fields were set to null, the kept columns remain, "
                           f"including the subject id '{s.key}'"),
            "remaining_unmasked": s.count_unmasked(ctx.subject_id, fields),
            "table": s.describe()}


def _hold_store(ctx: StepContext, s: Any, name: str,
                holds: list[dict[str, Any]]) -> dict[str, Any]:
    """Under a legal hold: whole rows kept when a hold names the dataset; a hold by
    categories keeps only those fields (and the subject id), the others are masked when the
    store allows null there."""
    ds = s.dataset
    detail: dict[str, Any] = {"action": "restricted (legal hold)", "holds": holds}
    if not any(h["whole_rows"] for h in holds):
        cats = {c for h in holds for c in h["categories"]}
        keep = [f for f, fd in ds.fields.items() if fd.category in cats or f == s.key]
        drop = [f for f in ds.fields if f not in keep and f in s.columns()]
        try:
            if drop:
                m = _mask_store(ctx, s, name, drop, why="legal hold by categories: only the "
                                "held fields are kept (restricted)")
                detail.update({"masked_fields": drop, "rows_masked": m["rows"]})
        except StoreError as exc:
            detail["masked_fields"] = []
            detail["mask_refused"] = exc.message[:300]
        detail["kept_fields"] = keep if drop else list(ds.fields)
    else:
        detail["kept_fields"] = list(ds.fields)
    n = s.count(ctx.subject_id)
    ctx.counts["rows_held"] = ctx.counts.get("rows_held", 0) + n
    detail.update({"rows": n, "table": s.describe()})
    return detail


def _release_store(dataset: str) -> Step:
    def step(ctx: StepContext) -> dict[str, Any]:
        from veil.rights.stores import Store

        name = f"release:{dataset}"
        s = Store(ctx.policy, dataset, ctx.workspace)
        if s.spec.erasure == "mask":
            d = _mask_store(ctx, s, name)
            d["action"] = "masked after the legal hold ended"
            return d
        first = ctx.begin(name, {"rows_found": s.count(ctx.subject_id)})
        n = s.delete(ctx.subject_id)
        rows = max(int(first["rows_found"]), n)
        ctx.counts["rows_deleted"] = ctx.counts.get("rows_deleted", 0) + rows
        return {"action": "deleted after the legal hold ended", "rows": rows,
                "remaining": s.count(ctx.subject_id), "table": s.describe()}

    return step


def withdraw_consent(ctx: StepContext) -> dict[str, Any]:
    """Record a withdrawal (Art. 7(3)) for every purpose whose consent is in force, then
    replace the subject id in the ledger's rows by ``erased:<pseudonym>`` (the ledger keeps
    its history and the audit log, already by pseudonym, its proof; the id itself goes)."""
    from veil.consent.ledger import Ledger
    from veil.consent.models import ConsentEvent
    from veil.store.schema import consent_events, consent_state

    led = Ledger(ctx.workspace)
    live: list[str] = []
    if led.knows(ctx.subject_id):
        last: dict[str, str] = {}
        for e in led.history(ctx.subject_id):
            last[e.purpose] = e.kind
        live = sorted(p for p, k in last.items() if k in ("granted", "renewed"))
    first = ctx.begin("consent", {"withdrawn": live})
    if live:
        led.append([ConsentEvent(ctx.subject_id, p, "withdrawn", "api", ctx.actor[:128],
                                 action=f"data-subject request {ctx.request.id} "
                                 f"({ctx.request.kind})") for p in live])
    gone = f"erased:{ctx.token}"
    withdrawn = sorted(set(first["withdrawn"]) | set(live))
    ctx.counts["consents_withdrawn"] = len(withdrawn)
    with ctx.workspace.engine.begin() as conn:
        ev = conn.execute(consent_events.update().where(
            consent_events.c.subject == ctx.subject_id).values(subject=gone, guardian=None))
        st = conn.execute(consent_state.update().where(
            consent_state.c.subject == ctx.subject_id).values(subject=gone))
        return ctx.record(conn, "consent", {
            "withdrawn": withdrawn, "ledger_rows_pseudonymised": int(ev.rowcount)
            + int(st.rowcount), "ledger_subject": "erased:<pseudonym>"})


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
            return ctx.record(conn, "exclude", {"reason": "erased", "purposes": [ALL],
                                                "restricted_for_hold": held})
        purposes = ctx.request.purposes
        if purposes is None:
            purposes = [ALL] if kind == "restriction" else []
        reason = "restricted" if kind == "restriction" else "objected"
        added = add_exclusions(conn, ctx.token, reason, purposes, ctx.request.id)
        ctx.counts["purposes_excluded"] = len(purposes)
        return ctx.record(conn, "exclude", {"reason": reason, "purposes": purposes,
                                            "newly_excluded": added})


def shred(ctx: StepContext) -> dict[str, Any]:
    """Destroy the subject key; the outcome is read back from the key store (the effect),
    so a rerun after a crash still says "destroyed"."""
    from veil.keys.manager import KeyManager

    destroyed = KeyManager(ctx.workspace, actor=ctx.actor).shred_subjects([ctx.token])
    k = subject_keys.c
    with ctx.workspace.engine.connect() as conn:
        key = conn.execute(sa.select(k.erased_at).where(k.subject == ctx.token)).first()
    before = (ctx.state.get("locate") or {}).get("subject_key")
    if key is None:
        state = "none (never made)"
    elif key.erased_at is None:
        raise StoreError(f"request {ctx.request.id}: the subject key is still live after "
                         "shredding")
    elif before == "erased":
        state = "already destroyed (earlier erasure)"
    else:
        state = "destroyed"
    ctx.counts["keys_destroyed"] = len(destroyed)
    erased_at = key.erased_at if key else None
    return {"subject_key": state, "destroyed_at": iso(erased_at),
            "backups": _backups(ctx, erased_at)}


def _backups(ctx: StepContext, erased_at: datetime | str | None) -> dict[str, Any]:
    """When backups taken before the erasure stop decrypting the subject's values (from the
    key epoch current at ``erased_at`` and the policy's keys: settings)."""
    from veil.keys.epochs import EpochSchedule, backup_horizon

    when = datetime.fromisoformat(erased_at) if isinstance(erased_at, str) else erased_at
    return backup_horizon(ctx.workspace.engine, EpochSchedule.from_policy(ctx.policy),
                          when).to_dict()


#: What an erasure leaves in the free text of the subject's other requests.
ERASED_TEXT = "(erased)"


def other_requests(ctx: StepContext) -> dict[str, Any]:
    """Art. 17 reaches the subject's earlier requests too: their sealed ids (and a
    rectification's new values) are dropped and their packages' files deleted, so nothing
    can be exported or unsealed after the erasure; their free text (verification, extension
    reason, close and lift notes: a passport number, a phone, an e-mail) is replaced by
    ``(erased)``. This erasure keeps its own seal until it completes (or its hold ends)."""
    t = dsr_requests.c
    with ctx.workspace.engine.connect() as conn:
        others = [r.id for r in conn.execute(sa.select(t.id).where(
            t.subject == ctx.token, t.id != ctx.request.id))]
    deleted = 0
    for rid in others:  # files first (idempotent), then the records in one transaction
        folder = ctx.requests.folder(rid)
        for f in sorted(folder.glob("package.*.enc")) if folder.is_dir() else []:
            f.unlink(missing_ok=True)
            deleted += 1
    st = dsr_steps.c
    with ctx.workspace.engine.begin() as conn:
        if others:
            conn.execute(dsr_requests.update().where(t.id.in_(others)).values(sealed=None))
            _clear_free_text(conn, others)
            for row in conn.execute(sa.select(st.request_id, st.detail).where(
                    st.request_id.in_(others), st.step == "package")).all():
                detail = dict(row.detail or {})
                if detail.get("destroyed_by"):
                    continue
                detail.update({"destroyed_by": ctx.request.id,
                               "destroyed_at": iso(datetime.now(UTC))})
                conn.execute(dsr_steps.update().where(st.request_id == row.request_id,
                                                      st.step == "package")
                             .values(detail=detail))
        return ctx.record(conn, "requests", {"requests": others,
                                             "package_files_deleted": deleted})


def _clear_free_text(conn: sa.Connection, ids: list[str]) -> None:
    """Replace the free text of requests ``ids`` by ``(erased)`` (in ``conn``'s transaction)."""
    t = dsr_requests.c
    for col in (t.verification, t.extension_reason, t.close_note):
        conn.execute(dsr_requests.update().where(t.id.in_(ids), col.isnot(None),
                                                 col != ERASED_TEXT)
                     .values({col.name: ERASED_TEXT}))
    for row in conn.execute(sa.select(t.id, t.result).where(t.id.in_(ids))).all():
        lifted = (row.result or {}).get("lifted") if isinstance(row.result, dict) else None
        if isinstance(lifted, dict) and lifted.get("note") not in (None, ERASED_TEXT):
            result = {**row.result, "lifted": {**lifted, "note": ERASED_TEXT}}
            conn.execute(dsr_requests.update().where(t.id == row.id).values(result=result))


def lineage(ctx: StepContext) -> dict[str, Any]:
    from veil.lineage import Lineage

    lin = ctx.lineage()
    ctx.counts["outputs_to_rebuild"] = len(lin.outputs)
    ctx.counts["models_to_rebuild"] = len(lin.models)
    return {"outputs": [o.to_dict() for o in lin.outputs],
            "models": [m.to_dict() for m in lin.models],
            "running": Lineage(ctx.workspace).running()}


def certificate(ctx: StepContext) -> dict[str, Any]:
    from veil.rights.package import write_certificate

    cert = erasure_certificate(ctx)
    return {"files": write_certificate(ctx, cert)}


def _store_states(ctx: StepContext) -> dict[str, Any]:
    out = {n.split(":", 1)[1]: d for n, d in ctx.state.items() if n.startswith("store:")}
    for n, d in ctx.state.items():
        if n.startswith("release:"):
            out[n.split(":", 1)[1]] = {**d, "held_until_released": out.get(
                n.split(":", 1)[1], {}).get("holds")}
    return out


def erasure_certificate(ctx: StepContext) -> dict[str, Any]:
    pol = ctx.policy
    stores = _store_states(ctx)
    holds = [h for d in stores.values() if "held_until_released" not in d
             for h in d.get("holds", [])]
    lin = ctx.state.get("lineage") or {"outputs": [], "models": [], "running": []}
    r = ctx.request
    shredded = ctx.state.get("shred") or {}
    backups = shredded.get("backups") or _backups(ctx, shredded.get("destroyed_at"))
    said = erasure_statements(shredded.get("subject_key"), shredded.get("destroyed_at"),
                              backups)
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
        "consent_ledger": "subject id replaced by erased:<pseudonym>",
        "subject_key": shredded.get("subject_key"),
        "readable_now": said["readable_now"],
        "backups": {**backups, "statement": said["backups"]},
        "earlier_requests": (ctx.state.get("requests") or {}).get("requests", []),
        "excluded_from_runs": "all purposes (erased)",
        "legal_holds": holds,
        "rebuild": {"outputs": lin["outputs"], "models": _models_after_propagation(ctx, lin),
                    "check_after_they_finish": lin.get("running", [])},
        "propagation": _propagation(ctx),
        "recipients_notified": (ctx.state.get("notify") or {}).get("notices"),
        "previously_erased": (ctx.state.get("locate") or {}).get("previously_erased"),
        "note": ("'readable_now' and 'backups' concern values encrypted under the subject's "
                 "key (transform 'encrypt'). Other copies of the subject's data are not covered "
                 "by them: outputs and models listed under 'rebuild' contain the subject's data "
                 "and must be rebuilt or retired; runs still running when the erasure ran may "
                 "contain the subject: check them after they finish; backups of the registered "
                 "stores keep the rows they copied until those backups are deleted. "
                 "'propagation' (when run) says what was done to those outputs and models: "
                 "rebuilt without the subject, purged, or flagged for a person to act."),
    }


def _models_after_propagation(ctx: StepContext, lin: dict[str, Any]) -> list[dict[str, Any]]:
    """The models as the propagate step left them: the lineage step ran before it flagged
    them for retraining, so its snapshot said "no retraining needed, 0 subjects"."""
    flagged = {m["name"]: m for m in (ctx.state.get("propagate") or {})
               .get("models_to_retrain", [])}
    out = []
    for m in lin["models"]:
        f = flagged.pop(m["name"], None)
        out.append(m if f is None else {**m, "needs_retraining": True,
                                         "affected_subjects": f["affected_subjects"]})
    return out + [{**f, "needs_retraining": True} for f in flagged.values()]


def _propagation(ctx: StepContext) -> dict[str, Any] | None:
    """What propagation did to the outputs and models holding the subject (None: not run)."""
    p = ctx.state.get("propagate")
    if p is None:
        return None
    return {k: p.get(k, []) for k in ("rebuilt", "purged", "flagged", "models_to_retrain")}


def _masked_text(stores: dict[str, Any]) -> str:
    parts = []
    for ds, d in stores.items():
        if d.get("action", "").startswith("masked") and d.get("rows_kept"):
            parts.append(f"in {ds}, {d['rows_kept']} row(s) are kept with "
                         f"{', '.join(d['fields'])} set to null; "
                         f"{', '.join(d['kept_columns'])} remain ({d['why']})")
    return "; ".join(parts)


def erasure_result(ctx: StepContext) -> dict[str, Any]:
    unknown = _unknown(ctx)
    if unknown:
        return unknown
    cert = erasure_certificate(ctx)
    holds = cert["legal_holds"]
    prev = cert["previously_erased"]
    masked = _masked_text(cert["stores"])
    outcome = "erased except data under legal hold" if holds else "erased"
    answer = "The subject's data was erased."
    if masked and not holds:
        outcome = "erased except masked rows kept"
        answer = f"The subject's data was erased, except: {masked}."
    if holds:
        answer = ("Data under legal hold is kept, restricted (excluded from every run), until "
                  "the hold ends: " + "; ".join(f"{h['hold']} ({h['legal_basis']}) until "
                                                 f"{h['until']}" for h in holds)
                  + " (Art. 17(3)(b)); run the request again then to erase it. Everything "
                  "else was erased." + (f" Masked: {masked}." if masked else ""))
    if ctx.releasing:
        answer = "The legal hold ended and the data it kept was erased. " + (
            f"Masked: {masked}." if masked else "")
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
                        "output_paths": [o["output"] for o in cert["rebuild"]["outputs"]],
                        "models": [m["name"] for m in cert["rebuild"]["models"]],
                        "running": [x["run_id"] for x in
                                    cert["rebuild"]["check_after_they_finish"]]},
            "propagation": cert["propagation"],
            "recipients_notified": cert["recipients_notified"],
            "certificate": ((ctx.state.get("certificate:final")
                             or ctx.state.get("certificate") or {}).get("files", []))}


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
            "propagation": _propagation(ctx),
            "recipients_notified": (ctx.state.get("notify") or {}).get("notices"),
            "answer": f"Processing {verb} for {what}: the subject's rows are left out of these "
                      "purposes' runs until lifted (`veil dsr lift`), also after the request "
                      "is closed."}


# -- rectification -----------------------------------------------------------------------------

def _rectify_store(dataset: str) -> Step:
    def step(ctx: StepContext) -> dict[str, Any]:
        from veil.rights.stores import Store

        fix = dict(ctx.details["corrections"])
        s = Store(ctx.policy, dataset, ctx.workspace)
        n = s.update(ctx.subject_id, _typed(s, fix))
        ctx.counts["rows_corrected"] = ctx.counts.get("rows_corrected", 0) + n
        ctx.categories.update(s.dataset.fields[f].category for f in fix)
        return {"action": "corrected" if n else "no rows found", "rows": n,
                "fields": sorted(fix), "table": s.describe()}

    return step


def _typed(store: Any, values: dict[str, Any]) -> dict[str, Any]:
    """Values converted to the fields' types (as when reading data); checked at open too."""
    return {k: check_value(store.dataset.fields[k].type, k, v) for k, v in values.items()}


def rectification_result(ctx: StepContext) -> dict[str, Any]:
    unknown = _unknown(ctx)
    if unknown:
        return unknown
    stores = {n.split(":", 1)[1]: d for n, d in ctx.state.items() if n.startswith("store:")}
    lin = ctx.state.get("lineage") or {"outputs": [], "models": []}
    fields = sorted(ctx.details["corrections"])
    rows = sum(int(d.get("rows", 0)) for d in stores.values())
    recipients = sorted({ctx.policy.recipients[r].name
                         for p in ctx.policy.purposes.values()
                         for ds, use in p.datasets.items()
                         if ds in stores and set(fields) & set(use.fields)
                         for r in p.recipients})
    rebuild = {"outputs": [o["run_id"] for o in lin["outputs"]],
               "models": [m["name"] for m in lin.get("models", [])]}
    if not rows:
        return {"outcome": "no rows found", "subject": ctx.token, "stores": stores,
                "fields": fields, "notify_recipients": [], "rebuild": rebuild,
                "answer": f"Nothing was corrected: no rows of this subject in "
                          f"{', '.join(stores) or 'the registered stores'} (fields "
                          f"{', '.join(fields)})."}
    return {"outcome": "rectified", "subject": ctx.token, "stores": stores, "fields": fields,
            "rows": rows, "notify_recipients": recipients, "rebuild": rebuild,
            "recipients_notified": (ctx.state.get("notify") or {}).get("notices"),
            "answer": f"Corrected {', '.join(fields)} in {rows} row(s); recipients to inform "
                      f"(Art. 19): {', '.join(recipients) or 'none'}; outputs and models to "
                      "rebuild are listed."}


__all__ = ["add_months", "hold_end", "plan_steps"]
