"""A KEK in an HSM, through PKCS#11: the AES-256 key never leaves the token.

    [keys]
    kek = "pkcs11"
    module = "/usr/lib/softhsm/libsofthsm2.so"   # the vendor's PKCS#11 library
    token = "veil"                               # the token's label
    key = "veil-kek"                             # the AES key's label (CKA_LABEL)

The user PIN comes from ``VEIL_HSM_PIN`` (else a prompt on a terminal), never from
``veil.toml``. Wrapping is ``CKM_AES_GCM`` inside the token (a random 96-bit IV, a 128-bit tag,
the caller's associated data bound); the output is self-describing::

    b"VP11" || mechanism (1 byte, 0x01 = CKM_AES_GCM/96-bit IV/128-bit tag) || IV (12) || ct || tag

The binding is python-pkcs11. One logged-in session per (module, token) is kept per process
(PKCS#11 login state is per application, and closing a session would log every other one out);
after a ``fork`` the child re-initialises the library before use, as PKCS#11 requires.
"""

from __future__ import annotations

import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from veil.crypto.errors import CryptoError, KeyMissingError, WrongKeyError

__all__ = [
    "HSM_PIN_ENV",
    "MAGIC",
    "Pkcs11KEK",
    "Pkcs11Settings",
    "close_sessions",
    "open_pkcs11_kek",
]

HSM_PIN_ENV = "VEIL_HSM_PIN"
MAGIC = b"VP11"
MECH_AES_GCM = 0x01
IV_SIZE = 12
TAG_SIZE = 16
MAX_LABEL = 64


@dataclass(frozen=True)
class Pkcs11Settings:
    """``[keys]`` for ``kek = "pkcs11"``: the module (library file), token label, key label."""

    module: str
    token: str
    key: str

    #: The settings ``[keys]`` may hold for this provider.
    FIELDS = ("module", "token", "key")

    @classmethod
    def from_table(cls, table: dict[str, Any], where: str) -> Pkcs11Settings:
        values = {}
        for name in cls.FIELDS:
            v = table.get(name)
            if not isinstance(v, str) or not v.strip():
                raise CryptoError(f"kek = \"pkcs11\" needs {name} (a non-empty string)",
                                  where=where)
            if name != "module" and (len(v) > MAX_LABEL or not v.isprintable()):
                raise CryptoError(f"{name} must be printable, at most {MAX_LABEL} characters",
                                  where=where)
            values[name] = v
        return cls(**values)

    def toml_table(self) -> dict[str, str]:
        return {"kek": "pkcs11", "module": self.module, "token": self.token, "key": self.key}

    def describe(self) -> str:
        return f"pkcs11 token {self.token!r} key {self.key!r} ({self.module})"


# --------------------------------------------------------------------------------------------
# sessions: one logged-in session per (module, token) and process


@dataclass
class _TokenSession:
    session: Any
    pin_tag: bytes
    pid: int
    lock: threading.Lock


_SESSIONS: dict[tuple[str, str], _TokenSession] = {}
_SESSIONS_LOCK = threading.Lock()
_PROCESS_SECRET = secrets.token_bytes(32)
_INIT_PID: dict[str, int] = {}


def _pin_tag(pin: str) -> bytes:
    import hashlib
    import hmac

    return hmac.new(_PROCESS_SECRET, pin.encode("utf-8"), hashlib.sha256).digest()


def _library(module: str, where: str) -> Any:
    """The loaded PKCS#11 library (re-initialised in a forked child)."""
    import pkcs11

    if not Path(module).is_file():
        raise KeyMissingError(f"PKCS#11 module {module} not found (install the HSM's library, "
                              "or fix [keys] module)", where=where)
    try:
        lib = pkcs11.lib(module)
    except pkcs11.PKCS11Error as exc:
        raise CryptoError(f"cannot load PKCS#11 module {module} ({exc}); fix [keys] module",
                          where=where) from None
    if _INIT_PID.setdefault(module, os.getpid()) != os.getpid():
        lib.reinitialize()  # a forked child: PKCS#11 state does not survive fork
        _INIT_PID[module] = os.getpid()
    return lib


def _login(settings: Pkcs11Settings, pin: str, where: str) -> _TokenSession:
    import pkcs11

    lib = _library(settings.module, where)
    try:
        token = lib.get_token(token_label=settings.token)
    except pkcs11.NoSuchToken:
        raise KeyMissingError(f"no token labelled {settings.token!r} in {settings.module} "
                              "(fix [keys] token, or initialise the token)", where=where) from None
    except pkcs11.MultipleTokensReturned:
        raise CryptoError(f"several tokens are labelled {settings.token!r}: give each a unique "
                          "label", where=where) from None
    try:
        session = token.open(user_pin=pin, rw=True)
    except pkcs11.PinIncorrect:
        raise WrongKeyError(f"wrong PIN for token {settings.token!r} ({HSM_PIN_ENV})",
                            where=where) from None
    except (pkcs11.PinLocked, pkcs11.PinExpired):
        raise CryptoError(f"the user PIN of token {settings.token!r} is locked or expired",
                          where=where) from None
    except pkcs11.UserAlreadyLoggedIn:
        raise CryptoError(f"token {settings.token!r} is already logged in by this process with "
                          f"another PIN ({HSM_PIN_ENV})", where=where) from None
    except pkcs11.PKCS11Error as exc:
        raise CryptoError(f"cannot log in to token {settings.token!r}: {type(exc).__name__}",
                          where=where) from None
    return _TokenSession(session, _pin_tag(pin), os.getpid(), threading.Lock())


def _session(settings: Pkcs11Settings, pin: str, where: str) -> _TokenSession:
    """The process's logged-in session on the token (opened on first need)."""
    key = (os.path.realpath(settings.module), settings.token)
    with _SESSIONS_LOCK:
        cur = _SESSIONS.get(key)
        if cur is not None and cur.pid == os.getpid():
            if cur.pin_tag != _pin_tag(pin):
                raise CryptoError(f"token {settings.token!r} is already logged in by this process "
                                  f"with another PIN ({HSM_PIN_ENV})", where=where)
            return cur
        opened = _login(settings, pin, where)
        _SESSIONS[key] = opened
        return opened


def close_sessions() -> None:
    """Log out of and close every token session of this process (tests; before exiting)."""
    with _SESSIONS_LOCK:
        items = list(_SESSIONS.values())
        _SESSIONS.clear()
    for s in items:
        if s.pid == os.getpid():
            try:
                s.session.close()
            except Exception:  # noqa: BLE001 - a token already gone has nothing to close
                pass


# --------------------------------------------------------------------------------------------
# the KEK


def _find_key(session: Any, settings: Pkcs11Settings, where: str) -> Any:
    import pkcs11
    from pkcs11 import KeyType, ObjectClass

    try:
        return session.get_key(object_class=ObjectClass.SECRET_KEY, key_type=KeyType.AES,
                               label=settings.key)
    except pkcs11.NoSuchKey:
        return None
    except pkcs11.MultipleObjectsReturned:
        raise CryptoError(f"several AES keys are labelled {settings.key!r} in token "
                          f"{settings.token!r}: give the KEK a unique label", where=where) from None


def _create_key(session: Any, settings: Pkcs11Settings) -> Any:
    """A new AES-256 key in the token: sensitive, never extractable, for encrypt/decrypt only."""
    from pkcs11 import Attribute, KeyType

    template = {Attribute.TOKEN: True, Attribute.PRIVATE: True, Attribute.SENSITIVE: True,
                Attribute.EXTRACTABLE: False, Attribute.ENCRYPT: True, Attribute.DECRYPT: True,
                Attribute.WRAP: False, Attribute.UNWRAP: False, Attribute.SIGN: False,
                Attribute.VERIFY: False, Attribute.DERIVE: False}
    return session.generate_key(KeyType.AES, 256, label=settings.key, id=secrets.token_bytes(8),
                                store=True, template=template)


def _check_key(key: Any, settings: Pkcs11Settings, where: str) -> bytes:
    """Refuse a key that could leave the token or is not AES-256; returns its CKA_ID."""
    from pkcs11 import Attribute

    if key[Attribute.EXTRACTABLE] or not key[Attribute.SENSITIVE]:
        raise CryptoError(f"key {settings.key!r} is extractable or not sensitive: a KEK must "
                          "never leave the token (make a new one with `veil keys init`)",
                          where=where)
    if key.key_length != 256:
        raise CryptoError(f"key {settings.key!r} is AES-{key.key_length}, not AES-256",
                          where=where)
    try:
        return bytes(key[Attribute.ID] or b"")
    except Exception:  # noqa: BLE001 - CKA_ID is optional
        return b""


def open_pkcs11_kek(settings: Pkcs11Settings, pin: str, *, create: bool = False,
                    where: str = "[keys]") -> Pkcs11KEK:
    """Log in to the token and find the KEK (``create``: make it when the token has none)."""
    if not pin:
        raise KeyMissingError(f"the HSM needs its user PIN: set {HSM_PIN_ENV}", where=where)
    ts = _session(settings, pin, where)
    with ts.lock:
        key = _find_key(ts.session, settings, where)
        if key is None and create:
            key = _create_key(ts.session, settings)
    if key is None:
        raise KeyMissingError(f"no AES key labelled {settings.key!r} in token {settings.token!r} "
                              "(fix [keys] key, or `veil keys init --kek pkcs11` creates it)",
                              where=where)
    cka_id = _check_key(key, settings, where)
    return Pkcs11KEK(settings, ts, key, cka_id, pin)


class Pkcs11KEK:
    """A `veil.kek.providers.KEK` whose AES-256 key lives in a PKCS#11 token."""

    def __init__(self, settings: Pkcs11Settings, ts: _TokenSession, key: Any,
                 cka_id: bytes, pin: str) -> None:
        self.settings = settings
        self._ts = ts
        self._key = key
        self._pin = pin  # to log in again in a forked child (held like any opened KEK)
        suffix = f":{cka_id.hex()}" if cka_id else ""
        self._kek_id = f"pkcs11:{settings.token}/{settings.key}{suffix}"

    @property
    def kek_id(self) -> str:
        return self._kek_id

    def _params(self, iv: bytes, aad: bytes) -> Any:
        from pkcs11.mechanisms import GCMParams

        return GCMParams(iv, aad or None, TAG_SIZE * 8)

    def _check_process(self) -> None:
        """After a fork, or once the session was closed (`close_sessions`), log in again and
        find the same key."""
        with _SESSIONS_LOCK:
            current = _SESSIONS.get((os.path.realpath(self.settings.module), self.settings.token))
        if current is not self._ts or self._ts.pid != os.getpid():
            again = open_pkcs11_kek(self.settings, self._pin, where=self._kek_id)
            if again.kek_id != self._kek_id:
                raise WrongKeyError(f"the token now holds another key labelled "
                                    f"{self.settings.key!r}", where=self._kek_id)
            self._ts, self._key = again._ts, again._key

    def wrap(self, plaintext: bytes, aad: bytes) -> bytes:
        import pkcs11
        from pkcs11 import Mechanism

        self._check_process()
        iv = secrets.token_bytes(IV_SIZE)
        try:
            with self._ts.lock:
                ct = self._key.encrypt(bytes(plaintext), mechanism=Mechanism.AES_GCM,
                                       mechanism_param=self._params(iv, aad))
        except pkcs11.PKCS11Error as exc:
            raise CryptoError(f"the HSM refused to wrap ({type(exc).__name__})",
                              where=self._kek_id) from None
        return MAGIC + bytes([MECH_AES_GCM]) + iv + bytes(ct)

    def unwrap(self, ciphertext: bytes, aad: bytes) -> bytes:
        import pkcs11
        from pkcs11 import Mechanism

        self._check_process()
        head = len(MAGIC) + 1
        if bytes(ciphertext[:len(MAGIC)]) != MAGIC:
            raise WrongKeyError("not wrapped by a PKCS#11 KEK (wrong KEK)", where=self._kek_id)
        if ciphertext[len(MAGIC)] != MECH_AES_GCM or len(ciphertext) < head + IV_SIZE + TAG_SIZE:
            raise WrongKeyError("unknown PKCS#11 wrapping, or damaged", where=self._kek_id)
        iv, body = bytes(ciphertext[head:head + IV_SIZE]), bytes(ciphertext[head + IV_SIZE:])
        try:
            with self._ts.lock:
                return bytes(self._key.decrypt(body, mechanism=Mechanism.AES_GCM,
                                               mechanism_param=self._params(iv, aad)))
        except (pkcs11.GeneralError, pkcs11.EncryptedDataInvalid, pkcs11.EncryptedDataLenRange):
            raise WrongKeyError("the HSM key cannot unwrap this (wrong KEK or associated data, "
                                "or the wrapped key is damaged)", where=self._kek_id) from None
        except pkcs11.PKCS11Error as exc:
            raise CryptoError(f"the HSM refused to unwrap ({type(exc).__name__})",
                              where=self._kek_id) from None

    def __repr__(self) -> str:
        return f"Pkcs11KEK(kek_id={self._kek_id!r})"
