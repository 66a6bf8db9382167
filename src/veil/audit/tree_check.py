"""Recomputing the stored tree chunk by chunk and comparing it with the stored rows and heads.

The engine of :func:`veil.audit.verify.verify_log`. Chunks are aligned blocks of ``2**k`` leaves.
Inside a chunk, nodes of levels ``0..k`` are recomputed level by level and compared, a level at a
time, with the stored rows of that level; the root of each full chunk is appended to ``upper``, a
compact range whose leaves are chunk roots, which yields the nodes above level ``k``. The per-leaf
loop is written inline on purpose: it runs once per event of the log.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any

from veil.audit.heads import SignedTreeHead
from veil.audit.merkle import CompactRange, NodeID, empty_root, range_nodes
from veil.audit.verify_error import AuditVerifyError

StoredLevel = Callable[[int, int, int], list[tuple[int, bytes]]]
"""``(level, first, end) -> [(idx, hash), ...]``: the stored nodes of a level, by index."""
StoredNodes = Callable[[Sequence[NodeID]], dict[tuple[int, int], bytes]]
"""``ids -> {(level, idx): hash}``: the stored nodes among ``ids``."""

_EMPTY = empty_root()


class LeafMismatch(Exception):
    """Leaf ``index``'s event hashes to ``leaf_hash``, which is not its stored level-0 node
    (the caller names what happened: see :func:`veil.audit.verify.classify_mismatch`)."""

    def __init__(self, index: int, leaf_hash: bytes) -> None:
        self.index = index
        self.leaf_hash = leaf_hash


def fold(hashes: Sequence[bytes]) -> bytes:
    """The root over consecutive perfect subtrees (sizes non-increasing), as in RFC 6962."""
    if not hashes:
        return _EMPTY
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = hashlib.sha256(b"\x01" + h + acc).digest()
    return acc


def _dumps(value: str) -> bytes:
    # RFC 8785 writes strings exactly as json.dumps(ensure_ascii=False) does.
    return json.dumps(value, ensure_ascii=False).encode()


def _deleted(index: int) -> AuditVerifyError:
    return AuditVerifyError(index, "deleted leaf", f"leaf {index} is missing (its row was deleted)")


def _level0_lookup(level0: list[tuple[int, bytes]], lo: int, hi: int) -> tuple[Any, int]:
    """The stored leaf nodes as (indexable, offset): a list when the rows are exactly
    ``lo..hi-1`` (the usual case), else a dict by index."""
    if len(level0) == hi - lo and (not level0 or (level0[0][0] == lo and level0[-1][0] == hi - 1)):
        return [h for _, h in level0], lo
    return dict(level0), 0


class TreeChecker:
    """Recomputes the tree chunk by chunk and compares it with the stored rows and heads."""

    def __init__(self, heads: Sequence[SignedTreeHead], k: int) -> None:
        self.k = k
        self.upper = CompactRange()
        self.heads = list(heads)
        self._next_head = 0
        self.nodes_checked = 0
        self.size = 0
        self.root = _EMPTY
        self._prefix: dict[tuple[str, str], bytes] = {}
        self._middle: dict[tuple[str, str], bytes] = {}
        self._heads_upto(0, [], 0)

    def _heads_upto(self, upto: int, levels: Sequence[Sequence[bytes]], lo: int) -> None:
        base = [h for _, h in self.upper.frontier]
        while self._next_head < len(self.heads) and self.heads[self._next_head].size <= upto:
            head = self.heads[self._next_head]
            root = self._root(base, levels, lo, head.size)
            if root != head.root:
                raise AuditVerifyError(
                    head.size,
                    "head root mismatch",
                    f"the head signed for size {head.size} has root {head.root.hex()[:16]}…, "
                    f"the stored events give {root.hex()[:16]}… (a leaf before {head.size} was "
                    "altered together with its tree)",
                )
            self._next_head += 1

    @staticmethod
    def _root(base: list[bytes], levels: Sequence[Sequence[bytes]], lo: int, s: int) -> bytes:
        local = [levels[n.level][n.index - (lo >> n.level)] for n in range_nodes(lo, s)]
        return fold(base + local)

    def _columns_ok(self, data: bytes, row: Sequence[Any]) -> bool:
        # The canonical layout is fixed: {"action":..,"actor":..,"counts":.. ... "outcome":..,
        # "purpose":..,"subjects":[..],"time":"<27 chars>","v":1}. "subjects" holds an array only
        # at the top level (details hold scalars), so the middle needle can match only there.
        key = (row[4], row[5])
        prefix = self._prefix.get(key)
        if prefix is None:
            prefix = b'{"action":' + _dumps(row[4]) + b',"actor":' + _dumps(row[5]) + b',"counts":'
            self._prefix[key] = prefix
        key = (row[7], row[6])
        middle = self._middle.get(key)
        if middle is None:
            middle = (
                b',"outcome":' + _dumps(row[7]) + b',"purpose":' + _dumps(row[6]) + b',"subjects":['
            )
            self._middle[key] = middle
        data = bytes(data)
        return (
            data.startswith(prefix)
            and middle in data
            and data[-44:] == b',"time":"' + str(row[3]).encode() + b'","v":1}'
        )

    def chunk(
        self,
        lo: int,
        hi: int,
        rows: Sequence[Sequence[Any]],
        stored_level: StoredLevel,
        stored_nodes: StoredNodes,
    ) -> None:
        """Check leaves ``lo..hi-1`` (their ``rows``) and every node they complete."""
        hashes = self._leaf_hashes(lo, hi, rows, stored_level)
        levels = self._levels(lo, hashes, stored_level)
        self._heads_upto(hi, levels, lo)
        if hi - lo == 1 << self.k:  # a full chunk: its root is a leaf of the upper tree
            self._upper(levels[self.k][0], stored_nodes)
            self.size, self.root = hi, self.upper.root()
        else:
            base = [h for _, h in self.upper.frontier]
            self.size, self.root = hi, self._root(base, levels, lo, hi)

    def _leaf_hashes(
        self, lo: int, hi: int, rows: Sequence[Sequence[Any]], stored_level: StoredLevel
    ) -> list[bytes]:
        """Each row's leaf hash, checked against its stored leaf hash, its filter columns and
        its stored level-0 node (a mismatch there raises :class:`LeafMismatch`)."""
        sha = hashlib.sha256
        s0, offset = _level0_lookup(stored_level(0, lo, hi), lo, hi)
        hashes: list[bytes] = []
        expect = lo
        prefixes, middles = self._prefix, self._middle
        for row in rows:
            idx, data = row[0], row[1]
            if idx != expect:
                raise _deleted(expect)
            h = sha(b"\x00" + data).digest()
            if h != row[2]:
                raise AuditVerifyError(
                    idx, "modified event", f"event {idx} does not hash to its stored leaf hash"
                )
            # The filter columns against the event, without parsing it (see _columns_ok).
            prefix = prefixes.get((row[4], row[5]))
            middle = middles.get((row[7], row[6]))
            if (
                prefix is None
                or middle is None
                or not data.startswith(prefix)
                or middle not in data
                or data[-44:] != b',"time":"' + row[3].encode() + b'","v":1}'
            ) and not self._columns_ok(data, row):
                raise AuditVerifyError(
                    idx,
                    "filter columns",
                    f"the time/action/actor/purpose/outcome columns of leaf {idx} disagree with "
                    "its event",
                )
            try:
                node = s0[idx - offset]
            except (KeyError, IndexError):
                raise AuditVerifyError(
                    idx, "missing node", f"leaf node (0, {idx}) is missing"
                ) from None
            if node != h:
                raise LeafMismatch(idx, h)
            hashes.append(h)
            expect += 1
        if expect != hi:
            raise _deleted(expect)
        self.nodes_checked += len(hashes)
        return hashes

    def _levels(self, lo: int, hashes: list[bytes], stored_level: StoredLevel) -> list[list[bytes]]:
        """Levels ``0..k`` of the chunk recomputed from its leaf hashes, each level compared
        with its stored rows."""
        sha = hashlib.sha256
        levels: list[list[bytes]] = [hashes]
        cur = hashes
        for level in range(1, self.k + 1):
            if len(cur) < 2:
                break
            cur = [sha(b"\x01" + cur[i] + cur[i + 1]).digest() for i in range(0, len(cur) - 1, 2)]
            levels.append(cur)
            first = lo >> level
            stored = stored_level(level, first, first + len(cur))
            if [h for _, h in stored] != cur:
                self._node_error(level, first, cur, stored)
            self.nodes_checked += len(cur)
        return levels

    def _upper(self, chunk_root: bytes, stored_nodes: StoredNodes) -> None:
        """Append a full chunk's root to the upper tree and check the nodes it completes."""
        res = self.upper.append([chunk_root])
        ids = [NodeID(lv + self.k, ix) for (lv, ix) in res.nodes if lv > 0]
        stored_up = stored_nodes(ids)
        for n in sorted(ids, key=lambda n: n.level):
            want = res.nodes[(n.level - self.k, n.index)]
            got = stored_up.get((n.level, n.index))
            if got != want:
                self._raise_node(n.level, n.index, got is None)
        self.nodes_checked += len(ids)

    def _node_error(
        self, level: int, first: int, want: Sequence[bytes], stored: Sequence[tuple[int, bytes]]
    ) -> None:
        got = dict(stored)
        for j, h in enumerate(want):
            if got.get(first + j) != h:
                self._raise_node(level, first + j, first + j not in got)
        extra = sorted(set(got) - set(range(first, first + len(want))))
        self._raise_node(level, extra[0], False)

    @staticmethod
    def _raise_node(level: int, index: int, missing: bool) -> None:
        begin = index << level
        if missing:
            raise AuditVerifyError(
                begin, "missing node", f"node (level {level}, index {index}) is missing"
            )
        raise AuditVerifyError(
            begin,
            "bad node",
            f"node (level {level}, index {index}) over leaves {begin}..{begin + (1 << level) - 1} "
            "differs from the hash of its leaves",
        )

    def finish(self, size: int) -> None:
        """Check that the chunks covered the log's ``size`` leaves and every signed head."""
        if self.size != size:
            raise AuditVerifyError(self.size, "deleted leaf", "the log ends early")
        if self._next_head != len(self.heads):
            head = self.heads[self._next_head]
            raise AuditVerifyError(
                size, "deleted leaf", f"a head is signed for size {head.size} > {size}"
            )
