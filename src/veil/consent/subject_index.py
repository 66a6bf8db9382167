"""A hash index of a consent snapshot's subject ids, built once, probed by whole batches.

A run checks one batch after another against the same snapshot. Arrow's ``index_in`` hashes
the whole snapshot again on every call, and a binary search costs about twenty string
comparisons per row; this index is built once (numpy, open addressing with double hashing)
and a batch is looked up with a handful of vectorized passes, whatever the snapshot's size.

Keys are exact, not fingerprints: every id is kept as its UTF-8 bytes zero-padded to ``W``
bytes (``W``: the longest id, a multiple of 8, at most `MAX_WIDTH`) plus its length, so a hit
is confirmed by comparing those words and the length. The 64-bit hash only picks the slot; a
collision costs one more probe, never a wrong answer. Snapshots with longer ids, or so many
that the table would pass `MAX_TABLE_BYTES`, are not indexed (the caller searches instead).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

__all__ = ["MAX_WIDTH", "SubjectIndex"]

MAX_WIDTH = 64  # bytes of the longest id indexed (8 words per id)
MAX_TABLE_BYTES = 256 << 20  # about 5 million ids of up to 16 bytes
_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xBF58476D1CE4E5B9)
_M3 = np.uint64(0x94D049BB133111EB)


def _words(arr: pa.StringArray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(n x width/8 uint64 words of the zero-padded UTF-8 bytes, byte lengths) of a string
    array; a null is empty, an id longer than ``width`` gets length -1 (it matches nothing)."""
    n = len(arr)
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], np.int32, n + 1, arr.offset * 4)
    lens = np.diff(offsets).astype(np.int64)
    if arr.null_count:
        lens[~np.asarray(arr.is_valid())] = 0
    start = int(offsets[0])
    data = (np.frombuffer(bufs[2], np.uint8, int(offsets[-1]) - start, start)
            if bufs[2] is not None else np.zeros(0, np.uint8))
    mat = np.zeros((n, width), np.uint8)
    if n and lens.min() == lens.max() and lens[0] <= width and not arr.null_count:
        mat[:, : lens[0]] = data.reshape(n, int(lens[0]))  # ids of one length: one copy
    else:
        long = lens > width
        ok = ~long
        rows = np.repeat(np.arange(n)[ok], lens[ok])
        firsts = (offsets[:-1] - start)[ok]
        cols = np.arange(len(rows)) - np.repeat(np.cumsum(lens[ok]) - lens[ok], lens[ok])
        src = np.repeat(firsts, lens[ok]) + cols
        mat[rows, cols] = data[src]
        lens[long] = -1
    return mat.view(np.uint64), lens


def _slots(n: int) -> int:
    return 1 << max(4, (2 * n - 1).bit_length())  # a power of two, load factor <= 1/2


def _hash(words: np.ndarray, lens: np.ndarray) -> np.ndarray:
    h = lens.astype(np.uint64) * _M3
    for k in range(words.shape[1]):
        h ^= words[:, k] * _M1
        h ^= h >> np.uint64(31)
        h *= _M2
    h ^= h >> np.uint64(29)
    return h


class SubjectIndex:
    """Positions of ids in a snapshot's (unique) subject array; see the module docstring.

    The table is an array of records, one per slot: an id's words, then its length and
    position packed in one word (``length << 32 | position + 1``; 0: an empty slot), so a
    probe reads one record."""

    def __init__(self, subjects: pa.StringArray, width: int) -> None:
        self.width = width
        words, lens = _words(subjects, width)
        n = len(subjects)
        self.k = k = width // 8
        size = _slots(n)
        self.mask = size - 1
        self.table = np.zeros(size, [(f"w{j}", np.uint64) for j in range(k)] + [("t", np.uint64)])
        tags = self.table["t"]
        tag = (lens.astype(np.uint64) << np.uint64(32)) | np.arange(1, n + 1, dtype=np.uint64)
        pending = np.arange(n, dtype=np.int64)
        slot, step = self._chain(_hash(words, lens))
        while len(pending):  # each round: every pending id claims its slot if free
            free = tags[slot] == 0
            claim, at = pending[free], slot[free]
            tags[at] = tag[claim]  # several ids on one free slot: one of them wins
            won = np.zeros(len(pending), bool)
            won[free] = tags[at] == tag[claim]
            for j in range(k):
                self.table[f"w{j}"][slot[won]] = words[pending[won], j]
            pending, step = pending[~won], step[~won]
            slot = (slot[~won] + step) & self.mask

    def _chain(self, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each id's first slot and its step (odd, so a chain visits every slot of the
        power-of-two table): double hashing, so that chains do not cluster."""
        slot = (h & np.uint64(self.mask)).astype(np.int64)
        step = ((h >> np.uint64(40)).astype(np.int64) | 1) & self.mask
        return slot, step

    @classmethod
    def build(cls, subjects: pa.StringArray) -> SubjectIndex | None:
        """The index, or None when an id is longer than `MAX_WIDTH` bytes or the table would
        take more than `MAX_TABLE_BYTES` (a ledger of many millions: the caller searches)."""
        longest = int(np.diff(np.frombuffer(subjects.buffers()[1], np.int32, len(subjects) + 1,
                                            subjects.offset * 4)).max(initial=0))
        width = max(8, -(-longest // 8) * 8)
        if longest > MAX_WIDTH or _slots(len(subjects)) * (width + 8) > MAX_TABLE_BYTES:
            return None
        return cls(subjects, width)

    def positions(self, ids: pa.StringArray) -> tuple[np.ndarray, np.ndarray]:
        """(found, position) per id: whether the snapshot holds it, and where (0 if not)."""
        words, lens = _words(ids, self.width)
        n = len(ids)
        pos = np.zeros(n, np.int64)
        found = np.zeros(n, bool)
        todo = np.flatnonzero(lens >= 0)
        if len(todo) < n:
            words, lens = words[todo], lens[todo]
        want = lens.astype(np.uint64) << np.uint64(32)
        slot, step = self._chain(_hash(words, lens))
        low = np.uint64(0xFFFFFFFF)
        while len(todo):
            rows = np.take(self.table, slot)  # one record per probe
            tag = rows["t"]
            used = tag != 0
            same = used & ((tag & ~low) == want)
            for j in range(self.k):
                same &= rows[f"w{j}"] == words[:, j]
            found[todo[same]] = True
            pos[todo[same]] = (tag[same] & low).astype(np.int64) - 1
            again = used & ~same  # another id in this slot: probe the next one of its chain
            if not again.any():
                break
            todo, words, want, step = todo[again], words[again], want[again], step[again]
            slot = (slot[again] + step) & self.mask
        return found, pos
