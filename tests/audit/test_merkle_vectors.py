"""Every vector of ../shared/conformance/merkle/merkle_vectors.json against veil.audit.merkle."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from veil.audit.merkle import (
    CompactRange,
    MemoryNodeStore,
    consistency_proof,
    empty_root,
    inclusion_proof,
    leaf_hash,
    node_hash,
    range_nodes,
    root_from_inclusion_proof,
    root_from_leaf_hashes,
    root_from_leaves,
    root_from_store,
    verify_consistency,
    verify_inclusion,
)
from veil.errors import AuditError

_VECTORS = (
    Path(__file__).resolve().parents[2].parent / "shared/conformance/merkle/merkle_vectors.json"
)


def _load_for_params() -> dict[str, Any]:
    # Parametrization happens at collection time, before fixtures exist; the tests themselves
    # still go through the `conformance_dir` fixture (which skips with a reason if it is absent).
    if not _VECTORS.is_file():
        return {"inclusion_proofs": [], "consistency_proofs": [], "hasher_vectors": []}
    return json.loads(_VECTORS.read_text())


_PARAMS = _load_for_params()


@pytest.fixture(scope="module")
def vectors(conformance_dir: Path) -> dict[str, Any]:
    return json.loads((conformance_dir / "merkle" / "merkle_vectors.json").read_text())


def _h(x: str) -> bytes:
    return bytes.fromhex(x)


def test_vector_file_counts(vectors: dict[str, Any]) -> None:
    # The README promises these numbers; a truncated file must not pass silently.
    inc = vectors["inclusion_proofs"]
    con = vectors["consistency_proofs"]
    assert (len(inc), sum(v["expect_valid"] for v in inc)) == (105, 12)
    assert (len(con), sum(v["expect_valid"] for v in con)) == (114, 16)
    assert sum(v["semantics"] == "ct-python-lenient" for v in con) == 2
    assert len(vectors["aggregate_vectors"]) == 2
    assert vectors["hash_algorithm"] == "SHA-256"


@pytest.mark.parametrize("v", _PARAMS["hasher_vectors"], ids=lambda v: v["id"])
def test_hasher_vector(v: dict[str, Any], vectors: dict[str, Any]) -> None:
    if v["op"] == "empty":
        got = empty_root()
    elif v["op"] == "leaf":
        got = leaf_hash(_h(v["input_hex"]))
    else:
        assert v["op"] == "node"
        got = node_hash(_h(v["left_hex"]), _h(v["right_hex"]))
    assert got.hex() == v["expected_hex"]


def test_reference_tree(vectors: dict[str, Any]) -> None:
    ref = vectors["reference_tree"]
    leaves = [_h(x) for x in ref["leaves_hex"]]
    hashes = [leaf_hash(d) for d in leaves]
    cr = CompactRange()
    store = MemoryNodeStore()
    roots = {r["tree_size"]: r["root_hex"] for r in ref["roots"]}
    assert sorted(roots) == list(range(9))
    assert root_from_leaves([]).hex() == roots[0] == cr.root().hex()
    for n in range(1, 9):
        res = cr.append([hashes[n - 1]])
        store.update(res.nodes)
        assert root_from_leaves(leaves[:n]).hex() == roots[n]
        assert root_from_leaf_hashes(hashes[:n]).hex() == roots[n]
        assert res.root.hex() == roots[n] and res.size == n
        assert root_from_store(n, store.get).hex() == roots[n]
    # The stored perfect subtrees are exactly the published node hashes, level by level.
    for level, row in enumerate(ref["node_hashes_by_level"]):
        for index, hex_ in enumerate(row):
            assert store.get(level, index).hex() == hex_
    assert len(store) == sum(len(row) for row in ref["node_hashes_by_level"]) == 15


def _path(v: dict[str, Any]) -> list[bytes]:
    return [_h(p) for p in v["path_hex"]]


@pytest.mark.parametrize("v", _PARAMS["inclusion_proofs"], ids=lambda v: v["id"])
def test_inclusion_vector(v: dict[str, Any], vectors: dict[str, Any]) -> None:
    lh = _h(v["leaf_hash_hex"])
    if "leaf_input_hex" in v:
        assert leaf_hash(_h(v["leaf_input_hex"])) == lh
    args = (lh, v["leaf_index"], v["tree_size"], _path(v), _h(v["root_hex"]))
    if v["expect_valid"]:
        verify_inclusion(*args)
    else:
        with pytest.raises(AuditError):
            verify_inclusion(*args)


@pytest.mark.parametrize("v", _PARAMS["consistency_proofs"], ids=lambda v: v["id"])
def test_consistency_vector(v: dict[str, Any], vectors: dict[str, Any]) -> None:
    args = (v["size1"], v["size2"], _path(v), _h(v["root1_hex"]), _h(v["root2_hex"]))
    # Strict semantics: the CT-Python-lenient "valid" cases must be rejected.
    if v["expect_valid"] and v["semantics"] == "strict":
        verify_consistency(*args)
    else:
        assert v["semantics"] in ("strict", "ct-python-lenient")
        with pytest.raises(AuditError):
            verify_consistency(*args)


def test_lenient_cases_are_rejected_with_a_reason(vectors: dict[str, Any]) -> None:
    lenient = [v for v in vectors["consistency_proofs"] if v["semantics"] == "ct-python-lenient"]
    messages = []
    for v in lenient:
        with pytest.raises(AuditError) as exc:
            verify_consistency(
                v["size1"], v["size2"], _path(v), _h(v["root1_hex"]), _h(v["root2_hex"])
            )
        messages.append(str(exc.value))
    assert any("empty tree" in m for m in messages)
    assert any("proof is not empty" in m for m in messages)


def test_valid_vectors_are_reproduced_from_the_store(vectors: dict[str, Any]) -> None:
    """The proofs we build from stored subtrees equal the published valid proofs."""
    ref = vectors["reference_tree"]
    leaves = [_h(x) for x in ref["leaves_hex"]]
    store = MemoryNodeStore()
    store.update(CompactRange().append([leaf_hash(d) for d in leaves]).nodes)
    checked = 0
    for v in vectors["inclusion_proofs"]:
        if v["expect_valid"] and v["tree_size"] <= 8 and "leaf_input_hex" in v:
            assert inclusion_proof(v["leaf_index"], v["tree_size"], store.get) == _path(v)
            checked += 1
    for v in vectors["consistency_proofs"]:
        if (
            v["expect_valid"]
            and v["semantics"] == "strict"
            and v["size2"] <= 8
            and v["root1_hex"] == root_from_leaves(leaves[: v["size1"]]).hex()
        ):
            assert consistency_proof(v["size1"], v["size2"], store.get) == _path(v)
            checked += 1
    assert checked >= 10


def _valid_subtree(start: int, end: int) -> bool:
    n = end - start
    bit_ceil = 1 << (n - 1).bit_length() if n > 0 else 1
    return start == 0 or start == end or start % bit_ceil == 0


def _subtree_root(start: int, end: int, get) -> bytes:  # type: ignore[no-untyped-def]
    if start == end:
        return empty_root()
    acc = None
    for node in reversed(range_nodes(start, end)):
        h = get(node.level, node.index)
        acc = h if acc is None else node_hash(h, acc)
    assert acc is not None
    return acc


def test_aggregate_vectors(vectors: dict[str, Any]) -> None:
    agg = {a["id"]: a for a in vectors["aggregate_vectors"]}
    hashes_v = agg["td:TestSubtreeHashVectors"]
    paths_v = agg["td:TestSubtreeInclusionProofVectors"]
    max_size = hashes_v["max_size"]
    assert max_size == paths_v["max_size"] == 130
    data = [bytes([i]) for i in range(max_size)]
    hashes = [leaf_hash(d) for d in data]
    store = MemoryNodeStore()
    store.update(CompactRange().append(hashes).nodes)

    lines_h: list[str] = []
    lines_p: list[str] = []
    for end in range(max_size + 1):
        for start in range(end + 1):
            if not _valid_subtree(start, end):
                continue
            # reference recursion over the leaves, and the fold of stored nodes, must agree
            ref = root_from_leaf_hashes(hashes[start:end])
            assert _subtree_root(start, end, store.get) == ref
            lines_h.append(f"[{start}, {end}) {ref.hex()}\n")

            # a subtree starting at a multiple of its bit_ceil is a tree in its own right whose
            # perfect subtrees are the global ones, shifted by start >> level
            def get_sub(level: int, index: int, start: int = start) -> bytes:
                return store.get(level, (start >> level) + index)

            for index in range(start, end):
                path = inclusion_proof(index - start, end - start, get_sub)
                assert (
                    root_from_inclusion_proof(hashes[index], index - start, end - start, path)
                    == ref
                )
                lines_p.append(
                    f"{index} [{start}, {end})" + "".join(f" {h.hex()}" for h in path) + "\n"
                )

    digest_h = hashlib.sha256("".join(lines_h).encode()).hexdigest()
    digest_p = hashlib.sha256("".join(lines_p).encode()).hexdigest()
    assert digest_h == hashes_v["expected_sha256_of_all_lines"]
    assert digest_p == paths_v["expected_sha256_of_all_lines"]
