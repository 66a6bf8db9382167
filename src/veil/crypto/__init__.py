"""Veil's crypto services: keysets, KEKs, streaming files, field AEAD, tokens, crypto-shredding,
the workspace's key store, encrypted run outputs and TLS settings.

Everything here uses primitives from ``cryptography`` (OpenSSL) and published formats (Tink's
keysets, AEAD, deterministic AEAD and AES-GCM-HKDF streaming), cross-tested against tink-py.

Names are imported on first use (``from veil.crypto import KeyManager`` loads the store layer,
``from veil.crypto import encrypt_file`` does not).
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
    "KEK": "veil.crypto.kek",
    "EnvKEK": "veil.crypto.kek",
    "PassphraseFileKEK": "veil.crypto.kek",
    "StaticKEK": "veil.crypto.kek",
    "rewrap": "veil.crypto.kek",
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
    "InMemoryKeyStore": "veil.crypto.subject_keys",
    "SubjectKeys": "veil.crypto.subject_keys",
    "WrappedKeyStore": "veil.crypto.subject_keys",
    # the workspace's key store
    "KeyManager": "veil.crypto.manager",
    "KeysConfig": "veil.crypto.manager",
    "KeysetInfo": "veil.crypto.manager",
    "OUTPUT_KEYSET": "veil.crypto.manager",
    "SqlSubjectKeyStore": "veil.crypto.keystore",
    "StoreSubjectKeys": "veil.crypto.keystore",
    # files at rest
    "OutputEncryption": "veil.crypto.files",
    "output_encryption": "veil.crypto.files",
    "read": "veil.crypto.files",
    "run_associated_data": "veil.crypto.files",
    # in transit
    "DatabaseTLS": "veil.crypto.tls",
    "ServerTLS": "veil.crypto.tls",
    "apply_database_tls": "veil.crypto.tls",
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
    from veil.crypto.files import (  # noqa: F401
        OutputEncryption,
        output_encryption,
        read,
        run_associated_data,
    )
    from veil.crypto.kek import KEK, EnvKEK, PassphraseFileKEK, StaticKEK, rewrap  # noqa: F401
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
    from veil.crypto.keystore import SqlSubjectKeyStore, StoreSubjectKeys  # noqa: F401
    from veil.crypto.manager import (  # noqa: F401
        OUTPUT_KEYSET,
        KeyManager,
        KeysConfig,
        KeysetInfo,
    )
    from veil.crypto.streaming import (  # noqa: F401
        DecryptingReader,
        EncryptingWriter,
        decrypt_bytes,
        decrypt_file,
        encrypt_bytes,
        encrypt_file,
    )
    from veil.crypto.subject_keys import (  # noqa: F401
        InMemoryKeyStore,
        SubjectKeys,
        WrappedKeyStore,
    )
    from veil.crypto.tls import DatabaseTLS, ServerTLS, apply_database_tls  # noqa: F401
