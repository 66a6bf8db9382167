"""Which columns of a table hold personal data: ``scan_table(data, sample=None) -> ScanReport``.

A column is classified by its *values*; its name only supports (raises confidence, and is
required for types whose values alone prove nothing: postcodes, passport and account
numbers, dates of birth). Per column and per Arrow batch:

1. ``pyarrow.compute.value_counts`` dedupes the values: each distinct value is examined once,
   its count weights the shares.
2. A routing sample of distinct values is matched against every recognizer's whole-value
   RE2 pattern; only recognizers that fit some of the sample go on.
3. Those patterns run over all distinct values (RE2, vectorized); validators (python-stdnum,
   phonenumbers, ...) run only on candidates, each distinct candidate once per scan.
4. A type is reported when the share of non-null values that matched AND validated reaches
   ``min_share`` and the validation rate among candidates is far above what random numbers of
   the same shape reach (a column of 16-digit transaction ids passes Luhn 10% of the time, a
   card column ~100%).

Long, varied strings are free text: their embedded personal data is summarized with
:func:`veil.discovery.text.find_spans`.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from veil.discovery.masking import mask
from veil.discovery.registry import (
    TYPE_INFO,
    Recognizer,
    Registry,
    default_registry,
    normalize_column_name,
)
from veil.discovery.text import SpanFinder, default_finder
from veil.errors import InputError

BATCH_ROWS = 65_536
ROUTING_SAMPLE = 256
MAX_VALUE_CHARS = 10_000  # longer values are not identifiers; free text is cut to this
TEXT_SAMPLE = 10_000  # distinct free-text values scanned per column (None: all)
_STRENGTH_FACTOR = {"checksum": 1.0, "library": 0.95, "format": 0.85, "context": 0.75}
_MIN_RATE = 0.6  # validated / candidates, per type
_ABANDON_AFTER = 2_000  # validations before giving up on a recognizer at chance level
# Validation results are cached across batches (a customer's IBAN repeats on every one of their
# rows), keyed by the value's hash. Bounded, so memory stays flat on any number of rows.
CACHE_PER_RECOGNIZER = 200_000  # entries per (column, recognizer)
CACHE_BUDGET = 1_000_000  # entries per scan, all columns together (~100 MB)

NAME_HINTS: tuple[tuple[str, str], ...] = (
    (
        r"income|salary|wage|credit.?score|score|rating|loan|limit|debt|default|arrears|dti",
        "income_credit",
    ),
    (
        r"amount|amt|mcc|merchant|txn|transaction|currency|balance|fee|price|booking|posted|value_date",
        "transaction",
    ),
    (r"\bage\b|gender|\bsex\b|nationality|marital|birth_?year|citizenship|ethnic", "demographic"),
    (r"\bcity\b|\btown\b|country|region|\bstate\b|province|county|district", "location"),
    (r"employ|occupation|profession|job|education", "employment"),
)
# A column named like the data subject's own key (customer_id, client_no ...) is personal data
# (a pseudonymous identifier, GDPR Recital 26) even though no recognizer matches its values.
SUBJECT_ID_NAME = re.compile(
    r"^(customer|client|subject|user|member|person|party|holder|cust|account_holder|borrower|"
    r"applicant|employee|patient)[ _\-]?(id|no|nr|num|number|ref|key|code)$",
    re.IGNORECASE,
)


@dataclass
class TypeHit:
    """One identifier type found in a column."""

    type: str
    share: float  # of non-null values that matched AND validated
    rows: int  # values (rows) that matched and validated
    confidence: float
    recognizers: list[str]
    validators: list[str]
    examples: list[str]  # masked
    name_support: bool = False


@dataclass
class ColumnReport:
    name: str
    arrow_type: str
    rows: int = 0
    non_null: int = 0  # neither null nor blank (empty or only whitespace)
    blank: int = 0  # empty or whitespace-only strings, counted as missing
    distinct: int | None = None
    types: list[TypeHit] = field(default_factory=list)
    category: str | None = None
    rule: str | None = None
    confidence: float = 0.0
    free_text: bool = False
    embedded: dict[str, int] = field(default_factory=dict)  # free text: values holding a type
    embedded_examples: dict[str, list[str]] = field(default_factory=dict)  # masked, per type
    text_values_scanned: int = 0
    truncated_values: int = 0
    name_hint: str | None = None
    subject_key: bool = False  # named like the data subject's identifier (SUBJECT_ID_NAME)
    notes: list[str] = field(default_factory=list)

    @property
    def pii(self) -> bool:
        """True when the column holds personal data found by value, is free text, or is named
        like the subject's identifier."""
        return bool(self.types) or self.free_text or self.subject_key

    @property
    def top_type(self) -> str | None:
        return self.types[0].type if self.types else ("free_text" if self.free_text else None)


@dataclass
class ScanReport:
    columns: list[ColumnReport]
    rows: int
    sampled: bool
    seconds: float
    notes: list[str] = field(default_factory=list)

    def column(self, name: str) -> ColumnReport:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def pii_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.pii]

    def suggested_rules(self) -> dict[str, str]:
        """column -> suggested policy rule, for columns that hold personal data."""
        return {c.name: c.rule for c in self.columns if c.pii and c.rule}

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for c, d in zip(self.columns, out["columns"], strict=True):
            d["pii"] = c.pii
        return out


# -- input normalization ----------------------------------------------------------------


def _batches(data: Any) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    if isinstance(data, pa.Table):
        return data.schema, iter(data.to_batches(max_chunksize=BATCH_ROWS))
    if isinstance(data, pa.RecordBatch):
        return data.schema, iter([data])
    if isinstance(data, pa.RecordBatchReader):
        return data.schema, iter(data)
    if isinstance(data, (list, tuple)) and all(isinstance(b, pa.RecordBatch) for b in data):
        if not data:
            return pa.schema([]), iter([])
        return data[0].schema, iter(data)
    if hasattr(data, "__arrow_c_stream__") or type(data).__name__ == "DataFrame":
        try:
            table = _to_arrow(data)
        except (pa.ArrowException, TypeError, ValueError) as exc:
            # the library's message may quote a cell value: name the error class only
            raise InputError(
                f"cannot read the {type(data).__name__} as an Arrow table ({type(exc).__name__})"
            ) from None
        return table.schema, iter(table.to_batches(max_chunksize=BATCH_ROWS))
    if isinstance(data, Iterable):
        it = iter(data)
        try:
            first = next(it)
        except StopIteration:
            return pa.schema([]), iter([])
        if not isinstance(first, pa.RecordBatch):
            raise InputError("scan_table expects a pyarrow Table, RecordBatch(es) or a reader")

        def chain() -> Iterator[pa.RecordBatch]:
            yield first
            yield from it

        return first.schema, chain()
    raise InputError(f"scan_table cannot read a {type(data).__name__}")


def _to_arrow(data: Any) -> pa.Table:
    try:
        return pa.table(data)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        if type(data).__name__ != "DataFrame" or not hasattr(data, "dtypes"):
            raise
    # a pandas column mixing types (object dtype): scan the text of its values
    fixed = data.copy()
    for col, dtype in data.dtypes.items():
        if str(dtype) == "object":
            fixed[col] = [None if v is None or v != v else str(v) for v in data[col]]
    return pa.table(fixed)


def _leaves(name: str, arr: pa.Array) -> Iterator[tuple[str, pa.Array, str | None]]:
    """(column path, array, note) for each scannable leaf: structs are flattened,
    lists scanned element-wise, dictionaries decoded."""
    typ = arr.type
    if pa.types.is_struct(typ):
        for i in range(typ.num_fields):
            yield from _leaves(f"{name}.{typ.field(i).name}", pc.struct_field(arr, [i]))
        return
    if pa.types.is_list(typ) or pa.types.is_large_list(typ) or pa.types.is_fixed_size_list(typ):
        yield from (
            (n, a, note or "list elements scanned")
            for n, a, note in _leaves(f"{name}[]", pc.list_flatten(arr))
        )
        return
    if pa.types.is_dictionary(typ):
        yield name, arr.dictionary_decode(), None
        return
    yield name, arr, None


# -- per-column state -----------------------------------------------------------------


@dataclass
class _TypeAcc:
    rows: int = 0
    candidates: int = 0
    recognizers: set[str] = field(default_factory=set)
    validators: set[str] = field(default_factory=set)
    examples: list[str] = field(default_factory=list)
    distinct_validated: int = 0


class _ColumnState:
    def __init__(self, name: str, arrow_type: str, recs: list[Recognizer]) -> None:
        self.report = ColumnReport(name=name, arrow_type=arrow_type)
        self.name_support = {r.name: r.supports_column(name) for r in recs}
        self.types: dict[str, _TypeAcc] = {}
        self.cache: dict[str, dict[int, float]] = {}  # recognizer -> hash(value) -> score
        self.force_text = False
        self.abandoned: set[str] = set()
        self.tried: dict[str, int] = {}
        self.passed: dict[str, int] = {}
        self.batches = 0
        self.distinct_sum = 0  # exact with one batch, an upper bound with more
        self.text_mode: bool | None = None
        self.text_stats = [0, 0, 0, 0]  # values, chars, words, distinct (first batch)
        self.text_seen = 0
        self.dob_rows = 0
        self.dob_ok = 0
        self.kind = "string"

    def acc(self, type_: str) -> _TypeAcc:
        a = self.types.get(type_)
        if a is None:
            a = self.types[type_] = _TypeAcc()
        return a


class _Scanner:
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
        self.cache_entries = 0
        self.min_share = min_share
        self.text_sample = text_sample
        self.max_value_chars = max_value_chars
        self.finder = finder
        self.state: dict[str, _ColumnState] = {}
        self.order: list[str] = []

    # -- batches ----------------------------------------------------------------------
    def add_batch(self, batch: pa.RecordBatch) -> None:
        for name, col in zip(batch.schema.names, batch.columns, strict=True):
            for path, arr, note in _leaves(name, col):
                st = self.state.get(path)
                if st is None:
                    st = self.state[path] = _ColumnState(path, str(arr.type), self.recs)
                    st.force_text = path in self.text_columns or name in self.text_columns
                    self.order.append(path)
                    if note:
                        st.report.notes.append(note)
                self._add_array(st, arr)

    def _add_array(self, st: _ColumnState, arr: pa.Array) -> None:
        rep = st.report
        n = len(arr)
        rep.rows += n
        typ = arr.type
        if pa.types.is_null(typ):
            return
        nn = n - arr.null_count
        rep.non_null += nn
        if nn == 0:
            return
        if st.force_text and not (
            pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_binary(typ)
        ):
            try:
                arr = pc.cast(arr, pa.string())
                typ = arr.type
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                pass
        if pa.types.is_floating(typ) or pa.types.is_decimal(typ) or pa.types.is_boolean(typ):
            st.kind = "numeric"
            return
        if pa.types.is_temporal(typ):
            st.kind = "temporal"
            self._add_dates(st, arr)
            return
        if pa.types.is_integer(typ):
            st.kind = "integer"
            vc = pc.value_counts(arr.drop_null())
            values = pc.cast(vc.field(0), pa.string())
            counts = vc.field(1).to_numpy()
        elif pa.types.is_binary(typ) or pa.types.is_large_binary(typ) or str(typ) == "binary_view":
            values, counts = self._binary_counts(st, arr)
            values, counts = self._drop_blank(st, values, counts)
        elif pa.types.is_string(typ) or pa.types.is_large_string(typ) or str(typ) == "string_view":
            if str(typ) == "string_view":
                arr = arr.cast(pa.string())
            vc = pc.value_counts(arr.drop_null())
            values = vc.field(0)
            counts = vc.field(1).to_numpy()
            values, counts = self._drop_blank(st, values, counts)
        else:
            st.kind = "other"
            if f"type {typ} not scanned" not in rep.notes:
                rep.notes.append(f"type {typ} not scanned")
            return
        self._add_values(st, values, counts)

    @staticmethod
    def _drop_blank(
        st: _ColumnState, values: pa.Array, counts: np.ndarray
    ) -> tuple[pa.Array, np.ndarray]:
        """Empty and whitespace-only strings are missing values, not values (CSV files
        write a missing value as an empty field): drop them from the distinct values."""
        if len(values) == 0:
            return values, counts
        blank = pc.equal(pc.utf8_trim_whitespace(values), "").to_numpy(zero_copy_only=False)
        if not blank.any():
            return values, counts
        n_blank = int(counts[blank].sum())
        st.report.blank += n_blank
        st.report.non_null -= n_blank
        keep = np.flatnonzero(~blank)
        return values.take(pa.array(keep)), counts[keep]

    def _binary_counts(self, st: _ColumnState, arr: pa.Array) -> tuple[pa.Array, np.ndarray]:
        vc = pc.value_counts(arr.drop_null())
        raw = vc.field(0)
        try:
            values = raw.cast(pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            decoded = []
            bad = 0
            for b in raw.to_pylist():
                try:
                    decoded.append(b.decode("utf-8"))
                except UnicodeDecodeError:
                    decoded.append(b.decode("utf-8", errors="replace"))
                    bad += 1
            values = pa.array(decoded, type=pa.string())
            note = "values that are not valid UTF-8 were decoded with replacement characters"
            if note not in st.report.notes:
                st.report.notes.append(note)
        return values, vc.field(1).to_numpy()

    # -- dates ------------------------------------------------------------------------
    def _add_dates(self, st: _ColumnState, arr: pa.Array) -> None:
        if not any(st.name_support.get(r.name) for r in self.recs if r.type == "date_of_birth"):
            return
        a = arr.drop_null()
        if pa.types.is_timestamp(a.type):
            has_time = pc.any(pc.not_equal(pc.cast(a, pa.date32()).cast(a.type), a)).as_py()
            if has_time:
                return  # a time of day: an event, not a birth date
        today = _dt.date.today()
        years = pc.year(a)
        ok = pc.and_(
            pc.greater_equal(years, today.year - 120),
            pc.less_equal(pc.cast(a, pa.date32()), pa.scalar(today, pa.date32())),
        )
        st.dob_rows += len(a)
        st.dob_ok += int(pc.sum(ok).as_py() or 0)
        acc = st.acc("date_of_birth")
        for i in range(min(len(a), 2 - len(acc.examples))):
            acc.examples.append(mask(str(a[i * (len(a) - 1)].as_py()), "date_of_birth"))

    # -- strings ----------------------------------------------------------------------
    def _add_values(self, st: _ColumnState, values: pa.Array, counts: np.ndarray) -> None:
        rep = st.report
        if len(values) == 0:
            return
        st.batches += 1
        st.distinct_sum += len(values)
        lengths = pc.utf8_length(values).to_numpy(zero_copy_only=False)
        huge = lengths > self.max_value_chars
        if huge.any():
            rep.truncated_values += int(counts[huge].sum())
        if st.text_mode is None:
            st.text_mode = st.force_text or self._looks_like_text(st, values, counts, lengths)
        if st.text_mode:
            self._add_text(st, values, counts)
            return
        ok_len = ~huge
        if not ok_len.all():
            keep = np.flatnonzero(ok_len)
            values = values.take(pa.array(keep))
            counts = counts[keep]
            lengths = lengths[keep]
        self._match_validate(st, values, counts)

    def _looks_like_text(
        self, st: _ColumnState, values: pa.Array, counts: np.ndarray, lengths: np.ndarray
    ) -> bool:
        if st.kind != "string":
            return False
        total = counts.sum()
        if total == 0:
            return False
        mean_len = float((np.minimum(lengths, 2000) * counts).sum() / total)
        spaces = pc.count_substring(values, " ").to_numpy(zero_copy_only=False)
        mean_words = float(((np.minimum(spaces, 400) + 1) * counts).sum() / total)
        distinct_ratio = len(values) / total
        return mean_len >= 25 and mean_words >= 4 and (distinct_ratio >= 0.2 or len(values) >= 50)

    def _add_text(self, st: _ColumnState, values: pa.Array, counts: np.ndarray) -> None:
        rep = st.report
        rep.free_text = True
        limit = self.text_sample
        if limit is not None:
            room = limit - st.text_seen
            if room <= 0:
                return
            if len(values) > room:
                values = values.slice(0, room)
                counts = counts[:room]
        scan = self.finder.scan(values)
        st.text_seen += len(values)
        rep.text_values_scanned += len(values)
        for i, (spans, cnt) in enumerate(zip(scan.spans, counts.tolist(), strict=True)):
            seen: set[str] = set()
            for sp in spans:
                if sp.type in seen:
                    continue
                seen.add(sp.type)
                rep.embedded[sp.type] = rep.embedded.get(sp.type, 0) + cnt
                acc = st.acc("_text:" + sp.type)
                if len(acc.examples) < 2:
                    v = values[i].as_py()
                    acc.examples.append(mask(v[sp.start : sp.end], sp.type))

    def _match_validate(self, st: _ColumnState, values: pa.Array, counts: np.ndarray) -> None:
        n = len(values)
        if n > ROUTING_SAMPLE:
            step = n / ROUTING_SAMPLE
            sample = values.take(pa.array([int(i * step) for i in range(ROUTING_SAMPLE)]))
        else:
            sample = values
        # routing: one Python regex search per distinct pattern over the joined sample
        joined = "\n".join(v.replace("\n", " ") for v in sample.to_pylist() if v is not None)
        min_hits = max(1, int(len(sample) * self.min_share * 0.25))
        sample_hits: dict[str, int] = {}
        full_masks: dict[str, np.ndarray] = {}
        matched: dict[str, np.ndarray] = {}
        validated: dict[str, np.ndarray] = {}
        per_type_recs: dict[str, list[str]] = {}
        for rec in self.recs:
            if rec.name in st.abandoned:
                continue
            support = st.name_support.get(rec.name, False)
            if rec.name_required and not support:
                continue
            if st.kind == "integer" and rec.type in ("person", "email", "street_address"):
                continue
            src = rec.value_regex_source
            assert src is not None
            hits = sample_hits.get(src)
            if hits is None:
                hits = sample_hits[src] = _count_lines(src, joined, min_hits)
            if hits < min_hits:
                continue
            m = full_masks.get(src)
            if m is None:
                m = full_masks[src] = pc.match_substring_regex(values, src).to_numpy(
                    zero_copy_only=False
                )
            t = rec.type
            if t not in matched:
                matched[t] = np.zeros(n, dtype=bool)
                validated[t] = np.zeros(n, dtype=bool)
            matched[t] |= m
            # values another recognizer already confirmed as this type need no second check
            cand = np.flatnonzero(m & ~validated[t])
            if cand.size == 0:
                continue
            ok = self._validate(st, rec, values, cand)
            if ok.size:
                validated[t][ok] = True
                acc = st.acc(t)
                acc.recognizers.add(rec.name)
                acc.validators.add(rec.validator_name)
            per_type_recs.setdefault(t, []).append(rec.name)
        for t, mt in matched.items():
            acc = st.acc(t)
            acc.candidates += int(counts[mt].sum())
            vt = validated[t]
            acc.rows += int(counts[vt].sum())
            acc.distinct_validated += int(vt.sum())
            if len(acc.examples) < 2:
                for i in np.flatnonzero(vt)[: 2 - len(acc.examples)].tolist():
                    acc.examples.append(mask(str(values[i].as_py()), t))

    def _validate(
        self, st: _ColumnState, rec: Recognizer, values: pa.Array, cand: np.ndarray
    ) -> np.ndarray:
        cache = st.cache.get(rec.name)
        if cache is None:
            cache = st.cache[rec.name] = {}
        strs = values.take(pa.array(cand)).to_pylist()
        ok: list[int] = []
        tried = st.tried.get(rec.name, 0)
        passed = st.passed.get(rec.name, 0)
        for i, v in zip(cand.tolist(), strs, strict=True):
            key = hash(v)
            got = cache.get(key)
            if got is None:
                got = rec.score_value(v) if v is not None else 0.0
                if len(cache) >= CACHE_PER_RECOGNIZER or self.cache_entries >= CACHE_BUDGET:
                    self.cache_entries -= len(cache)
                    cache.clear()
                cache[key] = got
                self.cache_entries += 1
                tried += 1
                passed += got > 0
                if tried == _ABANDON_AFTER and passed / tried < 0.05:
                    st.abandoned.add(rec.name)  # chance level: not this type, stop paying
                    break
            if got > 0:
                ok.append(i)
        st.tried[rec.name] = tried
        st.passed[rec.name] = passed
        return np.array(ok, dtype=np.int64)

    # -- verdicts ---------------------------------------------------------------------
    def reports(self) -> list[ColumnReport]:
        out = []
        for name in self.order:
            st = self.state[name]
            rep = st.report
            rep.distinct = st.distinct_sum if st.batches == 1 else None
            rep.name_hint = _name_hint(name)
            hits: list[TypeHit] = []
            nn = rep.non_null
            if nn == 0:
                rep.notes.append(
                    "no values"
                    if rep.rows == 0
                    else (
                        "all values are null" if not rep.blank else "all values are null or blank"
                    )
                )
            elif st.kind == "temporal":
                if st.dob_rows and st.dob_ok / st.dob_rows >= 0.9:
                    acc = st.types.get("date_of_birth", _TypeAcc())
                    share = st.dob_ok / nn
                    hits.append(
                        TypeHit(
                            "date_of_birth",
                            round(share, 4),
                            st.dob_ok,
                            round(min(1.0, share * 0.75 + 0.2), 3),
                            ["date_of_birth"],
                            ["calendar date, age 0-120"],
                            acc.examples,
                            True,
                        )
                    )
            elif st.kind == "numeric":
                pass
            elif not rep.free_text:
                for t, acc in st.types.items():
                    hit = self._verdict(st, t, acc, nn)
                    if hit is not None:
                        hits.append(hit)
            hits.sort(key=lambda h: (-h.share, -h.confidence))
            rep.types = hits
            if rep.free_text:
                rep.category, rep.rule = TYPE_INFO["free_text"]
                found = sum(rep.embedded.values())
                rep.confidence = 0.9 if found else 0.6
                if rep.truncated_values:
                    rep.notes.append(
                        f"{rep.truncated_values} values longer than {self.max_value_chars} "
                        "characters were scanned up to that length"
                    )
                if self.text_sample is not None and rep.text_values_scanned >= self.text_sample:
                    rep.notes.append(
                        f"free text: {rep.text_values_scanned} distinct values scanned "
                        "(text_sample)"
                    )
                rep.embedded = dict(sorted(rep.embedded.items(), key=lambda kv: -kv[1]))
                rep.embedded_examples = {
                    t: st.types["_text:" + t].examples[:2]
                    for t in rep.embedded
                    if "_text:" + t in st.types
                }
            elif hits:
                top = hits[0]
                rep.category, rep.rule = TYPE_INFO.get(
                    top.type, ("direct_identifier", "pseudonymize")
                )
                for r in self.recs:
                    if r.type == top.type and (r.category or r.rule):
                        rep.category = r.category or rep.category
                        rep.rule = r.rule or rep.rule
                        break
                rep.confidence = top.confidence
            else:
                if rep.truncated_values:
                    rep.notes.append(
                        f"{rep.truncated_values} values longer than {self.max_value_chars} "
                        "characters were not matched against identifier patterns"
                    )
                if SUBJECT_ID_NAME.match(name.strip()) and nn:
                    rep.subject_key = True
                    rep.category, rep.rule, rep.confidence = (
                        "direct_identifier", "pseudonymize", 0.7)
                    rep.notes.append("named like the data subject's identifier")
                    out.append(rep)
                    continue
                rep.category = rep.name_hint
                rep.rule = {
                    "transaction": "keep",
                    "income_credit": "keep",
                    "demographic": "generalize",
                    "location": "generalize",
                }.get(rep.name_hint or "")
            out.append(rep)
        return out

    def _verdict(self, st: _ColumnState, t: str, acc: _TypeAcc, nn: int) -> TypeHit | None:
        if t.startswith("_text:") or acc.rows == 0:
            return None
        share = acc.rows / nn
        rate = acc.rows / acc.candidates if acc.candidates else 0.0
        recs = [r for r in self.recs if r.type == t and r.name in acc.recognizers]
        support = any(st.name_support.get(r.name) for r in self.recs if r.type == t)
        strength = max((_STRENGTH_FACTOR[r.strength] for r in recs), default=0.75)
        min_share = self.min_share
        if t == "person":
            # single names and 2-word values are also cities, products...: demand more
            min_share = 0.3 if support else 0.5
        if share < min_share or rate < _MIN_RATE:
            return None
        # shapes that ordinary words or codes can take: a few repeated values prove little
        weak = (
            t == "bic"
            or all(r.strength == "context" for r in recs)
            or (t == "phone" and not any(r.name == "phone_intl" for r in recs))
        )
        if weak and not support and acc.distinct_validated < 5:
            return None  # a handful of repeated values proves little without a name hint
        conf = share * strength * (0.5 + 0.5 * rate)
        if support:
            conf += 0.1
        return TypeHit(
            type=t,
            share=round(share, 4),
            rows=acc.rows,
            confidence=round(min(conf, 1.0), 3),
            recognizers=sorted(acc.recognizers),
            validators=sorted(acc.validators),
            examples=acc.examples[:2],
            name_support=support,
        )


_LINE_RX: dict[str, re.Pattern[str]] = {}


def _count_lines(src: str, joined: str, enough: int) -> int:
    """Lines of ``joined`` that fully match the RE2 value pattern ``src`` (Python twin),
    counting up to ``enough``."""
    rx = _LINE_RX.get(src)
    if rx is None:
        body = src
        flags = re.MULTILINE
        if body.startswith("(?i)"):
            body = body[4:]
            flags |= re.IGNORECASE
        body = body.replace("^\\s*", "^[ \\t]*", 1).replace("[^", "[^\\n")
        if body.endswith("\\s*$"):
            body = body[: -len("\\s*$")] + "[ \\t]*$"
        try:
            rx = re.compile(body, flags)
        except re.error:
            rx = re.compile(r"(?!)")
        _LINE_RX[src] = rx
    count = 0
    for _ in rx.finditer(joined):
        count += 1
        if count >= enough:
            break
    return count


def _name_hint(name: str) -> str | None:
    low = normalize_column_name(name)
    for pattern, cat in NAME_HINTS:
        if re.search(pattern, low):
            return cat
    return None


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
    reg = registry if registry is not None else default_registry()
    scanner = _Scanner(
        reg,
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
    schema, batches = _batches(data)
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
    if sample is not None and rows >= sample:
        sampled = True
    # columns of the schema that never got a batch (empty table)
    for f in schema:
        for path, arr, _ in _leaves(f.name, pa.array([], type=f.type)):
            if path not in scanner.state:
                scanner.state[path] = _ColumnState(path, str(arr.type), scanner.recs)
                scanner.order.append(path)
    report = ScanReport(
        columns=scanner.reports(),
        rows=rows,
        sampled=sampled,
        seconds=round(time.perf_counter() - started, 4),
    )
    if rows == 0:
        report.notes.append("the table has no rows")
    if sampled:
        report.notes.append(f"sample mode: the first {rows} rows were scanned")
    if math.isfinite(report.seconds) and report.seconds > 0:
        report.notes.append(f"{rows / report.seconds:,.0f} rows/s")
    return report
