"""Sets of subject pseudonyms: sorted 16-byte prefixes of keyed pseudonyms (HMAC-SHA256), with
exact membership by binary search, split in buckets by their first 12 bits (see the package
doc)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from veil.errors import InputError, StoreError

__all__ = ["BUCKET_BITS", "PREFIX_BYTES", "PseudonymSet", "bucket_edges", "bucket_of",
           "paused_gc", "sort_unique"]

PREFIX_BYTES = 16
BUCKET_BITS = 12
BUCKETS = 1 << BUCKET_BITS
DTYPE = np.dtype(f"S{PREFIX_BYTES}")


def _edge_keys() -> np.ndarray:
    """The smallest prefix of every bucket (its 12 bits, then zeros)."""
    raw = np.zeros((BUCKETS, PREFIX_BYTES), dtype=np.uint8)
    b = np.arange(BUCKETS)
    raw[:, 0] = b >> 4
    raw[:, 1] = (b & 0xF) << 4
    return raw.view(DTYPE).reshape(BUCKETS)


_EDGES = _edge_keys()


def bucket_edges(prefixes: np.ndarray) -> np.ndarray:
    """Where each bucket starts in a sorted prefix array, and its length at the end
    (``BUCKETS + 1`` offsets: bucket ``b`` is ``prefixes[e[b]:e[b + 1]]``)."""
    edges = np.empty(BUCKETS + 1, dtype=np.int64)
    edges[:BUCKETS] = np.searchsorted(prefixes, _EDGES, side="left")
    edges[BUCKETS] = len(prefixes)
    return edges


def sort_unique(prefixes: np.ndarray, *, in_place: bool = False) -> np.ndarray:
    """Sorted, de-duplicated 16-byte prefixes (``in_place``: sorts the caller's array, no
    copy). numpy sorts fixed-width bytes as unsigned bytes; neighbours are compared as two
    64-bit words (``np.unique`` compares them as strings, ten times slower)."""
    a = np.ascontiguousarray(prefixes, dtype=DTYPE).reshape(-1)
    if in_place:
        a.sort()
    else:
        a = np.sort(a)
    if len(a) < 2:
        return a
    w = a.view(np.uint64).reshape(-1, 2)
    keep = np.empty(len(a), dtype=bool)
    keep[0] = True
    np.not_equal(w[1:, 0], w[:-1, 0], out=keep[1:])
    keep[1:] |= w[1:, 1] != w[:-1, 1]
    return a if keep.all() else a[keep]


def bucket_of(token: str) -> int:
    """The bucket (first 12 bits) of a hex pseudonym."""
    try:
        return int(token[:3], 16)
    except ValueError:
        raise InputError("a pseudonym is not hexadecimal") from None


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while many short-lived objects (one per subject or
    bucket) are made: a full collection walks the run's whole heap (~65 ms each in a run);
    these objects hold no cycles, so reference counting frees them anyway."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class PseudonymSet:
    """A sorted, de-duplicated array of 16-byte pseudonym prefixes with exact membership."""

    __slots__ = ("_a",)

    def __init__(self, prefixes: np.ndarray) -> None:
        self._a = prefixes

    @classmethod
    def from_digests(cls, blob: bytes, width: int = 32) -> PseudonymSet:
        """From concatenated digests of ``width`` bytes (their first 16 bytes are kept)."""
        n = len(blob) // width
        raw = np.frombuffer(blob, dtype=np.uint8).reshape(n, width)[:, :PREFIX_BYTES]
        return cls(sort_unique(np.ascontiguousarray(raw).view(DTYPE).reshape(n)))

    @classmethod
    def from_hex(cls, tokens: list[str]) -> PseudonymSet:
        """From hex pseudonyms (at least 32 hex digits each)."""
        try:
            blob = b"".join(bytes.fromhex(t[:PREFIX_BYTES * 2]) for t in tokens)
        except ValueError:
            raise InputError("a pseudonym is not hexadecimal") from None
        if len(blob) != PREFIX_BYTES * len(tokens):
            raise InputError(f"a pseudonym is shorter than {PREFIX_BYTES * 2} hex digits")
        return cls.from_digests(blob, PREFIX_BYTES)

    @classmethod
    def from_bytes(cls, blob: bytes) -> PseudonymSet:
        """From `to_bytes` output (already sorted and unique)."""
        if len(blob) % PREFIX_BYTES:
            raise StoreError("a lineage set is corrupt (length is not a multiple of 16)")
        return cls(np.frombuffer(blob, dtype=DTYPE))

    def to_bytes(self) -> bytes:
        return self._a.tobytes()

    def buckets(self) -> list[tuple[int, bytes]]:
        """(bucket, blob) for every non-empty bucket; the blobs concatenated in bucket order
        are `to_bytes` (the set is sorted)."""
        e = bucket_edges(self._a).tolist()
        return [(b, self._a[e[b]:e[b + 1]].tobytes()) for b in range(BUCKETS)
                if e[b + 1] > e[b]]

    def __len__(self) -> int:
        return int(self._a.shape[0])

    def _key(self, token: str) -> np.ndarray:
        raw = bytes.fromhex(token[:PREFIX_BYTES * 2])
        if len(raw) != PREFIX_BYTES:
            raise InputError(f"a pseudonym has at least {PREFIX_BYTES * 2} hex digits")
        return np.frombuffer(raw, dtype=DTYPE)

    def __contains__(self, token: object) -> bool:
        if not isinstance(token, str) or len(self) == 0:
            return False
        try:
            k = self._key(token)
        except ValueError:
            return False
        i = int(np.searchsorted(self._a, k)[0])
        # compare as fixed-width arrays: a numpy bytes scalar drops trailing NUL bytes
        return i < len(self) and bool(self._a[i:i + 1] == k)

    def hex(self) -> list[str]:
        """The prefixes as 32-digit hex strings (what audit events accept as subjects)."""
        raw = self.to_bytes()
        return [raw[i:i + PREFIX_BYTES].hex() for i in range(0, len(raw), PREFIX_BYTES)]
