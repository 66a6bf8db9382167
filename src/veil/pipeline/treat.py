"""Apply each kept field's treatment (``keep`` or a registered transform) to its array."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from veil.pipeline.plan import FieldPlan
from veil.pipeline.stage import RunContext
from veil.transforms.registry import REGISTRY


class Treat:
    name = "transform"

    def __init__(self, fields: list[FieldPlan]) -> None:
        self.active = [(f.name, REGISTRY[f.treatment.transform], dict(f.treatment.params))
                       for f in fields if f.treatment.transform != "keep"]

    def process(self, batch: pa.RecordBatch, ctx: RunContext) -> pa.RecordBatch:
        if not self.active:
            return batch
        names = batch.schema.names
        arrays = list(batch.columns)
        for name, transform, params in self.active:
            i = names.index(name)
            arrays[i] = transform.apply(arrays[i], params, ctx)
        return pa.RecordBatch.from_arrays(arrays, names=names)

    def describe(self) -> dict[str, Any]:
        return {"transformed": {n: {"transform": t.name, "params": p}
                                for n, t, p in self.active}}
