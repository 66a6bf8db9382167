"""The local engine on several cores: numbered batches through forked workers, output in order.

The parent reads the source (pyarrow), hands batch ``i`` to a pool of worker processes that run
the run's stages, and writes the results back in input order, so the output is the single-core
run's, row for row. At most ``2 * workers`` batches are in flight: memory stays flat whatever the
input size. What the stages count (stage figures, rows dropped by reason, the consent and rights
stages' tallies, lineage's subject ids) comes back with each batch and is added to the parent's
stages, as the Spark engine does with its partitions. Noise is seeded by batch number, never by
worker, so the same input gives the same output whatever the number of workers.

Keys: workers are forked after the parent has prepared the run (one empty batch through its
stages: consent snapshot loaded, keysets opened, treatments described), so they inherit its key
primitives in memory, copy-on-write. No key, KEK or passphrase crosses a pipe or touches disk; a
key the parent had not opened yet (a subject's own key) a worker opens from the workspace exactly
as the parent would. Fork is why this needs a POSIX system.

A worker that dies (killed, out of memory) breaks the pool: the run fails with one clear error
and publishes nothing, like any failed run; a rerun starts afresh.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from veil.errors import InputError, VeilError
from veil.lineage.collector import distinct
from veil.pipeline.context import RunContext
from veil.pipeline.stage import Stage, StageStats, run_stages

if TYPE_CHECKING:  # pragma: no cover
    from veil.pipeline.runner import Runner

__all__ = ["check_workers", "feed_parallel"]

IN_FLIGHT_PER_WORKER = 2  # batches queued or being worked on, per worker


def check_workers(workers: Any) -> int:
    """``workers`` as a count of processes between 1 and the machine's CPUs (InputError)."""
    cpus = os.cpu_count() or 1
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= cpus:
        raise InputError(f"workers must be a whole number from 1 to {cpus} (this machine's "
                         f"CPUs), not {workers!r}", where="--workers")
    if workers > 1 and "fork" not in multiprocessing.get_all_start_methods():
        raise InputError("more than one worker needs a system that can fork processes "
                         "(Linux, macOS): use --workers 1", where="--workers")
    return workers


@dataclass
class _Done:
    """What a worker hands back for one batch."""

    batch: pa.RecordBatch
    subjects: pa.Array | None  # the distinct subject ids of the rows that left (lineage)
    stats: list[tuple[int, int, float]]  # per stage: rows in, rows out, seconds
    dropped: dict[str, int]  # rows dropped, by reason


@dataclass
class _Failed:
    """A `VeilError` raised in a worker, rebuilt in the parent as the same class and text."""

    kind: type[VeilError]
    args: tuple[Any, ...]
    state: dict[str, Any]

    def error(self) -> VeilError:
        exc = self.kind.__new__(self.kind)
        Exception.__init__(exc, *self.args)
        exc.__dict__.update(self.state)
        return exc


class _Worker:
    """A worker process's copy of the run (inherited from the parent by fork)."""

    def __init__(self, stages: list[Stage], ctx: RunContext) -> None:
        self.stages, self.ctx = stages, ctx
        self.fields = [f.name for f in ctx.plan.output]

    def process(self, index: int, batch: pa.RecordBatch) -> _Done | _Failed:
        ctx = self.ctx
        ctx.dropped_rows = Counter()
        ctx.subject_ids = None
        # noise is seeded by (run, field, batch number): the number of the batch in the input
        ctx.transforms.state.noise_batches.clear()
        ctx.transforms.state.noise_batches.update(dict.fromkeys(self.fields, index))
        stats = [StageStats(s.name) for s in self.stages]
        try:
            out = run_stages(self.stages, stats, batch, ctx)
        except VeilError as exc:
            return _Failed(type(exc), exc.args, dict(exc.__dict__))
        ids = ctx.subject_ids
        subjects = None
        if ids is not None and len(ids):  # sorted here, in parallel: less to send and merge
            if isinstance(ids, pa.ChunkedArray):
                ids = ids.combine_chunks()
            subjects = distinct(ids if pa.types.is_string(ids.type) else pc.cast(ids, pa.string()))
        return _Done(out, subjects, [(s.rows_in, s.rows_out, s.seconds) for s in stats],
                     dict(ctx.dropped_rows))


_WORKER: _Worker | None = None  # set in each worker process by `_start`


def _start(stages: list[Stage], ctx: RunContext) -> None:
    global _WORKER
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    if ctx.workspace is not None:  # the parent's pooled connections are not ours to use
        ctx.workspace.engine.dispose(close=False)
    _WORKER = _Worker(stages, ctx)


def _process(index: int, batch: pa.RecordBatch) -> _Done | _Failed:
    assert _WORKER is not None
    return _WORKER.process(index, batch)


def _ready() -> None:
    """A no-op task: submitting it makes the pool fork its workers."""


def prepare(runner: Runner) -> None:
    """One empty batch through the parent's stages before the fork: the consent snapshot is
    loaded, the keys the transforms use are opened and the treatments described once, in the
    parent, so every worker inherits them (as the Spark driver does)."""
    from veil.io.types import arrow_schema

    plan = runner.plan
    empty = pa.RecordBatch.from_pylist([], schema=arrow_schema(plan.read, plan.types))
    run_stages(runner.stages, [StageStats(s.name) for s in runner.stages], empty, runner.ctx)
    runner.ctx.dropped_rows.clear()
    runner.ctx.subject_ids = None


def _absorb(runner: Runner, done: _Done) -> None:
    """A batch's figures become the parent's: stage figures, drop reasons, lineage and the
    consent and rights stages' tallies (each derived as the Spark engine derives them)."""
    from veil.pipeline.stages import ConsentFilter, RightsFilter
    from veil.rights.exclusions import REASONS

    for stage, st, (n_in, n_out, seconds) in zip(runner.stages, runner.stats, done.stats,
                                                 strict=True):
        st.rows_in += n_in
        st.rows_out += n_out
        st.seconds += seconds
        if isinstance(stage, ConsentFilter) and stage.active:
            stage.rows_checked += n_in
            stage.rows_kept += n_out
        elif isinstance(stage, RightsFilter):
            for key, text in REASONS.items():
                if done.dropped.get(text):
                    stage.counts[key] += done.dropped[text]
    runner.ctx.dropped_rows.update(done.dropped)
    runner.add_subjects(done.subjects)


def _died(index: int, source: str) -> VeilError:
    return VeilError(f"a worker process died while the run was processing batch {index + 1} "
                     "(killed, or out of memory): nothing was published; run it again",
                     where=source)


class _Writer(threading.Thread):
    """Takes the workers' results in input order and writes them while the parent reads on
    (pyarrow's CSV parser and Parquet encoder release the GIL). After a failure it keeps
    draining, so the reader never waits on it, and keeps the first error for the parent."""

    def __init__(self, runner: Runner, source: str, progress: Callable[[], None] | None,
                 size: int) -> None:
        super().__init__(name=f"veil-writer-{runner.run_id[:8]}", daemon=True)
        self.runner, self.source, self.progress = runner, source, progress
        self.queue: queue.Queue[tuple[int, Future[_Done | _Failed]] | None] = queue.Queue(size)
        self.error: BaseException | None = None
        self._stopped = False

    def run(self) -> None:
        while (item := self.queue.get()) is not None:
            if self.error is None:
                try:
                    self._finish(*item)
                except BaseException as exc:  # noqa: BLE001 - handed to the parent
                    self.error = exc

    def _finish(self, index: int, future: Future[_Done | _Failed]) -> None:
        try:
            result = future.result()
        except BrokenProcessPool:
            raise _died(index, self.source) from None
        if isinstance(result, _Failed):
            raise result.error()
        _absorb(self.runner, result)
        self.runner.write(result.batch)
        if self.progress is not None:
            self.progress()

    def stop(self) -> None:
        """Finish what is queued, then end (once)."""
        if not self._stopped:
            self._stopped = True
            self.queue.put(None)
            self.join()


def feed_parallel(runner: Runner, batches: Iterator[pa.RecordBatch], workers: int,
                  progress: Callable[[], None] | None = None) -> None:
    """Run the stages over ``batches`` in ``workers`` processes and write the results through
    ``runner`` in input order (see the module doc)."""
    prepare(runner)
    name = getattr(runner.source, "name", "input")
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                               initializer=_start, initargs=(runner.stages, runner.ctx))
    try:
        pool.submit(_ready).result()  # every worker forked now, before our writer thread starts
    except BrokenProcessPool:
        pool.shutdown(wait=True, cancel_futures=True)
        raise _died(0, name) from None
    writer = _Writer(runner, name, progress, IN_FLIGHT_PER_WORKER * workers)
    writer.start()
    try:
        read_error: VeilError | None = None
        try:
            for index, batch in enumerate(batches):
                if writer.error is not None:
                    break
                runner.rows_in += batch.num_rows
                try:
                    future = pool.submit(_process, index, batch)
                except BrokenProcessPool:
                    raise _died(index, name) from None
                writer.queue.put((index, future))  # waits while the window is full
        except VeilError as exc:
            read_error = exc
        writer.stop()
        # what the single-core run would have reported first: an error in an earlier batch,
        # else the bad row the reader found
        if writer.error is not None:
            raise writer.error
        if read_error is not None:
            raise read_error
    finally:
        writer.stop()
        pool.shutdown(wait=True, cancel_futures=True)
