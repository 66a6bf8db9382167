"""The stage contract: `process(batch, ctx) -> batch`, no global state.

What a stage needs (the plan, key primitives, counters) comes in the context, so the same
stages run unchanged in the local engine and inside Spark's `mapInArrow`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

import pyarrow as pa

from veil.pipeline.context import RunContext


class Stage(Protocol):
    name: str

    def process(self, batch: pa.RecordBatch, ctx: RunContext) -> pa.RecordBatch: ...

    def describe(self) -> dict[str, Any]: ...


@dataclass
class StageStats:
    name: str
    rows_in: int = 0
    rows_out: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"stage": self.name, "rows_in": self.rows_in, "rows_out": self.rows_out,
                "seconds": round(self.seconds, 4)}


def run_stages(stages: list[Stage], stats: list[StageStats], batch: pa.RecordBatch,
               ctx: RunContext) -> pa.RecordBatch:
    for stage, st in zip(stages, stats, strict=True):
        t0 = time.perf_counter()
        st.rows_in += batch.num_rows
        batch = stage.process(batch, ctx)
        st.rows_out += batch.num_rows
        st.seconds += time.perf_counter() - t0
    return batch
