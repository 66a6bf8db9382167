"""Where key epochs keep their keys: one sealed file per epoch, outside the database.

``<workspace>/keys/epochs/epoch-<id>.sealed`` (0600, in a 0700 folder) is a sealed secret of
`veil.kek.sealed` (the epoch's 256-bit key wrapped under the KEK, the name ``epoch-<id>`` bound
as associated data), so `veil keys rewrap` moves it to a new KEK with the other sealed secrets.

The key is not in the database on purpose: a database backup holds subject keys wrapped under
an epoch key, never the epoch key itself, so once the epoch's file is deleted those backups
stop decrypting (see `veil.keys.epochs`).

Deletion (`shred_epoch_file`) overwrites the file with random bytes, syncs, and unlinks it.
That is best effort: copy-on-write filesystems, snapshots and SSD wear levelling can keep the
old blocks (the docs say so); the wrapped key in them still needs the KEK.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from pathlib import Path

from veil.crypto.errors import KeyMissingError, WrongKeyError
from veil.kek.providers import KEK
from veil.kek.sealed import open_sealed, seal_to

__all__ = [
    "EPOCH_DIR",
    "epoch_file_ids",
    "epoch_path",
    "read_epoch_key",
    "shred_epoch_file",
    "write_epoch_key",
]

EPOCH_DIR = Path("keys") / "epochs"
_NAME = re.compile(r"^epoch-([1-9][0-9]{0,9})\.sealed$")


def _name(epoch: int) -> str:
    return f"epoch-{int(epoch)}"


def epoch_path(root: Path, epoch: int) -> Path:
    """The file of epoch ``epoch`` in the workspace at ``root``."""
    return Path(root) / EPOCH_DIR / f"{_name(epoch)}.sealed"


def epoch_file_ids(root: Path) -> set[int]:
    """The epochs that have a file (whatever the store says about them)."""
    folder = Path(root) / EPOCH_DIR
    if not folder.is_dir():
        return set()
    return {int(m.group(1)) for p in folder.iterdir() if (m := _NAME.match(p.name))}


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets a directory be synced
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_epoch_key(root: Path, epoch: int, key: bytes, kek: KEK) -> Path:
    """Seal ``key`` as epoch ``epoch``'s file: written whole and synced before it appears
    (atomic rename), owner-only."""
    path = epoch_path(root, epoch)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(seal_to(path, _name(epoch), key, kek))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def read_epoch_key(root: Path, epoch: int, kek: KEK) -> bytes:
    """Epoch ``epoch``'s key, unsealed with ``kek``; one clear error when it is missing or
    sealed under another KEK."""
    path = epoch_path(root, epoch)
    try:
        return open_sealed(path, _name(epoch), kek)
    except FileNotFoundError:
        raise KeyMissingError(
            f"the key of epoch {epoch} is not in {EPOCH_DIR}/ (destroyed once the backup "
            "retention passed, or lost): subject keys wrapped under it cannot be opened",
            where=str(path)) from None
    except WrongKeyError:
        raise WrongKeyError(
            f"key epoch {epoch} is not wrapped under KEK {kek.kek_id}, the workspace's KEK "
            "(wrong KEK, or an unfinished `veil keys rewrap`)",
            where=str(path)) from None


def shred_epoch_file(root: Path, epoch: int) -> bool:
    """Overwrite the epoch's file with random bytes, sync, delete; True if there was one."""
    path = epoch_path(root, epoch)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return False
    with contextlib.suppress(OSError), open(path, "r+b") as f:
        f.write(secrets.token_bytes(max(size, 1)))
        f.flush()
        os.fsync(f.fileno())
    path.unlink(missing_ok=True)
    _fsync_dir(path.parent)
    return True
