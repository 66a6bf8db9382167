"""Self-contained audit proof files: one event, its inclusion proof and the signed head it is under.

Format ``veil-audit-proof/v1`` (a JSON object, all fields required, no others)::

    {
      "format": "veil-audit-proof/v1",
      "origin": "<log origin, as in the checkpoint>",
      "leaf_index": <0-based index of the event in the log>,
      "tree_size": <size of the tree the head signs>,
      "event": "<standard base64 of the event's RFC 8785 canonical bytes>",
      "inclusion_path": ["<hex>", ...],        # RFC 6962 audit path, leaf to root
      "checkpoint": "<the signed tree head as a C2SP signed note>",
      "public_key": "<PEM (SubjectPublicKeyInfo) of the log's Ed25519 key>"
    }

With ``veil audit prove --from SIZE`` the file also (or only) holds a consistency proof that the
head of ``SIZE`` leaves is a prefix of the checkpoint's tree; the event fields (``leaf_index``,
``event``, ``inclusion_path``) are then optional, all or none::

      "consistency": {"old_size": <SIZE>, "old_root": "<hex>", "proof": ["<hex>", ...]}

A verifier who trusts an older head (its size and root) checks the consistency proof from it, and
so trusts the newer checkpoint and any event proven under it.

Check one with :func:`verify_proof_file` or, without Veil installed, with the standard-library
script ``veil/audit/offline_verify.py``. The embedded public key is a convenience, not a trust
anchor: pass the key you trust (or compare its key id / the root with one published by the log);
:func:`verify_proof_anchored` insists on such an anchor.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from veil.audit.event import AuditEvent
from veil.audit.heads import (
    SignedTreeHead,
    load_public_key_pem,
    public_key_to_pem,
    verify_tree_head,
)
from veil.audit.merkle import (
    GetNode,
    inclusion_proof,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from veil.errors import AuditError, AuditInputError, CryptoError

PROOF_FORMAT = "veil-audit-proof/v1"
_BASE = frozenset({"format", "origin", "tree_size", "checkpoint", "public_key"})
_INCLUSION = frozenset({"leaf_index", "event", "inclusion_path"})
_KEYS = _BASE | _INCLUSION | {"consistency"}


@dataclass(frozen=True)
class TrustedHead:
    """A tree head you trust, known by its size and root (published by the log, say): a proof
    anchored to it shows the event is in exactly that tree."""

    size: int
    root: bytes


@dataclass(frozen=True)
class VerifiedProof:
    """What a valid proof file establishes.

    ``key_trusted`` is False when the signature was checked only against the key embedded in the
    file (which proves internal consistency, not that the log signed it). ``event`` and
    ``leaf_index`` are None for a consistency-only file; ``consistent_from`` is the (size, root)
    the file proves the checkpoint's tree extends, if it holds a consistency proof.
    """

    event: AuditEvent | None
    leaf_index: int | None
    head: SignedTreeHead
    key_id: str
    key_trusted: bool
    consistent_from: TrustedHead | None = None


def build_proof(
    *,
    event_bytes: bytes | None,
    leaf_index: int | None,
    head: SignedTreeHead,
    get_node: GetNode,
    public_key: Ed25519PublicKey,
    consistency: tuple[int, bytes, list[bytes]] | None = None,
) -> dict[str, Any]:
    """Assemble (and verify) the proof file object for the event at ``leaf_index`` under ``head``
    (None: no event) and, with ``consistency`` = (old size, old root, proof), the consistency
    of the old head with ``head``.

    ``get_node`` reads the log's stored subtree hashes. The result is checked with
    :func:`verify_proof_file` before it is returned, so a log never hands out a bad proof.
    """
    proof: dict[str, Any] = {
        "format": PROOF_FORMAT,
        "origin": head.origin,
        "tree_size": head.size,
        "checkpoint": head.to_note(),
        "public_key": public_key_to_pem(public_key).decode(),
    }
    if leaf_index is not None and event_bytes is not None:
        path = inclusion_proof(leaf_index, head.size, get_node)
        proof |= {
            "leaf_index": leaf_index,
            "event": base64.b64encode(event_bytes).decode(),
            "inclusion_path": [h.hex() for h in path],
        }
    if consistency is not None:
        old_size, old_root, hashes = consistency
        proof["consistency"] = {"old_size": old_size, "old_root": old_root.hex(),
                                "proof": [h.hex() for h in hashes]}
    verify_proof_file(proof, public_key)
    return proof


def write_proof_file(path: str | PathLike[str], proof: Mapping[str, Any]) -> None:
    """Write a proof object as pretty-printed UTF-8 JSON."""
    Path(path).write_text(json.dumps(proof, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _load(path_or_dict: str | PathLike[str] | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(path_or_dict, Mapping):
        return path_or_dict
    p = Path(path_or_dict)
    try:
        obj = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise AuditInputError(f"cannot read proof file: {exc.strerror}", where=str(p)) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AuditError(f"proof file is not UTF-8 JSON: {exc}", where=str(p)) from None
    if not isinstance(obj, dict):
        raise AuditError("proof file must hold a JSON object", where=str(p))
    return obj


def _int(d: Mapping[str, Any], name: str) -> int:
    v = d[name]
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise AuditError(f"{name} must be a non-negative integer")
    return v


def _hex_list(v: object, name: str = "inclusion_path") -> list[bytes]:
    if not isinstance(v, Sequence) or isinstance(v, str):
        raise AuditError(f"{name} must be a list of hex strings")
    out = []
    for i, h in enumerate(v):
        if not isinstance(h, str) or h != h.lower():
            raise AuditError(f"{name}[{i}] must be lowercase hex")
        try:
            out.append(bytes.fromhex(h))
        except ValueError:
            raise AuditError(f"{name}[{i}] is not hex") from None
    return out


def _consistency(c: object, head: SignedTreeHead) -> TrustedHead:
    """Check the file's consistency proof; the (old size, old root) it proves ``head`` extends."""
    if not isinstance(c, Mapping) or set(c) != {"old_size", "old_root", "proof"}:
        raise AuditError("consistency must be an object with old_size, old_root and proof")
    old_size = _int(c, "old_size")
    (old_root,) = _hex_list([c["old_root"]], "consistency.old_root")
    if len(old_root) != 32:
        raise AuditError("consistency.old_root must be 32 bytes of hex")
    hashes = _hex_list(c["proof"], "consistency.proof")
    if old_size > head.size:
        raise AuditError(f"consistency: old_size {old_size} is beyond the checkpoint's size")
    verify_consistency(old_size, head.size, hashes, old_root, head.root)
    return TrustedHead(old_size, old_root)


def verify_proof_file(
    path_or_dict: str | PathLike[str] | Mapping[str, Any],
    public_key: Ed25519PublicKey | None = None,
) -> VerifiedProof:
    """Check a proof file completely; raise :class:`AuditError` naming the first failed check.

    Checks, in order: format and fields; the checkpoint is for the file's origin and tree size;
    its Ed25519 signature (with ``public_key``, the key you trust, which the embedded key must
    equal; without it, the embedded key, and the result says ``key_trusted=False``); the event
    bytes are a canonical :class:`AuditEvent`; its leaf hash with the audit path gives the signed
    root (strict RFC 9162). The signed head binds size and root together, which is what makes the
    inclusion check meaningful: a bare root does not authenticate a tree size or leaf index.
    """
    d = _load(path_or_dict)
    has_event = bool(_INCLUSION & set(d))
    if not has_event and "consistency" not in d:
        raise AuditError("proof file fields: missing leaf_index, event, inclusion_path "
                         "(or a consistency proof)")
    missing = sorted((_BASE | (_INCLUSION if has_event else frozenset())) - set(d))
    extra = sorted(set(d) - _KEYS)
    if missing or extra:
        raise AuditError(
            "proof file fields: "
            + "; ".join(
                ([f"missing {', '.join(missing)}"] if missing else [])
                + ([f"unknown {', '.join(extra)}"] if extra else [])
            )
        )
    if d["format"] != PROOF_FORMAT:
        raise AuditError(f"unsupported proof format {d['format']!r} (want {PROOF_FORMAT!r})")
    tree_size = _int(d, "tree_size")
    if not isinstance(d["checkpoint"], str):
        raise AuditError("checkpoint must be the signed note text")
    head = SignedTreeHead.from_note(d["checkpoint"])
    if head.origin != d["origin"]:
        raise AuditError(
            f"origin mismatch: file says {d['origin']!r}, checkpoint says {head.origin!r}"
        )
    if head.size != tree_size:
        raise AuditError(
            f"size mismatch: file says tree_size {tree_size}, checkpoint says {head.size}"
        )

    # 1. the head: signed by the trusted key (or at least by the embedded one)
    if not isinstance(d["public_key"], str):
        raise AuditError("public_key must be PEM text")
    try:
        embedded = load_public_key_pem(d["public_key"].encode())
    except CryptoError as exc:
        raise AuditError(f"embedded public key: {exc.message}") from None
    if public_key is not None:
        verify_tree_head(head, public_key)
        if public_key.public_bytes_raw() != embedded.public_bytes_raw():
            raise AuditError("wrong key: the file's public key is not the key given to verify with")
    else:
        verify_tree_head(head, embedded)

    # 2. the event: canonical, and included in the signed tree at leaf_index
    event, leaf_index = _included(d, head) if has_event else (None, None)
    # 3. the consistency proof from an older head, if any
    older = _consistency(d["consistency"], head) if "consistency" in d else None
    return VerifiedProof(
        event=event,
        leaf_index=leaf_index,
        head=head,
        key_id=head.key_id,
        key_trusted=public_key is not None,
        consistent_from=older,
    )


def _included(d: Mapping[str, Any], head: SignedTreeHead) -> tuple[AuditEvent, int]:
    leaf_index = _int(d, "leaf_index")
    if not isinstance(d["event"], str):
        raise AuditError("event must be base64 text")
    try:
        event_bytes = base64.b64decode(d["event"], validate=True)
    except (binascii.Error, ValueError):
        raise AuditError("event is not valid base64") from None
    path = _hex_list(d["inclusion_path"])
    event = AuditEvent.from_canonical_bytes(event_bytes)
    verify_inclusion(leaf_hash(event_bytes), leaf_index, head.size, path, head.root)
    return event, leaf_index


def verify_proof_anchored(
    path_or_dict: str | PathLike[str] | Mapping[str, Any],
    *,
    public_key: Ed25519PublicKey | None = None,
    trusted_head: TrustedHead | None = None,
) -> VerifiedProof:
    """Check a proof file against what you trust: the log's public key, a head (size and root)
    you trust, or both; raise :class:`AuditError` if it is not anchored to either.

    :func:`verify_proof_file` checks the file (with ``public_key`` when given, else only against
    its embedded key); then the proof's signed head must be ``trusted_head``, or extend it by
    the file's consistency proof (``veil audit prove --from SIZE``).
    """
    if public_key is None and trusted_head is None:
        raise AuditError(
            "nothing to anchor the proof to: give the public key you trust, or the size and "
            "root of a head you trust"
        )
    result = verify_proof_file(path_or_dict, public_key)
    older = result.consistent_from
    if trusted_head is not None and older is not None and trusted_head.size == older.size:
        if older.root != trusted_head.root:
            raise AuditError(
                f"root mismatch: the proof extends a head of size {older.size} with another root "
                "than the one you trust (the log was rewritten)"
            )
    elif trusted_head is not None:
        if result.head.size != trusted_head.size:
            raise AuditError(
                f"size mismatch: the proof's head has size {result.head.size}, "
                f"you trust size {trusted_head.size}"
            )
        if result.head.root != trusted_head.root:
            raise AuditError("root mismatch: the proof's head root is not the root you trust")
    return result
