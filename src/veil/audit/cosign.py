"""Witness cosignatures on checkpoints: C2SP ``tlog-cosignature`` v1 (https://c2sp.org/tlog-cosignature).

A witness that has checked a checkpoint (its log's signature, and consistency with what it saw
before) adds a signature line of its own under its name::

    — <witness name> base64(key id (4) || timestamp (8, big-endian seconds) || Ed25519 sig (64))

The signed message is ``cosignature/v1\\ntime <timestamp>\\n`` followed by the checkpoint body;
the key id is the first 4 bytes of SHA-256(name || 0x0A || 0x04 || raw public key). The lines
sit after the log's own signature line, so :meth:`SignedTreeHead.from_note` still reads the note.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from veil.audit.heads import SignedTreeHead, key_id
from veil.errors import AuditError

_ALG_COSIGNATURE = b"\x04"
_SIG_PREFIX = "\u2014 "


def cosigner_key_id(key: Ed25519PublicKey, name: str) -> bytes:
    """The 4-byte key id of a witness key under ``name`` (algorithm byte 0x04)."""
    key_id(key, name)  # validates the name as an origin-like key name
    return hashlib.sha256(
        name.encode() + b"\n" + _ALG_COSIGNATURE + key.public_bytes_raw()
    ).digest()[:4]


def _message(head: SignedTreeHead, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n".encode() + head.signed_bytes()


@dataclass(frozen=True)
class Cosignature:
    """One witness's cosignature on a checkpoint: who, when (Unix seconds), the signature."""

    name: str
    key_id: bytes
    timestamp: int
    signature: bytes

    def line(self) -> str:
        raw = self.key_id + struct.pack(">Q", self.timestamp) + self.signature
        return f"{_SIG_PREFIX}{self.name} {base64.b64encode(raw).decode()}"


def cosign(key: Ed25519PrivateKey, name: str, head: SignedTreeHead, timestamp: int) -> Cosignature:
    """The witness ``name``'s cosignature on ``head`` at ``timestamp`` (Unix seconds)."""
    return Cosignature(
        name,
        cosigner_key_id(key.public_key(), name),
        timestamp,
        key.sign(_message(head, timestamp)),
    )


def with_cosignature(note: str, cosig: Cosignature) -> str:
    """The signed note ``note`` with ``cosig``'s line added after its signature lines."""
    return note + cosig.line() + "\n"


def find_cosignature(note: str, name: str) -> Cosignature | None:
    """The cosignature line of witness ``name`` in ``note``, parsed (None when absent)."""
    _, _, sigs = note.rpartition("\n\n")
    for line in sigs.splitlines():
        if not line.startswith(_SIG_PREFIX):
            continue
        who, _, b64 = line[len(_SIG_PREFIX) :].partition(" ")
        if who != name:
            continue
        try:
            raw = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            continue
        if len(raw) == 4 + 8 + 64:
            return Cosignature(name, raw[:4], struct.unpack(">Q", raw[4:12])[0], raw[12:])
    return None


def verify_cosignature(note: str, name: str, key: Ed25519PublicKey) -> Cosignature:
    """Check that ``note`` carries a valid cosignature by witness ``name`` with ``key``."""
    head = SignedTreeHead.from_note(note)
    cosig = find_cosignature(note, name)
    if cosig is None or cosig.key_id != cosigner_key_id(key, name):
        raise AuditError(f"the checkpoint carries no cosignature by witness {name!r} with its key")
    try:
        key.verify(cosig.signature, _message(head, cosig.timestamp))
    except InvalidSignature:
        raise AuditError(f"bad cosignature by witness {name!r}") from None
    return cosig
