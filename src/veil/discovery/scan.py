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
skips exactly the unreadable lines (:mod:`.scan_readers`). Plain text files (``.txt``,
``.log``, ``.md``) are scanned line by line for spans of personal data (:mod:`.scan_text`).

Modes: files up to :data:`FULL_SCAN_MAX_BYTES` are validated in full by default (every value of
every column); larger ones get a quick look at the first :data:`AUTO_SAMPLE_ROWS` rows unless
``full=True``; ``sample=N`` asks for the first N rows of any input. With ``workspace``, the scan
is recorded in that workspace's audit log (:func:`record_scan`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from veil.detect.registry import Registry, registry_for
from veil.discovery.columns import MAX_VALUE_CHARS, TEXT_SAMPLE, ScanReport, scan_table
from veil.discovery.scan_audit import SCAN_ACTION, SCAN_LEGAL_BASIS, record_scan
from veil.discovery.scan_formats import TEXT_SUFFIXES, sniff_format
from veil.discovery.scan_readers import (
    SCAN_BATCH_BYTES,
    SCAN_BATCH_ROWS,
    Position,
    fast_csv,
    note_long_cells,
    parquet_batches,
    reader_of,
    rebatch,
    skipped_from,
    tolerant_csv,
)
from veil.discovery.scan_results import (
    MAX_LISTED,
    SCHEMA_VERSION,
    ScanResult,
    SkipLog,
    Skipped,
    SourceScan,
    TextFileScan,
    TextSpan,
    skipped_summary,
)
from veil.discovery.scan_text import MAX_SPANS, TEXT_BATCH_LINES, scan_text_file
from veil.discovery.scan_types import TypeGuesser, arrow_type, kind_of
from veil.errors import InputError
from veil.io.readers import CsvOptions, CsvSource, Reject, open_source

__all__ = [
    "AUTO_SAMPLE_ROWS",
    "FULL_SCAN_MAX_BYTES",
    "MAX_LISTED",
    "MAX_SPANS",
    "SCAN_ACTION",
    "SCAN_BATCH_BYTES",
    "SCAN_BATCH_ROWS",
    "SCAN_LEGAL_BASIS",
    "SCHEMA_VERSION",
    "TEXT_BATCH_LINES",
    "TEXT_SUFFIXES",
    "ScanResult",
    "SkipLog",
    "Skipped",
    "SourceScan",
    "TextFileScan",
    "TextSpan",
    "record_scan",
    "registry_for",
    "scan_source",
    "scan_text_file",
    "skipped_summary",
]

FULL_SCAN_MAX_BYTES = 2 * 1024**3
"""Files up to this size (2 GiB) are validated in full by default; larger ones are sampled."""
AUTO_SAMPLE_ROWS = 1_000_000
"""Rows looked at by default in a file larger than :data:`FULL_SCAN_MAX_BYTES`."""

_rebatch = rebatch  # the name the tests knew


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
    workspace: Any = None,
    actor: str | None = None,
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
    ``workspace`` (a :class:`~veil.store.workspace.Workspace`, its audit log or its folder)
    records the scan in its audit log as ``actor`` (see :func:`record_scan`).
    """
    result = _scan(
        ref,
        _Options(
            table=table,
            format=format,
            sample=sample,
            full=full,
            text_columns=text_columns,
            max_cell_chars=max_cell_chars,
            text_sample=text_sample,
            registry=registry,
            policy=policy,
            csv_options=csv_options,
            max_spans=max_spans,
            progress=progress,
        ),
    )
    if workspace is not None:
        record_scan(workspace, result, actor=actor)
    return result


@dataclass
class _Options:
    """The arguments of one :func:`scan_source` call."""

    table: str | None
    format: str | None
    sample: int | None
    full: bool
    text_columns: Sequence[str]
    max_cell_chars: int
    text_sample: int | None
    registry: Registry | None
    policy: Any
    csv_options: CsvOptions | None
    max_spans: int
    progress: Callable[[int, int | None], None] | None

    def check(self) -> None:
        sample = self.sample
        if sample is not None and (
            isinstance(sample, bool) or not isinstance(sample, int) or sample <= 0
        ):
            raise InputError("--sample must be a positive number of rows")
        if not isinstance(self.max_cell_chars, int) or self.max_cell_chars < 16:
            raise InputError("--max-cell-chars must be at least 16")
        if self.text_sample is not None and self.text_sample <= 0:
            self.text_sample = None

    @property
    def csv(self) -> CsvOptions:
        return self.csv_options or CsvOptions()


def _scan(ref: Any, opts: _Options) -> ScanResult:
    opts.check()
    reg, added = registry_for(opts.policy, opts.registry)
    fmt = (opts.format or "").lower() or None
    path = _local_path(ref)
    if path is not None:
        fmt = fmt or sniff_format(path, opts.csv_options)
        if fmt == "text":
            return scan_text_file(
                path,
                registry=reg,
                user_recognizers=added,
                sample=opts.sample,
                max_line_chars=opts.max_cell_chars,
                encoding=opts.csv.encoding,
                max_spans=opts.max_spans,
            )
    started = time.perf_counter()
    default = opts.registry is None and not added
    if path is None and not isinstance(ref, str):
        return _scan_frame(ref, opts, reg, added, default, started)
    job = _TableJob(opts, path, None if default else reg)
    read = _READERS.get(fmt or "", _scan_other) if path is not None else _scan_other
    report, fmt = read(job, ref, path, fmt)
    return job.result(ref, path, fmt, report, added, started)


def _local_path(ref: Any) -> Path | None:
    """``ref`` as a file to read, checked; None for a database URL or an in-memory table."""
    if not isinstance(ref, (str, Path)) or ("://" in str(ref) and not Path(str(ref)).exists()):
        return None
    path = Path(ref)
    if not path.exists():
        raise InputError("file not found", where=str(path))
    if path.is_dir():
        raise InputError("is a folder, not a file", where=str(path))
    return path


@dataclass
class _TableJob:
    """One streamed table scan: its options, what was skipped, notes, the field-type guesser
    and the read position; every reader feeds its batches through :meth:`scan`."""

    opts: _Options
    path: Path | None
    registry: Registry | None
    skipped: SkipLog = field(default_factory=SkipLog)
    notes: list[str] = field(default_factory=list)
    types: TypeGuesser = field(default_factory=TypeGuesser)
    where: Position = field(default_factory=Position)
    digest: str | None = None

    def __post_init__(self) -> None:
        self.size = self.path.stat().st_size if self.path is not None else None
        self.mode_sample = self.opts.sample
        if (
            self.opts.sample is None
            and not self.opts.full
            and self.size is not None
            and self.size > FULL_SCAN_MAX_BYTES
        ):
            self.mode_sample = AUTO_SAMPLE_ROWS
            self.notes.append(
                f"the file is larger than {FULL_SCAN_MAX_BYTES // 1024**3} GiB: the first "
                f"{AUTO_SAMPLE_ROWS:,} rows were scanned (use --full to validate every row)"
            )

    def on_reject(self, r: Reject) -> None:
        self.skipped.add(skipped_from(r))

    def tick(self) -> None:
        if self.opts.progress is not None:
            self.opts.progress(self.where.get(), self.size)

    def check_columns(self, names: Sequence[str]) -> None:
        _check_text_columns(self.opts.text_columns, names)

    def scan(self, schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> ScanReport:
        return scan_table(
            reader_of(schema, batches, self.types, self.tick),
            self.mode_sample,
            registry=self.registry,
            text_sample=self.opts.text_sample,
            max_value_chars=self.opts.max_cell_chars,
            text_columns=self.opts.text_columns,
        )

    def result(
        self,
        ref: Any,
        path: Path | None,
        fmt: str | None,
        report: ScanReport,
        added: list[str],
        started: float,
    ) -> SourceScan:
        field_types = self.types.result(report)
        self._note_skipped(report)
        return SourceScan(
            source=str(path) if path is not None else _name_of(ref, self.opts.table),
            format=fmt or "?",
            size=self.size,
            mode="sample" if report.sampled else "full",
            sample=self.mode_sample,
            report=report,
            skipped=self.skipped,
            field_types=field_types,
            notes=self.notes,
            user_recognizers=added,
            sha256=self.digest if not report.sampled else None,
            seconds=time.perf_counter() - started,
        )

    def _note_skipped(self, report: ScanReport) -> None:
        count = self.skipped.count
        if not count:
            return
        self.notes.append(f"{count:,} row(s) skipped: not readable (listed with their line)")
        if count > report.rows:
            hint = (
                f"; if they are not valid {self.opts.csv.encoding} text, the file is probably "
                "in another encoding: scan it again with --encoding (e.g. cp1252, latin-1)"
            )
            self.notes.append(
                f"most rows were skipped ({count:,} skipped, {report.rows:,} scanned): "
                "the result covers the readable rows only" + hint
            )


# -- one reader per format ---------------------------------------------------------------


def _scan_csv(job: _TableJob, ref: Any, path: Path, fmt: str | None) -> tuple[ScanReport, str]:
    """Arrow's fast reader; where it stops (bad bytes, a cell larger than its blocks), the
    whole file again with the tolerant reader, which skips exactly the bad lines."""
    csv_opts = job.opts.csv
    src = CsvSource(path, csv_opts)
    header = src.header()
    job.check_columns(header)
    schema = pa.schema([(c, pa.string()) for c in header])
    job.where.source = src
    try:
        report = job.scan(schema, fast_csv(src, header, job.on_reject))
        job.digest = src.digest
        return report, "csv"
    except InputError as exc:
        job.notes.append(
            f"{_why_fast_reader_stopped(exc)} - the file was read again line by line, "
            "skipping only the unreadable lines"
        )
    job.skipped.clear()
    job.types = TypeGuesser()
    job.where.source = None
    long_cells = SkipLog()
    batches = tolerant_csv(
        path, csv_opts, header, job.skipped, long_cells, job.opts.max_cell_chars, job.where
    )
    report = job.scan(schema, batches)
    note_long_cells(job.notes, long_cells, str(path), job.opts.max_cell_chars)
    return report, "csv"


def _why_fast_reader_stopped(exc: InputError) -> str:
    why = str(exc)
    if "straddl" not in why:
        return why
    if exc.where:
        return f"{exc.where}: a value larger than the fast CSV reader's 1 MiB blocks"
    return "a value larger than the fast CSV reader's blocks"


def _scan_parquet(job: _TableJob, ref: Any, path: Path, fmt: str | None) -> tuple[ScanReport, str]:
    _src, schema, batches = parquet_batches(path, job.where)
    job.check_columns(schema.names)
    report = job.scan(schema, batches)
    if not report.sampled:
        job.digest = _sha256(path)
    return report, "parquet"


def _scan_other(
    job: _TableJob, ref: Any, path: Path | None, fmt: str | None
) -> tuple[ScanReport, str | None]:
    """JSON lines, or a database table (``ref`` a URL and ``table``)."""
    if path is not None:
        src = open_source(path, format=fmt)
    else:
        src = open_source(ref, table=job.opts.table)
    header = src.header()
    job.check_columns(header)
    batches = rebatch(src.batches(header, {}, job.on_reject))
    schema = pa.schema([(c, pa.string()) for c in header])
    job.where.source = src
    report = job.scan(schema, batches)
    if job.mode_sample is None:
        job.digest = src.digest
    return report, (src.format if path is None else fmt)


_READERS: dict[str, Callable[..., tuple[ScanReport, str | None]]] = {
    "csv": _scan_csv,
    "parquet": _scan_parquet,
}
"""Local files by format; anything else goes through :func:`veil.io.readers.open_source`."""


def _scan_frame(
    data: Any, opts: _Options, reg: Registry, added: list[str], default: bool, started: float
) -> SourceScan:
    """An in-memory table (Arrow, pandas, Polars...): scanned as it is, types kept."""
    report = scan_table(
        data,
        opts.sample,
        registry=None if default else reg,
        text_sample=opts.text_sample,
        max_value_chars=opts.max_cell_chars,
        text_columns=opts.text_columns,
    )
    _check_text_columns(opts.text_columns, [c.name for c in report.columns])
    types = {
        c.name: (
            "string"
            if (c.types or c.free_text) and c.top_type != "date_of_birth"
            else kind_of(arrow_type(c.arrow_type))
        )
        for c in report.columns
    }
    return SourceScan(
        source=f"<{type(data).__name__}>",
        format="table",
        size=None,
        mode="sample" if report.sampled else "full",
        sample=opts.sample,
        report=report,
        skipped=SkipLog(),
        field_types=types,
        user_recognizers=added,
        seconds=time.perf_counter() - started,
    )


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
