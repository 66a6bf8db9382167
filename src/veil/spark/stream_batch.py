"""One micro-batch of a Veil stream: the Spark engine's run over it, published once.

Spark's ``foreachBatch`` hands the driver each micro-batch as a DataFrame with its batch id.
The id is stable: after a crash, Spark replays the batch the checkpoint had planned but not
committed, with the same id and the same input. So the batch's output goes to a place named by
the id (``OUTPUT/batch=000042/part.parquet`` with its receipt), written by
`veil.spark.engine.run` (the batch engine, unchanged: consent, minimization, transforms,
encryption at rest, receipt, audit events), whose commit point is one database transaction
(`veil.pipeline.runner`). A replayed id whose run has committed is skipped: an audit event
``stream.batch.replayed`` records it and nothing is written again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from veil.errors import InputError, VeilError
from veil.policy.model import Policy
from veil.spark.stream_source import FILE, StreamSource, file_mismatch
from veil.store.schema import runs
from veil.store.workspace import Workspace

__all__ = ["BatchOutcome", "BatchWriter", "after_publish", "batch_output"]

REPLAYED = "stream.batch.replayed"


def after_publish(batch_id: int) -> None:
    """Called after a micro-batch's output is published, before Spark commits the batch to
    its checkpoint: the window a crash would hit (the tests replace it to crash there)."""


def batch_output(output: Path, batch_id: int) -> Path:
    """Where micro-batch `batch_id` is published."""
    return output / f"batch={batch_id:06d}" / "part.parquet"


@dataclass
class BatchOutcome:
    """What became of one micro-batch."""

    batch_id: int
    status: str  # published | replayed (already published: skipped) | empty
    output: Path | None = None
    receipt: Path | None = None
    run_id: str | None = None
    rows_in: int = 0
    rows_out: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"batch_id": self.batch_id, "status": self.status,
                "output": str(self.output) if self.output else None,
                "receipt": str(self.receipt) if self.receipt else None,
                "run_id": self.run_id, "rows_in": self.rows_in, "rows_out": self.rows_out,
                "seconds": round(self.seconds, 4)}


@dataclass
class BatchWriter:
    """The ``foreachBatch`` function: runs on the driver, once per micro-batch."""

    source: StreamSource
    policy: Policy
    purpose: str
    output: Path
    ws: Workspace
    stream_id: str
    dataset: str | None = None
    actor: str | None = None
    run_options: dict[str, Any] = field(default_factory=dict)
    outcomes: list[BatchOutcome] = field(default_factory=list)
    error: BaseException | None = None
    failed_batch: int | None = None

    def __call__(self, df: Any, batch_id: int) -> None:
        try:
            self.outcomes.append(self._batch(df, int(batch_id)))
        except BaseException as exc:
            self.error, self.failed_batch = exc, int(batch_id)
            # Spark stops the query without committing the batch; `stream` raises `exc`
            raise RuntimeError(f"micro-batch {batch_id} failed ({type(exc).__name__})") from None

    def _where(self, batch_id: int) -> str:
        return f"{self.source.name}: micro-batch {batch_id}"

    def _batch(self, df: Any, batch_id: int) -> BatchOutcome:
        t0 = time.perf_counter()
        out = batch_output(self.output, batch_id)
        run_id = self._published(out)
        if run_id is not None:
            self._record_replay(batch_id, run_id)
            return BatchOutcome(batch_id, "replayed", out, _receipt(out), run_id,
                                seconds=time.perf_counter() - t0)
        if self.source.is_file:
            self._check_files(df, batch_id)
            df = df.drop(FILE)
        if df.isEmpty():
            return BatchOutcome(batch_id, "empty", seconds=time.perf_counter() - t0)
        from veil.spark.engine import run

        out.parent.mkdir(parents=True, exist_ok=True)
        try:
            result = run(df, self.policy, self.purpose, out, dataset=self.dataset,
                         workspace=self.ws, actor=self.actor, spark=df.sparkSession,
                         source_name=self._where(batch_id), **self.run_options)
        except BaseException:
            _remove_empty(out.parent)
            raise
        after_publish(batch_id)
        return BatchOutcome(batch_id, "published", result.output, result.receipt_path,
                            result.run_id, result.rows_in, result.rows_out,
                            time.perf_counter() - t0)

    def _published(self, out: Path) -> str | None:
        """The run that published `out` (committed), or None."""
        with self.ws.engine.connect() as conn:
            row = conn.execute(sa.select(runs.c.id).where(
                runs.c.output_ref == str(out), runs.c.status == "succeeded")).first()
        return None if row is None else str(row[0])

    def _check_files(self, df: Any, batch_id: int) -> None:
        """Every file of the batch has the stream's columns (one error naming the file,
        before anything runs: nothing is published for the batch)."""
        files = [r[0] for r in df.select(FILE).distinct().collect()]
        for uri in sorted(files):
            why = file_mismatch(uri, self.source)
            if why is not None:
                short = uri.rsplit("/", 1)[-1]
                raise InputError(f"schema change: file {short} {why} (the stream's schema "
                                 "was fixed by its first files; nothing was published for this "
                                 "batch)", where=self._where(batch_id))

    def _record_replay(self, batch_id: int, run_id: str) -> None:
        from veil._actor import default_actor
        from veil.audit.log import AuditLog

        purpose = self.policy.purpose(self.purpose)
        AuditLog(self.ws).record(
            self.actor or default_actor(), REPLAYED, purpose=self.purpose,
            legal_basis=str(purpose.legal_basis), outcome="skipped",
            details={"stream_id": self.stream_id, "batch_id": batch_id, "run_id": run_id,
                     "source": self.source.name[:200]})


def _receipt(out: Path) -> Path:
    return out.with_name(out.name + ".receipt.json")


def _remove_empty(folder: Path) -> None:
    try:
        folder.rmdir()  # only when the failed run left nothing in it
    except OSError:
        pass


def failure(writer: BatchWriter, exc: BaseException) -> VeilError:
    """The error `stream` raises for a query that stopped."""
    if isinstance(writer.error, VeilError):
        return writer.error
    where = (writer._where(writer.failed_batch) if writer.failed_batch is not None
             else writer.source.name)
    kind = type(writer.error or exc).__name__
    return VeilError(f"the stream stopped ({kind}); the checkpoint resumes at the batch that "
                     "failed, nothing of it was published unless its run committed",
                     where=where)
