"""Bounded Arrow batch streams for the scan: Arrow's fast CSV reader re-cut into batches of
about :data:`SCAN_BATCH_ROWS` rows, Parquet row groups, and a tolerant line-by-line CSV reader
that skips exactly the rows it cannot read (ragged, undecodable, binary) and truncates huge
cells. ``Position`` counts the bytes read, for progress bars."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from veil.discovery.scan_results import SkipLog, Skipped
from veil.discovery.scan_types import TypeGuesser
from veil.errors import InputError
from veil.io.readers import CsvOptions, CsvSource, Reject, Source, open_source

SCAN_BATCH_ROWS = 32_768
SCAN_BATCH_BYTES = 64 * 1024**2
MAX_LINE_BYTES = 64 * 1024**2  # a physical line longer than this is skipped unread


def fast_csv(src: CsvSource, header: list[str], on_reject: Any) -> Iterator[pa.RecordBatch]:
    yield from rebatch(src.batches(header, {}, on_reject))


def rebatch(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Re-cut small batches into batches of about :data:`SCAN_BATCH_ROWS` rows (bounded in
    bytes too): per-batch work (distinct values, routing) is amortized over more rows."""
    buf: list[pa.RecordBatch] = []
    rows = 0
    nbytes = 0
    for b in batches:
        if b.num_rows == 0:
            continue
        buf.append(b)
        rows += b.num_rows
        nbytes += b.nbytes
        if rows >= SCAN_BATCH_ROWS or nbytes >= SCAN_BATCH_BYTES:
            yield _combine(buf)
            buf, rows, nbytes = [], 0, 0
    if buf:
        yield _combine(buf)


def _combine(buf: list[pa.RecordBatch]) -> pa.RecordBatch:
    if len(buf) == 1:
        return buf[0]
    table = pa.Table.from_batches(buf).combine_chunks()
    out = table.to_batches()
    return out[0] if len(out) == 1 else pa.Table.from_batches(out).combine_chunks().to_batches()[0]


class Position:
    """Bytes read so far, from a Source's counter or counted by our own readers."""

    def __init__(self) -> None:
        self.source: Source | None = None
        self.bytes = 0

    def get(self) -> int:
        return self.source.position if self.source is not None else self.bytes


def reader_of(
    schema: pa.Schema,
    batches: Iterable[pa.RecordBatch],
    types: TypeGuesser,
    tick: Callable[[], None] | None = None,
) -> pa.RecordBatchReader:
    def feed() -> Iterator[pa.RecordBatch]:
        for b in batches:
            if b.schema != schema:
                b = pa.RecordBatch.from_arrays(
                    [b.column(i).cast(schema.field(i).type) for i in range(b.num_columns)],
                    schema=schema,
                )
            types.add(b)
            if tick is not None:
                tick()
            yield b

    return pa.RecordBatchReader.from_batches(schema, feed())


def parquet_batches(
    path: Path, where: Position
) -> tuple[Source, pa.Schema, Iterator[pa.RecordBatch]]:
    import pyarrow.parquet as pq

    src = open_source(path, format="parquet")  # checks the file, with a clear error
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(
            f"not a readable Parquet file ({str(exc).splitlines()[0]})", where=str(path)
        ) from None
    schema = pf.schema_arrow

    total = max(1, pf.metadata.num_rows)
    size = path.stat().st_size

    def batches() -> Iterator[pa.RecordBatch]:
        done = 0
        try:
            for b in pf.iter_batches(batch_size=SCAN_BATCH_ROWS, use_threads=False):
                done += b.num_rows
                where.bytes = int(size * done / total)
                yield b
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError(
                f"corrupt Parquet data ({str(exc).splitlines()[0]})", where=str(path)
            ) from None

    return src, schema, batches()


# -- the tolerant CSV reader ---------------------------------------------------------------


def physical_lines(
    path: Path, encoding: str, skipped: SkipLog, start_line: int = 1, where: Position | None = None
) -> Iterator[tuple[int, str]]:
    """(line number, text) for each physical line that decodes; lines that do not (or hold
    NUL bytes, or exceed :data:`MAX_LINE_BYTES`) are skipped and logged."""
    lineno = 0
    hint = _encoding_hint(encoding)
    with open(path, "rb") as f:
        while True:
            raw = f.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            lineno += 1
            if where is not None:
                where.bytes += len(raw)
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                while True:  # drain the rest of the line without keeping it
                    more = f.readline(1 << 20)
                    if not more or more.endswith(b"\n"):
                        break
                if lineno >= start_line:
                    skipped.add(
                        Skipped(lineno, None, f"line longer than {MAX_LINE_BYTES // 1024**2} MiB")
                    )
                continue
            if lineno < start_line:
                continue
            if b"\x00" in raw:
                skipped.add(Skipped(lineno, None, "binary data (NUL bytes) in the line"))
                continue
            try:
                text = raw.decode(encoding)
            except UnicodeDecodeError as exc:
                skipped.add(
                    Skipped(
                        lineno,
                        None,
                        f"not valid {encoding} text (byte {exc.start + 1} of the line){hint}",
                    )
                )
                continue
            yield lineno, text


def _encoding_hint(encoding: str) -> str:
    e = encoding.lower().replace("-", "").replace("_", "")
    if e in ("utf8", "utf8sig"):
        return "; wrong encoding? try --encoding cp1252 or latin-1"
    return ""


def tolerant_csv(
    path: Path,
    opts: CsvOptions,
    header: list[str],
    skipped: SkipLog,
    long_cells: SkipLog,
    max_cell_chars: int,
    where: Position | None = None,
) -> Iterator[pa.RecordBatch]:
    """Python's csv module over the decodable lines: slower than Arrow, but it skips exactly
    the rows it cannot read (ragged, undecodable, binary) and truncates huge cells."""
    ncol = len(header)
    first = [0]  # first physical line of the record being read (0: not started)
    record = 0

    def lines() -> Iterator[str]:
        for n, text in physical_lines(path, opts.encoding, skipped, 2, where):
            if not first[0]:
                first[0] = n
            yield text

    old_limit = csv.field_size_limit()
    csv.field_size_limit(max(old_limit, MAX_LINE_BYTES))
    try:
        reader = csv.reader(
            lines(),
            delimiter=opts.delimiter,
            quotechar=opts.quote_char,
            escapechar=opts.escape_char,
            strict=False,
        )
        cols: list[list[str]] = [[] for _ in range(ncol)]
        nrows = 0
        nbytes = 0
        while True:
            first[0] = 0
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                record += 1
                skipped.add(Skipped(first[0] or None, record, f"unreadable CSV row ({exc})"))
                continue
            if not row:
                continue  # a blank line
            record += 1
            line = first[0]
            if len(row) != ncol:
                skipped.add(Skipped(line, record, f"expected {ncol} fields, found {len(row)}"))
                continue
            for i, v in enumerate(row):
                if len(v) > max_cell_chars:
                    long_cells.add(Skipped(line, record, f"{len(v):,} characters", header[i]))
                    v = v[:max_cell_chars]
                cols[i].append(v)
                nbytes += len(v)
            nrows += 1
            if nrows >= SCAN_BATCH_ROWS or nbytes >= SCAN_BATCH_BYTES:
                yield _batch_of(cols, header)
                cols = [[] for _ in range(ncol)]
                nrows = nbytes = 0
        if nrows:
            yield _batch_of(cols, header)
    finally:
        csv.field_size_limit(old_limit)


def _batch_of(cols: list[list[str]], header: list[str]) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([pa.array(c, pa.string()) for c in cols], names=header)


def note_long_cells(notes: list[str], long_cells: SkipLog, source: str, limit: int) -> None:
    if not long_cells.count:
        return
    first = long_cells.items[0]
    notes.append(
        f"{long_cells.count:,} cell(s) longer than {limit:,} characters were scanned up to "
        f"that length (first: {first.place(source)}, {first.reason})"
    )


def skipped_from(r: Reject) -> Skipped:
    return Skipped(r.line, r.record, r.reason, r.column)
