"""The run's ``rights`` stage: drops rows of erased, restricted or objecting subjects.

Placed before the consent stage, so an erased subject is counted as erased, not as "consent
withdrawn". It loads the purpose's active exclusions ONCE when the run starts (a snapshot, like
consent: a request completed while a run is going applies from the next run); when there are
none the stage is not added at all, so it costs nothing. Otherwise it HMACs each distinct id
once per run (cached) and drops the matching rows, counting them in the receipt by reason.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from veil.consent.models import SubjectRef
from veil.pipeline.context import RunContext
from veil.pipeline.plan import Plan
from veil.rights.exclusions import REASONS, active_exclusions
from veil.store.workspace import Workspace
from veil.transforms.subject_encrypt import subject_tokens


class RightsFilter:
    """The run's ``rights`` stage: drops rows of erased, restricted or objecting subjects."""

    name = "rights"

    def __init__(self, plan: Plan, workspace: Workspace, excluded: dict[str, str]) -> None:
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
