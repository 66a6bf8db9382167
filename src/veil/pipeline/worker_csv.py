"""CSV parsing in the workers: the parent cuts the file into the blocks pyarrow would parse.

With ``--workers N`` the parent no longer parses the CSV (the largest share of its CPU): it
reads the file in `CSV_BLOCK` pieces, as pyarrow's streaming reader does, and cuts each
(with what was left of the one before) after its last complete record, which is exactly the
batch pyarrow makes of it; a worker parses that chunk with the same options. So the batches,
their numbers (noise seeds) and the row groups are the single-core run's.

Where a record ends depends on quoting: a newline inside a quoted field is not one. The
parent counts quotes (numpy, no Python loop per row): a newline is outside quotes when an
even number of quote characters precede it in the chunk, which holds as long as every quote
that opens a field (by that count) stands at a field's start (after the delimiter, a line
break, or the quote that closes the field before: ``""``). A chunk where that check fails (a
stray quote in an unquoted field) is cut by an exact lexer (a regular expression, slower).
An escape character or a text encoding other than UTF-8 keeps the parsing in the parent.

Records are numbered per chunk in the worker and made the file's in the parent, in order;
a chunk pyarrow cannot parse (or too long a record) makes the parent read the file again as
the single-core run does, so the error is the same error at the same line.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

if TYPE_CHECKING:  # pragma: no cover
    from veil.io.readers import CsvSource, Reject

__all__ = ["Chunk", "Parsed", "chunks", "parallel_csv", "parse"]


@dataclass
class Chunk:
    """Complete records of the file, for a worker to parse (``data`` None: unparseable)."""

    data: bytes | None
    header: list[str]
    columns: list[str]
    delimiter: str
    quote_char: str


@dataclass
class Parsed:
    """A worker's parse of a chunk: the batch, and the rows pyarrow skipped (malformed),
    numbered from the chunk's first record (1)."""

    batch: pa.RecordBatch | None  # None: pyarrow could not parse the chunk
    records: int = 0  # records in the chunk: rows read plus rows skipped
    malformed: list[Reject] = field(default_factory=list)


def parallel_csv(source: CsvSource) -> bool:
    """Whether the workers can parse ``source``: UTF-8, and quotes escaped by doubling."""
    o = source.options
    utf8 = o.encoding.lower().replace("-", "").replace("_", "") in ("utf8", "utf8sig")
    return utf8 and not o.escape_char and len(o.delimiter) == 1 and len(o.quote_char) == 1


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
        self.d, self.q = ord(delimiter), ord(quote)
        self.exact = _lexer(delimiter.encode(), quote.encode())
        self.starts = np.array([ord(delimiter), 10, 13, ord(quote)], dtype=np.uint8)

    def end(self, buf: bytes) -> int:
        """0: no complete record in ``buf``."""
        arr = np.frombuffer(buf, dtype=np.uint8)
        quotes = np.flatnonzero(arr == self.q)
        opens = quotes[::2]  # by the count; each must stand at a field's start
        opens = opens[opens > 0]
        if len(opens) and not np.isin(arr[opens - 1], self.starts).all():
            return self.exact.match(buf).end()  # a stray quote: the exact, slower cut
        pos = len(buf)
        while True:  # the last line break outside quotes
            nl = max(buf.rfind(b"\n", 0, pos), buf.rfind(b"\r", 0, pos))
            if nl < 0:
                return 0
            if int(np.searchsorted(quotes, nl)) % 2 == 0:
                return nl + 1
            pos = nl


def chunks(source: CsvSource, columns: Sequence[str]) -> Iterator[Chunk]:
    """The file's chunks, in order, as pyarrow's streaming reader would parse them; hashes
    what it reads (``source.digest``) and counts it for progress."""
    from veil.io import readers

    o = source.options
    header = source.header()
    cut = _Cutter(o.delimiter, o.quote_char)
    h = hashlib.sha256()
    block = readers.CSV_BLOCK

    def chunk(data: bytes | None) -> Chunk:
        return Chunk(data, header, list(columns), o.delimiter, o.quote_char)

    with open(source.path, "rb") as f:

        def read() -> bytes:
            data = f.read(block)
            h.update(data)
            return data

        rest, first, data = b"", True, read()
        while data:
            following = read()  # read ahead, as pyarrow does: the last block takes all
            source.position += len(data)
            buf = rest + data if rest else data
            if first:  # the header line is not data
                buf = buf[buf.find(b"\n") + 1:] if b"\n" in buf else b""
                first = False
            if not following:
                if buf.strip(b"\r\n"):
                    yield chunk(buf)
                break
            end = cut.end(buf)
            if not end and buf.strip(b"\r\n"):  # a record longer than a block
                yield chunk(None)
                return
            if end:
                yield chunk(buf[:end])
            rest, data = buf[end:], following
    source.digest = h.hexdigest()


def parse(c: Chunk) -> Parsed:
    """A worker's parse of a chunk, with the options of the single-core reader."""
    from veil.io.readers import Reject

    if c.data is None:
        return Parsed(None)
    malformed: list[Reject] = []

    def invalid_row(row: Any) -> str:
        record = row.number if row.number is not None else -1
        malformed.append(Reject(record, None, None, f"expected {row.expected_columns} fields, "
                                f"found {row.actual_columns}", row.text))
        return "skip"

    try:
        table = pacsv.read_csv(
            pa.py_buffer(c.data),
            read_options=pacsv.ReadOptions(use_threads=False, block_size=len(c.data) + 1,
                                           column_names=c.header),
            parse_options=pacsv.ParseOptions(delimiter=c.delimiter, quote_char=c.quote_char,
                                             newlines_in_values=True,
                                             invalid_row_handler=invalid_row),
            convert_options=pacsv.ConvertOptions(
                include_columns=c.columns, column_types={n: pa.string() for n in c.columns},
                strings_can_be_null=False, quoted_strings_can_be_null=False))
    except pa.ArrowInvalid:
        return Parsed(None)
    batch = table.combine_chunks().to_batches()
    out = batch[0] if batch else pa.RecordBatch.from_pylist([], schema=table.schema)
    return Parsed(out, out.num_rows + len(malformed), malformed)
