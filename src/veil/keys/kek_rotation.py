"""KEK rotation for a workspace: a new KEK, every key re-wrapped under it, ``veil.toml`` pointed
at it. What ``veil keys rewrap`` does, as one call."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from veil.crypto.errors import CryptoError

if TYPE_CHECKING:
    from veil.keys.manager import KeyManager, KeysConfig, Passphrase


@dataclass(frozen=True)
class KekRotation:
    """What a rotation changed. ``old_key_file`` is the old passphrase-protected key file, if
    any: it protects nothing here any more, and destroying it (and its backups) makes old
    copies of the key store useless."""

    old_kek_id: str
    new_kek_id: str
    keysets: int
    subject_keys: int
    config: KeysConfig
    old_key_file: str | None


def rotate_kek(manager: KeyManager, to: Literal["passphrase-file", "env"] = "passphrase-file",
               *, path: str | Path | None = None, variable: str = "VEIL_KEK",
               passphrase: Passphrase = None) -> KekRotation:
    """Create a new KEK (``path``: its key file, default ``keys/kek-<UTC time>.json``;
    ``passphrase``: the new file's passphrase), re-wrap every keyset and subject key under it
    without touching encrypted data, then write the new ``[keys]`` into ``veil.toml``."""
    from veil.keys.manager import KeysConfig, create_kek, write_keys_config

    if to not in ("passphrase-file", "env"):
        raise CryptoError(f"unknown KEK provider {to!r}: use passphrase-file or env")
    old = manager.kek  # asks for the current passphrase first
    root = Path(manager.workspace.root)
    if to == "passphrase-file":
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        p = Path(path or f"keys/kek-{stamp}.json")
        cfg = KeysConfig("passphrase-file", path=p if p.is_absolute() else root / p)
    else:
        cfg = KeysConfig("env", variable=variable)
    new = create_kek(cfg, passphrase)
    if new.kek_id == old.kek_id:
        raise CryptoError("the new KEK is the current KEK")
    counts = manager.rewrap(new)
    write_keys_config(root, cfg.toml_table(root))
    return KekRotation(old.kek_id, new.kek_id, counts["keysets"], counts["subject_keys"], cfg,
                       getattr(old, "path", None) or None)


__all__ = ["KekRotation", "rotate_kek"]
