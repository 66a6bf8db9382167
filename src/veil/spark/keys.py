"""Transform keys for Spark executors: wrapped keysets and a KEK reference, never a key.

The driver ships, in the task closure, only what the store already holds at rest: each keyset
the run's transforms need, still wrapped under the workspace's KEK, and the *reference* to the
KEK (``veil.toml``'s ``[keys]`` table: the name of the environment variable, or the key file's
path; the passphrase comes from ``VEIL_KEK_PASSPHRASE`` on the executor). Each executor process
unwraps a keyset the first time a transform asks for it and keeps the primitive in memory;
pickling a :class:`ShippedKeys` again drops whatever was unwrapped. So no key and no KEK is in
the Spark plan, the pickled closure or a log: an executor holds key material only in memory,
exactly like the local engine.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from veil.crypto.aead import TokenCipher
from veil.crypto.errors import KeyMissingError, WrongKeyError
from veil.crypto.keyset import Keyset, decrypt_keyset
from veil.keys.manager import KeysConfig, keyset_associated_data, load_kek
from veil.transforms.keys import KeysetTransformKeys, KeyUse

if TYPE_CHECKING:  # pragma: no cover
    from veil.kek.providers import KEK
    from veil.store.workspace import Workspace

__all__ = ["RecordingKeys", "ShippedKeys", "ShippedKeyset", "ship_keys", "ship_keyset"]

_KEK_LOCK = threading.Lock()
_KEKS: dict[tuple[str, str, str], KEK] = {}  # per executor process: the KEK opened once


@dataclass(frozen=True)
class WrappedKeyset:
    name: str
    kind: str
    kek_id: str
    wrapped: bytes  # Tink EncryptedKeyset bytes, as stored (AES-GCM under the KEK)

    def __repr__(self) -> str:  # no blob in logs either
        return f"WrappedKeyset({self.name!r}, kek_id={self.kek_id!r})"


class _ShippedProvider:
    """A `KeyProvider` over the shipped keysets: unwraps with the KEK it opens itself."""

    def __init__(self, keysets: dict[str, WrappedKeyset], kek_ref: KeysConfig) -> None:
        self._keysets = keysets
        self._kek_ref = kek_ref

    def _kek(self) -> KEK:
        ref = self._kek_ref
        key = (ref.kek, str(ref.path), ref.variable)
        with _KEK_LOCK:
            kek = _KEKS.get(key)
            if kek is None:
                kek = _KEKS[key] = load_kek(ref)
            return kek

    def keyset(self, name: str) -> Keyset:
        w = self._keysets.get(name)
        if w is None:
            raise KeyMissingError(f"keyset {name!r} was not shipped to the Spark executors "
                                  "(a transform asked for a key the driver did not expect)")
        kek = self._kek()
        if kek.kek_id != w.kek_id:
            raise WrongKeyError(f"keyset {name!r} is wrapped under KEK {w.kek_id}, but this "
                                f"executor's KEK is {kek.kek_id} (set the same KEK on every "
                                "executor)")
        return decrypt_keyset(w.wrapped, kek, keyset_associated_data(name))


class ShippedKeys:
    """`TransformKeys` for executors (see the module docstring)."""

    def __init__(self, keysets: Iterable[WrappedKeyset], kek_ref: KeysConfig) -> None:
        self.keysets = {k.name: k for k in keysets}
        self.kek_ref = kek_ref
        self._inner: KeysetTransformKeys | None = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {"keysets": self.keysets, "kek_ref": self.kek_ref}  # never what was unwrapped

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.keysets = state["keysets"]
        self.kek_ref = state["kek_ref"]
        self._inner = None
        self._lock = threading.Lock()

    def _keys(self) -> KeysetTransformKeys:
        with self._lock:
            if self._inner is None:
                self._inner = KeysetTransformKeys(
                    _ShippedProvider(self.keysets, self.kek_ref), create=False)
            return self._inner

    def hmac_key(self, domain: str) -> bytes:
        return self._keys().hmac_key(domain)

    def fpe_key(self, domain: str) -> bytes:
        return self._keys().fpe_key(domain)

    def token_cipher(self, domain: str) -> TokenCipher:
        return self._keys().token_cipher(domain)

    def __repr__(self) -> str:
        return f"ShippedKeys({sorted(self.keysets)}, kek={self.kek_ref.describe()})"


class RecordingKeys:
    """Wraps the driver's keys and notes which (use, domain) the transforms asked for."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.used: set[tuple[KeyUse, str]] = set()

    def hmac_key(self, domain: str) -> bytes:
        self.used.add(("hmac", domain))
        return self.inner.hmac_key(domain)  # type: ignore[no-any-return]

    def fpe_key(self, domain: str) -> bytes:
        self.used.add(("fpe", domain))
        return self.inner.fpe_key(domain)  # type: ignore[no-any-return]

    def token_cipher(self, domain: str) -> TokenCipher:
        self.used.add(("token", domain))
        return self.inner.token_cipher(domain)  # type: ignore[no-any-return]


class ShippedKeyset:
    """One keyset by name (the output keyset, for executors writing encrypted parts): wrapped
    under the KEK, unwrapped by `keyset()` on the executor, never pickled unwrapped."""

    def __init__(self, wrapped: WrappedKeyset, kek_ref: KeysConfig) -> None:
        self.wrapped = wrapped
        self.kek_ref = kek_ref

    @property
    def name(self) -> str:
        return self.wrapped.name

    def keyset(self) -> Keyset:
        return _ShippedProvider({self.name: self.wrapped}, self.kek_ref).keyset(self.name)

    def __repr__(self) -> str:
        return f"ShippedKeyset({self.name!r}, kek={self.kek_ref.describe()})"


def ship_keyset(ws: Workspace, name: str) -> ShippedKeyset:
    """The stored keyset ``name``, still wrapped, and the workspace's KEK reference."""
    (wrapped,), cfg = _wrapped(ws, [name])
    return ShippedKeyset(wrapped, cfg)


def ship_keys(ws: Workspace, used: Iterable[tuple[KeyUse, str]]) -> ShippedKeys | None:
    """The wrapped keysets of ``used`` as stored, and the workspace's KEK reference."""
    names = sorted({KeysetTransformKeys.keyset_name(u, d) for u, d in used})
    if not names:
        return None
    out, cfg = _wrapped(ws, names)
    return ShippedKeys(out, cfg)


def _wrapped(ws: Workspace, names: list[str]) -> tuple[list[WrappedKeyset], KeysConfig]:
    from veil.store.schema import keysets

    cfg = KeysConfig.from_workspace(ws.root)
    if cfg is None:
        raise KeyMissingError("this workspace has no key-encryption key yet: run `veil keys init`")
    with ws.engine.connect() as conn:
        rows = {r.name: r for r in conn.execute(
            sa.select(keysets).where(keysets.c.name.in_(names)))}
    out = []
    for n in names:
        r = rows.get(n)
        if r is None or r.encrypted_keyset is None or r.status == "DESTROYED":
            raise KeyMissingError(f"no usable keyset named {n!r}")
        if r.status == "DISABLED":
            raise KeyMissingError(f"keyset {n!r} is disabled (`veil keys enable {n}`)")
        out.append(WrappedKeyset(n, r.kind, r.kek_id, bytes(r.encrypted_keyset)))
    return out, cfg
