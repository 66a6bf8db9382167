"""Which source an input reference names, beyond a plain local file or a database URL.

Rules as data, first match wins (see docs/sources.md):

==========================================  ==============================================
``delta://PATH``, or a folder with          Delta Lake table, current version
``_delta_log``
``iceberg://CATALOG.NAMESPACE.TABLE``       Iceberg table, current snapshot
a local folder                              partitioned Parquet dataset (hive)
``s3://`` ``gs://`` ``abfs://`` ending      Parquet dataset in the store
in ``/`` or given ``--format parquet``
with no file suffix
``s3://`` ``gs://`` ``abfs://`` object      one CSV / Parquet / JSON lines object
==========================================  ==============================================
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from veil.errors import InputError
from veil.io.readers import CsvOptions, Source, format_of


def open_uri(ref: str, format: str | None, csv_options: CsvOptions | None) -> Source | None:
    """The source ``ref`` names, or None for a plain local file or a database URL."""
    if ref.startswith("delta://"):
        from veil.io.lake import delta_source

        return delta_source(ref)
    if ref.startswith("iceberg://"):
        from veil.io.lake import iceberg_source

        return iceberg_source(ref)
    from veil.io.objectstore import is_object_uri

    if is_object_uri(ref):
        return _object(ref, format, csv_options)
    if "://" in ref:
        return None
    path = Path(ref)
    if path.is_dir():
        from veil.io.lake import delta_source, is_delta_folder

        if is_delta_folder(path):
            return delta_source(ref)
        _parquet_only(format, ref)
        from veil.io.folders import folder_source

        return folder_source(ref)
    return None


def _object(uri: str, format: str | None, csv_options: CsvOptions | None) -> Source:
    from veil.io.folders import folder_source
    from veil.io.objectstore import ObjectSource

    suffix = PurePosixPath(uri.split("://", 1)[1]).suffix
    if uri.endswith("/") or (not suffix and (format or "").lower() == "parquet"):
        _parquet_only(format, uri)
        return folder_source(uri)
    fmt = (format or format_of(Path(PurePosixPath(uri).name))).lower()
    if fmt in ("ndjson", "json"):
        fmt = "jsonl"
    if fmt not in ("csv", "parquet", "jsonl"):
        raise InputError(f"unknown input format '{fmt}' (use csv, parquet or jsonl)", where=uri)
    return ObjectSource(uri, fmt, csv_options)


def _parquet_only(format: str | None, where: str) -> None:
    if format and format.lower() != "parquet":
        raise InputError(f"a folder is read as a Parquet dataset, not {format}", where=where)
