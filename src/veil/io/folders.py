"""Partitioned Parquet datasets: a folder of Parquet files (hive ``key=value`` sub-folders),
local or in an object store, read with ``pyarrow.dataset`` one record batch at a time.

Files are read in path order; partition keys become ordinary string columns. Hidden files and
those starting with ``_`` (``_SUCCESS``, ``_delta_log``) are not data. The receipt's snapshot lists
every file read with its size and modification time (and ETag in an object store).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds

from veil.errors import InputError
from veil.io.arrow_stream import SCAN_ERRORS, ArrowStreamSource, first_line
from veil.io.readers import BATCH_ROWS


def is_local_dataset(path: Path) -> bool:
    return path.is_dir()


def folder_source(ref: str) -> ArrowStreamSource:
    """A Parquet folder at a local path or an object-store URI."""
    from veil.io.objectstore import is_object_uri

    if is_object_uri(ref):
        return _remote_folder(ref)
    path = Path(ref)
    dataset = _open(str(path), None, ref)
    files = sorted(dataset.files)
    listing = []
    for f in files:
        st = Path(f).stat()
        listing.append({"path": Path(f).relative_to(path).as_posix(), "size": st.st_size,
                        "mtime": datetime.fromtimestamp(st.st_mtime, UTC).isoformat()})
    return _source(ref, dataset, listing)


def _remote_folder(uri: str) -> ArrowStreamSource:
    from pyarrow.fs import FSSpecHandler, PyFileSystem

    from veil.io.objectstore import filesystem, object_snapshot, store_error

    fs, root = filesystem(uri)
    try:
        found = fs.find(root, detail=True)
    except Exception as exc:  # the store's own exception types vary by backend
        raise store_error(exc, uri) from None
    root = root.rstrip("/")
    listing = []
    for key in sorted(found):
        rel = key[len(root):].lstrip("/")
        if any(part.startswith(("_", ".")) for part in rel.split("/")):
            continue
        listing.append(object_snapshot(found[key], rel))
    if not listing:
        raise InputError("no such object or folder in the store (or it holds no files)",
                         where=uri)
    dataset = _open(root, PyFileSystem(FSSpecHandler(fs)), uri)
    return _source(uri, dataset, listing)


def _open(path: str, fs: Any, name: str) -> ds.Dataset:
    try:
        dataset = ds.dataset(path, format="parquet", partitioning="hive", filesystem=fs)
    except SCAN_ERRORS as exc:
        raise InputError(f"not a readable Parquet folder ({first_line(exc)})",
                         where=name) from None
    if not dataset.files:
        raise InputError("the folder holds no Parquet files", where=name)
    return dataset


def _source(name: str, dataset: ds.Dataset, listing: list[dict[str, Any]]) -> ArrowStreamSource:
    def scan(columns: list[str]) -> Any:
        return dataset.to_batches(columns=columns, batch_size=BATCH_ROWS, use_threads=False)

    size = sum(f.get("size") or 0 for f in listing)
    return ArrowStreamSource(name, "parquet", list(dataset.schema.names), scan,
                             {"kind": "folder", "files": listing}, size)
