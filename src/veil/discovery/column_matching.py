"""Which distinct values of a column match a recognizer's whole-value pattern and pass its
validator.

A routing sample of the distinct values is matched first (one Python regex search per pattern
over the joined sample); only recognizers that fit some of it run their RE2 pattern over all
distinct values, vectorized. Validators run on candidates only, each distinct candidate once
per scan: results are cached across batches (a customer's IBAN repeats on every one of their
rows) within a bounded budget so memory stays flat. Candidates are looked up in that cache and
validated a whole array at a time (:mod:`.column_validate`, :mod:`.validators_vec`); the
one-value-at-a-time path they replace is kept as ``Matcher.validate_each``, the reference the
tests compare them with.
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from veil.detect.masking import mask
from veil.detect.registry import Recognizer
from veil.discovery.column_state import ColumnState
from veil.discovery.column_validate import hopeless, validate_batch

ROUTING_SAMPLE = 256
CACHE_PER_RECOGNIZER = 200_000  # entries per (column, recognizer)
CACHE_BUDGET = 1_000_000  # entries per scan, all columns together (~100 MB)
# values of an integer column are never names, e-mails or street addresses
_NOT_IN_INTEGERS = ("person", "email", "street_address")


class _Batch:
    """Per batch: each pattern's sample hits and full match mask (shared by recognizers with
    the same pattern), and per type which values matched and which validated."""

    def __init__(self, values: pa.Array, min_share: float) -> None:
        self.values = values
        n = len(values)
        if n > ROUTING_SAMPLE:
            step = n / ROUTING_SAMPLE
            sample = values.take(pa.array([int(i * step) for i in range(ROUTING_SAMPLE)]))
        else:
            sample = values
        self.joined = "\n".join(v.replace("\n", " ") for v in sample.to_pylist() if v is not None)
        self.min_hits = max(1, int(len(sample) * min_share * 0.25))
        self.sample_hits: dict[str, int] = {}
        self.full_masks: dict[str, np.ndarray] = {}
        self.matched: dict[str, np.ndarray] = {}
        self.validated: dict[str, np.ndarray] = {}

    def routed(self, src: str) -> bool:
        """Enough lines of the routing sample match the value pattern ``src``."""
        hits = self.sample_hits.get(src)
        if hits is None:
            hits = self.sample_hits[src] = count_lines(src, self.joined, self.min_hits)
        return hits >= self.min_hits

    def candidates(self, src: str, type_: str) -> np.ndarray:
        """Indexes of values matching ``src`` that no recognizer of ``type_`` confirmed yet."""
        m = self.full_masks.get(src)
        if m is None:
            m = self.full_masks[src] = pc.match_substring_regex(self.values, src).to_numpy(
                zero_copy_only=False
            )
        if type_ not in self.matched:
            n = len(self.values)
            self.matched[type_] = np.zeros(n, dtype=bool)
            self.validated[type_] = np.zeros(n, dtype=bool)
        self.matched[type_] |= m
        # values another recognizer already confirmed as this type need no second check
        return np.flatnonzero(m & ~self.validated[type_])


class Matcher:
    """Matches and validates the distinct values of string columns against recognizers."""

    vectorized = True  # False: validate one value at a time (the reference path, for tests)

    def __init__(self, recs: list[Recognizer], min_share: float) -> None:
        self.recs = recs
        self.min_share = min_share
        self.cache_entries = 0
        self.per_recognizer = CACHE_PER_RECOGNIZER
        self.budget = CACHE_BUDGET

    def match_validate(self, st: ColumnState, values: pa.Array, counts: np.ndarray) -> None:
        batch = _Batch(values, self.min_share)
        for rec in self.recs:
            if not self._eligible(st, rec):
                continue
            src = rec.value_regex_source
            assert src is not None
            if not batch.routed(src):
                continue
            key = acc_key(rec)
            cand = batch.candidates(src, key)
            if cand.size == 0:
                continue
            if self.vectorized:
                ok = validate_batch(self, st, rec, values, cand)
            else:
                ok = self.validate_each(st, rec, values, cand)
            if ok.size:
                batch.validated[key][ok] = True
                acc = st.acc(key)
                acc.recognizers.add(rec.name)
                acc.validators.add(rec.validator_name)
        _tally(st, batch, counts)

    @staticmethod
    def _eligible(st: ColumnState, rec: Recognizer) -> bool:
        if rec.name in st.abandoned:
            return False
        if rec.name_required and not st.name_support.get(rec.name, False):
            return False
        return not (st.kind == "integer" and rec.type in _NOT_IN_INTEGERS)

    def validate_each(
        self, st: ColumnState, rec: Recognizer, values: pa.Array, cand: np.ndarray
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
                if len(cache) >= self.per_recognizer or self.cache_entries >= self.budget:
                    self.cache_entries -= len(cache)
                    cache.clear()
                cache[key] = got
                self.cache_entries += 1
                tried += 1
                passed += got > 0
                if hopeless(rec, tried, passed):
                    st.abandoned.add(rec.name)  # not this type: stop paying
                    break
            if got > 0:
                ok.append(i)
        st.tried[rec.name] = tried
        st.passed[rec.name] = passed
        return np.array(ok, dtype=np.int64)


def acc_key(rec: Recognizer) -> str:
    """The counter a recognizer's matches go to: its type, or ``type@name`` for one that must
    validate most values on its own (a generated python-stdnum format: a dozen weak checks of
    one type together would pass a column of random numbers)."""
    return rec.type if rec.column_min_rate is None else f"{rec.type}@{rec.name}"


def _tally(st: ColumnState, batch: _Batch, counts: np.ndarray) -> None:
    """Add a batch's matched and validated rows to the column's counts, with examples."""
    for t, mt in batch.matched.items():
        acc = st.acc(t)
        acc.candidates += int(counts[mt].sum())
        vt = batch.validated[t]
        acc.rows += int(counts[vt].sum())
        acc.distinct_validated += int(vt.sum())
        if len(acc.examples) < 2:
            for i in np.flatnonzero(vt)[: 2 - len(acc.examples)].tolist():
                acc.examples.append(mask(str(batch.values[i].as_py()), t))


_LINE_RX: dict[str, re.Pattern[str]] = {}


def count_lines(src: str, joined: str, enough: int) -> int:
    """Lines of ``joined`` that fully match the RE2 value pattern ``src`` (Python twin),
    counting up to ``enough``."""
    rx = _LINE_RX.get(src)
    if rx is None:
        rx = _LINE_RX[src] = _line_regex(src)
    count = 0
    for _ in rx.finditer(joined):
        count += 1
        if count >= enough:
            break
    return count


def _line_regex(src: str) -> re.Pattern[str]:
    body = src
    flags = re.MULTILINE
    if body.startswith("(?i)"):
        body = body[4:]
        flags |= re.IGNORECASE
    body = body.replace("^\\s*", "^[ \\t]*", 1).replace("[^", "[^\\n")
    if body.endswith("\\s*$"):
        body = body[: -len("\\s*$")] + "[ \\t]*$"
    try:
        return re.compile(body, flags)
    except re.error:
        return re.compile(r"(?!)")
