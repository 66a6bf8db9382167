"""Sorted runs of subject-pseudonym prefixes spilled to disk, merged into one sorted set.

A run with millions of distinct subjects cannot keep their pseudonyms in memory (16 bytes each
plus what it takes to make them). The collector hashes them in bounded pieces, sorts each piece
and writes it here as a *run*; at publish the runs are merged, bucket range by bucket range,
into one sorted, de-duplicated set (`SpilledSet`) that the lineage store takes bucket by bucket.

Every file is an anonymous temporary file (``tempfile.TemporaryFile``: on Linux ``O_TMPFILE``,
elsewhere unlinked at once), so no name is ever visible in the folder and nothing is left
behind, whether the run succeeds, fails or is killed: the space goes back when the file is
closed or the process ends. Files are read a range at a time into small buffers (not
memory-mapped: mapped pages would count in the run's RSS), so a merge never holds more than
one range of buckets in memory.

Why ranges of buckets make an exact k-way merge: every run is sorted and knows where each of the
4096 buckets (first 12 bits) starts in it, so the prefixes of buckets ``[b0, b1)`` in every run
are one contiguous slice per run; sorting those slices together and dropping neighbours that are
equal gives exactly that range of the merged set, and the ranges follow each other in order.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import numpy as np

from veil.errors import StoreError
from veil.lineage.sets import BUCKETS, DTYPE, PREFIX_BYTES, bucket_edges, sort_unique

__all__ = ["MERGE_CHUNK", "SortedRuns", "SpilledSet"]

#: Prefixes (16 bytes each) a merge step or a read of the merged set holds at most, unless one
#: bucket alone is larger (a bucket is the store's unit): 1 MB.
MERGE_CHUNK = 1 << 16


class _File:
    """One anonymous temporary file of prefixes (``edges``: where each bucket of the merged
    set starts in it)."""

    __slots__ = ("edges", "f")

    def __init__(self, folder: Path | None) -> None:
        try:
            self.f: IO[bytes] = tempfile.TemporaryFile(  # noqa: SIM115 - owned, closed by close
                dir=folder, prefix=".veil-lineage-")
        except OSError as exc:
            raise _spill_error(exc, folder) from None
        self.edges = np.zeros(BUCKETS + 1, dtype=np.int64)

    def append(self, prefixes: np.ndarray, folder: Path | None) -> None:
        try:
            self.f.seek(0, os.SEEK_END)
            self.f.write(memoryview(np.ascontiguousarray(prefixes)).cast("B"))
        except OSError as exc:
            self.close()
            raise _spill_error(exc, folder) from None

    def read(self, start: int, end: int) -> np.ndarray:
        """Prefixes ``[start, end)`` (positions, not bytes)."""
        n = (end - start) * PREFIX_BYTES
        if n == 0:
            return np.empty(0, dtype=DTYPE)
        self.f.seek(start * PREFIX_BYTES)
        data = self.f.read(n)
        if len(data) != n:
            raise StoreError("a lineage spill file was cut short while the run was merging it")
        return np.frombuffer(data, dtype=DTYPE)

    def close(self) -> None:
        self.f.close()


def _spill_error(exc: OSError, folder: Path | None) -> StoreError:
    where = str(folder) if folder is not None else tempfile.gettempdir()
    return StoreError(f"cannot spill the run's subject pseudonyms to disk: {exc.strerror}",
                      where=where)


def _ranges(counts: np.ndarray, chunk: int) -> Iterator[tuple[int, int]]:
    """Consecutive bucket ranges ``[b0, b1)`` of about ``chunk`` prefixes each."""
    b0, held = 0, 0
    for b, c in enumerate(counts.tolist()):
        if held and held + c > chunk:
            yield b0, b
            b0, held = b, 0
        held += c
    if b0 < len(counts):
        yield b0, len(counts)


class SpilledSet:
    """A sorted, de-duplicated prefix set in an anonymous temporary file: its size, and its
    buckets read range by range (what `veil.lineage.record_output` stores)."""

    def __init__(self, file: _File, chunk: int = MERGE_CHUNK) -> None:
        self._file = file
        self._chunk = chunk

    def __len__(self) -> int:
        return int(self._file.edges[BUCKETS])

    def buckets(self) -> Iterator[tuple[int, bytes]]:
        """(bucket, blob) for every non-empty bucket, in order (as `PseudonymSet.buckets`)."""
        e = self._file.edges
        for b0, b1 in _ranges(np.diff(e), self._chunk):
            data = self._file.read(int(e[b0]), int(e[b1])).tobytes()
            base = int(e[b0])
            for b in range(b0, b1):
                i, j = int(e[b]) - base, int(e[b + 1]) - base
                if j > i:
                    yield b, data[i * PREFIX_BYTES:j * PREFIX_BYTES]

    def to_bytes(self) -> bytes:
        """The whole set (for small sets and tests: this reads it all into memory)."""
        return b"".join(blob for _, blob in self.buckets())

    def close(self) -> None:
        self._file.close()


class SortedRuns:
    """Sorted runs of prefixes appended to one anonymous file in ``folder`` (the system's
    temporary folder if None; one file, so a run with many spills holds two descriptors, not
    one per run), merged once by `merge`."""

    def __init__(self, folder: Path | None = None, chunk: int = MERGE_CHUNK) -> None:
        self.folder = folder
        self._chunk = chunk
        self._file: _File | None = None
        self._runs: list[np.ndarray] = []  # each run's bucket edges, as positions in the file
        self._size = 0

    def __len__(self) -> int:
        return len(self._runs)

    def add(self, prefixes: np.ndarray) -> None:
        """Write one run: ``prefixes`` sorted and de-duplicated (`sort_unique`)."""
        if self._file is None:
            self._file = _File(self.folder)
        self._file.append(prefixes, self.folder)
        self._runs.append(self._size + bucket_edges(prefixes))
        self._size += len(prefixes)

    def merge(self) -> SpilledSet:
        """All runs merged into one sorted, de-duplicated set; the runs' file is closed (its
        space freed) whether it succeeds or not."""
        out = _File(self.folder)
        try:
            counts = sum((np.diff(e) for e in self._runs),
                         start=np.zeros(BUCKETS, dtype=np.int64))
            written = 0
            for b0, b1 in _ranges(counts, self._chunk):
                part = sort_unique(np.concatenate(
                    [self._read(int(e[b0]), int(e[b1])) for e in self._runs]
                    or [np.empty(0, dtype=DTYPE)]), in_place=True)
                edges = bucket_edges(part)
                out.edges[b0:b1] = written + edges[b0:b1]
                out.append(part, self.folder)
                written += len(part)
            out.edges[BUCKETS] = written
        except BaseException:
            out.close()
            raise
        finally:
            self.close()
        return SpilledSet(out, self._chunk)

    def _read(self, start: int, end: int) -> np.ndarray:
        assert self._file is not None
        return self._file.read(start, end)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._runs, self._size = [], 0
