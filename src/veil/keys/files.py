"""Encrypted files at rest: run outputs written through Tink streaming AEAD, read back, sniffed.

A run's Parquet output is written straight into an `EncryptingWriter` (Tink AES-GCM-HKDF
streaming, the workspace's ``output`` keyset, 1 MiB segments): no plaintext reaches the disk.
The associated data binds the file to its run, ``veil:run-output:v1:<run id>``, and the receipt
records it (``output.encryption``) with the key id and the plaintext's digest. Any Tink
implementation with the keyset and that string decrypts the file.

`ParquetSink` (``veil.io.writers``) uses `OutputEncryption.open` for its temporary file and
`EncryptedTarget.finish` before publishing: the finished ciphertext is decrypted once more and
must give back exactly the bytes Parquet wrote, and its footer the rows written.

`read` (``veil.read``) opens an encrypted (or plain) Parquet file as an Arrow table, finding the
keyset and associated data in the file's receipt or the store's run records.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from veil.crypto.errors import CryptoError, KeysetError, NotCiphertextError
from veil.crypto.keyset import Keyset, StreamingKey
from veil.crypto.streaming import EncryptingWriter, decrypt_segments, streaming_keys

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

    from veil.crypto.aead import KeyProvider
    from veil.store.workspace import Workspace

__all__ = [
    "FORMAT",
    "EncryptedTarget",
    "OutputEncryption",
    "find_encryption",
    "output_encryption",
    "read",
    "run_associated_data",
    "sniff",
]

#: The receipt's name for the file format (Tink's published streaming AEAD).
FORMAT = "tink-aes-gcm-hkdf-streaming"
_PARQUET_MAGIC = b"PAR1"
_CHUNK = 1 << 20


def run_associated_data(run_id: str) -> bytes:
    """The associated data of a run's output: the file opens only as that run's output."""
    return f"veil:run-output:v1:{run_id}".encode()


def sniff(path: str | os.PathLike[str]) -> str:
    """``"parquet"`` (plain Parquet), ``"tink-streaming"`` (a plausible Tink streaming header)
    or ``"unknown"``; raises `NotCiphertextError` for an empty file."""
    with open(path, "rb") as f:
        head = f.read(4)
    if not head:
        raise NotCiphertextError("empty file", where=os.fspath(path))
    if head == _PARQUET_MAGIC:
        return "parquet"
    if head[0] in (24, 40):
        return "tink-streaming"
    return "unknown"


# --------------------------------------------------------------------------------------------
# writing


class _HashingReader:
    """readinto() over a raw file that hashes and counts what it reads."""

    def __init__(self, f: io.FileIO) -> None:
        self.f = f
        self.sha = hashlib.sha256()
        self.n = 0

    def readinto(self, mv: memoryview) -> int:
        k = self.f.readinto(mv) or 0
        if k:
            self.sha.update(mv[:k])
            self.n += k
        return k


@dataclass(frozen=True)
class EncryptedFileInfo:
    """What `EncryptedTarget.finish` verified."""

    sha256: str  # of the ciphertext on disk
    bytes: int
    plaintext_sha256: str
    plaintext_bytes: int
    num_rows: int | None  # from the Parquet footer


class EncryptedTarget:
    """A write-only file object for ``pyarrow.parquet.ParquetWriter``: encrypts into ``path``.

    Tracks the position (``tell``), the plaintext's SHA-256 and its last 8 bytes (the Parquet
    footer length and magic). `finish` completes the stream and verifies it; `abort` stops
    without completing it (the caller removes the file).
    """

    def __init__(self, path: Path, keyset: Keyset | StreamingKey, associated_data: bytes) -> None:
        self.path = Path(path)
        self._keyset = keyset
        self._ad = associated_data
        self._raw = open(self.path, "wb")  # noqa: SIM115 - closed by finish/abort
        try:
            self._enc = EncryptingWriter(self._raw, keyset, associated_data)
        except BaseException:
            self._raw.close()
            raise
        self._sha = hashlib.sha256()
        self._pos = 0
        self._tail = b""
        self.closed = False

    # the file protocol pyarrow uses -----------------------------------------------------------

    def write(self, data: Any) -> int:
        mv = memoryview(data).cast("B")
        n = len(mv)
        if n:
            self._sha.update(mv)
            self._enc.write(mv)
            self._pos += n
            self._tail = (self._tail + bytes(mv[-8:]))[-8:]
        return n

    def tell(self) -> int:
        return self._pos

    def flush(self) -> None:  # segments are written as they fill; nothing to force
        return None

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    def close(self) -> None:  # pyarrow may close its sink; completion is `finish`'s job
        return None

    # completion ---------------------------------------------------------------------------------

    def finish(self) -> EncryptedFileInfo:
        """Write the last segment, close the file, decrypt it again and compare."""
        try:
            self._enc.close()
            self._raw.flush()
            os.fsync(self._raw.fileno())
        finally:
            self._raw.close()
            self.closed = True
        footer = None
        if len(self._tail) == 8 and self._tail[4:] == _PARQUET_MAGIC:
            footer = struct.unpack("<I", self._tail[:4])[0] + 8
        info = _verify(self.path, self._keyset, self._ad, footer)
        if (info.plaintext_sha256, info.plaintext_bytes) != (self._sha.hexdigest(), self._pos):
            raise CryptoError(
                "encrypted output verification failed: it does not decrypt to what was written",
                where=str(self.path),
            )
        return info

    def abort(self) -> None:
        if not self.closed:
            self.closed = True
            try:
                self._enc.abort()
            finally:
                self._raw.close()


def _verify(
    path: Path, keyset: Keyset | StreamingKey, ad: bytes, footer: int | None
) -> EncryptedFileInfo:
    """Decrypt ``path`` in one streaming pass: digests, sizes, and the Parquet row count."""
    psha = hashlib.sha256()
    pn = 0
    tail = bytearray()
    with io.FileIO(path, "rb") as f:
        src = _HashingReader(f)
        for pt in decrypt_segments(src.readinto, streaming_keys(keyset), ad, str(path)):
            psha.update(pt)
            pn += len(pt)
            if footer:
                if len(pt) >= footer:
                    tail = bytearray(pt[-footer:])
                else:
                    tail += pt
                    if len(tail) > footer:
                        del tail[: len(tail) - footer]
    rows = None
    if footer and len(tail) == footer:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            rows = pq.read_metadata(pa.BufferReader(_PARQUET_MAGIC + bytes(tail))).num_rows
        except (pa.ArrowException, OSError):
            rows = None
    return EncryptedFileInfo(src.sha.hexdigest(), src.n, psha.hexdigest(), pn, rows)


@dataclass(frozen=True)
class OutputEncryption:
    """How a run's output is encrypted: the keyset (its primary key encrypts) and the
    associated data. ``ParquetSink(..., encryption=this)`` writes through it."""

    keyset: Keyset
    keyset_name: str
    associated_data: bytes

    def __post_init__(self) -> None:
        if self.keyset.kind != "streaming":
            raise KeysetError(
                f"keyset {self.keyset_name!r} is a {self.keyset.kind} keyset; files need a "
                "streaming keyset"
            )

    def open(self, path: Path) -> EncryptedTarget:
        return EncryptedTarget(path, self.keyset, self.associated_data)

    def describe(self, info: EncryptedFileInfo) -> dict[str, Any]:
        """The receipt's ``output.encryption`` section (no secrets)."""
        prim = self.keyset.primary
        assert isinstance(prim.material, StreamingKey)
        return {
            "format": FORMAT,
            "keyset": self.keyset_name,
            "key_id": prim.key_id,
            "associated_data": self.associated_data.decode("utf-8", "backslashreplace"),
            "segment_size": prim.material.segment_size,
            "plaintext_sha256": info.plaintext_sha256,
            "plaintext_bytes": info.plaintext_bytes,
        }


def output_encryption(
    workspace: Workspace,
    run_id: str,
    keyset: str | None = None,
    *,
    provider: KeyProvider | None = None,
    own_key: bool = False,
) -> OutputEncryption:
    """The encryption of run ``run_id``'s output: the workspace's streaming keyset ``keyset``
    (``"output"`` by default, created on first use when the workspace has a KEK). With
    ``own_key`` (what runs do) the default is instead a fresh keyset of this output alone,
    ``output.<run id>``, so destroying it at the output's retention end kills every copy; a
    keyset named otherwise is shared by the outputs that name it. ``provider`` replaces the
    workspace's `KeyManager` (a manager is asked to ``ensure`` the keyset)."""
    from veil.keys.manager import OUTPUT_KEYSET, KeyManager

    name = keyset or OUTPUT_KEYSET
    source: Any = provider if provider is not None else KeyManager(workspace)
    if provider is None and source.config() is None:
        from veil.crypto.errors import KeyMissingError

        raise KeyMissingError(
            "the output is to be encrypted at rest (the policy's default) but this workspace "
            "has no key-encryption key: run `veil keys init`, or set "
            "`encryption: {at_rest: false}` on the purpose"
        )
    if own_key and provider is None and name == OUTPUT_KEYSET:
        # a keyset of this output alone, destroyed when the output is disposed of
        name, ks = source.output_keyset(run_id)
    elif hasattr(source, "ensure"):
        ks = source.ensure(name, "streaming", "files at rest (run outputs)")
    else:
        ks = source.keyset(name)
    return OutputEncryption(ks, name, run_associated_data(run_id))


# --------------------------------------------------------------------------------------------
# reading back


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def find_encryption(path: str | os.PathLike[str],
                    workspace: Workspace | None = None) -> dict[str, Any] | None:
    """The ``output.encryption`` section recorded for an encrypted file: from the receipt beside
    it (``<file>.receipt.json``), else from the store's run whose output has the file's SHA-256.
    """
    p = Path(path)
    receipt = p.with_name(p.name + ".receipt.json")
    try:
        doc = json.loads(receipt.read_text("utf-8"))
        enc = doc.get("output", {}).get("encryption")
        if isinstance(enc, dict):
            return enc
    except (OSError, ValueError, AttributeError):
        pass
    if workspace is None:
        return None
    import sqlalchemy as sa

    from veil.store.schema import runs

    digest = _sha256_file(p)
    try:
        with workspace.engine.connect() as conn:
            rows = conn.execute(
                sa.select(runs.c.receipt).where(runs.c.output_digest == digest)
            ).scalars().all()
    except sa.exc.DBAPIError:
        return None
    for r in rows:
        rec = json.loads(r) if isinstance(r, str) else r
        enc = (rec or {}).get("output", {}).get("encryption")
        if isinstance(enc, dict):
            return enc
    return None


def _workspace(workspace: Workspace | str | os.PathLike[str] | None) -> Workspace:
    from veil.store.workspace import Workspace

    if isinstance(workspace, Workspace):
        return workspace
    return Workspace.find(None if workspace is None else Path(workspace))


def decrypt_to_buffer(
    path: str | os.PathLike[str], keyset: Keyset, associated_data: bytes
) -> pa.Buffer:
    """Decrypt a whole file into one Arrow buffer (every segment verified first)."""
    import pyarrow as pa

    out = pa.BufferOutputStream()
    with io.FileIO(os.fspath(path), "rb") as f:
        for pt in decrypt_segments(f.readinto, streaming_keys(keyset), associated_data,
                                    os.fspath(path)):
            out.write(pt)
    return out.getvalue()


def read(
    path: str | os.PathLike[str],
    workspace: Workspace | str | os.PathLike[str] | None = None,
    *,
    keyset: str | None = None,
    associated_data: bytes | str | None = None,
    columns: list[str] | None = None,
    provider: KeyProvider | None = None,
) -> pa.Table:
    """Read a Parquet file Veil wrote, encrypted at rest or not, as an Arrow table.

    For an encrypted file the keyset name and associated data default to what its receipt (or
    the store's record of the run) says; ``provider`` defaults to the workspace's `KeyManager`.
    Nothing is returned unless the whole file authenticates.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = Path(path)
    if p.is_dir():  # a Spark run's folder of parts: manifest and every part verified
        from veil.keys.parts import read_parts

        return read_parts(p, workspace, columns=columns, provider=provider)
    try:
        kind = sniff(p)
    except FileNotFoundError:
        raise CryptoError("file not found", where=str(p)) from None
    if kind == "parquet":
        return pq.read_table(p, columns=columns)
    if kind != "tink-streaming":
        raise NotCiphertextError(
            "neither Parquet nor a Tink streaming ciphertext", where=str(p)
        )
    ws = None
    if provider is None or (workspace is not None and (keyset is None or associated_data is None)):
        ws = _workspace(workspace)
    recorded = None
    if keyset is None or associated_data is None:
        recorded = find_encryption(p, ws)
    name = keyset or (recorded or {}).get("keyset")
    if name is None:
        from veil.keys.manager import OUTPUT_KEYSET

        name = OUTPUT_KEYSET
    if associated_data is None:
        associated_data = (recorded or {}).get("associated_data", "")
    ad = associated_data.encode("utf-8") if isinstance(associated_data, str) else associated_data
    if provider is None:
        from veil.keys.manager import KeyManager

        assert ws is not None
        provider = KeyManager(ws)
    buf = decrypt_to_buffer(p, provider.keyset(name), bytes(ad))
    try:
        return pq.read_table(pa.BufferReader(buf), columns=columns)
    except pa.ArrowException as exc:
        raise CryptoError(f"decrypted, but not a Parquet file ({exc})", where=str(p)) from None
