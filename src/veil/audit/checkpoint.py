"""Checkpoints: the latest signed head published to every witness, and the log checked against
what the witnesses hold.

``checkpoint`` signs the current head and hands it to each configured witness
(:mod:`veil.audit.witnesses`) and each audit sink that takes checkpoints. A witness that fails
(unreachable, or refusing the head) never fails anything else: its row in ``audit_checkpoints``
keeps the size it should hold, since when and why it failed, and the next checkpoint tries again
(with the then latest head, which covers the missed one). Appends never wait for a witness.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from veil.audit.event import format_time
from veil.audit.heads import SignedTreeHead, public_key_to_pem
from veil.audit.sinks import Sink, SinkError
from veil.audit.trust import check_trusted_head
from veil.audit.verify_error import AuditVerifyError
from veil.audit.witnesses import Publication, WitnessTarget, WitnessUnreachable
from veil.errors import AuditError
from veil.store.schema import audit_checkpoints
from veil.store.transactions import read_connection, write_transaction

if TYPE_CHECKING:  # pragma: no cover
    from veil.audit.log import AuditLog

__all__ = ["CheckpointReport", "Published", "WitnessCheck", "checkpoint", "pending_checkpoints",
           "verify_witnesses"]


@dataclass(frozen=True)
class Published:
    """One witness (or sink) after a checkpoint: did it take the head, and what it said.

    When it failed: ``pending_since`` is the size it was first due (it holds nothing newer),
    ``attempts`` how many checkpoints have tried."""

    name: str
    ok: bool
    detail: str
    attempts: int = 0
    pending_since: str | None = None


@dataclass(frozen=True)
class CheckpointReport:
    """The head a checkpoint published, and each witness's outcome."""

    head: SignedTreeHead
    published: list[Published]

    @property
    def failed(self) -> list[Published]:
        return [p for p in self.published if not p.ok]


@dataclass(frozen=True)
class WitnessCheck:
    """``verify --witness`` for one witness: ``status`` is ``ok``, ``empty`` (holds nothing for
    this log yet), ``unreachable`` or ``failed``; ``size`` the size of the head it holds."""

    name: str
    status: str
    detail: str
    size: int | None = None


def _record(log: AuditLog, name: str, size: int, error: str | None) -> tuple[int, str | None]:
    """Clear (``error`` None) or update the witness's pending row; returns (attempts, since)."""
    t = audit_checkpoints
    with write_transaction(log.engine, "recording a checkpoint") as conn:
        row = conn.execute(sa.select(t.c.attempts, t.c.since).where(t.c.witness == name)).first()
        if error is None:
            conn.execute(t.delete().where(t.c.witness == name))
            return 0, None
        now = format_time(datetime.now(UTC))
        if row is None:
            conn.execute(t.insert().values(witness=name, size=size, attempts=1, since=now,
                                           last_error=error[:500]))
            return 1, now
        conn.execute(t.update().where(t.c.witness == name).values(
            size=size, attempts=row.attempts + 1, last_error=error[:500]))
        return int(row.attempts) + 1, str(row.since)


def _publish(log: AuditLog, name: str, size: int, send: Callable[[], str]) -> Published:
    try:
        detail = send()
    except (AuditError, SinkError, OSError) as exc:
        error = exc.message if isinstance(exc, AuditError) else str(exc)
        kind = "failed" if type(exc) is AuditError else "unreachable"
        attempts, since = _record(log, name, size, f"{kind}: {error}")
        return Published(name, False, f"{kind}: {error}", attempts, since)
    _record(log, name, size, None)
    return Published(name, True, detail)


def _to_sink(sink: Any, head: SignedTreeHead) -> Callable[[], str]:
    def send() -> str:
        sink.send_checkpoint(head)
        return f"sent size {head.size}"

    return send


def checkpoint(log: AuditLog, witnesses: Sequence[WitnessTarget],
               sinks: Sequence[Sink] = ()) -> CheckpointReport:
    """Sign the current head and publish it to every witness and checkpoint-taking sink
    (a sink with ``send_checkpoint``)."""
    head = log.sign_head()
    key = log.public_key()
    if key is None:  # pragma: no cover - a head was just signed
        raise AuditError("the log has no public key")
    pub = Publication(public_key_to_pem(key).decode(),
                      lambda old: log.consistency_proof(old, head.size))
    done = [_publish(log, w.name, head.size, lambda w=w: w.publish(head, pub))  # type: ignore[misc]
            for w in witnesses]
    done += [_publish(log, s.name, head.size, _to_sink(s, head))
             for s in sinks if hasattr(s, "send_checkpoint")]
    return CheckpointReport(head, done)


def pending_checkpoints(log: AuditLog) -> list[dict[str, Any]]:
    """Witnesses that missed a checkpoint: name, size due, attempts, since, last error."""
    with read_connection(log.engine, "reading the checkpoint outbox") as conn:
        rows = conn.execute(sa.select(audit_checkpoints).order_by(audit_checkpoints.c.witness))
        return [dict(r._mapping) for r in rows]


def verify_witnesses(log: AuditLog, witnesses: Sequence[WitnessTarget], *,
                     public_key: Ed25519PublicKey | None = None) -> list[WitnessCheck]:
    """Check the log against the head each witness holds (see
    :func:`veil.audit.trust.check_trusted_head`). Never raises for one witness: each result
    says ok, empty, unreachable or failed (and why)."""
    out = []
    for w in witnesses:
        try:
            held = w.latest(log.origin)
        except WitnessUnreachable as exc:
            out.append(WitnessCheck(w.name, "unreachable", exc.message))
            continue
        except AuditError as exc:
            out.append(WitnessCheck(w.name, "failed", exc.message))
            continue
        if held is None:
            out.append(WitnessCheck(w.name, "empty", "holds no checkpoint of this log yet"))
            continue
        try:
            check_trusted_head(log, held, public_key=public_key, source=w.name)
        except AuditVerifyError as exc:
            out.append(WitnessCheck(w.name, "failed", f"{exc.check}: {exc.detail}", held.size))
            continue
        except AuditError as exc:
            out.append(WitnessCheck(w.name, "failed", exc.message, held.size))
            continue
        out.append(WitnessCheck(w.name, "ok", f"the log extends its head of size {held.size}",
                                held.size))
    return out
