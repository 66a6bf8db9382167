"""Lakehouse tables as inputs: Delta Lake (``deltalake``) and Iceberg (``pyiceberg``).

``delta://PATH`` (or a folder holding ``_delta_log``; PATH may be an ``s3://`` URI) reads the
table's current version; ``iceberg://CATALOG.NAMESPACE.TABLE`` the current snapshot of a table in
a catalog configured in ``veil.toml`` (``[iceberg.catalogs.NAME]``, e.g. ``type = "sql"``, ``uri``,
``warehouse``) or pyiceberg's own settings (``PYICEBERG_CATALOG__NAME__URI``, ``.pyiceberg.yaml``).
Both stream record batches; the receipt's snapshot names the Delta version or Iceberg snapshot id.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from veil.errors import InputError
from veil.io.arrow_stream import ArrowStreamSource, first_line
from veil.io.readers import BATCH_ROWS

NEEDS_EXTRA = "needs the 'lake' extra (pip install 'veil[lake]')"


def is_delta_folder(path: Path) -> bool:
    return (path / "_delta_log").is_dir()


def delta_source(ref: str) -> ArrowStreamSource:
    """The current version of the Delta table at ``ref`` (``delta://`` prefix optional)."""
    name = ref
    location = ref[len("delta://"):] if ref.startswith("delta://") else ref
    try:
        from deltalake import DeltaTable
        from deltalake.exceptions import DeltaError
    except ImportError:
        raise InputError(f"a Delta table {NEEDS_EXTRA}", where=name) from None
    from veil.io.objectstore import is_object_uri

    options = _delta_options() if is_object_uri(location) else None
    try:
        table = DeltaTable(location, storage_options=options)
        version = table.version()
        dataset = table.to_pyarrow_dataset()
    except (DeltaError, OSError, ValueError) as exc:
        raise InputError(f"no readable Delta table here ({first_line(exc)})",
                         where=name) from None

    def scan(columns: list[str]) -> Any:
        return dataset.to_batches(columns=columns, batch_size=BATCH_ROWS, use_threads=False)

    snapshot = {"kind": "delta", "table": location, "version": version}
    return ArrowStreamSource(name, "delta", list(dataset.schema.names), scan, snapshot)


def _delta_options() -> dict[str, str]:
    """S3 settings for delta-rs from the usual AWS variables (it does not read all of them)."""
    opts = {}
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        opts["AWS_ENDPOINT_URL"] = endpoint
        if endpoint.startswith("http://"):
            opts["AWS_ALLOW_HTTP"] = "true"
    return opts


def iceberg_source(ref: str) -> ArrowStreamSource:
    """The current snapshot of ``iceberg://CATALOG.NAMESPACE.TABLE``."""
    ident = ref[len("iceberg://"):]
    parts = ident.split(".")
    if len(parts) < 3 or not all(parts):
        raise InputError("an Iceberg input is iceberg://CATALOG.NAMESPACE.TABLE", where=ref)
    catalog_name, table_id = parts[0], ".".join(parts[1:])
    try:
        from pyiceberg.catalog import load_catalog
        from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError
    except ImportError:
        raise InputError(f"an Iceberg table {NEEDS_EXTRA}", where=ref) from None
    try:
        catalog = load_catalog(catalog_name, **catalog_settings(catalog_name))
        table = catalog.load_table(table_id)
    except (NoSuchTableError, NoSuchNamespaceError):
        raise InputError(f"no table '{table_id}' in the Iceberg catalog '{catalog_name}'",
                         where=ref) from None
    except InputError:
        raise
    except Exception as exc:  # pyiceberg raises ValueError, SQLAlchemy or HTTP errors
        raise InputError(f"cannot open the Iceberg catalog '{catalog_name}' "
                         f"({first_line(exc)})", where=ref) from None
    current = table.current_snapshot()
    names = [f.name for f in table.schema().fields]

    def scan(columns: list[str]) -> Any:
        if current is None:  # a table never written to: no rows
            return iter(())
        reader = table.scan(selected_fields=tuple(columns),
                            snapshot_id=current.snapshot_id).to_arrow_batch_reader()
        return iter(reader)

    snapshot = {"kind": "iceberg", "catalog": catalog_name, "table": table_id,
                "snapshot_id": current.snapshot_id if current else None}
    return ArrowStreamSource(ref, "iceberg", names, scan, snapshot)


def catalog_settings(name: str) -> dict[str, Any]:
    """``[iceberg.catalogs.NAME]`` of the workspace's ``veil.toml`` (VEIL_WORKSPACE, or found up
    from the current folder); empty when absent, so pyiceberg's own settings apply."""
    root = os.environ.get("VEIL_WORKSPACE")
    here = Path(root).resolve() if root else Path.cwd().resolve()
    for folder in (here,) if root else (here, *here.parents):
        cfg = folder / "veil.toml"
        if cfg.is_file():
            try:
                data = tomllib.loads(cfg.read_text("utf-8"))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise InputError(f"invalid config: {exc}", where=str(cfg)) from None
            table = data.get("iceberg", {}).get("catalogs", {}).get(name, {})
            if not isinstance(table, dict):
                raise InputError(f"[iceberg.catalogs.{name}] must be a table", where=str(cfg))
            return {k: _anchor(str(v), folder) for k, v in table.items()}
    return {}


def _anchor(value: str, folder: Path) -> str:
    """A relative ``sqlite:///`` or ``file://`` path in veil.toml is relative to the workspace."""
    for prefix in ("sqlite:///", "file://"):
        rest = value[len(prefix):]
        if value.startswith(prefix) and rest and not rest.startswith("/"):
            return prefix + str((folder / rest).resolve())
    return value
