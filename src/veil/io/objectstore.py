"""Object-store inputs: ``s3://``, ``gs://``, ``abfs://`` through fsspec (s3fs, gcsfs, adlfs).

A single object (CSV, Parquet, JSON lines) is copied to a private (0600) temporary file and read
by the same reader as a local file, so rejects, line numbers and the SHA-256 are exactly a local
file's; the copy is removed when the rows have been read (or the source is dropped). The receipt's
``snapshot`` names the object's ETag, size and modification time (and version id when the bucket
keeps versions), so a run can be checked against the object it read.

Credentials and endpoints come from the store's usual settings (for S3: ``AWS_ACCESS_KEY_ID`` /
``AWS_SECRET_ACCESS_KEY`` / ``AWS_PROFILE``, ``AWS_ENDPOINT_URL`` for an S3-compatible server,
``AWS_MAX_ATTEMPTS``, default 3).
"""

from __future__ import annotations

import os
import tempfile
import weakref
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from veil.errors import InputError
from veil.io.arrow_stream import first_line
from veil.io.readers import CsvOptions, OnReject, Source

#: URI scheme -> the fsspec package that implements it (named in the error when missing).
SCHEMES = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs",
           "abfs": "adlfs", "abfss": "adlfs", "az": "adlfs"}
COPY_CHUNK = 1 << 20


def is_object_uri(text: str) -> bool:
    return "://" in text and text.split("://", 1)[0].lower() in SCHEMES


def storage_options(scheme: str) -> dict[str, Any]:
    """Settings fsspec does not take from the environment itself (S3 endpoint, timeouts)."""
    if SCHEMES.get(scheme) != "s3fs":
        return {}
    attempts = int(os.environ.get("AWS_MAX_ATTEMPTS", "3") or 3)
    opts: dict[str, Any] = {"config_kwargs": {"connect_timeout": 5, "read_timeout": 60,
                                              "retries": {"max_attempts": attempts}}}
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        opts["endpoint_url"] = endpoint
    return opts


def filesystem(uri: str) -> tuple[Any, str]:
    """The fsspec filesystem for ``uri`` and the path inside it."""
    scheme = uri.split("://", 1)[0].lower()
    try:
        import fsspec
    except ImportError:
        raise InputError("object-store inputs need the 'lake' extra "
                         "(pip install 'veil[lake]')", where=uri) from None
    if scheme == "s3a":
        uri = "s3://" + uri.split("://", 1)[1]
    try:
        return fsspec.core.url_to_fs(uri, **storage_options(scheme))
    except ImportError:
        raise InputError(f"{scheme}:// needs the '{SCHEMES[scheme]}' package", where=uri) from None
    except (ValueError, OSError) as exc:
        raise InputError(f"cannot open the object store ({first_line(exc)})", where=uri) from None


def store_error(exc: BaseException, uri: str) -> InputError:
    """One clear message for the ways a store refuses (no credentials, unreachable, missing)."""
    name = type(exc).__name__
    if isinstance(exc, FileNotFoundError):
        return InputError("no such object or folder in the store", where=uri)
    if "Credentials" in name or "credentials" in str(exc).lower():
        return InputError("no credentials for the object store (set AWS_ACCESS_KEY_ID / "
                          "AWS_SECRET_ACCESS_KEY or AWS_PROFILE)", where=uri)
    if isinstance(exc, PermissionError):
        return InputError("access denied by the object store", where=uri)
    if "Endpoint" in name or "Connect" in name or isinstance(exc, ConnectionError):
        return InputError("the object store is unreachable (check AWS_ENDPOINT_URL and the "
                          "network)", where=uri)
    return InputError(f"cannot read from the object store ({name}: {first_line(exc)})",
                      where=uri)


def object_info(fs: Any, path: str, uri: str) -> dict[str, Any]:
    """``fs.info`` of one object, store errors turned into an `InputError` naming ``uri``."""
    try:
        return fs.info(path)
    except Exception as exc:  # the store's own exception types vary by backend
        raise store_error(exc, uri) from None


def object_snapshot(info: dict[str, Any], key: str | None = None) -> dict[str, Any]:
    """What identifies one object's version: ETag, size, modification time, version id."""
    etag = info.get("ETag") or info.get("etag")
    mtime = info.get("LastModified") or info.get("last_modified") or info.get("mtime")
    snap: dict[str, Any] = {"etag": str(etag).strip('"') if etag else None,
                            "size": info.get("size"),
                            "mtime": mtime.isoformat() if hasattr(mtime, "isoformat") else mtime}
    version = info.get("VersionId") or info.get("version_id")
    if version:
        snap["version_id"] = version
    if key is not None:
        snap = {"key": key, **snap}
    return snap


class ObjectSource(Source):
    """One object read through a private local copy by the reader for its format."""

    def __init__(self, uri: str, format: str, csv_options: CsvOptions | None = None) -> None:
        super().__init__(uri)
        self.format = format
        self._fs, self._path = filesystem(uri)
        info = object_info(self._fs, self._path, uri)
        if info.get("type") == "directory":
            raise InputError("is a folder, not an object (a Parquet folder reads as a dataset: "
                             "use --format parquet)", where=uri)
        self.size = info.get("size")
        self.snapshot = {"kind": "object", **object_snapshot(info)}
        self._csv = csv_options
        self._inner: Source | None = None
        self._tmp: Path | None = None

    def _local(self) -> Source:
        if self._inner is None:
            from veil.io.readers import CsvSource, JsonLinesSource, ParquetSource

            fd, name = tempfile.mkstemp(prefix=".veil-object-", suffix=f".{self.format}")
            self._tmp = Path(name)
            weakref.finalize(self, self._tmp.unlink, missing_ok=True)
            try:
                with os.fdopen(fd, "wb") as out, self._fs.open(self._path, "rb") as f:
                    while chunk := f.read(COPY_CHUNK):
                        out.write(chunk)
            except Exception as exc:
                self._drop()
                raise store_error(exc, self.name) from None
            self._same_version()
            cls = {"csv": CsvSource, "parquet": ParquetSource}.get(self.format, JsonLinesSource)
            inner = cls(self._tmp, self._csv) if cls is CsvSource else cls(self._tmp)
            inner.name = self.name  # errors and rejects name the URI, not the copy
            self._inner = inner
        return self._inner

    def _same_version(self) -> None:
        """The copy is of the version the snapshot names (an object replaced meanwhile is
        refused, so the receipt never names bytes the run did not read)."""
        self._fs.invalidate_cache(self._path)
        now = object_snapshot(object_info(self._fs, self._path, self.name))
        if (now["etag"], now["size"]) != (self.snapshot["etag"], self.snapshot["size"]):
            self._drop()
            raise InputError("the object changed while it was being read: run again",
                             where=self.name)

    def header(self) -> list[str]:
        return self._local().header()

    def batches(self, columns: Sequence[str], types: dict[str, str],
                on_reject: OnReject) -> Iterator[pa.RecordBatch]:
        inner = self._local()
        try:
            for batch in inner.batches(columns, types, on_reject):
                self.position = inner.position
                yield batch
            self._digest = inner.digest
        finally:
            self._drop()

    def _drop(self) -> None:
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
        self._inner = None
