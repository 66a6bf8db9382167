"""Subjects left out of runs: erased (all purposes), restricted (Art. 18: the purposes concerned)
and objecting (Art. 21: purposes based on legitimate interests or public task).

Exclusions are stored by the subject's keyed pseudonym only (``rights_exclusions``), so an
erased subject's id is never kept in clear, and per request: each restriction or objection
lifts only its own. The run's ``rights`` stage (placed before the consent stage, so an erased
subject is counted as erased, not as "consent withdrawn") loads the purpose's active exclusions
ONCE when the run starts (a snapshot, like consent: a request completed while a run is going
applies from the next run);
when there are none the stage is not added at all, so it costs nothing. Otherwise it HMACs each
distinct id once per run (cached) and drops the matching rows, counting them in the receipt by
reason.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from veil.store.schema import rights_exclusions

if TYPE_CHECKING:  # pragma: no cover
    from veil.pipeline.plan import Plan
    from veil.pipeline.stage import RunContext
    from veil.store.workspace import Workspace

ALL = "*"
REASONS = {
    "erased": "excluded: subject erased (Art. 17)",
    "restricted": "excluded: processing restricted (Art. 18)",
    "objected": "excluded: subject objected (Art. 21)",
}
_ORDER = ("erased", "restricted", "objected")


def active_exclusions(conn: sa.Connection, purpose: str) -> dict[str, str]:
    """pseudonym -> reason of every active exclusion that applies to ``purpose``."""
    t = rights_exclusions.c
    rows = conn.execute(sa.select(t.subject, t.reason).where(
        t.lifted_at.is_(None), t.purpose.in_([purpose, ALL]))).all()
    out: dict[str, str] = {}
    for s, r in rows:
        cur = out.get(s)
        if cur is None or _ORDER.index(r) < _ORDER.index(cur):
            out[s] = r
    return out


def add_exclusions(conn: sa.Connection, subject: str, reason: str, purposes: list[str],
                   request_id: str | None, note: str | None = None) -> list[str]:
    """Add (or re-activate) one request's exclusions; returns the purposes newly excluded.
    Idempotent. Exclusions are kept per request, so lifting one request never lifts another's
    (a subject restricted twice stays restricted until both are lifted); ``None`` (an
    exclusion made outside a request) is kept under the empty request id."""
    t = rights_exclusions
    now = datetime.now(UTC)
    request_id = request_id or ""
    added = []
    for p in purposes:
        key = (t.c.subject == subject, t.c.reason == reason, t.c.purpose == p,
               t.c.request_id == request_id)
        row = conn.execute(sa.select(t.c.lifted_at).where(*key)).first()
        if row is None:
            conn.execute(t.insert().values(subject=subject, reason=reason, purpose=p,
                                           request_id=request_id, since=now, note=note))
            added.append(p)
        elif row.lifted_at is not None:
            conn.execute(t.update().where(*key).values(lifted_at=None, since=now, note=note))
            added.append(p)
    return added


def lift_exclusions(conn: sa.Connection, request_id: str) -> list[str]:
    """Lift the active exclusions one request made; returns their purposes. Exclusions of
    other requests (the same subject restricted or objecting again) stay."""
    t = rights_exclusions
    q = sa.select(t.c.purpose).where(t.c.request_id == request_id, t.c.lifted_at.is_(None))
    lifted = sorted(set(conn.execute(q).scalars()))
    if lifted:
        conn.execute(t.update().where(t.c.request_id == request_id, t.c.lifted_at.is_(None))
                     .values(lifted_at=datetime.now(UTC)))
    return lifted


def request_exclusions(conn: sa.Connection, request_id: str) -> list[str]:
    """The purposes one request still excludes (active)."""
    t = rights_exclusions
    return sorted(set(conn.execute(sa.select(t.c.purpose).where(
        t.c.request_id == request_id, t.c.lifted_at.is_(None))).scalars()))


def subject_exclusions(conn: sa.Connection, subject: str) -> list[dict[str, Any]]:
    t = rights_exclusions
    rows = conn.execute(sa.select(t).where(t.c.subject == subject)
                        .order_by(t.c.since, t.c.purpose)).all()
    return [{"reason": r.reason, "purpose": r.purpose, "request": r.request_id or None,
             "since": _iso(r.since), "lifted_at": _iso(r.lifted_at) if r.lifted_at else None,
             "note": r.note} for r in rows]


def _iso(t: datetime) -> str:
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


class RightsFilter:
    """The run's ``rights`` stage: drops rows of erased, restricted or objecting subjects."""

    name = "rights"

    def __init__(self, plan: Plan, workspace: Workspace, excluded: dict[str, str]) -> None:
        from veil.consent.models import SubjectRef

        self.purpose_id = plan.purpose_id
        self.column = plan.dataset.subject_id
        self.excluded = excluded
        self._ref = SubjectRef(workspace.root)
        self._cache: dict[Any, str | None] = {}  # subject id -> reason (None: not excluded)
        self.counts: Counter[str] = Counter()

    @classmethod
    def for_run(cls, plan: Plan, workspace: Workspace) -> RightsFilter | None:
        """The stage, or None when no exclusion applies to the purpose (no cost at all)."""
        if not plan.dataset.subject_id:
            return None
        with workspace.engine.connect() as conn:
            excluded = active_exclusions(conn, plan.purpose_id)
        return cls(plan, workspace, excluded) if excluded else None

    def _reasons(self, distinct: list[Any]) -> list[str | None]:
        from veil.transforms.subject_encrypt import subject_tokens

        cache = self._cache
        new = [v for v in distinct if v not in cache]
        if new:
            toks = subject_tokens(self._ref, [str(v).encode("utf-8") for v in new])
            get = self.excluded.get
            for v, tok in zip(new, toks, strict=True):
                cache[v] = get(tok)
        return [cache[v] for v in distinct]

    def process(self, batch: pa.RecordBatch, ctx: RunContext) -> pa.RecordBatch:
        assert self.column is not None
        col = batch.column(batch.schema.get_field_index(self.column))
        enc = pc.dictionary_encode(col)
        reasons = self._reasons(enc.dictionary.to_pylist())
        hit = np.array([r is not None for r in reasons], dtype=bool)
        if not hit.any():
            return batch
        idx = enc.indices.fill_null(-1).to_numpy(zero_copy_only=False)
        valid = idx >= 0
        drop = np.zeros(len(idx), dtype=bool)
        drop[valid] = hit[idx[valid]]
        per_code = np.bincount(idx[valid], minlength=len(hit))
        for code in np.flatnonzero(hit):
            n = int(per_code[code])
            reason = reasons[int(code)]
            assert reason is not None
            self.counts[reason] += n
            ctx.dropped_rows[REASONS[reason]] += n
        return batch.filter(pa.array(~drop))

    def describe(self) -> dict[str, Any]:
        return {"rights": {"purpose": self.purpose_id, "excluded_subjects": len(self.excluded),
                           "rows_excluded": dict(self.counts)}}
