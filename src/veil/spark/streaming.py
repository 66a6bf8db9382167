"""A policy purpose applied to a Spark Structured Streaming source, one run per micro-batch.

::

    from veil.spark import stream
    result = stream("landing/tx/", "policy.yaml", "offers", "offers.stream/",
                    checkpoint="offers.ckpt/")              # what is there now, then stop
    stream("kafka", "policy.yaml", "offers", "offers.stream/", checkpoint="offers.ckpt/",
           schema="customer_id STRING, amount DOUBLE, ...", trigger="30 seconds",
           options={"kafka.bootstrap.servers": "...", "subscribe": "transactions"})

Each micro-batch goes through `veil.spark.engine.run` (:mod:`veil.spark.stream_batch`): the
same consent join, minimization, transforms on the executors, encrypted output, receipt and
audit events as a batch run, published under ``OUTPUT/batch=NNNNNN/``. With the checkpoint,
every batch id is published once: a replay after a crash finds its output and skips it
(docs/spark_streaming.md says what that guarantees and what it does not).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from veil.errors import InputError, VeilError
from veil.io.readers import CsvOptions
from veil.policy.loader import load_policy
from veil.policy.model import Policy
from veil.spark.stream_batch import BatchOutcome, BatchWriter, failure
from veil.spark.stream_source import bind, check_source, open_source
from veil.store.workspace import Workspace

__all__ = ["StreamResult", "stream"]

AVAILABLE_NOW = "availableNow"
_POLL = 0.2  # seconds between looks at a bounded query (max_batches)


@dataclass
class StreamResult:
    """The micro-batches this call handled, in order."""

    stream_id: str
    output: Path
    checkpoint: Path
    batches: list[BatchOutcome] = field(default_factory=list)

    @property
    def published(self) -> list[BatchOutcome]:
        return [b for b in self.batches if b.status == "published"]

    @property
    def rows_out(self) -> int:
        return sum(b.rows_out for b in self.published)

    def to_dict(self) -> dict[str, Any]:
        return {"stream_id": self.stream_id, "output": str(self.output),
                "checkpoint": str(self.checkpoint),
                "batches": [b.to_dict() for b in self.batches]}


def _trigger(trigger: str) -> dict[str, Any]:
    if trigger in (AVAILABLE_NOW, "available-now", "available_now"):
        return {"availableNow": True}
    if trigger == "once":
        return {"once": True}
    text = trigger.strip()
    if text and text[0].isdigit():
        return {"processingTime": text}
    raise InputError(f"unknown trigger '{trigger[:40]}' (availableNow, or an interval such as "
                     "'30 seconds')")


def stream(
    source: str | Path,
    policy: Policy | str | Path,
    purpose: str,
    output: str | Path,
    *,
    checkpoint: str | Path,
    input_format: str | None = None,
    trigger: str = AVAILABLE_NOW,
    options: Mapping[str, str] | None = None,
    schema: Any = None,
    max_files_per_trigger: int | None = None,
    max_batches: int | None = None,
    timeout: float | None = None,
    dataset: str | None = None,
    workspace: Workspace | str | Path | None = None,
    csv_options: CsvOptions | None = None,
    actor: str | None = None,
    spark: Any = None,
) -> StreamResult:
    """Apply `purpose` of `policy` to a streaming `source`, one run per micro-batch.

    `source`: a folder of Parquet, CSV or JSON-lines files (local, or a URI Spark reads;
    `input_format` says which, default Parquet), ``"kafka"`` (`options` carry the Kafka
    settings, `schema` the DDL of the JSON values) or ``"rate"`` / ``"rate-micro-batch"``
    (Spark's test sources). `output` is a local folder (``batch=NNNNNN/`` per micro-batch),
    `checkpoint` Spark's checkpoint folder, one per output. `trigger`: ``"availableNow"``
    (process what is there, then return) or an interval (``"30 seconds"``: runs until
    `max_batches` micro-batches were handled, `timeout` seconds passed, or the query is
    stopped). `max_files_per_trigger` bounds a file batch. Raises a `VeilError` naming the
    source and micro-batch when one fails; the batches before it stay published.
    """
    from veil.spark.session import session

    pol = policy if isinstance(policy, Policy) else load_policy(policy)
    pol.purpose(purpose)
    ws = workspace if isinstance(workspace, Workspace) else Workspace.find(workspace)
    ws.ready()
    from veil.pipeline.recovery import recover_stale_runs

    recover_stale_runs(ws)  # a batch committed by a driver that died: its renames finished
    how = _trigger(trigger)
    if "://" in str(output):
        raise InputError("the stream's output must be a local (or mounted) folder",
                         where=str(output))
    out = Path(output).resolve()
    ckpt = Path(checkpoint).resolve() if "://" not in str(checkpoint) else None
    if ckpt is None:
        raise InputError("the checkpoint must be a local (or mounted) folder: Veil keeps the "
                         "stream's schema and id beside Spark's state", where=str(checkpoint))
    check_source(str(source), input_format)
    spark = spark or session()
    src = open_source(spark, str(source), ckpt, input_format=input_format,
                      options=dict(options or {}), schema=schema,
                      csv_options=csv_options or CsvOptions(),
                      max_files_per_trigger=max_files_per_trigger)
    stream_id = bind(ckpt, out)
    writer = BatchWriter(src, pol, purpose, out, ws, stream_id, dataset, actor)
    query = (src.df.writeStream.foreachBatch(writer).trigger(**how)
             .option("checkpointLocation", str(ckpt / "spark"))
             .queryName(f"veil-{purpose}-{stream_id[:8]}").start())
    try:
        _wait(query, writer, max_batches, timeout)
    except VeilError:
        raise
    except Exception as exc:  # noqa: BLE001 - the query stopped: say which batch, no trace
        raise failure(writer, exc) from None
    finally:
        if query.isActive:
            query.stop()
    return StreamResult(stream_id, out, ckpt, writer.outcomes)


def _wait(query: Any, writer: BatchWriter, max_batches: int | None,
          timeout: float | None) -> None:
    """Until the query ends (availableNow), or `max_batches` were handled, or `timeout`."""
    if max_batches is None and timeout is None:
        query.awaitTermination()
        return
    deadline = None if timeout is None else time.monotonic() + timeout
    while query.isActive:
        if query.awaitTermination(_POLL):
            break
        if max_batches is not None and len(writer.outcomes) >= max_batches:
            break
        if deadline is not None and time.monotonic() >= deadline:
            break
    if query.exception() is not None:
        raise failure(writer, RuntimeError("query failed"))
