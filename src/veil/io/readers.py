"""Sources: CSV, Parquet, JSON lines, a database table, pandas/Polars frames.

Every source streams `pyarrow.RecordBatch`es of bounded size, reads only the columns asked
for, converts them to the policy's types, reports rows it must reject (with line, record and
column, never the value) and computes the digest of what it read.
"""

from __future__ import annotations

import bisect
import csv
import functools
import hashlib
import io
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from veil.errors import InputError
from veil.io.types import ARROW_TYPES, BadValue, conform

BATCH_ROWS = 65_536
CSV_BLOCK = 1 << 20


@dataclass
class Reject:
    """A row that could not be read: where it is and why (no values in `reason`)."""

    record: int  # 1-based data record number (header excluded)
    line: int | None  # 1-based physical line in the file, when the source has lines
    column: str | None
    reason: str
    raw: Any = None  # the raw row, written only to the rejects file

    def place(self, source: str) -> str:
        where = f"{source}:{self.line}" if self.line else f"{source}: record {self.record}"
        return f"{where}" + (f", column '{self.column}'" if self.column else "")


OnReject = Callable[[Reject], None]


@dataclass
class RawBatch:
    """A batch as read, for a worker to conform (`veil.pipeline.parallel`): ``rejects`` turns
    the bad values `conform` finds in it into the rejects the reader would have reported, with
    their records and lines (None: the batch is conformed already)."""

    batch: pa.RecordBatch
    rejects: Callable[[pa.RecordBatch, list[BadValue]], list[Reject]] | None = None


@dataclass
class CsvOptions:
    delimiter: str = ","
    quote_char: str = '"'
    encoding: str = "utf-8"
    escape_char: str | None = None


class Source:
    """Base: a named stream of batches. Subclasses set `format` and implement `_read`."""

    format = "?"

    def __init__(self, name: str) -> None:
        self.name = name
        self.size: int | None = None  # bytes, when known (for progress)
        self.position = 0
        self._digest: str | None = None
        #: what identifies the version read (receipt ``input.snapshot``): a file's size and
        #: mtime, an object's ETag, a Delta version, an Iceberg snapshot id; None for frames
        self.snapshot: dict[str, Any] | None = None

    def header(self) -> list[str]:
        raise NotImplementedError

    def batches(self, columns: Sequence[str], types: dict[str, str],
                on_reject: OnReject) -> Iterator[pa.RecordBatch]:
        raise NotImplementedError

    def raw_batches(self, columns: Sequence[str], types: dict[str, str],
                    on_reject: OnReject) -> Iterator[RawBatch]:
        """The batches before type conformance, so workers can conform them. Sources that
        do not split the two conform here."""
        for batch in self.batches(columns, types, on_reject):
            yield RawBatch(batch)

    @property
    def digest(self) -> str | None:
        """SHA-256 of what was read (file bytes, or the Arrow IPC stream for tables)."""
        return self._digest


def read_block(f: io.BufferedReader, n: int) -> bytes:
    """Up to ``n`` bytes of ``f``, ending on a carriage return only at the end of the file (the
    ``\r`` is left for the next read; see `_HashingFile`). The split workers' cuts
    (`veil.pipeline.csv_split`) read their blocks with it too, so both see the same blocks."""
    data = f.read(n)
    if len(data) > 1 and data[-1] == 13 and f.peek(1)[:1]:  # 13: "\r", and more follows
        f.seek(-1, io.SEEK_CUR)
        return data[:-1]
    return data


class _HashingFile(io.RawIOBase):
    """A read-only file that hashes what passes through and counts bytes for progress.

    A read never ends on a carriage return while more bytes follow (it is kept for the next
    read): Arrow's CSV reader drops the ``\n`` of a quoted ``\r\n`` whose two bytes fall in
    two of its blocks (apache/arrow#51368: the value silently loses a byte)."""

    def __init__(self, path: Path, owner: Source) -> None:
        self._f = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._h = hashlib.sha256()
        self._owner = owner

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        data = read_block(self._f, n)
        self._h.update(data)
        self._owner.position += len(data)
        return data

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def]
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def drain(self) -> str:
        while self.read(1 << 20):
            pass
        return self._h.hexdigest()

    def close(self) -> None:
        self._f.close()
        super().close()


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


class CsvSource(Source):
    format = "csv"

    def __init__(self, path: str | Path, options: CsvOptions | None = None) -> None:
        self.path = Path(path)
        super().__init__(str(path))
        self.options = options or CsvOptions()
        _check_file(self.path)
        self.size = self.path.stat().st_size
        self.snapshot = _file_snapshot(self.path)

    def header(self) -> list[str]:
        o = self.options
        with open(self.path, "rb") as f:
            first = f.readline(1 << 20)
        try:
            text = first.decode(o.encoding)
        except UnicodeDecodeError:
            raise InputError(f"header is not valid {o.encoding} text (try --encoding)",
                             where=f"{self.name}:1") from None
        except LookupError:
            raise InputError(f"unknown encoding '{o.encoding}'") from None
        text = text.lstrip("\ufeff")  # Excel's "CSV UTF-8" starts with a byte-order mark
        try:
            row = next(csv.reader([text.rstrip("\r\n")], delimiter=o.delimiter,
                                  quotechar=o.quote_char), None)
        except csv.Error as exc:
            raise InputError(f"unreadable header: {exc}", where=f"{self.name}:1") from None
        if not row or all(not c.strip() for c in row):
            raise InputError("empty file: no header row", where=f"{self.name}:1")
        row[0] = row[0].lstrip("\ufeff")
        names = [c.strip() for c in row]
        _check_names(names, f"{self.name}:1")
        return names

    def batches(self, columns: Sequence[str], types: dict[str, str],
                on_reject: OnReject) -> Iterator[pa.RecordBatch]:
        for raw in self._read(columns, types, on_reject, defer=False):
            yield raw.batch

    def raw_batches(self, columns: Sequence[str], types: dict[str, str],
                    on_reject: OnReject) -> Iterator[RawBatch]:
        return self._read(columns, types, on_reject, defer=True)

    def _read(self, columns: Sequence[str], types: dict[str, str], on_reject: OnReject,
              defer: bool) -> Iterator[RawBatch]:
        o = self.options
        header = self.header()
        skipped: list[int] = []  # record numbers of malformed rows, in order
        malformed: list[Reject] = []

        def invalid_row(row: Any) -> str:
            record = (row.number - 1) if row.number is not None else -1
            skipped.append(record)
            malformed.append(Reject(record, None, None,
                                    f"expected {row.expected_columns} fields, "
                                    f"found {row.actual_columns}", row.text))
            return "skip"

        read_opts = pacsv.ReadOptions(use_threads=False, block_size=CSV_BLOCK,
                                      column_names=header, skip_rows=1, encoding=o.encoding)
        parse_opts = pacsv.ParseOptions(delimiter=o.delimiter, quote_char=o.quote_char,
                                        escape_char=o.escape_char or False,
                                        newlines_in_values=True, invalid_row_handler=invalid_row)
        conv_opts = pacsv.ConvertOptions(include_columns=list(columns),
                                         column_types={c: pa.string() for c in columns},
                                         strings_can_be_null=False,
                                         quoted_strings_can_be_null=False)
        raw = _HashingFile(self.path, self)
        emitted = 0
        try:
            try:
                reader = pacsv.open_csv(raw, read_options=read_opts, parse_options=parse_opts,
                                        convert_options=conv_opts)
            except pa.ArrowInvalid as exc:
                raise self._locate_error(exc) from None
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    break
                except pa.ArrowInvalid as exc:
                    raise self._locate_error(exc) from None
                if malformed:
                    self._fix_lines(malformed)
                    for r in malformed:
                        on_reject(r)
                    malformed.clear()
                if defer:  # record numbers from the rows read so far (``skipped`` only grows)
                    yield RawBatch(batch, functools.partial(
                        self._value_rejects, at=emitted, skipped=skipped, known=len(skipped)))
                    emitted += batch.num_rows
                    continue
                original = batch
                batch, bad = conform(batch, types)
                if bad:
                    for r in self._value_rejects(original, bad, emitted, skipped, len(skipped)):
                        on_reject(r)
                    drop = {b.row for b in bad}
                    batch = batch.filter(pa.array([i not in drop
                                                   for i in range(batch.num_rows)]))
                emitted += original.num_rows
                if batch.num_rows:
                    yield RawBatch(batch)
            if malformed:
                self._fix_lines(malformed)
                for r in malformed:
                    on_reject(r)
            self._digest = raw.drain()
        finally:
            raw.close()

    def _value_rejects(self, original: pa.RecordBatch, bad: list[BadValue], at: int,
                       skipped: list[int], known: int) -> list[Reject]:
        """The rejects of a batch's bad values: the batch's first row is the ``at``-th kept
        row; the first ``known`` of ``skipped`` were skipped before it was read."""
        seen = skipped[:known]
        rejects = [Reject(record_number(at + b.row, seen), None, b.column, b.reason,
                          original.slice(b.row, 1).to_pylist()[0]) for b in bad]
        self._fix_lines(rejects)
        return rejects

    def _fix_lines(self, rejects: list[Reject]) -> None:
        fix_lines(self.path, self.options, rejects)

    def _locate_error(self, exc: Exception) -> InputError:
        """Error path: turn an Arrow parse error into one message that names the line."""
        msg = str(exc).splitlines()[0]
        if "straddl" in msg:
            return self._field_too_long()
        if self.options.encoding.lower().replace("-", "").replace("_", "") == "utf8":
            line = _first_bad_utf8_line(self.path)
            if line is not None:
                return InputError("invalid UTF-8 text (wrong --encoding, or a binary file?)",
                                  where=f"{self.name}:{line}")
        m = re.search(r"Row #(\d+)", msg)
        where = f"{self.name}:{m.group(1)}" if m else self.name
        reason = re.sub(r"^CSV parse error: (Row #\d+: )?", "", msg)
        reason = reason.split(":", 1)[0] if "Expected" in reason else reason
        return InputError(f"unreadable CSV: {reason}", where=where)


    def _field_too_long(self) -> InputError:
        """Error path: a record longer than the reader's block; name its line and column."""
        o = self.options
        limit = csv.field_size_limit()
        csv.field_size_limit(1 << 30)
        try:
            with open(self.path, newline="", encoding=o.encoding, errors="replace") as f:
                reader = csv.reader(f, delimiter=o.delimiter, quotechar=o.quote_char)
                names = next(reader, [])
                start = 2
                for row in reader:
                    if sum(len(v) for v in row) >= CSV_BLOCK // 2:
                        col = max(range(len(row)), key=lambda i: len(row[i]))
                        name = names[col].lstrip("\ufeff") if col < len(names) else f"#{col + 1}"
                        return InputError(
                            f"column {name}: a field of {len(row[col]) / 1e6:.1f} MB is longer "
                            f"than a CSV record may be ({CSV_BLOCK // (1 << 20)} MB)",
                            where=f"{self.name}:{start}")
                    start = reader.line_num + 1
        except csv.Error:
            pass
        finally:
            csv.field_size_limit(limit)
        return InputError(f"a CSV record is longer than {CSV_BLOCK // (1 << 20)} MB",
                          where=self.name)


def record_number(emitted_index: int, skipped: list[int]) -> int:
    """1-based record number of the `emitted_index`-th kept row, given skipped records."""
    r = emitted_index + 1
    while True:
        n = bisect.bisect_right(skipped, r)
        candidate = emitted_index + 1 + n
        if candidate == r:
            return r
        r = candidate


def fix_lines(path: Path, o: CsvOptions, rejects: list[Reject]) -> None:
    """Error path: set the physical line of each rejected record by rescanning the file (a
    record may span lines)."""
    wanted = sorted({r.record for r in rejects if r.record > 0})
    if not wanted:
        return
    lines: dict[int, int] = {}
    limit = csv.field_size_limit()
    csv.field_size_limit(1 << 30)  # Arrow reads fields longer than the csv module's 128 KiB
    try:
        with open(path, newline="", encoding=o.encoding, errors="replace") as f:
            reader = csv.reader(f, delimiter=o.delimiter, quotechar=o.quote_char)
            record, start_line, target = -1, 1, iter(wanted)
            want = next(target)
            try:
                for row in reader:
                    if row:  # Arrow skips empty lines: they are no records
                        record += 1
                        if record == want:
                            lines[want] = start_line
                            want = next(target)
                    start_line = reader.line_num + 1
            except (StopIteration, csv.Error):
                pass
    finally:
        csv.field_size_limit(limit)
    for r in rejects:
        r.line = lines.get(r.record)


def _first_bad_utf8_line(path: Path) -> int | None:
    with open(path, "rb") as f:
        for n, line in enumerate(f, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return n
    return None


def _check_file(path: Path) -> None:
    if not path.exists():
        raise InputError("file not found", where=str(path))
    if path.is_dir():
        raise InputError("is a folder, not a file", where=str(path))


def _file_snapshot(path: Path) -> dict[str, Any]:
    from datetime import UTC, datetime

    st = path.stat()
    return {"kind": "file", "size": st.st_size,
            "mtime": datetime.fromtimestamp(st.st_mtime, UTC).isoformat()}


def _check_names(names: list[str], where: str) -> None:
    seen: set[str] = set()
    for i, n in enumerate(names, start=1):
        if not n:
            raise InputError(f"column {i} has an empty name", where=where)
        if n in seen:
            raise InputError(f"column name '{n}' appears twice", where=where)
        seen.add(n)


class ParquetSource(Source):
    format = "parquet"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        super().__init__(str(path))
        _check_file(self.path)
        self.size = self.path.stat().st_size
        self.snapshot = _file_snapshot(self.path)
        try:
            self._file = pq.ParquetFile(self.path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError(f"not a readable Parquet file ({str(exc).splitlines()[0]})",
                             where=self.name) from None

    def header(self) -> list[str]:
        names = list(self._file.schema_arrow.names)
        _check_names(names, self.name)
        return names

    def batches(self, columns: Sequence[str], types: dict[str, str],
                on_reject: OnReject) -> Iterator[pa.RecordBatch]:
        for raw in self._read(columns, types, on_reject, defer=False):
            yield raw.batch

    def raw_batches(self, columns: Sequence[str], types: dict[str, str],
                    on_reject: OnReject) -> Iterator[RawBatch]:
        return self._read(columns, types, on_reject, defer=True)

    def _read(self, columns: Sequence[str], types: dict[str, str], on_reject: OnReject,
              defer: bool) -> Iterator[RawBatch]:
        record = 0
        try:
            for rg in range(self._file.num_row_groups):
                for batch in self._file.iter_batches(batch_size=BATCH_ROWS, row_groups=[rg],
                                                     columns=list(columns), use_threads=False):
                    batch = _ensure_order(batch, columns)
                    self.position = int((self.size or 0) * (rg + 1)
                                        / max(1, self._file.num_row_groups))
                    if defer:
                        yield RawBatch(batch, functools.partial(_bad_rejects, first=record))
                        record += batch.num_rows
                        continue
                    out, bad = conform(batch, types)
                    if bad:
                        out = _drop_bad(out, bad, record, on_reject)
                    record += batch.num_rows
                    if out.num_rows:
                        yield RawBatch(out)
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError(f"corrupt Parquet data ({str(exc).splitlines()[0]})",
                             where=self.name) from None
        self._digest = _file_digest(self.path)


def _ensure_order(batch: pa.RecordBatch, columns: Sequence[str]) -> pa.RecordBatch:
    if batch.schema.names == list(columns):
        return batch
    return pa.RecordBatch.from_arrays([batch.column(c) for c in columns], names=list(columns))


def _bad_rejects(original: pa.RecordBatch, bad: list[BadValue], first: int) -> list[Reject]:
    """A record-numbered source's rejects: its batch starts after ``first`` records."""
    return [Reject(first + b.row + 1, None, b.column, b.reason) for b in bad]


def _drop_bad(batch: pa.RecordBatch, bad: list, first_record: int,
              on_reject: OnReject) -> pa.RecordBatch:
    rows = {b.row for b in bad}
    for r in _bad_rejects(batch, bad, first_record):
        on_reject(r)
    return batch.filter(pa.array([i not in rows for i in range(batch.num_rows)]))


class JsonLinesSource(Source):
    """JSON lines: one object per line. Parsed with the standard library to name bad lines."""

    format = "jsonl"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        super().__init__(str(path))
        _check_file(self.path)
        self.size = self.path.stat().st_size
        self.snapshot = _file_snapshot(self.path)
        self._keys: list[str] | None = None

    def header(self) -> list[str]:
        if self._keys is None:
            keys: dict[str, None] = {}
            for _n, obj in self._objects(lambda r: None):
                keys.update(dict.fromkeys(obj))
            self._keys = list(keys)
            if not self._keys:
                raise InputError("empty file: no JSON objects", where=self.name)
        return self._keys

    def _objects(self, on_reject: OnReject) -> Iterator[tuple[int, dict]]:
        h = hashlib.sha256()
        record = 0
        with open(self.path, "rb") as f:
            for n, line in enumerate(f, start=1):
                h.update(line)
                self.position += len(line)
                if not line.strip():
                    continue
                record += 1
                try:
                    obj = json.loads(line)
                except UnicodeDecodeError:
                    on_reject(Reject(record, n, None, "invalid UTF-8 text", None))
                    continue
                except json.JSONDecodeError as exc:
                    on_reject(Reject(record, n, None,
                                     f"invalid JSON: {exc.msg} at column {exc.colno}",
                                     line.decode("utf-8", "replace")))
                    continue
                if not isinstance(obj, dict):
                    on_reject(Reject(record, n, None, "a line must hold a JSON object",
                                     line.decode("utf-8", "replace")))
                    continue
                yield n, obj
        self._digest = h.hexdigest()

    def batches(self, columns: Sequence[str], types: dict[str, str],
                on_reject: OnReject) -> Iterator[pa.RecordBatch]:
        self.position = 0
        rows: list[dict] = []
        lines: list[int] = []
        record_base = 0
        for n, obj in self._objects(on_reject):
            rows.append(obj)
            lines.append(n)
            if len(rows) >= BATCH_ROWS:
                yield from self._emit(rows, lines, columns, types, on_reject, record_base)
                record_base += len(rows)
                rows, lines = [], []
        if rows:
            yield from self._emit(rows, lines, columns, types, on_reject, record_base)

    def _emit(self, rows: list[dict], lines: list[int], columns: Sequence[str],
              types: dict[str, str], on_reject: OnReject,
              record_base: int) -> Iterator[pa.RecordBatch]:
        arrays = []
        for c in columns:
            values = [r.get(c) for r in rows]
            arrays.append(json_column(values, types.get(c, "string")))
        batch = pa.RecordBatch.from_arrays(arrays, names=list(columns))
        out, bad = conform(batch, types)
        if bad:
            badrows = {b.row for b in bad}
            for b in bad:
                on_reject(Reject(record_base + b.row + 1, lines[b.row], b.column, b.reason,
                                 rows[b.row]))
            out = out.filter(pa.array([i not in badrows for i in range(out.num_rows)]))
        if out.num_rows:
            yield out


def json_column(values: list[Any], kind: str) -> pa.Array:
    """Values of one JSON field: typed when JSON gave the type, else text that `conform` casts
    (shared by JSON-lines files and streamed events)."""
    target = ARROW_TYPES[kind]
    if kind != "string" and all(v is None or not isinstance(v, (str, dict, list)) for v in values):
        try:
            return pa.array(values, type=target)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            pass
    return pa.array([v if v is None or isinstance(v, str) else json.dumps(v) for v in values],
                    type=pa.string())


class TableSource(Source):
    """An in-memory Arrow table (from pandas, Polars or Arrow) streamed in batches."""

    format = "dataframe"

    def __init__(self, table: pa.Table, name: str = "<dataframe>") -> None:
        super().__init__(name)
        self.table = table
        _check_names(list(table.schema.names), name)
        self.size = table.nbytes

    def header(self) -> list[str]:
        return list(self.table.schema.names)

    def batches(self, columns: Sequence[str], types: dict[str, str],
                on_reject: OnReject) -> Iterator[pa.RecordBatch]:
        h = hashlib.sha256()
        record = 0
        for batch in self.table.select(list(columns)).to_batches(max_chunksize=BATCH_ROWS):
            h.update(_ipc_bytes(batch))
            out, bad = conform(batch, types)
            if bad:
                out = _drop_bad(out, bad, record, on_reject)
            record += batch.num_rows
            self.position += batch.nbytes
            if out.num_rows:
                yield out
        self._digest = h.hexdigest()


def _ipc_bytes(batch: pa.RecordBatch) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as w:
        w.write_batch(batch)
    return sink.getvalue().to_pybytes()


class SqlSource(Source):
    """A table from a SQLAlchemy URL, streamed with a server-side cursor."""

    format = "sql"

    def __init__(self, url: str, table: str) -> None:
        import sqlalchemy as sa

        from veil.store.db import create_engine

        super().__init__(f"{sa.make_url(url).render_as_string(hide_password=True)}#{table}")
        self.engine = create_engine(url)
        try:
            self.table = sa.Table(table, sa.MetaData(), autoload_with=self.engine)
        except sa.exc.NoSuchTableError:
            raise InputError(f"no table '{table}' in the database", where=self.name) from None
        except sa.exc.OperationalError as exc:
            raise InputError(f"cannot read database: {exc.orig}", where=self.name) from None

    def header(self) -> list[str]:
        return [c.name for c in self.table.columns]

    def batches(self, columns: Sequence[str], types: dict[str, str],
                on_reject: OnReject) -> Iterator[pa.RecordBatch]:
        import sqlalchemy as sa

        h = hashlib.sha256()
        cols = [self.table.c[c] for c in columns]
        query = sa.select(*cols)
        pk = list(self.table.primary_key.columns)
        if pk:
            query = query.order_by(*pk)
        record = 0
        with self.engine.connect() as conn:
            streaming = conn.execution_options(stream_results=True, yield_per=BATCH_ROWS)
            result = streaming.execute(query)
            for part in result.partitions(BATCH_ROWS):
                arrays = [json_column([row[i] for row in part], types.get(c, "string"))
                          if types.get(c, "string") == "string" else _sql_column(
                              [row[i] for row in part], types.get(c, "string"))
                          for i, c in enumerate(columns)]
                batch = pa.RecordBatch.from_arrays(arrays, names=list(columns))
                h.update(_ipc_bytes(batch))
                out, bad = conform(batch, types)
                if bad:
                    out = _drop_bad(out, bad, record, on_reject)
                record += len(part)
                if out.num_rows:
                    yield out
        self._digest = h.hexdigest()
        self.engine.dispose()


def _sql_column(values: list[Any], kind: str) -> pa.Array:
    try:
        return pa.array(values, type=ARROW_TYPES[kind])
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return pa.array([None if v is None else str(v) for v in values], type=pa.string())


@dataclass
class SourceSpec:
    """How to open an input: a path, a database URL (+ table), or a frame."""

    ref: Any
    format: str | None = None
    table: str | None = None
    csv: CsvOptions = field(default_factory=CsvOptions)


def open_source(ref: Any, *, format: str | None = None, table: str | None = None,
                csv_options: CsvOptions | None = None) -> Source:
    """Open a path (.csv/.parquet/.jsonl), a Parquet folder, an object-store URI, a Delta or
    Iceberg table (`veil.io.uris`), a SQLAlchemy URL with `table`, or a DataFrame."""
    if isinstance(ref, Source):
        return ref
    if isinstance(ref, pa.Table):
        return TableSource(ref)
    if isinstance(ref, pa.RecordBatch):
        return TableSource(pa.Table.from_batches([ref]))
    mod = type(ref).__module__
    if mod.startswith("pandas"):
        return TableSource(pa.Table.from_pandas(ref, preserve_index=False), "<pandas.DataFrame>")
    if mod.startswith("polars"):
        return TableSource(ref.to_arrow(), "<polars.DataFrame>")
    text = str(ref)
    from veil.io.uris import open_uri

    located = open_uri(text, format, csv_options)
    if located is not None:
        return located
    if "://" in text and not Path(text).exists():
        if not table:
            raise InputError("a database input needs a table name (--table)", where=text)
        return SqlSource(text, table)
    path = Path(text)
    fmt = (format or format_of(path)).lower()
    if fmt == "csv":
        return CsvSource(path, csv_options)
    if fmt == "parquet":
        return ParquetSource(path)
    if fmt in ("jsonl", "ndjson", "json"):
        return JsonLinesSource(path)
    raise InputError(f"unknown input format '{fmt}' (use csv, parquet or jsonl)", where=text)


def format_of(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    for s in reversed(suffixes):
        if s in (".csv", ".tsv", ".txt"):
            return "csv"
        if s in (".parquet", ".pq"):
            return "parquet"
        if s in (".jsonl", ".ndjson", ".json"):
            return "jsonl"
    raise InputError("cannot tell the format from the file name (use --format)", where=str(path))
