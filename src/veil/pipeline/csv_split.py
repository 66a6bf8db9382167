"""A CSV file cut where pyarrow's streaming reader would batch it, so each worker reads its own.

With ``--workers N`` the parent does not parse the CSV (the largest share of its CPU) and does
not pipe rows to the workers: it reads the file in `CSV_BLOCK` blocks, as pyarrow's reader
does, hashes them (the receipt's digest) and cuts each block (with what was left of the one
before) after its last complete record, which is exactly the batch pyarrow makes of it. A
worker gets only the chunk's place in the file (offset, length), reads those bytes itself and
parses them with the single-core reader's options. So the batches, their numbers (noise seeds)
and the row groups are the single-core run's.

Where a record ends depends on quoting: a line break inside a quoted field is not one. A line
break is outside quotes when an even number of quote characters precede it in the chunk (numpy
counts them), which holds as long as every quote that opens a field by that count stands at a
field's start: after the delimiter, a line break, or the quote closing the value before (a
doubled ``""``). Where that check fails (a stray quote inside an unquoted field, which pyarrow
reads as a character) an exact lexer cuts the chunk (a regular expression, slower, same cut).
An escape character or a text encoding other than UTF-8 keeps the parsing in the parent.

The parent notes the file's size and modification time when it starts and checks them when it
has read the last block and again after the workers' last read: the workers read the file
again, so a file changed during the run fails it (nothing published) rather than giving an
output its digest does not describe (a change that keeps both size and modification time is
not seen, as for the single-core reader's checks).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from veil.errors import InputError, VeilError
from veil.io.readers import RawBatch, Reject

if TYPE_CHECKING:  # pragma: no cover
    from veil.io.readers import CsvSource
    from veil.pipeline.plan import Plan
    from veil.pipeline.runner import Runner

__all__ = ["Chunk", "Parsed", "chunks", "parse", "reread_error", "split_batches", "splittable",
           "unchanged"]


@dataclass(frozen=True)
class Chunk:
    """Complete records of the file: ``length`` bytes at ``offset`` (``length`` -1: a record
    longer than a block, which the single-core reader refuses)."""

    path: str
    offset: int
    length: int
    header: tuple[str, ...]
    columns: tuple[str, ...]
    delimiter: str
    quote_char: str


@dataclass
class Parsed:
    """A worker's parse of a chunk: the batch, and the rows pyarrow skipped (malformed),
    numbered from the chunk's first record (1)."""

    batch: pa.RecordBatch | None  # None: pyarrow could not parse the chunk
    records: int = 0  # records in the chunk: rows read plus rows skipped
    malformed: list[Reject] = field(default_factory=list)


def splittable(source: CsvSource) -> bool:
    """Whether the workers can read ``source`` themselves: UTF-8, quotes escaped by doubling,
    and a first block that holds the header and a complete record (pyarrow's first batch
    is then the first chunk)."""
    from veil.io import readers

    o = source.options
    utf8 = o.encoding.lower().replace("-", "").replace("_", "") in ("utf8", "utf8sig")
    if not (utf8 and not o.escape_char and len(o.delimiter) == 1 and len(o.quote_char) == 1):
        return False
    with open(source.path, "rb") as f:
        first = f.read(readers.CSV_BLOCK)
        more = bool(f.read(1))
    eol = first.find(b"\n")
    if eol < 0 or b"\r" in first[:max(eol - 1, 0)]:  # no header line, or lines ended by CR
        return False
    return not more or bool(_Cutter(o.delimiter, o.quote_char).end(_after_header(first)))


def _after_header(block: bytes) -> bytes:
    return block[block.find(b"\n") + 1:] if b"\n" in block else b""


def _lexer(delimiter: bytes, quote: bytes) -> re.Pattern[bytes]:
    """As many complete records as pyarrow's lexer reads from a record's start (exact)."""
    d, q = re.escape(delimiter), re.escape(quote)
    plain = rb"[^" + q + rb"\r\n]++"
    quoted = rb"(?<![^" + d + rb"\r\n])" + q + rb"(?:[^" + q + rb"]++|" + q + q + rb")*+" + q
    literal = rb"(?<=[^" + d + rb"\r\n])" + q  # a quote inside an unquoted field
    record = rb"(?:" + plain + rb"|" + quoted + rb"|" + literal + rb")*+(?:\r\n|\n|\r)"
    return re.compile(rb"(?:" + record + rb")*+")


class _Cutter:
    """Finds the end of the last complete record in a buffer that starts with a record."""

    def __init__(self, delimiter: str, quote: str) -> None:
        self.q = ord(quote)
        self.exact = _lexer(delimiter.encode(), quote.encode())
        self.starts = np.zeros(256, dtype=bool)  # what may stand before a field's quote
        self.starts[[ord(delimiter), 10, 13, ord(quote)]] = True

    def end(self, buf: bytes) -> int:
        """0: no complete record in ``buf``."""
        arr = np.frombuffer(buf, dtype=np.uint8)
        quotes = np.flatnonzero(arr == self.q)
        opens = quotes[::2]  # by the count; each must stand at a field's start
        opens = opens[opens > 0]
        if len(opens) and not self.starts[arr[opens - 1]].all():
            return self.exact.match(buf).end()  # a stray quote: the exact, slower cut
        pos = len(buf)
        while True:  # the last line break outside quotes
            nl = max(buf.rfind(b"\n", 0, pos), buf.rfind(b"\r", 0, pos))
            if nl < 0:
                return 0
            if int(np.searchsorted(quotes, nl)) % 2 == 0:
                return nl + 1
            pos = nl


def chunks(source: CsvSource, columns: Sequence[str], digest: list[str]) -> Iterator[Chunk]:
    """The file's chunks, in order, as pyarrow's streaming reader would parse them; hashes
    what it reads (appended to ``digest`` at the end) and counts it for progress."""
    from veil.io import readers

    o = source.options
    make = _maker(source, columns)
    cut = _Cutter(o.delimiter, o.quote_char)
    h = hashlib.sha256()
    block = readers.CSV_BLOCK
    with open(source.path, "rb") as f:
        before = os.fstat(f.fileno())

        def read() -> bytes:
            data = readers.read_block(f, block)
            h.update(data)
            return data

        data = read()
        at = len(data) - len(_after_header(data))  # the buffer's offset in the file
        rest, data = b"", data[at:]
        following = read()
        while data or rest:
            source.position += len(data)
            buf = rest + data if rest else data
            if not following:  # the last block takes all, as pyarrow's does
                if buf.strip(b"\r\n"):
                    yield make(at, len(buf))
                break
            end = cut.end(buf)
            if not end and buf.strip(b"\r\n"):  # a record longer than a block
                yield make(at, -1)
                return
            if end:
                yield make(at, end)
            rest, data, at = buf[end:], following, at + end
            following = read()
        unchanged(source, before, os.fstat(f.fileno()))
    digest.append(h.hexdigest())


def _maker(source: CsvSource, columns: Sequence[str]) -> Any:
    o, header, path = source.options, tuple(source.header()), str(source.path)
    return lambda offset, length: Chunk(path, offset, length, header, tuple(columns),
                                        o.delimiter, o.quote_char)


def unchanged(source: CsvSource, before: os.stat_result, after: os.stat_result) -> None:
    """Refuse a file whose size or modification time moved between two looks."""
    if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns):
        raise InputError("the file changed while the run read it: run it again",
                         where=source.name)


def parse(c: Chunk) -> Parsed:
    """A worker's parse of a chunk (read here), with the options of the single-core reader."""
    if c.length < 0:
        return Parsed(None)
    with open(c.path, "rb") as f:
        data = os.pread(f.fileno(), c.length, c.offset)
    malformed: list[Reject] = []

    def invalid_row(row: Any) -> str:
        record = row.number if row.number is not None else -1
        malformed.append(Reject(record, None, None, f"expected {row.expected_columns} fields, "
                                f"found {row.actual_columns}", row.text))
        return "skip"

    try:
        table = pacsv.read_csv(
            pa.py_buffer(data),
            read_options=pacsv.ReadOptions(use_threads=False, block_size=len(data) + 1,
                                           column_names=list(c.header)),
            parse_options=pacsv.ParseOptions(delimiter=c.delimiter, quote_char=c.quote_char,
                                             newlines_in_values=True,
                                             invalid_row_handler=invalid_row),
            convert_options=pacsv.ConvertOptions(
                include_columns=list(c.columns),
                column_types={n: pa.string() for n in c.columns},
                strings_can_be_null=False, quoted_strings_can_be_null=False))
    except pa.ArrowInvalid:
        return Parsed(None)
    batches = table.combine_chunks().to_batches()
    out = batches[0] if batches else pa.RecordBatch.from_pylist([], schema=table.schema)
    return Parsed(out, out.num_rows + len(malformed), malformed)


class _Read:
    """The source as the run's receipt sees it: the digest is that of the bytes the parent
    read (`chunks`), the rest the source's own."""

    def __init__(self, source: CsvSource, digest: list[str]) -> None:
        self._source, self._digest = source, digest

    def __getattr__(self, name: str) -> Any:
        return getattr(self._source, name)

    @property
    def digest(self) -> str | None:
        return self._digest[0] if self._digest else None


def split_batches(runner: Runner, source: CsvSource) -> Iterator[RawBatch]:
    """``source``'s chunks for the workers, the time spent cutting them counted as reading;
    the runner's receipt then takes the digest of what was read."""
    import time

    digest: list[str] = []
    runner.source = _Read(source, digest)  # type: ignore[assignment]
    it = chunks(source, runner.plan.read, digest)
    while True:
        t0 = time.perf_counter()
        chunk = next(it, None)
        runner.t_read += time.perf_counter() - t0
        if chunk is None:
            return
        yield RawBatch(chunk)  # type: ignore[arg-type]


def reread_error(source: CsvSource, plan: Plan) -> VeilError:
    """A chunk pyarrow could not parse: the file read again as the single-core run reads it,
    for its error (the same text and line)."""
    from veil.io.readers import CsvSource

    again = CsvSource(source.path, source.options)
    try:
        for _ in again.raw_batches(plan.read, plan.types, lambda r: None):
            pass
    except VeilError as exc:
        return exc
    return InputError("unreadable CSV", where=source.name)
