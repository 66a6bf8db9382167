"""Key material for the keyed transforms, through one small interface.

Transforms never see a key store: they ask the run's `TransformKeys` (``ctx.keys``)
for the key of a *domain*. The domain is the purpose id, so the same person gets unlinkable
pseudonyms and tokens under two purposes, unless the policy links purposes on purpose by
giving both the same ``domain:`` parameter.

==============  ===============================================  =============================
use             what                                             transforms
==============  ===============================================  =============================
``hmac``        a random 256-bit HMAC-SHA256 key                 pseudonymize, redact_text
                                                                 (pseudonyms), date_shift,
                                                                 noise (seeds)
``token``       a Tink deterministic-AEAD keyset (AES-SIV)       tokenize, ``veil reidentify``
``fpe``         a random 256-bit AES key for FF3-1               fpe
==============  ===============================================  =============================

Every key is random, one per (use, domain), created on first use; none is ever derived from
a master key and the domain (such a key could always be derived again, so it could never be
erased or rotated on its own).

Implementations:

* `InMemoryTransformKeys`: keys in a dict (tests, notebooks, a workspace-less library run).
  Pseudonyms are stable for as long as the object lives; pass it to several runs to keep
  them stable across runs.
* `KeysetTransformKeys`: keys as keysets of a `veil.crypto.aead.KeyProvider` (the workspace's
  `veil.keys.manager.KeyManager`), wrapped under the KEK, named
  ``transforms.<use>.<domain>``; created on first use when the provider can (``ensure``).
  HMAC and FPE keys are the 256-bit key of a dedicated AES-GCM keyset, used for nothing else.

A key is identified in receipts and audit events by `key_id` (a keyed fingerprint of the key
for raw keys, Tink's key id for keysets), never by its value.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from veil.crypto.aead import TokenCipher
from veil.crypto.errors import KeyMissingError, KeysetError
from veil.crypto.keyset import AeadKey, Keyset

if TYPE_CHECKING:  # pragma: no cover
    from veil.store.workspace import Workspace
    from veil.transforms.context import TransformContext

__all__ = [
    "InMemoryTransformKeys",
    "KeysetTransformKeys",
    "TransformKeys",
    "domain_of",
    "key_id",
    "keys_from",
    "workspace_keys",
]

KeyUse = Literal["hmac", "token", "fpe"]
USES: tuple[KeyUse, ...] = ("hmac", "token", "fpe")
DOMAIN_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,99}$")
KEY_BYTES = 32


@runtime_checkable
class TransformKeys(Protocol):
    """What the keyed transforms need: one random key per (use, domain)."""

    def hmac_key(self, domain: str) -> bytes:
        """The domain's 256-bit HMAC-SHA256 key."""
        ...

    def token_cipher(self, domain: str) -> TokenCipher:
        """The domain's AES-SIV token cipher (a Tink deterministic-AEAD keyset)."""
        ...

    def fpe_key(self, domain: str) -> bytes:
        """The domain's 256-bit AES key for FF3-1 format-preserving encryption."""
        ...


def check_domain(domain: str) -> str:
    if not isinstance(domain, str) or not DOMAIN_RE.match(domain):
        raise ValueError(f"domain {domain!r} is not a name (letters, digits, _ . -; "
                         "starting with a letter or _; at most 100 characters)")
    return domain


def fingerprint(key: bytes) -> str:
    """A public id for a raw key: 16 hex digits of HMAC(key, "veil key id")."""
    return hmac.new(key, b"veil key id", hashlib.sha256).hexdigest()[:16]


def key_id(keys: TransformKeys, use: KeyUse, domain: str) -> str:
    """The id of the domain's key for ``use``, for receipts and audit events."""
    if use == "token":
        return f"token:{domain}:{keys.token_cipher(domain).keyset.primary_key_id}"
    raw = keys.hmac_key(domain) if use == "hmac" else keys.fpe_key(domain)
    return f"{use}:{domain}:{fingerprint(raw)}"


class InMemoryTransformKeys:
    """Random keys created on first use and held in memory (nothing is written anywhere)."""

    def __init__(self) -> None:
        self._raw: dict[tuple[str, str], bytes] = {}
        self._tokens: dict[str, TokenCipher] = {}
        self._lock = threading.Lock()

    def _get(self, use: str, domain: str) -> bytes:
        check_domain(domain)
        with self._lock:
            k = self._raw.get((use, domain))
            if k is None:
                k = self._raw[(use, domain)] = secrets.token_bytes(KEY_BYTES)
            return k

    def hmac_key(self, domain: str) -> bytes:
        return self._get("hmac", domain)

    def fpe_key(self, domain: str) -> bytes:
        return self._get("fpe", domain)

    def token_cipher(self, domain: str) -> TokenCipher:
        check_domain(domain)
        with self._lock:
            c = self._tokens.get(domain)
            if c is None:
                c = self._tokens[domain] = TokenCipher(Keyset.generate("daead"))
            return c

    def domains(self) -> list[tuple[str, str]]:
        """(use, domain) of the keys created so far."""
        with self._lock:
            return sorted(set(self._raw) | {("token", d) for d in self._tokens})

    def __repr__(self) -> str:
        return f"InMemoryTransformKeys({len(self.domains())} keys)"


class KeysetTransformKeys:
    """Keys kept as keysets of a `KeyProvider`, named ``transforms.<use>.<domain>``.

    With ``create=True`` and a provider that has ``ensure(name, kind, purpose)`` (the
    workspace's `KeyManager`), a missing keyset is created (random, wrapped under the KEK,
    recorded); otherwise a missing keyset is a `KeyMissingError`. Unwrapped primitives are
    cached per object.
    """

    def __init__(self, provider: Any, *, create: bool = True) -> None:
        # a provider, or a function that makes one (called when the first key is asked for)
        self._provider = provider
        self.create = create
        self._cache: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    @property
    def provider(self) -> Any:
        p = self._provider
        if not hasattr(p, "keyset") and callable(p):
            with self._lock:
                if self._provider is p:
                    self._provider = p()
            p = self._provider
        return p

    @staticmethod
    def keyset_name(use: KeyUse, domain: str) -> str:
        return f"transforms.{use}.{check_domain(domain)}"

    def _keyset(self, use: KeyUse, domain: str) -> Keyset:
        name = self.keyset_name(use, domain)
        kind = "daead" if use == "token" else "aead"
        ensure = getattr(self.provider, "ensure", None)
        if self.create and ensure is not None:
            ks: Keyset = ensure(name, kind, f"veil transforms: {use} key of domain {domain}")
        else:
            ks = self.provider.keyset(name)
        if ks.kind != kind:
            raise KeysetError(f"keyset {name!r} is a {ks.kind} keyset, expected {kind}")
        return ks

    def _raw(self, use: KeyUse, domain: str) -> bytes:
        with self._lock:
            hit = self._cache.get((use, domain))
        if hit is not None:
            return bytes(hit)
        ks = self._keyset(use, domain)
        material = ks.primary.material
        if not isinstance(material, AeadKey) or len(material.key_value) != KEY_BYTES:
            raise KeysetError(f"keyset {self.keyset_name(use, domain)!r} has no 256-bit "
                              "primary key")
        with self._lock:
            self._cache[(use, domain)] = material.key_value
        return bytes(material.key_value)

    def hmac_key(self, domain: str) -> bytes:
        return self._raw("hmac", domain)

    def fpe_key(self, domain: str) -> bytes:
        return self._raw("fpe", domain)

    def token_cipher(self, domain: str) -> TokenCipher:
        with self._lock:
            hit = self._cache.get(("token", domain))
        if hit is not None:
            return hit  # type: ignore[no-any-return]
        c = TokenCipher(self._keyset("token", domain))
        with self._lock:
            self._cache[("token", domain)] = c
        return c


def workspace_keys(workspace: Workspace, *, create: bool = True,
                   **manager_args: Any) -> KeysetTransformKeys:
    """The workspace's transform keys: keysets in its store, wrapped under its KEK, created
    on first use unless ``create=False`` (``manager_args`` go to `KeyManager`: ``kek``,
    ``passphrase``, ``actor``). Nothing is opened until a key is asked for."""
    def manager() -> Any:
        from veil.keys.manager import KeyManager

        return KeyManager(workspace, **manager_args)

    return KeysetTransformKeys(manager, create=create)


def keys_from(ctx: TransformContext, transform: str) -> TransformKeys:
    """The run's `TransformKeys` (``ctx.keys``), or a clear error."""
    keys = ctx.keys
    if keys is None:
        raise KeyMissingError(
            f"transform '{transform}' needs keys, but the run has no key provider "
            "(TransformContext.keys: pass keys= to the run, e.g. "
            "veil.transforms.keys.InMemoryTransformKeys(), or run in a workspace with keys)"
        )
    if not isinstance(keys, TransformKeys):
        raise KeyMissingError(f"TransformContext.keys is a {type(keys).__name__}, "
                              "not TransformKeys")
    return keys


def domain_of(params: dict[str, Any], ctx: TransformContext) -> str:
    """The key domain: the ``domain`` parameter (purposes linked on purpose), else the
    purpose id of the run."""
    d = params.get("domain")
    if d is not None:
        return check_domain(d)
    purpose = ctx.purpose_id
    if not purpose:
        raise KeyMissingError("no key domain: the run has no purpose and no 'domain' parameter")
    return check_domain(purpose)
