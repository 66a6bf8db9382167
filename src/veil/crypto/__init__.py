"""Veil's crypto services: keysets, KEKs, streaming files, field AEAD, tokens, crypto-shredding.

Everything here uses primitives from ``cryptography`` (OpenSSL) and published formats (Tink's
keysets, AEAD, deterministic AEAD and AES-GCM-HKDF streaming), cross-tested against tink-py.
"""

from veil.crypto.aead import (
    Aead,
    AesGcm,
    DeterministicAead,
    FieldCipher,
    FieldContext,
    InMemoryKeyProvider,
    KeyProvider,
    TokenCipher,
)
from veil.crypto.errors import (
    CryptoError,
    ErasedError,
    KeyMissingError,
    KeysetError,
    NonceSizeError,
    TamperedError,
    WrongKeyError,
)
from veil.crypto.kek import KEK, EnvKEK, PassphraseFileKEK, StaticKEK, rewrap
from veil.crypto.keyset import (
    AeadKey,
    DeterministicKey,
    KeyEntry,
    Keyset,
    StreamingKey,
    decrypt_keyset,
    encrypt_keyset,
    keyset_from_any,
)
from veil.crypto.streaming import (
    DecryptingReader,
    EncryptingWriter,
    decrypt_bytes,
    decrypt_file,
    encrypt_bytes,
    encrypt_file,
)
from veil.crypto.subject_keys import InMemoryKeyStore, SubjectKeys, WrappedKeyStore

__all__ = [
    "KEK",
    "Aead",
    "AeadKey",
    "AesGcm",
    "CryptoError",
    "DecryptingReader",
    "DeterministicAead",
    "DeterministicKey",
    "EncryptingWriter",
    "EnvKEK",
    "ErasedError",
    "FieldCipher",
    "FieldContext",
    "InMemoryKeyProvider",
    "InMemoryKeyStore",
    "KeyEntry",
    "KeyMissingError",
    "KeyProvider",
    "Keyset",
    "KeysetError",
    "NonceSizeError",
    "PassphraseFileKEK",
    "StaticKEK",
    "StreamingKey",
    "SubjectKeys",
    "TamperedError",
    "TokenCipher",
    "WrappedKeyStore",
    "WrongKeyError",
    "decrypt_bytes",
    "decrypt_file",
    "decrypt_keyset",
    "encrypt_bytes",
    "encrypt_file",
    "encrypt_keyset",
    "keyset_from_any",
    "rewrap",
]
