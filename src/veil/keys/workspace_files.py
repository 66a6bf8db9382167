"""Any file encrypted or decrypted with the workspace's keysets, and a keyset exported for Tink.

What ``veil encrypt``, ``veil decrypt`` and ``veil keys export`` do, as functions a notebook or
a service can call: the same checks (an input that is not there, a plain Parquet file given as
a ciphertext), the same keyset choice (``output`` unless named; for a run's output, the keyset
and associated data its receipt records) and the same all-or-nothing output. Each call is one
audit event (``key.encrypt``, ``key.decrypt``, ``key.export``: actor, keyset, key ids, KEK id,
byte counts and ``sha256:`` digests of the files; `veil.keys.key_use`), a failed one too.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from veil.crypto.errors import CryptoError, NotCiphertextError
from veil.errors import InputError
from veil.keys.key_use import KeyUseEvent, file_digest, recorded_use

if TYPE_CHECKING:
    from veil.crypto.keyset import Keyset
    from veil.keys.manager import KeyManager, Passphrase
    from veil.store.workspace import Workspace


@dataclass(frozen=True)
class FileKeys:
    """Which keyset (and, for encryption, which of its keys) a file was processed with."""

    keyset: str
    key_id: int


@contextmanager
def _manager(workspace: str | os.PathLike[str] | None, passphrase: Passphrase,
             actor: str | None, **kw: Any) -> Iterator[KeyManager]:
    from veil.keys.manager import KeyManager
    from veil.store.workspace import Workspace

    ws = Workspace.find(None if workspace is None else Path(workspace)).ready()
    with ws:
        yield KeyManager(ws, passphrase=passphrase, actor=actor, **kw)


def encrypt_workspace_file(input: str | os.PathLike[str], output: str | os.PathLike[str], *,
                           keyset: str | None = None, associated_data: str | None = None,
                           workspace: str | os.PathLike[str] | None = None,
                           passphrase: Passphrase = None, actor: str | None = None) -> FileKeys:
    """Encrypt a file in Tink's AES-GCM-HKDF streaming format under a keyset of the workspace
    (default ``output``, created on first use); the ciphertext appears only when complete.
    Recorded as a ``key.encrypt`` event (``actor`` defaults to ``VEIL_ACTOR`` or the OS user)."""
    from veil.crypto.streaming import encrypt_file
    from veil.keys.manager import OUTPUT_KEYSET

    src, dst = Path(input), Path(output)
    if not src.is_file():
        raise InputError("input file not found", where=str(src))
    name = keyset or OUTPUT_KEYSET
    with _manager(workspace, passphrase, actor) as km, \
            recorded_use(km.workspace, "key.encrypt", actor=km.actor,
                         details={"keyset": name}) as use:
        _measure(use, "input", src)
        ks = km.ensure(name, "streaming") if name == OUTPUT_KEYSET else km.keyset(name)
        use.key_ids([ks.primary_key_id])
        use.details["kek_id"] = km.kek.kek_id
        ad = (associated_data or "").encode("utf-8")
        encrypt_file(src, dst, ks, ad, fsync=True)
        use.published.append(dst)
        _measure(use, "output", dst)
    return FileKeys(name, ks.primary_key_id)


def decrypt_workspace_file(input: str | os.PathLike[str], output: str | os.PathLike[str], *,
                           keyset: str | None = None, associated_data: str | None = None,
                           workspace: str | os.PathLike[str] | None = None,
                           passphrase: Passphrase = None, actor: str | None = None) -> FileKeys:
    """Decrypt a Tink streaming file; nothing is written unless the whole file authenticates.
    A keyset or associated data not given is taken from the file's receipt (a run's output),
    else ``output`` and empty. ``key_id`` is the keyset's primary key. Recorded as a
    ``key.decrypt`` event (with the keyset's enabled keys: any of them may have opened it),
    a failed attempt too."""
    from veil.crypto.streaming import decrypt_file
    from veil.keys.files import find_encryption, sniff
    from veil.keys.manager import OUTPUT_KEYSET

    src, dst = Path(input), Path(output)
    if not src.is_file():
        raise InputError("input file not found", where=str(src))
    kind = sniff(src)
    if kind == "parquet":
        raise NotCiphertextError("this is a plain (unencrypted) Parquet file, not a ciphertext",
                                 where=str(src))
    if kind != "tink-streaming":
        raise NotCiphertextError("not a Veil/Tink streaming ciphertext (unknown header)",
                                 where=str(src))
    with _manager(workspace, passphrase, actor) as km, \
            recorded_use(km.workspace, "key.decrypt", actor=km.actor) as use:
        _measure(use, "input", src)
        recorded = None
        if keyset is None or associated_data is None:
            recorded = find_encryption(src, km.workspace)
        name = keyset or (recorded or {}).get("keyset") or OUTPUT_KEYSET
        use.details["keyset"] = name
        ad_text = associated_data if associated_data is not None else \
            (recorded or {}).get("associated_data", "")
        use.details["associated_data"] = (
            "given" if associated_data is not None
            else "receipt" if "associated_data" in (recorded or {}) else "none")
        ks = km.keyset(name)
        use.key_ids(e.key_id for e in ks.enabled("streaming"))
        use.details["kek_id"] = km.kek.kek_id
        decrypt_file(src, dst, ks, ad_text.encode("utf-8"), fsync=True)
        use.published.append(dst)
        _measure(use, "output", dst)
    return FileKeys(name, ks.primary_key_id)


def decrypt_workspace_parts(folder: str | os.PathLike[str], output: str | os.PathLike[str], *,
                            workspace: str | os.PathLike[str] | None = None,
                            passphrase: Passphrase = None, actor: str | None = None) -> int:
    """`veil.keys.parts.decrypt_parts` (a Spark run's parts folder into one plain Parquet
    file; returns the rows), recorded as one ``key.decrypt`` event when the parts are
    encrypted: input digest of the manifest (the receipt's ``output.sha256``), output digest
    of the file. A folder written in clear uses no key and is not an event of its own."""
    import json

    from veil.keys.parts import MANIFEST, decrypt_parts

    src, dst = Path(folder), Path(output)
    try:
        enc = json.loads((src / MANIFEST).read_bytes()).get("encryption")
    except (OSError, ValueError, AttributeError):
        enc = None  # decrypt_parts says what is wrong with the folder
    if not isinstance(enc, dict) or not isinstance(enc.get("keyset"), str):
        return decrypt_parts(src, dst, workspace)
    with _manager(workspace, passphrase, actor) as km, \
            recorded_use(km.workspace, "key.decrypt",
                         actor=km.actor, details={"keyset": enc["keyset"],
                                                  "associated_data": "manifest"}) as use:
        use.digests["input"] = file_digest(src / MANIFEST)
        ks = km.keyset(enc["keyset"])
        use.key_ids(e.key_id for e in ks.enabled("streaming"))
        use.details["kek_id"] = km.kek.kek_id
        rows = decrypt_parts(src, dst, km.workspace, provider=km)
        use.published.append(dst)
        use.counts["rows"] = rows
        _measure(use, "output", dst)
    return rows


def export_keyset(name: str, output: str | os.PathLike[str], *, binary: bool = False,
                  workspace: str | os.PathLike[str] | None = None,
                  passphrase: Passphrase = None, actor: str | None = None) -> Keyset:
    """Write a keyset in clear in Tink's keyset format (JSON, or binary), mode 0600, never over
    an existing file, for a service that reads Veil's files with official Tink; the export is
    recorded as a key event and as one ``key.export`` audit event (key ids, KEK id, the file's
    digest). Whoever holds it can decrypt."""
    target = Path(output)
    if target.exists():
        raise CryptoError("refusing to overwrite an existing file", where=str(target))
    with _manager(workspace, passphrase, actor) as km, \
            recorded_use(km.workspace, "key.export", actor=km.actor,
                         details={"keyset": name, "format": "binary" if binary else "json"}
                         ) as use:
        km.on_event = _all_but_export(km.workspace)
        ks = km.export(name)
        use.key_ids(e.key_id for e in ks.entries)
        use.details["kek_id"] = km.kek.kek_id
        data = ks.to_binary() if binary else ks.to_json().encode("utf-8")
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise CryptoError("refusing to overwrite an existing file",
                              where=str(target)) from None
        use.published.append(target)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        use.counts.update(keys=len(ks.entries), output_bytes=len(data))
        use.digests["output"] = "sha256:" + hashlib.sha256(data).hexdigest()
    return ks


def _measure(use: KeyUseEvent, role: str, path: Path) -> None:
    """The file's size and digest into the event (``input_bytes``, ``digests.input``)."""
    use.counts[f"{role}_bytes"] = path.stat().st_size
    use.digests[role] = file_digest(path)


def _all_but_export(workspace: Workspace) -> Callable[[dict[str, Any]], None]:
    """Key events still go to the audit log, except the export's: `export_keyset` writes that
    one itself, with the file's digest, once the file is there."""
    from veil.keys.manager import _audit_key_events

    def forward(row: dict[str, Any]) -> None:
        if row.get("op") != "export":  # pragma: no cover - an export does nothing else
            _audit_key_events(workspace, [row])

    return forward


__all__ = [
    "FileKeys",
    "decrypt_workspace_file",
    "decrypt_workspace_parts",
    "encrypt_workspace_file",
    "export_keyset",
]
