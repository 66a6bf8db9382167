"""Every use of a key is one audit event: who, what, which key, the digests; never content.

The operations that turn a key into plaintext or ciphertext for a caller (``veil encrypt``,
``veil decrypt``, ``veil keys export``, ``veil reidentify``, ``veil dsr export``,
``veil dsr decrypt`` and the library functions behind them) each append exactly one event
(through `recorded_use`; ``reidentify`` through its own audit log argument, the same way). On
success it is written after the output is published and before the
function returns; if it cannot be written, the published outputs are removed again (a
plaintext never stays without its event) and the error goes on. On failure (wrong key,
tampered input, no KEK) anything already published is removed, the event has outcome
``failure`` and only the error's kind (``wrong key``, ``tampered ciphertext``, ...), and the
error is raised unchanged.

What an event may hold is fixed here: the keyset name, key ids, the KEK id, counts, ``sha256:``
digests of whole files or of ciphertexts, subjects as keyed pseudonyms. Never a value, a
plaintext digest of a single value, a path or the associated data (they can hold personal
data).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from veil.errors import VeilError

if TYPE_CHECKING:  # pragma: no cover
    from veil.store.workspace import Workspace

__all__ = [
    "KEY_LEGAL_BASIS",
    "KEY_PURPOSE",
    "KeyUseEvent",
    "bytes_digest",
    "file_digest",
    "recorded_use",
]

KEY_PURPOSE = "key-management"
"""The purpose of file and keyset events, as for the key store's own events (``key.*``)."""
KEY_LEGAL_BASIS = "Art. 32 security of processing"

Scalar = str | int | float | bool | None


@dataclass
class KeyUseEvent:
    """The event being built while a key is used; the operation fills in what it learns
    (key ids, counts, digests) and names the files it published."""

    action: str
    actor: str
    purpose: str = KEY_PURPOSE
    legal_basis: str = KEY_LEGAL_BASIS
    details: dict[str, Scalar] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    digests: dict[str, str] = field(default_factory=dict)
    subjects: list[str] = field(default_factory=list)
    data_categories: list[str] = field(default_factory=list)
    published: list[Path] = field(default_factory=list)  # removed again if the use fails

    def key_ids(self, ids: Iterable[int | str]) -> None:
        """Record the key ids used (one: ``key_id``; several candidates: ``key_ids``)."""
        got = [str(i) for i in ids]
        if len(got) == 1:
            self.details["key_id"] = got[0]
        else:
            self.details["key_ids"] = ",".join(got)


def file_digest(path: str | Path) -> str:
    """``sha256:<hex>`` of a whole file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def bytes_digest(items: Iterable[bytes]) -> str:
    """``sha256:<hex>`` over length-prefixed items (a list of ciphertexts or tokens: never
    plaintext values, whose digest a dictionary could reverse)."""
    h = hashlib.sha256()
    for b in items:
        h.update(len(b).to_bytes(4, "big") + b)
    return "sha256:" + h.hexdigest()


def _append(workspace: Workspace, use: KeyUseEvent, outcome: str) -> None:
    from veil.audit.log import AuditLog

    AuditLog(workspace).record(
        use.actor, use.action, purpose=use.purpose, legal_basis=use.legal_basis,
        outcome=outcome, data_categories=use.data_categories, counts=use.counts,
        subjects=use.subjects, digests=use.digests, details=use.details)


def _failed(workspace: Workspace, use: KeyUseEvent, exc: Exception) -> None:
    use.details["error"] = (exc.kind if isinstance(exc, VeilError)
                            else f"unexpected error ({type(exc).__name__})")
    try:
        _append(workspace, use, "failure")
    except VeilError as audit_exc:  # the operation's own error is the one to see
        exc.add_note(f"the failure could not be recorded in the audit log: {audit_exc}")


@contextmanager
def recorded_use(workspace: Workspace, action: str, *, actor: str,
                 purpose: str = KEY_PURPOSE, legal_basis: str = KEY_LEGAL_BASIS,
                 details: Mapping[str, Scalar] | None = None) -> Iterator[KeyUseEvent]:
    """Run the body as one key use and append its event: ``success`` when the body returns,
    ``failure`` (the error's kind only) when it raises an exception, which then goes on."""
    use = KeyUseEvent(action, actor, purpose, legal_basis, dict(details or {}))
    try:
        yield use
    except Exception as exc:
        _withdraw(use)
        _failed(workspace, use, exc)
        raise
    try:
        _append(workspace, use, "success")
    except BaseException:
        _withdraw(use)
        raise


def _withdraw(use: KeyUseEvent) -> None:
    """Remove what the use published, newest first: a failed or unrecorded use leaves no
    output (a folder it created goes too, once empty)."""
    for p in reversed(use.published):
        try:
            if p.is_dir():
                p.rmdir()
            else:
                p.unlink(missing_ok=True)
        except OSError:
            pass
