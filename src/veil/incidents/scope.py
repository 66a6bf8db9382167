"""What a breach exposed, from the evidence Veil keeps: runs and their receipts, the audit log,
lineage (subject pseudonyms per output) and the key store.

Lineage is read through :func:`lineage_of` only; without it, subject counts are unknown (rows are
the upper bound) and the scope says so. Nothing here returns or stores a raw subject id.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from veil.errors import InputError, VeilError
from veil.incidents.clock import as_utc, iso
from veil.policy.taxonomy import BUILTIN_CATEGORIES, Category
from veil.store.schema import key_events, keysets, runs
from veil.store.workspace import Workspace

ITEM_KINDS = ("output", "dataset", "keyset", "other")
#: Categories that identify a person on their own (ENISA "ease of identification").
IDENTIFYING = frozenset({"direct_identifier", "contact", "government_id", "account", "card",
                         "online_identifier"})
#: Transforms whose output the controller (or whoever holds its key) can turn back into the value.
REVERSIBLE = frozenset({"tokenize", "fpe", "encrypt"})
#: Key operations that put a keyset's secret outside the key hierarchy.
EXPOSING_KEY_OPS = frozenset({"export"})


@dataclass
class Item:
    """One exposed thing as the DPO declared it, with the evidence found for it."""

    kind: str
    ref: str
    run_id: str | None = None
    encrypted: bool | None = None
    keyset: str | None = None
    key_exposed: bool | None = None  # declared by the DPO (None: not declared)
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "ref": self.ref, "run_id": self.run_id,
                "encrypted": self.encrypted, "keyset": self.keyset,
                "key_exposed": self.key_exposed, **self.detail}


def lineage_of(ws: Workspace) -> Any | None:
    """The workspace's lineage (``veil.lineage.Lineage``), or None when this Veil has none."""
    try:
        from veil.lineage import Lineage  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return None
    return Lineage(ws)


def _category(cat: str, custom: dict[str, Category]) -> Category:
    if cat in BUILTIN_CATEGORIES:
        return BUILTIN_CATEGORIES[cat]
    return custom.get(cat, Category(cat, cat))


def _load_policy(path: str | None, digest: str | None) -> tuple[Any | None, str | None]:
    """The policy a run used, and a note when it cannot be read or has changed since."""
    if not path:
        return None, "the run recorded no policy file"
    from veil.policy import load_policy

    try:
        pol = load_policy(path)
    except VeilError:
        return None, f"policy {path} cannot be read now: column roles unknown, assumed identifying"
    if digest and pol.digest and pol.digest != digest:
        return pol, f"policy {path} changed since the run: column roles read from today's file"
    return pol, None


class Evidence:
    """Looks up outputs, datasets and keysets in the workspace's store (read only)."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.lineage = lineage_of(ws)

    # -- runs ------------------------------------------------------------------------------
    def _runs(self, *conds: sa.ColumnElement[bool]) -> list[Any]:
        q = sa.select(runs).where(runs.c.status == "succeeded", *conds)
        with self.ws.engine.connect() as conn:
            return list(conn.execute(q.order_by(runs.c.finished_at.desc())).all())

    def run_of(self, ref: str, where: str = "--output") -> Any:
        """The succeeded run that wrote output ``ref`` (a run id, an 8+ character prefix of
        one, or the output's path). When several runs wrote the same path, the file's SHA-256
        picks the one whose output it is; InputError for an unknown output."""
        ref = ref.strip()
        if not ref:
            raise InputError("empty output reference", where=where)
        if self.lineage is not None:
            try:
                rec = self.lineage.output(ref)
                ref = str(getattr(rec, "run_id", ref))
            except VeilError:
                pass  # fall through to the runs table, which gives the one clear error below
        hexish = all(c in "0123456789abcdef" for c in ref.lower())
        if hexish and len(ref) >= 8:
            found = self._runs(runs.c.id.startswith(ref.lower()))
            if len(found) == 1:
                return found[0]
            if len(found) > 1:
                raise InputError(f"run id prefix '{ref}' is ambiguous ({len(found)} runs): give "
                                 "more characters", where=where)
        candidates = {ref}
        for base in (Path.cwd(), self.ws.root):
            p = Path(ref) if Path(ref).is_absolute() else base / ref
            candidates.add(str(p.resolve()))
        found = [r for r in self._runs() if r.output_ref in candidates
                 or str((self.ws.root / r.output_ref).resolve()) in candidates
                 or str(Path(r.output_ref).resolve()) in candidates]
        if not found:
            raise InputError(f"unknown output '{ref}': no successful run wrote it (see `veil "
                             "runs list`; give a run id or the output path)", where=where)
        if len(found) > 1:
            path = Path(ref) if Path(ref).is_absolute() else Path.cwd() / ref
            if path.is_file():
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                same = [r for r in found if r.output_digest == digest]
                if same:
                    return same[0]
        return found[0]  # newest first

    def categories_from_audit(self, run_id: str) -> list[str] | None:
        """The data categories the run's audit event recorded (tamper-evident evidence)."""
        from veil.audit.log import AuditLog

        for ev in AuditLog(self.ws).events(action="run", outcome="success", newest_first=True):
            e = ev.event
            if e.details.get("run_id") == run_id:
                return list(e.data_categories)
        return None

    def subjects_of(self, run_id: str) -> list[str] | None:
        """Subject pseudonyms in an output, from lineage (None: no lineage to ask)."""
        if self.lineage is None:
            return None
        try:
            return [str(s) for s in self.lineage.subjects_of(run_id)]
        except InputError:  # a run from before lineage was recorded, or one without subject ids
            return None

    # -- keys ------------------------------------------------------------------------------
    def keyset_state(self, name: str) -> dict[str, Any] | None:
        """A keyset's status and the operations that exposed its secret (no key material)."""
        with self.ws.engine.connect() as conn:
            row = conn.execute(sa.select(keysets.c.status).where(keysets.c.name == name)).first()
            if row is None:
                return None
            evs = conn.execute(sa.select(key_events.c.time, key_events.c.op, key_events.c.actor)
                               .where(key_events.c.keyset == name,
                                      key_events.c.op.in_(sorted(EXPOSING_KEY_OPS)))
                               .order_by(key_events.c.id)).all()
        return {"status": row.status,
                "exposing_events": [{"time": iso(as_utc(e.time)), "op": e.op, "actor": e.actor}
                                    for e in evs]}

    # -- items -----------------------------------------------------------------------------
    def output_item(self, ref: str, *, key_exposed: bool | None = None,
                    via: str | None = None) -> Item:
        run = self.run_of(ref)
        receipt = run.receipt if isinstance(run.receipt, dict) else json.loads(run.receipt or "{}")
        out = receipt.get("output", {})
        enc = out.get("encryption")
        fields = receipt.get("fields", {})
        transformed = {k: v.get("transform") for k, v in fields.get("transformed", {}).items()}
        columns = list(out.get("columns") or [])
        pol, note = _load_policy(run.policy_path, run.policy_digest)
        notes = [note] if note else []
        by_col: dict[str, str] = {}
        who = None
        if pol is not None and run.dataset in pol.datasets:
            by_col = {c: f.category for c, f in pol.datasets[run.dataset].fields.items()}
            who = pol.datasets[run.dataset].subjects
        cats = self.categories_from_audit(run.id)
        if cats is None:
            notes.append("no audit event for the run: categories from the policy")
            cats = sorted({by_col[c] for c in columns if c in by_col})
        clear: list[str] = []
        reversible: list[str] = []
        oneway: list[str] = []
        for c in columns:
            cat = by_col.get(c)
            if cat is not None and cat not in IDENTIFYING:
                continue
            t = transformed.get(c, "keep")
            (clear if t == "keep" else reversible if t in REVERSIBLE else oneway).append(c)
        detail: dict[str, Any] = {
            "output": run.output_ref, "output_sha256": run.output_digest,
            "purpose": run.purpose, "dataset": run.dataset,
            "created_at": iso(as_utc(run.finished_at or run.started_at)),
            "records": run.rows_out, "categories": cats, "columns": columns,
            "identifying_in_clear": clear, "identifying_reversible": reversible,
            "identifying_one_way": oneway, "policy": run.policy_path, "notes": notes,
            "subject_kind": who,
        }
        if via:
            detail["via"] = via
        keyset = enc.get("keyset") if isinstance(enc, dict) else None
        if keyset:
            detail["key_id"] = enc.get("key_id")
        return Item("output", ref, run_id=run.id, encrypted=bool(enc), keyset=keyset,
                    key_exposed=key_exposed, detail=detail)

    def window_items(self, start: datetime, end: datetime,
                     key_exposed: bool | None = None) -> list[Item]:
        """Every output written in [start, end) (e.g. all a misconfigured bucket received)."""
        if end <= start:
            raise InputError("the window's end is not after its start", where="--window")
        found = self._runs(runs.c.finished_at >= start, runs.c.finished_at < end)
        return [self.output_item(r.id, key_exposed=key_exposed,
                                 via=f"window {iso(start)}/{iso(end)}")
                for r in reversed(found)]

    def dataset_item(self, name: str, policy: Any | None) -> Item:
        """A whole source dataset (e.g. the raw table on a lost laptop): every field in clear."""
        found = self._runs(runs.c.dataset == name)
        pol = policy
        notes: list[str] = []
        if pol is None and found:
            pol, note = _load_policy(found[0].policy_path, found[0].policy_digest)
            notes += [note] if note else []
        if pol is None or name not in pol.datasets:
            if not found:
                raise InputError(f"unknown dataset '{name}': no run read it and the policy does "
                                 "not declare it", where="--dataset")
            raise InputError(f"dataset '{name}' is not declared in the policy: give --policy",
                             where="--dataset")
        fields = pol.datasets[name].fields
        cats = sorted({f.category for f in fields.values()})
        clear = sorted(c for c, f in fields.items() if f.category in IDENTIFYING)
        records = max((r.rows_in or 0 for r in found), default=None)
        if records is None:
            notes.append("no run read this dataset: give --records to estimate its size")
        return Item("dataset", name, encrypted=False, detail={
            "dataset": name, "records": records, "categories": cats,
            "identifying_in_clear": clear, "identifying_reversible": [],
            "identifying_one_way": [], "columns": sorted(fields),
            "runs": [r.id for r in found[:20]], "notes": notes,
            "subject_kind": pol.datasets[name].subjects})

    def keyset_item(self, name: str) -> Item:
        state = self.keyset_state(name)
        if state is None:
            raise InputError(f"unknown keyset '{name}' (see `veil keys list`)", where="--keyset")
        return Item("keyset", name, keyset=name, key_exposed=True, detail={"keyset_state": state})


def compute_scope(ev: Evidence, items: Sequence[Item], *, estimates: dict[str, Any] | None = None,
                  custom_categories: dict[str, Category] | None = None) -> tuple[dict[str, Any],
                                                                                  list[str]]:
    """The breach's scope from its items: (scope without ids, sorted subject pseudonyms).

    Subjects are the union of the lineage pseudonyms of every exposed output (exact); a dataset
    or an output without lineage adds its records as an upper bound; DPO estimates (``other``
    items, ``subjects``/``records``) are added and marked as such.
    """
    est = estimates or {}
    custom = custom_categories or {}
    exposed_keysets = {i.ref for i in items if i.kind == "keyset"}
    pseudonyms: set[str] = set()
    exact = ev.lineage is not None
    upper = 0
    records = 0
    records_known = True
    cats: set[str] = set(est.get("categories") or [])
    warnings: list[str] = []
    summaries: list[dict[str, Any]] = []
    for it in items:
        s = it.to_json()
        if it.kind == "output":
            subs = ev.subjects_of(it.run_id or "")
            if subs is None:
                exact = False
                upper += int(it.detail.get("records") or 0)
                s["subjects"] = None
            else:
                pseudonyms.update(subs)
                s["subjects"] = len(set(subs))
            key = _key_status(ev, it, exposed_keysets)
            s.update(key)
            if key["unintelligible"]:
                s["note"] = "encrypted and the key is safe: the data is unintelligible"
        elif it.kind == "dataset":
            exact = False
            upper += int(it.detail.get("records") or 0)
            for o in ev.lineage.outputs() if ev.lineage is not None else []:
                if o.dataset == it.ref:
                    pseudonyms.update(ev.subjects_of(o.run_id) or [])
            s.update(unintelligible=False, key_safe=None)
        elif it.kind == "keyset":
            under = [o.ref for o in items if o.kind == "output" and o.keyset == it.ref]
            if not under:
                warnings.append(f"keyset '{it.ref}' is exposed but no exposed output uses it: "
                                "add the outputs encrypted under it whose files may be reachable")
            s.update(unintelligible=None, key_safe=False)
        else:  # other: what the DPO declared
            s.update(unintelligible=False, key_safe=None)
        if it.kind in ("output", "dataset"):
            if it.detail.get("records") is None:
                records_known = False
            records += int(it.detail.get("records") or 0)
            cats.update(it.detail.get("categories") or [])
            warnings += it.detail.get("notes") or []
        summaries.append(s)
    if est.get("records") is not None:
        records += int(est["records"])
    n_subjects = len(pseudonyms)
    if est.get("subjects") is not None:
        n_subjects += int(est["subjects"])
        exact = False
    if not exact and ev.lineage is None and any(i.kind == "output" for i in items):
        warnings.append("no lineage in this Veil: subject counts are bounded by record counts")
    exposed = [s for s in summaries if s["kind"] in ("output", "dataset", "other")]
    flags = {c: _category(c, custom) for c in sorted(cats)}
    intelligible_cats = set(est.get("categories") or [])
    for s in exposed:
        if not s.get("unintelligible"):
            intelligible_cats.update(s.get("categories") or [])
    scope = {
        "computed_at": iso(datetime.now(UTC)),
        "subjects": {"count": n_subjects, "exact": exact,
                     "upper_bound": max(n_subjects, n_subjects + upper) if upper else n_subjects,
                     "source": "lineage" if ev.lineage is not None else "records (no lineage)"},
        "records": {"count": records, "exact": records_known and est.get("records") is None},
        "categories": sorted(cats),
        "intelligible_categories": sorted(intelligible_cats),
        "special": [c for c, k in flags.items() if k.special],
        "criminal": [c for c, k in flags.items() if k.criminal],
        "financial": [c for c, k in flags.items() if k.financial],
        "items": summaries,
        "all_unintelligible": bool(exposed) and all(s.get("unintelligible") for s in exposed)
        and not est.get("categories"),
        "warnings": sorted(set(warnings)),
    }
    return scope, sorted(pseudonyms)


def _key_status(ev: Evidence, it: Item, exposed_keysets: Iterable[str]) -> dict[str, Any]:
    """Is an encrypted output's key safe? Declared exposure, an exposed keyset item or a
    recorded key export all say no; a destroyed keyset makes the data unreadable to anyone
    without an exported copy (and to the controller: an availability loss)."""
    if not it.encrypted:
        return {"unintelligible": False, "key_safe": None, "key_evidence": []}
    reasons: list[str] = []
    if it.key_exposed:
        reasons.append("declared exposed by the DPO")
    if it.keyset in set(exposed_keysets):
        reasons.append(f"keyset '{it.keyset}' is itself an exposed item")
    state = ev.keyset_state(it.keyset) if it.keyset else None
    if state is None:
        reasons.append("the keyset is not in this workspace's key store")
    else:
        for e in state["exposing_events"]:
            reasons.append(f"keyset '{it.keyset}' was exported in clear at {e['time']} "
                           f"by {e['actor']}")
    safe = not reasons
    return {"unintelligible": safe, "key_safe": safe, "key_evidence": reasons,
            "keyset_status": state["status"] if state else None}
