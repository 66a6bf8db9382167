"""The local engine on several cores: numbered batches through forked workers, output in order.

The parent reads the source (pyarrow), hands batch ``i`` as read to a pool of worker processes
that conform its types (`veil.io.types.conform`) and run the run's stages, and writes the
results back in input order, so the output is the single-core run's, row for row. A CSV file
(UTF-8, quotes doubled) read by `SPLIT_MIN_WORKERS` or more workers the parent does not parse:
it cuts it where pyarrow would batch it and sends each worker the chunk's offset and length; the
worker reads and parses those bytes itself (`veil.pipeline.csv_split`), and the parent numbers
their records in order. The rows conform rejects come back as bad values; the parent turns them
into rejects (records, lines) in input order, after the reader's own for that batch. At most ``2 *
workers`` batches are in flight: memory stays flat whatever the input size. What the stages
count (stage figures, rows dropped by reason, the consent and rights stages' tallies, lineage's
subject ids) comes back with each batch and is added to the parent's stages, as the Spark engine
does with its partitions. Noise is seeded by batch number, never by worker, so the same input
gives the same output whatever the number of workers.

Keys: workers are forked after the parent has prepared the run (one empty batch through its
stages: consent snapshot loaded, keysets opened, treatments described), so they inherit its key
primitives in memory, copy-on-write. No key, KEK or passphrase crosses a pipe or touches disk; a
key the parent had not opened yet (a subject's own key) a worker opens from the workspace exactly
as the parent would. Fork is why this needs a POSIX system.

A worker that dies (killed, out of memory) breaks the pool: the run fails with one clear error
and publishes nothing, like any failed run; a rerun starts afresh.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import queue
import signal
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from veil.errors import InputError, VeilError
from veil.io.readers import CsvSource, OnReject, RawBatch, Reject, fix_lines, record_number
from veil.io.types import BadValue, conform
from veil.lineage.collector import distinct, hash_prefixes
from veil.pipeline.context import RunContext
from veil.pipeline.csv_split import (
    Chunk,
    parse,
    reread_error,
    split_batches,
    splittable,
    unchanged,
)
from veil.pipeline.stage import Stage, StageStats, run_stages

if TYPE_CHECKING:  # pragma: no cover
    from veil.pipeline.runner import Runner

__all__ = ["check_workers", "feed_parallel"]

IN_FLIGHT_PER_WORKER = 2  # batches queued or being worked on, per worker
#: from this many workers on, they read their own chunks of a CSV file (`csv_split`). Measured
#: on 2 cores (1M rows): with 2 workers the parent's cut costs 0.3 s less than its parse did but
#: the workers pay the parse, ~7-10 % more CPU in all, so 2 workers keep the parent's parse;
#: with more, the parent's parse (its largest share) is what limits them
SPLIT_MIN_WORKERS = 3


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

    batch: pa.RecordBatch | None  # None: every row of the batch was rejected by conform
    subjects: pa.Array | np.ndarray | None  # lineage: the distinct subject ids of the rows
    # that left, or their pseudonym prefixes when the worker holds the subject-reference key
    stats: list[tuple[int, int, float]]  # per stage: rows in, rows out, seconds
    dropped: dict[str, int]  # rows dropped, by reason
    bad: list[BadValue] = field(default_factory=list)  # values conform rejected, in order
    rows: int = 0  # rows that reached the stages
    csv: _Csv | None = None  # a chunk the worker parsed: what the parent numbers


@dataclass
class _Csv:
    """What a worker that parsed a CSV chunk reports for the parent to number in order."""

    records: int  # records in the chunk (rows parsed and rows skipped)
    rows: int  # rows parsed (before conform)
    malformed: list[Reject]  # rows pyarrow skipped, numbered from the chunk's first record
    raw: list[dict[str, Any]]  # the parsed row of each bad value, for the rejects file
    reported: bool = False  # its malformed rows reported (with the batch before: see _Writer)


@dataclass
class _Failed:
    """A `VeilError` raised in a worker, rebuilt in the parent as the same class and text."""

    kind: type[VeilError]
    args: tuple[Any, ...]
    state: dict[str, Any]
    bad: list[BadValue] = field(default_factory=list)  # reported before the error, as read
    csv: _Csv | None = None

    def error(self) -> VeilError:
        exc = self.kind.__new__(self.kind)
        Exception.__init__(exc, *self.args)
        exc.__dict__.update(self.state)
        return exc


class _Worker:
    """A worker process's copy of the run (inherited from the parent by fork)."""

    def __init__(self, stages: list[Stage], ctx: RunContext, lineage_key: bytes | None) -> None:
        self.stages, self.ctx, self.lineage_key = stages, ctx, lineage_key
        self.fields = [f.name for f in ctx.plan.output]

    def process(self, seed: int, batch: pa.RecordBatch | Chunk,
                raw: bool) -> _Done | _Failed | None:
        bad: list[BadValue] = []
        csv = None
        if isinstance(batch, Chunk):  # read and parse it first (`veil.pipeline.csv_split`)
            parsed = parse(batch)
            if parsed.batch is None:
                return None  # the parent reads the file again for the single-core error
            batch = parsed.batch
            csv = _Csv(parsed.records, batch.num_rows, parsed.malformed, [])
        if raw:  # conform here, as the reader would have: bad rows out, reported in order
            original = batch
            batch, bad = conform(batch, self.ctx.plan.types)
            if bad:
                drop = {b.row for b in bad}
                batch = batch.filter(pa.array([i not in drop for i in range(batch.num_rows)]))
                if csv is not None:
                    csv.raw = [original.slice(b.row, 1).to_pylist()[0] for b in bad]
            if not batch.num_rows:  # the reader would not have yielded it
                return _Done(None, None, [], {}, bad, csv=csv)
        ctx = self.ctx
        ctx.dropped_rows = Counter()
        ctx.subject_ids = None
        # noise is seeded by (run, field, batch number): the number the single-core run gives
        # this batch, i.e. of the batches before it that reached the stages (see _Writer)
        ctx.transforms.state.noise_batches.clear()
        ctx.transforms.state.noise_batches.update(dict.fromkeys(self.fields, seed))
        stats = [StageStats(s.name) for s in self.stages]
        try:
            out = run_stages(self.stages, stats, batch, ctx)
        except VeilError as exc:
            return _Failed(type(exc), exc.args, dict(exc.__dict__), bad, csv)
        ids = ctx.subject_ids
        subjects = None
        if ids is not None and len(ids):  # sorted here, in parallel: less to send and merge
            if isinstance(ids, pa.ChunkedArray):
                ids = ids.combine_chunks()
            subjects = distinct(ids if pa.types.is_string(ids.type) else pc.cast(ids, pa.string()))
            if self.lineage_key is not None:  # hashed here too: the parent only merges
                subjects = hash_prefixes(subjects, self.lineage_key)
        return _Done(out, subjects, [(s.rows_in, s.rows_out, s.seconds) for s in stats],
                     dict(ctx.dropped_rows), bad, batch.num_rows, csv)


_WORKER: _Worker | None = None  # set in each worker process by `_start`


def _start(stages: list[Stage], ctx: RunContext, lineage_key: bytes | None) -> None:
    global _WORKER
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    if ctx.workspace is not None:  # the parent's pooled connections are not ours to use
        ctx.workspace.engine.dispose(close=False)
    _WORKER = _Worker(stages, ctx, lineage_key)


def _process(seed: int, batch: pa.RecordBatch | Chunk, raw: bool) -> _Done | _Failed | None:
    assert _WORKER is not None
    return _WORKER.process(seed, batch, raw)


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
    runner.rows_in += done.rows
    runner.ctx.dropped_rows.update(done.dropped)
    if isinstance(done.subjects, np.ndarray):
        assert runner.lineage is not None
        runner.lineage.add_hashed(done.subjects)
    else:
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
                 size: int, on_reject: OnReject) -> None:
        super().__init__(name=f"veil-writer-{runner.run_id[:8]}", daemon=True)
        self.runner, self.source, self.progress = runner, source, progress
        self.on_reject = on_reject
        self.queue: queue.Queue[_Item | None] = queue.Queue(size)
        self.error: BaseException | None = None
        self._stopped = False
        # CSV parsed by the workers: records, rows and skipped records of the chunks so far
        self.records, self.emitted, self.skipped = 0, 0, list[int]()
        self.csv_source: CsvSource | None = None  # the file the workers read (rejects' lines)
        self.pool: ProcessPoolExecutor | None = None
        self.unstaged = 0  # batches so far that never reached the stages (all rows rejected)

    def run(self) -> None:
        item = self.queue.get()
        while item is not None:
            following = self.queue.get()  # pyarrow's reader parses a block ahead: see below
            if self.error is None:
                try:
                    self._finish(*item, following=following)
                except BaseException as exc:  # noqa: BLE001 - handed to the parent
                    self.error = exc
            item = following

    def _finish(self, index: int, future: Future[_Done | _Failed | None], raw: RawBatch,
                before: list[Reject], seed: int, following: _Item | None = None) -> None:
        for r in before:  # what the reader reported before this batch (malformed rows)
            self.on_reject(r)
        try:
            result = future.result()
        except BrokenProcessPool:
            raise _died(index, self.source) from None
        if result is None:
            assert self.csv_source is not None
            raise reread_error(self.csv_source, self.runner.plan)
        if result.csv is not None:
            self._csv_rejects(result.csv, result.bad, following)
        elif result.bad and raw.rejects is not None:
            for r in raw.rejects(raw.batch, result.bad):
                self.on_reject(r)
        if isinstance(result, _Failed):
            raise result.error()
        if result.batch is None:
            self.unstaged += 1
            return
        if seed != index - self.unstaged:  # seeded before an earlier batch proved empty
            result = self._again(index, raw, index - self.unstaged)
        _absorb(self.runner, result)
        self.runner.write(result.batch)
        if self.progress is not None:
            self.progress()

    def _again(self, index: int, raw: RawBatch, seed: int) -> _Done:
        """Batch ``index`` through the stages again, numbered ``seed`` as the single-core run
        numbers it (rare: only after a batch whose rows were all rejected)."""
        assert self.pool is not None
        try:
            result = self.pool.submit(_process, seed, raw.batch, _conform(raw)).result()
        except BrokenProcessPool:
            raise _died(index, self.source) from None
        if isinstance(result, _Failed):
            raise result.error()
        assert isinstance(result, _Done)
        return result

    def _csv_rejects(self, csv: _Csv, bad: list[BadValue], following: _Item | None) -> None:
        """A worker's chunk's rejects, numbered and ordered as the single-core reader reports
        them (records counted from the file's start): its malformed rows, then the next
        chunk's (pyarrow's reader has parsed the next block when it returns a batch), then
        its bad values."""
        rejects = self._malformed(csv, self.records)
        if following is not None:
            index, future = following[:2]
            try:
                after = future.result()
            except BrokenProcessPool:
                raise _died(index, self.source) from None
            if after is not None and after.csv is not None:
                rejects += self._malformed(after.csv, self.records + csv.records)
        rejects += [Reject(record_number(self.emitted + b.row, self.skipped), None, b.column,
                           b.reason, row) for b, row in zip(bad, csv.raw, strict=True)]
        self.records += csv.records
        self.emitted += csv.rows
        if rejects:
            assert self.csv_source is not None
            fix_lines(self.csv_source.path, self.csv_source.options, rejects)
            for r in rejects:
                self.on_reject(r)

    def _malformed(self, csv: _Csv, base: int) -> list[Reject]:
        """A chunk's malformed rows, numbered from ``base`` records, once."""
        if csv.reported:
            return []
        csv.reported = True
        rejects = [Reject(base + r.record, None, r.column, r.reason, r.raw)
                   for r in csv.malformed]
        self.skipped.extend(r.record for r in rejects)
        return rejects

    def stop(self) -> None:
        """Finish what is queued, then end (once)."""
        if not self._stopped:
            self._stopped = True
            self.queue.put(None)
            self.join()


_Item = tuple[int, "Future[_Done | _Failed | None]", RawBatch, list[Reject], int]


def _conform(raw: RawBatch) -> bool:
    """Whether the worker conforms the batch's types (the reader did not)."""
    return raw.rejects is not None or isinstance(raw.batch, Chunk)


def feed_parallel(runner: Runner, batches: Iterator[RawBatch], workers: int,
                  on_reject: OnReject, pending: list[Reject],
                  progress: Callable[[], None] | None = None) -> None:
    """Conform and run the stages over ``batches`` in ``workers`` processes and write the
    results through ``runner`` in input order (see the module doc). The reader reports its
    rejects into ``pending``; they reach ``on_reject`` in the single-core run's order, each
    batch's before its bad values, so a quarantine file and a failing run's error are the same."""
    prepare(runner)
    name = getattr(runner.source, "name", "input")
    split = runner.source if isinstance(runner.source, CsvSource) else None
    if split is not None and workers >= SPLIT_MIN_WORKERS and splittable(split):
        close = getattr(batches, "close", None)
        if close is not None:
            close()  # not started: it opened nothing
        opened = os.stat(split.path)  # the workers read the file again: checked at the end
        batches = split_batches(runner, split)
    else:
        split = None
    # opened before the fork, inherited in memory like the transforms' keys (never sent)
    key = runner.lineage_key()
    # what exists now the workers inherit and keep: frozen, their collector never walks it
    # (less CPU, fewer pages copied on write); the parent collects it again once they forked
    gc.freeze()
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                               initializer=_start, initargs=(runner.stages, runner.ctx, key))
    try:
        pool.submit(_ready).result()  # every worker forked now, before our writer thread starts
    except BrokenProcessPool:
        pool.shutdown(wait=True, cancel_futures=True)
        raise _died(0, name) from None
    finally:
        gc.unfreeze()
    writer = _Writer(runner, name, progress, IN_FLIGHT_PER_WORKER * workers, on_reject)
    writer.csv_source, writer.pool = split, pool
    writer.start()
    try:
        read_error: VeilError | None = None
        try:
            for index, raw in enumerate(batches):
                if writer.error is not None:
                    break
                before = pending[:]
                pending.clear()
                seed = index - writer.unstaged  # the writer checks it (see _Writer._again)
                try:
                    future = pool.submit(_process, seed, raw.batch, _conform(raw))
                except BrokenProcessPool:
                    raise _died(index, name) from None
                writer.queue.put((index, future, raw, before, seed))  # waits if the window is full
        except VeilError as exc:
            read_error = exc
        writer.stop()
        # what the single-core run would have reported first: an error in an earlier batch,
        # else the bad row the reader found
        if writer.error is not None:
            raise writer.error
        if split is not None and read_error is None:  # after the workers' last read
            unchanged(split, opened, os.stat(split.path))
        for r in pending:  # reported after the last batch, or before the read error
            on_reject(r)
        if read_error is not None:
            raise read_error
    finally:
        writer.stop()
        pool.shutdown(wait=True, cancel_futures=True)
