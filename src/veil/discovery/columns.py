"""Which columns of a table hold personal data: ``scan_table(data, sample=None) -> ScanReport``.

A column is classified by its *values*; its name only supports (raises confidence, and is
required for types whose values alone prove nothing: postcodes, passport and account
numbers, dates of birth). Per column and per Arrow batch:

1. ``pyarrow.compute.value_counts`` dedupes the values: each distinct value is examined once,
   its count weights the shares (:mod:`.column_values`).
2. A routing sample of distinct values is matched against every recognizer's whole-value
   RE2 pattern; only recognizers that fit some of the sample go on.
3. Those patterns run over all distinct values (RE2, vectorized); validators (python-stdnum,
   phonenumbers, ...) run only on candidates, each distinct candidate once per scan
   (:mod:`.column_matching`).
4. A type is reported when the share of non-null values that matched AND validated reaches
   ``min_share`` and the validation rate among candidates is far above what random numbers of
   the same shape reach (a column of 16-digit transaction ids passes Luhn 10% of the time, a
   card column ~100%) (:mod:`.column_verdicts`).

Long, varied strings are free text: their embedded personal data is summarized with
:func:`veil.detect.text.find_spans` (:mod:`.column_text`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from veil.detect.registry import Registry, default_registry
from veil.detect.text import SpanFinder, default_finder
from veil.discovery.column_input import BATCH_ROWS, batches_of, leaves
from veil.discovery.column_matching import (
    CACHE_BUDGET,
    CACHE_PER_RECOGNIZER,
    ROUTING_SAMPLE,
    Matcher,
)
from veil.discovery.column_report import ColumnReport, ScanReport, TypeHit
from veil.discovery.column_state import ColumnState
from veil.discovery.column_text import TextSummary, looks_like_text
from veil.discovery.column_values import COUNTERS, add_dates, as_text, value_kind
from veil.discovery.column_verdicts import NAME_HINTS, SUBJECT_ID_NAME, NameHint, Verdicts
from veil.errors import InputError

__all__ = [
    "BATCH_ROWS",
    "CACHE_BUDGET",
    "CACHE_PER_RECOGNIZER",
    "MAX_VALUE_CHARS",
    "NAME_HINTS",
    "ROUTING_SAMPLE",
    "SUBJECT_ID_NAME",
    "TEXT_SAMPLE",
    "ColumnReport",
    "NameHint",
    "ScanReport",
    "TypeHit",
    "scan_table",
]

MAX_VALUE_CHARS = 10_000  # longer values are not identifiers; free text is cut to this
TEXT_SAMPLE = 10_000  # distinct free-text values scanned per column (None: all)


class _Scanner:
    """Feeds each column's batches to the right collaborator (distinct values, dates, free
    text, matching) and asks the verdicts for the reports."""

    def __init__(
        self,
        registry: Registry,
        *,
        min_share: float,
        text_sample: int | None,
        max_value_chars: int,
        finder: SpanFinder,
        text_columns: Iterable[str] = (),
    ) -> None:
        self.recs = [r for r in registry if r.in_columns and r.value_pattern]
        self.text_columns = set(text_columns)
        self.max_value_chars = max_value_chars
        self.matcher = Matcher(self.recs, min_share)
        self.text = TextSummary(finder, text_sample)
        self.verdicts = Verdicts(
            self.recs,
            min_share=min_share,
            text_sample=text_sample,
            max_value_chars=max_value_chars,
        )
        self.state: dict[str, ColumnState] = {}
        self.order: list[str] = []

    def column(self, path: str, arrow_type: str) -> ColumnState:
        st = self.state.get(path)
        if st is None:
            st = self.state[path] = ColumnState(path, arrow_type, self.recs)
            self.order.append(path)
        return st

    def add_batch(self, batch: pa.RecordBatch) -> None:
        for name, col in zip(batch.schema.names, batch.columns, strict=True):
            for path, arr, note in leaves(name, col):
                if path not in self.state:
                    st = self.column(path, str(arr.type))
                    st.force_text = path in self.text_columns or name in self.text_columns
                    if note:
                        st.report.notes.append(note)
                self._add_array(self.state[path], arr)

    def _add_array(self, st: ColumnState, arr: pa.Array) -> None:
        rep = st.report
        rep.rows += len(arr)
        if pa.types.is_null(arr.type):
            return
        nn = len(arr) - arr.null_count
        rep.non_null += nn
        if nn == 0:
            return
        if st.force_text:
            arr = as_text(arr)
        kind = value_kind(arr.type)
        if kind in ("numeric", "temporal", "integer", "other"):
            st.kind = kind
        if kind == "temporal" and st.supported(self.recs, "date_of_birth"):
            add_dates(st, arr)
        elif kind == "other" and f"type {arr.type} not scanned" not in rep.notes:
            rep.notes.append(f"type {arr.type} not scanned")
        if kind in COUNTERS:
            self._add_values(st, *COUNTERS[kind](st, arr))

    def _add_values(self, st: ColumnState, values: pa.Array, counts: np.ndarray) -> None:
        if len(values) == 0:
            return
        st.batches += 1
        st.distinct_sum += len(values)
        lengths = pc.utf8_length(values).to_numpy(zero_copy_only=False)
        huge = lengths > self.max_value_chars
        if huge.any():
            st.report.truncated_values += int(counts[huge].sum())
        if st.text_mode is None:
            st.text_mode = st.force_text or looks_like_text(st, values, counts, lengths)
        if st.text_mode:
            self.text.add(st, values, counts)
            return
        if huge.any():
            keep = np.flatnonzero(~huge)
            values = values.take(pa.array(keep))
            counts = counts[keep]
        self.matcher.match_validate(st, values, counts)

    def reports(self) -> list[ColumnReport]:
        return [self.verdicts.report(self.state[name]) for name in self.order]


def scan_table(
    data: Any,
    sample: int | None = None,
    *,
    registry: Registry | None = None,
    min_share: float = 0.2,
    text_sample: int | None = TEXT_SAMPLE,
    max_value_chars: int = MAX_VALUE_CHARS,
    text_columns: Iterable[str] = (),
) -> ScanReport:
    """Scan every column of ``data`` (a pyarrow Table, RecordBatch, list of batches, a
    RecordBatchReader, or anything ``pyarrow.table`` accepts, e.g. a pandas DataFrame).

    ``sample=None`` validates every value; ``sample=N`` looks at the first N rows only
    (a quick look; the report says so). Free-text columns are summarized on up to
    ``text_sample`` distinct values each (``None``: all); ``text_columns`` names columns to
    treat as free text whatever their values look like. Empty and whitespace-only strings
    count as missing values (``blank``), like nulls. Never raises on odd values: empty
    tables, all-null columns, non-UTF-8 bytes and huge cells end up in the report's notes.
    """
    if sample is not None and (not isinstance(sample, int) or sample <= 0):
        raise InputError("sample must be a positive number of rows or None")
    started = time.perf_counter()
    scanner = _Scanner(
        registry if registry is not None else default_registry(),
        min_share=min_share,
        text_sample=text_sample,
        max_value_chars=max_value_chars,
        finder=(
            default_finder(max_chars=max_value_chars)
            if registry is None
            else SpanFinder(registry, max_chars=max_value_chars)
        ),
        text_columns=text_columns,
    )
    schema, batches = batches_of(data)
    rows, sampled = _feed(scanner, batches, sample)
    # columns of the schema that never got a batch (empty table)
    for f in schema:
        for path, arr, _ in leaves(f.name, pa.array([], type=f.type)):
            scanner.column(path, str(arr.type))
    report = ScanReport(
        columns=scanner.reports(),
        rows=rows,
        sampled=sampled,
        seconds=round(time.perf_counter() - started, 4),
    )
    _add_notes(report)
    return report


def _feed(
    scanner: _Scanner, batches: Iterable[pa.RecordBatch], sample: int | None
) -> tuple[int, bool]:
    """Feed the batches (the first ``sample`` rows of them); returns (rows, sampled)."""
    rows = 0
    sampled = False
    for batch in batches:
        if sample is not None:
            room = sample - rows
            if room <= 0:
                sampled = True
                break
            if batch.num_rows > room:
                batch = batch.slice(0, room)
                sampled = True
        rows += batch.num_rows
        scanner.add_batch(batch)
    return rows, sampled or (sample is not None and rows >= sample)


def _add_notes(report: ScanReport) -> None:
    rows = report.rows
    if rows == 0:
        report.notes.append("the table has no rows")
    if report.sampled:
        report.notes.append(f"sample mode: the first {rows} rows were scanned")
    if math.isfinite(report.seconds) and report.seconds > 0:
        report.notes.append(f"{rows / report.seconds:,.0f} rows/s")
