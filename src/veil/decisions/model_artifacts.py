"""A registered model's estimator on disk: saved once, owner-only, and loaded only after its
SHA-256 matches the digest the registry recorded.

Loading a pickle (joblib) runs code from the file. That is why only files inside the workspace
whose digest the registry recorded at registration are loaded: a file swapped or edited after
registration is refused before a single byte is unpickled (the bytes checked are the bytes
loaded, so there is no window between the check and the load). Nobody should load a pickle
from elsewhere through Veil; the registry offers no way to.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import os
from pathlib import Path
from typing import Any

from veil.errors import CryptoError, InputError
from veil.io.writers import atomic_write_bytes

MODELS_DIR = "models"


def artifact_name(name: str, version: int) -> str:
    """The artifact's path relative to the workspace root: ``models/<name>.v<k>.pkl``."""
    return f"{MODELS_DIR}/{name}.v{version}.pkl"


def save_estimator(root: Path, name: str, version: int, estimator: Any) -> tuple[str, str]:
    """Pickle ``estimator`` (joblib) to the workspace, owner-only; returns (relative path,
    sha256 hex). An existing file of the same name (a registration that failed before its row
    was written) is replaced."""
    import joblib

    buf = io.BytesIO()
    try:
        joblib.dump(estimator, buf)
    except Exception as e:  # an estimator that cannot be pickled (a lambda, an open handle)
        raise InputError(f"the estimator cannot be saved: {type(e).__name__}",
                         where="model register") from None
    data = buf.getvalue()
    rel = artifact_name(name, version)
    folder = root / MODELS_DIR
    folder.mkdir(mode=0o700, exist_ok=True)
    os.chmod(folder, 0o700)
    path = root / rel
    path.unlink(missing_ok=True)
    atomic_write_bytes(path, data)
    return rel, hashlib.sha256(data).hexdigest()


def _inside(root: Path, rel: str) -> Path:
    path = (root / rel).resolve()
    if not path.is_relative_to(root.resolve()):
        raise InputError(f"model artifact '{rel}' is outside the workspace", where=rel)
    return path


def load_artifact(root: Path, rel: str, sha256: str) -> Any:
    """Unpickle the artifact after checking its digest (CryptoError if it changed)."""
    import joblib

    path = _inside(root, rel)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"model artifact '{rel}' is missing from the workspace",
                         where=rel) from None
    got = hashlib.sha256(data).hexdigest()
    if not hmac.compare_digest(got, sha256):
        raise CryptoError(f"model artifact '{rel}' does not match the digest recorded at "
                          "registration (changed after registration): not loaded", where=rel)
    return joblib.load(io.BytesIO(data))


def remove_artifact(root: Path, rel: str) -> None:
    """Remove an artifact whose registration did not complete."""
    _inside(root, rel).unlink(missing_ok=True)
