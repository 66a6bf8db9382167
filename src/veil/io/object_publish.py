"""Publishing a finished local file under an object-store key, never partially visible.

The file (an output already encrypted at rest, a receipt) is uploaded to a temporary key beside
the final one, its size checked, then copied to the final key in one server-side copy (an object
appears whole or not at all) and the temporary key removed. A failure removes the temporary key
and leaves whatever was at the final key untouched.
"""

from __future__ import annotations

import uuid
from pathlib import Path, PurePosixPath
from typing import Any

from veil.errors import InputError
from veil.io.objectstore import filesystem, object_info, object_snapshot, store_error


def temp_key(path: str) -> str:
    p = PurePosixPath(path)
    return str(p.parent / f".{p.name}.{uuid.uuid4().hex[:12]}.tmp")


def publish_object(local: str | Path, uri: str, *, where: str | None = None) -> dict[str, Any]:
    """Upload ``local`` to ``uri`` atomically; returns the object's snapshot (ETag, size...).
    Errors name ``where`` (default: ``uri``), the output as the user wrote it."""
    local = Path(local)
    uri_named = uri
    uri = where or uri
    fs, final = _fs(uri_named, uri)
    tmp = temp_key(final)
    size = local.stat().st_size
    try:
        fs.put_file(str(local), tmp)
        fs.invalidate_cache(tmp)
        staged = object_info(fs, tmp, uri)
        if staged.get("size") != size:
            raise InputError(f"upload verification failed: sent {size} bytes, the store holds "
                             f"{staged.get('size')}", where=uri)
        fs.copy(tmp, final)
    except InputError:
        _remove(fs, tmp)
        raise
    except Exception as exc:  # the store's own exception types vary by backend
        _remove(fs, tmp)
        raise store_error(exc, uri) from None
    _remove(fs, tmp)
    fs.invalidate_cache(final)
    return {"kind": "object", **object_snapshot(object_info(fs, final, uri))}


def remove_object(uri: str) -> None:
    """Delete the object at ``uri`` (an output a failed run had published); absent: nothing."""
    fs, key = _fs(uri, uri)
    _remove(fs, key)


def _fs(uri: str, where: str) -> tuple[Any, str]:
    try:
        return filesystem(uri)
    except InputError as exc:
        raise InputError(exc.message, where=where) from None


def _remove(fs: Any, key: str) -> None:
    try:
        fs.rm_file(key)
    except Exception:  # already gone, or the store is unreachable: nothing to clean
        pass
