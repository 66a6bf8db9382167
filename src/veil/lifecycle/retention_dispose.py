"""Disposal of run outputs: delete the file, destroy the keyset that alone encrypts it, record it.

Each output moves through ``intent -> file_deleted -> key_destroyed -> done`` in
``retention_outputs``, and every step is recorded in the store before the next begins, so a
process killed at any point (``kill -9``) leaves a state the next sweep finishes:

1. **intent**: the reason, actor and start time are written first (one transaction per batch);
2. **file_deleted**: the output (a file, or a Spark run's folder of parts) and its rejects file
   are removed; a file already gone is fine (a re-run after a crash);
3. **key_destroyed**: the output's own keyset (``output.<run id>``) is destroyed in the same
   transaction that records the step (`veil.keys.manager.KeyManager.destroy_many`), so a copy
   of the file made earlier can no longer be decrypted, backups of the file included;
4. **done**: one ``retention.dispose`` audit event per output (skipped on a re-run when the log
   already has it), the certificate written, then the lineage subjects of the output dropped and
   the row marked done in one transaction.

An output encrypted under a shared keyset (a purpose naming ``encryption.keyset``) keeps that
keyset: the certificate says so (copies made earlier remain readable while the keyset lives).
Everything is done in batches, so a sweep of 10,000 outputs costs a handful of transactions.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from veil._actor import default_actor
from veil.errors import ConflictError, InputError
from veil.lifecycle.retention_certificate import write_certificate
from veil.lifecycle.retention_records import (
    LEGAL_BASIS,
    Disposal,
    OutputRetention,
    find_output,
)
from veil.store.schema import lineage_subjects, retention_outputs, runs
from veil.store.transactions import read_connection, write_transaction

if TYPE_CHECKING:  # pragma: no cover
    from veil.store.workspace import Workspace

__all__ = ["Hook", "dispose_output", "dispose_rows"]

#: Called with a step's name once it is recorded ("intent", "file_deleted", "key_destroyed",
#: "audited", "done"); tests raise from it to simulate a process killed between steps.
Hook = Callable[[str], None]

_CHUNK = 500
ACTION = "retention.dispose"


def dispose_output(ws: Workspace, run_id: str, *, reason: str, actor: str | None = None,
                   now: datetime | None = None, hook: Hook | None = None) -> Disposal:
    """Dispose of one run output now, whatever its expiry: delete the file, destroy the keyset
    that alone encrypts it (copies die too), record a ``retention.dispose`` audit event and
    write a certificate (``retention/certificates/``). Re-running it finishes an interrupted
    disposal; an output already disposed of returns its recorded disposal.

    ``run_id``: a run id, a unique prefix of 6+ characters, or the output's path. ``reason``:
    why (recorded; e.g. "erasure request 3f2a9c: on_erasure purge"). Refused (`ConflictError`)
    while the output is under a legal hold; `NotFoundError` for an unknown output.
    Used by the retention sweep and by erasure propagation (``on_erasure: purge``)."""
    if not reason or not str(reason).strip():
        raise InputError("a disposal needs a reason (e.g. 'retention of 5 years ended')")
    ws = ws.ready()
    with read_connection(ws.engine, "reading retention records") as conn:
        rec = find_output(conn, run_id)
    if rec.state == "live" and rec.hold_reason:
        raise ConflictError(f"output {rec.run_id} is under a legal hold ({rec.hold_reason}): "
                            "release it first (`veil retention release`)")
    if rec.state == "done":
        return _recorded(rec, actor or default_actor())
    return dispose_rows(ws, [rec], reason=str(reason).strip(), actor=actor, now=now,
                        hook=hook)[0]


def _recorded(rec: OutputRetention, actor: str) -> Disposal:
    return Disposal(rec.run_id, rec.output, rec.digest, rec.purpose, rec.retention,
                    rec.expires_at, rec.disposal_reason or "", actor, "deleted", rec.keyset,
                    _key_text(rec), rec.disposed_at, rec.certificate)


def _key_text(rec: OutputRetention) -> str:
    if rec.keyset is None:
        return "none (written in clear)"
    if rec.own_key:
        return "destroyed"
    return f"shared keyset {rec.keyset} kept (copies stay readable while it exists)"


def dispose_rows(ws: Workspace, recs: Sequence[OutputRetention], *, reason: str,
                 actor: str | None = None, now: datetime | None = None,
                 hook: Hook | None = None, dry_run: bool = False) -> list[Disposal]:
    """Dispose of these outputs in batches (see module doc); their rows may be live or part
    way through an earlier disposal, whose reason is kept. ``now`` is the clock the caller
    judged expiry by (recorded as ``as_of``); stored times are the real clock's."""
    actor = default_actor(actor)
    hook = hook or (lambda step: None)
    ids = [r.run_id for r in recs if r.state != "done"]
    if dry_run:
        return [replace(_recorded(r, actor), reason=r.disposal_reason or reason,
                        disposed_at=None) for r in recs if r.state != "done"]
    if not ids:
        return []
    started = datetime.now(UTC)
    t = retention_outputs
    with write_transaction(ws.engine, "recording disposal intents") as conn:
        for chunk in _chunks(ids):
            conn.execute(t.update().where(t.c.run_id.in_(chunk), t.c.state == "live").values(
                state="intent", disposal_reason=reason[:2000], disposal_actor=actor[:128],
                disposal_started_at=started))
    hook("intent")
    # the rows as the store now has them (known here: no need to read 10,000 rows back)
    rows = [r if r.state != "live" else replace(
        r, state="intent", disposal_reason=reason, disposal_started_at=started)
        for r in recs if r.state != "done"]
    files = _delete_files(ws, [r for r in rows if r.state == "intent"])
    _mark(ws, ids, "intent", "file_deleted")
    hook("file_deleted")
    _destroy_keys(ws, ids, [r.keyset for r in rows if r.own_key and r.keyset], actor)
    hook("key_destroyed")
    rows = [replace(r, state="key_destroyed") if r.state != "done" else r for r in rows]
    disposals = [Disposal(r.run_id, r.output, r.digest, r.purpose, r.retention, r.expires_at,
                          r.disposal_reason or reason, actor, files.get(r.run_id, "deleted"),
                          r.keyset, _key_text(r), None) for r in rows]
    _audit(ws, rows, actor, now, started)
    hook("audited")
    at = datetime.now(UTC)
    disposals = [replace(d, disposed_at=at) for d in disposals]
    cert = write_certificate(ws, disposals, actor=actor, as_of=now or at)
    with write_transaction(ws.engine, "recording disposals") as conn:
        for chunk in _chunks(ids):
            conn.execute(lineage_subjects.delete().where(lineage_subjects.c.run_id.in_(chunk)))
            conn.execute(t.update().where(t.c.run_id.in_(chunk), t.c.state == "key_destroyed")
                         .values(state="done", disposed_at=at, certificate=str(cert)))
    hook("done")
    return [replace(d, certificate=str(cert)) for d in disposals]




def _chunks(ids: Sequence[str]) -> list[Sequence[str]]:
    return [ids[i:i + _CHUNK] for i in range(0, len(ids), _CHUNK)]


def _mark(ws: Workspace, ids: Sequence[str], old: str, new: str,
          conn: sa.Connection | None = None) -> None:
    t = retention_outputs
    if conn is None:
        with write_transaction(ws.engine, f"recording disposals ({new})") as c:
            _mark(ws, ids, old, new, c)
        return
    for chunk in _chunks(ids):
        conn.execute(t.update().where(t.c.run_id.in_(chunk), t.c.state == old)
                     .values(state=new))


def _rejects_paths(ws: Workspace, ids: Sequence[str]) -> dict[str, str]:
    """The rejects file each run set aside (raw rows that could not be read), if any (read
    from the receipts by the database's JSON functions: no receipt is parsed here)."""
    path = runs.c.receipt["rejects"]["path"].as_string()
    out: dict[str, str] = {}
    with read_connection(ws.engine, "reading run receipts") as conn:
        for chunk in _chunks(ids):
            out.update(conn.execute(sa.select(runs.c.id, path).where(
                runs.c.id.in_(chunk), path.is_not(None))).all())
    return out


def _replaced(ws: Workspace, ids: Sequence[str]) -> dict[str, str]:
    """The outputs among ``ids`` that a later run overwrote, with that run."""
    t = retention_outputs.c
    out: dict[str, str] = {}
    with read_connection(ws.engine, "reading retention records") as conn:
        for chunk in _chunks(ids):
            out.update(conn.execute(sa.select(t.run_id, t.replaced_by).where(
                t.run_id.in_(chunk), t.replaced_by.is_not(None))).all())
    return out


def _delete_files(ws: Workspace, recs: Sequence[OutputRetention]) -> dict[str, str]:
    """Remove each output (file, parts folder, object or Delta table) and its rejects file;
    idempotent. An output another run overwrote (``replaced_by``) is not there any more: the
    path holds the newer run's output, which stays."""
    rejects = _rejects_paths(ws, [r.run_id for r in recs])
    replaced = _replaced(ws, [r.run_id for r in recs])
    said: dict[str, str] = {}
    for r in recs:
        if r.run_id in replaced:
            said[r.run_id] = f"already absent (replaced by run {replaced[r.run_id]})"
            continue
        if "://" in r.output:  # an object, object folder or Delta table (veil run -o URI)
            from veil.pipeline.outputs import delete_remote

            said[r.run_id] = delete_remote(r.output)
            continue
        try:
            try:
                os.unlink(r.output)
            except IsADirectoryError:  # a Spark run's folder of parts
                shutil.rmtree(r.output)
            said[r.run_id] = "deleted"
        except FileNotFoundError:
            said[r.run_id] = "already absent"
        except OSError as exc:
            raise InputError(f"cannot delete the output: {exc.strerror}",
                             where=r.output) from None
        if r.run_id in rejects:
            Path(rejects[r.run_id]).unlink(missing_ok=True)
    return said


def _destroy_keys(ws: Workspace, ids: Sequence[str], keysets: list[str], actor: str) -> None:
    """Destroy the outputs' own keysets and record the step in the same transaction."""
    def record(conn: sa.Connection) -> None:
        _mark(ws, ids, "file_deleted", "key_destroyed", conn)

    if not keysets:
        _mark(ws, ids, "file_deleted", "key_destroyed")
        return
    from veil.keys.manager import KeyManager

    KeyManager(ws, actor=actor).destroy_many(keysets, before_commit=record)


def _already_audited(ws: Workspace, recs: Sequence[OutputRetention]) -> set[str]:
    """Run ids whose disposal event the log already holds (a re-run after a crash)."""
    from veil.audit.log import AuditLog

    since = min((r.disposal_started_at for r in recs if r.disposal_started_at), default=None)
    if since is None:
        return set()
    want = {r.run_id for r in recs}
    return {str(e.event.details.get("run_id")) for e in AuditLog(ws).events(
        action=ACTION, since=since) if e.event.details.get("run_id") in want}


def _audit(ws: Workspace, recs: Sequence[OutputRetention], actor: str,
           now: datetime | None, started: datetime) -> None:
    """One ``retention.dispose`` event per output (no personal data: digests and ids); an
    output whose disposal began before this call may have its event already (a re-run)."""
    from veil.audit.event import AuditEvent
    from veil.audit.log import AuditLog

    todo = [r for r in recs if r.state == "key_destroyed"]
    resumed = [r for r in todo if r.disposal_started_at is None
               or r.disposal_started_at < started]
    done = _already_audited(ws, resumed) if resumed else set()
    at = datetime.now(UTC)
    events = []
    for r in todo:
        if r.run_id in done:
            continue
        details: dict[str, Any] = {"run_id": r.run_id,  # the rule: in the reason
                                   "reason": (r.disposal_reason or "")[:200],
                                   "key": "destroyed" if r.own_key and r.keyset
                                   else r.keyset or "none"}
        if now is not None:
            details["as_of"] = now.isoformat()
        events.append(AuditEvent(
            time=at, actor=actor, action=ACTION, purpose=r.purpose, legal_basis=LEGAL_BASIS,
            outcome="success", counts={"outputs": 1},
            digests={"output": f"sha256:{r.digest}"} if r.digest else {}, details=details))
    if events:
        AuditLog(ws).append(events)
