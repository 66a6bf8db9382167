"""Signed tree heads: C2SP checkpoints signed with Ed25519 as C2SP signed notes.

The signed bytes are a C2SP ``tlog-checkpoint`` body (https://c2sp.org/tlog-checkpoint)::

    <origin>\\n
    <tree size, decimal>\\n
    <root hash, standard base64>\\n
    timestamp <RFC 3339 UTC with microseconds, e.g. 2024-05-01T12:00:00.000000Z>\\n

(the fourth line is a checkpoint *extension line*, ignored by generic checkpoint parsers). The
head is serialized as a C2SP signed note (https://c2sp.org/signed-note): the body, an empty line,
and ``— <origin> <base64(key id || signature)>``. The key name is the origin, and the key id is the
note key hash: the first 4 bytes of SHA-256(name || 0x0A || 0x01 || raw 32-byte Ed25519 public
key), so a head can also be checked with Go's ``golang.org/x/mod/sumdb/note`` and the verifier key
from :func:`verifier_key`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from os import PathLike
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from veil.audit.event import format_time, parse_time
from veil.audit.merkle import HASH_SIZE, MAX_TREE_SIZE
from veil.errors import AuditError, AuditInputError, CryptoError

SIGNATURE_SIZE = 64
_ALG_ED25519 = b"\x01"
_SIG_PREFIX = "\u2014 "  # em dash + space, as in C2SP signed notes
_ORIGIN_RE = re.compile(r"[\x21-\x2a\x2c-\x7e]{1,255}")  # printable ASCII, no space, no '+'
_SIZE_RE = re.compile(r"0|[1-9][0-9]{0,19}", re.ASCII)


# --------------------------------------------------------------------------- keys


def generate_signing_key() -> Ed25519PrivateKey:
    """A new Ed25519 private key for signing tree heads."""
    return Ed25519PrivateKey.generate()


def private_key_to_pem(key: Ed25519PrivateKey, passphrase: bytes | None = None) -> bytes:
    """PKCS#8 PEM, encrypted with the best available scheme when a passphrase is given."""
    enc: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)


def load_private_key_pem(data: bytes, passphrase: bytes | None = None) -> Ed25519PrivateKey:
    """Load a PEM private key; CryptoError if unreadable, wrongly protected or not Ed25519."""
    try:
        key = serialization.load_pem_private_key(data, password=passphrase)
    except (ValueError, TypeError) as exc:
        raise CryptoError(f"cannot load the audit signing key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise CryptoError(f"the audit signing key must be Ed25519, got {type(key).__name__}")
    return key


def public_key_to_pem(key: Ed25519PublicKey) -> bytes:
    """SubjectPublicKeyInfo PEM of a public key."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_public_key_pem(data: bytes) -> Ed25519PublicKey:
    """Load a PEM public key; CryptoError if unreadable or not Ed25519."""
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise CryptoError(f"cannot load the audit public key: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise CryptoError(f"the audit public key must be Ed25519, got {type(key).__name__}")
    return key


def load_public_key_file(path: str | PathLike[str]) -> Ed25519PublicKey:
    """The Ed25519 public key in a PEM file (a key you trust); AuditError naming the file."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise AuditInputError(f"cannot read the public key: {exc.strerror}",
                              where=str(path)) from None
    try:
        return load_public_key_pem(data)
    except CryptoError as exc:
        raise AuditError(exc.message, where=str(path)) from None


def _raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _key_hash(key: Ed25519PublicKey, name: str) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + _ALG_ED25519 + _raw(key)).digest()[:4]


def key_id(key: Ed25519PublicKey, name: str) -> str:
    """The C2SP signed-note key hash of (name, key), as 8 lowercase hex digits."""
    _check_origin(name)
    return _key_hash(key, name).hex()


def verifier_key(key: Ed25519PublicKey, name: str) -> str:
    """The C2SP verifier key string ``<name>+<key hash hex>+<base64(0x01 || key)>``."""
    return f"{name}+{key_id(key, name)}+{base64.b64encode(_ALG_ED25519 + _raw(key)).decode()}"


# --------------------------------------------------------------------------- heads


def _check_origin(origin: str) -> None:
    if not isinstance(origin, str) or not _ORIGIN_RE.fullmatch(origin):
        raise AuditError(
            f"origin {origin!r} must be 1-255 printable ASCII characters without spaces or '+' "
            "(e.g. 'bank.example/veil-audit')"
        )


def checkpoint_body(origin: str, size: int, root: bytes, timestamp: datetime) -> bytes:
    """The exact bytes that are signed (see the module docstring)."""
    _check_origin(origin)
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_TREE_SIZE:
        raise AuditError(f"tree size {size!r} is not an unsigned 64-bit number")
    if not isinstance(root, bytes) or len(root) != HASH_SIZE:
        raise AuditError(f"root must be {HASH_SIZE} bytes")
    return (
        f"{origin}\n{size}\n{base64.b64encode(root).decode()}\ntimestamp {format_time(timestamp)}\n"
    ).encode()


@dataclass(frozen=True)
class SignedTreeHead:
    """A log's signed statement "the tree of ``size`` leaves has ``root``" at ``timestamp``.

    ``key_id`` is the 8-hex-digit note key hash of the signing key under the name ``origin``.
    """

    origin: str
    size: int
    root: bytes
    timestamp: datetime
    signature: bytes
    key_id: str

    def __post_init__(self) -> None:
        self.signed_bytes()  # validates origin, size, root, timestamp
        object.__setattr__(self, "timestamp", parse_time(format_time(self.timestamp)))
        if not isinstance(self.signature, bytes) or len(self.signature) != SIGNATURE_SIZE:
            raise AuditError(f"signature must be {SIGNATURE_SIZE} bytes")
        if not isinstance(self.key_id, str) or not re.fullmatch(r"[0-9a-f]{8}", self.key_id):
            raise AuditError(f"key id {self.key_id!r} must be 8 lowercase hex digits")

    def signed_bytes(self) -> bytes:
        """The checkpoint body the signature covers."""
        return checkpoint_body(self.origin, self.size, self.root, self.timestamp)

    def to_note(self) -> str:
        """The head as a C2SP signed note (text)."""
        sig = base64.b64encode(bytes.fromhex(self.key_id) + self.signature).decode()
        return f"{self.signed_bytes().decode()}\n{_SIG_PREFIX}{self.origin} {sig}\n"

    @classmethod
    def from_note(cls, text: str) -> SignedTreeHead:
        """Parse a signed note written by :meth:`to_note` (signature not checked here).

        Signature lines of other signers (e.g. witness cosignatures) are ignored; exactly one
        line must be by the origin's name.
        """
        if not isinstance(text, str) or not text.endswith("\n"):
            raise AuditError("signed note must be text ending with a newline")
        body, sep, sigs = text.rpartition("\n\n")
        if not sep:
            raise AuditError("signed note has no signature block (no empty line)")
        lines = body.split("\n")
        if len(lines) != 4:
            raise AuditError(
                f"checkpoint must have 4 lines (origin, size, root, timestamp), got {len(lines)}"
            )
        origin, size_s, root_s, ts_line = lines
        _check_origin(origin)
        if not _SIZE_RE.fullmatch(size_s) or int(size_s) > MAX_TREE_SIZE:
            raise AuditError(f"checkpoint tree size {size_s!r} is not a canonical decimal uint64")
        root = _b64(root_s, "checkpoint root")
        if len(root) != HASH_SIZE:
            raise AuditError(f"checkpoint root is {len(root)} bytes, want {HASH_SIZE}")
        if not ts_line.startswith("timestamp "):
            raise AuditError("checkpoint lacks its 'timestamp ...' extension line")
        timestamp = parse_time(ts_line[len("timestamp ") :])

        mine = []
        for line in sigs[:-1].split("\n"):
            if not line.startswith(_SIG_PREFIX):
                raise AuditError(f"malformed signature line {line[:40]!r}")
            name, _, sig_b64 = line[len(_SIG_PREFIX) :].partition(" ")
            if name == origin:
                mine.append(sig_b64)
        if len(mine) != 1:
            raise AuditError(
                f"signed note must have exactly one signature by {origin!r}, has {len(mine)}"
            )
        raw = _b64(mine[0], "signature")
        if len(raw) != 4 + SIGNATURE_SIZE:
            raise AuditError(
                f"signature is {len(raw)} bytes, want {4 + SIGNATURE_SIZE} (key id + Ed25519)"
            )
        head = cls(origin, int(size_s), root, timestamp, raw[4:], raw[:4].hex())
        if head.to_note().split("\n\n")[0] != body:
            raise AuditError("checkpoint is not in canonical form")
        return head

    def to_dict(self) -> dict[str, object]:
        """A JSON-friendly form: the fields plus the note text."""
        return {
            "origin": self.origin,
            "size": self.size,
            "root": self.root.hex(),
            "timestamp": format_time(self.timestamp),
            "key_id": self.key_id,
            "signature": base64.b64encode(self.signature).decode(),
        }

    @classmethod
    def from_dict(cls, d: object) -> SignedTreeHead:
        if not isinstance(d, dict) or set(d) != {
            "origin",
            "size",
            "root",
            "timestamp",
            "key_id",
            "signature",
        }:
            raise AuditError(
                "tree head must be an object with origin, size, root, timestamp, key_id, signature"
            )
        try:
            root = bytes.fromhex(d["root"])
        except (TypeError, ValueError):
            raise AuditError("tree head root is not hex") from None
        return cls(
            d["origin"],
            d["size"],
            root,
            parse_time(d["timestamp"]),
            _b64(d["signature"], "signature"),
            d["key_id"],
        )


def _b64(text: object, what: str) -> bytes:
    if not isinstance(text, str):
        raise AuditError(f"{what} must be base64 text")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise AuditError(f"{what} is not valid base64") from None
    if base64.b64encode(raw).decode() != text:
        raise AuditError(f"{what} is not canonical base64")
    return raw


def sign_tree_head(
    private_key: Ed25519PrivateKey,
    origin: str,
    size: int,
    root: bytes,
    timestamp: datetime | None = None,
) -> SignedTreeHead:
    """Sign "tree ``size`` has ``root``" for the log ``origin`` (timestamp defaults to now)."""
    ts = timestamp if timestamp is not None else datetime.now(UTC)
    body = checkpoint_body(origin, size, root, ts)
    return SignedTreeHead(
        origin=origin,
        size=size,
        root=root,
        timestamp=ts,
        signature=private_key.sign(body),
        key_id=key_id(private_key.public_key(), origin),
    )


def verify_tree_head(
    head: SignedTreeHead,
    public_key: Ed25519PublicKey,
    *,
    origin: str | None = None,
    size: int | None = None,
    root: bytes | None = None,
) -> None:
    """Check a head's signature, and optionally that it is for ``origin``, ``size`` and ``root``.

    Raises :class:`AuditError` naming the failed check: origin mismatch, wrong key (the key id
    does not match the given public key), bad signature, size mismatch, root mismatch.
    """
    if not isinstance(public_key, Ed25519PublicKey):
        raise AuditError(f"public key must be Ed25519, got {type(public_key).__name__}")
    if origin is not None and head.origin != origin:
        raise AuditError(f"origin mismatch: head is for {head.origin!r}, expected {origin!r}")
    want = key_id(public_key, head.origin)
    if head.key_id != want:
        raise AuditError(
            f"wrong key: head is signed by key id {head.key_id}, the given key is {want}"
        )
    try:
        public_key.verify(head.signature, head.signed_bytes())
    except InvalidSignature:
        raise AuditError(
            f"bad signature on the tree head (origin {head.origin!r}, size {head.size})"
        ) from None
    if size is not None and head.size != size:
        raise AuditError(f"size mismatch: head says {head.size}, expected {size}")
    if root is not None and head.root != root:
        raise AuditError(
            f"root mismatch: head says {head.root.hex()}, expected {bytes(root).hex()}"
        )
