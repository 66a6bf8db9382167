"""The workspace's KEK: which provider ``veil.toml``'s ``[keys]`` table names, and opening it.

    [keys]
    kek = "passphrase-file"          # or "env"
    path = "keys/kek.json"           # passphrase-file: the key file, relative to the workspace

The passphrase comes from ``VEIL_KEK_PASSPHRASE``, else a prompt on a terminal. An opened
passphrase-file KEK is cached per process (keyed by the file's digest and a keyed hash of the
passphrase), so a run pays the memory-hard KDF once.
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
from veil.kek.providers import ARGON2ID_DEFAULT, KEK, SCRYPT_DEFAULT, EnvKEK, PassphraseFileKEK

__all__ = [
    "DEFAULT_KEK_PATH",
    "DEFAULT_KEK_VAR",
    "PASSPHRASE_ENV",
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


@dataclass(frozen=True)
class KeysConfig:
    """The ``[keys]`` table of ``veil.toml``: which KEK provider and where it is."""

    kek: Literal["passphrase-file", "env"]
    path: Path | None = None
    variable: str = DEFAULT_KEK_VAR
    kdf: str = "argon2id"
    kdf_params: dict[str, int] | None = None
    explicit: bool = True  # False when inferred (no [keys] table)

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
        where = f"{cfg_path} [keys]"
        if not isinstance(keys, dict):
            raise CryptoError("[keys] must be a table", where=str(cfg_path))
        unknown = sorted(set(keys) - {"kek", "path", "variable", "kdf", "kdf_params"})
        if unknown:
            raise CryptoError(f"unknown setting(s) {', '.join(unknown)}", where=where)
        kind = keys.get("kek", "passphrase-file")
        if kind == "passphrase-file":
            p = Path(str(keys.get("path", DEFAULT_KEK_PATH)))
            kdf = str(keys.get("kdf", "argon2id"))
            params = keys.get("kdf_params")
            if params is not None and not (
                isinstance(params, dict) and all(isinstance(v, int) for v in params.values())
            ):
                raise CryptoError("kdf_params must be a table of integers", where=where)
            return cls("passphrase-file", path=p if p.is_absolute() else root / p, kdf=kdf,
                       kdf_params=params)
        if kind == "env":
            var = keys.get("variable", DEFAULT_KEK_VAR)
            if not isinstance(var, str) or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", var):
                raise CryptoError(f"variable {var!r} is not an environment variable name",
                                  where=where)
            return cls("env", variable=var)
        raise CryptoError(f"kek = {kind!r}: use \"passphrase-file\" or \"env\"", where=where)

    def describe(self) -> str:
        if self.kek == "env":
            return f"env {self.variable}"
        return f"passphrase-file {self.path}"

    def toml_table(self, root: Path) -> dict[str, Any]:
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


def load_kek(cfg: KeysConfig, passphrase: Passphrase = None) -> KEK:
    """Open the configured KEK (a wrong passphrase raises `WrongKeyError`)."""
    if cfg.kek == "env":
        return EnvKEK(cfg.variable)
    assert cfg.path is not None
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
    pw_b = pw.encode("utf-8") if isinstance(pw, str) else bytes(pw)
    tag = hmac.new(_PROCESS_SECRET, pw_b, hashlib.sha256).hexdigest()
    key = ("file", path, digest, tag)
    with _CACHE_LOCK:
        hit = _KEK_CACHE.get(key)
    if hit is not None:
        return hit
    kek = PassphraseFileKEK.open(path, pw)
    with _CACHE_LOCK:
        _KEK_CACHE[key] = kek
    return kek


def clear_kek_cache() -> None:
    """Forget every opened KEK of this process (tests; after a passphrase change)."""
    with _CACHE_LOCK:
        _KEK_CACHE.clear()


def create_kek(cfg: KeysConfig, passphrase: Passphrase = None) -> KEK:
    """Make a new KEK as ``cfg`` describes (a new key file; an env KEK must already be set)."""
    if cfg.kek == "env":
        return EnvKEK(cfg.variable)
    assert cfg.path is not None
    cfg.path.parent.mkdir(parents=True, exist_ok=True)
    if cfg.kdf not in ("argon2id", "scrypt"):
        raise CryptoError(f"unknown KDF {cfg.kdf!r} (argon2id or scrypt)")
    params = cfg.kdf_params or (ARGON2ID_DEFAULT if cfg.kdf == "argon2id" else SCRYPT_DEFAULT)
    return PassphraseFileKEK.create(
        cfg.path, _get_passphrase(passphrase, confirm=True), kdf=cfg.kdf, kdf_params=params
    )


def workspace_kek(root: Path, passphrase: Passphrase = None) -> KEK:
    """The KEK of the workspace at ``root``, opened (cached per process); a clear error when
    the workspace has none."""
    cfg = KeysConfig.from_workspace(Path(root))
    if cfg is None:
        raise KeyMissingError(
            "this workspace has no key-encryption key: run `veil keys init` (or set VEIL_KEK)",
            where=str(Path(root) / "veil.toml"))
    return load_kek(cfg, passphrase)
