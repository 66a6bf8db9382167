"""This workspace as a witness of other logs: check each checkpoint, co-sign it, remember it.

A witness holds, per log origin, the log's public key (pinned the first time it sees the origin:
trust on first use) and the latest checkpoint it accepted. A new checkpoint is accepted only if
it is signed by the pinned key and is consistent with that latest one: same size and same root,
or a larger tree with a valid RFC 6962 consistency proof from the old size (the publisher sends
it). Anything else, a fork, a rollback to a smaller tree or another key, is refused
(:class:`WitnessRefused`, HTTP 409 on the service) and changes nothing. An accepted checkpoint is
co-signed (:mod:`veil.audit.cosign`) with the witness's own Ed25519 key, sealed under this
workspace's KEK (``keys/witness_signing.sealed``), and stored in ``audit_witnessed``.

A witness shows that the log did not rewrite what the witness saw; it cannot show that events
after its latest checkpoint are genuine, and it trusts the first key it sees for an origin.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from veil.audit.cosign import cosign, with_cosignature
from veil.audit.event import format_time
from veil.audit.heads import (
    SignedTreeHead,
    key_id,
    load_public_key_pem,
    public_key_to_pem,
    verify_tree_head,
)
from veil.audit.identity import ensure_origin, read_audit_config
from veil.audit.trust import check_prefix
from veil.errors import AuditError, CryptoError
from veil.kek.sealed import sealed_secret
from veil.store.schema import audit_witnessed
from veil.store.transactions import read_connection, write_transaction

__all__ = ["WITNESS_KEY", "Witness", "WitnessRefused", "WitnessedHead"]

WITNESS_KEY = "witness_signing"
"""The sealed secret holding the witness's Ed25519 key (``keys/witness_signing.sealed``)."""

_READING = "reading the witnessed checkpoints"


class WitnessRefused(AuditError):
    """The witness refuses a checkpoint that contradicts what it saw (fork, rollback, other key).

    ``reason`` is one of ``fork``, ``rollback``, ``key``, ``stale``."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


@dataclass(frozen=True)
class WitnessedHead:
    """The latest checkpoint a witness accepted for ``origin`` (``note``: with its cosignature)."""

    origin: str
    size: int
    root: bytes
    key_id: str
    note: str
    updated: str


def _row_head(row: sa.Row[tuple[object, ...]]) -> WitnessedHead:
    return WitnessedHead(str(row.origin), int(row.size), bytes(row.root), str(row.key_id),
                         str(row.note), str(row.updated))


class Witness:
    """The witness of the workspace at ``root`` (its store ``engine``)."""

    def __init__(self, engine: sa.Engine, root: Path, *, name: str | None = None) -> None:
        self.engine = engine
        self.root = Path(root)
        self._name = name
        self._key: Ed25519PrivateKey | None = None

    @property
    def name(self) -> str:
        """The witness's key name: ``[audit] witness_name``, else ``<own log origin>/witness``."""
        if self._name is None:
            cfg = read_audit_config(self.root)
            wanted = cfg.get("witness_name")
            self._name = str(wanted) if wanted else ensure_origin(
                self.engine, cfg.get("origin")) + "/witness"
        return self._name

    def key(self) -> Ed25519PrivateKey:
        """The witness's Ed25519 key, unsealed with the workspace's KEK (made on first use)."""
        if self._key is None:
            raw = sealed_secret(self.root, WITNESS_KEY,
                                make=lambda: _raw(Ed25519PrivateKey.generate()))
            self._key = Ed25519PrivateKey.from_private_bytes(raw)
        return self._key

    def public_key(self) -> Ed25519PublicKey:
        return self.key().public_key()

    def latest(self, origin: str) -> WitnessedHead | None:
        """The latest checkpoint this witness co-signed for ``origin`` (None: never seen)."""
        with read_connection(self.engine, _READING) as conn:
            row = conn.execute(sa.select(audit_witnessed).where(
                audit_witnessed.c.origin == origin)).first()
        return _row_head(row) if row is not None else None

    def add(self, note: str, public_key_pem: str, old_size: int,
            proof: Sequence[bytes]) -> WitnessedHead:
        """Check the checkpoint ``note`` against what this witness saw for its origin, co-sign
        and store it; raise :class:`WitnessRefused` (nothing stored) when it contradicts it.

        ``old_size`` is the size the publisher believes the witness holds and ``proof`` the
        consistency proof from it; ``public_key_pem`` is the log's key (pinned on first sight).
        """
        head = SignedTreeHead.from_note(note)
        name, key = self.name, self.key()  # before the write transaction (they may write)
        try:
            given = load_public_key_pem(public_key_pem.encode())
        except CryptoError as exc:
            raise AuditError(f"public_key: {exc.message}") from None
        with write_transaction(self.engine, "witnessing a checkpoint", durable=True) as conn:
            q = sa.select(audit_witnessed).where(audit_witnessed.c.origin == head.origin)
            if conn.dialect.name != "sqlite":
                q = q.with_for_update()
            row = conn.execute(q).first()
            prev = _row_head(row) if row is not None else None
            pinned = load_public_key_pem(str(row.public_key).encode()) if row is not None else given
            _check(head, pinned, given, prev, old_size, proof)
            if prev is not None and prev.size == head.size:
                return prev  # already co-signed: the same checkpoint, idempotent
            cosigned = with_cosignature(head.to_note(), cosign(key, name, head, int(time.time())))
            values = {"public_key": public_key_to_pem(pinned).decode(),
                      "key_id": key_id(pinned, head.origin), "size": head.size,
                      "root": head.root, "note": cosigned,
                      "updated": format_time(datetime.now(UTC))}
            if prev is None:
                conn.execute(audit_witnessed.insert().values(origin=head.origin, **values))
            else:
                conn.execute(audit_witnessed.update().where(
                    audit_witnessed.c.origin == head.origin).values(**values))
        return WitnessedHead(head.origin, head.size, head.root, str(values["key_id"]), cosigned,
                             str(values["updated"]))


def _raw(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes_raw()


def _check(head: SignedTreeHead, pinned: Ed25519PublicKey, given: Ed25519PublicKey,
           prev: WitnessedHead | None, old_size: int, proof: Sequence[bytes]) -> None:
    """Refuse ``head`` unless it is signed by the pinned key and consistent with ``prev``."""
    if given.public_bytes_raw() != pinned.public_bytes_raw():
        raise WitnessRefused("key", f"log {head.origin!r} is pinned to key id "
                             f"{key_id(pinned, head.origin)}; this checkpoint's key is "
                             f"{key_id(given, head.origin)}")
    try:
        verify_tree_head(head, pinned)
    except AuditError as exc:
        raise WitnessRefused("key", f"not signed by the key pinned for {head.origin!r}: "
                             f"{exc.message}") from None
    if prev is None:
        return
    if head.size < prev.size:
        raise WitnessRefused("rollback", f"rollback: the witness holds size {prev.size} for "
                             f"{head.origin!r}, the checkpoint has size {head.size}")
    if head.size == prev.size:
        if head.root != prev.root:
            raise WitnessRefused("fork", f"fork: another root for size {head.size} of "
                                 f"{head.origin!r}")
        return
    if old_size != prev.size:
        raise WitnessRefused("stale", f"the witness holds size {prev.size} for {head.origin!r}, "
                             f"the proof is from size {old_size}: fetch it and prove again")
    try:
        check_prefix(prev.size, prev.root, head.size, head.root, proof)
    except AuditError as exc:
        raise WitnessRefused("fork", f"fork: size {head.size} of {head.origin!r} is not "
                             f"consistent with the size {prev.size} it saw ({exc.message})"
                             ) from None
