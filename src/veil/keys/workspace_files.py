"""Any file encrypted or decrypted with the workspace's keysets, and a keyset exported for Tink.

What ``veil encrypt``, ``veil decrypt`` and ``veil keys export`` do, as functions a notebook or
a service can call: the same checks (an input that is not there, a plain Parquet file given as
a ciphertext), the same keyset choice (``output`` unless named; for a run's output, the keyset
and associated data its receipt records) and the same all-or-nothing output.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from veil.crypto.errors import CryptoError, NotCiphertextError
from veil.errors import InputError

if TYPE_CHECKING:
    from veil.crypto.keyset import Keyset
    from veil.keys.manager import KeyManager, Passphrase


@dataclass(frozen=True)
class FileKeys:
    """Which keyset (and, for encryption, which of its keys) a file was processed with."""

    keyset: str
    key_id: int


@contextmanager
def _manager(workspace: str | os.PathLike[str] | None,
             passphrase: Passphrase) -> Iterator[KeyManager]:
    from veil.keys.manager import KeyManager
    from veil.store.workspace import Workspace

    ws = Workspace.find(None if workspace is None else Path(workspace)).ready()
    with ws:
        yield KeyManager(ws, passphrase=passphrase)


def encrypt_workspace_file(input: str | os.PathLike[str], output: str | os.PathLike[str], *,
                           keyset: str | None = None, associated_data: str | None = None,
                           workspace: str | os.PathLike[str] | None = None,
                           passphrase: Passphrase = None) -> FileKeys:
    """Encrypt a file in Tink's AES-GCM-HKDF streaming format under a keyset of the workspace
    (default ``output``, created on first use); the ciphertext appears only when complete."""
    from veil.crypto.streaming import encrypt_file
    from veil.keys.manager import OUTPUT_KEYSET

    src = Path(input)
    if not src.is_file():
        raise InputError("input file not found", where=str(src))
    with _manager(workspace, passphrase) as km:
        name = keyset or OUTPUT_KEYSET
        ks = km.ensure(name, "streaming") if name == OUTPUT_KEYSET else km.keyset(name)
        ad = (associated_data or "").encode("utf-8")
        encrypt_file(src, Path(output), ks, ad, fsync=True)
    return FileKeys(name, ks.primary_key_id)


def decrypt_workspace_file(input: str | os.PathLike[str], output: str | os.PathLike[str], *,
                           keyset: str | None = None, associated_data: str | None = None,
                           workspace: str | os.PathLike[str] | None = None,
                           passphrase: Passphrase = None) -> FileKeys:
    """Decrypt a Tink streaming file; nothing is written unless the whole file authenticates.
    A keyset or associated data not given is taken from the file's receipt (a run's output),
    else ``output`` and empty. ``key_id`` is the keyset's primary key."""
    from veil.crypto.streaming import decrypt_file
    from veil.keys.files import find_encryption, sniff
    from veil.keys.manager import OUTPUT_KEYSET

    src = Path(input)
    if not src.is_file():
        raise InputError("input file not found", where=str(src))
    kind = sniff(src)
    if kind == "parquet":
        raise NotCiphertextError("this is a plain (unencrypted) Parquet file, not a ciphertext",
                                 where=str(src))
    if kind != "tink-streaming":
        raise NotCiphertextError("not a Veil/Tink streaming ciphertext (unknown header)",
                                 where=str(src))
    with _manager(workspace, passphrase) as km:
        recorded = None
        if keyset is None or associated_data is None:
            recorded = find_encryption(src, km.workspace)
        name = keyset or (recorded or {}).get("keyset") or OUTPUT_KEYSET
        ad_text = associated_data if associated_data is not None else \
            (recorded or {}).get("associated_data", "")
        ks = km.keyset(name)
        decrypt_file(src, Path(output), ks, ad_text.encode("utf-8"), fsync=True)
    return FileKeys(name, ks.primary_key_id)


def export_keyset(name: str, output: str | os.PathLike[str], *, binary: bool = False,
                  workspace: str | os.PathLike[str] | None = None,
                  passphrase: Passphrase = None) -> Keyset:
    """Write a keyset in clear in Tink's keyset format (JSON, or binary), mode 0600, never over
    an existing file, for a service that reads Veil's files with official Tink; the export is
    recorded as a key event. Whoever holds it can decrypt."""
    target = Path(output)
    if target.exists():
        raise CryptoError("refusing to overwrite an existing file", where=str(target))
    with _manager(workspace, passphrase) as km:
        ks = km.export(name)
    data = ks.to_binary() if binary else ks.to_json().encode("utf-8")
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise CryptoError("refusing to overwrite an existing file", where=str(target)) from None
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return ks


__all__ = ["FileKeys", "decrypt_workspace_file", "encrypt_workspace_file", "export_keyset"]
