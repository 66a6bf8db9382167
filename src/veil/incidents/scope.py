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
from datetime import UTC, datetime, timedelta
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


def _roles(pol: Any | None, dataset: str) -> tuple[dict[str, str], str | None]:
    """The category of each column of ``dataset`` in the policy, and who its subjects are."""
    if pol is None or dataset not in pol.datasets:
        return {}, None
    ds = pol.datasets[dataset]
    return {c: f.category for c, f in ds.fields.items()}, ds.subjects


def _identifying(columns: Sequence[str], by_col: dict[str, str],
                 transformed: dict[str, Any]) -> tuple[list[str], list[str], list[str]]:
    """The columns that identify (or whose role is unknown): in clear, reversibly protected,
    one-way pseudonymised."""
    clear: list[str] = []
    reversible: list[str] = []
    oneway: list[str] = []
    for c in columns:
        cat = by_col.get(c)
        if cat is not None and cat not in IDENTIFYING:
            continue
        t = transformed.get(c, "keep")
        (clear if t == "keep" else reversible if t in REVERSIBLE else oneway).append(c)
    return clear, reversible, oneway


def _receipt(run: Any) -> dict[str, Any]:
    r = run.receipt
    if isinstance(r, dict):
        return r
    try:
        out = json.loads(r or "{}")
    except ValueError:
        return {}
    return out if isinstance(out, dict) else {}


def input_key(run: Any) -> str:
    """What identifies the file a run read: its SHA-256, else the reference it was given."""
    return f"sha256:{run.input_digest}" if run.input_digest else f"ref:{run.input_ref}"


class Evidence:
    """Looks up outputs, datasets and keysets in the workspace's store (read only).

    Every lookup is a query on indexed columns (run id, output path, dataset) and the audit
    event of a run is read by its index from the receipt: cost does not grow with history.
    """

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.lineage = lineage_of(ws)

    # -- runs ------------------------------------------------------------------------------
    def _runs(self, *conds: sa.ColumnElement[bool]) -> list[Any]:
        q = sa.select(runs).where(runs.c.status == "succeeded", *conds)
        with self.ws.engine.connect() as conn:
            return list(conn.execute(q.order_by(runs.c.finished_at.desc())).all())

    def _path_candidates(self, ref: str) -> list[str]:
        """The forms a path may have been stored in: as given, absolute, relative to the
        current folder or to the workspace."""
        out = {ref}
        bases = [Path.cwd().resolve(), Path(self.ws.root).resolve()]
        for base in bases:
            p = Path(ref) if Path(ref).is_absolute() else base / ref
            try:
                rp = p.resolve()
            except (OSError, RuntimeError):
                continue
            out.add(str(rp))
            for b2 in bases:
                try:
                    out.add(str(rp.relative_to(b2)))
                except ValueError:
                    pass
        return sorted(out)

    def _lineage_run_ids(self, paths: Sequence[str]) -> list[str]:
        if self.lineage is None:
            return []
        from veil.store.schema import lineage_outputs as lo

        with self.ws.engine.connect() as conn:
            return list(conn.execute(sa.select(lo.c.run_id).where(lo.c.output_ref.in_(paths)))
                        .scalars())

    def run_of(self, ref: str, where: str = "--output") -> Any:
        """The succeeded run that wrote output ``ref`` (a run id, an 8+ character prefix of
        one, or the output's path). When several runs wrote the same path, the file's SHA-256
        picks the one whose output it is; InputError for an unknown output."""
        ref = ref.strip()
        if not ref:
            raise InputError("empty output reference", where=where)
        hexish = all(c in "0123456789abcdef" for c in ref.lower())
        if hexish and len(ref) >= 8:
            found = self._runs(runs.c.id.startswith(ref.lower()))
            if len(found) == 1:
                return found[0]
            if len(found) > 1:
                raise InputError(f"run id prefix '{ref}' is ambiguous ({len(found)} runs): give "
                                 "more characters", where=where)
        paths = self._path_candidates(ref)
        found = self._runs(runs.c.output_ref.in_(paths))
        seen = {r.id for r in found}
        extra = [i for i in self._lineage_run_ids(paths) if i not in seen]
        if extra:
            found += self._runs(runs.c.id.in_(extra))
            found.sort(key=lambda r: as_utc(r.finished_at or r.started_at), reverse=True)
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

    def categories_from_audit(self, run: Any) -> list[str] | None:
        """The data categories the run's own audit event recorded (tamper-evident evidence).

        The receipt names the event's index; only when it does not (or the event there is not
        this run's) are the ``run`` events of the run's time span searched."""
        from veil.audit.log import AuditLog
        from veil.errors import AuditError

        log = AuditLog(self.ws)

        def ours(e: Any) -> bool:
            return bool(e.action == "run" and e.outcome == "success"
                        and e.details.get("run_id") == run.id)

        idx = (_receipt(run).get("audit") or {}).get("last_index")
        if isinstance(idx, int) and not isinstance(idx, bool):
            try:
                e = log.get(idx).event
            except AuditError:
                e = None
            if e is not None and ours(e):
                return list(e.data_categories)
        start = as_utc(run.started_at)
        end = as_utc(run.finished_at or run.started_at) + timedelta(seconds=1)
        for ev in log.events(action="run", outcome="success", since=start, until=end):
            if ours(ev.event):
                return list(ev.event.data_categories)
        return None

    def subjects_of(self, run_id: str) -> list[str] | None:
        """Subject pseudonyms in an output, from lineage (None: no lineage to ask)."""
        if self.lineage is None:
            return None
        try:
            return [str(s) for s in self.lineage.subjects_of(run_id)]
        except InputError:  # a run from before lineage was recorded
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
        """The output ``ref`` (path or run id) as the DPO named it."""
        return self.run_item(self.run_of(ref), ref=ref, key_exposed=key_exposed, via=via)

    def run_item(self, run: Any, *, ref: str | None = None, key_exposed: bool | None = None,
                 via: str | None = None) -> Item:
        """One run's output: what it holds (receipt, policy, audit event), whether encrypted."""
        receipt = _receipt(run)
        out = receipt.get("output", {})
        enc = out.get("encryption")
        fields = receipt.get("fields", {})
        transformed = {k: v.get("transform") for k, v in fields.get("transformed", {}).items()}
        columns = list(out.get("columns") or [])
        pol, note = _load_policy(run.policy_path, run.policy_digest)
        notes = [note] if note else []
        by_col, who = _roles(pol, run.dataset)
        cats = self.categories_from_audit(run)
        if cats is None:
            notes.append("no audit event for the run: categories from the policy")
            cats = sorted({by_col[c] for c in columns if c in by_col})
        clear, reversible, oneway = _identifying(columns, by_col, transformed)
        lin = receipt.get("lineage")
        detail: dict[str, Any] = {
            "output": run.output_ref, "output_sha256": run.output_digest,
            "purpose": run.purpose, "dataset": run.dataset, "input": run.input_ref,
            "input_key": input_key(run),
            "created_at": iso(as_utc(run.finished_at or run.started_at)),
            "records": run.rows_out, "categories": cats, "columns": columns,
            "identifying_in_clear": clear, "identifying_reversible": reversible,
            "identifying_one_way": oneway, "policy": run.policy_path, "notes": notes,
            "subject_kind": who,
            # False: the run had no subject id column, so lineage cannot count its subjects
            "subject_id": (bool(lin.get("subject_id")) if isinstance(lin, dict) else None),
        }
        if via:
            detail["via"] = via
        keyset = enc.get("keyset") if isinstance(enc, dict) else None
        if keyset:
            detail["key_id"] = enc.get("key_id")
        return Item("output", ref or run.output_ref, run_id=run.id, encrypted=bool(enc),
                    keyset=keyset, key_exposed=key_exposed, detail=detail)

    def window_items(self, start: datetime, end: datetime,
                     key_exposed: bool | None = None) -> list[Item]:
        """Every output written in [start, end) (e.g. all a misconfigured bucket received),
        each named by its output path (the run id stays in ``run_id``)."""
        if end <= start:
            raise InputError("the window's end is not after its start", where="--window")
        found = self._runs(runs.c.finished_at >= start, runs.c.finished_at < end)
        return [self.run_item(r, key_exposed=key_exposed, via=f"window {iso(start)}/{iso(end)}")
                for r in reversed(found)]

    def _runs_of_input(self, found: Sequence[Any], chosen: str) -> list[Any]:
        """The runs among ``found`` that read ``chosen``: a path (as given to the run, or a
        file with the same SHA-256) or a run id (prefix)."""
        paths = set(self._path_candidates(chosen))
        sel = [r for r in found if r.input_ref in paths]
        if not sel:
            p = Path(chosen) if Path(chosen).is_absolute() else Path.cwd() / chosen
            if p.is_file():
                digest = hashlib.sha256(p.read_bytes()).hexdigest()
                sel = [r for r in found if r.input_digest == digest]
        if not sel and len(chosen) >= 8:
            sel = [r for r in found if r.id.startswith(chosen.lower())]
        if not sel:
            return []
        keys = {input_key(r) for r in sel}
        return [r for r in found if input_key(r) in keys]

    def _runs_of_file(self, name: str, found: Sequence[Any], chosen: str) -> list[Any]:
        """The runs of dataset ``name`` that read the file ``chosen`` (or the only file read);
        InputError when that file was not read, or when several were and none is chosen."""
        groups: dict[str, list[Any]] = {}
        for r in found:
            groups.setdefault(input_key(r), []).append(r)
        if chosen:
            sel = self._runs_of_input(found, chosen)
            if not sel:
                raise InputError(f"no run of dataset '{name}' read '{chosen}'"
                                 + (" (it was read from: " + ", ".join(
                                     g[0].input_ref for g in list(groups.values())[:5]) + ")"
                                    if groups else ""), where="--dataset")
            return sel
        if len(groups) > 1:
            listed = ", ".join(f"{g[0].input_ref} ({len(g)} run(s))"
                               for g in list(groups.values())[:5])
            first = next(iter(groups.values()))[0].input_ref
            raise InputError(f"dataset '{name}' was read from {len(groups)} different files "
                             f"({listed}): name the exposed one, e.g. "
                             f"--dataset {name}={first}", where="--dataset")
        return list(found)

    def dataset_item(self, spec: str, policy: Any | None) -> Item:
        """A whole source dataset (e.g. the raw table on a lost laptop): every field in clear.

        ``spec`` is the policy's dataset name, or ``NAME=INPUT`` naming the file the runs
        read (its path, or a run id that read it) when runs read the dataset from more than
        one file: subjects and records then describe that file only."""
        name, sep, chosen = (s.strip() for s in spec.partition("="))
        if not name or (sep and not chosen):
            raise InputError(f"'{spec}' is not a dataset name or NAME=INPUT", where="--dataset")
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
        sel = self._runs_of_file(name, found, chosen)
        fields = pol.datasets[name].fields
        cats = sorted({f.category for f in fields.values()})
        clear = sorted(c for c, f in fields.items() if f.category in IDENTIFYING)
        records = max((r.rows_in for r in sel if r.rows_in is not None), default=None)
        if records is None:
            notes.append("no run read this dataset: give --records to estimate its size")
        return Item("dataset", spec.strip(), encrypted=False, detail={
            "dataset": name, "records": records, "categories": cats,
            "input": sel[0].input_ref if sel else None,
            "input_key": input_key(sel[0]) if sel else None,
            "identifying_in_clear": clear, "identifying_reversible": [],
            "identifying_one_way": [], "columns": sorted(fields),
            "runs": [{"run_id": r.id, "rows_in": r.rows_in, "rows_out": r.rows_out}
                     for r in sel],
            "notes": notes, "subject_kind": pol.datasets[name].subjects,
            "subject_id": bool(pol.datasets[name].subject_id)})

    def keyset_item(self, name: str) -> Item:
        state = self.keyset_state(name)
        if state is None:
            raise InputError(f"unknown keyset '{name}' (see `veil keys list`)", where="--keyset")
        return Item("keyset", name, keyset=name, key_exposed=True, detail={"keyset_state": state})


def _subjects_of_item(ev: Evidence, it: Item) -> tuple[set[str] | None, int, str]:
    """(pseudonyms from lineage or None, subjects possibly beyond them, why) for one item.

    An output with lineage is exact. A dataset is the union of the lineage of the runs that
    read that very file; rows those runs dropped are not in any lineage, so each may be one
    more subject (the least number of dropped rows of any run bounds them)."""
    recs = int(it.detail.get("records") or 0)
    if it.kind == "output":
        if it.detail.get("subject_id") is False:
            return None, recs, (f"{it.ref}: the run had no subject id column: at most one "
                                "subject per record")
        subs = ev.subjects_of(it.run_id or "")
        if subs is None:
            return None, recs, (f"{it.ref}: no lineage for the run: at most one subject per "
                                "record")
        return set(subs), 0, ""
    # dataset
    if not it.detail.get("subject_id"):
        return None, recs, (f"dataset {it.ref}: no subject id column in the policy: at most "
                            "one subject per record")
    found: set[str] = set()
    covered = 0
    for r in it.detail.get("runs") or []:
        subs = ev.subjects_of(r["run_id"])
        if subs is None:
            continue
        found.update(subs)
        covered = max(covered, int(r.get("rows_out") or 0))
    if not found and covered == 0:
        return None, recs, (f"dataset {it.ref}: no run that read it has lineage: at most one "
                            "subject per record")
    rest = max(0, recs - covered)
    why = "" if rest == 0 else (f"dataset {it.ref}: {rest} record(s) no run's lineage covers "
                                "(rows the runs dropped): at most one more subject each")
    return found, rest, why


@dataclass
class _Tally:
    """What the exposed items add up to, gathered item by item."""

    pseudonyms: set[str] = field(default_factory=set)
    beyond: int = 0  # subjects possibly not in `pseudonyms` (records without lineage)
    bases: list[str] = field(default_factory=list)
    from_lineage: bool = False
    records: int = 0
    records_known: bool = True
    categories: set[str] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)

    def add_subjects(self, ev: Evidence, it: Item, s: dict[str, Any]) -> None:
        subs, more, why = _subjects_of_item(ev, it)
        if subs is not None:
            self.from_lineage = True
            self.pseudonyms.update(subs)
        self.beyond += more
        if why:
            self.bases.append(why)
        s["subjects"] = None if subs is None else len(subs)
        s["subjects_upper_bound"] = (len(subs) if subs is not None else 0) + more

    def add_records(self, it: Item, s: dict[str, Any], dataset_inputs: set[Any]) -> None:
        if it.detail.get("records") is None:
            self.records_known = False
        if it.kind == "output" and it.detail.get("input_key") in dataset_inputs:
            s["records_counted_in"] = "the exposed dataset file it was made from"
        else:
            self.records += int(it.detail.get("records") or 0)
        self.categories.update(it.detail.get("categories") or [])
        self.warnings += it.detail.get("notes") or []


def _protection(ev: Evidence, it: Item, items: Sequence[Item],
                exposed_keysets: set[str], tally: _Tally) -> dict[str, Any]:
    """Whether an item is unintelligible to whoever holds it, and whether its key is safe."""
    if it.kind == "output":
        key = _key_status(ev, it, exposed_keysets)
        if key["unintelligible"]:
            key["note"] = "encrypted and the key is safe: the data is unintelligible"
        return key
    if it.kind == "keyset":
        if not any(o.kind == "output" and o.keyset == it.ref for o in items):
            tally.warnings.append(f"keyset '{it.ref}' is exposed but no exposed output uses it: "
                                  "add the outputs encrypted under it whose files may be "
                                  "reachable")
        return {"unintelligible": None, "key_safe": False}
    return {"unintelligible": False, "key_safe": None}  # a dataset, or what the DPO declared


def _subjects(tally: _Tally, est: dict[str, Any], has_evidence: bool) -> dict[str, Any]:
    """Subjects: lineage, receipts (records as an upper bound), the DPO's estimate."""
    n_lineage = len(tally.pseudonyms)
    est_subjects = est.get("subjects")
    n_subjects = n_lineage + int(est_subjects or 0)
    sources = [src for src, used in (("lineage", tally.from_lineage),
                                     ("receipts (upper bound)", tally.beyond),
                                     ("DPO estimate", est_subjects is not None)) if used]
    bases = list(tally.bases)
    if est_subjects is not None:
        bases.append(f"{int(est_subjects)} subject(s) estimated by the DPO for items Veil has "
                     "no record of")
    return {"count": n_subjects,
            "exact": tally.beyond == 0 and est_subjects is None and has_evidence,
            "upper_bound": n_subjects + tally.beyond,
            "source": " + ".join(sources) or "none: no evidence and no estimate (give --subjects)",
            "from_lineage": n_lineage if tally.from_lineage else None,
            "estimated": est_subjects, "basis": bases}


def _records(tally: _Tally, est: dict[str, Any], has_evidence: bool) -> dict[str, Any]:
    """Records: the receipts and the DPO's estimate."""
    est_records = est.get("records")
    sources = (["receipts"] if has_evidence else []) + \
        (["DPO estimate"] if est_records is not None else [])
    return {"count": tally.records + int(est_records or 0),
            "exact": tally.records_known and has_evidence and est_records is None,
            "source": " + ".join(sources) or "none: no evidence and no estimate (give --records)",
            "estimated": est_records}


def _categories(cats: set[str], est: dict[str, Any], exposed: Sequence[dict[str, Any]],
                custom: dict[str, Category]) -> dict[str, Any]:
    """Every category exposed, those readable to whoever holds them, and the flagged ones."""
    flags = {c: _category(c, custom) for c in sorted(cats)}
    intelligible = set(est.get("categories") or [])
    for s in exposed:
        if not s.get("unintelligible"):
            intelligible.update(s.get("categories") or [])
    return {"categories": sorted(cats), "intelligible_categories": sorted(intelligible),
            "special": [c for c, k in flags.items() if k.special],
            "criminal": [c for c, k in flags.items() if k.criminal],
            "financial": [c for c, k in flags.items() if k.financial]}


def _summaries(ev: Evidence, items: Sequence[Item], tally: _Tally) -> list[dict[str, Any]]:
    """Each item as the scope shows it, its subjects, records and protection tallied."""
    exposed_keysets = {i.ref for i in items if i.kind == "keyset"}
    dataset_inputs = {i.detail.get("input_key") for i in items if i.kind == "dataset"} - {None}
    summaries = []
    for it in items:
        s = it.to_json()
        if it.kind in ("output", "dataset"):
            tally.add_subjects(ev, it, s)
        s.update(_protection(ev, it, items, exposed_keysets, tally))
        if it.kind in ("output", "dataset"):
            tally.add_records(it, s, dataset_inputs)
        summaries.append(s)
    return summaries


def compute_scope(ev: Evidence, items: Sequence[Item], *, estimates: dict[str, Any] | None = None,
                  custom_categories: dict[str, Category] | None = None) -> tuple[dict[str, Any],
                                                                                  list[str]]:
    """The breach's scope from its items: (scope without ids, sorted subject pseudonyms).

    Subjects are the union of the lineage pseudonyms of the exposed outputs and of the runs
    that read an exposed dataset file (exact when lineage covers every record). Records are
    the sum of the records of exactly those outputs and files (an output made from an exposed
    file is not counted twice). Where lineage is missing, the records bound the subjects from
    above and the scope says why; DPO estimates are added and labelled as such, per figure.
    """
    est = estimates or {}
    tally = _Tally(categories=set(est.get("categories") or []))
    summaries = _summaries(ev, items, tally)
    has_evidence = any(i.kind in ("output", "dataset") for i in items)
    if ev.lineage is None and any(i.kind == "output" for i in items):
        tally.warnings.append("no lineage in this Veil: subject counts are bounded by record "
                              "counts")
    exposed = [s for s in summaries if s["kind"] in ("output", "dataset", "other")]
    scope = {
        "computed_at": iso(datetime.now(UTC)),
        "subjects": _subjects(tally, est, has_evidence),
        "records": _records(tally, est, has_evidence),
        **_categories(tally.categories, est, exposed, custom_categories or {}),
        "items": summaries,
        "all_unintelligible": bool(exposed) and all(s.get("unintelligible") for s in exposed)
        and not est.get("categories"),
        "warnings": sorted(set(tally.warnings)),
    }
    return scope, sorted(tally.pseudonyms)


def subjects_text(subj: dict[str, Any]) -> str:
    """The subject figure for people: the count, whether exact or a bound and where from."""
    count, upper = subj.get("count"), subj.get("upper_bound")
    src = subj.get("source") or "unknown"
    if src.startswith("none"):
        return "unknown: " + src.partition(": ")[2]
    if subj.get("exact"):
        return f"{count} (exact, from {src})"
    if upper is not None and upper != count:
        return f"at least {count}, at most {upper} ({src})"
    return f"{count} (approximate: {src})"


def records_text(recs: dict[str, Any]) -> str:
    count = recs.get("count")
    src = recs.get("source") or "unknown"
    if src.startswith("none"):
        return "unknown: " + src.partition(": ")[2]
    return f"{count} (exact, from {src})" if recs.get("exact") else \
        f"{count} (approximate: {src})"


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
