"""The run's consent stage: keep only rows whose subject holds valid consent at run time.

For a purpose that needs consent (legal basis consent, or ``consent_required: true``), the stage
loads the purpose's consent state as of the run's start once (one query) and indexes its subject
ids once, then filters every batch with the vectorized bulk check. Dropped rows are counted in
the run context by reason: "no consent", "consent withdrawn", "consent expired", "consent
under an outdated notice", "no subject id". For other purposes the stage passes batches
through untouched.

A withdrawal takes effect for every run that starts after it; a run that started before keeps
the state it started with (its snapshot), so one run never mixes two states.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from veil.consent.bulk import ConsentSnapshot
from veil.consent.ledger import Ledger
from veil.consent.models import format_us, to_us
from veil.errors import RunRefused

if TYPE_CHECKING:
    from veil.pipeline.context import RunContext
    from veil.pipeline.plan import Plan
    from veil.store.workspace import Workspace


class ConsentFilter:
    """``ConsentFilter(plan, workspace, at)``: the consent stage of a run (see module doc)."""

    name = "consent"

    def __init__(self, plan: Plan, workspace: Workspace, at: datetime, *,
                 ledger: Ledger | None = None) -> None:
        self.purpose_id = plan.purpose_id
        self.active = plan.purpose.needs_consent
        self.column = plan.dataset.subject_id
        self.at_us = to_us(at)
        self._ledger = ledger
        self._workspace = workspace
        self._policy = plan.policy
        self._snapshot: ConsentSnapshot | None = None
        self.rows_checked = 0
        self.rows_kept = 0
        if self.active and not self.column:
            raise RunRefused(
                f"purpose '{plan.purpose_id}' needs consent, but dataset '{plan.dataset_id}' "
                "declares no subject_id to check it against: add subject_id to the dataset",
                where=plan.policy.locate("datasets", plan.dataset_id))

    @property
    def snapshot(self) -> ConsentSnapshot:
        if self._snapshot is None:
            ledger = self._ledger or Ledger(self._workspace, self._policy)
            snapshot = ledger.snapshot(self.purpose_id, self.at_us)
            snapshot.index()  # built once per run, here (a parallel run's parent, before forking)
            self._snapshot = snapshot
        return self._snapshot

    def process(self, batch: pa.RecordBatch, ctx: RunContext) -> pa.RecordBatch:
        if not self.active:
            return batch
        assert self.column is not None
        result = self.snapshot.check(batch.column(self.column))
        self.rows_checked += batch.num_rows
        kept = result.valid
        self.rows_kept += kept
        if kept == batch.num_rows:
            return batch
        for reason, n in result.counts().items():
            ctx.dropped_rows[reason] += n
        return batch.filter(result.mask)

    def describe(self) -> dict[str, Any]:
        if not self.active:
            return {"consent": {"purpose": self.purpose_id, "required": False}}
        d: dict[str, Any] = {"purpose": self.purpose_id, "required": True,
                             "subject_id": self.column, "as_of": format_us(self.at_us),
                             "rows_checked": self.rows_checked, "rows_kept": self.rows_kept}
        if self._snapshot is not None:
            d["ledger_subjects"] = len(self._snapshot)
            d["required_notice_seq"] = self._snapshot.required_notice
        return {"consent": d}
