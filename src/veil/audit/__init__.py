"""The tamper-evident audit log: RFC 6962 Merkle tree, canonical events, signed tree heads, proofs.

The modules imported here are the store-independent core. The layout a store must hold is
described in :mod:`veil.audit.merkle` (one row per perfect subtree: ``(level, index) -> 32-byte
hash``). The log in the workspace's store is :class:`veil.audit.log.AuditLog` (also available as
``veil.audit.AuditLog``, imported on first use so that the core does not load the store).
"""

from typing import Any

from veil.audit.event import AuditEvent, canonical_json
from veil.audit.heads import (
    SignedTreeHead,
    generate_signing_key,
    key_id,
    load_private_key_pem,
    load_public_key_file,
    load_public_key_pem,
    private_key_to_pem,
    public_key_to_pem,
    sign_tree_head,
    verifier_key,
    verify_tree_head,
)
from veil.audit.merkle import (
    AppendResult,
    CompactRange,
    MemoryNodeStore,
    NodeID,
    NodeStore,
    ProofPlan,
    consistency_plan,
    consistency_proof,
    empty_root,
    inclusion_plan,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_from_leaf_hashes,
    root_from_leaves,
    root_from_store,
    verify_consistency,
    verify_inclusion,
)
from veil.audit.proofs import (
    PROOF_FORMAT,
    TrustedHead,
    VerifiedProof,
    build_proof,
    verify_proof_anchored,
    verify_proof_file,
    write_proof_file,
)

_LAZY = {"AuditLog", "AuditVerifyError", "verify_export"}  # they load the store


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from veil.audit import log

        return getattr(log, name)
    raise AttributeError(f"module 'veil.audit' has no attribute {name!r}")


__all__ = [
    "PROOF_FORMAT",
    "AppendResult",
    "AuditEvent",
    "AuditLog",
    "AuditVerifyError",
    "CompactRange",
    "MemoryNodeStore",
    "NodeID",
    "NodeStore",
    "ProofPlan",
    "SignedTreeHead",
    "TrustedHead",
    "VerifiedProof",
    "build_proof",
    "canonical_json",
    "consistency_plan",
    "consistency_proof",
    "empty_root",
    "generate_signing_key",
    "inclusion_plan",
    "inclusion_proof",
    "key_id",
    "leaf_hash",
    "load_private_key_pem",
    "load_public_key_file",
    "load_public_key_pem",
    "node_hash",
    "private_key_to_pem",
    "public_key_to_pem",
    "root_from_leaf_hashes",
    "root_from_leaves",
    "root_from_store",
    "sign_tree_head",
    "verifier_key",
    "verify_consistency",
    "verify_export",
    "verify_inclusion",
    "verify_proof_anchored",
    "verify_proof_file",
    "verify_tree_head",
    "write_proof_file",
]
