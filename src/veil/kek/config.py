"""The workspace's KEK: which provider ``veil.toml``'s ``[keys]`` table names, and opening it.

    [keys]
    kek = "passphrase-file"   # or "env", "pkcs11" (veil.kek.pkcs11), "aws-kms" (veil.kek.kms)
    path = "keys/kek.json"           # passphrase-file: the key file, relative to the workspace

The passphrase comes from ``VEIL_KEK_PASSPHRASE``, the HSM's PIN from ``VEIL_HSM_PIN`` (else a
prompt on a terminal); neither is ever read from ``veil.toml``. An opened KEK is cached per
process (a key file by its digest and a keyed hash of the passphrase, an HSM key by module,
token, label and a keyed hash of the PIN, a KMS key by key id, region and endpoint), so a run
pays the memory-hard KDF, the HSM login or the KMS client set-up once.
"""

from __future__ import annotations

import getpass
import hashlib
import hmac
import json
import os
import re
import secrets
import sys
import threading
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from veil.crypto.errors import CryptoError, KeyMissingError
from veil.kek.kms import KmsSettings, open_kms_kek
from veil.kek.pkcs11 import HSM_PIN_ENV, Pkcs11Settings, close_sessions, open_pkcs11_kek
from veil.kek.providers import ARGON2ID_DEFAULT, KEK, SCRYPT_DEFAULT, EnvKEK, PassphraseFileKEK

__all__ = [
    "DEFAULT_KEK_PATH",
    "DEFAULT_KEK_VAR",
    "PASSPHRASE_ENV",
    "PROVIDERS",
    "KeysConfig",
    "clear_kek_cache",
    "Passphrase",
    "create_kek",
    "load_kek",
    "workspace_kek",
    "write_keys_config",
]

PASSPHRASE_ENV = "VEIL_KEK_PASSPHRASE"
DEFAULT_KEK_PATH = "keys/kek.json"
DEFAULT_KEK_VAR = "VEIL_KEK"
Passphrase = str | bytes | Callable[[bool], str | bytes] | None


# --------------------------------------------------------------------------------------------
# configuration


Provider = Literal["passphrase-file", "env", "pkcs11", "aws-kms"]
#: The providers ``[keys] kek`` may name.
PROVIDERS: tuple[str, ...] = ("passphrase-file", "env", "pkcs11", "aws-kms")
#: The settings each provider reads from ``[keys]`` (anything else is refused).
PROVIDER_FIELDS: dict[str, tuple[str, ...]] = {
    "passphrase-file": ("path", "kdf", "kdf_params"),
    "env": ("variable",),
    "pkcs11": Pkcs11Settings.FIELDS,
    "aws-kms": KmsSettings.FIELDS,
}
#: Settings that must never be in ``veil.toml``, and where they come from instead.
SECRET_SETTINGS = {"pin": HSM_PIN_ENV, "passphrase": PASSPHRASE_ENV,
                   "aws_secret_access_key": "the AWS credential chain"}


@dataclass(frozen=True)
class KeysConfig:
    """The ``[keys]`` table of ``veil.toml``: which KEK provider and where it is."""

    kek: Provider
    path: Path | None = None
    variable: str = DEFAULT_KEK_VAR
    kdf: str = "argon2id"
    kdf_params: dict[str, int] | None = None
    explicit: bool = True  # False when inferred (no [keys] table)
    hsm: Pkcs11Settings | None = None  # kek = "pkcs11"
    kms: KmsSettings | None = None  # kek = "aws-kms"

    @classmethod
    def from_workspace(cls, root: Path) -> KeysConfig | None:
        cfg_path = root / "veil.toml"
        try:
            doc = tomllib.loads(cfg_path.read_text("utf-8"))
        except FileNotFoundError:
            doc = {}
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise CryptoError(f"invalid workspace config: {exc}", where=str(cfg_path)) from None
        keys = doc.get("keys")
        if keys is None:
            if os.environ.get(DEFAULT_KEK_VAR):
                return cls("env", variable=DEFAULT_KEK_VAR, explicit=False)
            if (root / DEFAULT_KEK_PATH).is_file():
                return cls("passphrase-file", path=root / DEFAULT_KEK_PATH, explicit=False)
            return None
        if not isinstance(keys, dict):
            raise CryptoError("[keys] must be a table", where=str(cfg_path))
        return cls.from_table(keys, root, where=f"{cfg_path} [keys]")

    @classmethod
    def from_table(cls, keys: dict[str, Any], root: Path, where: str) -> KeysConfig:
        """The configuration a ``[keys]`` table describes (paths relative to ``root``)."""
        kind = keys.get("kek", "passphrase-file")
        if kind not in PROVIDERS:
            raise CryptoError(f"kek = {kind!r}: use one of {', '.join(PROVIDERS)}", where=where)
        for name, source in SECRET_SETTINGS.items():
            if name in keys:
                raise CryptoError(f"{name} must not be in veil.toml: it comes from {source}",
                                  where=where)
        unknown = sorted(set(keys) - {"kek", *PROVIDER_FIELDS[kind]})
        if unknown:
            raise CryptoError(f"unknown setting(s) {', '.join(unknown)} for kek = {kind!r}",
                              where=where)
        return _PARSERS[kind](keys, root, where)

    def describe(self) -> str:
        if self.hsm is not None:
            return self.hsm.describe()
        if self.kms is not None:
            return self.kms.describe()
        if self.kek == "env":
            return f"env {self.variable}"
        return f"passphrase-file {self.path}"

    def toml_table(self, root: Path) -> dict[str, Any]:
        if self.hsm is not None:
            return self.hsm.toml_table()
        if self.kms is not None:
            return self.kms.toml_table()
        if self.kek == "env":
            return {"kek": "env", "variable": self.variable}
        assert self.path is not None
        try:
            rel: Path | str = self.path.resolve().relative_to(root.resolve())
        except ValueError:
            rel = self.path
        out: dict[str, Any] = {"kek": "passphrase-file", "path": Path(rel).as_posix()}
        if self.kdf != "argon2id":
            out["kdf"] = self.kdf
        if self.kdf_params:
            out["kdf_params"] = dict(self.kdf_params)
        return out


def _parse_file(keys: dict[str, Any], root: Path, where: str) -> KeysConfig:
    p = Path(str(keys.get("path", DEFAULT_KEK_PATH)))
    kdf = str(keys.get("kdf", "argon2id"))
    params = keys.get("kdf_params")
    if params is not None and not (
        isinstance(params, dict) and all(isinstance(v, int) for v in params.values())
    ):
        raise CryptoError("kdf_params must be a table of integers", where=where)
    return KeysConfig("passphrase-file", path=p if p.is_absolute() else root / p, kdf=kdf,
                      kdf_params=params)


def _parse_env(keys: dict[str, Any], root: Path, where: str) -> KeysConfig:
    var = keys.get("variable", DEFAULT_KEK_VAR)
    if not isinstance(var, str) or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", var):
        raise CryptoError(f"variable {var!r} is not an environment variable name", where=where)
    return KeysConfig("env", variable=var)


def _parse_pkcs11(keys: dict[str, Any], root: Path, where: str) -> KeysConfig:
    return KeysConfig("pkcs11", hsm=Pkcs11Settings.from_table(keys, where))


def _parse_kms(keys: dict[str, Any], root: Path, where: str) -> KeysConfig:
    return KeysConfig("aws-kms", kms=KmsSettings.from_table(keys, where))


#: Provider -> the parser of its ``[keys]`` table.
_PARSERS: dict[str, Callable[[dict[str, Any], Path, str], KeysConfig]] = {
    "passphrase-file": _parse_file,
    "env": _parse_env,
    "pkcs11": _parse_pkcs11,
    "aws-kms": _parse_kms,
}


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + "}"
    return json.dumps(str(v), ensure_ascii=False)  # a valid TOML basic string


_TABLE_HEADER = re.compile(r"^\s*\[")
_KEYS_HEADER = re.compile(r"^\s*\[\s*keys\s*\]\s*(#.*)?$")


def write_keys_config(root: Path, table: dict[str, Any]) -> Path:
    """Replace (or add) the ``[keys]`` table of ``root/veil.toml``, atomically."""
    cfg_path = root / "veil.toml"
    try:
        text = cfg_path.read_text("utf-8")
    except FileNotFoundError:
        text = ""
    out: list[str] = []
    skipping = False
    for line in text.splitlines():
        if _KEYS_HEADER.match(line):
            skipping = True
            continue
        if skipping and _TABLE_HEADER.match(line):
            skipping = False
        if not skipping:
            out.append(line)
    while out and not out[-1].strip():
        out.pop()
    out += ["", "[keys]", "# The key-encryption key (KEK) that wraps this workspace's keys."]
    out += [f"{k} = {_toml_value(v)}" for k, v in table.items()]
    new = "\n".join(out).lstrip("\n") + "\n"
    tomllib.loads(new)  # never write a config we cannot read back
    tmp = cfg_path.with_name(f".veil.toml.{secrets.token_hex(4)}.tmp")
    try:
        tmp.write_text(new, "utf-8")
        os.replace(tmp, cfg_path)
    finally:
        tmp.unlink(missing_ok=True)
    return cfg_path


# --------------------------------------------------------------------------------------------
# KEK loading (cached per process)


_PROCESS_SECRET = secrets.token_bytes(32)
_KEK_CACHE: dict[tuple[str, ...], KEK] = {}
_CACHE_LOCK = threading.Lock()


def _get_passphrase(source: Passphrase, confirm: bool) -> str | bytes:
    if source is not None and not callable(source):
        return source
    if callable(source):
        return source(confirm)
    env = os.environ.get(PASSPHRASE_ENV)
    if env:
        return env
    if sys.stdin is not None and sys.stdin.isatty():
        pw = getpass.getpass("KEK passphrase: ")
        if confirm and getpass.getpass("Repeat the passphrase: ") != pw:
            raise CryptoError("the passphrases do not match")
        return pw
    raise KeyMissingError(
        f"the key file needs its passphrase: set {PASSPHRASE_ENV} (or run on a terminal)"
    )


def _get_pin(where: str) -> str:
    pin = os.environ.get(HSM_PIN_ENV)
    if pin:
        return pin
    if sys.stdin is not None and sys.stdin.isatty():
        return getpass.getpass("HSM user PIN: ")
    raise KeyMissingError(f"the HSM needs its user PIN: set {HSM_PIN_ENV} (or run on a "
                          "terminal); it is never read from veil.toml", where=where)


def _cached(key: tuple[str, ...], open_: Callable[[], KEK]) -> KEK:
    """The KEK cached under ``key`` in this process, opened by ``open_`` on a miss."""
    with _CACHE_LOCK:
        hit = _KEK_CACHE.get(key)
    if hit is not None:
        return hit
    kek = open_()
    with _CACHE_LOCK:
        return _KEK_CACHE.setdefault(key, kek)


def _tag(secret: str | bytes) -> str:
    b = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    return hmac.new(_PROCESS_SECRET, b, hashlib.sha256).hexdigest()


def _load_file(cfg: KeysConfig, passphrase: Passphrase, create: bool) -> KEK:
    assert cfg.path is not None
    if create:
        cfg.path.parent.mkdir(parents=True, exist_ok=True)
        if cfg.kdf not in ("argon2id", "scrypt"):
            raise CryptoError(f"unknown KDF {cfg.kdf!r} (argon2id or scrypt)")
        params = cfg.kdf_params or (ARGON2ID_DEFAULT if cfg.kdf == "argon2id"
                                    else SCRYPT_DEFAULT)
        return PassphraseFileKEK.create(cfg.path, _get_passphrase(passphrase, confirm=True),
                                        kdf=cfg.kdf, kdf_params=params)
    path = os.path.realpath(cfg.path)
    try:
        with open(path, "rb") as f:
            digest = hashlib.sha256(f.read(1 << 20)).hexdigest()
    except FileNotFoundError:
        raise KeyMissingError(
            "key file not found (run `veil keys init`, or fix [keys] path in veil.toml)",
            where=str(cfg.path),
        ) from None
    pw = _get_passphrase(passphrase, confirm=False)
    return _cached(("file", path, digest, _tag(pw)), lambda: PassphraseFileKEK.open(path, pw))


def _load_env(cfg: KeysConfig, passphrase: Passphrase, create: bool) -> KEK:
    return EnvKEK(cfg.variable)


def _load_pkcs11(cfg: KeysConfig, passphrase: Passphrase, create: bool) -> KEK:
    hsm = cfg.hsm
    assert hsm is not None
    where = "veil.toml [keys] (pkcs11)"
    pin = _get_pin(where)
    key = ("pkcs11", os.path.realpath(hsm.module), hsm.token, hsm.key, _tag(pin))
    if create:
        with _CACHE_LOCK:
            _KEK_CACHE.pop(key, None)
    return _cached(key, lambda: open_pkcs11_kek(hsm, pin, create=create, where=where))


def _load_kms(cfg: KeysConfig, passphrase: Passphrase, create: bool) -> KEK:
    kms = cfg.kms
    assert kms is not None
    key = ("aws-kms", kms.key_id, kms.region, kms.endpoint_url or "")
    return _cached(key, lambda: open_kms_kek(kms, where="veil.toml [keys] (aws-kms)"))


#: Provider -> how to open (``create``: make) its KEK.
_LOADERS: dict[str, Callable[[KeysConfig, Passphrase, bool], KEK]] = {
    "passphrase-file": _load_file,
    "env": _load_env,
    "pkcs11": _load_pkcs11,
    "aws-kms": _load_kms,
}


def load_kek(cfg: KeysConfig, passphrase: Passphrase = None) -> KEK:
    """Open the configured KEK, cached per process (a wrong passphrase or PIN raises
    `WrongKeyError`). The HSM session and the KMS client are opened once per process."""
    return _LOADERS[cfg.kek](cfg, passphrase, False)


def clear_kek_cache() -> None:
    """Forget every opened KEK of this process and log out of HSM tokens (tests; after a
    passphrase change)."""
    with _CACHE_LOCK:
        _KEK_CACHE.clear()
    close_sessions()


def create_kek(cfg: KeysConfig, passphrase: Passphrase = None) -> KEK:
    """Make a new KEK as ``cfg`` describes: a new key file; a new AES-256 key in the HSM token
    unless it has one with that label. An env KEK must already be set, a KMS key must exist."""
    return _LOADERS[cfg.kek](cfg, passphrase, True)


def workspace_kek(root: Path, passphrase: Passphrase = None) -> KEK:
    """The KEK of the workspace at ``root``, opened (cached per process); a clear error when
    the workspace has none."""
    cfg = KeysConfig.from_workspace(Path(root))
    if cfg is None:
        raise KeyMissingError(
            "this workspace has no key-encryption key: run `veil keys init` (or set VEIL_KEK)",
            where=str(Path(root) / "veil.toml"))
    return load_kek(cfg, passphrase)
