"""Crash recovery: runs whose holder is gone are rolled back, or their publishing finished.

A run's commit point is one database transaction (`veil.pipeline.runner`): the run row becomes
``succeeded``, its retention row is written, and its lease moves to phase ``publishing`` with
the renames still to do (output, then receipt, then rejects). So a run killed at any point is:

* **before the commit point** (lease phase ``writing``): rolled back. Its temporary files are
  removed, the run is marked failed with the reason, its lineage row and its own output keyset
  (``output.<run id>``; nothing was published under it) are dropped, and a ``run.recover``
  audit event says so. Nothing had been published.
* **after the commit point** (phase ``publishing``): finished. The output's temporary file is
  checked against the digest the run committed, the remaining renames are done in order, the
  lease is removed and a ``run.recover`` audit event records it. If the temporary output is no
  longer there with that digest, the run is rolled back instead (its retention row removed).

`recover_stale_runs` costs one query of ``run_leases`` (a row per run in progress) when nothing
is stale: every CLI command that takes ``--workspace`` calls it, and so does every new run.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from veil._actor import default_actor
from veil.pipeline.lease import Lease, claim, read_leases
from veil.store.schema import (
    lineage_outputs,
    lineage_subjects,
    retention_outputs,
    run_leases,
    runs,
)
from veil.store.workspace import Workspace

__all__ = ["LEGAL_BASIS", "Recovered", "abandon", "abandon_many", "is_temp_name", "recover",
           "recover_many", "recover_stale_runs"]

LEGAL_BASIS = "Art. 5(1)(f) integrity; Art. 32 security of processing"
ACTION = "run.recover"
#: Temporary names Veil gives files and folders beside their final name:
#: ``.<name>.<12 hex>.tmp`` (being written) and ``.<name>.<12 hex>.old`` (a replaced folder).
TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.[0-9a-f]{12}\.(tmp|old)$")


def is_temp_name(name: str) -> bool:
    return TEMP_NAME.match(name) is not None


@dataclass(frozen=True)
class Recovered:
    """What recovery did with one run."""

    run_id: str
    output: str
    phase: str  # the lease's phase when the holder died: writing | publishing
    result: str  # "rolled back" | "published"
    reason: str
    removed: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "output": self.output, "phase": self.phase,
                "result": self.result, "reason": self.reason, "removed": list(self.removed)}

    def line(self) -> str:
        what = ("marked failed, nothing published" if self.result == "rolled back"
                else "its publishing finished")
        extra = f"; {len(self.removed)} temporary file(s) removed" if self.removed else ""
        return f"run {self.run_id[:12]} ({self.reason}): {what}{extra}"


def recover_stale_runs(ws: Workspace, *, now: datetime | None = None,
                       limit: float | None = None) -> list[Recovered]:
    """Recover every run whose holder is gone (see the module doc); [] when none is. A store
    without the leases table (an older schema) has nothing to recover."""
    try:
        with ws.engine.connect() as conn:
            leases = read_leases(conn)
    except sa.exc.DBAPIError:
        return []
    stale = [(lease, why) for lease in leases if (why := lease.stale_reason(now, limit))]
    if not stale:
        return []
    return recover_many(ws, [(lease, why) for lease, why in stale if claim(ws.engine, lease)])


def recover(ws: Workspace, lease: Lease, reason: str, *, actor: str | None = None
            ) -> Recovered:
    """Roll back or finish one run whose lease this process has claimed."""
    return recover_many(ws, [(lease, reason)], actor=actor)[0]


def recover_many(ws: Workspace, claimed: list[tuple[Lease, str]], *,
                 actor: str | None = None) -> list[Recovered]:
    """Roll back or finish runs whose leases this process has claimed: the committed ones
    whose output is intact are finished, the others rolled back together (one transaction,
    one audit append)."""
    if not claimed:
        return []
    actor = default_actor(actor)
    ids = [lease.run_id for lease, _ in claimed]
    with ws.engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(sa.select(
            runs.c.id, runs.c.purpose, runs.c.output_digest).where(runs.c.id.in_(ids)))}
    done: list[Recovered] = []
    back: list[tuple[Lease, str]] = []
    for lease, why in claimed:
        row = rows.get(lease.run_id)
        if lease.phase == "publishing" and row is not None and row.output_digest \
                and _roll_forward(ws, lease, row.output_digest):
            done.append(Recovered(lease.run_id, lease.output_ref, lease.phase, "published",
                                  why))
        else:
            back.append((lease, why))
    for lease, why in back:
        done.append(Recovered(lease.run_id, lease.output_ref, lease.phase, "rolled back", why,
                              tuple(remove_temp_files(lease))))
    abandon_many(ws, [(lease.run_id, f"abandoned: {why}; nothing was published")
                      for lease, why in back], actor=actor)
    _audit(ws, done, {r.id: r.purpose for r in rows.values()}, actor)
    return done


# -- rolling back ---------------------------------------------------------------------------


def remove_temp_files(lease: Lease) -> list[str]:
    """Remove the run's temporary files and folders (only names that look temporary), and
    any other ``.<output>.<hex>.tmp`` beside the output (no other run writes that path)."""
    paths = [Path(p) for p in lease.temp_files()]
    out = Path(lease.output_ref)
    try:
        paths += [p for p in out.parent.iterdir()
                  if (m := TEMP_NAME.match(p.name)) and m["name"] == out.name]
    except OSError:
        pass
    removed = []
    for p in dict.fromkeys(paths):
        if not is_temp_name(p.name):
            continue
        try:
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
            removed.append(str(p))
        except FileNotFoundError:
            continue
        except OSError:
            continue  # left for `veil doctor` to report
    return removed


def abandon(ws: Workspace, run_id: str, error: str, *, actor: str | None = None) -> None:
    """Mark a run failed and undo its records (see `abandon_many`)."""
    abandon_many(ws, [(run_id, error)], actor=actor)


def abandon_many(ws: Workspace, failed: list[tuple[str, str]], *,
                 actor: str | None = None) -> None:
    """Mark runs failed (each with its error) and undo their records in one transaction:
    their retention rows, the "replaced by" notes they made, their lineage and their leases;
    their own output keysets are destroyed in the same transaction (nothing was published
    under them)."""
    if not failed:
        return
    now = datetime.now(UTC)
    ids = [run_id for run_id, _ in failed]

    def bookkeeping(conn: sa.Connection) -> None:
        for run_id, error in failed:
            conn.execute(runs.update().where(runs.c.id == run_id).values(
                status="failed", finished_at=now, error=error[:2000]))
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            for t in (retention_outputs, lineage_outputs):
                conn.execute(t.delete().where(t.c.run_id.in_(chunk)))
                conn.execute(t.update().where(t.c.replaced_by.in_(chunk))
                             .values(replaced_by=None))
            conn.execute(lineage_subjects.delete().where(lineage_subjects.c.run_id.in_(chunk)))
            conn.execute(run_leases.delete().where(run_leases.c.run_id.in_(chunk)))

    from veil.keys.manager import KeyManager, output_keyset_name

    KeyManager(ws, actor=actor).destroy_many([output_keyset_name(i) for i in ids],
                                             before_commit=bookkeeping)


# -- finishing ------------------------------------------------------------------------------


def digest_of(path: Path) -> str | None:
    """The digest a run commits for its output: the file's SHA-256, or a parts folder's
    manifest's; None when absent."""
    from veil.io.writers import sha256_file
    from veil.keys.parts import MANIFEST

    try:
        if path.is_dir():
            return hashlib.sha256((path / MANIFEST).read_bytes()).hexdigest()
        return sha256_file(path)
    except OSError:
        return None


def _roll_forward(ws: Workspace, lease: Lease, digest: str) -> bool:
    """Do the committed renames still to do (output first); False when the output is no
    longer there with the committed digest (the caller rolls back)."""
    moves = [(Path(a), Path(b)) for a, b in lease.files.get("moves", [])]
    if not moves:
        return False
    out_tmp, out_final = moves[0]
    have = digest_of(out_tmp) if out_tmp.exists() else digest_of(out_final)
    if have != digest:
        return False
    for tmp, final in moves:
        if tmp.exists():
            replace_into(tmp, final)
    with ws.engine.begin() as conn:
        conn.execute(run_leases.delete().where(run_leases.c.run_id == lease.run_id))
    return True


def replace_into(tmp: Path, final: Path) -> None:
    """Rename ``tmp`` to ``final`` (a folder replacing a folder: the old one moved aside and
    removed), then fsync the folder."""
    old = None
    if tmp.is_dir() and final.is_dir():
        old = final.parent / f".{final.name}.{uuid.uuid4().hex[:12]}.old"
        os.replace(final, old)
    os.replace(tmp, final)
    try:
        fd = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _audit(ws: Workspace, done: list[Recovered], purposes: dict[str, str],
           actor: str) -> None:
    """One ``run.recover`` event per run (outcome: success when its publishing was
    finished, failure when it was rolled back), in one append."""
    from veil.audit.event import AuditEvent
    from veil.audit.log import AuditLog

    now = datetime.now(UTC)
    log = AuditLog(ws)
    log.append([AuditEvent(
        time=now, actor=actor, action=ACTION, purpose=purposes.get(r.run_id, "unknown"),
        legal_basis=LEGAL_BASIS, outcome="success" if r.result == "published" else "failure",
        counts={"temp_files_removed": len(r.removed)},
        details={"run_id": r.run_id, "phase": r.phase, "result": r.result,
                 "cause": "its holder is gone"}) for r in done])
    log.deliver()  # as every operation does: a sink that is down never fails recovery
