"""`consume`: a purpose applied to a NATS JetStream stream, one micro-batch at a time.

Each pull from a durable consumer is a micro-batch. Events already in the output folder (the
`Ledger`) are acknowledged and skipped; the others run through `veil.pipeline.run` exactly as
a batch input would (consent, minimization, transforms, encryption at rest, one receipt and
audit events), published atomically as ``OUT/batch-<first>-<last>.parquet``, then sent to the
output subject if one is given, and only then acknowledged. A crash anywhere leaves events
unacknowledged, so they come again (at least once), and the ledger drops what was published.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from veil._actor import default_actor
from veil.errors import InputError
from veil.pipeline.plan import make_plan
from veil.pipeline.run import run
from veil.policy.loader import load_policy
from veil.policy.model import Policy
from veil.store.workspace import Workspace
from veil.stream.address import StreamAddress, check_name, parse_address
from veil.stream.events import EventSource
from veil.stream.ledger import Ledger, batch_name
from veil.stream.publisher import SubjectPublisher


@dataclass
class BatchResult:
    """One published micro-batch."""

    first: int
    last: int
    rows_in: int
    rows_out: int
    output: Path
    run_id: str
    duplicates: int = 0  # redelivered events of this pull that were published already


@dataclass
class StreamResult:
    batches: list[BatchResult] = field(default_factory=list)
    duplicates: int = 0  # redelivered events acknowledged without writing them again

    @property
    def rows_in(self) -> int:
        return sum(b.rows_in for b in self.batches)

    @property
    def rows_out(self) -> int:
        return sum(b.rows_out for b in self.batches)


@dataclass
class _Job:
    address: StreamAddress
    policy: Policy
    purpose: str
    folder: Path
    ws: Workspace
    dataset: str | None
    required: list[str]
    actor: str


def consume(source: str, policy: Policy | str | Path, purpose: str, output: str | Path, *,
            dataset: str | None = None, workspace: Workspace | str | Path | None = None,
            publish: str | None = None, batch_size: int = 500, max_batches: int | None = None,
            idle_exit: float | None = None, durable: str | None = None, ack_wait: float = 30.0,
            actor: str | None = None,
            on_batch: Callable[[BatchResult], None] | None = None) -> StreamResult:
    """Apply `purpose` of `policy` to the JSON events of ``source``
    (``nats://HOST:PORT/STREAM[/SUBJECT]``), writing one Parquet file per micro-batch (at most
    ``batch_size`` events) into the folder ``output`` and, with ``publish``, one message per
    minimized event to that JetStream subject. Stops after ``max_batches`` published
    micro-batches, or once nothing is pending for ``idle_exit`` seconds; otherwise runs until
    interrupted. ``durable`` names the consumer (default: one per purpose and output folder),
    so a restart resumes where the last acknowledgement left off."""
    address = parse_address(source)
    pol = policy if isinstance(policy, Policy) else load_policy(policy)
    ws = workspace if isinstance(workspace, Workspace) else Workspace.find(workspace)
    ws.ready()
    folder = Path(output).resolve()
    if folder.exists() and not folder.is_dir():
        raise InputError("the output of a stream is a folder (one Parquet file per "
                         "micro-batch)", where=str(folder))
    if batch_size < 1:
        raise InputError("--batch-size must be at least 1")
    job = _Job(address, pol, purpose, folder, ws, dataset, _required(pol, purpose, dataset),
               actor or default_actor())
    name = durable or _durable_name(purpose, folder)
    check_name(name, "consumer name")
    return asyncio.run(_Loop(job, name, batch_size, ack_wait, publish, on_batch)
                       .run(max_batches, idle_exit))


def _required(pol: Policy, purpose: str, dataset: str | None) -> list[str]:
    """The fields every event must carry: what the purpose reads (decided before any event)."""
    from veil.pipeline.plan import choose_dataset

    ds = pol.datasets[choose_dataset(pol, purpose, dataset)]
    return make_plan(pol, purpose, list(ds.fields), dataset).read


def _durable_name(purpose: str, folder: Path) -> str:
    tag = hashlib.sha256(str(folder).encode()).hexdigest()[:10]
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in purpose)[:60]
    return f"veil-{safe}-{tag}"


class _Loop:
    def __init__(self, job: _Job, durable: str, batch_size: int, ack_wait: float,
                 publish: str | None, on_batch: Callable[[BatchResult], None] | None) -> None:
        self.job, self.durable, self.batch_size, self.ack_wait = job, durable, batch_size, ack_wait
        self.publish, self.on_batch = publish, on_batch
        self.result = StreamResult()
        self.ledger = Ledger(job.ws, _stream_ref(job.address), job.folder)

    async def run(self, max_batches: int | None, idle_exit: float | None) -> StreamResult:
        from veil.stream.broker import connect, pull_consumer

        nc, js = await connect(self.job.address)
        try:
            sub = await pull_consumer(js, self.job.address, self.durable, self.ack_wait)
            self.job.folder.mkdir(parents=True, exist_ok=True)  # the broker answered: start
            publisher = None
            if self.publish:
                publisher = SubjectPublisher(js, self.publish, self.job.ws)
                await publisher.check()
            idle_since = time.monotonic()
            while max_batches is None or len(self.result.batches) < max_batches:
                msgs = await _fetch(sub, self.batch_size)
                if msgs:
                    await self._handle(msgs, publisher)
                    idle_since = time.monotonic()
                elif idle_exit is not None and time.monotonic() - idle_since >= idle_exit:
                    info = await sub.consumer_info()
                    if not info.num_pending and not info.num_ack_pending:
                        break
        except Exception as exc:
            if not type(exc).__module__.startswith("nats"):
                raise
            raise InputError(f"the NATS server failed ({type(exc).__name__}); events not "
                             "acknowledged come again on the next start",
                             where=self.job.address.url) from None
        finally:
            await _close(nc)
        return self.result

    async def _handle(self, msgs: list[Any], publisher: SubjectPublisher | None) -> None:
        fresh: dict[int, bytes] = {}
        seen: set[str] = set()
        for m in msgs:
            seq = m.metadata.sequence.stream
            held = self.ledger.file_of(seq)
            if held is None:
                fresh[seq] = m.data
            else:
                seen.add(held)
        dups = len(msgs) - len(fresh)
        self.result.duplicates += dups
        if publisher is not None:  # a crash may have come between the file and the subject
            for name in sorted(seen):
                await publisher.publish_file(self.job.folder / name)
        if fresh:
            batch = self._publish_batch(sorted(fresh.items()), dups)
            if publisher is not None:
                await publisher.publish_file(batch.output)
            self.result.batches.append(batch)
            if self.on_batch is not None:
                self.on_batch(batch)
        for m in msgs:
            await m.ack()

    def _publish_batch(self, events: list[tuple[int, bytes]], dups: int) -> BatchResult:
        job = self.job
        src = EventSource(_stream_ref(job.address), events, job.required)
        first, last = events[0][0], events[-1][0]
        out = job.folder / batch_name(first, last)
        res = run(job.policy, job.purpose, src, out, dataset=job.dataset, workspace=job.ws,
                  actor=job.actor)
        self.ledger.add(out.name, src.snapshot["sequences"])
        return BatchResult(first, last, res.rows_in, res.rows_out, out, res.run_id, dups)


def _stream_ref(address: StreamAddress) -> str:
    """What receipts and the store call the input: the server and stream (sequences are the
    stream's, whatever subject filters it)."""
    return f"{address.server}/{address.stream}"


async def _close(nc: Any) -> None:
    try:
        await nc.close()
    except Exception:  # closing a connection already lost: nothing left to do
        pass


async def _fetch(sub: Any, n: int) -> list[Any]:
    import nats.errors

    try:
        return list(await sub.fetch(batch=n, timeout=1.0))
    except (TimeoutError, nats.errors.TimeoutError):  # nats-py raises either
        return []
