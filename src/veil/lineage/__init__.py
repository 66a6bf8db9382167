"""Lineage: which data subjects went into which run output, and which models were trained on it.

Every published run output gets one row in ``lineage_outputs`` and its set of subjects: the
sorted 16-byte prefixes of their keyed pseudonyms (`veil.consent.models.SubjectRef` tokens,
HMAC-SHA256), split by their first 12 bits into up to 4096 bucket blobs (``lineage_subjects``,
indexed on the bucket) that numpy binary-searches. A subject lookup reads only the subject's
bucket of each output (about 4 KB per million-subject output), so an erasure or access request
costs the same whatever the size and number of outputs; a million-subject output costs 16 MB.
Models are registered by users against the runs they were trained on
(``veil lineage register-model``), so `Lineage.subject` answers the question no other tool can:
which outputs and which trained models contain this person's data (Art. 15(1)(c), and the
rebuild list of an erasure).

A run gathers its subjects in bounded memory (`veil.lineage.collector`): past a budget of
distinct ids they are hashed, sorted and spilled to anonymous temporary files in the workspace,
then merged bucket range by bucket range (`veil.lineage.spill`) and stored a few hundred
buckets at a time, so a run's memory does not grow with its number of subjects.

The set holds the subjects of the rows that left the run's stages (after consent and rights
exclusions); rows the risk gate suppressed afterwards are still counted (a safe superset).
Pseudonym prefixes of 128 bits make an accidental match between two subjects negligible
(about n^2 / 2^129).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import sqlalchemy as sa

from veil.errors import InputError, RunRefused
from veil.lineage.collector import LineageCollector
from veil.lineage.sets import BUCKET_BITS, PREFIX_BYTES, PseudonymSet, bucket_of, paused_gc
from veil.lineage.spill import SpilledSet
from veil.lineage.stale import StaleReport, stale_subjects

if TYPE_CHECKING:  # pragma: no cover
    from veil.store.workspace import Workspace

__all__ = [
    "BUCKET_BITS",
    "PREFIX_BYTES",
    "Lineage",
    "LineageCollector",
    "ModelRecord",
    "OutputRecord",
    "PseudonymSet",
    "SpilledSet",
    "StaleReport",
    "SubjectLineage",
    "SubjectSet",
    "bucket_of",
    "discard_output",
    "paused_gc",
    "record_output",
    "stale_subjects",
]

#: Bucket rows written per statement: a bounded slice of a large set in memory at a time.
INSERT_CHUNK = 256


class SubjectSet(Protocol):
    """What `record_output` stores: a `PseudonymSet` (in memory) or a `SpilledSet` (merged
    from disk)."""

    def __len__(self) -> int: ...

    def buckets(self) -> Iterable[tuple[int, bytes]]: ...


@dataclass(frozen=True)
class OutputRecord:
    run_id: str
    output: str
    digest: str
    purpose: str
    dataset: str
    created_at: datetime
    rows: int
    subject_count: int
    categories: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "output": self.output, "sha256": self.digest,
                "purpose": self.purpose, "dataset": self.dataset,
                "created_at": _iso(self.created_at), "rows": self.rows,
                "subjects": self.subject_count, "data_categories": list(self.categories)}


@dataclass(frozen=True)
class ModelRecord:
    name: str
    trained_on: list[str]
    registered_at: datetime
    registered_by: str
    description: str | None = None
    retrain_subjects: int = 0  # subjects marked since (erased, withdrawn, ...): retrain it
    accepted_stale: str | None = None  # the reason given to register it on stale data

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "trained_on": list(self.trained_on),
                "registered_at": _iso(self.registered_at), "registered_by": self.registered_by,
                "description": self.description,
                "needs_retraining": self.retrain_subjects > 0,
                "affected_subjects": self.retrain_subjects,
                "accepted_stale": self.accepted_stale}


@dataclass(frozen=True)
class SubjectLineage:
    subject: str  # the subject's pseudonym (hex), never the id
    outputs: list[OutputRecord]
    models: list[ModelRecord]

    def to_dict(self) -> dict[str, Any]:
        return {"subject": self.subject, "outputs": [o.to_dict() for o in self.outputs],
                "models": [m.to_dict() for m in self.models]}


def _iso(t: datetime) -> str:
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t


def _tables() -> tuple[sa.Table, sa.Table, sa.Table]:
    from veil.store.schema import lineage_model_runs, lineage_models, lineage_outputs

    return lineage_outputs, lineage_models, lineage_model_runs


def _subjects_table() -> sa.Table:
    from veil.store.schema import lineage_subjects

    return lineage_subjects


def record_output(conn: sa.Connection, *, run_id: str, output: str, digest: str, purpose: str,
                  dataset: str, rows: int, categories: list[str], subjects: SubjectSet,
                  at: datetime | None = None) -> None:
    """Write one output's lineage row and its subjects' buckets, `INSERT_CHUNK` buckets per
    statement (inside the run's before-publish transaction)."""
    t = _tables()[0]
    conn.execute(t.insert().values(
        run_id=run_id, output_ref=output, output_digest=digest, purpose=purpose,
        dataset=dataset, created_at=at or datetime.now(UTC), rows=rows,
        subject_count=len(subjects), categories=json.dumps(sorted(set(categories)))))
    insert = _subjects_table().insert()
    rows_: list[dict[str, Any]] = []
    with paused_gc():
        for b, blob in subjects.buckets():
            rows_.append({"run_id": run_id, "bucket": b, "subjects": blob})
            if len(rows_) == INSERT_CHUNK:
                conn.execute(insert, rows_)
                rows_ = []
        if rows_:
            conn.execute(insert, rows_)


def discard_output(engine: sa.Engine, run_id: str) -> None:
    """Remove a run's lineage row (the run failed after writing it: nothing was published)."""
    t = _tables()[0]
    with engine.begin() as conn:
        conn.execute(_subjects_table().delete().where(_subjects_table().c.run_id == run_id))
        conn.execute(t.delete().where(t.c.run_id == run_id))


def _output_of(row: Any) -> OutputRecord:
    return OutputRecord(run_id=row.run_id, output=row.output_ref, digest=row.output_digest,
                        purpose=row.purpose, dataset=row.dataset,
                        created_at=_utc(row.created_at), rows=int(row.rows),
                        subject_count=int(row.subject_count),
                        categories=list(json.loads(row.categories or "[]")))


class Lineage:
    """The workspace's lineage: outputs, the subjects in each, and models trained on them."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace.ready()
        self.engine = workspace.engine
        from veil.consent.models import SubjectRef

        self.ref = SubjectRef(workspace.root)

    def _cols(self) -> list[Any]:
        return list(_tables()[0].c)

    def outputs(self) -> list[OutputRecord]:
        """Every recorded output, oldest first."""
        t = _tables()[0]
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(*self._cols()).order_by(t.c.created_at, t.c.run_id))
            return [_output_of(r) for r in rows]

    def output(self, ref: str) -> OutputRecord:
        """One output, by run id (or a unique prefix of 6+ characters) or output path."""
        return _output_of(self._row(ref))

    def _row(self, ref: str) -> Any:
        t = _tables()[0]
        cols = self._cols()
        ref = str(ref).strip()
        if not ref:
            raise InputError("an output reference is empty: give a run id or an output path")
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(*cols).where(t.c.run_id == ref)).all()
            if not rows and len(ref) >= 6 and all(c in "0123456789abcdef" for c in ref):
                rows = conn.execute(sa.select(*cols).where(t.c.run_id.like(ref + "%"))).all()
            if not rows:
                paths = {ref, str(Path(ref).resolve())}
                rows = conn.execute(sa.select(*cols).where(t.c.output_ref.in_(paths))
                                    .order_by(t.c.created_at.desc())).all()[:1]
        if not rows:
            raise InputError(f"no recorded run output '{ref}' (give a run id from "
                             "`veil lineage outputs` or the output path a run wrote)")
        if len(rows) > 1:
            raise InputError(f"run id prefix '{ref}' is ambiguous ({len(rows)} runs match)")
        return rows[0]

    def subjects_of(self, run_id: str) -> list[str]:
        """The pseudonym prefixes (32 hex digits) of the subjects in one output."""
        rid = self._row(run_id).run_id
        s = _subjects_table()
        with self.engine.connect() as conn:
            blob = b"".join(bytes(b) for b in conn.execute(
                sa.select(s.c.subjects).where(s.c.run_id == rid).order_by(s.c.bucket)).scalars())
        return PseudonymSet.from_bytes(blob).hex()

    def token(self, subject_id: str) -> str:
        """The subject's pseudonym (64 hex digits) in this workspace."""
        if not isinstance(subject_id, str) or not subject_id.strip():
            raise InputError("a subject id is empty")
        return self.ref.token(subject_id)

    def subject(self, subject_id: str) -> SubjectLineage:
        """Every output and model that contains the subject (by id; looked up by pseudonym)."""
        return self.subject_by_token(self.token(subject_id))

    def subject_by_token(self, token: str) -> SubjectLineage:
        """Outputs holding the pseudonym: one indexed read of its bucket in every output."""
        t, s = _tables()[0], _subjects_table()
        hits: list[str] = []
        with self.engine.connect() as conn:
            for rid, blob in conn.execute(sa.select(s.c.run_id, s.c.subjects)
                                          .where(s.c.bucket == bucket_of(token))):
                if token in PseudonymSet.from_bytes(bytes(blob)):
                    hits.append(rid)
            rows = conn.execute(sa.select(*self._cols()).where(t.c.run_id.in_(hits))
                                .order_by(t.c.created_at, t.c.run_id)).all() if hits else []
        found = [_output_of(r) for r in rows]
        runs = {o.run_id for o in found}
        models = [m for m in self.models() if runs & set(m.trained_on)]
        return SubjectLineage(token, found, models)

    def running(self) -> list[dict[str, Any]]:
        """Runs still running: their outputs are not recorded yet and may hold anyone."""
        from veil.store.schema import runs

        r = runs.c
        with self.engine.connect() as conn:
            return [{"run_id": x.id, "purpose": x.purpose, "started_at": _iso(x.started_at)}
                    for x in conn.execute(sa.select(r.id, r.purpose, r.started_at)
                                          .where(r.status == "running").order_by(r.started_at))]

    def register_model(self, name: str, trained_on: list[str], *, actor: str,
                       description: str | None = None, accept_stale: bool = False,
                       reason: str | None = None) -> ModelRecord:
        """Record that model ``name`` was trained on these run outputs (run ids or paths).

        Refused (`RunRefused`) when an output holds subjects erased, withdrawn, objecting or
        restricted since (`stale_subjects`): the model would keep what it learnt from them.
        ``accept_stale`` with a ``reason`` registers it anyway; the reason and the counts are
        kept with the model and in the audit event."""
        from veil.policy.model import IDENT

        if not isinstance(name, str) or not re.match(IDENT, name) or len(name) > 128:
            raise InputError(f"model name {name!r} is not a name (letters, digits, _ . -)")
        if not trained_on:
            raise InputError("--trained-on needs at least one run (a run id or output path)")
        if accept_stale and not (reason and reason.strip()):
            raise InputError("--accept-stale needs --reason TEXT (why the model may keep "
                             "stale subjects' data)")
        outs = [self.output(r) for r in trained_on]
        run_ids = list(dict.fromkeys(o.run_id for o in outs))
        stale = [r for r in (stale_subjects(self.workspace, rid) for rid in run_ids) if r]
        if stale and not accept_stale:
            raise RunRefused(
                f"the training data holds {_stale_text(stale)}; retrain on a fresh run, or "
                "register with --accept-stale --reason TEXT", where=f"model '{name}'")
        _, tm, tr = _tables()
        now = datetime.now(UTC)
        why = reason.strip()[:2000] if accept_stale and stale and reason else None
        try:
            with self.engine.begin() as conn:
                if conn.execute(sa.select(tm.c.name).where(tm.c.name == name)).first():
                    raise InputError(f"model '{name}' is already registered (choose a new name "
                                     "for a retrained version, e.g. name.v2)")
                conn.execute(tm.insert().values(name=name, description=description,
                                                registered_at=now, registered_by=actor))
                conn.execute(tr.insert(), [{"model": name, "run_id": r} for r in run_ids])
                if why:
                    from veil.store.schema import lineage_stale_accepts

                    conn.execute(lineage_stale_accepts.insert().values(
                        model=name, reason=why, stale=[r.to_dict() for r in stale],
                        accepted_by=actor, accepted_at=now))
        except sa.exc.IntegrityError:
            raise InputError(f"model '{name}' is already registered") from None
        self._audit(actor, name, outs, stale if why else [], why)
        return ModelRecord(name, run_ids, now, actor, description, accepted_stale=why)

    def _audit(self, actor: str, name: str, outs: list[OutputRecord],
               stale: list[StaleReport], why: str | None) -> None:
        from veil.audit.event import AuditEvent
        from veil.audit.log import AuditLog

        purposes = sorted({o.purpose for o in outs})
        cats = sorted({c for o in outs for c in o.categories})
        counts = {"runs": len(outs), "subjects": sum(o.subject_count for o in outs)}
        details: dict[str, Any] = {"model": name}
        if why:
            counts["stale_subjects"] = sum(r.total for r in stale)
            details.update({"accepted_stale": why, "stale": _stale_text(stale)})
        AuditLog(self.workspace).append([AuditEvent(
            time=datetime.now(UTC), actor=actor or "unknown", action="lineage.model.register",
            purpose=",".join(purposes)[:200], legal_basis="Art. 5(2) accountability",
            outcome="success", data_categories=cats, counts=counts,
            digests={f"output:{o.run_id}": f"sha256:{o.digest}" for o in outs},
            details=details)])

    def models(self) -> list[ModelRecord]:
        """Registered models, with how many marked subjects each must be retrained without."""
        from veil.lineage.marks import flagged_models
        from veil.store.schema import lineage_stale_accepts as ta

        _, tm, tr = _tables()
        with self.engine.connect() as conn:
            runs: dict[str, list[str]] = {}
            for m, r in conn.execute(sa.select(tr.c.model, tr.c.run_id).order_by(tr.c.run_id)):
                runs.setdefault(m, []).append(r)
            flags = flagged_models(conn)
            accepted = dict(conn.execute(sa.select(ta.c.model, ta.c.reason)).all())
            return [ModelRecord(r.name, runs.get(r.name, []), _utc(r.registered_at),
                                r.registered_by, r.description, flags.get(r.name, 0),
                                accepted.get(r.name))
                    for r in conn.execute(sa.select(tm).order_by(tm.c.registered_at, tm.c.name))]

    def model(self, name: str) -> ModelRecord:
        for m in self.models():
            if m.name == name:
                return m
        raise InputError(f"no registered model '{name}' (see `veil lineage models`)")


def _stale_text(stale: list[StaleReport]) -> str:
    """'3 subjects (2 erased, 1 withdrawn)' over all the outputs."""
    total = StaleReport("", "", *(sum(getattr(r, k) for r in stale)
                                  for k in ("erased", "withdrawn", "objecting", "restricted")))
    return total.describe()
