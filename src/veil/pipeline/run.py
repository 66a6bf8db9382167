"""The run: source -> stages -> sink, with a receipt and a row in the store.

Output, rejects and receipt are written under temporary names and published only when the
whole input has been read and the output verified; a failed run publishes nothing.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import sqlalchemy as sa

from veil._actor import default_actor
from veil._version import __version__ as VEIL_VERSION
from veil.consent.models import SubjectRef
from veil.errors import InputError, VeilError
from veil.io.readers import CsvOptions, Reject, Source, open_source
from veil.io.writers import ParquetSink, publish, temp_path_for
from veil.lineage import LineageCollector, PseudonymSet, discard_output, record_output
from veil.pipeline.audit_events import record_failure, record_run
from veil.pipeline.plan import Plan, make_plan
from veil.pipeline.receipt import Receipt, rows_section
from veil.pipeline.stage import RunContext, Stage, StageStats, run_stages
from veil.pipeline.stages.minimize import Minimize
from veil.pipeline.stages.treat import Treat
from veil.policy.loader import load_policy
from veil.policy.model import Policy
from veil.rights.exclusions import REASONS as _EXCLUSIONS
from veil.risk.gate import GateResult, release_gate
from veil.store.schema import runs
from veil.store.workspace import Workspace
from veil.transforms.keys import TransformKeys, workspace_keys

Progress = Callable[[int, int | None], None]
MAX_QUARANTINE_SHARE = 1.0
EXCLUSION_REASONS = frozenset(_EXCLUSIONS.values())


@dataclass
class RunResult:
    run_id: str
    output: Path
    receipt_path: Path
    receipt: dict[str, Any]
    rejects_path: Path | None = None

    @property
    def rows_in(self) -> int:
        return int(self.receipt["rows"]["in"])

    @property
    def rows_out(self) -> int:
        return int(self.receipt["rows"]["out"])


def build_stages(plan: Plan, workspace: Workspace, at: datetime) -> list[Stage]:
    """The stages of a run, in the order of DESIGN.md's data flow: consent and data-subject
    rights exclusions (while the subject id is still there), minimize, transform."""
    from veil.pipeline.stages.rights import RightsFilter

    stages: list[Stage] = []
    # rights first: an erased subject is counted "erased (Art. 17)", not "consent withdrawn"
    rights = RightsFilter.for_run(plan, workspace)  # None (no stage, no cost) without exclusions
    if rights is not None:
        stages.append(rights)
    if plan.purpose.needs_consent:
        from veil.pipeline.stages.consent import ConsentFilter

        stages.append(ConsentFilter(plan, workspace, at))
    return [*stages, Minimize([f.name for f in plan.output], plan.dropped), Treat(plan.output)]


def run(
    policy: Policy | str | Path,
    purpose: str,
    source: Any,
    output: str | Path,
    *,
    dataset: str | None = None,
    workspace: Workspace | str | Path | None = None,
    receipt: str | Path | None = None,
    rejects: str | Path | None = None,
    csv_options: CsvOptions | None = None,
    input_format: str | None = None,
    table: str | None = None,
    actor: str | None = None,
    progress: Progress | None = None,
    keys: TransformKeys | None = None,
) -> RunResult:
    """Run `purpose` of `policy` over `source` and write the minimized result to `output`.

    `source` is a path (CSV, Parquet, JSON lines), a database URL with `table`, or a pandas /
    Polars / Arrow table. Returns the receipt; raises a `VeilError` and publishes nothing when
    the run cannot complete.
    """
    pol = policy if isinstance(policy, Policy) else load_policy(policy)
    pol.purpose(purpose)  # unknown purpose: fail before touching anything
    ws = workspace if isinstance(workspace, Workspace) else Workspace.find(workspace)
    ws.ready()
    src = open_source(source, format=input_format, table=table, csv_options=csv_options)
    out_path = Path(output)
    if out_path.suffix.lower() not in (".parquet", ".pq"):
        raise InputError("output must be a Parquet file (.parquet)", where=str(out_path))
    plan = make_plan(pol, purpose, src.header(), dataset)
    receipt_path = Path(receipt) if receipt else out_path.with_name(out_path.name + ".receipt.json")
    rejects_path = (Path(rejects) if rejects
                    else out_path.with_name(out_path.name + ".rejects.jsonl"))
    if keys is None:
        keys = workspace_keys(ws)  # opens nothing until a keyed transform asks for a key
    return _execute(ws, pol, plan, src, out_path, receipt_path, rejects_path,
                    actor or default_actor(), progress, keys)


def _execute(ws: Workspace, pol: Policy, plan: Plan, src: Source, out_path: Path,
             receipt_path: Path, rejects_path: Path, actor: str,
             progress: Progress | None, keys: TransformKeys) -> RunResult:
    t_start = time.perf_counter()
    run_id, started = start_run(ws, pol, plan, src.name, out_path, actor)

    ctx = RunContext(run_id=run_id, plan=plan, extras={"keys": keys, "workspace": ws})
    lineage = LineageCollector() if plan.dataset.subject_id else None
    stages: list[Stage] = []
    stats: list[StageStats] = []
    quarantine = plan.dataset.on_bad_rows == "quarantine"
    rejected: list[Reject] = []
    rejects_tmp = temp_path_for(rejects_path)
    rejects_file = None
    sink: ParquetSink | None = None

    def on_reject(r: Reject) -> None:
        nonlocal rejects_file
        if not quarantine:
            raise InputError(f"{r.reason} (the policy says on_bad_rows: fail; set "
                             "quarantine to set such rows aside)", where=r.place(src.name))
        rejected.append(Reject(r.record, r.line, r.column, r.reason))
        if rejects_file is None:
            rejects_file = open(rejects_tmp, "w", encoding="utf-8")  # noqa: SIM115
        rejects_file.write(json.dumps({"record": r.record, "line": r.line, "column": r.column,
                                       "reason": r.reason, "raw": r.raw},
                                      ensure_ascii=False, default=str) + "\n")

    rows_in = 0
    t_read = t_write = 0.0
    try:
        stages = build_stages(plan, ws, started)
        stats = [StageStats(s.name) for s in stages]
        encryption = None
        if plan.purpose.encryption.at_rest:
            from veil.keys.files import output_encryption

            encryption = output_encryption(ws, run_id, plan.purpose.encryption.keyset)
        sink = ParquetSink(out_path, plan.output_schema, encryption=encryption)
        batches = src.batches(plan.read, plan.types, on_reject)
        while True:
            t0 = time.perf_counter()
            batch = next(batches, None)
            t_read += time.perf_counter() - t0
            if batch is None:
                break
            rows_in += batch.num_rows
            out = run_stages(stages, stats, batch, ctx)
            if lineage is not None:  # the subject ids of the rows that left the stages
                lineage.add(ctx.extras.get("subject_ids"))
            t0 = time.perf_counter()
            sink.write(out)
            t_write += time.perf_counter() - t0
            if progress:
                progress(src.position, src.size)
        t0 = time.perf_counter()
        if rejects_file is not None:
            rejects_file.close()
        done: dict[str, Receipt] = {}
        gate: GateResult | None = None

        def before_publish() -> None:
            # Output complete and verified, not yet visible: apply the risk gate, then write
            # the receipt and the audit trail, so a failure here still publishes nothing.
            nonlocal gate
            assert sink is not None
            risk = plan.dataset.risk
            if risk is not None:
                gate_sinks: list[ParquetSink] = []
                gate_out = temp_path_for(out_path)

                def gate_sink(schema: pa.Schema) -> ParquetSink:
                    s = ParquetSink(gate_out, schema, encryption=encryption)
                    gate_sinks.append(s)
                    return s

                decrypt = None
                if encryption is not None:
                    from veil.keys.files import decrypt_to_buffer

                    enc = encryption

                    def decrypt(p: Path) -> pa.Buffer:
                        return decrypt_to_buffer(p, enc.keyset, enc.associated_data)

                gate = release_gate(
                    sink.tmp, gate_out, risk, Path(pol.source).parent,
                    risk.resolve_qis(plan.dataset.fields),
                    sensitive=[n for n, f in plan.dataset.fields.items() if f.sensitive],
                    sink_factory=gate_sink, decrypt=decrypt)
                if gate.generalized:
                    assert gate.output is not None and gate.sha256 is not None
                    os.replace(gate.output, sink.tmp)
                    sink.digest, sink.bytes, sink.rows = gate.sha256, gate.bytes or 0, gate.rows_out
                    if gate_sinks:
                        sink.encryption_info = gate_sinks[-1].encryption_info
                    ctx.dropped_rows["suppressed by the risk gate"] += gate.suppressed_records
            dropped = Counter(ctx.dropped_rows)
            if rejected:
                dropped["rejected: bad input"] = len(rejected)
            assert sink is not None and sink.digest is not None
            rec = _receipt(run_id, started, datetime.now(UTC), actor, pol, plan, src, out_path,
                           sink, sink.digest, rows_in + len(rejected), sink.rows, dropped,
                           stages, stats, rejected, rejects_path, t_read,
                           t_write + time.perf_counter() - t0, time.perf_counter() - t_start)
            if gate is not None:
                rec.extras["risk"] = gate.to_receipt()
            seal_run(ws, plan, rec, stats, actor, sink, lineage, dropped)
            done["receipt"] = rec

        out_digest = sink.commit(before_publish)
        rec = done["receipt"]
        finished = rec.finished_at
        rows_out = sink.rows
        if rejected:
            publish(rejects_tmp, rejects_path)
        rec.write(receipt_path)
    except BaseException as exc:
        if sink is not None:
            sink.abort()
        if rejects_file is not None and not rejects_file.closed:
            rejects_file.close()
        rejects_tmp.unlink(missing_ok=True)
        fail_run(ws, plan, run_id, actor, exc)
        raise
    finish_run(ws, run_id, rec, finished, src.digest, out_digest, rows_in + len(rejected),
               rows_out)
    return RunResult(run_id, out_path, receipt_path, rec.to_dict(),
                     rejects_path if rejected else None)


# -- the bookkeeping both engines share (local here, Spark in veil.spark.engine) ---------------
def start_run(ws: Workspace, pol: Policy, plan: Plan, input_ref: str, out_path: Path,
              actor: str) -> tuple[str, datetime]:
    """Record a run as running; returns its id and start time."""
    run_id = uuid.uuid4().hex
    started = datetime.now(UTC)
    with ws.engine.begin() as conn:
        conn.execute(runs.insert().values(
            id=run_id, started_at=started, status="running", actor=actor,
            purpose=plan.purpose_id, dataset=plan.dataset_id, policy_path=pol.source,
            policy_digest=pol.digest, input_ref=input_ref, output_ref=str(out_path)))
    return run_id, started


def seal_run(ws: Workspace, plan: Plan, rec: Receipt, stats: list[StageStats], actor: str,
             sink: ParquetSink, lineage: LineageCollector | None, dropped: Counter[str],
             extras: dict[str, Any] | None = None) -> None:
    """Before publishing: lineage and exclusion sections, the audit events, the lineage row
    (all undone by `fail_run` if publishing fails)."""
    assert sink.digest is not None
    subjects = (lineage.finish(SubjectRef(ws.root)) if lineage is not None
                else PseudonymSet.from_digests(b""))
    rec.extras["lineage"] = {"subjects": len(subjects), "subject_id": plan.dataset.subject_id}
    excluded = {k: v for k, v in dropped.items() if k in EXCLUSION_REASONS}
    if excluded:
        rec.extras["exclusions"] = excluded
    rec.extras.update(extras or {})
    rec.extras["audit"] = record_run(ws, plan, rec.to_dict(), stats, actor)
    with ws.engine.begin() as conn:  # removed again if publishing fails
        record_output(conn, run_id=rec.run_id, output=str(sink.path.resolve()),
                      digest=sink.digest, purpose=plan.purpose_id, dataset=plan.dataset_id,
                      rows=sink.rows, subjects=subjects,
                      categories=[plan.dataset.fields[f.name].category for f in plan.output])


def fail_run(ws: Workspace, plan: Plan, run_id: str, actor: str, exc: BaseException) -> None:
    """A run failed: drop its lineage row, mark it failed, record the failure event."""
    try:
        discard_output(ws.engine, run_id)
    except sa.exc.SQLAlchemyError:
        pass  # the original error matters more than the bookkeeping
    _record_failure(ws, run_id, exc)
    try:
        record_failure(ws, plan, run_id, actor, exc)
    except Exception:
        pass  # the original error matters more than the bookkeeping


def finish_run(ws: Workspace, run_id: str, rec: Receipt, finished: datetime,
               input_digest: str | None, output_digest: str, rows_in: int, rows_out: int) -> None:
    """A run published its output: mark it succeeded with its receipt."""
    with ws.engine.begin() as conn:
        conn.execute(runs.update().where(runs.c.id == run_id).values(
            finished_at=finished, status="succeeded", input_digest=input_digest,
            output_digest=output_digest, rows_in=rows_in, rows_out=rows_out,
            receipt=rec.to_dict()))


def _record_failure(ws: Workspace, run_id: str, exc: BaseException) -> None:
    message = str(exc) if isinstance(exc, VeilError) else f"internal error: {type(exc).__name__}"
    try:
        with ws.engine.begin() as conn:
            conn.execute(runs.update().where(runs.c.id == run_id).values(
                finished_at=datetime.now(UTC), status="failed", error=message[:2000]))
    except sa.exc.SQLAlchemyError:
        pass  # the original error matters more than the bookkeeping


def _receipt(run_id: str, started: datetime, finished: datetime, actor: str, pol: Policy,
             plan: Plan, src: Source, out_path: Path, sink: ParquetSink, out_digest: str,
             rows_in: int, rows_out: int, dropped: Counter[str], stages: list[Stage],
             stats: list[StageStats], rejected: list[Reject], rejects_path: Path,
             t_read: float, t_write: float, total: float) -> Receipt:
    purpose = plan.purpose
    transformed: dict[str, Any] = {}
    for s in stages:
        transformed.update(s.describe().get("transformed", {}))
    warnings = []
    if plan.missing_optional:
        warnings.append("declared fields absent from the data (not needed for this purpose): "
                        + ", ".join(plan.missing_optional))
    return Receipt(
        run_id=run_id, started_at=started, finished_at=finished, veil_version=VEIL_VERSION,
        actor=actor,
        policy={"path": pol.source, "sha256": pol.digest, "name": pol.name},
        purpose={"id": plan.purpose_id, "description": purpose.description,
                 "legal_basis": purpose.legal_basis, "legal_basis_text": purpose.legal_basis_text,
                 "consent_required": purpose.needs_consent, "retention": purpose.retention},
        dataset=plan.dataset_id,
        input={"ref": src.name, "format": src.format, "sha256": src.digest, "bytes": src.size},
        output={"path": str(out_path), "format": "parquet", "sha256": out_digest,
                "bytes": sink.bytes, "columns": [f.name for f in plan.output],
                "encryption": sink.encryption_info},
        rows=rows_section(rows_in, rows_out, dropped),
        fields={"kept": [f.name for f in plan.output if f.treatment.transform == "keep"],
                "transformed": transformed,
                "dropped": [{"field": k, "reason": v} for k, v in plan.dropped.items()]},
        stages=[s.to_dict() for s in stats],
        timings={"read": round(t_read, 4), "write": round(t_write, 4), "total": round(total, 4),
                 "rows_per_second": round(rows_in / total) if total > 0 else None},
        rejects=({"count": len(rejected), "path": str(rejects_path),
                  "first": [{"record": r.record, "line": r.line, "column": r.column,
                             "reason": r.reason} for r in rejected[:10]]}
                 if rejected else None),
        warnings=warnings,
    )
