"""Checks on runs: stale leases, runs left ``running`` without one, leftover temporary files."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from veil.doctor.findings import Finding
from veil.pipeline.lease import Lease, claim, read_leases, stale_after
from veil.pipeline.recovery import TEMP_NAME, abandon, recover
from veil.store.schema import retention_outputs, run_leases, runs
from veil.store.workspace import Workspace

#: How many of the newest runs' output folders are scanned for leftover temporary files.
SCAN_RUNS = 2000
Fix = Callable[[], str]


def stale_runs(ws: Workspace, now: datetime) -> list[Finding]:
    """Leases whose holder is gone (repair: roll back or finish publishing), and live ones
    whose heartbeat is late (reported only: the process is there)."""
    with ws.engine.connect() as conn:
        leases = read_leases(conn)
    out = []
    for lease in leases:
        why = lease.stale_reason(now)
        if why is not None:
            action = ("finish publishing (or roll back if the output is gone)"
                      if lease.phase == "publishing" else "roll back: mark failed, remove "
                      "its temporary files")
            out.append(Finding("stale_run", lease.run_id,
                               f"{lease.describe()} writing {lease.output_ref}: {why}",
                               action, fix=_recover(ws, lease, why)))
        elif lease.age(now) > stale_after():
            out.append(Finding("late_heartbeat", lease.run_id,
                               f"{lease.describe()}: no heartbeat for {lease.age(now):.0f} s, "
                               "but its process lives (paused or busy?)", "none",
                               severity="info"))
    return out


def _recover(ws: Workspace, lease: Lease, why: str) -> Fix:
    def fix() -> str:
        if not claim(ws.engine, lease):
            return "already recovered by another process"
        return recover(ws, lease, why).line()
    return fix


def unleased_runs(ws: Workspace, now: datetime) -> list[Finding]:
    """Runs recorded as running that hold no lease (started by a Veil before leases, or
    their lease removed by hand): nothing can finish them."""
    held = sa.select(run_leases.c.run_id)
    with ws.engine.connect() as conn:
        rows = conn.execute(sa.select(runs.c.id, runs.c.started_at).where(
            runs.c.status == "running", runs.c.id.not_in(held))).all()
    return [Finding("unleased_run", r.id, f"run {r.id[:12]} is recorded as running but holds "
                    "no lease (its process is gone)", "mark it failed",
                    fix=_abandon(ws, r.id)) for r in rows]


def _abandon(ws: Workspace, run_id: str) -> Fix:
    def fix() -> str:
        abandon(ws, run_id, "abandoned: recorded as running without a lease (veil doctor); "
                "nothing was published")
        return f"run {run_id[:12]} marked failed"
    return fix


def _folders(ws: Workspace) -> set[Path]:
    """Folders of recorded outputs: retention rows (resolved paths), the newest runs (paths
    relative to the workspace when not absolute) and the leases."""
    folders = {ws.root}
    with ws.engine.connect() as conn:
        refs = list(conn.execute(sa.select(retention_outputs.c.output_ref)).scalars())
        refs += conn.execute(sa.select(runs.c.output_ref).order_by(runs.c.started_at.desc())
                             .limit(SCAN_RUNS)).scalars()
        refs += conn.execute(sa.select(run_leases.c.output_ref)).scalars()
    for ref in refs:
        p = Path(ref)
        folders.add((p if p.is_absolute() else ws.root / p).parent)
    return {f for f in folders if f.is_dir()}


def temp_files(ws: Workspace, now: datetime) -> list[Finding]:
    """``.<name>.<hex>.tmp`` / ``.old`` beside recorded outputs, older than the stale limit
    and not a live run's (repair: remove)."""
    with ws.engine.connect() as conn:
        leases = read_leases(conn)
    live = [lease for lease in leases if lease.stale_reason(now) is None]
    mine = {os.path.abspath(p) for lease in live for p in lease.temp_files()}
    live_names = {(str(Path(lease.output_ref).parent), Path(lease.output_ref).name)
                  for lease in live}
    limit = time.time() - stale_after()
    out = []
    for folder in sorted(_folders(ws)):
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for e in entries:
            m = TEMP_NAME.match(e.name)
            if m is None or os.path.abspath(e.path) in mine \
                    or (str(folder), m["name"]) in live_names:
                continue
            try:
                st = e.stat(follow_symlinks=False)
            except OSError:
                continue
            if st.st_mtime > limit:
                continue  # may be a write in progress
            kind = "folder" if e.is_dir(follow_symlinks=False) else "file"
            out.append(Finding("temp_file", e.path, f"leftover temporary {kind} beside "
                               f"'{m['name']}' ({st.st_size:,} bytes)", "remove it",
                               fix=_remove(Path(e.path))))
    return out


def _remove(path: Path) -> Fix:
    def fix() -> str:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
        return f"removed {path}"
    return fix
