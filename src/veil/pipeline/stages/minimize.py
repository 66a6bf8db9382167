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
        # per-subject transforms (date_shift) read the batch's subject ids from the context
        sid = ctx.plan.dataset.subject_id
        if sid is not None and sid in batch.schema.names:
            ctx.extras["subject_ids"] = batch.column(batch.schema.get_field_index(sid))
        if batch.schema.names == self.columns:
            return batch
        return pa.RecordBatch.from_arrays([batch.column(c) for c in self.columns],
                                          names=self.columns)

    def describe(self) -> dict[str, Any]:
        return {"kept": list(self.columns), "dropped": dict(self.dropped)}
