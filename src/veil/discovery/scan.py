"""Scan a file or a database table for personal data: ``scan_source(path | url) -> result``.

This is what ``veil scan`` runs. It opens the input with :mod:`veil.io.readers`, streams it in
bounded Arrow batches through the column scanner of :mod:`veil.discovery.columns` (memory stays
flat whatever the number of rows), and collects what it cannot read instead of failing:

* rows with the wrong number of fields, lines that are not valid text in the encoding, lines
  holding binary data: skipped, each reported with its line number (the scan goes on);
* cells longer than ``max_cell_chars``: scanned up to that length, reported;
* a binary, compressed or empty file: one clear error naming the file (nothing to scan).

CSV is read by Arrow's fast reader; when that reader stops at an unreadable spot (bad bytes, a
cell too large for its blocks), the file is scanned again by a tolerant line-by-line reader that
skips exactly the unreadable lines. Plain text files (``.txt``, ``.log``, ``.md``) are scanned
line by line for spans of personal data (line:column, type, masked value).

Modes: files up to :data:`FULL_SCAN_MAX_BYTES` are validated in full by default (every value of
every column); larger ones get a quick look at the first :data:`AUTO_SAMPLE_ROWS` rows unless
``full=True``; ``sample=N`` asks for the first N rows of any input.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from veil.discovery.columns import MAX_VALUE_CHARS, TEXT_SAMPLE, ScanReport, scan_table
from veil.discovery.masking import mask
from veil.discovery.registry import Registry, default_registry
from veil.discovery.text import SpanFinder, default_finder
from veil.errors import InputError, PolicyError
from veil.io.readers import CsvOptions, CsvSource, Reject, Source, open_source

FULL_SCAN_MAX_BYTES = 2 * 1024**3
"""Files up to this size (2 GiB) are validated in full by default; larger ones are sampled."""
AUTO_SAMPLE_ROWS = 1_000_000
"""Rows looked at by default in a file larger than :data:`FULL_SCAN_MAX_BYTES`."""
SCAN_BATCH_ROWS = 32_768
SCAN_BATCH_BYTES = 64 * 1024**2
MAX_LINE_BYTES = 64 * 1024**2  # a physical line longer than this is skipped unread
MAX_LISTED = 1_000  # skipped rows / long cells listed one by one (all are counted)
MAX_SPANS = 10_000  # spans of a text file listed one by one (all are counted)
TEXT_SUFFIXES = (".txt", ".log", ".text", ".md")
TEXT_BATCH_LINES = 20_000
_SNIFF_BYTES = 64 * 1024
SCHEMA_VERSION = 1


# -- what could not be read ------------------------------------------------------------


@dataclass
class Skipped:
    """A row (or line) the scan could not read: where, and why. Never holds a value."""

    line: int | None  # 1-based physical line, when known
    record: int | None  # 1-based data record (header excluded), when known
    reason: str
    column: str | None = None

    def place(self, source: str) -> str:
        if self.line:
            where = f"{source}:{self.line}"
        elif self.record:
            where = f"{source}: record {self.record}"
        else:
            where = source
        return where + (f", column '{self.column}'" if self.column else "")


@dataclass
class SkipLog:
    """Skipped rows: all counted, the first :data:`MAX_LISTED` listed."""

    count: int = 0
    items: list[Skipped] = field(default_factory=list)
    limit: int = MAX_LISTED

    def add(self, item: Skipped) -> None:
        self.count += 1
        if len(self.items) < self.limit:
            self.items.append(item)

    def clear(self) -> None:
        self.count = 0
        self.items.clear()

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "listed": len(self.items),
            "rows": [asdict(s) for s in self.items],
        }


# -- results ----------------------------------------------------------------------------


@dataclass
class SourceScan:
    """The result of scanning a table (file or database): per-column findings and what was
    skipped. ``field_types`` are the policy field types the values fit (for drafts)."""

    source: str
    format: str
    size: int | None
    mode: str  # "full" | "sample"
    sample: int | None
    report: ScanReport
    skipped: SkipLog
    field_types: dict[str, str]
    notes: list[str] = field(default_factory=list)
    user_recognizers: list[str] = field(default_factory=list)
    sha256: str | None = None
    seconds: float = 0.0
    kind: str = "table"

    @property
    def rows(self) -> int:
        return self.report.rows

    def column(self, name: str):  # type: ignore[no-untyped-def]
        return self.report.column(name)

    def to_dict(self) -> dict[str, Any]:
        rep = self.report
        columns = []
        for c in rep.columns:
            d = asdict(c)
            d["pii"] = c.pii
            d["top_type"] = c.top_type
            d["field_type"] = self.field_types.get(c.name, "string")
            columns.append(d)
        return {
            "veil_scan": SCHEMA_VERSION,
            "kind": "table",
            "source": {
                "ref": self.source,
                "format": self.format,
                "size_bytes": self.size,
                "sha256": self.sha256,
            },
            "mode": self.mode,
            "sample_rows": self.sample,
            "rows_scanned": rep.rows,
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(rep.rows / self.seconds) if self.seconds > 0 else None,
            "pii_columns": rep.pii_columns,
            "suggested_rules": rep.suggested_rules(),
            "columns": columns,
            "skipped": self.skipped.to_dict(),
            "notes": self.notes + rep.notes,
            "user_recognizers": self.user_recognizers,
        }


@dataclass
class TextSpan:
    """A span of personal data in a text file: 1-based line and column (in characters),
    ``length`` characters long. ``masked`` is the value masked, never the value."""

    line: int
    col: int
    length: int
    type: str
    score: float
    masked: str
    recognizer: str = ""


@dataclass
class TextFileScan:
    """The result of scanning a plain text file line by line."""

    source: str
    size: int | None
    lines: int
    spans: list[TextSpan]
    counts: dict[str, int]
    skipped: SkipLog
    truncated: SkipLog
    notes: list[str] = field(default_factory=list)
    spans_total: int = 0
    sampled: bool = False
    user_recognizers: list[str] = field(default_factory=list)
    seconds: float = 0.0
    kind: str = "text"
    format: str = "text"

    def to_dict(self) -> dict[str, Any]:
        return {
            "veil_scan": SCHEMA_VERSION,
            "kind": "text",
            "source": {"ref": self.source, "format": "text", "size_bytes": self.size},
            "mode": "sample" if self.sampled else "full",
            "lines_scanned": self.lines,
            "seconds": round(self.seconds, 3),
            "counts": self.counts,
            "spans_total": self.spans_total,
            "spans": [asdict(s) for s in self.spans],
            "skipped": self.skipped.to_dict(),
            "long_lines": self.truncated.to_dict(),
            "notes": self.notes,
            "user_recognizers": self.user_recognizers,
        }


ScanResult = SourceScan | TextFileScan


# -- recognizers from a policy ---------------------------------------------------------


def registry_for(
    policy: Any = None, registry: Registry | None = None
) -> tuple[Registry, list[str]]:
    """The registry to scan with: ``registry`` (or the built-ins) plus the user recognizers of
    ``policy`` (a :class:`veil.policy.Policy`, a path, or ``"sample"``). Returns the registry
    and the names of the user recognizers added."""
    reg = registry.copy() if registry is not None else default_registry()
    if policy is None:
        return reg, []
    pol = _load_policy(policy)
    added: list[str] = []
    for i, spec in enumerate(pol.recognizers):
        try:
            rec = reg.add_from_config(spec)
        except PolicyError as exc:
            raise PolicyError(
                f"{exc.where + ': ' if exc.where else ''}{exc.message}",
                where=pol.locate("recognizers", i),
            ) from None
        added.append(rec.name)
    return reg, added


def _load_policy(policy: Any):  # type: ignore[no-untyped-def]
    from veil.policy import Policy, load_policy

    if isinstance(policy, Policy):
        return policy
    if str(policy) == "sample":
        from veil.sample.paths import SAMPLE_POLICY

        return load_policy(SAMPLE_POLICY)
    return load_policy(Path(policy))


# -- entry point -------------------------------------------------------------------------


def scan_source(
    ref: Any,
    *,
    table: str | None = None,
    format: str | None = None,
    sample: int | None = None,
    full: bool = False,
    text_columns: Sequence[str] = (),
    max_cell_chars: int = MAX_VALUE_CHARS,
    text_sample: int | None = TEXT_SAMPLE,
    registry: Registry | None = None,
    policy: Any = None,
    csv_options: CsvOptions | None = None,
    max_spans: int = MAX_SPANS,
    progress: Callable[[int, int | None], None] | None = None,
) -> ScanResult:
    """Scan a file (CSV, Parquet, JSON lines, or plain text), a database table (SQLAlchemy URL
    and ``table``) or a DataFrame / Arrow table for personal data.

    Tables give a :class:`SourceScan` (per column: detected types with share, confidence,
    masked examples, category, suggested rule); text files (``.txt``, ``.log``, ``.md``, or
    ``format="text"``) give a :class:`TextFileScan` (spans by line and column). ``sample=N``
    looks at the first N rows (lines); by default files up to :data:`FULL_SCAN_MAX_BYTES` are
    scanned in full, larger ones sampled unless ``full=True``. ``policy`` adds the user
    recognizers of a policy file. Unreadable rows are skipped and listed, never fatal; a
    binary, compressed or empty file raises :class:`~veil.errors.InputError`. ``progress``,
    if given, is called after each batch with (bytes read, file size or None).
    """
    if sample is not None and (
        isinstance(sample, bool) or not isinstance(sample, int) or sample <= 0
    ):
        raise InputError("--sample must be a positive number of rows")
    if not isinstance(max_cell_chars, int) or max_cell_chars < 16:
        raise InputError("--max-cell-chars must be at least 16")
    if text_sample is not None and text_sample <= 0:
        text_sample = None
    reg, added = registry_for(policy, registry)
    fmt = (format or "").lower() or None
    path: Path | None = None
    if isinstance(ref, (str, Path)) and not ("://" in str(ref) and not Path(str(ref)).exists()):
        path = Path(ref)
        if not path.exists():
            raise InputError("file not found", where=str(path))
        if path.is_dir():
            raise InputError("is a folder, not a file", where=str(path))
        fmt = fmt or _sniff_format(path, csv_options)
        if fmt == "text":
            return scan_text_file(
                path,
                registry=reg,
                user_recognizers=added,
                sample=sample,
                max_line_chars=max_cell_chars,
                encoding=(csv_options or CsvOptions()).encoding,
                max_spans=max_spans,
            )
    started = time.perf_counter()
    notes: list[str] = []
    size = path.stat().st_size if path is not None else None
    if path is None and not isinstance(ref, str):
        return _scan_frame(
            ref,
            sample,
            text_columns,
            max_cell_chars,
            text_sample,
            reg,
            added,
            registry is None and not added,
            started,
        )
    mode_sample = sample
    if sample is None and not full and size is not None and size > FULL_SCAN_MAX_BYTES:
        mode_sample = AUTO_SAMPLE_ROWS
        notes.append(
            f"the file is larger than {FULL_SCAN_MAX_BYTES // 1024**3} GiB: the first "
            f"{AUTO_SAMPLE_ROWS:,} rows were scanned (use --full to validate every row)"
        )
    skipped = SkipLog()
    kw: dict[str, Any] = {
        "registry": reg,
        "text_sample": text_sample,
        "max_value_chars": max_cell_chars,
        "text_columns": text_columns,
    }
    if registry is None and not added:
        kw["registry"] = None  # the shared default finder and its warm caches
    types = _TypeGuesser()
    digest: str | None = None
    where = _Pos()

    def tick() -> None:
        if progress is not None:
            progress(where.get(), size)

    if path is not None and fmt == "csv":
        opts = csv_options or CsvOptions()
        src = CsvSource(path, opts)
        header = src.header()
        _check_text_columns(text_columns, header)
        schema = pa.schema([(c, pa.string()) for c in header])

        def on_reject(r: Reject) -> None:
            skipped.add(_skipped_from(r))

        where.source = src
        try:
            report = scan_table(
                _reader(schema, _fast_csv(src, header, on_reject), types, tick), mode_sample, **kw
            )
            digest = src.digest
        except InputError as exc:
            # Arrow's reader stopped (bad bytes, a cell larger than its blocks...): read the
            # whole file again with the tolerant reader, which skips exactly the bad lines
            why = str(exc)
            if "straddl" in why:
                why = (
                    f"{exc.where}: a value larger than the fast CSV reader's 1 MiB blocks"
                    if exc.where
                    else "a value larger than the fast CSV reader's blocks"
                )
            notes.append(
                f"{why} - the file was read again line by line, skipping only the unreadable lines"
            )
            skipped.clear()
            types = _TypeGuesser()
            long_cells = SkipLog()
            where.source = None
            report = scan_table(
                _reader(
                    schema,
                    _tolerant_csv(path, opts, header, skipped, long_cells, max_cell_chars, where),
                    types,
                    tick,
                ),
                mode_sample,
                **kw,
            )
            _note_long_cells(notes, long_cells, str(path), max_cell_chars)
    elif path is not None and fmt == "parquet":
        _src, schema, batches = _parquet(path, where)
        _check_text_columns(text_columns, schema.names)
        report = scan_table(_reader(schema, batches, types, tick), mode_sample, **kw)
        if not report.sampled:
            digest = _sha256(path)
    else:
        src2 = open_source(path, format=fmt) if path is not None else open_source(ref, table=table)
        header = src2.header()
        _check_text_columns(text_columns, header)

        def on_reject_any(r: Reject) -> None:
            skipped.add(_skipped_from(r))

        batches = _rebatch(src2.batches(header, {}, on_reject_any))
        schema = pa.schema([(c, pa.string()) for c in header])
        where.source = src2
        report = scan_table(_reader(schema, batches, types, tick), mode_sample, **kw)
        if mode_sample is None:
            digest = src2.digest
        if path is None:
            fmt = src2.format
    field_types = types.result(report)
    if skipped.count:
        notes.append(f"{skipped.count:,} row(s) skipped: not readable (listed with their line)")
        if skipped.count > report.rows:
            enc = (csv_options or CsvOptions()).encoding
            hint = (
                f"; if they are not valid {enc} text, the file is probably in another "
                "encoding: scan it again with --encoding (e.g. cp1252, latin-1)"
            )
            notes.append(
                f"most rows were skipped ({skipped.count:,} skipped, {report.rows:,} scanned): "
                "the result covers the readable rows only" + hint
            )
    return SourceScan(
        source=str(path) if path is not None else _name_of(ref, table),
        format=fmt or "?",
        size=size,
        mode="sample" if report.sampled else "full",
        sample=mode_sample,
        report=report,
        skipped=skipped,
        field_types=field_types,
        notes=notes,
        user_recognizers=added,
        sha256=digest if not report.sampled else None,
        seconds=time.perf_counter() - started,
    )


def _scan_frame(
    data: Any,
    sample: int | None,
    text_columns: Sequence[str],
    max_cell_chars: int,
    text_sample: int | None,
    reg: Registry,
    added: list[str],
    default: bool,
    started: float,
) -> SourceScan:
    """An in-memory table (Arrow, pandas, Polars...): scanned as it is, types kept."""
    report = scan_table(
        data,
        sample,
        registry=None if default else reg,
        text_sample=text_sample,
        max_value_chars=max_cell_chars,
        text_columns=text_columns,
    )
    _check_text_columns(text_columns, [c.name for c in report.columns])
    types = {
        c.name: (
            "string"
            if (c.types or c.free_text) and c.top_type != "date_of_birth"
            else _kind_of(_arrow_type(c.arrow_type))
        )
        for c in report.columns
    }
    return SourceScan(
        source=f"<{type(data).__name__}>",
        format="table",
        size=None,
        mode="sample" if report.sampled else "full",
        sample=sample,
        report=report,
        skipped=SkipLog(),
        field_types=types,
        user_recognizers=added,
        seconds=time.perf_counter() - started,
    )


def _arrow_type(name: str) -> pa.DataType:
    simple = {
        "bool": pa.bool_(),
        "double": pa.float64(),
        "float": pa.float32(),
        "date32[day]": pa.date32(),
        "date64[ms]": pa.date64(),
    }
    if name in simple:
        return simple[name]
    if name.startswith(("int", "uint")):
        return pa.int64()
    if name.startswith("timestamp"):
        return pa.timestamp("us")
    if name.startswith("decimal"):
        return pa.decimal128(38, 9)
    return pa.string()


def _sha256(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _name_of(ref: Any, table: str | None) -> str:
    if isinstance(ref, str):
        import sqlalchemy as sa

        try:
            url = sa.make_url(ref).render_as_string(hide_password=True)
        except Exception:  # noqa: BLE001 - a name for messages only
            url = "<database>"
        return f"{url}#{table}" if table else url
    return f"<{type(ref).__name__}>"


def _check_text_columns(text_columns: Iterable[str], header: Sequence[str]) -> None:
    missing = [c for c in text_columns if c not in header]
    if missing:
        raise InputError(
            f"--text-column {', '.join(missing)}: no such column (columns: {', '.join(header)})"
        )


def _skipped_from(r: Reject) -> Skipped:
    return Skipped(r.line, r.record, r.reason, r.column)


# -- format sniffing ----------------------------------------------------------------------


def _sniff_format(path: Path, csv_options: CsvOptions | None) -> str:
    """The format to read ``path`` with; a clear error for binary, compressed or empty files."""
    size = path.stat().st_size
    if size == 0:
        raise InputError("empty file (0 bytes): nothing to scan", where=str(path))
    with open(path, "rb") as f:
        head = f.read(_SNIFF_BYTES)
    if head.startswith(b"PAR1"):
        return "parquet"
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"  # the reader says what is wrong with it
    for magic, what in (
        (b"\x1f\x8b", "gzip"),
        (b"PK\x03\x04", "zip"),
        (b"BZh", "bzip2"),
        (b"\xfd7zXZ\x00", "xz"),
        (b"\x28\xb5\x2f\xfd", "zstd"),
    ):
        if head.startswith(magic):
            raise InputError(
                f"a {what}-compressed file: decompress it first, then scan the result",
                where=str(path),
            )
    encoding = (csv_options or CsvOptions()).encoding.lower().replace("-", "").replace("_", "")
    if not encoding.startswith("utf16") and not encoding.startswith("utf32"):
        nul = head.find(b"\x00")
        if nul >= 0 and (_binary_share(head) > 0.05 or head.count(b"\x00") > len(head) // 100):
            hint = " (UTF-16 text? use --encoding utf-16)" if _looks_utf16(head) else ""
            raise InputError(
                f"binary data, not text: NUL byte at byte {nul + 1}{hint}; nothing scanned "
                "(veil scan reads CSV, Parquet, JSON lines and plain text)",
                where=str(path),
            )
    if suffix in TEXT_SUFFIXES:
        return "text"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix in (".csv", ".tsv"):
        return "csv"
    stripped = head.lstrip()
    if stripped.startswith(b"{"):
        return "jsonl"
    raise InputError(
        "cannot tell the format from the file name (use --format csv, parquet, jsonl or text)",
        where=str(path),
    )


def _binary_share(head: bytes) -> float:
    """Share of bytes that never occur in text (NUL and most C0 controls)."""
    if not head:
        return 0.0
    text_controls = {9, 10, 12, 13, 27}
    bad = sum(1 for b in head if b < 32 and b not in text_controls)
    return bad / len(head)


def _looks_utf16(head: bytes) -> bool:
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return True
    odd = head[1::2]
    return len(odd) > 16 and odd.count(0) / len(odd) > 0.8


# -- batch streams -------------------------------------------------------------------------


def _fast_csv(src: CsvSource, header: list[str], on_reject: Any) -> Iterator[pa.RecordBatch]:
    yield from _rebatch(src.batches(header, {}, on_reject))


def _rebatch(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
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


class _Pos:
    """Bytes read so far, from a Source's counter or counted by our own readers."""

    def __init__(self) -> None:
        self.source: Source | None = None
        self.bytes = 0

    def get(self) -> int:
        return self.source.position if self.source is not None else self.bytes


def _reader(
    schema: pa.Schema,
    batches: Iterable[pa.RecordBatch],
    types: _TypeGuesser,
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


def _parquet(path: Path, where: _Pos) -> tuple[Source, pa.Schema, Iterator[pa.RecordBatch]]:
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


def _physical_lines(
    path: Path, encoding: str, skipped: SkipLog, start_line: int = 1, where: _Pos | None = None
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


def _tolerant_csv(
    path: Path,
    opts: CsvOptions,
    header: list[str],
    skipped: SkipLog,
    long_cells: SkipLog,
    max_cell_chars: int,
    where: _Pos | None = None,
) -> Iterator[pa.RecordBatch]:
    """Python's csv module over the decodable lines: slower than Arrow, but it skips exactly
    the rows it cannot read (ragged, undecodable, binary) and truncates huge cells."""
    ncol = len(header)
    first = [0]  # first physical line of the record being read (0: not started)
    record = 0

    def lines() -> Iterator[str]:
        for n, text in _physical_lines(path, opts.encoding, skipped, 2, where):
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


def _note_long_cells(notes: list[str], long_cells: SkipLog, source: str, limit: int) -> None:
    if not long_cells.count:
        return
    first = long_cells.items[0]
    notes.append(
        f"{long_cells.count:,} cell(s) longer than {limit:,} characters were scanned up to "
        f"that length (first: {first.place(source)}, {first.reason})"
    )


# -- policy field types ---------------------------------------------------------------------

_KINDS = ("boolean", "integer", "float", "date", "timestamp")
_LEADING_ZERO = r"^[+-]?0\d"


class _TypeGuesser:
    """Which policy field type the text values of each column fit (checked on every batch,
    stopping at the first batch that rules a type out)."""

    def __init__(self) -> None:
        self.possible: dict[str, list[str]] = {}
        self.arrow: dict[str, pa.DataType] = {}
        self.seen: set[str] = set()

    def add(self, batch: pa.RecordBatch) -> None:
        for name, arr in zip(batch.schema.names, batch.columns, strict=True):
            typ = arr.type
            self.arrow.setdefault(name, typ)
            if not (pa.types.is_string(typ) or pa.types.is_large_string(typ)):
                continue
            kinds = self.possible.setdefault(name, list(_KINDS))
            if not kinds:
                continue
            vals = pc.utf8_trim_whitespace(arr)
            vals = vals.filter(pc.not_equal(vals, ""))
            if len(vals) == 0:
                continue
            self.seen.add(name)
            head = vals.slice(0, 256)
            for kind in list(kinds):
                # a small slice first: most columns rule most types out on a few values
                if not _fits(head, kind) or (len(vals) > len(head) and not _fits(vals, kind)):
                    kinds.remove(kind)

    def result(self, report: ScanReport) -> dict[str, str]:
        out: dict[str, str] = {}
        for c in report.columns:
            name = c.name
            typ = self.arrow.get(name)
            if c.types or c.free_text:
                # identifiers stay text (leading zeros, separators); birth dates may be dates
                dob_date = c.top_type == "date_of_birth" and (
                    _is_date(typ) or (name in self.seen and "date" in self.possible.get(name, []))
                )
                out[name] = "date" if dob_date else "string"
                continue
            if typ is not None and not (pa.types.is_string(typ) or pa.types.is_large_string(typ)):
                out[name] = _kind_of(typ)
                continue
            kinds = self.possible.get(name, [])
            out[name] = kinds[0] if (name in self.seen and kinds) else "string"
        return out


def _is_date(typ: pa.DataType | None) -> bool:
    return typ is not None and pa.types.is_date(typ)


def _fits(vals: pa.Array, kind: str) -> bool:
    try:
        if kind == "boolean":
            pc.cast(vals, pa.bool_())
        elif kind == "integer":
            if pc.any(pc.match_substring_regex(vals, _LEADING_ZERO)).as_py():
                return False  # codes with leading zeros (postcodes, ids) stay text
            pc.cast(vals, pa.int64())
        elif kind == "float":
            pc.cast(vals, pa.float64())
        elif kind == "date":
            pc.cast(vals, pa.date32())
        elif kind == "timestamp":
            from veil.io.types import parse_timestamp

            parse_timestamp(vals)
        return True
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return False


def _kind_of(typ: pa.DataType) -> str:
    if pa.types.is_boolean(typ):
        return "boolean"
    if pa.types.is_integer(typ):
        return "integer"
    if pa.types.is_floating(typ):
        return "float"
    if pa.types.is_decimal(typ):
        return "decimal"
    if pa.types.is_date(typ):
        return "date"
    if pa.types.is_timestamp(typ):
        return "timestamp"
    return "string"


# -- plain text files ------------------------------------------------------------------------


def scan_text_file(
    path: str | Path,
    *,
    registry: Registry | None = None,
    policy: Any = None,
    sample: int | None = None,
    max_line_chars: int = MAX_VALUE_CHARS,
    encoding: str = "utf-8",
    max_spans: int = MAX_SPANS,
    user_recognizers: Sequence[str] = (),
) -> TextFileScan:
    """Find spans of personal data in each line of a text file (``sample=N``: the first N
    lines). Lines that are not valid text are skipped and listed; lines longer than
    ``max_line_chars`` are scanned up to that length and listed."""
    p = Path(path)
    started = time.perf_counter()
    added = list(user_recognizers)
    if policy is not None:
        registry, more = registry_for(policy, registry)
        added += more
    if registry is None:
        finder = default_finder(max_chars=max_line_chars)
    else:
        finder = SpanFinder(registry, max_chars=max_line_chars)
    skipped = SkipLog()
    long_lines = SkipLog()
    spans: list[TextSpan] = []
    counts: dict[str, int] = {}
    total = 0
    lines = 0
    sampled = False
    batch_no: list[int] = []
    batch_text: list[str] = []

    def flush() -> None:
        nonlocal total
        if not batch_text:
            return
        found = finder.find(batch_text)
        for n, text, ss in zip(batch_no, batch_text, found, strict=True):
            for s in ss:
                total += 1
                counts[s.type] = counts.get(s.type, 0) + 1
                if len(spans) < max_spans:
                    spans.append(
                        TextSpan(
                            n,
                            s.start + 1,
                            s.end - s.start,
                            s.type,
                            s.score,
                            mask(text[s.start : s.end], s.type),
                            s.recognizer,
                        )
                    )
        batch_no.clear()
        batch_text.clear()

    for n, text in _physical_lines(p, encoding, skipped):
        if sample is not None and lines >= sample:
            sampled = True
            break
        lines += 1
        text = text.rstrip("\r\n")
        if len(text) > max_line_chars:
            long_lines.add(Skipped(n, None, f"{len(text):,} characters"))
            text = text[:max_line_chars]
        batch_no.append(n)
        batch_text.append(text)
        if len(batch_text) >= TEXT_BATCH_LINES:
            flush()
    flush()
    notes: list[str] = []
    if skipped.count:
        notes.append(f"{skipped.count:,} line(s) skipped: not readable (listed with their line)")
    if long_lines.count:
        first = long_lines.items[0]
        notes.append(
            f"{long_lines.count:,} line(s) longer than {max_line_chars:,} characters were "
            f"scanned up to that length (first: {first.place(str(p))}, {first.reason})"
        )
    if total > len(spans):
        notes.append(f"{total - len(spans):,} more span(s) found but not listed (max_spans)")
    if sampled:
        notes.append(f"sample mode: the first {lines:,} lines were scanned")
    return TextFileScan(
        source=str(p),
        size=p.stat().st_size,
        lines=lines,
        spans=spans,
        counts=dict(sorted(counts.items(), key=lambda kv: -kv[1])),
        skipped=skipped,
        truncated=long_lines,
        notes=notes,
        spans_total=total,
        sampled=sampled,
        user_recognizers=added,
        seconds=time.perf_counter() - started,
    )


def skipped_summary(result: ScanResult, limit: int = 20) -> list[str]:
    """One line per skipped row (up to ``limit``): place and reason, never a value."""
    out = [s.place(result.source) + ": " + s.reason for s in result.skipped.items[:limit]]
    more = result.skipped.count - len(out)
    if more > 0:
        out.append(f"... and {more:,} more")
    return out
