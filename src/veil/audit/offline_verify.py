#!/usr/bin/env python3
"""Check a Veil audit proof file offline with nothing but the Python standard library (3.10+).

Copy this one file anywhere and run::

    python3 offline_verify.py PROOF.json --size <N> --root <hex or base64 root>

where N and the root are those of a checkpoint you trust (published by the log operator, or
witnessed): the proof's own checkpoint, or an older one when the file holds a consistency proof
from it (``veil audit prove IDX --from N``). A file may hold only a consistency proof.

What it checks, using only ``hashlib``, ``base64`` and ``json``:

1. the file is a ``veil-audit-proof/v1`` object with every field;
2. the checkpoint (signed tree head, a C2SP signed note) is well formed and is for the file's
   origin and tree size;
3. the event's leaf hash, SHA-256(0x00 || event bytes), combined with the audit path by the strict
   RFC 9162 / RFC 6962 rules, gives exactly the checkpoint's root;
4. a consistency proof in the file (``"consistency": {"old_size", "old_root", "proof"}``) shows,
   by RFC 9162 section 2.1.4.2, that the tree of ``old_size`` leaves is a prefix of the
   checkpoint's tree;
5. the checkpoint's size and root are the ones you trust (``--size``/``--root``), or the file's
   consistency proof starts from exactly the size and root you trust; obtained from the log
   operator or a witness over another channel. Both are needed: RFC 6962 verification is
   relative to a (size, root) pair, and a bare root does not pin the tree size or leaf index.

What it cannot check without a third-party library: the Ed25519 signature on the checkpoint (the
standard library has no Ed25519, and this project writes no cryptography of its own). Without
``--size``/``--root`` the checkpoint is therefore NOT authenticated: someone who rewrote the file
could have recomputed a consistent path and root. If the ``cryptography`` package is importable,
the signature is checked as well: with ``--public-key KEY.pem`` (a key you trust) that anchors the
proof; otherwise it is checked against the key embedded in the file, which shows only that the
file is consistent.

Exit status: 0 verified and anchored (checkpoint matched ``--size``/``--root`` or its signature
is valid under ``--public-key``); 1 verification failed; 2 usage error or unreadable file; 3 the
proof is internally consistent but nothing anchors it to a checkpoint you trust.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import re
import sys

FORMAT = "veil-audit-proof/v1"
BASE_FIELDS = {"format", "origin", "tree_size", "checkpoint", "public_key"}
EVENT_FIELDS = {"leaf_index", "event", "inclusion_path"}
FIELDS = BASE_FIELDS | EVENT_FIELDS | {"consistency"}
HASH_SIZE = 32
SIG_PREFIX = "\u2014 "


class ProofError(Exception):
    """The proof does not verify; the message names the failed check."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_inclusion_proof(leaf: bytes, index: int, size: int, proof: list) -> bytes:
    """RFC 9162 section 2.1.3.2, strict: sizes, lengths and proof length are all checked."""
    if not 0 <= index < size:
        raise ProofError(f"index out of range: leaf {index} is not in a tree of size {size}")
    if len(leaf) != HASH_SIZE:
        raise ProofError(f"leaf hash has wrong size {len(leaf)}")
    inner = (index ^ (size - 1)).bit_length()
    border = (index >> inner).bit_count()
    if len(proof) != inner + border:
        raise ProofError(f"wrong proof size: {len(proof)} hashes, want {inner + border}")
    for i, h in enumerate(proof):
        if len(h) != HASH_SIZE:
            raise ProofError(f"inclusion_path[{i}] has wrong size {len(h)}")
    res = leaf
    for i, h in enumerate(proof[:inner]):
        res = node_hash(res, h) if (index >> i) & 1 == 0 else node_hash(h, res)
    for h in proof[inner:]:
        res = node_hash(h, res)
    return res


def check_consistency(size1: int, size2: int, proof: list, root1: bytes, root2: bytes) -> None:
    """RFC 9162 section 2.1.4.2: the tree (size1, root1) is a prefix of (size2, root2)."""
    if not 0 <= size1 <= size2:
        raise ProofError(f"consistency: old size {size1} is beyond the new size {size2}")
    if any(len(h) != HASH_SIZE for h in proof):
        raise ProofError("consistency: every proof hash must be 32 bytes")
    if size1 == 0:
        raise ProofError("consistency: a proof from the empty tree is meaningless")
    if size1 == size2:
        if proof or root1 != root2:
            raise ProofError("consistency: equal sizes need equal roots and an empty proof")
        return
    if not proof:
        raise ProofError("consistency: empty proof")
    if size1 & (size1 - 1) == 0:
        proof = [root1, *proof]
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            raise ProofError("consistency: proof too long")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("consistency: proof too short")
    if fr != root1:
        raise ProofError("consistency: the proof does not give the old root (a fork)")
    if sr != root2:
        raise ProofError("consistency: the proof does not give the checkpoint's root")


def hex_list(v, what: str) -> list:
    if not isinstance(v, list) or not all(
        isinstance(h, str) and re.fullmatch(r"[0-9a-f]*", h) and len(h) % 2 == 0 for h in v
    ):
        raise ProofError(f"{what} must be a list of lowercase hex strings")
    return [bytes.fromhex(h) for h in v]


def b64(text, what: str) -> bytes:
    if not isinstance(text, str):
        raise ProofError(f"{what} must be base64 text")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ProofError(f"{what} is not valid base64") from None
    if base64.b64encode(raw).decode() != text:
        raise ProofError(f"{what} is not canonical base64")
    return raw


def parse_checkpoint(note: str):
    """Return (origin, size, root, timestamp, key_id_hex, signature, signed_body_bytes)."""
    if not isinstance(note, str) or not note.endswith("\n"):
        raise ProofError("checkpoint must be signed-note text ending with a newline")
    body, sep, sigs = note.rpartition("\n\n")
    if not sep:
        raise ProofError("checkpoint has no signature block")
    lines = body.split("\n")
    if len(lines) != 4 or not lines[3].startswith("timestamp "):
        raise ProofError("checkpoint must have 4 lines: origin, size, root, 'timestamp ...'")
    origin, size_s, root_s, ts_line = lines
    if not re.fullmatch(r"0|[1-9][0-9]{0,19}", size_s) or int(size_s) >= 2**64:
        raise ProofError(f"checkpoint size {size_s!r} is not a canonical uint64")
    root = b64(root_s, "checkpoint root")
    if len(root) != HASH_SIZE:
        raise ProofError("checkpoint root is not 32 bytes")
    mine = []
    for line in sigs[:-1].split("\n"):
        if not line.startswith(SIG_PREFIX):
            raise ProofError("malformed signature line in checkpoint")
        name, _, sig = line[len(SIG_PREFIX) :].partition(" ")
        if name == origin:
            mine.append(sig)
    if len(mine) != 1:
        raise ProofError(f"checkpoint must have exactly one signature by {origin!r}")
    raw = b64(mine[0], "checkpoint signature")
    if len(raw) != 68:
        raise ProofError("checkpoint signature is not 4 + 64 bytes")
    return (
        origin,
        int(size_s),
        root,
        ts_line[len("timestamp ") :],
        raw[:4].hex(),
        raw[4:],
        (body + "\n").encode(),
    )


def parse_root(text: str) -> bytes:
    t = text.strip()
    if re.fullmatch(r"[0-9a-fA-F]{64}", t):
        return bytes.fromhex(t)
    try:
        raw = base64.b64decode(t, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != HASH_SIZE:
        raise ValueError(f"--root {text!r} is neither 64 hex digits nor base64 of 32 bytes")
    return raw


def check_signature(pem: bytes, name: str, key_id: str, signature: bytes, body: bytes):
    """Verify with `cryptography` if importable. Returns None if it is not installed."""
    try:
        from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    except ImportError:
        return None
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ProofError(f"public key is unreadable: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ProofError("public key is not Ed25519")
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    want = hashlib.sha256(name.encode() + b"\n\x01" + raw).digest()[:4].hex()
    if want != key_id:
        raise ProofError(f"wrong key: checkpoint signed by key id {key_id}, this key is {want}")
    try:
        key.verify(signature, body)
    except InvalidSignature:
        raise ProofError("bad signature on the checkpoint") from None
    return True


def _nonneg(name: str, v) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise ProofError(f"{name} must be a non-negative integer")
    return v


def _shape(proof) -> bool:
    """Check the fields; True when the file proves an event."""
    if not isinstance(proof, dict):
        raise ProofError("proof file must hold a JSON object")
    has_event = bool(EVENT_FIELDS & set(proof))
    want = BASE_FIELDS | (EVENT_FIELDS if has_event else set())
    if not want <= set(proof) <= FIELDS or not (has_event or "consistency" in proof):
        raise ProofError(
            f"proof fields must be {sorted(BASE_FIELDS)} with {sorted(EVENT_FIELDS)}, "
            "'consistency' or both"
        )
    if proof["format"] != FORMAT:
        raise ProofError(f"unsupported format {proof['format']!r}")
    return has_event


def _older(c, cp_size: int, cp_root: bytes) -> tuple:
    """The file's consistency proof, checked: the (old size, old root) the checkpoint extends."""
    if not isinstance(c, dict) or set(c) != {"old_size", "old_root", "proof"}:
        raise ProofError("consistency must be an object with old_size, old_root and proof")
    old_size = _nonneg("consistency.old_size", c["old_size"])
    (old_root,) = hex_list([c["old_root"]], "consistency.old_root")
    if len(old_root) != HASH_SIZE:
        raise ProofError("consistency.old_root must be 32 bytes")
    check_consistency(old_size, cp_size, hex_list(c["proof"], "consistency.proof"), old_root,
                      cp_root)
    return old_size, old_root


def _anchor(trusted, cp_size: int, cp_root: bytes, older) -> str:
    t_size, t_root = trusted
    if older is not None and t_size == older[0] and t_size != cp_size:
        if t_root != older[1]:
            raise ProofError(
                f"root mismatch: the proof extends a head of size {t_size} whose root is not "
                "the trusted root (the log was rewritten)"
            )
        return f"anchor:     OK (the checkpoint extends the trusted size {t_size} and its root)"
    if t_size != cp_size:
        raise ProofError(
            f"size mismatch: checkpoint size {cp_size} is not the trusted size {t_size}"
        )
    if t_root != cp_root:
        raise ProofError(
            f"root mismatch: checkpoint root {cp_root.hex()} is not the trusted root "
            f"{t_root.hex()}"
        )
    return "anchor:     OK (size and root equal the trusted --size/--root)"


def verify(proof: dict, trusted=None, trusted_pem=None) -> tuple:
    """Verify a proof object; ``trusted`` is a (size, root) pair you trust, or None.

    Returns (event_obj or None, report_lines, anchored). Raises ProofError naming the failed check.
    """
    has_event = _shape(proof)
    size = _nonneg("tree_size", proof["tree_size"])
    origin, cp_size, cp_root, ts, key_id, signature, body = parse_checkpoint(proof["checkpoint"])
    if origin != proof["origin"]:
        raise ProofError(f"origin mismatch: file {proof['origin']!r}, checkpoint {origin!r}")
    if cp_size != size:
        raise ProofError(f"size mismatch: file tree_size {size}, checkpoint {cp_size}")
    report = [
        f"log:        {origin}",
        f"checkpoint: size {cp_size}, root {cp_root.hex()}, {ts} (key id {key_id})",
    ]
    older = None
    if "consistency" in proof:
        older = _older(proof["consistency"], cp_size, cp_root)
        report.append(f"consistency: OK (the tree of size {older[0]} is a prefix of this one)")

    # 1. is the checkpoint one we trust?
    anchored = False
    if trusted is not None:
        report.append(_anchor(trusted, cp_size, cp_root, older))
        anchored = True
    if trusted_pem is not None:
        if check_signature(trusted_pem, origin, key_id, signature, body) is None:
            raise ProofError(
                "--public-key needs the 'cryptography' package; use --size/--root instead"
            )
        report.append("signature:  OK (valid under the trusted --public-key)")
        anchored = True
    else:
        pem = proof["public_key"]
        if not isinstance(pem, str):
            raise ProofError("public_key must be PEM text")
        ok = check_signature(pem.encode(), origin, key_id, signature, body)
        if ok is None:
            report.append("signature:  NOT CHECKED (no Ed25519 in the standard library)")
        else:
            report.append("signature:  OK under the key embedded in the file (not a trust anchor)")
    if not has_event:
        return None, report, anchored

    # 2. is the event in that tree?
    index = _nonneg("leaf_index", proof["leaf_index"])
    event_bytes = b64(proof["event"], "event")
    try:
        event = json.loads(event_bytes.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ProofError("event is not UTF-8 JSON") from None
    path = hex_list(proof["inclusion_path"], "inclusion_path")
    lh = leaf_hash(event_bytes)
    computed = root_from_inclusion_proof(lh, index, size, path)
    if computed != cp_root:
        raise ProofError(
            f"root mismatch: path gives {computed.hex()}, checkpoint says {cp_root.hex()}"
        )
    report.append(f"inclusion:  OK (event is leaf {index} of {size}, leaf hash {lh.hex()})")
    return event, report, anchored


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description="Verify a Veil audit proof file (standard library only)."
    )
    ap.add_argument("proof", help="the proof file (JSON)")
    ap.add_argument("--size", type=int, help="tree size of a checkpoint you trust (with --root)")
    ap.add_argument("--root", help="root hash of that checkpoint, hex or base64 (with --size)")
    ap.add_argument("--public-key", help="PEM file of the log key you trust (needs 'cryptography')")
    ap.add_argument("--quiet", action="store_true", help="print only the verdict")
    args = ap.parse_args(argv)
    if (args.size is None) != (args.root is None):
        print(
            "error: --size and --root go together (a root means nothing without its size)",
            file=sys.stderr,
        )
        return 2
    try:
        trusted = (args.size, parse_root(args.root)) if args.root else None
        trusted_pem = None
        if args.public_key:
            with open(args.public_key, "rb") as f:
                trusted_pem = f.read()
        with open(args.proof, encoding="utf-8") as f:
            proof = json.load(f)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        event, report, anchored = verify(proof, trusted, trusted_pem)
    except ProofError as exc:
        print(f"FAILED: {exc}")
        return 1
    if not args.quiet:
        print("\n".join(report))
        if event is not None:
            print("event:")
            print(json.dumps(event, indent=2, sort_keys=True, ensure_ascii=False))
    if anchored:
        print("VERIFIED")
        return 0
    print(
        "CONSISTENT BUT NOT ANCHORED: pass --size and --root (or --public-key) from a source "
        "you trust"
    )
    return 3


if __name__ == "__main__":
    sys.exit(main())
