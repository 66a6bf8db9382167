"""The release gate in parts mode: decided on the driver from the whole output's class counts,
applied by the executors to their own parts.

The tasks that wrote the parts also sent the partial counts of every combination of the gate's
columns (quasi-identifiers, sensitive and rule attributes); merged on the driver they are the
whole output's classes. The gate runs there on that aggregate, both passes: pass 1 measures and
searches the generalization, pass 2 applies it to the aggregate's rows (the gate's columns only,
into no file) and checks every model on the result, as the single-file mode checks its
rewritten file. When the data passes, the parts are published as written. When it generalizes,
a second Spark job rewrites each part: the task opens its part (decrypting it with the output
keyset it unwraps itself), applies the same generalization (``AnonymizationResult.apply``:
generalized QI values and suppression depend on a row's own class only, so part by part equals
the whole) and writes the new part, encrypted under its own associated data, into a new
temporary folder. The driver checks that the rows written add up to what the gate released and
publishes the new folder; the first one is removed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pyarrow as pa

from veil.errors import VeilError
from veil.keys.parts import PartsOutput, PartsTarget, WrappedKeysetRef, part_associated_data
from veil.pipeline.runner import Runner
from veil.risk.gate import GateResult

__all__ = ["gate_parts"]


class _NoFile:
    """Pass 2's sink on the driver: the gate's columns are counted by the gate, not kept."""

    bytes = 0

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema

    def write(self, batch: pa.RecordBatch) -> None:
        pass

    def commit(self) -> str:
        return ""

    def abort(self) -> None:
        pass


def generalized_schema(schema: pa.Schema, levels: dict[str, int]) -> pa.Schema:
    """The released schema: generalized QIs become strings (as in the single-file mode)."""
    return pa.schema([pa.field(f.name, pa.string(), nullable=True)
                      if levels.get(f.name, 0) > 0 else f for f in schema],
                     metadata=schema.metadata)


@dataclass
class RewriteJob:
    """What each task of the rewrite runs: one part in, its generalized part out."""

    source: str  # the first job's temporary folder
    names: list[str]  # part names, by partition
    run_id: str
    schema: pa.Schema  # the parts' schema as written
    keyset: WrappedKeysetRef | None
    transformation: Any  # the gate's AnonymizationResult (no key, no values beyond the QIs')
    target: PartsTarget

    def _batches(self, name: str) -> Iterator[pa.RecordBatch]:
        import pyarrow.parquet as pq

        path = Path(self.source) / name
        src: Any = path
        if self.keyset is not None:
            from veil.keys.files import decrypt_to_buffer

            src = pa.BufferReader(decrypt_to_buffer(
                path, self.keyset.keyset(), part_associated_data(self.run_id, name)))
        with pq.ParquetFile(src) as pf:
            yield from pf.iter_batches(batch_size=65_536)

    def __call__(self, partitions: Iterator[int]) -> Iterator[dict[str, Any]]:
        from pyspark import TaskContext

        tc = TaskContext.get()
        attempt = tc.attemptNumber() if tc is not None else 0
        out = self.target.schema
        for part in partitions:
            name, sink = self.target.open(part, attempt)
            try:
                for batch in self.transformation.apply(self._batches(self.names[part])):
                    if batch.num_rows:
                        sink.write(pa.RecordBatch.from_arrays(
                            [batch.column(f.name).cast(f.type) for f in out], schema=out))
                yield self.target.close(name, part, sink)
            except BaseException:
                sink.abort()
                raise


def gate_parts(runner: Runner, folder: PartsOutput, spark: Any, reader: Any,
               columns: list[str]) -> GateResult:
    """The gate on the merged counts (``reader``: pass 1's rows, the aggregate expanded);
    when it generalizes, the parts rewritten by a Spark job and ``runner.output`` the new
    folder. Raises `RunRefused` (nothing published) when the data may not be released."""
    from veil.pipeline.gate import hierarchies_for
    from veil.risk.gate import enforce, population_table

    plan = runner.plan
    risk = plan.dataset.risk
    assert risk is not None
    schema = pa.schema([plan.output_schema.field(c) for c in columns])
    result = enforce(reader, schema, risk, hierarchies_for(plan, runner.policy_dir),
                     risk.resolve_qis(plan.dataset.fields), sink_factory=_NoFile,
                     sensitive=[n for n, f in plan.dataset.fields.items() if f.sensitive],
                     population=population_table(risk, runner.policy_dir))
    result = replace(result, output=None, sha256=None, bytes=None)
    if not result.generalized:
        return result
    t = result.transformation
    assert t is not None
    new = PartsOutput(folder.path, runner.run_id,
                      generalized_schema(plan.output_schema, t.levels), folder.encryption,
                      folder.target.keyset)
    runner.output = new  # aborted with the run if anything below fails
    try:
        job = RewriteJob(str(folder.tmp), [p["name"] for p in folder.parts], runner.run_id,
                         folder.schema, folder.target.keyset, t, new.target)
        n = len(folder.parts)
        try:
            reported = spark.sparkContext.parallelize(range(n), max(n, 1)).mapPartitions(
                job).collect()
        except Exception as exc:
            raise VeilError(f"the Spark job that generalizes the parts failed "
                            f"({type(exc).__name__}): see the Spark driver log") from exc
        new.collect(reported)
        if new.rows != result.rows_out:
            raise VeilError(f"the generalized parts hold {new.rows:,} rows, the gate released "
                            f"{result.rows_out:,}: nothing was published", where=str(new.path))
    finally:
        folder.abort()
    return result
