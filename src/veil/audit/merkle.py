"""RFC 6962 / RFC 9162 Merkle trees: hashing, proofs from stored subtrees, strict verification.

Small pure functions in the style of transparency-dev/merkle (``rfc6962``, ``proof``, ``compact``).

Node addressing (the "compact range" layout of transparency-dev/merkle/compact)
------------------------------------------------------------------------------
``NodeID(level, index)`` names the root of the *perfect* subtree over the leaves
``[index * 2**level, (index + 1) * 2**level)``. Level 0 holds the leaf hashes. A perfect subtree
never changes once its last leaf is appended, so a log stores each of them exactly once, keyed by
``(level, index)`` (about ``2 n`` rows for ``n`` leaves), and never updates a row. Every node a
proof
needs is such a perfect subtree (or, for the one "ephemeral" node on the right border, a fold of at
most ``log2 n`` of them), so an inclusion or consistency proof costs ``O(log n)`` reads whatever
the tree size, and the root of any tree size is a fold of its ``popcount(size)`` frontier nodes.

Verification follows the strict rules of RFC 9162 section 2.1.3 / transparency-dev ``proof``:
every failure raises :class:`veil.errors.AuditError` naming the check that failed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from veil.errors import AuditError

HASH_SIZE = 32
"""Size in bytes of every hash (SHA-256)."""

MAX_TREE_SIZE = 2**64 - 1
"""Tree sizes and leaf indexes are unsigned 64-bit numbers (as in RFC 9162 and C2SP checkpoints)."""

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
_EMPTY_ROOT = hashlib.sha256(b"").digest()


# --------------------------------------------------------------------------- hashing (RFC 6962 2.1)


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data): the hash of one leaf input."""
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right): the hash of an interior node."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def empty_root() -> bytes:
    """The root of the empty tree: SHA-256 of the empty string."""
    return _EMPTY_ROOT


def root_from_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """MTH over already hashed leaves, by the recursive definition of RFC 6962 section 2.1.

    This is the reference definition (O(n) hashing, O(log n) recursion); logs use
    :class:`CompactRange` or :func:`root_from_store` instead.
    """
    if not hashes:
        return _EMPTY_ROOT

    def mth(lo: int, hi: int) -> bytes:
        n = hi - lo
        if n == 1:
            return hashes[lo]
        k = 1 << ((n - 1).bit_length() - 1)  # largest power of two smaller than n
        return node_hash(mth(lo, lo + k), mth(lo + k, hi))

    return mth(0, len(hashes))


def root_from_leaves(leaves: Iterable[bytes]) -> bytes:
    """MTH(D[n]): the RFC 6962 root of a list of leaf inputs."""
    return root_from_leaf_hashes([leaf_hash(d) for d in leaves])


# --------------------------------------------------------------------------- node addressing


@dataclass(frozen=True, slots=True)
class NodeID:
    """The perfect subtree over leaves ``[index << level, (index + 1) << level)``."""

    level: int
    index: int

    def coverage(self) -> tuple[int, int]:
        """The half-open leaf range ``[begin, end)`` this node covers."""
        return self.index << self.level, (self.index + 1) << self.level

    def sibling(self) -> NodeID:
        return NodeID(self.level, self.index ^ 1)

    def parent(self) -> NodeID:
        return NodeID(self.level + 1, self.index >> 1)


GetNode = Callable[[int, int], bytes]
"""``get_node(level, index) -> hash`` of a stored perfect subtree (e.g. ``store.get``)."""


@runtime_checkable
class NodeStore(Protocol):
    """Read access to the stored perfect-subtree hashes of a log (see the module docstring).

    ``get`` must return the 32-byte hash of node ``(level, index)`` and raise
    :class:`~veil.errors.AuditError` (or a subclass of ``VeilError``) if it is not stored.
    """

    def get(self, level: int, index: int) -> bytes: ...


class MemoryNodeStore:
    """A :class:`NodeStore` in a dict, for tests and small logs. Counts reads in ``reads``.

    Nodes are write-once: storing a different hash under an existing ``(level, index)`` raises
    :class:`AuditError` (a log never rewrites history).
    """

    def __init__(self) -> None:
        self._nodes: dict[tuple[int, int], bytes] = {}
        self.reads = 0

    def get(self, level: int, index: int) -> bytes:
        self.reads += 1
        try:
            return self._nodes[(level, index)]
        except KeyError:
            raise AuditError(f"node (level {level}, index {index}) is not in the store") from None

    def put(self, level: int, index: int, value: bytes) -> None:
        old = self._nodes.get((level, index))
        if old is not None and old != value:
            raise AuditError(
                f"node (level {level}, index {index}) is already stored with another hash"
            )
        self._nodes[(level, index)] = value

    def update(self, nodes: Mapping[tuple[int, int], bytes]) -> None:
        """Store the nodes returned by :meth:`CompactRange.append`."""
        for (level, index), value in nodes.items():
            self.put(level, index, value)

    def __len__(self) -> int:
        return len(self._nodes)

    def __contains__(self, key: object) -> bool:
        return key in self._nodes


def range_nodes(begin: int, end: int) -> list[NodeID]:
    """The perfect subtrees that exactly cover ``[begin, end)``, left to right (compact range).

    For ``begin == 0`` they are the "frontier" of a tree of size ``end``: one node per set bit of
    ``end``, largest first. Port of transparency-dev ``compact.RangeNodes``.
    """
    if not 0 <= begin <= end:
        raise AuditError(f"invalid range [{begin}, {end})")
    left, right = _decompose(begin, end)
    ids: list[NodeID] = []
    pos = begin
    while left:  # left border, lower levels first
        level = (left & -left).bit_length() - 1
        ids.append(NodeID(level, pos >> level))
        pos += 1 << level
        left ^= 1 << level
    while right:  # right border, upper levels first
        level = right.bit_length() - 1
        ids.append(NodeID(level, pos >> level))
        pos += 1 << level
        right ^= 1 << level
    return ids


def _decompose(begin: int, end: int) -> tuple[int, int]:
    if begin == 0:
        return 0, end
    xbegin = begin - 1
    d = (xbegin ^ end).bit_length() - 1
    mask = (1 << d) - 1
    return ~xbegin & mask, end & mask


def _fold_right(hashes: Sequence[bytes]) -> bytes:
    """Hash a compact range (left to right) into the root over the range it covers."""
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def root_from_store(size: int, get_node: GetNode) -> bytes:
    """The root of the tree of ``size`` leaves from ``popcount(size)`` stored nodes."""
    _check_size(size, "size")
    if size == 0:
        return _EMPTY_ROOT
    return _fold_right([get_node(n.level, n.index) for n in range_nodes(0, size)])


# --------------------------------------------------------------------------- proof building


@dataclass(frozen=True)
class ProofPlan:
    """Which stored nodes a proof needs, and how to turn their hashes into the proof.

    ``ids[ephem_begin:ephem_end]`` (left to right) are folded into the single "ephemeral" node on
    the right border of the tree; every other id is one proof element as is. A SQL store can read
    all ``ids`` in one query and call :meth:`rehash`.
    """

    ids: tuple[NodeID, ...]
    ephem_begin: int
    ephem_end: int

    def rehash(self, hashes: Sequence[bytes]) -> list[bytes]:
        """Turn the hashes of ``ids`` (same order) into the proof."""
        if len(hashes) != len(self.ids):
            raise AuditError(f"proof plan needs {len(self.ids)} hashes, got {len(hashes)}")
        out = list(hashes[: self.ephem_begin])
        if self.ephem_end > self.ephem_begin:
            out.append(_fold_right(hashes[self.ephem_begin : self.ephem_end]))
        out.extend(hashes[self.ephem_end :])
        return out

    def fetch(self, get_node: GetNode) -> list[bytes]:
        """Read every node with ``get_node`` and build the proof."""
        return self.rehash([get_node(n.level, n.index) for n in self.ids])


def _plan(index: int, level: int, size: int, skip_first: bool) -> ProofPlan:
    # Port of transparency-dev proof.nodes: the path from node (level, index) up to the "fork"
    # where it parts from the path to leaf #size, then the ephemeral sibling of the fork (a
    # compact range folded into one hash), then the compact range left of the fork, nearest first.
    inner = (index ^ (size >> level)).bit_length() - 1
    fork = NodeID(level + inner, index >> inner)
    begin, end = fork.coverage()
    node = NodeID(level, index)
    ids = [node]
    for _ in range(inner):
        ids.append(node.sibling())
        node = node.parent()
    ephem_begin = len(ids)
    if end < size:
        ids.extend(range_nodes(end, size))
    ephem_end = len(ids)
    ids.extend(reversed(range_nodes(0, begin)))
    if skip_first:
        return ProofPlan(tuple(ids[1:]), ephem_begin - 1, ephem_end - 1)
    return ProofPlan(tuple(ids), ephem_begin, ephem_end)


def inclusion_plan(index: int, size: int) -> ProofPlan:
    """The nodes of the inclusion proof (audit path) of leaf ``index`` in a tree of ``size``."""
    _check_size(size, "size")
    _check_size(index, "index")
    if index >= size:
        raise AuditError(f"index out of range: leaf {index} is not in a tree of size {size}")
    return _plan(index, 0, size, skip_first=True)


def consistency_plan(size1: int, size2: int) -> ProofPlan:
    """The nodes of the consistency proof between tree sizes ``size1 <= size2``."""
    _check_size(size1, "size1")
    _check_size(size2, "size2")
    if size1 > size2:
        raise AuditError(f"size2 ({size2}) < size1 ({size1}): a log cannot shrink")
    if size1 == 0:
        raise AuditError("consistency proof from an empty tree is meaningless")
    if size1 == size2:
        return ProofPlan((), 0, 0)
    level = (size1 & -size1).bit_length() - 1  # the largest perfect subtree ending at size1
    index = (size1 - 1) >> level
    # If size1 is a power of two that node is the old root itself, which the verifier knows.
    return _plan(index, level, size2, skip_first=index == 0)


def inclusion_proof(index: int, size: int, get_node: GetNode) -> list[bytes]:
    """PATH(index, D[size]) from stored subtree hashes: at most ~2 log2(size) reads."""
    return inclusion_plan(index, size).fetch(get_node)


def consistency_proof(size1: int, size2: int, get_node: GetNode) -> list[bytes]:
    """PROOF(size1, D[size2]) from stored subtree hashes: at most ~2 log2(size2) reads."""
    return consistency_plan(size1, size2).fetch(get_node)


# --------------------------------------------------------------------------- verification


def _check_size(value: int, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise AuditError(f"{name} must be an integer, got {type(value).__name__}")
    if not 0 <= value <= MAX_TREE_SIZE:
        raise AuditError(f"{name} out of range: {value} is not an unsigned 64-bit number")


def _check_hash(value: bytes, what: str) -> None:
    if not isinstance(value, bytes | bytearray):
        raise AuditError(f"{what} must be bytes, got {type(value).__name__}")
    if len(value) != HASH_SIZE:
        raise AuditError(f"{what} has wrong size: {len(value)} bytes, want {HASH_SIZE}")


def _check_proof(proof: Sequence[bytes]) -> None:
    for i, h in enumerate(proof):
        _check_hash(h, f"proof[{i}]")


def _decomp_incl_proof(index: int, size: int) -> tuple[int, int]:
    inner = (index ^ (size - 1)).bit_length()
    border = (index >> inner).bit_count()
    return inner, border


def _chain_inner(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for i, h in enumerate(proof):
        seed = node_hash(seed, h) if (index >> i) & 1 == 0 else node_hash(h, seed)
    return seed


def _chain_inner_right(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for i, h in enumerate(proof):
        if (index >> i) & 1:
            seed = node_hash(h, seed)
    return seed


def _chain_border_right(seed: bytes, proof: Sequence[bytes]) -> bytes:
    for h in proof:
        seed = node_hash(h, seed)
    return seed


def _match(computed: bytes, expected: bytes, what: str) -> None:
    if bytes(computed) != bytes(expected):
        raise AuditError(
            f"{what} mismatch: proof gives {bytes(computed).hex()}, "
            f"expected {bytes(expected).hex()}"
        )


def root_from_inclusion_proof(
    leaf_hash_: bytes, index: int, size: int, proof: Sequence[bytes]
) -> bytes:
    """The root implied by an inclusion proof (strictly checked for shape, not for the root)."""
    _check_size(size, "size")
    _check_size(index, "index")
    if index >= size:
        raise AuditError(f"index out of range: leaf {index} is not in a tree of size {size}")
    _check_hash(leaf_hash_, "leaf hash")
    inner, border = _decomp_incl_proof(index, size)
    if len(proof) != inner + border:
        raise AuditError(
            f"wrong proof size: {len(proof)} hashes, want {inner + border} "
            f"for leaf {index} in a tree of size {size}"
        )
    _check_proof(proof)
    res = _chain_inner(bytes(leaf_hash_), proof[:inner], index)
    return _chain_border_right(res, proof[inner:])


def verify_inclusion(
    leaf_hash_: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash_`` is leaf ``index`` of the tree of ``size`` with ``root``.

    Returns None on success; raises :class:`AuditError` naming the failed check otherwise.
    As in RFC 9162, ``(size, root)`` must come together from a trusted (signed) tree head: the
    same path can chain to the same root under another (index, size) of the same shape, e.g.
    leaf 4 of 5 and leaf 8 of 9 are both ``node_hash(path[0], leaf)``.
    """
    _check_hash(root, "root")
    computed = root_from_inclusion_proof(leaf_hash_, index, size, proof)
    _match(computed, root, "root")


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Check that the tree (size1, root1) is a prefix of the tree (size2, root2).

    Strict RFC 9162 / transparency-dev semantics: ``size1 == 0`` is an error (there is nothing to
    prove, even when ``size2 == 0``), ``size1 == size2`` needs an empty proof and equal roots.
    Returns None on success; raises :class:`AuditError` naming the failed check otherwise.
    """
    _check_size(size1, "size1")
    _check_size(size2, "size2")
    if size2 < size1:
        raise AuditError(f"size2 ({size2}) < size1 ({size1}): a log cannot shrink")
    if size1 == 0:
        raise AuditError("consistency proof from an empty tree is meaningless")
    if size1 == size2:
        if len(proof) > 0:
            raise AuditError(f"size1 == size2 ({size1}) but the proof is not empty")
        _match(root1, root2, "root1/root2 (equal sizes)")
        return
    if len(proof) == 0:
        raise AuditError("empty consistency proof")
    _check_hash(root1, "root1")
    _check_hash(root2, "root2")
    _check_proof(proof)

    inner, border = _decomp_incl_proof(size1 - 1, size2)
    shift = (size1 & -size1).bit_length() - 1
    inner -= shift
    seed, start = proof[0], 1
    if size1 == 1 << shift:  # size1 is a power of two: the seed is root1 itself
        seed, start = root1, 0
    if len(proof) != start + inner + border:
        raise AuditError(
            f"wrong proof size: {len(proof)} hashes, want {start + inner + border} "
            f"from size {size1} to size {size2}"
        )
    rest = proof[start:]
    mask = (size1 - 1) >> shift
    hash1 = _chain_inner_right(bytes(seed), rest[:inner], mask)
    hash1 = _chain_border_right(hash1, rest[inner:])
    _match(hash1, root1, "root1")
    hash2 = _chain_inner(bytes(seed), rest[:inner], mask)
    hash2 = _chain_border_right(hash2, rest[inner:])
    _match(hash2, root2, "root2")


# --------------------------------------------------------------------------- incremental appends


@dataclass(frozen=True)
class AppendResult:
    """What one :meth:`CompactRange.append` produced.

    ``nodes`` maps ``(level, index)`` to the hash of every perfect subtree completed by the
    appended leaves (the leaves themselves at level 0): write them all, then ``(size, root)``.
    """

    size: int
    root: bytes
    nodes: dict[tuple[int, int], bytes]


class CompactRange:
    """The frontier of a log: hashes of the perfect subtrees covering ``[0, size)``.

    ``popcount(size)`` hashes, largest subtree first. Appending leaves costs amortised one node
    hash per leaf (a log of ``n`` leaves has ``n - popcount(n)`` interior nodes), plus
    ``O(log size)`` hashes per call to fold the new root.
    """

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        _check_size(size, "size")
        want = size.bit_count()
        if len(hashes) != want:
            raise AuditError(f"a compact range of size {size} has {want} hashes, got {len(hashes)}")
        for i, h in enumerate(hashes):
            _check_hash(h, f"frontier[{i}]")
        self._size = size
        self._hashes = [bytes(h) for h in hashes]

    @classmethod
    def from_store(cls, size: int, get_node: GetNode) -> CompactRange:
        """Reload the frontier of a stored log of ``size`` leaves (``popcount(size)`` reads)."""
        _check_size(size, "size")
        return cls(size, [get_node(n.level, n.index) for n in range_nodes(0, size)])

    @property
    def size(self) -> int:
        return self._size

    @property
    def frontier(self) -> list[tuple[NodeID, bytes]]:
        """The frontier nodes and their hashes, largest (leftmost) first."""
        return list(zip(range_nodes(0, self._size), self._hashes, strict=True))

    def root(self) -> bytes:
        """The RFC 6962 root of the tree of ``size`` leaves."""
        return _fold_right(self._hashes) if self._hashes else _EMPTY_ROOT

    def append(self, leaf_hashes: Iterable[bytes]) -> AppendResult:
        """Append leaf hashes; return the new nodes to store and the new (size, root).

        All leaf hashes are checked before any is appended, so a bad one changes nothing.
        """
        new = list(leaf_hashes)
        for i, h in enumerate(new):
            _check_hash(h, f"leaf hash #{i}")
        if self._size + len(new) > MAX_TREE_SIZE:
            raise AuditError("tree size would exceed 2**64 - 1")
        nodes: dict[tuple[int, int], bytes] = {}
        stack = self._hashes
        size = self._size
        for h in new:
            h = bytes(h)
            nodes[(0, size)] = h
            stack.append(h)
            level, index = 0, size
            while index & 1:  # each trailing one bit of the new leaf's index completes a subtree
                right = stack.pop()
                h = node_hash(stack.pop(), right)
                level += 1
                index >>= 1
                nodes[(level, index)] = h
                stack.append(h)
            size += 1
        self._size = size
        return AppendResult(size=size, root=self.root(), nodes=nodes)
