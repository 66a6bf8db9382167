"""The local engine: source -> stages -> sink, one batch at a time, in bounded memory.

With ``workers > 1`` the stages run in a pool of worker processes (`veil.pipeline.parallel`);
the output, row for row, and the receipt, but for timings and the worker count, are the same.

The run's life (its row in the store, the gate, the receipt, the audit events, the atomic
publish, the cleanup of a failure) is the `veil.pipeline.runner.Runner`'s; this module reads
the source and feeds the runner.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from veil._actor import default_actor
from veil.errors import InputError
from veil.io.readers import CsvOptions, Reject, Source, open_source
from veil.pipeline.plan import Plan, make_plan
from veil.pipeline.runner import Runner, RunResult
from veil.policy.loader import load_policy
from veil.policy.model import Policy
from veil.store.workspace import Workspace
from veil.transforms.keys import TransformKeys, workspace_keys

__all__ = ["Progress", "RunResult", "run"]

Progress = Callable[[int, int | None], None]


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
    overwrite: bool = False,
    workers: int = 1,
) -> RunResult:
    """Run `purpose` of `policy` over `source` and write the minimized result to `output`.

    `source` is a path (CSV, Parquet, JSON lines), a database URL with `table`, or a pandas /
    Polars / Arrow table. Returns the receipt; raises a `VeilError` and publishes nothing when
    the run cannot complete. An existing `output` is replaced only with ``overwrite=True``
    (recorded: an audit event, and the old output's lineage and retention rows name the run
    that replaced it); a path another run is writing is refused (`RunRefused`). ``workers``
    processes run the stages (default 1: in this process); the output is the same.
    """
    if workers != 1 or type(workers) is not int:  # one worker: no pool to import
        from veil.pipeline.parallel import check_workers

        workers = check_workers(workers)
    pol = policy if isinstance(policy, Policy) else load_policy(policy)
    pol.purpose(purpose)  # unknown purpose: fail before touching anything
    ws = workspace if isinstance(workspace, Workspace) else Workspace.find(workspace)
    ws.ready()
    src = open_source(source, format=input_format, table=table, csv_options=csv_options)
    from veil.pipeline.outputs import output_kind, remote_target

    out_path = Path(output)
    if output_kind(str(output)) == "file" and out_path.suffix.lower() not in (".parquet", ".pq"):
        raise InputError("output must be a Parquet file (.parquet), an object-store URI or "
                         "a Delta table (delta://PATH)", where=str(out_path))
    plan = make_plan(pol, purpose, src.header(), dataset)
    receipt_path = Path(receipt) if receipt else out_path.with_name(out_path.name + ".receipt.json")
    rejects_path = (Path(rejects) if rejects
                    else out_path.with_name(out_path.name + ".rejects.jsonl"))
    if keys is None:
        keys = workspace_keys(ws)  # opens nothing until a keyed transform asks for a key
    target = remote_target(ws, str(output), str(receipt) if receipt else None,
                           str(rejects) if rejects else None, overwrite)
    if target is not None:
        out_path, receipt_path, rejects_path = (target.out_path, target.receipt_path,
                                                target.rejects_path)
    try:
        return _execute(ws, pol, plan, src, out_path, receipt_path, rejects_path,
                        actor or default_actor(), progress, keys, overwrite, workers, target)
    finally:
        if target is not None:
            target.drop()


def _execute(ws: Workspace, pol: Policy, plan: Plan, src: Source, out_path: Path,
             receipt_path: Path, rejects_path: Path, actor: str,
             progress: Progress | None, keys: TransformKeys, overwrite: bool,
             workers: int, target: Any = None) -> RunResult:
    quarantine = plan.dataset.on_bad_rows == "quarantine"
    with Runner(ws, pol, plan, src, out_path, receipt_path, rejects_path, actor, keys,
                overwrite=overwrite, target=target) as run:

        def on_reject(r: Reject) -> None:
            if not quarantine:
                raise InputError(f"{r.reason} (the policy says on_bad_rows: fail; set "
                                 "quarantine to set such rows aside)", where=r.place(src.name))
            run.set_aside(r, {"record": r.record, "line": r.line, "column": r.column,
                              "reason": r.reason, "raw": r.raw})

        run.build_stages()
        run.open_sink(run.encryption())
        report = (lambda: progress(src.position, src.size)) if progress else None
        if workers > 1:  # the workers conform the batches; the rejects reach us in order
            from veil.pipeline.parallel import feed_parallel

            run.engine = {"name": "local", "workers": workers}
            pending: list[Reject] = []
            raw = _timed(run, src.raw_batches(plan.read, plan.types, pending.append))
            feed_parallel(run, raw, workers, on_reject, pending, report)
        else:
            for batch in _timed(run, src.batches(plan.read, plan.types, on_reject)):
                run.feed(batch)
                if report:
                    report()
        return run.publish()


def _timed(run: Runner, batches: Iterator[Any]) -> Iterator[Any]:
    """``batches``, the time spent reading them added to the run's read time."""
    while True:
        t0 = time.perf_counter()
        batch = next(batches, None)
        run.t_read += time.perf_counter() - t0
        if batch is None:
            return
        yield batch
