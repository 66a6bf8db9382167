"""A source that streams Arrow batches from a dataset or table scan (folders, Delta, Iceberg).

Shared by every source whose rows arrive as Arrow batches rather than file bytes: converts them to
the policy's types, reports rejects by record number, and hashes what it read (the Arrow IPC
stream of the columns read, as for in-memory tables) so the receipt pins the content.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pyarrow as pa

from veil.errors import InputError
from veil.io.readers import BATCH_ROWS, OnReject, Source, _check_names, _drop_bad, _ipc_bytes
from veil.io.types import conform

#: Errors a scan raises for unreadable data or an unreachable store (reported, never traced).
SCAN_ERRORS: tuple[type[BaseException], ...] = (pa.ArrowException, OSError, ValueError)


def plain(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Dictionary columns (hive partition keys) decoded, so types match a plain file's."""
    if not any(pa.types.is_dictionary(f.type) for f in batch.schema):
        return batch
    arrays = [c.dictionary_decode() if pa.types.is_dictionary(c.type) else c
              for c in batch.columns]
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


class ArrowStreamSource(Source):
    """Rows from ``scan(columns)``, an iterator of record batches; ``names`` the columns."""

    def __init__(self, name: str, format: str, names: list[str],
                 scan: Callable[[list[str]], Iterator[pa.RecordBatch]],
                 snapshot: dict[str, Any], size: int | None = None) -> None:
        super().__init__(name)
        self.format = format
        _check_names(names, name)
        self._names = names
        self._scan = scan
        self.snapshot = snapshot
        self.size = size

    def header(self) -> list[str]:
        return list(self._names)

    def batches(self, columns: Sequence[str], types: dict[str, str],
                on_reject: OnReject) -> Iterator[pa.RecordBatch]:
        h = hashlib.sha256()
        record = 0
        cols = list(columns)
        try:
            for raw in self._scan(cols):
                for batch in _chunks(plain(raw), cols):
                    h.update(_ipc_bytes(batch))
                    out, bad = conform(batch, types)
                    if bad:
                        out = _drop_bad(out, bad, record, on_reject)
                    record += batch.num_rows
                    self.position += batch.nbytes
                    if out.num_rows:
                        yield out
        except InputError:
            raise
        except SCAN_ERRORS as exc:
            raise InputError(f"cannot read the source ({first_line(exc)})",
                             where=self.name) from None
        self._digest = h.hexdigest()


def _chunks(batch: pa.RecordBatch, columns: list[str]) -> Iterator[pa.RecordBatch]:
    if batch.schema.names != columns:
        batch = pa.RecordBatch.from_arrays([batch.column(c) for c in columns], names=columns)
    for start in range(0, batch.num_rows, BATCH_ROWS):
        yield batch.slice(start, BATCH_ROWS)


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]
