"""Sinks that publish atomically: write to a temporary name, verify, then rename.

A failed run leaves nothing at the output path (and removes its temporary file). What Veil
writes holds data about people (outputs, rejects, receipts, packages), so its files are
created owner-only (0600), temporary files included: never readable by others, not even briefly.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

from veil.errors import InputError

ROW_GROUP_ROWS = 131072
PRIVATE_MODE = 0o600


def temp_path_for(path: Path) -> Path:
    return path.parent / f".{path.name}.{uuid.uuid4().hex[:12]}.tmp"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def create_private(path: Path) -> None:
    """Create the new, empty file ``path`` with mode 0600 (fails if it exists). A writer that
    then opens it for writing (truncating) keeps the mode."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE))


def open_private(path: Path, mode: str = "wb", **kwargs: Any) -> IO[Any]:
    """``open(path, mode)`` for a new file created 0600 (``w`` modes only)."""
    if not mode.startswith("w"):
        raise ValueError(f"open_private writes new files, not mode {mode!r}")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
    try:
        return os.fdopen(fd, mode, **kwargs)
    except BaseException:
        os.close(fd)
        raise


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(tmp: Path, final: Path) -> None:
    """fsync the temporary file, rename it into place, fsync the folder."""
    _fsync(tmp)
    os.replace(tmp, final)
    try:
        dfd = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    tmp = temp_path_for(path)
    try:
        with open_private(tmp) as f:
            f.write(data)
        publish(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class ParquetSink:
    """Parquet output with row groups of ~128k rows, published only by `commit()`.

    With ``encryption`` (a `veil.keys.files.OutputEncryption`) the Parquet bytes go straight
    into a Tink streaming ciphertext: no plaintext reaches the disk. `digest` and `bytes` are then
    the ciphertext's, and `encryption_info` the receipt's ``output.encryption`` section.
    """

    def __init__(self, path: str | Path, schema: pa.Schema, compression: str = "zstd",
                 encryption: Any = None, tmp: Path | None = None) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise InputError("output is a folder, not a file", where=str(self.path))
        if not self.path.parent.is_dir():
            raise InputError("output folder does not exist", where=str(self.path.parent))
        self.schema = schema
        self.tmp = tmp or temp_path_for(self.path)  # a run names it (its lease lists it)
        self.rows = 0
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0
        self.encryption = encryption
        self.encryption_info: dict[str, Any] | None = None
        self._target: Any = None
        self._writer: pq.ParquetWriter | None = None
        try:
            create_private(self.tmp)  # the writers below truncate it, keeping the mode
            if encryption is not None:
                self._target = encryption.open(self.tmp)
            self._writer = pq.ParquetWriter(
                self._target if self._target is not None else self.tmp, schema,
                compression=compression, write_statistics=True,
                # dictionary pages pay off for strings; for numbers they cost time, not space
                use_dictionary=[f.name for f in schema if pa.types.is_string(f.type)] or False,
            )
        except BaseException:
            self.abort()
            raise
        self.digest: str | None = None
        self.bytes = 0

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        self._pending.append(batch)
        self._pending_rows += batch.num_rows
        if self._pending_rows >= ROW_GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        if self._pending and self._writer is not None:
            table = pa.Table.from_batches(self._pending, schema=self.schema)
            self._writer.write_table(table, row_group_size=max(1, table.num_rows))
            self.rows += table.num_rows
        self._pending, self._pending_rows = [], 0

    def commit(self, before_publish: Callable[[], None] | None = None) -> str:
        """Finish, verify the row count, publish; returns the output's SHA-256.

        `before_publish` runs once the output is complete and verified but not yet visible
        (the run records its audit events there); if it raises, nothing is published."""
        self._flush()
        assert self._writer is not None
        self._writer.close()
        self._writer = None
        if self._target is not None:
            try:
                info = self._target.finish()  # completes the stream, decrypts it again
            except BaseException:
                self.abort()
                raise
            num_rows, self.digest, self.bytes = info.num_rows, info.sha256, info.bytes
            self.encryption_info = self.encryption.describe(info)
        else:
            num_rows = pq.read_metadata(self.tmp).num_rows
        if num_rows != self.rows:
            self.abort()
            raise InputError(f"output verification failed: wrote {self.rows} rows, file holds "
                             f"{num_rows}", where=str(self.path))
        if self._target is None:
            self.digest = sha256_file(self.tmp)
            self.bytes = self.tmp.stat().st_size
        if before_publish is not None:
            try:
                before_publish()
            except BaseException:
                self.abort()
                raise
        publish(self.tmp, self.path)
        assert self.digest is not None
        return self.digest

    def abort(self) -> None:
        if getattr(self, "_writer", None) is not None:
            try:
                self._writer.close()  # type: ignore[union-attr]
            except Exception:
                pass
            self._writer = None
        if self._target is not None:
            self._target.abort()
        self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> ParquetSink:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:  # type: ignore[no-untyped-def]
        if exc_type is not None or self._writer is not None:
            self.abort()
