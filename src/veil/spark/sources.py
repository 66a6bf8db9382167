"""What a Spark run reads: a DataFrame, a catalog table, a local file or folder, or a URI.

Spark reads every kind itself; this module only decides how, and what the receipt says:

* a DataFrame as it is; ``table=`` is ``spark.table(name)`` (Hive, Delta, Iceberg: whatever
  the session's catalog serves);
* a URI with a scheme (``s3a://``, ``gs://``, ``abfs://``, ``hdfs://``, ``file://``) is handed to
  Spark untouched: only the executors and the cluster's filesystem settings can say whether it
  exists, so nothing is checked here and Spark's "path does not exist" becomes one
  `InputError` naming the source;
* a local folder (a partitioned Parquet dataset, or CSV/JSON parts) is read as one dataset;
* a local file as before, with the file's SHA-256 as the input digest (the local engine's).

For everything but a local file the digest is the one a DataFrame gets (the sorted
per-partition digests of the columns read): the receipt's ``engine.input_digest`` says which.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from veil.errors import InputError
from veil.io.readers import CsvOptions

__all__ = ["SparkInput", "resolve_source"]

_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_DB_SCHEMES = ("postgresql", "postgres", "sqlite", "mysql", "mssql", "oracle")


@dataclass
class SparkInput:
    """What the receipt says about the input (the local engine's `Source` fields)."""

    name: str
    format: str
    digest: str | None = None
    size: int | None = None
    position: int = 0
    file_digest: bool = False  # True: ``digest`` is the input file's SHA-256


def _format(name: str, given: str | None, folder: bool) -> str:
    if given:
        return given.lower()
    base = name.rstrip("/").rsplit("/", 1)[-1].lower()
    for suffix, fmt in ((".csv", "csv"), (".parquet", "parquet"), (".pq", "parquet"),
                        (".jsonl", "jsonl"), (".ndjson", "jsonl"), (".json", "jsonl")):
        if base.endswith(suffix):
            return fmt
    if folder:
        return "parquet"  # a dataset folder without a suffix: partitioned Parquet
    raise InputError("cannot tell the input format from the name: pass the format "
                     "(csv, parquet or jsonl)", where=name)


def _read(spark: Any, uri: str, fmt: str, csv: CsvOptions, where: str) -> Any:
    if fmt == "csv":
        # every column as text; an empty field stays "" (the local reader's convention)
        reader = (spark.read.option("header", True).option("multiLine", True)
                  .option("sep", csv.delimiter).option("quote", csv.quote_char)
                  .option("escape", csv.escape_char or csv.quote_char)
                  .option("encoding", csv.encoding).option("nullValue", "\u0000")
                  .option("emptyValue", ""))
        load = reader.csv
    elif fmt == "parquet":
        load = spark.read.parquet
    elif fmt in ("jsonl", "ndjson", "json"):
        load = spark.read.json
    else:
        raise InputError(f"unknown input format '{fmt[:20]}' (use csv, parquet or jsonl)",
                         where=where)
    try:
        return load(uri)
    except Exception as exc:  # noqa: BLE001 - Spark's analysis errors: reported by kind
        raise InputError(_why(exc), where=where) from None


def _why(exc: Exception) -> str:
    text = str(exc)
    if "PATH_NOT_FOUND" in text or "does not exist" in text.lower():
        return "not found (Spark cannot see this path from the cluster)"
    if "TABLE_OR_VIEW_NOT_FOUND" in text:
        return "no such table in the Spark session's catalog"
    if "credential" in text.lower() or "AccessDenied" in text or "403" in text:
        return "access denied (no credentials for this object store on the cluster)"
    return f"Spark cannot read it ({type(exc).__name__})"


def resolve_source(source: Any, spark: Any, input_format: str | None, csv: CsvOptions,
                   table: str | None = None) -> tuple[Any, SparkInput]:
    """The DataFrame to run over and what the receipt says about it (see the module doc)."""
    if hasattr(source, "mapInArrow"):
        return source, SparkInput("<spark.DataFrame>", "spark")
    text = "" if source is None else str(source)
    if table is not None and text.split("://", 1)[0].split("+", 1)[0] in _DB_SCHEMES:
        raise InputError("the Spark engine reads catalog tables (table= without a database "
                         "URL); read a database table with spark.read.jdbc(...) and pass "
                         "the DataFrame", where=table)
    if spark is None:
        from veil.spark.session import session

        spark = session()
    if table is not None:
        try:
            return spark.table(table), SparkInput(f"table:{table}", "table")
        except Exception as exc:  # noqa: BLE001 - reported by kind, naming the table
            raise InputError(_why(exc), where=f"table {table}") from None
    if _URI.match(text):  # object stores, HDFS, file://: Spark's to find, untouched
        fmt = _format(text, input_format, True)
        return _read(spark, text, fmt, csv, text), SparkInput(text, fmt)
    path = Path(text)
    if path.is_dir():
        fmt = _format(text, input_format, True)
        return _read(spark, str(path.resolve()), fmt, csv, text), SparkInput(str(path), fmt)
    if not path.is_file():
        raise InputError("file not found", where=str(path))
    from veil.io.readers import format_of
    from veil.io.writers import sha256_file

    fmt = (input_format or format_of(path)).lower()

    df = _read(spark, str(path.resolve()), fmt, csv, text)
    return df, SparkInput(str(path), fmt, sha256_file(path), path.stat().st_size,
                          file_digest=True)
