"""Key-encryption keys (KEKs): what keysets and subject keys are wrapped under at rest.

A KEK provider is anything with a ``kek_id`` and ``wrap`` / ``unwrap`` (the `KEK` protocol); a KMS
client plugs in behind the same three members. Two local providers:

* `PassphraseFileKEK`: a random 256-bit KEK in a key file, itself wrapped under a key derived
  from a passphrase with a memory-hard KDF (Argon2id by default, scrypt optional; the KDF and its
  parameters are stored in the file and bound into the wrapping).
* `EnvKEK`: a base64-encoded 256-bit secret in an environment variable (``VEIL_KEK``).

Both wrap with AES-256-GCM, output ``nonce (12) || ciphertext || tag (16)`` (Tink's raw AES-GCM
format), with caller-supplied associated data naming what is wrapped (e.g. the keyset's name), so
a wrapped blob cannot be swapped for another one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
import tempfile
import unicodedata
from dataclasses import dataclass
from typing import Any, Protocol, TypeGuard, runtime_checkable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from veil.crypto.errors import CryptoError, KeyMissingError, WrongKeyError

Argon2id: Any
try:  # cryptography >= 44 with OpenSSL >= 3.2
    from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
except ImportError:  # pragma: no cover - older cryptography: scrypt only
    Argon2id = None

__all__ = [
    "KEK",
    "EnvKEK",
    "PassphraseFileKEK",
    "StaticKEK",
    "rewrap",
]

NONCE_SIZE = 12
TAG_SIZE = 16
FILE_FORMAT = "veil-kek/1"

#: RFC 9106, section 4, second recommended option (64 MiB, 3 passes, 4 lanes).
ARGON2ID_DEFAULT = {"iterations": 3, "lanes": 4, "memory_cost_kib": 64 * 1024}
#: scrypt with N = 2**17, r = 8, p = 1 (128 MiB), as OWASP recommends.
SCRYPT_DEFAULT = {"n": 2**17, "r": 8, "p": 1}


@dataclass(frozen=True)
class KdfBound:
    """The accepted range of one KDF parameter: ``opening..high`` in a key file being opened,
    ``creating..high`` for a new one. The floors for new files are OWASP's minimums; the
    ceilings keep a crafted key file from making Veil allocate unbounded memory."""

    opening: int
    creating: int
    high: int

    def low(self, creating: bool) -> int:
        return self.creating if creating else self.opening

    def holds(self, value: int, creating: bool) -> bool:
        return self.low(creating) <= value <= self.high


#: Argon2id parameters and their bounds (RFC 9106; OWASP floors for new files).
ARGON2ID_BOUNDS = {
    "iterations": KdfBound(opening=1, creating=2, high=64),
    "lanes": KdfBound(opening=1, creating=1, high=64),
    "memory_cost_kib": KdfBound(opening=1, creating=19 * 1024, high=4 * 1024 * 1024),
}
#: Argon2 needs at least 8 KiB of memory per lane.
ARGON2ID_MIN_KIB_PER_LANE = 8
#: scrypt's cost ``n`` (a power of two) and the ceilings of ``r`` and ``p``.
SCRYPT_BOUNDS = {
    "n": KdfBound(opening=2, creating=2**15, high=2**22),
    "r": KdfBound(opening=1, creating=1, high=32),
    "p": KdfBound(opening=1, creating=1, high=16),
}
#: scrypt's memory, ``128 n r`` bytes, at most 2 GiB.
SCRYPT_MAX_MEMORY = 2**31


@runtime_checkable
class KEK(Protocol):
    """A key-encryption key provider."""

    @property
    def kek_id(self) -> str:
        """A stable, non-secret identifier of the KEK (stored beside what it wrapped)."""
        ...

    def wrap(self, plaintext: bytes, aad: bytes) -> bytes: ...

    def unwrap(self, ciphertext: bytes, aad: bytes) -> bytes: ...


class _AesGcmKEK:
    """AES-256-GCM wrapping under a 32-byte KEK held in memory."""

    def __init__(self, key: bytes, kek_id: str) -> None:
        if len(key) != 32:
            raise CryptoError(f"a KEK must be 32 bytes, not {len(key)}")
        self._aes = AESGCM(key)
        self._kek_id = kek_id

    @property
    def kek_id(self) -> str:
        return self._kek_id

    def wrap(self, plaintext: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(NONCE_SIZE)
        return nonce + self._aes.encrypt(nonce, plaintext, aad)

    def unwrap(self, ciphertext: bytes, aad: bytes) -> bytes:
        if len(ciphertext) < NONCE_SIZE + TAG_SIZE:
            raise WrongKeyError("wrapped key too short (damaged)", where=self._kek_id)
        try:
            return self._aes.decrypt(ciphertext[:NONCE_SIZE], ciphertext[NONCE_SIZE:], aad)
        except InvalidTag:
            raise WrongKeyError(
                "the KEK cannot unwrap this (wrong KEK or associated data, "
                "or the wrapped key is damaged)",
                where=self._kek_id,
            ) from None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(kek_id={self._kek_id!r})"


def _fingerprint(key: bytes) -> str:
    return hmac.new(key, b"veil kek id", hashlib.sha256).hexdigest()[:16]


class StaticKEK(_AesGcmKEK):
    """A KEK from 32 raw bytes already in hand (tests, or a secret fetched elsewhere)."""

    def __init__(self, key: bytes, kek_id: str | None = None) -> None:
        super().__init__(key, kek_id or f"static:{_fingerprint(key)}")


class EnvKEK(_AesGcmKEK):
    """A KEK read from an environment variable holding base64 of 32 random bytes.

    Make one with ``python -c "from veil.kek.providers import EnvKEK; print(EnvKEK.new_secret())"``.
    """

    def __init__(self, var: str = "VEIL_KEK", environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        value = env.get(var)
        if not value:
            raise KeyMissingError(f"environment variable {var} is not set (base64 of 32 bytes)")
        try:
            key = base64.b64decode(
                value.strip().replace("-", "+").replace("_", "/") + "=" * (-len(value.strip()) % 4),
                validate=True,
            )
        except (binascii.Error, ValueError):
            raise CryptoError(f"environment variable {var} is not valid base64") from None
        if len(key) != 32:
            raise CryptoError(f"environment variable {var} must hold 32 bytes, not {len(key)}")
        super().__init__(key, f"env:{var}:{_fingerprint(key)}")

    @staticmethod
    def new_secret() -> str:
        return base64.b64encode(secrets.token_bytes(32)).decode("ascii")


# --------------------------------------------------------------------------------------------
# passphrase-protected key file


def _passphrase_bytes(passphrase: str | bytes) -> bytes:
    if isinstance(passphrase, str):
        passphrase = unicodedata.normalize("NFC", passphrase).encode("utf-8")
    if not passphrase:
        raise CryptoError("empty passphrase")
    return bytes(passphrase)


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


def _unb64(s: Any, what: str, where: str) -> bytes:
    try:
        return base64.b64decode(str(s), validate=True)
    except (binascii.Error, ValueError):
        raise CryptoError(f"key file field {what} is not valid base64", where=where) from None


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_argon2id(kdf: dict[str, Any], where: str, creating: bool) -> None:
    if Argon2id is None:  # pragma: no cover
        raise CryptoError("this cryptography build has no Argon2id", where=where)
    for p, bound in ARGON2ID_BOUNDS.items():
        v = kdf.get(p)
        if not _is_int(v):
            raise CryptoError(f"Argon2id parameter {p} missing or not an integer", where=where)
        if not bound.holds(v, creating):
            raise CryptoError(
                f"Argon2id {p}={v} outside {bound.low(creating)}..{bound.high}", where=where
            )
    if kdf["memory_cost_kib"] < ARGON2ID_MIN_KIB_PER_LANE * kdf["lanes"]:
        raise CryptoError("Argon2id memory must be at least 8 KiB per lane", where=where)


def _check_scrypt(kdf: dict[str, Any], where: str, creating: bool) -> None:
    n, r, par = kdf.get("n"), kdf.get("r"), kdf.get("p")
    if not all(_is_int(x) and x > 0 for x in (n, r, par)):
        raise CryptoError("scrypt parameters n, r, p must be positive integers", where=where)
    assert isinstance(n, int) and isinstance(r, int) and isinstance(par, int)
    bound = SCRYPT_BOUNDS["n"]
    if not bound.holds(n, creating) or n & (n - 1):
        raise CryptoError(
            f"scrypt n={n} must be a power of two in {bound.low(creating)}..{bound.high}",
            where=where,
        )
    if (
        r > SCRYPT_BOUNDS["r"].high
        or par > SCRYPT_BOUNDS["p"].high
        or 128 * n * r > SCRYPT_MAX_MEMORY
    ):
        raise CryptoError("scrypt r/p too large", where=where)


#: KDF name -> the check of its parameters.
_KDF_CHECKS = {"argon2id": _check_argon2id, "scrypt": _check_scrypt}


def _check_kdf(kdf: dict[str, Any], where: str, creating: bool) -> None:
    """Refuse a KDF that is unknown, or parameters outside :data:`ARGON2ID_BOUNDS` /
    :data:`SCRYPT_BOUNDS`, or a salt shorter than 16 bytes."""
    name = kdf.get("name")
    check = _KDF_CHECKS.get(name) if isinstance(name, str) else None
    if check is None:
        raise CryptoError(f"unknown KDF {name!r} (argon2id or scrypt)", where=where)
    check(kdf, where, creating)
    salt = kdf.get("salt")
    if not isinstance(salt, str) or len(_unb64(salt, "kdf.salt", where)) < 16:
        raise CryptoError("KDF salt missing or shorter than 16 bytes", where=where)


def _derive(passphrase: bytes, kdf: dict[str, Any]) -> bytes:
    salt = base64.b64decode(kdf["salt"])
    if kdf["name"] == "argon2id":
        assert Argon2id is not None
        return bytes(
            Argon2id(
                salt=salt,
                length=32,
                iterations=kdf["iterations"],
                lanes=kdf["lanes"],
                memory_cost=kdf["memory_cost_kib"],
            ).derive(passphrase)
        )
    return Scrypt(salt=salt, length=32, n=kdf["n"], r=kdf["r"], p=kdf["p"]).derive(passphrase)


def _file_aad(kek_id: str, kdf: dict[str, Any]) -> bytes:
    bound = {"format": FILE_FORMAT, "kek_id": kek_id, "kdf": kdf}
    return json.dumps(bound, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _write_atomic(path: str, data: bytes, overwrite: bool) -> None:
    if not overwrite and os.path.exists(path):
        raise CryptoError("key file already exists (refusing to overwrite)", where=path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".veil-kek.", dir=folder)  # mode 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # fails if path appeared meanwhile
            os.unlink(tmp)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class PassphraseFileKEK(_AesGcmKEK):
    """A random 256-bit KEK stored in a JSON key file, wrapped under a passphrase-derived key.

    ``PassphraseFileKEK.create(path, passphrase)`` makes the file (mode 0600);
    ``PassphraseFileKEK.open(path, passphrase)`` loads it, raising `WrongKeyError` ("wrong
    passphrase") if the passphrase is wrong. The file holds: format, kek_id, the KDF name, salt and
    parameters, and the wrapped KEK; the parameters are bound as associated data.
    """

    def __init__(self, key: bytes, kek_id: str, path: str) -> None:
        super().__init__(key, kek_id)
        self.path = path

    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        passphrase: str | bytes,
        *,
        kdf: str = "argon2id",
        kdf_params: dict[str, int] | None = None,
        overwrite: bool = False,
    ) -> PassphraseFileKEK:
        p = os.fspath(path)
        kek = secrets.token_bytes(32)
        kek_id = f"file:{secrets.token_hex(8)}"
        cls._write(p, kek, kek_id, _passphrase_bytes(passphrase), kdf, kdf_params, overwrite)
        return cls(kek, kek_id, p)

    @staticmethod
    def _write(
        path: str,
        kek: bytes,
        kek_id: str,
        passphrase: bytes,
        kdf: str,
        kdf_params: dict[str, int] | None,
        overwrite: bool,
    ) -> None:
        if kdf == "argon2id":
            params: dict[str, Any] = dict(kdf_params or ARGON2ID_DEFAULT)
        elif kdf == "scrypt":
            params = dict(kdf_params or SCRYPT_DEFAULT)
        else:
            raise CryptoError(f"unknown KDF {kdf!r} (argon2id or scrypt)")
        params = {"name": kdf, "salt": _b64(secrets.token_bytes(16)), **params}
        _check_kdf(params, path, creating=True)
        wrapping = AESGCM(_derive(passphrase, params))
        nonce = os.urandom(NONCE_SIZE)
        wrapped = nonce + wrapping.encrypt(nonce, kek, _file_aad(kek_id, params))
        doc = {"format": FILE_FORMAT, "kek_id": kek_id, "kdf": params, "wrapped_key": _b64(wrapped)}
        _write_atomic(path, (json.dumps(doc, indent=2) + "\n").encode("utf-8"), overwrite)

    @classmethod
    def open(cls, path: str | os.PathLike[str], passphrase: str | bytes) -> PassphraseFileKEK:
        p = os.fspath(path)
        key, kek_id = _load(p, _passphrase_bytes(passphrase))
        return cls(key, kek_id, p)

    @classmethod
    def change_passphrase(
        cls,
        path: str | os.PathLike[str],
        old: str | bytes,
        new: str | bytes,
        *,
        kdf: str = "argon2id",
        kdf_params: dict[str, int] | None = None,
    ) -> PassphraseFileKEK:
        """Re-protect the same KEK under a new passphrase (everything it wrapped stays valid)."""
        p = os.fspath(path)
        key, kek_id = _load(p, _passphrase_bytes(old))
        cls._write(p, key, kek_id, _passphrase_bytes(new), kdf, kdf_params, overwrite=True)
        return cls(key, kek_id, p)


def _load(p: str, pw: bytes) -> tuple[bytes, str]:
    try:
        with open(p, "rb") as f:
            raw = f.read(1 << 20)
    except FileNotFoundError:
        raise KeyMissingError("key file not found", where=p) from None
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise CryptoError("key file is not valid JSON", where=p) from None
    if not isinstance(doc, dict) or doc.get("format") != FILE_FORMAT:
        raise CryptoError(f"not a Veil key file (expected format {FILE_FORMAT!r})", where=p)
    kdf, kek_id = doc.get("kdf"), doc.get("kek_id")
    if not isinstance(kdf, dict) or not isinstance(kek_id, str):
        raise CryptoError("key file lacks kdf or kek_id", where=p)
    _check_kdf(kdf, p, creating=False)
    wrapped = _unb64(doc.get("wrapped_key", ""), "wrapped_key", p)
    if len(wrapped) != NONCE_SIZE + 32 + TAG_SIZE:
        raise CryptoError("key file wrapped_key has the wrong length", where=p)
    wrapping = AESGCM(_derive(pw, kdf))
    try:
        key = wrapping.decrypt(wrapped[:NONCE_SIZE], wrapped[NONCE_SIZE:], _file_aad(kek_id, kdf))
    except InvalidTag:
        raise WrongKeyError("wrong passphrase (or the key file was altered)", where=p) from None
    return key, kek_id


def rewrap(blob: bytes, aad: bytes, old: KEK, new: KEK) -> bytes:
    """Move one wrapped secret from ``old`` to ``new`` KEK (KEK rotation)."""
    return new.wrap(old.unwrap(blob, aad), aad)
