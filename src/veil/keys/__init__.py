"""The workspace's key management, the recipe layer above :mod:`veil.crypto`'s primitives.

The key store that keeps keysets and subject keys wrapped under the KEK (:mod:`veil.kek`),
crypto-shredding of subject keys, and encrypted run outputs (single files and folders of parts).

Names are imported on first use (``from veil.keys import KeyManager`` loads the store layer,
``from veil.keys import read`` does not load the key manager).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from veil._lazy import lazy_exports

_EXPORTS = {
    "InMemoryKeyStore": "veil.keys.subject_keys",
    "SubjectKeys": "veil.keys.subject_keys",
    "WrappedKeyStore": "veil.keys.subject_keys",
    "KeyManager": "veil.keys.manager",
    "KeysConfig": "veil.keys.manager",
    "KeysetInfo": "veil.keys.manager",
    "OUTPUT_KEYSET": "veil.keys.manager",
    "SqlSubjectKeyStore": "veil.keys.keystore",
    "StoreSubjectKeys": "veil.keys.keystore",
    "OutputEncryption": "veil.keys.files",
    "output_encryption": "veil.keys.files",
    "read": "veil.keys.files",
    "run_associated_data": "veil.keys.files",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from veil.keys.files import (  # noqa: F401
        OutputEncryption,
        output_encryption,
        read,
        run_associated_data,
    )
    from veil.keys.keystore import SqlSubjectKeyStore, StoreSubjectKeys  # noqa: F401
    from veil.keys.manager import (  # noqa: F401
        OUTPUT_KEYSET,
        KeyManager,
        KeysConfig,
        KeysetInfo,
    )
    from veil.keys.subject_keys import (  # noqa: F401
        InMemoryKeyStore,
        SubjectKeys,
        WrappedKeyStore,
    )
