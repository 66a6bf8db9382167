"""The run on Apache Spark: the local run's stages, inside ``mapInArrow``, one receipt.

What happens where:

* **Driver.** Loads the policy, makes the plan from the DataFrame's columns, builds the stages
  with the local engine's ``build_stages`` and runs them once over an empty batch: that loads
  the consent snapshot and asks for every key the transforms need (creating missing keysets,
  as a local run would), so the receipt's key ids come from the driver.
* **Consent** is a join: the snapshot (subject, reason code) becomes a small DataFrame, joined
  to the input on the subject id (broadcast when it is small, a partitioned join otherwise); an
  executor then keeps the rows whose code is "ok" and counts the others by reason.
* **Executors** run the other stages unchanged (``Stage.process(batch, ctx)``) in
  ``mapInArrow`` (:mod:`veil.spark.job`).
* **Driver again.** Streams the result (:mod:`veil.spark.collect`) into the run's output
  (encrypted at rest when the purpose says so), merges the statistics, and hands everything to
  the same `veil.pipeline.runner.Runner` the local engine drives: the release gate (pass 1 on
  the merged aggregate without re-reading anything; when it generalizes, pass 2 on the staged
  output), one receipt, one run row and the same audit events.

Input digest: a DataFrame has no bytes of its own, so ``input.sha256`` is the SHA-256 of the
sorted per-partition digests (each the SHA-256 of the Arrow IPC stream of the columns read),
stable for the same data in the same partitions; for a file read by ``run`` itself (a path
``source``) it is the file's SHA-256, the local engine's definition.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from veil._actor import default_actor
from veil.errors import InputError, VeilError
from veil.io.readers import CsvOptions, Reject
from veil.keys.parts import PartsOutput
from veil.pipeline.plan import Plan, make_plan
from veil.pipeline.runner import Runner, RunResult
from veil.pipeline.stage import Stage, StageStats, run_stages
from veil.policy.loader import load_policy
from veil.policy.model import Policy
from veil.spark.collect import arrow_batches
from veil.spark.job import (
    CODE,
    COUNT,
    RIGHTS,
    STATS,
    JoinedConsent,
    JoinedRights,
    PartitionJob,
    merge_counts,
)
from veil.spark.keys import RecordingKeys, ShippedKeys, ship_keys, ship_keyset
from veil.spark.sources import resolve_source
from veil.store.workspace import Workspace
from veil.transforms.keys import workspace_keys

__all__ = ["SparkRunResult", "run"]

RSUBJECT = "__veil_rights_subject"
SUBJECT = "__veil_consent_subject"
#: ledgers up to this many subjects are broadcast to every executor; larger ones are joined
#: by partition (a shuffle), which scales with the cluster instead of the executor's memory
BROADCAST_SUBJECTS = 2_000_000
_GATE_BATCH = 65_536


@dataclass
class SparkRunResult(RunResult):
    """A run's result; ``dataframe(spark)`` reads the published output back into Spark."""

    def dataframe(self, spark: Any, workspace: Workspace | str | Path | None = None) -> Any:
        from veil.keys.files import read

        return spark.createDataFrame(read(self.output, workspace=workspace))


@dataclass
class _Merged:
    rows_in: int = 0
    partitions: int = 0
    digests: list[str] = field(default_factory=list)
    stages: list[list[float]] = field(default_factory=list)
    dropped: Counter[str] = field(default_factory=Counter)
    rejects: list[dict[str, Any]] = field(default_factory=list)
    subjects: list[pa.Array] = field(default_factory=list)
    risk: list[pa.Table] = field(default_factory=list)
    parts: list[dict[str, Any]] = field(default_factory=list)
    write_seconds: float = 0.0
    error: dict[str, Any] | None = None

    def add(self, s: dict[str, Any]) -> None:
        if "error" in s:
            self.error = self.error or s["error"]
            return
        self.partitions += 1
        self.rows_in += s["rows_in"]
        self.digests.append(s["digest"])
        if not self.stages:
            self.stages = [[0, 0, 0.0] for _ in s["stages"]]
        for acc, st in zip(self.stages, s["stages"], strict=True):
            for i in range(3):
                acc[i] += st[i]
        self.dropped.update(s["dropped"])
        self.rejects.extend(s["rejects"])
        if s["subjects"] is not None:
            self.subjects.append(s["subjects"])
        if s["risk"] is not None:
            self.risk.append(s["risk"])
        if s["part"] is not None:
            self.parts.append(s["part"])
        self.write_seconds += s["write_seconds"]


def _raise_error(err: dict[str, Any]) -> None:
    import veil.errors as errors
    from veil.crypto import errors as crypto_errors

    kind = getattr(errors, err["type"], None) or getattr(crypto_errors, err["type"], None)
    if isinstance(kind, type) and issubclass(kind, VeilError):
        raise kind(err["message"], where=err["where"])
    raise VeilError(f"a Spark task failed with an internal error ({err['message']})",
                    where=err["where"])


def run(
    source: Any,
    policy: Policy | str | Path,
    purpose: str,
    output: str | Path,
    *,
    dataset: str | None = None,
    workspace: Workspace | str | Path | None = None,
    receipt: str | Path | None = None,
    rejects: str | Path | None = None,
    input_format: str | None = None,
    csv_options: CsvOptions | None = None,
    table: str | None = None,
    actor: str | None = None,
    spark: Any = None,
    broadcast_ledger: bool | None = None,
    parts: bool = False,
    overwrite: bool = False,
    source_name: str | None = None,
) -> SparkRunResult:
    """Run `purpose` of `policy` over a Spark DataFrame (or a file Spark reads) on the cluster,
    and publish the result to `output` with one receipt and the run's audit events.

    Same stages, same receipt, same audit events as `veil.run`; rows come out in another
    order. `broadcast_ledger` forces (True) or forbids (False) broadcasting the consent
    snapshot (default: broadcast up to 2,000,000 subjects). `parts` (or an `output` string
    ending in "/") writes a folder of Parquet parts, one per Spark task, each written and
    encrypted by its executor, with a manifest (:mod:`veil.keys.parts`); a risk gate that
    generalizes is decided on the driver and applied to every part by the executors
    (:mod:`veil.spark.parts_gate`). An `output` URI (``s3://bucket/key.parquet``,
    ``delta://PATH``) is published as by `veil.run` (single file only). A path `source` is read
    by Spark: a local file or folder (a partitioned dataset), or a URI (``s3a://``, ``gs://``,
    ``hdfs://``...) handed to Spark untouched; `table` reads ``spark.table(table)`` from the
    session's catalog (`input_format`, `csv_options` as for `veil.run`; database tables: read
    them with ``spark.read.jdbc`` and pass the DataFrame). `overwrite` replaces an existing
    output, as for `veil.run`. `source_name` is what the receipt calls the input (a stream's
    micro-batch, say). Raises a `VeilError` and publishes nothing when the run cannot complete.
    """
    pol = policy if isinstance(policy, Policy) else load_policy(policy)
    pol.purpose(purpose)
    ws = workspace if isinstance(workspace, Workspace) else Workspace.find(workspace)
    ws.ready()
    from veil.pipeline.outputs import output_kind, remote_target

    kind = output_kind(str(output))
    if kind != "file" and parts:
        raise InputError("a parts output is a folder every executor writes to: give a path "
                         "the driver and the executors share (a mounted object store), or a "
                         "single output (a .parquet object, a Delta table)", where=str(output))
    out_path = Path(output)
    parts = parts or (kind == "file" and str(output).endswith(("/", os.sep)))
    if kind == "file" and not parts and out_path.suffix.lower() not in (".parquet", ".pq"):
        raise InputError("output must be a Parquet file (.parquet), or a folder of parts "
                         "(parts=True, or a path ending in '/')", where=str(out_path))
    df, src = resolve_source(source, spark, input_format, csv_options or CsvOptions(),
                             table)
    if source_name:
        src.name = source_name
    if spark is None:
        spark = df.sparkSession
    plan = make_plan(pol, purpose, list(df.columns), dataset)
    receipt_path = Path(receipt) if receipt else out_path.with_name(out_path.name + ".receipt.json")
    rejects_path = (Path(rejects) if rejects
                    else out_path.with_name(out_path.name + ".rejects.jsonl"))
    keys = RecordingKeys(workspace_keys(ws))
    target = remote_target(ws, str(output), str(receipt) if receipt else None,
                           str(rejects) if rejects else None, overwrite)
    if target is not None:
        out_path, receipt_path, rejects_path = (target.out_path, target.receipt_path,
                                                target.rejects_path)
    try:
        with Runner(ws, pol, plan, src, out_path, receipt_path, rejects_path,
                    actor or default_actor(), keys, overwrite=overwrite,
                    target=target) as runner:
            result = _execute(runner, df, spark, keys, broadcast_ledger, parts)
    finally:
        if target is not None:
            target.drop()
    return SparkRunResult(**vars(result))


def _prepare(runner: Runner, keys: RecordingKeys
             ) -> tuple[list[Any], ShippedKeys | None, Any, Any]:
    """Executor stages, the keys to ship, the consent snapshot and the rights stage (each
    None when the run has no such stage).

    The driver's stages see one empty batch: the consent stage loads its snapshot, the
    transform stage describes itself with the driver's keys (which records their ids and
    creates missing keysets), and we learn which keysets the executors need."""
    from veil.io.types import arrow_schema
    from veil.pipeline.stages import ConsentFilter, RightsFilter

    plan = runner.plan
    stages = runner.build_stages()
    batch = pa.RecordBatch.from_pylist([], schema=arrow_schema(plan.read, plan.types))
    run_stages(stages, [StageStats(s.name) for s in stages], batch, runner.ctx)
    snapshot = rights = None
    remote: list[Any] = []
    for s in stages:
        if isinstance(s, ConsentFilter) and s.active:
            snapshot = s.snapshot
            remote.append(JoinedConsent())
        elif isinstance(s, RightsFilter):
            rights = s
            remote.append(JoinedRights())
        else:
            remote.append(s)
    return remote, ship_keys(runner.ws, keys.used), snapshot, rights


def _risk_columns(plan: Plan) -> list[str] | None:
    """Every column the gate may group by: QIs, rule attributes, sensitive fields."""
    risk = plan.dataset.risk
    if risk is None:
        return None
    out_names = [f.name for f in plan.output]
    qis = [q for q in risk.resolve_qis(plan.dataset.fields) if q in out_names]
    attrs = [r.attribute for r in risk.rules] + [
        n for n, f in plan.dataset.fields.items() if f.sensitive]
    return list(dict.fromkeys([*qis, *[a for a in attrs if a in out_names and a not in qis]]))


def _join_rights(df: Any, spark: Any, plan: Plan, rights: Any) -> Any:
    """Attach each row's exclusion. Exclusions are stored by keyed token of the subject id,
    so the driver tokenizes the input's distinct subject ids (the key never leaves it) and
    broadcasts the few (subject id, reason) pairs that are excluded."""
    from pyspark.sql import functions as F

    sid = plan.dataset.subject_id
    assert sid is not None  # the rights stage exists only for datasets with subject ids
    distinct: list[str] = []
    for b in arrow_batches(df.select(F.col(sid).cast("string").alias(RSUBJECT))
                           .where(F.col(RSUBJECT).isNotNull()).distinct()):
        distinct.extend(b.column(0).to_pylist())
    reasons = rights._reasons(distinct)
    hits = [(v, r) for v, r in zip(distinct, reasons, strict=True) if r is not None]
    table = pa.table({RSUBJECT: pa.array([v for v, _ in hits], pa.string()),
                      RIGHTS: pa.array([r for _, r in hits], pa.string())})
    excluded = F.broadcast(spark.createDataFrame(table))
    joined = df.join(excluded, F.col(sid).cast("string") == F.col(RSUBJECT), "left")
    return joined.drop(RSUBJECT)


def _join_consent(df: Any, spark: Any, plan: Plan, snapshot: Any,
                  broadcast: bool | None) -> Any:
    from pyspark.sql import functions as F

    from veil.consent.models import NO_CONSENT, NO_SUBJECT

    sid = plan.dataset.subject_id
    assert sid is not None  # the consent stage refuses a dataset without subject ids
    ledger = spark.createDataFrame(pa.table({
        SUBJECT: snapshot.subjects,
        CODE: pa.array(snapshot.codes.astype(np.int8), pa.int8())}))
    if broadcast is None:
        broadcast = len(snapshot) <= BROADCAST_SUBJECTS
    if broadcast:
        ledger = F.broadcast(ledger)
    key = F.col(sid).cast("string")
    joined = df.join(ledger, key == F.col(SUBJECT), "left")
    code = (F.when(F.col(sid).isNull(), F.lit(NO_SUBJECT))
            .otherwise(F.coalesce(F.col(CODE), F.lit(NO_CONSENT))).cast("byte"))
    keep = [c for c in df.columns if c not in (SUBJECT, CODE)]
    return joined.select(*[F.col(c) for c in keep], code.alias(CODE))


def _subject_bundle(runner: Runner, data: Any, plan: Plan, consent: bool, rights: bool
                    ) -> Any:
    """The sealed subject keys of the rows the transforms will see, when a field is
    ``encrypt``-ed (`veil.spark.subject_bundle`: new keys are made and stored here, on the
    driver, before the job)."""
    if not any(f.treatment.transform == "encrypt" for f in plan.output):
        return None
    from pyspark.sql import functions as F

    from veil.consent.models import OK
    from veil.spark.subject_bundle import make_bundle

    sid = plan.dataset.subject_id
    assert sid is not None  # encrypt needs subject ids (the plan refuses it otherwise)
    rows = data.where(F.col(sid).isNotNull())
    if rights:
        rows = rows.where(F.col(RIGHTS).isNull())
    if consent:
        rows = rows.where(F.col(CODE) == F.lit(OK))
    ids: list[str] = []
    for b in arrow_batches(rows.select(F.col(sid).cast("string").alias(RSUBJECT)).distinct()):
        ids.extend(b.column(0).to_pylist())
    return make_bundle(runner.ws, runner.run_id, ids)


def _spark_schema(schema: pa.Schema) -> Any:
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(schema)


def _execute(runner: Runner, df: Any, spark: Any, keys: RecordingKeys,
             broadcast: bool | None, parts: bool) -> RunResult:
    """Run the job on the cluster and hand what it made to the runner, which publishes."""
    plan = runner.plan
    src = runner.source
    remote, shipped, snapshot, rights = _prepare(runner, keys)
    risk_cols = _risk_columns(plan)
    encryption = runner.encryption()
    folder: PartsOutput | None = None
    if parts:
        folder = PartsOutput(runner.out_path, runner.run_id, plan.output_schema, encryption,
                             ship_keyset(runner.ws, encryption.keyset_name)
                             if encryption else None)
        runner.output = folder
    else:
        runner.open_sink(encryption)
    job = PartitionJob(runner.run_id, plan, remote, shipped, src.name,
                       plan.dataset.on_bad_rows == "quarantine", snapshot is not None,
                       rights is not None, risk_cols, plan.output_schema,
                       folder.target if folder is not None else None)
    data = df.select(*plan.read)
    cores = spark.sparkContext.defaultParallelism
    if src.format in ("csv", "jsonl", "ndjson", "json") and (
            data.rdd.getNumPartitions() < cores):
        # a CSV read with quoted line breaks allowed (multiLine) is one split: spread the
        # columns read so that every executor core runs the stages
        data = data.repartition(2 * cores)
    if rights is not None:
        data = _join_rights(data, spark, plan, rights)
    if snapshot is not None:
        data = _join_consent(data, spark, plan, snapshot, broadcast)
    job.subjects = _subject_bundle(runner, data, plan, snapshot is not None, rights is not None)
    merged = _collect(runner, data.mapInArrow(job, _spark_schema(job.spark_schema)),
                      write=folder is None)
    if folder is not None:
        folder.collect(merged.parts)
        runner.t_write = merged.write_seconds  # summed over the tasks, like the stage seconds
    _hand_over(runner, merged)
    runner.engine = _engine_section(spark, merged, src.file_digest, folder)
    if folder is not None:
        runner.output_details = {"format": "parquet parts", "parts": len(folder.parts)}
    if plan.dataset.risk is None:
        return runner.publish()
    reader = _aggregate_reader(merged, risk_cols or [])
    if folder is not None:  # decided on the merged counts, applied by the executors
        from veil.spark.parts_gate import gate_parts

        gated = gate_parts(runner, folder, spark, reader, risk_cols or [])
        return runner.publish(lambda _out: gated)
    from veil.pipeline.gate import gate_staged

    return runner.publish(lambda out: gate_staged(
        out, plan, runner.policy_dir, pass1=reader))  # type: ignore[arg-type]


def _collect(runner: Runner, staged: Any, *, write: bool) -> _Merged:
    """Stream the job's rows into the runner's output and merge the tasks' statistics."""
    merged = _Merged()
    t_spark = time.perf_counter()
    try:
        for batch in arrow_batches(staged):
            blobs = batch.column(STATS)
            if blobs.null_count != batch.num_rows:
                for b in blobs.drop_null().to_pylist():
                    merged.add(pickle.loads(b))
                if merged.error is not None:
                    break
                batch = batch.filter(pc.is_null(blobs))
            if batch.num_rows and write:
                runner.write(pa.RecordBatch.from_arrays(
                    [batch.column(f.name).cast(f.type) for f in runner.plan.output_schema],
                    schema=runner.plan.output_schema))
    except VeilError:
        raise
    except Exception as exc:
        raise VeilError(f"the Spark job failed ({type(exc).__name__}): see the Spark "
                        "driver log") from exc
    if merged.error is not None:
        _raise_error(merged.error)
    runner.t_read = time.perf_counter() - t_spark - runner.t_write
    return merged


def _hand_over(runner: Runner, merged: _Merged) -> None:
    """What the tasks reported becomes the runner's: rejects, stage figures, drop reasons,
    lineage, the input digest."""
    for r in merged.rejects:
        runner.set_aside(Reject(r["record"], None, r["column"], r["reason"], r["raw"]), r)
    runner.rows_in = merged.rows_in - len(merged.rejects)
    runner.stats = [StageStats(s.name, int(a[0]), int(a[1]), float(a[2]))
                    for s, a in zip(runner.stages,
                                    merged.stages or [[0, 0, 0.0]] * len(runner.stages),
                                    strict=True)]
    _driver_describe(runner.stages, merged)
    runner.ctx.dropped_rows.update(merged.dropped)
    for ids in merged.subjects:
        runner.add_subjects(ids)
    src = runner.source
    if src.digest is None:
        h = hashlib.sha256()
        for d in sorted(merged.digests):
            h.update(bytes.fromhex(d))
        src.digest = h.hexdigest()  # type: ignore[misc]


def _engine_section(spark: Any, merged: _Merged, file_digest: bool, folder: PartsOutput | None
                    ) -> dict[str, Any]:
    engine: dict[str, Any] = {
        "name": "spark", "spark_version": spark.version,
        "master": spark.sparkContext.master, "partitions": merged.partitions,
        "output": "parts" if folder is not None else "single file",
        "input_digest": ("sha256 of the input file" if file_digest else
                         "sha256 of the sorted per-partition sha256 of the Arrow IPC "
                         "stream of the columns read")}
    if folder is not None:
        engine["parts_verify_seconds"] = round(folder.verify_seconds, 4)
    return engine


def _driver_describe(stages: list[Stage], merged: _Merged) -> None:
    """What the driver's consent stage reports: rows checked and kept across partitions."""
    from veil.pipeline.stages.consent import ConsentFilter
    from veil.pipeline.stages.rights import RightsFilter
    from veil.rights.exclusions import REASONS

    for s, acc in zip(stages, merged.stages, strict=False):
        if isinstance(s, ConsentFilter) and s.active:
            s.rows_checked, s.rows_kept = int(acc[0]), int(acc[1])
        elif isinstance(s, RightsFilter):
            for key, text in REASONS.items():
                if merged.dropped.get(text):
                    s.counts[key] = merged.dropped[text]


# ---------------------------------------------------------------------------------------------
# the risk gate on the merged aggregate


def _expand(grouped: pa.Table, columns: Sequence[str]) -> Iterator[pa.RecordBatch]:
    """The rows the aggregate stands for, one per record, in batches (pass 1 of the gate)."""
    counts = grouped[COUNT].to_numpy().astype(np.int64)
    ends = np.cumsum(counts)
    total = int(ends[-1]) if len(ends) else 0
    table = grouped.select(list(columns)) if columns else None
    for start in range(0, total, _GATE_BATCH):
        pos = np.arange(start, min(total, start + _GATE_BATCH), dtype=np.int64)
        idx = np.searchsorted(ends, pos, side="right")
        if table is None:
            yield pa.RecordBatch.from_arrays([pa.nulls(len(pos), pa.int8())], ["__veil_rows"])
        else:
            yield table.take(pa.array(idx)).combine_chunks().to_batches()[0]


def _aggregate_reader(merged: _Merged, columns: list[str]) -> Any:
    """Pass 1 of the gate, served by the executors' merged counts."""
    grouped = merge_counts(merged.risk, columns) if merged.risk else None

    def read(cols: Sequence[str] | None) -> Iterator[pa.RecordBatch]:
        if grouped is None:
            return iter(())
        want = list(cols or ())
        return (b.select(want) if want else b for b in _expand(grouped, columns))

    return read
