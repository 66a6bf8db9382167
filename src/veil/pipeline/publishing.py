"""A run's start under its lease, its commit point, and the renames that publish it.

**Start.** The run row and the lease on the output path are inserted in one transaction. A
path another live run holds is refused (`RunRefused`); a holder that is gone is recovered first
(`veil.pipeline.recovery`). Only then, under the lease (no other run can publish there now), is
an existing output checked: replacing it needs ``overwrite``.

**Commit point.** Output, receipt and rejects are complete in temporary files (fsynced); then
one transaction marks the run succeeded, writes its retention row, notes "replaced by <run>" on
the records of the output it overwrites, and moves the lease to phase ``publishing`` with the
renames still to do. Before it nothing is published and a crash rolls the run back; after it a
crash leaves renames that the next command (or `veil doctor --repair`) finishes.

**Renames, in this order:** (1) an overwritten output's old receipt is removed, (2) the output
is renamed into place, (3) the receipt, (4) the rejects file. So a receipt beside an output is
always that output's: a crash between (2) and (3) leaves the new output without a receipt for
a moment (readable meanwhile through the store's record of the run, which the commit wrote),
never with the old one's; the next command puts the receipt in place.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from veil.errors import RunRefused
from veil.pipeline.lease import RunLease, lease_of
from veil.pipeline.recovery import recover, recover_stale_runs
from veil.store.schema import lineage_outputs, retention_outputs
from veil.store.workspace import Workspace

__all__ = ["fsync_path", "mark_replaced", "replaced_runs", "start_run"]


def start_run(ws: Workspace, lease: RunLease, insert_run: Callable[[sa.Connection], None],
              temp: list[Path], *, overwrite: bool, now: datetime,
              exists: Callable[[], bool] | None = None, name: str | None = None) -> None:
    """Insert the run row (``insert_run(conn)``) and its lease in one transaction; refuse a
    path another live run writes, and an existing output without ``overwrite`` (``exists``:
    how to tell for a remote output, ``name`` its URI; a store that cannot be reached fails the
    run here)."""
    recover_stale_runs(ws)
    for attempt in range(3):
        try:
            with ws.engine.begin() as conn:
                insert_run(conn)
                lease.insert(conn, temp, now)
            break
        except sa.exc.IntegrityError:
            with ws.engine.connect() as conn:
                held = lease_of(conn, output=lease.output)
            if held is None:
                continue  # released meanwhile
            why = held.stale_reason()
            if why is None or attempt == 2:
                raise RunRefused(f"the output is being written by {held.describe()}: wait for "
                                 "it, or choose another output",
                                 where=name or str(lease.output)) from None
            from veil.pipeline.lease import claim

            if claim(ws.engine, held):
                recover(ws, held, why)
    try:
        published = exists() if exists is not None else _published(lease.output)
    except BaseException:
        _never_began(ws, lease)
        raise
    if published and not overwrite:
        _never_began(ws, lease)
        raise RunRefused("the output exists: pass --overwrite (overwrite=True) to replace it "
                         "(recorded: the old output's records say which run replaced it)",
                         where=name or str(lease.output))
    lease.start_heartbeat()


def _never_began(ws: Workspace, lease: RunLease) -> None:
    """The run was refused before it began: leave no trace of it."""
    from veil.store.schema import runs

    with ws.engine.begin() as conn:
        lease.release(conn)
        conn.execute(runs.delete().where(runs.c.id == lease.run_id))


def _published(path: Path) -> bool:
    """A file, or a Veil parts folder, is at ``path`` (a plain folder is the sink's error)."""
    return path.is_file() or (path / "_manifest.json").is_file()


def replaced_runs(ws: Workspace, output: Path | str, run_id: str) -> list[str]:
    """The runs (other than ``run_id``) whose live, published output is the file at
    ``output`` (a `Path`), or the remote output named ``output`` (a str): an overwrite
    replaces them."""
    ref = str(output.resolve()) if isinstance(output, Path) else output
    t = retention_outputs.c
    with ws.engine.connect() as conn:
        ids = set(conn.execute(sa.select(t.run_id).where(
            t.output_ref == ref, t.replaced_by.is_(None), t.state == "live")).scalars())
        lo = lineage_outputs.c
        ids |= set(conn.execute(sa.select(lo.run_id).where(
            lo.output_ref == ref, lo.replaced_by.is_(None))).scalars())
    ids.discard(run_id)
    return sorted(ids)


def mark_replaced(conn: sa.Connection, old: list[str], new: str) -> None:
    """Note on the replaced outputs' retention and lineage rows which run replaced them."""
    if not old:
        return
    for t in (retention_outputs, lineage_outputs):
        conn.execute(t.update().where(t.c.run_id.in_(old), t.c.replaced_by.is_(None))
                     .values(replaced_by=new))


def fsync_path(path: Path) -> None:
    """fsync a file (a folder: its files and itself) before the commit point."""
    paths = [*sorted(path.iterdir()), path] if path.is_dir() else [path]
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def utcnow() -> datetime:
    return datetime.now(UTC)
