"""Moving a workspace to a new KEK, of the same provider or another (a key file, an environment
secret, an HSM key, a KMS key): what ``veil keys rewrap`` does, as one call.

Everything wrapped under the KEK moves: keysets and subject keys (the store, one transaction)
and the sealed secrets (``keys/**/*.sealed``: the audit signing key, the reference key, epoch
keys...). The new sealed files and the new ``[keys]`` table of ``veil.toml`` are put in place
inside the store's transaction, just before it commits; if anything fails before the commit,
the files are put back, so the workspace stays on the old KEK with everything readable. The one
window left is a crash of the process (power loss, kill -9) between replacing the files and the
commit: then the old sealed files are gone and the store is still under the old KEK.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from veil.crypto.errors import CryptoError
from veil.kek.config import PROVIDERS, KeysConfig, create_kek, write_keys_config
from veil.kek.sealed import reseal

if TYPE_CHECKING:
    from veil.kek.config import Passphrase
    from veil.kek.providers import KEK
    from veil.keys.manager import KeyManager

__all__ = ["KekRotation", "ProviderOptions", "provider_config", "rotate_kek"]


@dataclass(frozen=True)
class ProviderOptions:
    """What the command line says about a KEK: the provider and its settings (unused ones
    stay None). ``key`` is the HSM key's label, or the KMS key (ARN, id or alias)."""

    kek: str = "passphrase-file"
    path: str | None = None
    variable: str | None = None
    module: str | None = None
    token: str | None = None
    key: str | None = None
    region: str | None = None
    endpoint_url: str | None = None


#: Provider -> [keys] setting -> the ProviderOptions field it comes from.
_SETTINGS = {
    "passphrase-file": {"path": "path"},
    "env": {"variable": "variable"},
    "pkcs11": {"module": "module", "token": "token", "key": "key"},
    "aws-kms": {"key_id": "key", "region": "region", "endpoint_url": "endpoint_url"},
}
#: The option each ProviderOptions field is given by (for error messages).
_OPTION = {"path": "--path", "variable": "--variable", "module": "--module", "token": "--token",
           "key": "--key", "region": "--region", "endpoint_url": "--endpoint-url"}


def provider_config(root: Path, opts: ProviderOptions, *, default_path: str) -> KeysConfig:
    """The `KeysConfig` the options describe, checked as ``veil.toml`` would be; an option
    that does not belong to the provider is refused."""
    if opts.kek not in PROVIDERS:
        raise CryptoError(f"unknown KEK provider {opts.kek!r}: use {', '.join(PROVIDERS)}",
                          where="--kek/--to")
    wanted = _SETTINGS[opts.kek]
    stray = [_OPTION[f] for f in _OPTION if getattr(opts, f) is not None
             and f not in wanted.values()]
    if stray:
        raise CryptoError(f"{', '.join(stray)} do(es) not apply to a {opts.kek} KEK",
                          where="--kek/--to")
    table: dict[str, Any] = {"kek": opts.kek}
    for setting, field in wanted.items():
        if getattr(opts, field) is not None:
            table[setting] = getattr(opts, field)
    if opts.kek == "passphrase-file":
        table.setdefault("path", default_path)
    return KeysConfig.from_table(table, root, where="options")


@dataclass(frozen=True)
class KekRotation:
    """What a move changed. ``old_config`` is the previous ``[keys]``; the old KEK (key file,
    HSM key, KMS key) protects nothing here any more: destroying it (and its backups) makes
    old copies of the key store and of ``keys/`` useless."""

    old_kek_id: str
    new_kek_id: str
    keysets: int
    subject_keys: int
    sealed_secrets: int
    config: KeysConfig
    old_config: KeysConfig | None

    @property
    def old_key_file(self) -> str | None:
        old = self.old_config
        return str(old.path) if old is not None and old.kek == "passphrase-file" else None


@dataclass(frozen=True)
class _Resealed:
    path: Path
    old: bytes
    new: bytes


def _sealed_files(root: Path) -> list[Path]:
    keys = root / "keys"
    return sorted(keys.rglob("*.sealed")) if keys.is_dir() else []


def _reseal_all(root: Path, old: KEK, new: KEK) -> list[_Resealed]:
    """Every sealed secret, unsealed with ``old`` and sealed under ``new`` (in memory)."""
    out = []
    for p in _sealed_files(root):
        data = p.read_bytes()
        out.append(_Resealed(p, data, reseal(p, data, old, new)))
    return out


def _replace(path: Path, data: bytes) -> None:
    """Write ``data`` over ``path`` atomically, owner-only (0600)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class _Switch:
    """Puts the new sealed files and ``[keys]`` in place (inside the store's transaction), and
    puts the old ones back if the transaction does not commit."""

    def __init__(self, root: Path, sealed: list[_Resealed], table: dict[str, Any]) -> None:
        self.root, self.sealed, self.table = root, sealed, table
        self.done: list[_Resealed] = []
        cfg = root / "veil.toml"
        self.old_toml = cfg.read_bytes() if cfg.is_file() else None

    def __call__(self) -> None:
        if [s.path for s in self.sealed] != _sealed_files(self.root):
            raise CryptoError("a sealed secret appeared or went while re-wrapping: run "
                              "`veil keys rewrap` again", where=str(self.root / "keys"))
        for s in self.sealed:
            _replace(s.path, s.new)
            self.done.append(s)
        write_keys_config(self.root, self.table)

    def undo(self) -> None:
        for s in reversed(self.done):
            _replace(s.path, s.old)
        cfg = self.root / "veil.toml"
        if self.old_toml is None:
            cfg.unlink(missing_ok=True)
        else:
            _replace(cfg, self.old_toml)


def rotate_kek(manager: KeyManager, to: str | KeysConfig = "passphrase-file", *,
               path: str | Path | None = None, variable: str = "VEIL_KEK",
               passphrase: Passphrase = None) -> KekRotation:
    """Move the workspace to a new KEK and re-wrap everything under it, without touching
    encrypted data. ``to`` is a provider name (``passphrase-file``: a new key file at ``path``,
    default ``keys/kek-<UTC time>.json``, protected by ``passphrase``; ``env``: ``variable``)
    or a ready `KeysConfig` (an HSM key, created in the token if missing; a KMS key)."""
    root = Path(manager.workspace.root)
    old_cfg = manager.config()
    old = manager.kek  # asks for the current passphrase / PIN first
    if isinstance(to, KeysConfig):
        cfg = to
    else:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        opts = ProviderOptions(to, path=str(path) if path and to == "passphrase-file" else None,
                               variable=variable if to == "env" else None)
        cfg = provider_config(root, opts, default_path=f"keys/kek-{stamp}.json")
    new = create_kek(cfg, passphrase)
    if new.kek_id == old.kek_id:
        raise CryptoError("the new KEK is the current KEK")
    probe = secrets.token_bytes(32)
    if new.unwrap(new.wrap(probe, b"veil:kek-probe"), b"veil:kek-probe") != probe:
        raise CryptoError("the new KEK does not give back what it wrapped", where=new.kek_id)
    switch = _Switch(root, _reseal_all(root, old, new), cfg.toml_table(root))
    try:
        counts = manager.rewrap(new, before_commit=switch)
    except BaseException:
        if manager.kek is not new:  # not committed: the workspace stays on the old KEK
            switch.undo()
        raise
    return KekRotation(old.kek_id, new.kek_id, counts["keysets"], counts["subject_keys"],
                       len(switch.sealed), cfg, old_cfg)
