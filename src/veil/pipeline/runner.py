"""One run's life, owned by one object: start, feed, gate, seal, publish, or fail.

Both engines drive a `Runner`: the local engine (`veil.pipeline.run`) feeds it the batches it
reads; the Spark engine runs the same stages on executors and hands the runner what they
produced. Whatever the engine, the run row in the store, the rejects file, the release gate,
the receipt, the audit events, the lineage record and the atomic publish happen here, once:

* ``Runner(...)`` records the run as running (its id and start time) and takes the lease on
  its output path (`veil.pipeline.lease`): a path another live run writes is refused, and an
  existing output is replaced only with ``overwrite``;
* ``feed(batch)`` runs the stages over a batch and writes what leaves them (local engine);
  ``write(batch)``, ``add_subjects(ids)``, ``set_aside(reject)`` take what executors made;
* ``publish(...)`` finishes the output, applies the release gate, builds the receipt, writes
  the audit events and lineage, then commits the run in one transaction and renames output,
  receipt and rejects into place (`veil.pipeline.publishing` says in which order and what a
  crash between leaves);
* leaving the ``with`` block by an exception before the commit aborts the output and marks
  the run failed: a failed run publishes nothing. After the commit the renames are finished.
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
from typing import IO, TYPE_CHECKING, Any, Protocol

import pyarrow as pa
import sqlalchemy as sa

from veil.consent.models import SubjectRef
from veil.errors import RunRefused, VeilError
from veil.io.readers import Reject
from veil.io.writers import ParquetSink, open_private, publish, temp_path_for
from veil.lineage import LineageCollector, PseudonymSet, record_output
from veil.pipeline.audit_events import record_failure, record_run
from veil.pipeline.context import RunContext
from veil.pipeline.lease import RunLease, lease_of
from veil.pipeline.outputs import RemoteTarget
from veil.pipeline.plan import Plan
from veil.pipeline.publishing import fsync_path, mark_replaced, replaced_runs, start_run
from veil.pipeline.receipt import Receipt, build_receipt
from veil.pipeline.recovery import abandon, recover
from veil.pipeline.stage import Stage, StageStats, run_stages
from veil.pipeline.stages import build_stages
from veil.policy.model import Policy
from veil.rights.exclusions import REASONS as _EXCLUSIONS
from veil.store.schema import retention_outputs, runs
from veil.store.workspace import Workspace
from veil.transforms.keys import TransformKeys

if TYPE_CHECKING:  # the risk gate is imported only by a run whose dataset has one
    from veil.risk.gate import GateResult

EXCLUSION_REASONS = frozenset(_EXCLUSIONS.values())
SUPPRESSED = "suppressed by the risk gate"
REJECTED = "rejected: bad input"


class InputInfo(Protocol):
    """What the receipt says about the input (a `veil.io.readers.Source` has these)."""

    name: str
    format: str
    size: int | None

    @property
    def digest(self) -> str | None: ...


class Output(Protocol):
    """A run's output before publishing: a `ParquetSink` or a folder of parts."""

    path: Path
    tmp: Path  # where it is written until published
    rows: int
    bytes: int
    digest: str | None
    encryption_info: dict[str, Any] | None

    def commit(self, before_publish: Callable[[], None] | None = None) -> str: ...

    def abort(self) -> None: ...


@dataclass
class RunResult:
    run_id: str
    output: Path  # a remote output: its URI (a str)
    receipt_path: Path
    receipt: dict[str, Any]
    rejects_path: Path | None = None

    @property
    def rows_in(self) -> int:
        return int(self.receipt["rows"]["in"])

    @property
    def rows_out(self) -> int:
        return int(self.receipt["rows"]["out"])


Gate = Callable[[Output], "GateResult | None"]


class Runner:
    """Owns one run's life (see module doc). Use it as a context manager."""

    def __init__(self, ws: Workspace, pol: Policy, plan: Plan, source: InputInfo,
                 out_path: Path, receipt_path: Path, rejects_path: Path, actor: str,
                 keys: TransformKeys | None, *, overwrite: bool = False,
                 target: RemoteTarget | None = None) -> None:
        self.t_start = time.perf_counter()
        self.ws, self.pol, self.plan, self.source, self.actor = ws, pol, plan, source, actor
        self.out_path, self.receipt_path, self.rejects_path = out_path, receipt_path, rejects_path
        self.run_id = uuid.uuid4().hex
        self.started = datetime.now(UTC)
        self.overwrite = overwrite
        self.target = target  # a remote output, staged at out_path (`veil.pipeline.outputs`)
        self.out_ref = target.ref if target is not None else str(out_path.resolve())
        self.out_tmp = temp_path_for(out_path)
        self._rejects_tmp = temp_path_for(rejects_path)
        self._receipt_tmp = temp_path_for(receipt_path)
        self.lease = RunLease(ws.engine, self.run_id,
                              target.lease_path if target is not None else out_path)
        self._moves: list[tuple[Path, Path]] = []  # set at the commit point
        self._committed = False

        def insert_run(conn: sa.Connection) -> None:
            conn.execute(runs.insert().values(
                id=self.run_id, started_at=self.started, status="running", actor=actor,
                purpose=plan.purpose_id, dataset=plan.dataset_id, policy_path=pol.source,
                policy_digest=pol.digest, input_ref=source.name,
                output_ref=target.ref if target is not None else str(out_path)))

        start_run(ws, self.lease, insert_run, [self.out_tmp, self._rejects_tmp,
                                               self._receipt_tmp],
                  overwrite=overwrite, now=self.started,
                  exists=target.exists if target is not None else None,
                  name=target.ref if target is not None else None)
        self.ctx = RunContext(run_id=self.run_id, plan=plan, keys=keys, workspace=ws)
        self.lineage = (LineageCollector(SubjectRef(ws.root), spill_dir=ws.root)
                        if plan.dataset.subject_id else None)  # spills beyond its budget
        self.stages: list[Stage] = []
        self.stats: list[StageStats] = []
        self.output: Output | None = None
        self.rows_in = 0  # rows read that reached the stages (rejects counted apart)
        self.rejected: list[Reject] = []
        self.t_read = self.t_write = 0.0
        self.engine: dict[str, Any] | None = None  # the receipt's "engine" section (Spark)
        self.output_details: dict[str, Any] = {}  # more of the receipt's "output" (parts)
        self._rejects_file: IO[str] | None = None
        self.own_keyset: str | None = None  # the output's own keyset (destroyed if it fails)

    # -- set-up ----------------------------------------------------------------------------

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is not None:
            self.fail(exc)

    def build_stages(self) -> list[Stage]:
        """The run's stages (consent and rights snapshots taken as of the run's start)."""
        self.stages = build_stages(self.plan, self.ws, self.started)
        self.stats = [StageStats(s.name) for s in self.stages]
        return self.stages

    def encryption(self) -> Any:
        """The output's encryption at rest (`veil.keys.files.OutputEncryption`), or None."""
        if not self.plan.purpose.encryption.at_rest or (
                self.target is not None and not self.target.at_rest):
            return None  # a table output: the store encrypts its files (the receipt says so)
        from veil.keys.files import output_encryption

        enc = output_encryption(self.ws, self.run_id, self.plan.purpose.encryption.keyset,
                                own_key=True)  # the default keyset: one per output
        self.own_keyset = enc.keyset_name if enc.keyset_name.endswith(self.run_id) else None
        return enc

    def open_sink(self, encryption: Any) -> ParquetSink:
        """A single Parquet file as the output (published by `publish`)."""
        sink = ParquetSink(self.out_path, self.plan.output_schema, encryption=encryption,
                           tmp=self.out_tmp)
        self.output = sink
        return sink

    # -- feeding ---------------------------------------------------------------------------

    def feed(self, batch: pa.RecordBatch) -> None:
        """Run the stages over a batch read from the source and write what leaves them."""
        self.rows_in += batch.num_rows
        self.ctx.subject_ids = None
        out = run_stages(self.stages, self.stats, batch, self.ctx)
        self.add_subjects(self.ctx.subject_ids)
        self.write(out)

    def write(self, batch: pa.RecordBatch) -> None:
        assert isinstance(self.output, ParquetSink)
        t0 = time.perf_counter()
        self.output.write(batch)
        self.t_write += time.perf_counter() - t0

    def add_subjects(self, ids: pa.Array | None) -> None:
        """Lineage: the subject ids of rows that left the stages."""
        if self.lineage is not None and ids is not None:
            self.lineage.add(ids)

    def lineage_key(self) -> bytes | None:
        """The subject-reference key lineage hashes with (None: the run keeps no lineage)."""
        return SubjectRef(self.ws.root).key() if self.lineage is not None else None

    def set_aside(self, reject: Reject, row: dict[str, Any]) -> None:
        """A row the source could not read, quarantined: ``row`` goes to the rejects file."""
        self.rejected.append(Reject(reject.record, reject.line, reject.column, reject.reason))
        if self._rejects_file is None:
            self._rejects_file = open_private(self._rejects_tmp, "w", encoding="utf-8")
        self._rejects_file.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")

    # -- the end ---------------------------------------------------------------------------

    def publish(self, gate: Gate | None = None) -> RunResult:
        """Finish and verify the output, apply the release gate (``gate``, the engine's way
        of running it; by default on the staged output), then receipt, audit events and
        lineage, then commit the run and publish everything (`veil.pipeline.publishing`)."""
        output = self.output
        assert output is not None
        if self._rejects_file is not None:
            self._rejects_file.close()
        t0 = time.perf_counter()
        done: dict[str, Receipt] = {}

        def before_publish() -> None:
            # complete and verified, not yet visible: a failure here still publishes nothing
            result = (gate or self._gate_staged)(output)
            if self.target is not None:  # published whole now; the receipt names its version
                self.output_details.update(self.target.deliver(output.tmp))
            dropped = Counter(self.ctx.dropped_rows)
            if result is not None and result.generalized:
                dropped[SUPPRESSED] += result.suppressed_records
            if self.rejected:
                dropped[REJECTED] = len(self.rejected)
            rec = self._receipt(output, dropped, time.perf_counter() - t0)
            if result is not None:
                rec.extras["risk"] = result.to_receipt()
            replaced = (replaced_runs(self.ws, self.out_ref, self.run_id)
                        if self.target is not None or self.out_path.exists() else [])
            self._seal(rec, output, dropped, replaced)
            self._commit(rec, output, replaced)
            done["receipt"] = rec

        output.commit(before_publish)  # renames the output into place
        rec = done["receipt"]
        for tmp, final in self._moves[1:]:  # then the receipt, then the rejects
            publish(tmp, final)
        self.lease.release()
        if self.target is not None:
            t = self.target
            t.finish(self.receipt_path, self.rejects_path if self.rejected else None)
            return RunResult(self.run_id, t.ref, t.receipt_ref,  # type: ignore[arg-type]
                             rec.to_dict(), t.rejects_ref if self.rejected else None)  # type: ignore[arg-type]
        return RunResult(self.run_id, self.out_path, self.receipt_path, rec.to_dict(),
                         self.rejects_path if self.rejected else None)

    def _commit(self, rec: Receipt, output: Output, replaced: list[str]) -> None:
        """The commit point (see `veil.pipeline.publishing`): receipt and rejects complete in
        their temporary files, then one transaction: the run succeeded, its retention row,
        "replaced by" on what it overwrites, and the renames still to do on its lease."""
        assert output.digest is not None
        with open_private(self._receipt_tmp) as f:
            f.write(rec.to_json())
            f.flush()
            os.fsync(f.fileno())
        moves = [(output.tmp, self.out_path), (self._receipt_tmp, self.receipt_path)]
        if self.rejected:
            moves.append((self._rejects_tmp, self.rejects_path))
        for tmp, _ in moves:
            fsync_path(tmp)
        keyset = (output.encryption_info or {}).get("keyset")
        from veil.keys.manager import OUTPUT_KEYSET_PREFIX

        with self.ws.engine.begin() as conn:
            if not self.lease.publishing(conn, moves):
                raise RunRefused("this run lost its lease on the output (another process "
                                 "presumed it dead and cleaned up): nothing was published",
                                 where=str(self.out_path))
            conn.execute(runs.update().where(runs.c.id == self.run_id).values(
                finished_at=rec.finished_at, status="succeeded",
                input_digest=self.source.digest, output_digest=output.digest,
                rows_in=rec.rows["in"], rows_out=output.rows, receipt=rec.to_dict()))
            conn.execute(retention_outputs.insert().values(
                run_id=self.run_id, output_ref=self._output_ref(output),
                output_digest=output.digest, purpose=self.plan.purpose_id,
                retention=self.plan.purpose.retention, created_at=self.started,
                expires_at=self.expires_at, keyset=keyset, state="live",
                own_key=bool(keyset and keyset.startswith(OUTPUT_KEYSET_PREFIX))))
            mark_replaced(conn, replaced, self.run_id)
        self._committed, self._moves = True, moves
        if self.out_path.is_file():  # an overwritten output's receipt goes before the output
            try:
                self.receipt_path.unlink(missing_ok=True)
            except OSError:
                pass

    def _output_ref(self, output: Output) -> str:
        """What the store's lineage and retention rows name: the path, or the remote URI."""
        return self.out_ref if self.target is not None else str(output.path.resolve())

    def _gate_staged(self, output: Output) -> GateResult | None:
        if self.plan.dataset.risk is None:
            return None
        from veil.pipeline.gate import gate_staged

        assert isinstance(output, ParquetSink)
        return gate_staged(output, self.plan, self.policy_dir)

    @property
    def policy_dir(self) -> Path:
        return Path(self.pol.source).parent

    def _receipt(self, output: Output, dropped: Counter[str], t_finish: float) -> Receipt:
        assert output.digest is not None
        rec = build_receipt(
            run_id=self.run_id, started=self.started, finished=datetime.now(UTC),
            actor=self.actor, pol=self.pol, plan=self.plan, source=self.source,
            out_path=self.out_path, output=output, rows_in=self.rows_in + len(self.rejected),
            dropped=dropped, stages=self.stages, stats=self.stats, rejected=self.rejected,
            rejects_path=(self.target.rejects_ref if self.target is not None  # type: ignore[arg-type]
                          else self.rejects_path), t_read=self.t_read,
            t_write=self.t_write + t_finish, total=time.perf_counter() - self.t_start)
        rec.output.update(self.output_details)
        rec.purpose["expires_at"] = self.expires_at.isoformat().replace("+00:00", "Z")
        return rec

    @property
    def expires_at(self) -> datetime:
        """The output's retention end: the run's start plus the purpose's retention, in
        calendar units (`veil.lifecycle` disposes of it then)."""
        return self.plan.purpose.retention_period.after(self.started)

    def _seal(self, rec: Receipt, output: Output, dropped: Counter[str],
              replaced: list[str]) -> None:
        """Lineage and exclusion sections, the audit events, the lineage row (removed again
        by `fail` if publishing fails); ``replaced``: the runs whose output this overwrites."""
        assert output.digest is not None
        plan = self.plan
        subjects = (self.lineage.finish(SubjectRef(self.ws.root)) if self.lineage is not None
                    else PseudonymSet.from_digests(b""))
        rec.extras["lineage"] = {"subjects": len(subjects), "subject_id": plan.dataset.subject_id}
        excluded = {k: v for k, v in dropped.items() if k in EXCLUSION_REASONS}
        if excluded:
            rec.extras["exclusions"] = excluded
        if self.engine is not None:
            rec.extras["engine"] = self.engine
        if replaced:
            rec.extras["replaces"] = replaced
        rec.extras["audit"] = record_run(self.ws, plan, rec.to_dict(), self.stats, self.actor,
                                         replaced)
        with self.ws.engine.begin() as conn:
            record_output(conn, run_id=rec.run_id, output=self._output_ref(output),
                          digest=output.digest, purpose=plan.purpose_id,
                          dataset=plan.dataset_id, rows=output.rows, subjects=subjects,
                          categories=[plan.dataset.fields[f.name].category
                                      for f in plan.output])

    def fail(self, exc: BaseException) -> None:
        """Before the commit point: abort the output, rejects and receipt, mark the run failed
        and undo its records (lineage, lease, its own keyset: `veil.pipeline.recovery.abandon`)
        and record the failure event. After it: finish publishing (or, if the output is gone,
        roll back) as recovery would. Bookkeeping errors never hide the original error."""
        self.lease.stop()
        if self._committed:
            try:
                with self.ws.engine.connect() as conn:
                    held = lease_of(conn, run_id=self.run_id)
                if held is not None:
                    recover(self.ws, held, "it failed after its commit point "
                            f"({getattr(exc, 'kind', None) or type(exc).__name__})")
            except Exception:
                pass
            return
        if self.output is not None:
            self.output.abort()
        if self.target is not None:
            try:
                self.target.undo()
            finally:
                self.target.drop()
        if self._rejects_file is not None and not self._rejects_file.closed:
            self._rejects_file.close()
        for tmp in (self._rejects_tmp, self._receipt_tmp):
            tmp.unlink(missing_ok=True)
        message = (str(exc) if isinstance(exc, VeilError)
                   else f"internal error: {type(exc).__name__}")
        try:
            abandon(self.ws, self.run_id, message, actor=self.actor)
        except Exception:
            try:
                self.lease.release()
                with self.ws.engine.begin() as conn:
                    conn.execute(runs.update().where(runs.c.id == self.run_id).values(
                        finished_at=datetime.now(UTC), status="failed", error=message[:2000]))
            except Exception:
                pass
        try:
            record_failure(self.ws, self.plan, self.run_id, self.actor, exc)
        except Exception:
            pass
