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
  ``mapInArrow``. Keys travel wrapped (:mod:`veil.spark.keys`). Each partition ends with one
  statistics row: rows per stage, drop reasons, rejects, the digest of what it read, its
  distinct subject ids (lineage) and the partial counts of the risk gate's quasi-identifier and
  sensitive combinations (a map-side aggregation).
* **Driver again.** Streams the result (:mod:`veil.spark.collect`) into the same
  ``ParquetSink`` as the local run (encrypted at rest when the purpose says so), merges the
  statistics, runs the release gate on the merged aggregate (pass 1 without re-reading
  anything; when it generalizes, the optimum is applied as a mapping to the staged output),
  then writes one receipt, one run row and the same audit events through the local engine's
  code.

Input digest: a DataFrame has no bytes of its own, so ``input.sha256`` is the SHA-256 of the
sorted per-partition digests (each the SHA-256 of the Arrow IPC stream of the columns read),
stable for the same data in the same partitions; for a file read by ``run`` itself (a path
``source``) it is the file's SHA-256, the local engine's definition.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from veil.errors import InputError, PolicyError, RunRefused, VeilError
from veil.io.readers import CsvOptions, Reject
from veil.io.types import conform
from veil.io.writers import ParquetSink, publish, temp_path_for
from veil.keys.parts import PartsOutput, PartsTarget
from veil.lineage import LineageCollector
from veil.pipeline.plan import Plan, make_plan
from veil.pipeline.run import (
    RunResult,
    _receipt,
    build_stages,
    default_actor,
    fail_run,
    finish_run,
    seal_run,
    start_run,
)
from veil.pipeline.stage import RunContext, Stage, StageStats, run_stages
from veil.policy.loader import load_policy
from veil.policy.model import Policy
from veil.spark.collect import arrow_batches
from veil.spark.keys import RecordingKeys, ShippedKeys, ship_keys, ship_keyset
from veil.store.workspace import Workspace
from veil.transforms.keys import workspace_keys

__all__ = ["SparkRunResult", "run"]

STATS = "__veil_stats"
CODE = "__veil_consent_code"
RIGHTS = "__veil_rights_reason"
RSUBJECT = "__veil_rights_subject"
SUBJECT = "__veil_consent_subject"
COUNT = "__veil_count"
#: ledgers up to this many subjects are broadcast to every executor; larger ones are joined
#: by partition (a shuffle), which scales with the cluster instead of the executor's memory
BROADCAST_SUBJECTS = 2_000_000
_GATE_BATCH = 65_536
_NOT_ON_SPARK = {"encrypt": "its per-subject keys live in the workspace's store, which "
                            "executors do not open"}


@dataclass
class SparkRunResult(RunResult):
    """A run's result; ``dataframe(spark)`` reads the published output back into Spark."""

    def dataframe(self, spark: Any, workspace: Workspace | str | Path | None = None) -> Any:
        from veil.keys.files import read

        return spark.createDataFrame(read(self.output, workspace=workspace))


# ---------------------------------------------------------------------------------------------
# executor side


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
        ctx = RunContext(run_id=self.run_id, plan=self.plan,
                         extras={"keys": self.keys} if self.keys is not None else {})
        stats = [StageStats(s.name) for s in self.stages]
        digest = hashlib.sha256()
        read = self.plan.read
        sid = self.plan.dataset.subject_id
        rows_in = 0
        rejects: list[dict[str, Any]] = []
        subjects: list[pa.Array] = []
        partials: list[pa.Table] = []
        sink = None
        t_write = 0.0
        try:
            if self.parts is not None:
                name, sink = self.parts.open(part, tc.attemptNumber() if tc is not None else 0)
            for raw in batches:
                data = raw.select(read)
                digest.update(_ipc(data))
                first = rows_in
                rows_in += raw.num_rows
                batch, bad = conform(data, self.plan.types)
                if bad:
                    rows = sorted({b.row for b in bad})
                    if not self.quarantine:
                        b = bad[0]
                        raise InputError(
                            f"not {b.reason.removeprefix('not ')} (the policy says on_bad_rows: "
                            "fail; set quarantine to set such rows aside)",
                            where=f"{self.source_name}: partition {part}, row {first + b.row + 1}"
                                  f", column '{b.column}'")
                    raw_rows = data.take(pa.array(rows)).to_pylist()
                    by_row = dict(zip(rows, raw_rows, strict=True))
                    rejects.extend({"partition": part, "record": first + b.row + 1,
                                    "column": b.column, "reason": b.reason, "raw": by_row[b.row]}
                                   for b in bad)
                    keep = np.ones(batch.num_rows, bool)
                    keep[rows] = False
                    batch = batch.filter(pa.array(keep))
                    raw = raw.filter(pa.array(keep))
                if self.consent:
                    batch = batch.append_column(CODE, raw.column(CODE))
                if self.rights:
                    batch = batch.append_column(RIGHTS, raw.column(RIGHTS))
                ctx.extras.pop("subject_ids", None)
                out = run_stages(self.stages, stats, batch, ctx)
                ids = ctx.extras.get("subject_ids") if sid is not None else None
                if ids is not None and len(ids):  # lineage: subjects of the rows that left
                    subjects.append(pc.unique(ids))
                if self.risk_columns is not None and out.num_rows:
                    partials.append(_group(pa.Table.from_batches([out]), self.risk_columns))
                if out.num_rows and sink is not None:
                    t0 = time.perf_counter()
                    sink.write(pa.RecordBatch.from_arrays(
                        [out.column(f.name).cast(f.type) for f in self.out_schema],
                        schema=self.out_schema))
                    t_write += time.perf_counter() - t0
                elif out.num_rows:
                    yield self._data(out)
            written = None
            if sink is not None:
                t0 = time.perf_counter()
                written = self.parts.close(name, part, sink)  # type: ignore[union-attr]
                sink = None
                t_write += time.perf_counter() - t0
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
        risk = None
        if self.risk_columns is not None and partials:
            risk = _merge(partials, self.risk_columns)
        ids_all = None
        if subjects:
            ids_all = pc.unique(pa.chunked_array(subjects).combine_chunks())
        yield self._stats({
            "partition": part, "rows_in": rows_in, "digest": digest.hexdigest(),
            "stages": [(s.rows_in, s.rows_out, s.seconds) for s in stats],
            "dropped": dict(ctx.dropped_rows), "rejects": rejects,
            "subjects": ids_all, "risk": risk, "part": written, "write_seconds": t_write})


def _ipc(batch: pa.RecordBatch) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as w:
        w.write_batch(batch)
    return sink.getvalue().to_pybytes()  # type: ignore[no-any-return]


def _group(table: pa.Table, columns: list[str]) -> pa.Table:
    if not columns:
        return pa.table({COUNT: pa.array([table.num_rows], pa.int64())})
    g = table.group_by(columns, use_threads=False).aggregate([([], "count_all")])
    return g.select([*columns, "count_all"]).rename_columns([*columns, COUNT])


def _merge(parts: list[pa.Table], columns: list[str]) -> pa.Table:
    t = pa.concat_tables(parts)
    if not columns:
        return pa.table({COUNT: pa.array([pc.sum(t[COUNT]).as_py() or 0], pa.int64())})
    g = t.group_by(columns, use_threads=False).aggregate([(COUNT, "sum")])
    return g.select([*columns, f"{COUNT}_sum"]).rename_columns([*columns, COUNT])


# ---------------------------------------------------------------------------------------------
# driver side


@dataclass
class _SparkInput:
    """What the receipt says about the input (the local engine's `Source` fields)."""

    name: str
    format: str
    digest: str | None = None
    size: int | None = None
    position: int = 0


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


def _resolve_source(source: Any, spark: Any, input_format: str | None, csv: CsvOptions
                    ) -> tuple[Any, _SparkInput]:
    """A DataFrame as it is; a path read by Spark (CSV as text, like the local reader)."""
    if hasattr(source, "mapInArrow"):
        return source, _SparkInput("<spark.DataFrame>", "spark")
    path = Path(str(source))
    if not path.is_file():
        raise InputError("file not found" if not path.exists() else "is a folder, not a file",
                         where=str(path))
    from veil.io.readers import format_of

    fmt = (input_format or format_of(path)).lower()
    if spark is None:
        from veil.spark.session import session

        spark = session()
    uri = str(path.resolve())
    if fmt == "csv":
        # every column as text; an empty field stays "" (the local reader's convention)
        df = (spark.read.option("header", True).option("multiLine", True)
              .option("sep", csv.delimiter).option("quote", csv.quote_char)
              .option("escape", csv.escape_char or csv.quote_char)
              .option("encoding", csv.encoding).option("nullValue", "\u0000")
              .option("emptyValue", "").csv(uri))
    elif fmt == "parquet":
        df = spark.read.parquet(uri)
    elif fmt in ("jsonl", "ndjson", "json"):
        df = spark.read.json(uri)
    else:
        raise InputError(f"unknown input format '{fmt}' (use csv, parquet or jsonl)",
                         where=str(path))
    from veil.io.writers import sha256_file

    return df, _SparkInput(str(path), fmt, sha256_file(path), path.stat().st_size)


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
) -> SparkRunResult:
    """Run `purpose` of `policy` over a Spark DataFrame (or a file Spark reads) on the cluster,
    and publish the result to `output` with one receipt and the run's audit events.

    Same stages, same receipt, same audit events as `veil.run`; rows come out in another
    order. `broadcast_ledger` forces (True) or forbids (False) broadcasting the consent
    snapshot (default: broadcast up to 2,000,000 subjects). `parts` (or an `output` string
    ending in "/") writes a folder of Parquet parts, one per Spark task, each written and
    encrypted by its executor, with a manifest (:mod:`veil.keys.parts`); a dataset whose risk
    gate must generalize is then refused (use a single output file). A path `source` is read
    by Spark (`input_format`, `csv_options` as for `veil.run`; database tables: read them with
    ``spark.read.jdbc`` and pass the DataFrame). Raises a `VeilError` and publishes nothing
    when the run cannot complete.
    """
    if table is not None:
        raise InputError("the Spark engine reads files and DataFrames: read a database table "
                         "with spark.read.jdbc(...) and pass the DataFrame", where=str(source))
    pol = policy if isinstance(policy, Policy) else load_policy(policy)
    pol.purpose(purpose)
    ws = workspace if isinstance(workspace, Workspace) else Workspace.find(workspace)
    ws.ready()
    out_path = Path(output)
    parts = parts or str(output).endswith(("/", os.sep))
    if not parts and out_path.suffix.lower() not in (".parquet", ".pq"):
        raise InputError("output must be a Parquet file (.parquet), or a folder of parts "
                         "(parts=True, or a path ending in '/')", where=str(out_path))
    df, src = _resolve_source(source, spark, input_format, csv_options or CsvOptions())
    if spark is None:
        spark = df.sparkSession
    plan = make_plan(pol, purpose, list(df.columns), dataset)
    for f in plan.output:
        why = _NOT_ON_SPARK.get(f.treatment.transform)
        if why:
            raise RunRefused(f"field '{f.name}': transform '{f.treatment.transform}' does not "
                             f"run on the Spark engine yet ({why}): use the local engine",
                             where=pol.locate("purposes", purpose, "datasets", plan.dataset_id,
                                              "fields", f.name))
    receipt_path = Path(receipt) if receipt else out_path.with_name(out_path.name + ".receipt.json")
    rejects_path = (Path(rejects) if rejects
                    else out_path.with_name(out_path.name + ".rejects.jsonl"))
    return _execute(ws, pol, plan, df, src, spark, out_path, receipt_path, rejects_path,
                    actor or default_actor(), broadcast_ledger, parts)


def _prepare(plan: Plan, ws: Workspace, started: datetime, run_id: str
             ) -> tuple[list[Stage], list[Any], ShippedKeys | None, tuple[Any, Any]]:
    """Driver stages, executor stages, the keys to ship, and (consent snapshot, rights stage)
    (each None when the run has no such stage).

    The driver stages see one empty batch: the consent stage loads its snapshot, the
    transform stage describes itself with the driver's keys (which records their ids and
    creates missing keysets), and we learn which keysets the executors need."""
    from veil.io.types import arrow_schema
    from veil.pipeline.stages.consent import ConsentFilter

    stages = build_stages(plan, ws, started)
    recording = RecordingKeys(workspace_keys(ws))
    ctx = RunContext(run_id=run_id, plan=plan, extras={"keys": recording})
    batch = pa.RecordBatch.from_pylist([], schema=arrow_schema(plan.read, plan.types))
    run_stages(stages, [StageStats(s.name) for s in stages], batch, ctx)
    from veil.pipeline.stages.rights import RightsFilter

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
    return stages, remote, ship_keys(ws, recording.used), (snapshot, rights)


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


def _spark_schema(schema: pa.Schema) -> Any:
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(schema)


def _execute(ws: Workspace, pol: Policy, plan: Plan, df: Any, src: _SparkInput, spark: Any,
             out_path: Path, receipt_path: Path, rejects_path: Path, actor: str,
             broadcast: bool | None, parts: bool = False) -> SparkRunResult:
    t_start = time.perf_counter()
    run_id, started = start_run(ws, pol, plan, src.name, out_path, actor)
    sink: ParquetSink | None = None
    folder: PartsOutput | None = None
    rejects_tmp = temp_path_for(rejects_path)
    try:
        stages, remote, keys, (snapshot, rights) = _prepare(plan, ws, started, run_id)
        risk = plan.dataset.risk
        risk_cols = None
        if risk is not None:
            # every column the gate may group by: QIs, rule attributes, sensitive fields
            out_names = [f.name for f in plan.output]
            qis = [q for q in risk.resolve_qis(plan.dataset.fields) if q in out_names]
            attrs = [r.attribute for r in risk.rules] + [
                n for n, f in plan.dataset.fields.items() if f.sensitive]
            risk_cols = list(dict.fromkeys(
                [*qis, *[a for a in attrs if a in out_names and a not in qis]]))
        encryption = None
        if plan.purpose.encryption.at_rest:
            from veil.keys.files import output_encryption

            encryption = output_encryption(ws, run_id, plan.purpose.encryption.keyset)
        if parts:
            folder = PartsOutput(out_path, run_id, plan.output_schema, encryption,
                                 ship_keyset(ws, encryption.keyset_name) if encryption else None)
        job = PartitionJob(run_id, plan, remote, keys, src.name,
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
        staged = data.mapInArrow(job, _spark_schema(job.spark_schema))
        if folder is None:
            sink = ParquetSink(out_path, plan.output_schema, encryption=encryption)
        merged = _Merged()
        t_write = 0.0
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
                if batch.num_rows and sink is not None:
                    t0 = time.perf_counter()
                    sink.write(pa.RecordBatch.from_arrays(
                        [batch.column(f.name).cast(f.type) for f in plan.output_schema],
                        schema=plan.output_schema))
                    t_write += time.perf_counter() - t0
        except VeilError:
            raise
        except Exception as exc:
            raise VeilError(f"the Spark job failed ({type(exc).__name__}): see the Spark "
                            "driver log") from exc
        if merged.error is not None:
            _raise_error(merged.error)
        t_read = time.perf_counter() - t_spark - t_write
        if folder is not None:
            folder.collect(merged.parts)
            t_write = merged.write_seconds  # summed over the tasks, like the stage seconds
        if merged.rejects and rejects_tmp is not None:
            with open(rejects_tmp, "w", encoding="utf-8") as f:
                for r in merged.rejects:
                    f.write(json.dumps(r, ensure_ascii=False, default=str) + "\n")
        stats = [StageStats(s.name, int(a[0]), int(a[1]), float(a[2]))
                 for s, a in zip(stages, merged.stages or [[0, 0, 0.0]] * len(stages),
                                 strict=True)]
        _driver_describe(stages, merged)
        lineage = None
        if plan.dataset.subject_id:
            lineage = LineageCollector()
            for ids in merged.subjects:
                lineage.add(ids)
        if src.digest is None:
            h = hashlib.sha256()
            for d in sorted(merged.digests):
                h.update(bytes.fromhex(d))
            src.digest = h.hexdigest()
        rejected = [Reject(r["record"], None, r["column"], r["reason"], r["raw"])
                    for r in merged.rejects]
        done: dict[str, Any] = {}
        t0 = time.perf_counter()

        out: Any = folder if folder is not None else sink

        def before_publish() -> None:
            assert out is not None and out.digest is not None
            dropped = Counter(merged.dropped)
            gate = None
            if risk is not None and folder is not None:
                gate = _gate_parts(merged, risk, pol, plan, risk_cols or [])
            elif risk is not None:
                assert sink is not None
                gate = _gate(sink, merged, risk, pol, plan, encryption, risk_cols or [])
                if gate.generalized:
                    dropped["suppressed by the risk gate"] += gate.suppressed_records
            if rejected:
                dropped["rejected: bad input"] = len(rejected)
            rec = _receipt(run_id, started, datetime.now(UTC), actor, pol, plan,
                           src,  # type: ignore[arg-type]  # the fields a receipt reads
                           out_path,
                           out, out.digest, merged.rows_in, out.rows, dropped, stages, stats,
                           rejected, rejects_path, t_read, t_write + time.perf_counter() - t0,
                           time.perf_counter() - t_start)
            if gate is not None:
                rec.extras["risk"] = gate.to_receipt()
            engine = {
                "name": "spark", "spark_version": spark.version,
                "master": spark.sparkContext.master, "partitions": merged.partitions,
                "output": "parts" if folder is not None else "single file",
                "input_digest": ("sha256 of the input file" if src.format != "spark" else
                                 "sha256 of the sorted per-partition sha256 of the Arrow IPC "
                                 "stream of the columns read")}
            if folder is not None:
                engine["parts_verify_seconds"] = round(folder.verify_seconds, 4)
                rec.output["format"] = "parquet parts"
                rec.output["parts"] = len(folder.parts)
            seal_run(ws, plan, rec, stats, actor, out, lineage, dropped, {"engine": engine})
            done["receipt"] = rec

        out_digest = out.commit(before_publish)
        rec = done["receipt"]
        if rejected:
            publish(rejects_tmp, rejects_path)
        rec.write(receipt_path)
    except BaseException as exc:
        if sink is not None:
            sink.abort()
        if folder is not None:
            folder.abort()
        rejects_tmp.unlink(missing_ok=True)
        fail_run(ws, plan, run_id, actor, exc)
        raise
    finish_run(ws, run_id, rec, rec.finished_at, src.digest, out_digest, merged.rows_in,
               out.rows)
    return SparkRunResult(run_id, out_path, receipt_path, rec.to_dict(),
                          rejects_path if rejected else None)


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


def _gate_parts(merged: _Merged, risk: Any, pol: Policy, plan: Plan, columns: list[str]
                ) -> Any:
    """The release gate on the merged counts, for a parts output: the same checks and figures;
    when the data passes, the parts are published as written. When it must generalize (or
    suppress), the run is refused: rewriting every part through the mapping would need a
    second pass over the whole output, which the single-file mode already does."""

    def refuse(schema: pa.Schema) -> Any:
        raise RunRefused(
            "the risk gate must generalize or suppress this dataset before release, and a "
            "parts output is published as the executors wrote it: run it with a single output "
            "file (an output path ending in .parquet, without --parts), which applies the "
            "generalization: nothing was published")

    from veil.risk.gate import enforce

    grouped = _merge(merged.risk, columns) if merged.risk else None

    def read(cols: Sequence[str] | None) -> Iterator[pa.RecordBatch]:
        assert cols is not None  # pass 2 never starts: `refuse` raises first
        if grouped is None:
            return iter(())
        want = list(cols)
        return (b.select(want) if want else b for b in _expand(grouped, columns))

    try:
        from veil.risk.hierarchy import policy_hierarchies

        hierarchies = policy_hierarchies(risk, Path(pol.source).parent)
    except VeilError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise PolicyError(f"risk hierarchies: {exc}") from exc
    return replace(enforce(read, plan.output_schema, risk, hierarchies,
                           risk.resolve_qis(plan.dataset.fields), sink_factory=refuse,
                           sensitive=[n for n, f in plan.dataset.fields.items() if f.sensitive]),
                   output=None)


def _gate(sink: ParquetSink, merged: _Merged, risk: Any, pol: Policy, plan: Plan,
          encryption: Any, columns: list[str]) -> Any:
    """`veil.risk.gate.enforce` with pass 1 served by the executors' partial counts and pass 2
    (only when it generalizes) by the staged output, exactly as the local run's gate."""
    from veil.risk.gate import enforce, parquet_reader

    grouped = _merge(merged.risk, columns) if merged.risk else None
    staged: dict[str, Any] = {}

    def read(cols: Sequence[str] | None) -> Iterator[pa.RecordBatch]:
        if cols is not None:
            if grouped is None:
                return iter(())
            want = list(cols)
            return (b.select(want) if want else b for b in _expand(grouped, columns))
        if "reader" not in staged:
            src: Any = sink.tmp
            if encryption is not None:
                from veil.keys.files import decrypt_to_buffer

                src = pa.BufferReader(decrypt_to_buffer(sink.tmp, encryption.keyset,
                                                        encryption.associated_data))
            staged["reader"] = parquet_reader(src)
        return staged["reader"](None)  # type: ignore[no-any-return]

    gate_out = temp_path_for(sink.path)
    gate_sinks: list[ParquetSink] = []

    def gate_sink(schema: pa.Schema) -> ParquetSink:
        s = ParquetSink(gate_out, schema, encryption=encryption)
        gate_sinks.append(s)
        return s

    try:
        from veil.risk.hierarchy import policy_hierarchies

        hierarchies = policy_hierarchies(risk, Path(pol.source).parent)
    except VeilError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise PolicyError(f"risk hierarchies: {exc}") from exc
    result = enforce(read, plan.output_schema, risk, hierarchies,
                     risk.resolve_qis(plan.dataset.fields),
                     sink_factory=gate_sink,
                     sensitive=[n for n, f in plan.dataset.fields.items() if f.sensitive])
    if result.generalized:
        os.replace(gate_out, sink.tmp)
        sink.digest, sink.bytes, sink.rows = result.sha256, result.bytes or 0, result.rows_out
        if gate_sinks:
            sink.encryption_info = gate_sinks[-1].encryption_info
        return replace(result, output=sink.path)
    return replace(result, output=sink.tmp)
