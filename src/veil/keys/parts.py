"""Executor-side output: a folder of Parquet parts, one per Spark task, with one manifest.

The single-file mode streams every row through the driver's one sink, so a cluster can never
write faster than the driver (and its disk must hold the whole output). In parts mode each
task writes its own part into a temporary folder beside the output, encrypted at rest in the
same Tink streaming format when the purpose says so: the executor unwraps the output keyset
itself (a `WrappedKeysetRef`, e.g. ``veil.spark.keys.ShippedKeyset``: wrapped keyset and KEK
reference, never a key, in the closure). Every part has its own associated data,
``veil:run-output-part:v1:<run id>:<part name>``, so a part opens only as that part of that
run: parts cannot be swapped, renamed or replayed from another run.

The task sends back only its statistics (and the part's name, rows, bytes and SHA-256). The
driver checks that every partition reported exactly one part, that each is on disk with that
digest, writes ``_manifest.json`` (schema, parts, digests, rows, encryption) and publishes the
folder by renaming it. The receipt's ``output.sha256`` is the SHA-256 of the manifest's bytes.

Layout::

    credit.parts/
        _manifest.json
        part-00000.parquet
        part-00001.parquet
        ...
    credit.parts.receipt.json

The folder must be on a filesystem the driver and every executor see under the same path
(local mode, NFS, a mounted object store). `read_parts` (``veil.read`` on a folder) checks the
manifest against the receipt (or the store's run record), rejects a missing, extra or altered
part, and decrypts each under its own associated data.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pyarrow as pa

from veil.crypto.errors import CryptoError, TamperedError
from veil.errors import InputError, VeilError
from veil.io.writers import sha256_file

if TYPE_CHECKING:  # pragma: no cover
    from veil.crypto.aead import KeyProvider
    from veil.crypto.keyset import Keyset
    from veil.io.writers import ParquetSink
    from veil.keys.files import OutputEncryption
    from veil.store.workspace import Workspace


class WrappedKeysetRef(Protocol):
    """A keyset still wrapped under the KEK, unwrapped where it is used (an executor)."""

    @property
    def name(self) -> str: ...

    def keyset(self) -> Keyset: ...


__all__ = ["MANIFEST", "PartsOutput", "PartsTarget", "decrypt_parts", "part_associated_data",
           "read_parts"]

MANIFEST = "_manifest.json"
FORMAT = "veil-parquet-parts/v1"


def part_associated_data(run_id: str, name: str) -> bytes:
    """A part's associated data: it opens only as part ``name`` of run ``run_id``."""
    return f"veil:run-output-part:v1:{run_id}:{name}".encode()


def part_name(partition: int) -> str:
    return f"part-{partition:05d}.parquet"


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


# ---------------------------------------------------------------------------------------------
# executor side


@dataclass
class PartsTarget:
    """What a task needs to write its part (picklable, free of secrets)."""

    folder: str  # the temporary folder, an absolute path every executor sees
    run_id: str
    schema: pa.Schema
    keyset: WrappedKeysetRef | None  # wrapped output keyset: None when not encrypted at rest

    def open(self, partition: int, attempt: int) -> tuple[str, ParquetSink]:
        """A sink for this task attempt's part (a name of its own: a retried or speculative
        attempt never overwrites another's file; the driver keeps the one Spark reported)."""
        from veil.io.writers import ParquetSink
        from veil.keys.files import OutputEncryption

        folder = Path(self.folder)
        if not folder.is_dir():
            raise InputError("the parts folder is not visible on this executor: parts mode "
                             "needs a filesystem that the driver and every executor share",
                             where=self.folder)
        name = part_name(partition)
        enc = None
        if self.keyset is not None:
            enc = OutputEncryption(self.keyset.keyset(), self.keyset.name,
                                   part_associated_data(self.run_id, name))
        file = folder / f"{name}.attempt-{attempt}-{uuid.uuid4().hex[:8]}"
        return name, ParquetSink(file, self.schema, encryption=enc)

    @staticmethod
    def close(name: str, partition: int, sink: ParquetSink) -> dict[str, Any]:
        """Finish and verify the part (an encrypted one is decrypted once more); what the
        statistics row reports about it."""
        digest = sink.commit()
        info = sink.encryption_info or {}
        return {"name": name, "partition": partition, "file": sink.path.name,
                "rows": sink.rows, "bytes": sink.bytes, "sha256": digest,
                "plaintext_sha256": info.get("plaintext_sha256"),
                "key_id": info.get("key_id"), "segment_size": info.get("segment_size")}


# ---------------------------------------------------------------------------------------------
# driver side


class PartsOutput:
    """The driver's side of a parts output: temporary folder, checks, manifest, publishing.

    Quacks like `ParquetSink` where the run's receipt and lineage read it (``path``,
    ``digest``, ``rows``, ``bytes``, ``encryption_info``)."""

    def __init__(self, path: Path, run_id: str, schema: pa.Schema,
                 encryption: OutputEncryption | None, shipped: WrappedKeysetRef | None) -> None:
        self.path = Path(path)
        if self.path.exists() and not (self.path.is_dir() and (self.path / MANIFEST).is_file()):
            raise InputError("output exists and is not a Veil parts folder (no _manifest.json):"
                             " remove it or choose another name", where=str(self.path))
        if not self.path.parent.is_dir():
            raise InputError("output folder does not exist", where=str(self.path.parent))
        self.run_id = run_id
        self.schema = schema
        self.encryption = encryption
        self.tmp = self.path.resolve().parent / f".{self.path.name}.{uuid.uuid4().hex[:12]}.tmp"
        self.tmp.mkdir()
        self.target = PartsTarget(str(self.tmp), run_id, schema, shipped)
        self.parts: list[dict[str, Any]] = []
        self.rows = 0
        self.bytes = 0
        self.digest: str | None = None
        self.encryption_info: dict[str, Any] | None = None
        self.verify_seconds = 0.0

    def collect(self, reported: list[dict[str, Any]]) -> None:
        """Check that partitions 0..n-1 each reported one part, that each part is on disk with
        its digest; give the parts their final names and remove everything else."""
        import time

        t0 = time.perf_counter()
        seen = sorted(p["partition"] for p in reported)
        if seen != list(range(len(seen))):
            raise VeilError("the Spark job's parts do not match its partitions (a task's part "
                            "is missing or reported twice): nothing was published",
                            where=str(self.path))
        parts = sorted(reported, key=lambda p: p["partition"])

        def check(p: dict[str, Any]) -> str | None:
            f = self.tmp / p["file"]
            if not f.is_file():
                return f"part {p['name']} is missing"
            if f.stat().st_size != p["bytes"] or sha256_file(f) != p["sha256"]:
                return f"part {p['name']} does not have the digest its task reported"
            return None

        with ThreadPoolExecutor(max_workers=min(8, max(1, len(parts)))) as pool:
            problems = [m for m in pool.map(check, parts) if m]  # hashlib releases the GIL
        if problems:
            raise TamperedError(f"{problems[0]} (the executors and the driver must share the "
                                "output's filesystem): nothing was published",
                                where=str(self.path))
        keep = set()
        for p in parts:
            os.replace(self.tmp / p["file"], self.tmp / p["name"])
            keep.add(p["name"])
        for f in self.tmp.iterdir():  # failed or speculative attempts, their temporary files
            if f.name not in keep:
                f.unlink()
        self.parts = [{k: p[k] for k in ("name", "rows", "bytes", "sha256")} for p in parts]
        self.rows = sum(p["rows"] for p in parts)
        self.bytes = sum(p["bytes"] for p in parts)
        enc = self._encryption(parts)
        manifest = {"format": FORMAT, "run_id": self.run_id, "rows": self.rows,
                    "bytes": self.bytes, "columns": self.schema.names,
                    "schema": base64.b64encode(self.schema.serialize().to_pybytes()).decode(),
                    "encryption": enc, "parts": self.parts}
        data = (json.dumps(manifest, indent=1) + "\n").encode()
        (self.tmp / MANIFEST).write_bytes(data)
        self.digest = hashlib.sha256(data).hexdigest()
        self.encryption_info = None if enc is None else {
            **enc, "parts": len(parts), "manifest": MANIFEST}
        self.verify_seconds = time.perf_counter() - t0

    def _encryption(self, parts: list[dict[str, Any]]) -> dict[str, Any] | None:
        if self.encryption is None:
            return None
        from veil.keys.files import FORMAT as FILE_FORMAT

        ids = {p["key_id"] for p in parts}
        prim = self.encryption.keyset.primary
        if ids - {prim.key_id}:
            raise CryptoError("an executor encrypted a part under another key than the "
                              "driver's primary output key (the keyset was rotated during the "
                              "run?): nothing was published", where=str(self.path))
        return {"format": FILE_FORMAT, "keyset": self.encryption.keyset_name,
                "key_id": prim.key_id,
                "associated_data": part_associated_data(self.run_id, "<part name>").decode(),
                "segment_size": getattr(prim.material, "segment_size", None)}

    def commit(self, before_publish: Callable[[], None] | None = None) -> str:
        """Run ``before_publish`` (receipt, audit events), then rename the folder into place
        (replacing an earlier parts folder of the same name)."""
        assert self.digest is not None
        if before_publish is not None:
            before_publish()
        for f in self.tmp.iterdir():
            fd = os.open(f, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(self.tmp)
        old = None
        if self.path.exists():
            old = self.path.parent / f".{self.path.name}.{uuid.uuid4().hex[:12]}.old"
            os.replace(self.path, old)
        os.replace(self.tmp, self.path)
        _fsync_dir(self.path.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return self.digest

    def abort(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# reading back


def _recorded_digest(folder: Path, digest: str, workspace: Workspace | None) -> str | None:
    """The manifest digest the receipt beside the folder records; without a receipt, ``digest``
    itself if a succeeded run in the store published a manifest with it."""
    receipt = folder.with_name(folder.name + ".receipt.json")
    try:
        sha = json.loads(receipt.read_text("utf-8")).get("output", {}).get("sha256")
        if isinstance(sha, str):
            return sha
    except (OSError, ValueError, AttributeError):
        pass
    if workspace is None:
        return None
    import sqlalchemy as sa

    from veil.store.schema import runs

    with workspace.engine.connect() as conn:
        found = conn.execute(sa.select(runs.c.id).where(
            runs.c.output_digest == digest, runs.c.status == "succeeded")).first()
    return digest if found is not None else None


def _manifest(folder: Path, workspace: Workspace | None) -> dict[str, Any]:
    """The manifest, checked against the receipt beside the folder (or the store's run)."""
    try:
        data = (folder / MANIFEST).read_bytes()
    except FileNotFoundError:
        raise InputError("not a Veil parts folder (no _manifest.json)", where=str(folder)) from None
    digest = hashlib.sha256(data).hexdigest()
    recorded = _recorded_digest(folder, digest, workspace)
    if recorded is None:
        raise TamperedError("no receipt or run record vouches for this parts folder's manifest",
                            where=str(folder / MANIFEST))
    if recorded != digest:
        raise TamperedError("the manifest is not the one the run's receipt records",
                            where=str(folder / MANIFEST))
    try:
        doc = json.loads(data)
        assert doc["format"] == FORMAT
        return doc  # type: ignore[no-any-return]
    except (ValueError, KeyError, AssertionError):
        raise InputError("not a Veil parts manifest", where=str(folder / MANIFEST)) from None


def _parts(folder: Path, doc: dict[str, Any], workspace: Workspace | None,
           provider: KeyProvider | None) -> Any:
    """Yield each part as a verified Arrow table, in the manifest's order."""
    import pyarrow.parquet as pq

    listed = {p["name"] for p in doc["parts"]}
    extra = sorted(f.name for f in folder.iterdir() if f.name != MANIFEST and f.name not in listed)
    if extra:
        raise TamperedError(f"file {extra[0]} is not in the manifest", where=str(folder))
    enc = doc.get("encryption")
    keyset = None
    if enc is not None:
        if provider is None:
            from veil.keys.files import _workspace
            from veil.keys.manager import KeyManager

            provider = KeyManager(workspace or _workspace(None))
        keyset = provider.keyset(enc["keyset"])
    for p in doc["parts"]:
        path = folder / p["name"]
        if not path.is_file():
            raise TamperedError("part missing", where=str(path))
        if sha256_file(path) != p["sha256"]:
            raise TamperedError("part altered: its SHA-256 is not the manifest's", where=str(path))
        if keyset is None:
            src: Any = path
        else:
            from veil.keys.files import decrypt_to_buffer

            src = pa.BufferReader(decrypt_to_buffer(
                path, keyset, part_associated_data(doc["run_id"], p["name"])))
        table = pq.read_table(src)
        if table.num_rows != p["rows"]:
            raise TamperedError(f"part holds {table.num_rows} rows, the manifest says "
                                f"{p['rows']}", where=str(path))
        yield table


def _open(folder: Path, workspace: Workspace | str | os.PathLike[str] | None
          ) -> tuple[dict[str, Any], Workspace | None]:
    from veil.keys.files import _workspace

    ws = None
    try:
        ws = _workspace(workspace)
    except VeilError:
        if workspace is not None:
            raise
    return _manifest(folder, ws), ws


def read_parts(folder: str | os.PathLike[str],
               workspace: Workspace | str | os.PathLike[str] | None = None, *,
               columns: list[str] | None = None,
               provider: KeyProvider | None = None) -> pa.Table:
    """A parts folder as one Arrow table (``veil.read`` on a folder). Nothing is returned
    unless the manifest matches the receipt and every part is present, unaltered and opens
    under its own associated data."""
    p = Path(folder)
    doc, ws = _open(p, workspace)
    schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(doc["schema"])))
    tables = list(_parts(p, doc, ws, provider))
    table = pa.concat_tables(tables) if tables else schema.empty_table()
    return table.select(columns) if columns is not None else table


def decrypt_parts(folder: str | os.PathLike[str], output: str | os.PathLike[str],
                  workspace: Workspace | str | os.PathLike[str] | None = None, *,
                  provider: KeyProvider | None = None) -> int:
    """Write a parts folder as one plain Parquet file (``veil decrypt`` on a folder), part by
    part; published only when every part verified. Returns the rows written."""
    from veil.io.writers import ParquetSink

    p = Path(folder)
    doc, ws = _open(p, workspace)
    schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(doc["schema"])))
    sink = ParquetSink(Path(output), schema)
    try:
        for table in _parts(p, doc, ws, provider):
            for batch in table.to_batches():
                sink.write(batch)
        sink.commit()
    except BaseException:
        sink.abort()
        raise
    return sink.rows
