"""What a Veil stream reads: a folder Spark watches, Kafka, or the ``rate`` source, and the
schema every micro-batch must keep.

A file stream needs a schema before it starts. The first start learns it from the files
already in the folder (Parquet: Spark's footer schema; CSV: the header, every column as text,
as the batch engine reads CSV; JSON lines: Spark's inference) and keeps it in the checkpoint
folder (``veil_stream.json``), so a restart reads with the same schema whatever has arrived
since. Each micro-batch then checks the files it reads against it (:func:`file_mismatch`):
Spark itself would read a CSV by column position and fill a Parquet column a file lacks with
nulls, which would publish wrong rows without a word.

The same file binds the checkpoint to its output folder: the output's ``_veil_stream.json``
holds the checkpoint's stream id, and a checkpoint paired with another stream's output is
refused (its batch ids would collide with batches already published).
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from veil.errors import InputError
from veil.io.readers import CsvOptions

__all__ = ["FILE", "StreamSource", "bind", "check_source", "file_mismatch", "open_source"]

FILE = "__veil_file"
STATE = "veil_stream.json"
MARK = "_veil_stream.json"
_JSON_LINES = 1000  # a JSON file's keys: the union over its first lines


@dataclass
class StreamSource:
    """A streaming DataFrame and what the receipts and errors call its source."""

    df: Any
    name: str
    format: str  # parquet, csv, jsonl, kafka, rate
    schema_json: str | None = None  # file sources: the schema every batch must keep
    csv: CsvOptions | None = None

    @property
    def is_file(self) -> bool:
        return self.format in ("parquet", "csv", "jsonl")


def _format(name: str, given: str | None) -> str:
    fmt = (given or "").lower()
    if fmt in ("ndjson", "json"):
        fmt = "jsonl"
    if fmt in ("parquet", "csv", "jsonl", "kafka", "rate", "rate-micro-batch"):
        return fmt
    if given:
        raise InputError(f"unknown stream format '{given[:20]}' (parquet, csv, jsonl, kafka or "
                         "rate)", where=name)
    if name in ("kafka", "rate", "rate-micro-batch"):
        return name
    return "parquet"


def check_source(source: str, input_format: str | None = None) -> None:
    """A local source folder must exist (checked before Spark starts: one clear line)."""
    if _format(source, input_format) in ("kafka", "rate", "rate-micro-batch"):
        return
    if "://" in source or Path(source).is_dir():
        return
    raise InputError("source folder not found (a file stream watches a folder)"
                     if not Path(source).exists() else
                     "not a folder (a file stream watches a folder of files)", where=source)


def _csv_reader(reader: Any, opts: CsvOptions) -> Any:
    """The batch engine's CSV settings (`veil.spark.sources`): text columns, "" stays "",
    and enforceSchema off so Spark also checks each file's header against the schema."""
    return (reader.option("header", True).option("multiLine", True)
            .option("sep", opts.delimiter).option("quote", opts.quote_char)
            .option("escape", opts.escape_char or opts.quote_char)
            .option("encoding", opts.encoding).option("nullValue", "\u0000")
            .option("emptyValue", ""))


def _learn_schema(spark: Any, folder: str, fmt: str, opts: CsvOptions, name: str) -> Any:
    from pyspark.sql.types import StringType, StructField, StructType

    try:
        if fmt == "csv":
            header = _csv_reader(spark.read, opts).csv(folder).columns
            return StructType([StructField(c, StringType(), True) for c in header])
        if fmt == "parquet":
            return spark.read.parquet(folder).schema
        return spark.read.json(folder).schema
    except Exception as exc:  # noqa: BLE001 - Spark's analysis error: reported by kind
        if "UNABLE_TO_INFER_SCHEMA" in str(exc) or "PATH_NOT_FOUND" in str(exc):
            raise InputError("no files to learn the stream's schema from: put a first file "
                             "in the folder (or pass schema=)", where=name) from None
        raise InputError(f"Spark cannot read it ({type(exc).__name__})", where=name) from None


def _state(checkpoint: Path) -> dict[str, Any]:
    path = checkpoint / STATE
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]
    except (OSError, ValueError):
        raise InputError("unreadable Veil stream state (not written by veil.spark.stream?)",
                         where=str(path)) from None


def _save_state(checkpoint: Path, state: dict[str, Any]) -> None:
    checkpoint.mkdir(parents=True, exist_ok=True)
    tmp = checkpoint / f".{STATE}.tmp"
    tmp.write_text(json.dumps(state, indent=1, sort_keys=True), encoding="utf-8")
    tmp.replace(checkpoint / STATE)


def open_source(spark: Any, source: str, checkpoint: Path, *, input_format: str | None,
                options: dict[str, str], schema: Any, csv_options: CsvOptions,
                max_files_per_trigger: int | None) -> StreamSource:
    """The streaming DataFrame for `source` (see the module doc); the schema learned at the
    first start is kept in `checkpoint`."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import StructType

    name = str(source)
    fmt = _format(name, input_format)
    if fmt in ("rate", "rate-micro-batch"):
        df = spark.readStream.format(fmt).options(**options).load()
        return StreamSource(df, f"{fmt} source", "rate")
    if fmt == "kafka":
        return _kafka(spark, options, schema)
    check_source(name, fmt)
    remote = "://" in name
    folder = name if remote else str(Path(name).resolve())
    state = _state(checkpoint)
    if schema is not None:
        struct = schema if isinstance(schema, StructType) else StructType.fromDDL(str(schema))
    elif "schema" in state:
        struct = StructType.fromJson(json.loads(state["schema"]))
    else:
        struct = _learn_schema(spark, folder, fmt, csv_options, name)
    if state.get("schema") not in (None, struct.json()):
        raise InputError("the stream's schema differs from the one its checkpoint was "
                         "started with: use a new checkpoint (and output) for a new schema",
                         where=str(checkpoint))
    state.setdefault("stream_id", uuid.uuid4().hex)
    state.update(schema=struct.json(), source=name, format=fmt)
    _save_state(checkpoint, state)
    reader = spark.readStream.schema(struct).options(**options)
    if max_files_per_trigger:
        reader = reader.option("maxFilesPerTrigger", int(max_files_per_trigger))
    if fmt == "csv":
        reader = _csv_reader(reader, csv_options).option("enforceSchema", False)
        df = reader.csv(folder)
    elif fmt == "parquet":
        df = reader.parquet(folder)
    else:
        df = reader.json(folder)
    df = df.select("*", F.col("_metadata.file_path").alias(FILE))
    return StreamSource(df, name, fmt, struct.json(), csv_options)


def _kafka(spark: Any, options: dict[str, str], schema: Any) -> StreamSource:
    """Kafka: each record's value is a JSON object parsed with `schema` (required: a Kafka
    topic carries bytes, not a schema); a record that does not parse becomes a row of nulls,
    which the policy's on_bad_rows handles like any bad row."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import StructType

    topic = options.get("subscribe") or options.get("subscribePattern") or options.get("assign")
    name = f"kafka:{topic or '?'}"
    if not options.get("kafka.bootstrap.servers") or not topic:
        raise InputError("a Kafka stream needs the options kafka.bootstrap.servers and "
                         "subscribe (or subscribePattern, assign)", where=name)
    if schema is None:
        raise InputError("a Kafka stream needs schema= (a DDL string such as 'customer_id "
                         "STRING, amount DOUBLE'): the value's JSON is parsed with it",
                         where=name)
    struct = schema if isinstance(schema, StructType) else StructType.fromDDL(str(schema))
    try:
        raw = spark.readStream.format("kafka").options(**options).load()
    except Exception as exc:  # noqa: BLE001 - e.g. the connector is not on the classpath
        raise InputError("Spark cannot open the Kafka source (is the spark-sql-kafka "
                         f"connector on the classpath?) ({type(exc).__name__})",
                         where=name) from None
    parsed = raw.select(F.from_json(F.col("value").cast("string"), struct).alias("v"))
    return StreamSource(parsed.select("v.*"), name, "kafka", struct.json())


def bind(checkpoint: Path, output: Path) -> str:
    """The checkpoint's stream id, written into the output folder on first use; a pairing of
    a checkpoint with another stream's output is refused."""
    state = _state(checkpoint)
    if "stream_id" not in state:
        state["stream_id"] = uuid.uuid4().hex
        _save_state(checkpoint, state)
    sid = str(state["stream_id"])
    mark = output / MARK
    if mark.is_file():
        try:
            theirs = json.loads(mark.read_text(encoding="utf-8")).get("stream_id")
        except (OSError, ValueError):
            theirs = None
        if theirs != sid:
            raise InputError("this output folder belongs to another stream (another "
                             "checkpoint): its batch ids would collide; use a new output "
                             "folder, or the checkpoint that wrote it", where=str(output))
        return sid
    if any(output.glob("batch=*")):
        raise InputError("this output folder holds batches of a stream without a Veil "
                         "checkpoint mark: use a new output folder", where=str(output))
    output.mkdir(parents=True, exist_ok=True)
    tmp = output / f".{MARK}.tmp"
    tmp.write_text(json.dumps({"stream_id": sid, "checkpoint": str(checkpoint)}),
                   encoding="utf-8")
    tmp.replace(mark)
    return sid


# ---------------------------------------------------------------------------------------------
# per micro-batch: the files read must have the stream's columns


def _open(uri: str) -> Any:
    from pyarrow import fs

    if uri.startswith("file:"):
        from urllib.parse import unquote, urlparse

        return fs.LocalFileSystem(), unquote(urlparse(uri).path)
    return fs.FileSystem.from_uri(uri.replace("s3a://", "s3://", 1))


def _columns(uri: str, src: StreamSource) -> tuple[list[str], dict[str, Any]]:
    """A file's own column names (in order) and, for Parquet, their Spark types."""
    filesystem, path = _open(uri)
    if src.format == "parquet":
        import pyarrow.parquet as pq
        from pyspark.sql.pandas.types import from_arrow_type

        with filesystem.open_input_file(path) as f:
            schema = pq.read_schema(f)
        types: dict[str, Any] = {}
        for field in schema:
            try:
                types[field.name] = from_arrow_type(field.type)
            except Exception:  # noqa: BLE001 - a type Spark cannot take: a mismatch anyway
                types[field.name] = str(field.type)
        return list(schema.names), types
    with filesystem.open_input_stream(path) as f:
        text = io.TextIOWrapper(f, encoding=(src.csv.encoding if src.csv else "utf-8"),
                                errors="replace", newline="")
        if src.format == "csv":
            opts = src.csv or CsvOptions()
            row = next(csv.reader(text, delimiter=opts.delimiter, quotechar=opts.quote_char),
                       [])
            return row, {}
        keys: dict[str, None] = {}
        for i, line in enumerate(text):
            if i >= _JSON_LINES:
                break
            try:
                value = json.loads(line) if line.strip() else {}
            except ValueError:
                continue  # a bad line is the policy's on_bad_rows' business
            if isinstance(value, dict):
                keys.update(dict.fromkeys(value))
        return list(keys), {}


def file_mismatch(uri: str, src: StreamSource) -> str | None:
    """Why a file of a micro-batch does not have the stream's schema, or None."""
    from pyspark.sql.types import StructType

    assert src.schema_json is not None
    want = StructType.fromJson(json.loads(src.schema_json))
    names, types = _columns(uri, src)
    expected = [f.name for f in want.fields]
    if src.format == "csv":
        bad = names != expected
    elif src.format == "jsonl":  # JSON omits null fields: only unknown keys are a change
        bad = not set(names) <= set(expected)
    else:
        bad = set(names) != set(expected) or any(
            types.get(f.name) != f.dataType for f in want.fields)
    if not bad:
        return None
    missing = [] if src.format == "jsonl" else [n for n in expected if n not in names]
    extra = [n for n in names if n not in expected]
    parts = []
    if missing:
        parts.append("lacks " + ", ".join(missing[:5]))
    if extra:
        parts.append("adds " + ", ".join(extra[:5]))
    if not parts and src.format == "csv":
        parts.append("has the columns in another order")
    if not parts:
        changed = [f.name for f in want.fields if types.get(f.name) != f.dataType]
        parts.append("changes the type of " + ", ".join(changed[:5]))
    return "; ".join(parts)
