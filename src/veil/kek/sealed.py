"""The workspace's own secrets, sealed under the KEK at rest.

Besides keysets and subject keys (in the store), a workspace keeps a few secrets of its own: the
audit log's Ed25519 signing key, the key of the subjects' keyed references (pseudonyms in the
consent ledger, lineage and audit events), the service's API-key pepper. Each lives in
``<workspace>/keys/<name>.sealed``: a small JSON document holding the secret wrapped under the
workspace's KEK (AES-256-GCM through the KEK provider, the secret's name bound as associated
data), created owner-only (0600). Without the KEK (its passphrase, the HSM, the KMS) the file is
useless: a copy of the workspace does not sign heads, re-identify pseudonyms or forge API keys.

A plaintext secret file left by an older version (``legacy``) is sealed on first use and then
removed, so upgrading loses nothing.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import threading
from collections.abc import Callable
from pathlib import Path

from veil.crypto.errors import CryptoError
from veil.kek.config import workspace_kek
from veil.kek.providers import KEK

__all__ = ["FORMAT", "open_sealed", "reseal", "sealed_path", "sealed_secret", "seal_to"]

FORMAT = "veil-sealed/1"
_NAME_OK = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-")
_CACHE: dict[tuple[str, str, str], bytes] = {}  # (file, kek id, file digest) -> secret
_LOCK = threading.Lock()


def _aad(name: str) -> bytes:
    return b"veil:sealed:" + name.encode("ascii")


def sealed_path(root: Path, name: str) -> Path:
    """Where the sealed secret ``name`` of the workspace at ``root`` lives."""
    if not name or set(name) - _NAME_OK:
        raise ValueError(f"invalid sealed secret name {name!r}")
    return Path(root) / "keys" / f"{name}.sealed"


def _write_private(path: Path, data: bytes) -> bool:
    """Create ``path`` (0600) with ``data`` unless it exists; False when another writer won."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)  # atomic, and never replaces a secret another process made
        except FileExistsError:
            return False
        return True
    finally:
        tmp.unlink(missing_ok=True)


def seal_to(path: Path, name: str, secret: bytes, kek: KEK) -> bytes:
    """The document of ``secret`` sealed under ``kek``; written to ``path`` when given."""
    doc = {"format": FORMAT, "name": name, "kek_id": kek.kek_id,
           "wrapped": base64.b64encode(kek.wrap(secret, _aad(name))).decode("ascii")}
    return (json.dumps(doc, indent=1) + "\n").encode("utf-8")


def _open(path: Path, name: str, data: bytes, kek: KEK) -> bytes:
    try:
        doc = json.loads(data)
        if doc.get("format") != FORMAT or doc.get("name") != name:
            raise ValueError("not a sealed secret of this name")
        wrapped = base64.b64decode(doc["wrapped"], validate=True)
    except (ValueError, KeyError, TypeError) as exc:
        raise CryptoError(f"damaged sealed secret ({exc})", where=str(path)) from None
    return kek.unwrap(wrapped, _aad(name))


def open_sealed(path: Path, name: str, kek: KEK) -> bytes:
    """The secret ``name`` sealed in the document at ``path`` (any folder: key epochs keep
    theirs in ``keys/epochs/``), unsealed with ``kek``; FileNotFoundError when it is missing."""
    return _open(path, name, path.read_bytes(), kek)


def reseal(path: Path, data: bytes, old: KEK, new: KEK) -> bytes:
    """The sealed document ``data`` (read from ``path``) unsealed with ``old`` and sealed again
    under ``new`` (KEK rotation: `veil keys rewrap`); a document not sealed by ``old`` raises."""
    try:
        name = json.loads(data)["name"]
    except (ValueError, KeyError, TypeError) as exc:
        raise CryptoError(f"damaged sealed secret ({exc})", where=str(path)) from None
    return seal_to(path, str(name), _open(path, str(name), data, old), new)


def sealed_secret(root: Path, name: str, *, make: Callable[[], bytes] | None = None,
                  legacy: Path | None = None, kek: KEK | None = None) -> bytes:
    """The workspace's secret ``name``, unsealed with the workspace's KEK (or ``kek``).

    Missing: sealed from ``legacy`` (a plaintext file an older version wrote, removed once
    sealed) when that exists, else made by ``make`` (default 32 random bytes) and sealed.
    Concurrent creators agree on one secret. Unsealed secrets are cached per process.
    """
    path = sealed_path(root, name)
    kek = kek or workspace_kek(Path(root))
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        data = None
    if data is None:
        if legacy is not None and legacy.is_file():
            secret = legacy.read_bytes()
        else:
            secret = (make or (lambda: secrets.token_bytes(32)))()
        if not _write_private(path, seal_to(path, name, secret, kek)):
            data = path.read_bytes()  # another process sealed one first: use theirs
        elif legacy is not None:
            legacy.unlink(missing_ok=True)
        if data is None:
            return secret
    key = (str(path), kek.kek_id, base64.b64encode(data[:4096]).decode())
    with _LOCK:
        hit = _CACHE.get(key)
    if hit is not None:
        return hit
    secret = _open(path, name, data, kek)
    with _LOCK:
        _CACHE[key] = secret
    return secret

