"""Minimization: only the fields the purpose lists leave the run (deny by default)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from veil.pipeline.context import RunContext


class Minimize:
    name = "minimize"

    def __init__(self, columns: list[str], dropped: dict[str, str]) -> None:
        self.columns = columns
        self.dropped = dropped

    def process(self, batch: pa.RecordBatch, ctx: RunContext) -> pa.RecordBatch:
        # the subject-id column may leave the batch here: hand its ids on (per-subject
        # transforms, lineage) in the context's slot this stage owns
        sid = ctx.plan.dataset.subject_id
        names = batch.schema.names
        ctx.subject_ids = batch.column(names.index(sid)) if sid in names else None
        if names == self.columns:
            return batch
        return pa.RecordBatch.from_arrays([batch.column(c) for c in self.columns],
                                          names=self.columns)

    def describe(self) -> dict[str, Any]:
        return {"kept": list(self.columns), "dropped": dict(self.dropped)}
