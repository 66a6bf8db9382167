"""Veil's cryptographic primitives and formats: Tink keysets, field AEAD, deterministic tokens,
AES-GCM-HKDF streaming files.

Everything here uses primitives from ``cryptography`` (OpenSSL) and published formats (Tink's
keysets, AEAD, deterministic AEAD and AES-GCM-HKDF streaming), cross-tested against tink-py.
The workspace's key management (KEK providers, the key store, subject keys, encrypted run
outputs) is the recipe layer above this one: :mod:`veil.keys`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from veil._lazy import lazy_exports

_EXPORTS = {
    # primitives and formats
    "Aead": "veil.crypto.aead",
    "AesGcm": "veil.crypto.aead",
    "DeterministicAead": "veil.crypto.aead",
    "FieldCipher": "veil.crypto.aead",
    "FieldContext": "veil.crypto.aead",
    "InMemoryKeyProvider": "veil.crypto.aead",
    "KeyProvider": "veil.crypto.aead",
    "TokenCipher": "veil.crypto.aead",
    "CryptoError": "veil.crypto.errors",
    "ErasedError": "veil.crypto.errors",
    "KeyMissingError": "veil.crypto.errors",
    "KeysetError": "veil.crypto.errors",
    "NonceSizeError": "veil.crypto.errors",
    "NotCiphertextError": "veil.crypto.errors",
    "TamperedError": "veil.crypto.errors",
    "WrongKeyError": "veil.crypto.errors",
    "AeadKey": "veil.crypto.keyset",
    "DeterministicKey": "veil.crypto.keyset",
    "KeyEntry": "veil.crypto.keyset",
    "Keyset": "veil.crypto.keyset",
    "StreamingKey": "veil.crypto.keyset",
    "decrypt_keyset": "veil.crypto.keyset",
    "encrypt_keyset": "veil.crypto.keyset",
    "keyset_from_any": "veil.crypto.keyset",
    "DecryptingReader": "veil.crypto.streaming",
    "EncryptingWriter": "veil.crypto.streaming",
    "decrypt_bytes": "veil.crypto.streaming",
    "decrypt_file": "veil.crypto.streaming",
    "encrypt_bytes": "veil.crypto.streaming",
    "encrypt_file": "veil.crypto.streaming",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from veil.crypto.aead import (  # noqa: F401
        Aead,
        AesGcm,
        DeterministicAead,
        FieldCipher,
        FieldContext,
        InMemoryKeyProvider,
        KeyProvider,
        TokenCipher,
    )
    from veil.crypto.errors import (  # noqa: F401
        CryptoError,
        ErasedError,
        KeyMissingError,
        KeysetError,
        NonceSizeError,
        NotCiphertextError,
        TamperedError,
        WrongKeyError,
    )
    from veil.crypto.keyset import (  # noqa: F401
        AeadKey,
        DeterministicKey,
        KeyEntry,
        Keyset,
        StreamingKey,
        decrypt_keyset,
        encrypt_keyset,
        keyset_from_any,
    )
    from veil.crypto.streaming import (  # noqa: F401
        DecryptingReader,
        EncryptingWriter,
        decrypt_bytes,
        decrypt_file,
        encrypt_bytes,
        encrypt_file,
    )
