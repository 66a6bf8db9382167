"""Apply each kept field's treatment (``keep`` or a registered transform) to its array."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from veil.pipeline.context import RunContext
from veil.pipeline.plan import FieldPlan
from veil.transforms.context import describe_treatments, treat_batch
from veil.transforms.registry import REGISTRY


class Treat:
    name = "transform"

    def __init__(self, fields: list[FieldPlan]) -> None:
        self.active = [(f.name, REGISTRY[f.treatment.transform], dict(f.treatment.params))
                       for f in fields if f.treatment.transform != "keep"]
        self._described: dict[str, Any] | None = None

    def process(self, batch: pa.RecordBatch, ctx: RunContext) -> pa.RecordBatch:
        if not self.active:
            return batch
        out = treat_batch(batch, self.active, ctx.transforms, ctx.subject_ids)
        if self._described is None:  # key ids and run-fixed parameters, once per run
            self._described = describe_treatments(self.active, ctx.transforms)
        return out

    def describe(self) -> dict[str, Any]:
        return self._described or describe_treatments(self.active)
