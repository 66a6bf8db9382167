"""Where a run's output goes: a local file, an object in a store, or a Delta table.

Rules as data, first match wins (see docs/sources.md, "Outputs"):

=============================================  ===============================================
``delta://PATH`` (PATH local or a store URI),  Delta Lake table: the run's rows in one commit
or an existing folder with ``_delta_log``
``s3://`` ``gs://`` ``abfs://`` ending in      a folder: ``part-00000.parquet`` and
``/``                                          ``_receipt.json`` (and ``_rejects.jsonl``) in it
``s3://`` ``gs://`` ``abfs://`` ``.parquet``   one object (``.receipt.json`` beside it)
anything else                                  a local Parquet file
=============================================  ===============================================

A remote output is staged first: the run writes a local Parquet file (encrypted at rest when the
purpose says so; a Delta table's is not: its fields are encrypted by the transforms and its
files' encryption is the store's) in a private folder of the workspace, the release gate acts on
it, and `RemoteTarget.deliver` publishes it whole (`veil.io.object_publish`: temporary key,
size check, server-side copy; Delta: one commit) just before the run's commit point, so that the
receipt can name the object's ETag or the table's version. Receipt and rejects follow after the
commit point. What a crash between may leave is said in docs/sources.md.
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from veil.errors import InputError
from veil.store.workspace import Workspace

__all__ = ["RemoteTarget", "output_kind", "remote_target"]

FOLDER_PART = "part-00000.parquet"


def output_kind(ref: str) -> str:
    """"delta", "object", "folder" (an object-store folder) or "file" (local)."""
    from veil.io.objectstore import is_object_uri

    if ref.startswith("delta://"):
        return "delta"
    if is_object_uri(ref):
        return "folder" if ref.endswith("/") else "object"
    if "://" in ref:
        raise InputError("unknown output URI (use a local path, s3://, gs://, abfs:// or "
                         "delta://)", where=ref)
    from veil.io.lake import is_delta_folder

    return "delta" if Path(ref).is_dir() and is_delta_folder(Path(ref)) else "file"


@dataclass
class RemoteTarget:
    """A remote output and its local staging folder (see module doc)."""

    ref: str  # what the user named, recorded in the store and the receipt
    kind: str  # "object", "folder" or "delta"
    staging: Path
    overwrite: bool
    uri: str = ""  # the data object's URI (object, folder) or the table's location (delta)
    receipt_ref: str = ""
    rejects_ref: str = ""
    delivered: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def out_path(self) -> Path:
        return self.staging / "output.parquet"

    @property
    def receipt_path(self) -> Path:
        return self.staging / "receipt.json"

    @property
    def rejects_path(self) -> Path:
        return self.staging / "rejects.jsonl"

    @property
    def lease_path(self) -> Path:
        """The path the run's lease is keyed on: one per URI, whatever the working folder."""
        return Path("/" + self.ref)

    @property
    def at_rest(self) -> bool:
        """Whether Veil encrypts the output's bytes (not a table's files: the store's)."""
        return self.kind != "delta"

    def exists(self) -> bool:
        """Something is published at the output's name (a run then needs ``overwrite``)."""
        if self.kind == "delta":
            from veil.io.delta_sink import table_exists

            return table_exists(self.uri)
        from veil.io.objectstore import filesystem, store_error

        fs, path = filesystem(self.uri)
        try:
            return bool(fs.exists(path))
        except Exception as exc:  # the store's own exception types vary by backend
            raise store_error(exc, self.ref) from None

    def deliver(self, staged: Path) -> dict[str, Any]:
        """Publish the staged, verified output at its final name; the receipt's additions."""
        if self.kind == "delta":
            import pyarrow.parquet as pq

            from veil.io.delta_sink import write_delta

            with pq.ParquetFile(staged) as pf:
                info = write_delta(self.uri, pf.schema_arrow, pf.iter_batches(),
                                   mode="overwrite" if self.overwrite else "error",
                                   where=self.ref)
            self.delivered = info
            return {"path": self.ref, "uri": self.ref, "format": "delta",
                    "version": info["version"], "table": info["table"],
                    "table_encryption": info["encryption"]}
        from veil.io.object_publish import publish_object

        snap = publish_object(staged, self.uri, where=self.ref)
        self.delivered = snap
        return {"path": self.ref, "uri": self.uri, "version": {
            k: v for k, v in snap.items() if k != "kind" and v is not None}}

    def finish(self, receipt: Path, rejects: Path | None) -> None:
        """After the commit point: upload (or copy) the receipt and rejects, drop the staging."""
        for local, ref in ((receipt, self.receipt_ref), (rejects, self.rejects_ref)):
            if local is None or not local.is_file():
                continue
            from veil.io.objectstore import is_object_uri

            if is_object_uri(ref):
                from veil.io.object_publish import publish_object

                publish_object(local, ref, where=ref)
            else:
                from veil.io.writers import atomic_write_bytes

                atomic_write_bytes(ref, local.read_bytes())
        self.drop()

    def undo(self) -> None:
        """A failure after `deliver` (before the commit point): remove a new object; a Delta
        commit stays in the table's log (a later version can restore the previous one)."""
        if self.kind == "delta" or not self.delivered or self.overwrite:
            return
        from veil.io.object_publish import remove_object

        remove_object(self.uri)

    def drop(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)


def remote_target(ws: Workspace, ref: str, receipt: str | None, rejects: str | None,
                  overwrite: bool) -> RemoteTarget | None:
    """The remote output ``ref`` names, with its staging folder made, or None for a file."""
    kind = output_kind(ref)
    if kind == "file":
        return None
    if kind == "object" and PurePosixPath(ref).suffix.lower() not in (".parquet", ".pq"):
        raise InputError("an object-store output must be a Parquet object (.parquet), or a "
                         "folder (a URI ending in '/')", where=ref)
    staging = Path(ws.root) / "staging" / uuid.uuid4().hex
    staging.mkdir(parents=True, mode=0o700)
    t = RemoteTarget(ref, kind, staging, overwrite)
    if kind == "folder":
        t.uri = ref + FOLDER_PART
        base = ref + "_"
        t.receipt_ref, t.rejects_ref = base + "receipt.json", base + "rejects.jsonl"
    else:
        t.uri = ref[len("delta://"):] if ref.startswith("delta://") else ref
        base = t.uri.rstrip("/")
        t.receipt_ref, t.rejects_ref = base + ".receipt.json", base + ".rejects.jsonl"
    t.receipt_ref = receipt or t.receipt_ref
    t.rejects_ref = rejects or t.rejects_ref
    return t


def delete_remote(ref: str) -> str:
    """Delete a remote output (retention disposal, erasure): an object and its rejects (the
    receipt, which holds no row, stays), a folder's objects, or a whole Delta table (its log
    and every file: older versions hold the same people). Returns what was done ("deleted" /
    "already absent"); a store that refuses raises an `InputError` naming ``ref``."""
    from veil.io.objectstore import filesystem, is_object_uri, store_error

    kind = output_kind(ref)
    if kind == "file":
        raise InputError("not a remote output", where=ref)
    location = ref[len("delta://"):] if kind == "delta" and ref.startswith("delta://") else ref
    if kind == "delta" and not is_object_uri(location):
        if not Path(location).exists():
            return "already absent"
        shutil.rmtree(location)
        Path(location.rstrip("/") + ".rejects.jsonl").unlink(missing_ok=True)
        return "deleted"
    fs, path = filesystem(location)
    targets = ([path] if kind in ("delta", "folder")
               else [path, path + ".rejects.jsonl"])
    try:
        found = [t for t in targets if fs.exists(t)]
        for t in found:
            fs.rm(t, recursive=kind in ("delta", "folder") and t == path)
    except Exception as exc:  # the store's own exception types vary by backend
        raise store_error(exc, ref) from None
    return "deleted" if found else "already absent"
