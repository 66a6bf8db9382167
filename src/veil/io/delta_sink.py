"""A Delta Lake table as an output: the run's batches appended in one Delta commit.

Delta's transaction log makes the write atomic: readers see the new version whole or not at all
(a failure leaves data files no version names, which ``VACUUM`` removes). Veil does not encrypt
the table's files: fields are encrypted by the purpose's transforms, and the table's own
encryption at rest is the store's, which the receipt says.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pyarrow as pa

from veil.errors import InputError
from veil.io.arrow_stream import first_line

AT_REST = ("the table store's own (Veil encrypts fields with the purpose's transforms, "
           "not the table's files)")


def write_delta(location: str, schema: pa.Schema, batches: Iterable[pa.RecordBatch], *,
                mode: str = "error", where: str | None = None) -> dict[str, Any]:
    """Write ``batches`` to the Delta table at ``location`` (``delta://`` prefix optional) in
    one commit; ``mode`` "error" (default: refuse an existing table), "append" or "overwrite".
    Returns the receipt's output description: table, version, rows, encryption at rest."""
    where = where or location
    location = location[len("delta://"):] if location.startswith("delta://") else location
    try:
        from deltalake import DeltaTable, write_deltalake
        from deltalake.exceptions import DeltaError
    except ImportError:
        raise InputError("a Delta output needs the 'lake' extra (pip install 'veil[lake]')",
                         where=where) from None
    from veil.io.lake import _delta_options
    from veil.io.objectstore import is_object_uri

    options = _delta_options() if is_object_uri(location) else None
    rows = 0

    def counted() -> Any:
        nonlocal rows
        for b in batches:
            rows += b.num_rows
            yield b

    reader = pa.RecordBatchReader.from_batches(schema, counted())
    try:
        write_deltalake(location, reader, mode=mode, storage_options=options)  # type: ignore[arg-type]
        version = DeltaTable(location, storage_options=options).version()
    except (DeltaError, OSError, ValueError) as exc:
        raise InputError(f"cannot write the Delta table ({_why(exc)})", where=where) from None
    return {"format": "delta", "table": location, "version": version, "rows": rows,
            "encryption": {"at_rest": AT_REST}}


def _why(exc: BaseException) -> str:
    text = first_line(exc)
    low = text.lower()
    if "credential" in low or "accessdenied" in low.replace(" ", ""):
        return "no credentials for the object store, or access denied: " + text[:200]
    if "connect" in low or "dns" in low or "timed out" in low:
        return "the object store is unreachable: " + text[:200]
    return text


def table_exists(location: str) -> bool:
    """A Delta table is at ``location`` (local, or in an object store)."""
    location = location[len("delta://"):] if location.startswith("delta://") else location
    from veil.io.objectstore import is_object_uri

    if not is_object_uri(location):
        from pathlib import Path

        return (Path(location) / "_delta_log").is_dir()
    try:
        from deltalake import DeltaTable
    except ImportError:
        raise InputError("a Delta output needs the 'lake' extra (pip install 'veil[lake]')",
                         where=location) from None
    from veil.io.lake import _delta_options

    try:
        return bool(DeltaTable.is_deltatable(location, storage_options=_delta_options()))
    except Exception as exc:  # noqa: BLE001 - delta-rs raises its own kinds
        raise InputError(f"cannot reach the Delta table ({_why(exc)})", where=location) from None
