"""The key-encryption key (KEK): the root every secret Veil keeps is wrapped under.

Providers (:mod:`veil.kek.providers`: a passphrase-protected key file, an environment secret;
:mod:`veil.kek.pkcs11`: a key in an HSM; :mod:`veil.kek.kms`: a key in AWS KMS),
which one a workspace uses (:mod:`veil.kek.config`, ``[keys]`` in ``veil.toml``), and the
workspace's sealed secrets (:mod:`veil.kek.sealed`). Both the key store (:mod:`veil.keys`) and
the audit log (:mod:`veil.audit`) build on this package; it imports neither.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from veil._lazy import lazy_exports

_EXPORTS = {
    "KEK": "veil.kek.providers",
    "EnvKEK": "veil.kek.providers",
    "PassphraseFileKEK": "veil.kek.providers",
    "StaticKEK": "veil.kek.providers",
    "rewrap": "veil.kek.providers",
    "Pkcs11KEK": "veil.kek.pkcs11",
    "AwsKmsKEK": "veil.kek.kms",
    "KeysConfig": "veil.kek.config",
    "load_kek": "veil.kek.config",
    "workspace_kek": "veil.kek.config",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:  # pragma: no cover
    from veil.kek.config import KeysConfig, load_kek, workspace_kek  # noqa: F401
    from veil.kek.kms import AwsKmsKEK  # noqa: F401
    from veil.kek.pkcs11 import Pkcs11KEK  # noqa: F401
    from veil.kek.providers import KEK, EnvKEK, PassphraseFileKEK, StaticKEK, rewrap  # noqa: F401
