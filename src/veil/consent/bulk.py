"""Bulk consent checks over Arrow columns: load a purpose's state once, check millions of rows.

A :class:`ConsentSnapshot` holds, for one purpose at one time, every subject the ledger knows and
the reason code of its consent at that time (see ``veil.consent.models.REASONS``), as an Arrow
string array sorted by bytes and a numpy ``uint8`` array. Checking a column of subject ids is
then a join done by Arrow's kernels, never a Python loop over rows:

- a column about as long as the snapshot (or a small snapshot): ``pyarrow.compute.index_in``,
  which hashes the snapshot's subjects and probes each row;
- a short batch against a big snapshot (a run's stream of batches): the snapshot's own hash
  index (:mod:`~veil.consent.subject_index`, built once), so the snapshot is not hashed again
  for every batch; ids over 64 bytes: a binary search of the sorted subjects
  (``pyarrow.compute.search_sorted``) and an exact comparison of the candidates;
- a dictionary-encoded column (Parquet often gives one): only its dictionary is looked up.

The result is a boolean mask and a reason code per row.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from veil.consent.models import (
    EXPIRED,
    NO_CONSENT,
    NO_SUBJECT,
    OK,
    OUTDATED_NOTICE,
    REASONS,
    WITHDRAWN,
    State,
    code_at,
    format_us,
)
from veil.consent.subject_index import SubjectIndex
from veil.errors import ConsentError
from veil.store.schema import consent_events, consent_state

_REASONS = pa.array(REASONS, pa.string())
_SMALL = 50_000  # snapshots this small are always probed with index_in


@dataclass
class BulkCheck:
    """Per-row result of a bulk check: ``codes[i]`` indexes ``REASONS``; 0 means valid."""

    codes: np.ndarray  # uint8, one per row

    def __len__(self) -> int:
        return int(self.codes.shape[0])

    @property
    def mask(self) -> pa.BooleanArray:
        """True where the row's subject holds valid consent."""
        return pa.array(self.codes == OK, pa.bool_())

    @property
    def reasons(self) -> pa.DictionaryArray:
        """The reason of every row as a dictionary-encoded string array ('ok', 'no consent'...)."""
        return pa.DictionaryArray.from_arrays(pa.array(self.codes.astype(np.int8)), _REASONS)

    @property
    def valid(self) -> int:
        return int(np.count_nonzero(self.codes == OK))

    def counts(self) -> Counter[str]:
        """Rows per reason, for the rows that are not valid."""
        bins = np.bincount(self.codes, minlength=len(REASONS))
        return Counter({REASONS[i]: int(n) for i, n in enumerate(bins) if i != OK and n})


@dataclass
class ConsentSnapshot:
    """A purpose's consent at one time, ready for bulk checks (see the module docstring)."""

    purpose: str
    at_us: int
    required_notice: int | None
    subjects: pa.StringArray  # sorted by bytes, unique
    codes: np.ndarray  # uint8, aligned with subjects
    _stats: dict[str, Any] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.subjects)

    def summary(self) -> dict[str, Any]:
        valid = int(np.count_nonzero(self.codes == OK))
        return {"purpose": self.purpose, "as_of": format_us(self.at_us),
                "subjects": len(self.subjects), "valid": valid,
                "required_notice_seq": self.required_notice}

    def index(self) -> SubjectIndex | None:
        """The snapshot's hash index (built on first use; None for ids over 64 bytes), so that
        every later batch is looked up in a few vectorized passes (a run builds it once)."""
        if "index" not in self._stats:
            self._stats["index"] = SubjectIndex.build(self.subjects)
        index: SubjectIndex | None = self._stats["index"]
        return index

    def check(self, subjects: pa.Array | pa.ChunkedArray | Sequence[str | None]) -> BulkCheck:
        """Check every row of a column of subject ids (strings, or integers compared as text)."""
        arr = _as_array(subjects)
        if pa.types.is_dictionary(arr.type):
            inner = self.check(arr.dictionary).codes
            idx = arr.indices
            valid = np.asarray(idx.is_valid())
            pos = np.asarray(idx.fill_null(0)).astype(np.int64, copy=False)
            codes = inner[pos] if len(inner) else np.full(len(arr), NO_CONSENT, np.uint8)
            codes[~valid] = NO_SUBJECT
            return BulkCheck(codes)
        arr = _as_strings(arr)
        n = len(arr)
        codes = np.full(n, NO_CONSENT, np.uint8)
        if n == 0:
            return BulkCheck(codes)
        if len(self.subjects):
            size = len(self.subjects)
            index = self._stats.get("index")
            if index is None and size > _SMALL and size > 2 * n:
                index = self.index()
            if index is not None:
                found, pos = index.positions(arr)
            elif size <= _SMALL or size <= 2 * n:
                hit = pc.index_in(arr, value_set=self.subjects)
                found = np.asarray(hit.is_valid())
                pos = np.asarray(hit.fill_null(0)).astype(np.int64, copy=False)
            else:
                at = pc.search_sorted(self.subjects, arr)
                pos = np.asarray(at.fill_null(0)).astype(np.int64, copy=False)
                np.minimum(pos, size - 1, out=pos)
                candidate = self.subjects.take(pa.array(pos))
                found = np.asarray(pc.equal(candidate, arr).fill_null(False))
            codes[found] = self.codes[pos[found]]
        if arr.null_count:
            codes[~np.asarray(arr.is_valid())] = NO_SUBJECT
        return BulkCheck(codes)


def _as_array(subjects: Any) -> pa.Array:
    if isinstance(subjects, pa.ChunkedArray):
        return subjects.combine_chunks() if subjects.num_chunks != 1 else subjects.chunk(0)
    if isinstance(subjects, pa.Array):
        return subjects
    try:
        return pa.array(list(subjects), pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        raise ConsentError("subject ids must be text (or whole numbers)") from None


def _as_strings(arr: pa.Array) -> pa.Array:
    if arr.type == pa.string():
        return arr
    t = arr.type
    if (pa.types.is_large_string(t) or pa.types.is_string_view(t) or pa.types.is_integer(t)
            or pa.types.is_null(t)):
        return pc.cast(arr, pa.string())
    raise ConsentError(f"subject ids must be text or whole numbers, not {t}")


_LATE = 9  # placeholder code (one digit, like all codes): state changed after the snapshot time


def load_snapshot(conn: sa.Connection, purpose: str, at_us: int,
                  required: int | None) -> ConsentSnapshot:
    """Read a purpose's state at `at_us` in one query, sorted by subject bytes.

    The state table holds what each subject's latest event left. For the few subjects whose
    latest event is after `at_us` (an as-of check, or a run whose snapshot is taken after a new
    event), the state at `at_us` comes from the events, in a second query."""
    s = consent_state.c
    whens: list[tuple[Any, int]] = [
        (s.time_us > at_us, _LATE),
        (s.status == "withdrawn", WITHDRAWN),
        (s.status == "expired", EXPIRED),
        (sa.and_(s.expires_us.is_not(None), s.expires_us <= at_us), EXPIRED),
    ]
    if required:
        whens.append((sa.func.coalesce(s.notice_seq, 0) < required, OUTDATED_NOTICE))
    code = sa.case(*whens, else_=OK)
    subjects, codes = _fetch(conn, sa.select(s.subject, code.label("code"))
                             .where(s.purpose == purpose))
    if not _is_sorted(subjects):
        order_idx = pc.sort_indices(subjects)
        subjects = subjects.take(order_idx)
        codes = codes[np.asarray(order_idx)]
    late = np.flatnonzero(codes == _LATE)
    if len(late):
        codes[late] = NO_CONSENT  # unless an event at or before `at_us` says otherwise
        where = {subjects[int(i)].as_py(): int(i) for i in late}
        for subject, c in _late(conn, purpose, at_us, required):
            codes[where[subject]] = c
    return ConsentSnapshot(purpose, at_us, required, subjects, codes)


def _fetch(conn: sa.Connection, rows: sa.Select[Any]) -> tuple[pa.Array, np.ndarray]:
    """(subject, code) rows as an Arrow array and a uint8 array, sorted by subject bytes.

    The rows come back as two strings built by the database (subjects joined by U+001F, which a
    subject id cannot hold, and one digit per code), so a million subjects cost two Python
    objects instead of a million tuples; other databases fall back to fetching rows."""
    inner = rows.subquery()
    dialect = conn.dialect.name
    if dialect == "sqlite":
        ordered = rows.order_by(rows.selected_columns[0]).subquery()
        q = sa.select(sa.func.group_concat(ordered.c.subject, sa.func.char(31)),
                      sa.func.group_concat(ordered.c.code, ""))
    elif dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import aggregate_order_by

        by = inner.c.subject.collate("C")
        q = sa.select(
            sa.func.string_agg(inner.c.subject, aggregate_order_by(sa.func.chr(31), by)),
            sa.func.string_agg(sa.cast(inner.c.code, sa.Text),
                               aggregate_order_by(sa.literal(""), by)))
    else:
        got = conn.execute(sa.select(inner.c.subject, inner.c.code)
                           .order_by(inner.c.subject)).all()
        return (pa.array([r[0] for r in got], pa.string()),
                np.array([r[1] for r in got], np.uint8))
    joined, digits = conn.execute(q).one()
    if not joined:
        return pa.array([], pa.string()), np.zeros(0, np.uint8)
    subjects = pc.split_pattern(pa.scalar(joined, pa.large_string()), "\x1f").values
    codes = np.frombuffer(digits.encode("ascii"), np.uint8) - np.uint8(48)
    if len(subjects) != len(codes):
        raise AssertionError("consent state: subjects and codes out of step")
    return subjects.cast(pa.string()), codes


def _late(conn: sa.Connection, purpose: str, at_us: int,
          required: int | None) -> list[tuple[str, int]]:
    """Subjects whose latest event is after `at_us`: their state then, from the events."""
    s, e = consent_state.c, consent_events.c
    late = sa.select(s.subject).where(s.purpose == purpose, s.time_us > at_us)
    rn = sa.func.row_number().over(partition_by=e.subject,
                                   order_by=(e.time_us.desc(), e.seq.desc())).label("rn")
    inner = (sa.select(e.subject, e.kind, e.time_us, e.event_id, e.expires_us, e.notice_seq, rn)
             .where(e.purpose == purpose, e.time_us <= at_us, e.subject.in_(late))
             .subquery())
    out = []
    for r in conn.execute(sa.select(inner).where(inner.c.rn == 1)):
        status = {"renewed": "granted"}.get(r.kind, r.kind)
        state = State(status, r.time_us, r.event_id,
                      r.expires_us if status == "granted" else None, None,
                      r.notice_seq if status == "granted" else None)
        out.append((r.subject, code_at(state, at_us, required)))
    return out


def _is_sorted(arr: pa.Array) -> bool:
    if len(arr) < 2:
        return True
    return not pc.any(pc.greater_equal(arr.slice(0, len(arr) - 1), arr.slice(1))).as_py()
