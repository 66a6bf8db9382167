"""The crypto layer's errors: all are `veil.errors.CryptoError` (the CLI's exit code 7).

Messages never hold key material or plaintext; `where` names the file, segment, row or subject
pseudonym the problem was found at.
"""

from __future__ import annotations

from veil.errors import CryptoError

__all__ = [
    "CryptoError",
    "ErasedError",
    "KeyMissingError",
    "KeysetError",
    "NonceSizeError",
    "NotCiphertextError",
    "TamperedError",
    "WrongKeyError",
]


class TamperedError(CryptoError):
    """A ciphertext is not authentic: modified, truncated, reordered, extended or misframed."""

    kind = "tampered ciphertext"


class NotCiphertextError(CryptoError):
    """The input is not a Veil/Tink ciphertext at all (empty, or not the expected format)."""

    kind = "not a ciphertext"


class WrongKeyError(CryptoError):
    """No available key opens this ciphertext (or a passphrase is wrong).

    AEAD cannot tell a wrong key from wrong associated data or damage at the very start of a
    ciphertext; the message says so.
    """

    kind = "wrong key"


class ErasedError(CryptoError):
    """The data subject's key was shredded: what was encrypted under it is gone for good."""

    kind = "erased"


class KeyMissingError(CryptoError):
    """A key that was never created (or is disabled) was asked for."""

    kind = "missing key"


class KeysetError(CryptoError):
    """A keyset is malformed, of an unsupported type, or has invalid parameters."""

    kind = "keyset error"


class NonceSizeError(CryptoError):
    """A nonce (IV) length the AES-GCM implementation refuses (OpenSSL via `cryptography`
    accepts 8..128 bytes); raised before any decryption is attempted."""

    kind = "unsupported nonce size"
