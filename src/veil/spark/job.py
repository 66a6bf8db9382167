"""What Spark executors run: the run's stages inside ``mapInArrow``, one task per partition.

Each task conforms its rows to the policy's types (quarantining or failing on bad rows, as the
policy says), runs the stages with keys shipped wrapped (:mod:`veil.spark.keys`), and ends with
one statistics row for the driver: rows per stage, drop reasons, rejects, the digest of what it
read, its distinct subject ids (lineage) and the partial counts of the risk gate's
quasi-identifier and sensitive combinations (a map-side aggregation). The consent and rights
stages become lookups of columns the driver joined to the input.
"""

from __future__ import annotations

import hashlib
import pickle
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from veil.errors import InputError, VeilError
from veil.io.types import conform
from veil.keys.parts import PartsTarget
from veil.pipeline.context import RunContext
from veil.pipeline.plan import Plan
from veil.pipeline.stage import StageStats, run_stages
from veil.spark.keys import ShippedKeys
from veil.spark.subject_bundle import SubjectBundle

STATS = "__veil_stats"
CODE = "__veil_consent_code"
RIGHTS = "__veil_rights_reason"
COUNT = "__veil_count"


class JoinedConsent:
    """The consent stage after the join: the row's reason code is already in a column."""

    name = "consent"

    def process(self, batch: pa.RecordBatch, ctx: RunContext) -> pa.RecordBatch:
        from veil.consent.bulk import BulkCheck

        i = batch.schema.get_field_index(CODE)
        codes = np.asarray(batch.column(i).to_numpy(zero_copy_only=False), dtype=np.uint8)
        rest = batch.drop_columns([CODE])
        result = BulkCheck(codes)
        if result.valid == batch.num_rows:
            return rest
        for reason, n in result.counts().items():
            ctx.dropped_rows[reason] += n
        return rest.filter(result.mask)

    def describe(self) -> dict[str, Any]:
        return {}


class JoinedRights:
    """The rights stage after the join: the row's exclusion (erased, restricted, objected) or
    null is already in a column, found by the driver from the subjects' keyed tokens."""

    name = "rights"

    def process(self, batch: pa.RecordBatch, ctx: RunContext) -> pa.RecordBatch:
        from veil.rights.exclusions import REASONS

        reasons = batch.column(batch.schema.get_field_index(RIGHTS))
        rest = batch.drop_columns([RIGHTS])
        if reasons.null_count == len(reasons):
            return rest
        for value in pc.value_counts(reasons.drop_null()).to_pylist():
            ctx.dropped_rows[REASONS[value["values"]]] += int(value["counts"])
        return rest.filter(pc.is_null(reasons))

    def describe(self) -> dict[str, Any]:
        return {}


@dataclass
class PartitionJob:
    """What every task runs: conform the input, run the stages, report the partition.

    Picklable and free of secrets: the plan, the stages, wrapped keys (see ``keys``)."""

    run_id: str
    plan: Plan
    stages: list[Any]
    keys: ShippedKeys | None
    source_name: str
    quarantine: bool
    consent: bool
    rights: bool
    risk_columns: list[str] | None
    out_schema: pa.Schema
    parts: PartsTarget | None = None  # parts mode: the task writes its own part
    subjects: SubjectBundle | None = None  # transform encrypt: the run's subject keys, sealed
    spark_schema: pa.Schema = field(init=False)

    def __post_init__(self) -> None:
        data = [] if self.parts is not None else list(self.out_schema)
        self.spark_schema = pa.schema([*data, pa.field(STATS, pa.binary())])

    def _data(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        cols = [batch.column(f.name).cast(f.type) for f in self.out_schema]
        return pa.RecordBatch.from_arrays([*cols, pa.nulls(batch.num_rows, pa.binary())],
                                          schema=self.spark_schema)

    def _stats(self, stats: dict[str, Any]) -> pa.RecordBatch:
        cols = [pa.nulls(1, f.type) for f in self.spark_schema if f.name != STATS]
        blob = pa.array([pickle.dumps(stats, protocol=5)], pa.binary())
        return pa.RecordBatch.from_arrays([*cols, blob], schema=self.spark_schema)

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pyspark import TaskContext

        tc = TaskContext.get()
        part = tc.partitionId() if tc is not None else 0
        sink = None
        try:
            task = _Task(self, part)  # opens the run's subject keys with this executor's KEK
            if self.parts is not None:
                name, sink = self.parts.open(part, tc.attemptNumber() if tc is not None else 0)
            for raw in batches:
                out = task.process(raw)
                if out.num_rows and sink is not None:
                    t0 = time.perf_counter()
                    sink.write(pa.RecordBatch.from_arrays(
                        [out.column(f.name).cast(f.type) for f in self.out_schema],
                        schema=self.out_schema))
                    task.write_seconds += time.perf_counter() - t0
                elif out.num_rows:
                    yield self._data(out)
            if sink is not None:
                t0 = time.perf_counter()
                task.written = self.parts.close(name, part, sink)  # type: ignore[union-attr]
                sink = None
                task.write_seconds += time.perf_counter() - t0
        except VeilError as exc:
            if sink is not None:
                sink.abort()
            yield self._stats({"error": {"type": type(exc).__name__, "message": exc.message,
                                         "where": exc.where}})
            return
        except Exception as exc:  # noqa: BLE001 - reported by kind only: no values in logs
            if sink is not None:
                sink.abort()
            yield self._stats({"error": {"type": "internal", "message": type(exc).__name__,
                                         "where": f"{self.source_name}: partition {part}"}})
            return
        yield self._stats(task.report())


class _Task:
    """One partition's work on an executor: conform, set bad rows aside, run the stages,
    and remember what the driver needs (digest, rejects, subjects, risk counts)."""

    def __init__(self, job: PartitionJob, part: int) -> None:
        self.job, self.part = job, part
        self.ctx = RunContext(run_id=job.run_id, plan=job.plan, keys=job.keys, partition=part)
        if job.subjects is not None:  # opened with this executor's KEK (VeilError if none)
            state = self.ctx.transforms.state
            state.subject_keys, state.subject_ref = job.subjects.open()  # type: ignore[assignment]
        self.stats = [StageStats(s.name) for s in job.stages]
        self.digest = hashlib.sha256()
        self.rows_in = 0
        self.rejects: list[dict[str, Any]] = []
        self.subjects: list[pa.Array] = []
        self.partials: list[pa.Table] = []
        self.written: dict[str, Any] | None = None
        self.write_seconds = 0.0

    def process(self, raw: pa.RecordBatch) -> pa.RecordBatch:
        job = self.job
        data = raw.select(job.plan.read)
        self.digest.update(_ipc(data))
        first = self.rows_in
        self.rows_in += raw.num_rows
        batch, bad = conform(data, job.plan.types)
        if bad:
            keep = self._set_aside(data, bad, first)
            batch, raw = batch.filter(keep), raw.filter(keep)
        if job.consent:
            batch = batch.append_column(CODE, raw.column(CODE))
        if job.rights:
            batch = batch.append_column(RIGHTS, raw.column(RIGHTS))
        self.ctx.subject_ids = None
        out = run_stages(job.stages, self.stats, batch, self.ctx)
        ids = self.ctx.subject_ids
        if ids is not None and len(ids):  # lineage: subjects of the rows that left
            self.subjects.append(pc.unique(ids))
        if job.risk_columns is not None and out.num_rows:
            self.partials.append(group_counts(pa.Table.from_batches([out]), job.risk_columns))
        return out

    def _set_aside(self, data: pa.RecordBatch, bad: list[Any], first: int) -> pa.Array:
        """Quarantine the rows that do not conform (or fail the task, by the policy); returns
        the mask of the rows kept."""
        rows = sorted({b.row for b in bad})
        if not self.job.quarantine:
            b = bad[0]
            raise InputError(
                f"not {b.reason.removeprefix('not ')} (the policy says on_bad_rows: "
                "fail; set quarantine to set such rows aside)",
                where=f"{self.job.source_name}: partition {self.part}, row {first + b.row + 1}"
                      f", column '{b.column}'")
        by_row = dict(zip(rows, data.take(pa.array(rows)).to_pylist(), strict=True))
        self.rejects.extend({"partition": self.part, "record": first + b.row + 1,
                             "column": b.column, "reason": b.reason, "raw": by_row[b.row]}
                            for b in bad)
        keep = np.ones(data.num_rows, bool)
        keep[rows] = False
        return pa.array(keep)

    def report(self) -> dict[str, Any]:
        risk = None
        if self.job.risk_columns is not None and self.partials:
            risk = merge_counts(self.partials, self.job.risk_columns)
        ids_all = None
        if self.subjects:
            ids_all = pc.unique(pa.chunked_array(self.subjects).combine_chunks())
        return {
            "partition": self.part, "rows_in": self.rows_in, "digest": self.digest.hexdigest(),
            "stages": [(s.rows_in, s.rows_out, s.seconds) for s in self.stats],
            "dropped": dict(self.ctx.dropped_rows), "rejects": self.rejects,
            "subjects": ids_all, "risk": risk, "part": self.written,
            "write_seconds": self.write_seconds}


def _ipc(batch: pa.RecordBatch) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as w:
        w.write_batch(batch)
    return sink.getvalue().to_pybytes()  # type: ignore[no-any-return]


def group_counts(table: pa.Table, columns: list[str]) -> pa.Table:
    if not columns:
        return pa.table({COUNT: pa.array([table.num_rows], pa.int64())})
    g = table.group_by(columns, use_threads=False).aggregate([([], "count_all")])
    return g.select([*columns, "count_all"]).rename_columns([*columns, COUNT])


def merge_counts(parts: list[pa.Table], columns: list[str]) -> pa.Table:
    t = pa.concat_tables(parts)
    if not columns:
        return pa.table({COUNT: pa.array([pc.sum(t[COUNT]).as_py() or 0], pa.int64())})
    g = t.group_by(columns, use_threads=False).aggregate([(COUNT, "sum")])
    return g.select([*columns, f"{COUNT}_sum"]).rename_columns([*columns, COUNT])
