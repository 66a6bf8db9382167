"""Property tests: proofs built from stored subtrees verify; any tampering is rejected."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from veil.audit.merkle import (
    HASH_SIZE,
    CompactRange,
    MemoryNodeStore,
    consistency_plan,
    consistency_proof,
    inclusion_plan,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_from_leaf_hashes,
    root_from_store,
    verify_consistency,
    verify_inclusion,
)
from veil.errors import AuditError

MAX = 300
LEAVES = [leaf_hash(b"event-%d" % i) for i in range(MAX)]
ROOTS = [root_from_leaf_hashes(LEAVES[:n]) for n in range(MAX + 1)]


def _store() -> MemoryNodeStore:
    store = MemoryNodeStore()
    store.update(CompactRange().append(LEAVES).nodes)
    return store


STORE = _store()


# --- RFC 6962 section 2.1.1 / 2.1.2 reference definitions (oracle, deliberately naive) -----------


def _k(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return ref_path(m, d[:k]) + [root_from_leaf_hashes(d[k:])]
    return ref_path(m - k, d[k:]) + [root_from_leaf_hashes(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [root_from_leaf_hashes(d)]
    k = _k(n)
    if m <= k:
        return ref_subproof(m, d[:k], b) + [root_from_leaf_hashes(d[k:])]
    return ref_subproof(m - k, d[k:], False) + [root_from_leaf_hashes(d[:k])]


def ref_consistency(m: int, d: list[bytes]) -> list[bytes]:
    return ref_subproof(m, d, True)


# --- strategies ----------------------------------------------------------------------------------

sizes = st.integers(min_value=1, max_value=MAX)


@st.composite
def size_and_index(draw: st.DrawFn) -> tuple[int, int]:
    n = draw(sizes)
    return n, draw(st.integers(min_value=0, max_value=n - 1))


@st.composite
def two_sizes(draw: st.DrawFn) -> tuple[int, int]:
    n2 = draw(st.integers(min_value=2, max_value=MAX))
    return draw(st.integers(min_value=1, max_value=n2 - 1)), n2


def _flip(h: bytes, bit: int) -> bytes:
    b = bytearray(h)
    b[(bit // 8) % HASH_SIZE] ^= 1 << (bit % 8)
    return bytes(b)


def _rejects(fn, *args) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(AuditError):
        fn(*args)


# --- inclusion -----------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(size_and_index())
def test_inclusion_from_store_matches_rfc_and_verifies(si: tuple[int, int]) -> None:
    n, m = si
    store = _CountingGet()
    proof = inclusion_proof(m, n, store)
    assert proof == ref_path(m, LEAVES[:n])
    verify_inclusion(LEAVES[m], m, n, proof, ROOTS[n])
    # O(log n) reads: at most 2 per level
    assert store.reads <= 2 * max(1, (n - 1).bit_length())
    assert store.reads == len(inclusion_plan(m, n).ids)


class _CountingGet:
    def __init__(self) -> None:
        self.reads = 0

    def __call__(self, level: int, index: int) -> bytes:
        self.reads += 1
        return STORE.get(level, index)


@settings(max_examples=300, deadline=None)
@given(size_and_index(), st.data())
def test_inclusion_tampering_is_rejected(si: tuple[int, int], data: st.DataObject) -> None:
    n, m = si
    proof = inclusion_proof(m, n, STORE.get)
    leaf, root = LEAVES[m], ROOTS[n]
    bit = data.draw(st.integers(0, 8 * HASH_SIZE - 1))
    # leaf and root
    _rejects(verify_inclusion, _flip(leaf, bit), m, n, proof, root)
    _rejects(verify_inclusion, leaf, m, n, proof, _flip(root, bit))
    _rejects(verify_inclusion, leaf[:-1], m, n, proof, root)
    # proof elements: flip, drop, insert, append, reorder
    if proof:
        i = data.draw(st.integers(0, len(proof) - 1))
        bad = list(proof)
        bad[i] = _flip(bad[i], bit)
        _rejects(verify_inclusion, leaf, m, n, bad, root)
        _rejects(verify_inclusion, leaf, m, n, proof[:i] + proof[i + 1 :], root)
        if len(proof) > 1:
            j = data.draw(st.integers(0, len(proof) - 1).filter(lambda j: proof[j] != proof[i]))
            swapped = list(proof)
            swapped[i], swapped[j] = swapped[j], swapped[i]
            _rejects(verify_inclusion, leaf, m, n, swapped, root)
    extra = data.draw(st.sampled_from([root, leaf, LEAVES[0], b"\x00" * 32, b""]))
    pos = data.draw(st.integers(0, len(proof)))
    _rejects(verify_inclusion, leaf, m, n, proof[:pos] + [extra] + proof[pos:], root)
    # another index, in the same tree
    m2 = data.draw(st.integers(0, n).filter(lambda x: x != m))
    _rejects(verify_inclusion, leaf, m2, n, proof, root)
    # another size: an honest head for that size has that size's root
    n2 = data.draw(st.integers(1, MAX).filter(lambda x: x != n))
    _rejects(verify_inclusion, leaf, m, n2, proof, ROOTS[n2])


# --- consistency ---------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(two_sizes())
def test_consistency_from_store_matches_rfc_and_verifies(sizes_: tuple[int, int]) -> None:
    n1, n2 = sizes_
    get = _CountingGet()
    proof = consistency_proof(n1, n2, get)
    assert proof == ref_consistency(n1, LEAVES[:n2])
    verify_consistency(n1, n2, proof, ROOTS[n1], ROOTS[n2])
    assert get.reads <= 2 * (n2 - 1).bit_length()
    assert get.reads == len(consistency_plan(n1, n2).ids)


@settings(max_examples=300, deadline=None)
@given(two_sizes(), st.data())
def test_consistency_tampering_is_rejected(sizes_: tuple[int, int], data: st.DataObject) -> None:
    n1, n2 = sizes_
    proof = consistency_proof(n1, n2, STORE.get)
    r1, r2 = ROOTS[n1], ROOTS[n2]
    bit = data.draw(st.integers(0, 8 * HASH_SIZE - 1))
    _rejects(verify_consistency, n1, n2, proof, _flip(r1, bit), r2)
    _rejects(verify_consistency, n1, n2, proof, r1, _flip(r2, bit))
    _rejects(verify_consistency, n1, n2, proof, r2, r1)
    _rejects(verify_consistency, n1, n2, [], r1, r2)
    i = data.draw(st.integers(0, len(proof) - 1))
    bad = list(proof)
    bad[i] = _flip(bad[i], bit)
    _rejects(verify_consistency, n1, n2, bad, r1, r2)
    _rejects(verify_consistency, n1, n2, proof[:i] + proof[i + 1 :], r1, r2)
    extra = data.draw(st.sampled_from([r1, r2, proof[0], b"\x00" * 32, b""]))
    pos = data.draw(st.integers(0, len(proof)))
    _rejects(verify_consistency, n1, n2, proof[:pos] + [extra] + proof[pos:], r1, r2)
    # other sizes, each with the root an honest head of that size would carry
    m1 = data.draw(st.integers(1, n2).filter(lambda x: x != n1))
    _rejects(verify_consistency, m1, n2, proof, ROOTS[m1], r2)
    m2 = data.draw(st.integers(n1, MAX).filter(lambda x: x != n2))
    _rejects(verify_consistency, n1, m2, proof, r1, ROOTS[m2])
    # a log that forked: same size2, different last leaf
    forked = root_from_leaf_hashes(LEAVES[: n2 - 1] + [leaf_hash(b"forged")])
    _rejects(verify_consistency, n1, n2, proof, r1, forked)


def test_consistency_edge_cases() -> None:
    verify_consistency(5, 5, [], ROOTS[5], ROOTS[5])
    assert consistency_proof(5, 5, STORE.get) == []
    _rejects(verify_consistency, 5, 5, [ROOTS[5]], ROOTS[5], ROOTS[5])
    _rejects(verify_consistency, 0, 5, [], ROOTS[0], ROOTS[5])
    _rejects(consistency_proof, 0, 5, STORE.get)
    _rejects(consistency_proof, 6, 5, STORE.get)
    _rejects(inclusion_proof, 5, 5, STORE.get)
    _rejects(inclusion_proof, -1, 5, STORE.get)
    _rejects(verify_inclusion, LEAVES[0], 0, 2**64, [], ROOTS[1])
    _rejects(verify_inclusion, LEAVES[0], True, 2, [LEAVES[0]], ROOTS[2])


# --- the appender --------------------------------------------------------------------------------


def test_appender_matches_mth_for_every_size() -> None:
    cr = CompactRange()
    store = MemoryNodeStore()
    assert cr.root() == ROOTS[0]
    for n in range(1, MAX + 1):
        res = cr.append([LEAVES[n - 1]])
        store.update(res.nodes)
        assert res.size == n == cr.size
        assert res.root == ROOTS[n]
        assert root_from_store(n, store.get) == ROOTS[n]
        assert CompactRange.from_store(n, store.get).root() == ROOTS[n]
    # every perfect subtree stored once: n leaves + (n - popcount(n)) interior nodes
    assert len(store) == 2 * MAX - MAX.bit_count()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 40), max_size=12))
def test_appender_batches(batches: list[int]) -> None:
    """Any split into batches gives the same nodes and roots; hashing is O(n) overall."""
    assume(sum(batches) <= MAX)
    cr = CompactRange()
    nodes: dict[tuple[int, int], bytes] = {}
    done = 0
    for b in batches:
        res = cr.append(LEAVES[done : done + b])
        assert not set(res.nodes) & set(nodes), "a node was emitted twice"
        nodes.update(res.nodes)
        done += b
        assert res.root == ROOTS[done] and res.size == done
        # resume from the store at any point
        cr = CompactRange.from_store(done, lambda lv, ix: nodes[(lv, ix)])
    assert len(nodes) == 2 * done - done.bit_count()
    for (level, index), h in nodes.items():
        if level == 0:
            assert h == LEAVES[index]
        else:
            assert h == node_hash(nodes[(level - 1, 2 * index)], nodes[(level - 1, 2 * index + 1)])


def test_appender_refuses_bad_leaves_atomically() -> None:
    cr = CompactRange()
    cr.append(LEAVES[:3])
    with pytest.raises(AuditError, match="leaf hash #1"):
        cr.append([LEAVES[3], b"short"])
    assert cr.size == 3 and cr.root() == ROOTS[3]
    with pytest.raises(AuditError):
        CompactRange(3, [LEAVES[0]])  # size 3 needs 2 frontier hashes


def test_store_is_write_once() -> None:
    s = MemoryNodeStore()
    s.put(0, 0, LEAVES[0])
    s.put(0, 0, LEAVES[0])
    with pytest.raises(AuditError, match="already stored"):
        s.put(0, 0, LEAVES[1])
    with pytest.raises(AuditError, match="not in the store"):
        s.get(0, 1)


def test_proof_reads_are_logarithmic_for_huge_trees() -> None:
    """10 million and 2**40 leaves: node reads per proof stay within 2 log2(n)."""
    for n in (10_000_000, 2**40 + 12345):
        logn = (n - 1).bit_length()
        worst = 0
        for m in (0, 1, n // 3, n // 2, n - 2, n - 1, 2**20 - 1):
            worst = max(worst, len(inclusion_plan(m, n).ids))
        for n1 in (1, 2, 3, n // 3, n // 2 + 1, n - 1):
            worst = max(worst, len(consistency_plan(n1, n).ids))
        assert worst <= 2 * logn
