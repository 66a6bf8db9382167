"""Verifying the log from a head you trust: a checkpoint saved earlier, or one a witness holds.

``verify`` alone shows that the stored log is internally consistent; someone who can write the
database and recompute the tree could rewrite it consistently (the signing key is sealed under
the KEK, so they cannot sign a head with it, but they can delete heads, restore an older copy of
the database, or swap in a key of their own). A trusted head closes that: the log must still hold
that head and prove, with an RFC 6962 consistency proof, that today's tree extends it. Truncation,
deletion of events or heads, rollback to an older copy of the database, a fork and a re-signing
with another key each fail here, naming what happened.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from veil.audit.heads import SignedTreeHead, key_id, verify_tree_head
from veil.audit.merkle import empty_root, verify_consistency
from veil.audit.verify_error import AuditVerifyError
from veil.errors import AuditError, AuditInputError

if TYPE_CHECKING:  # pragma: no cover
    from veil.audit.log import AuditLog
    from veil.audit.verify import VerifyReport

__all__ = ["TrustReport", "check_prefix", "check_trusted_head", "load_trusted_head",
           "verify_from_trusted"]


@dataclass(frozen=True)
class TrustReport:
    """The log verified from ``trusted``: its tree now (``size``, ``root``) extends it."""

    trusted: SignedTreeHead
    size: int
    root: bytes
    report: VerifyReport | None


def check_prefix(size1: int, root1: bytes, size2: int, root2: bytes,
                 proof: Sequence[bytes]) -> None:
    """That the tree ``(size1, root1)`` is a prefix of ``(size2, root2)`` by ``proof`` (RFC 6962
    consistency; the empty tree is a prefix of every tree). Raises AuditError."""
    if size1 == 0:
        if root1 != empty_root():
            raise AuditError("the head of size 0 does not have the empty tree's root")
        return
    verify_consistency(size1, size2, list(proof), root1, root2)


def load_trusted_head(path: str | PathLike[str]) -> SignedTreeHead:
    """The checkpoint (signed note, cosignatures allowed) in the file ``path``."""
    try:
        text = Path(path).read_text("utf-8")
    except OSError as exc:
        raise AuditInputError(f"cannot read the trusted head: {exc.strerror}",
                              where=str(path)) from None
    except UnicodeDecodeError:
        raise AuditError("the trusted head is not UTF-8 text", where=str(path)) from None
    try:
        return SignedTreeHead.from_note(text)
    except AuditError as exc:
        raise AuditError(f"not a checkpoint: {exc.message}", where=str(path)) from None


def check_trusted_head(log: AuditLog, head: SignedTreeHead, *,
                       public_key: Ed25519PublicKey | None = None,
                       source: str | None = None) -> tuple[int, bytes]:
    """The cheap checks of ``head`` against the log (no full recomputation); returns the log's
    (size, root) it was checked against. Raises AuditError for a head that is not this log's,
    AuditVerifyError for a log that does not extend it."""
    if head.origin != log.origin:
        raise AuditError(f"the trusted head is from another log: {head.origin!r}, this log is "
                         f"{log.origin!r}", where=source)
    pk = public_key if public_key is not None else log.public_key()
    if pk is None:
        raise AuditVerifyError(0, "state", "the log has no public key, yet a head was signed")
    want = key_id(pk, head.origin)
    if head.key_id != want:
        raise AuditVerifyError(
            head.size, "key replaced", f"the trusted head of size {head.size} is signed by key "
            f"id {head.key_id}, the log's key is now {want}: the log was re-signed with another "
            "key")
    try:
        verify_tree_head(head, pk)
    except AuditError as exc:
        raise AuditError(f"the trusted head itself is not valid: {exc.message}",
                         where=source) from None
    now = log.head()
    if head.size > now.size:
        raise AuditVerifyError(
            now.size, "truncated", f"the trusted head has {head.size} events, the log has "
            f"{now.size}: events were deleted or an older copy of the database was restored")
    stored = log.signed_head(head.size)
    if stored is None:
        raise AuditVerifyError(head.size, "head deleted", f"the log holds no signed head for "
                               f"size {head.size}, the size of the trusted head")
    if stored.root != head.root:
        raise AuditVerifyError(head.size, "fork", f"the log's head for size {head.size} has "
                               "another root than the trusted head: the log was rewritten")
    proof = log.consistency_proof(head.size, now.size) if 0 < head.size < now.size else []
    try:
        check_prefix(head.size, head.root, now.size, now.root, proof)
    except AuditError as exc:
        raise AuditVerifyError(head.size, "fork", f"the log of size {now.size} does not extend "
                               f"the trusted head of size {head.size} ({exc.message})") from None
    return now.size, now.root


def verify_from_trusted(log: AuditLog, head: SignedTreeHead, *,
                        public_key: Ed25519PublicKey | None = None,
                        source: str | None = None, full: bool = True) -> TrustReport:
    """Check the log against ``head`` (see :func:`check_trusted_head`), then (``full``) recompute
    the whole tree and check every node, head and the state, as ``verify`` does."""
    size, root = check_trusted_head(log, head, public_key=public_key, source=source)
    report = log.verify(public_key=public_key) if full else None
    return TrustReport(head, size, root, report)
