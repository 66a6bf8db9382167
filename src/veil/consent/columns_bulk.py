"""Consent CSV rows checked a column at a time (the import's hot path).

A chunk of records is turned into columns and every check of :func:`~veil.consent.interchange.
row_event` (phase A: the columns' own form) and of :func:`~veil.consent.validation.prepare_event`
(phase B: the rules) is done over whole columns: Arrow kernels and numpy for what differs per
row (times, lengths, control characters, digests), one call per distinct value for what repeats
(purposes, channels, collectors, actions, notice versions).

The column checks are a net, not the judge: they only *clear* rows that the row checks would
accept, and compute the same values for them. A row they do not clear (a time in an unusual but
valid ISO form, a misspelt channel, an upper-case event) goes through the row functions
themselves, which raise the exact error the row-by-row import raised, or give its event. So the
first refusal is the one the row-by-row import reports: phase A's first failing row of the
chunk, else phase B's (the row-by-row import read a whole chunk before preparing it).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import repeat
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from veil.consent.interchange import _ID_COLUMNS, MAX_FIELD, REQUIRED, row_event
from veil.consent.models import (
    KINDS,
    MAX_SUBJECT,
    ConsentEvent,
    Event,
    check_action,
    check_channel,
    check_text,
    check_version,
)
from veil.consent.purposes import consent_min_age, policy_purpose
from veil.consent.validation import GIVING, prepare_event
from veil.errors import ConsentError

if TYPE_CHECKING:
    from veil.consent.ledger import Ledger

__all__ = ["Chunk", "checked_columns", "times_us"]

_TIME = (r"^(?P<y>[0-9]{4})-(?P<mo>[0-9]{2})-(?P<d>[0-9]{2})T(?P<h>[0-9]{2}):(?P<mi>[0-9]{2}):"
         r"(?P<s>[0-9]{2})(?:\.(?P<f>[0-9]{1,6}))?(?:[zZ]|(?P<sign>[+-])(?P<oh>[0-9]{2}):"
         r"(?P<om>[0-9]{2}))$")
_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], np.int64)
_CONTROL = r"[\x00-\x1f\x7f]"
_EVENT_ID = r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}$"
_EVIDENCE = r"^(?i:sha256:)?[0-9A-Fa-f]{64}$"
_AGE = r"^[0-9]{1,3}$"


@dataclass
class Chunk:
    """Records of one chunk as read: the header, each record's fields and first line."""

    name: str
    header: list[str]
    rows: list[list[str]] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)

    def where(self, i: int) -> str:
        return f"{self.name}:{self.lines[i]}"


def times_us(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(µs since the epoch, cleared) for ISO 8601 texts of the common shape
    ``YYYY-MM-DDTHH:MM:SS[.f{1,6}](Z|±HH:MM)``: the value ``parse_time`` gives where cleared
    (a real date and time, years 2-9998); other texts are not cleared (the row path decides)."""
    n = len(texts)
    m = pc.extract_regex(pa.array(texts, pa.string()), _TIME)
    ok = np.asarray(m.is_valid().fill_null(False), dtype=bool)
    if not ok.any():
        return np.zeros(n, np.int64), ok

    def num(name: str) -> np.ndarray:
        a = m.field(name).fill_null("")
        a = pc.if_else(pc.equal(a, ""), "0", a)
        return np.asarray(pc.cast(a, pa.int64()), dtype=np.int64)

    y, mo, d, h, mi, s = (num(k) for k in ("y", "mo", "d", "h", "mi", "s"))
    frac = np.asarray(pc.cast(pc.utf8_rpad(m.field("f").fill_null(""), 6, "0"), pa.int64()))
    sign = np.asarray(pc.if_else(pc.equal(m.field("sign").fill_null(""), "-"), -1,
                                 pc.if_else(pc.equal(m.field("sign").fill_null(""), "+"), 1, 0)),
                      dtype=np.int64)
    oh, om = num("oh"), num("om")
    leap = (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))
    month = np.clip(mo, 0, 12)
    dim = _DAYS[month] + ((month == 2) & leap)
    ok &= ((y >= 2) & (y <= 9998) & (mo >= 1) & (mo <= 12) & (d >= 1) & (d <= dim) & (h <= 23)
           & (mi <= 59) & (s <= 59) & (oh <= 23) & (om <= 59))
    # days from the civil date (H. Hinnant's algorithm; all years here are positive)
    yy = y - (mo <= 2)
    era = yy // 400
    yoe = yy - era * 400
    doy = (153 * (mo + np.where(mo > 2, -3, 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146097 + doe - 719468
    secs = days * 86400 + h * 3600 + mi * 60 + s - sign * (oh * 3600 + om * 60)
    return np.where(ok, secs * 1_000_000 + frac, 0), ok


def _bad_values(col: Sequence[Hashable], ok: Callable[[Any], bool]) -> np.ndarray | None:
    """Rows whose value fails ``ok`` (called once per distinct value); None when none does."""
    bad = {v for v in set(col) if not ok(v)}
    if not bad:
        return None
    return np.fromiter((v in bad for v in col), bool, len(col))


def _raises(f: Callable[..., Any], *args: Any) -> bool:
    try:
        f(*args)
    except ConsentError:
        return True
    return False


def _regex_fails(col: Sequence[str | None], pattern: str) -> np.ndarray:
    """Rows whose non-empty value does not match ``pattern`` (RE2, whole value)."""
    a = pa.array(col, pa.string())
    miss = pc.invert(pc.match_substring_regex(a, pattern)).fill_null(False)
    return np.asarray(pc.and_(miss, pc.not_equal(a, "").fill_null(False)), dtype=bool)


def _over(col: Sequence[str], limit: int, control: bool = True) -> np.ndarray | None:
    """Rows longer than ``limit`` characters or (``control``) holding a control character."""
    if not col:
        return None
    a = pa.array(col, pa.string())
    flags = None
    if max(map(len, col)) > limit:
        flags = np.asarray(pc.greater(pc.utf8_length(a), limit), dtype=bool)
    if control and pc.any(pc.match_substring_regex(a, _CONTROL)).as_py():
        c = np.asarray(pc.match_substring_regex(a, _CONTROL).fill_null(False), dtype=bool)
        flags = c if flags is None else flags | c
    return flags


class _Cols:
    """The stripped columns of a chunk ('' for an empty field; absent columns all '')."""

    def __init__(self, chunk: Chunk) -> None:
        self.n = len(chunk.rows)
        self.have = set(chunk.header)
        by = list(zip(*chunk.rows, strict=True)) if chunk.rows else [()] * len(chunk.header)
        self._c = {h: list(map(str.strip, col)) for h, col in zip(chunk.header, by, strict=True)}

    def __getitem__(self, name: str) -> list[str]:
        got = self._c.get(name)
        if got is None:
            got = self._c[name] = [""] * self.n
        return got

    def any(self, name: str) -> bool:
        return name in self.have and any(self._c[name])


def _phase_a(c: _Cols) -> np.ndarray:
    """Rows the column checks cannot clear for phase A (the form of each field)."""
    flags = np.zeros(c.n, bool)
    for h in c.have:
        over = _over(c[h], MAX_FIELD, control=False)
        if over is not None:
            flags |= over
    for col in REQUIRED:
        if "" in c[col]:
            flags |= np.fromiter((not v for v in c[col]), bool, c.n)
    bad = _bad_values(c["event"], lambda v: v in KINDS)
    if bad is not None:
        flags |= bad
    t_us, t_ok = times_us(c["time"])
    flags |= ~t_ok
    c.time_us = t_us  # type: ignore[attr-defined]
    if c.any("expires"):
        e_us, e_ok = times_us(c["expires"])
        present = np.fromiter(map(bool, c["expires"]), bool, c.n)
        flags |= present & ~e_ok
        c.expires = (e_us, present)  # type: ignore[attr-defined]
    if c.any("age"):
        flags |= _regex_fails(c["age"], _AGE)
    return flags


def checked_columns(chunk: Chunk, ledger: Ledger | None, collector: str | None,
                    now: int, pending: ConsentError | None = None) -> dict[str, list[Any]]:
    """The chunk's events as stored columns (``EVENT_COLUMNS`` but ``notice_seq``), checked as
    the row path checks them; raises the row path's first error (see the module docstring).
    ``pending``: the error of the record that ended the chunk, raised after phase A."""
    if not chunk.rows and pending is not None:
        raise pending
    c = _Cols(chunk)
    slow = _phase_a(c)
    policy = ledger.policy if ledger is not None else None
    cols, flags = _phase_b(c, chunk, policy, collector, now, slow)
    slow |= flags
    rows = np.flatnonzero(slow).tolist()
    if rows:
        evs = [row_event(chunk.header, chunk.rows[i], chunk.where(i), ledger, collector)
               for i in rows]  # phase A of the rows not cleared, in order
        if pending is not None:
            raise pending
        done = [prepare_event(e, now, policy) for e in evs]  # then phase B
        _put(cols, rows, done)
    elif pending is not None:
        raise pending
    missing = np.flatnonzero(np.fromiter((not v for v in cols["event_id"]), bool, c.n)).tolist()
    if missing:
        _derive_ids(cols, c, missing, ledger)
    return cols


def _put(cols: dict[str, list[Any]], rows: list[int], events: list[Event]) -> None:
    """The row path's events, in place of the rows it judged."""
    for i, e in zip(rows, events, strict=True):
        for k, v in e.row().items():
            if k in cols:
                cols[k][i] = v
        cols["event_id"][i] = e.event_id


def _derive_ids(cols: dict[str, list[Any]], c: _Cols, rows: list[int],
                ledger: Ledger | None) -> None:
    """Event ids of rows without one: the keyed digest of the row's stripped fields (as
    ``interchange._event`` derives them)."""
    import hashlib

    parts = [c[h] if h in c.have else repeat("") for h in _ID_COLUMNS]
    if len(rows) == c.n:
        canon = list(map("\x1f".join, zip(*parts, strict=False)))
    else:
        canon = ["\x1f".join(c[h][i] if h in c.have else "" for h in _ID_COLUMNS) for i in rows]
    data = map(partial(str.encode, encoding="utf-8", errors="surrogatepass"), canon)
    if ledger is not None:
        digests = map(hmac.digest, repeat(ledger.ref.key()), data, repeat("sha256"))
    else:
        digests = (hashlib.sha256(d).digest() for d in data)
    ids = cols["event_id"]
    for i, d in zip(rows, digests, strict=True):
        ids[i] = "csv-" + d[:16].hex()


def _phase_b(c: _Cols, chunk: Chunk, policy: Any, collector: str | None, now: int,
             slow: np.ndarray) -> tuple[dict[str, list[Any]], np.ndarray]:
    """The stored columns of the rows phase A cleared, and the rows phase B cannot clear."""
    n = c.n
    flags = np.zeros(n, bool)

    def flag(rows: np.ndarray | None) -> None:
        nonlocal flags
        if rows is not None:
            flags |= rows

    kind = c["event"]
    giving = np.fromiter((k in GIVING for k in kind), bool, n)
    flag(_over(c["subject"], MAX_SUBJECT))
    min_age: dict[str, int | None] = {}

    def purpose_ok(pk: tuple[str, bool]) -> bool:
        try:
            p = policy_purpose(policy, pk[0], granting=pk[1])
        except ConsentError:
            return False
        min_age[pk[0]] = consent_min_age(p)
        return True

    flag(_bad_values(list(zip(c["purpose"], giving.tolist(), strict=True)), purpose_ok))
    flag(_bad_values(list(zip(c["channel"], kind, strict=True)),
                     lambda ck: not _raises(check_channel, *ck)))
    given = ([v or collector or "" for v in c["collector"]] if "collector" in c.have
             else [collector or ""] * n)
    collectors: dict[str, str | None] = {}

    def collector_ok(v: str) -> bool:
        try:
            collectors[v] = check_text(v, "collector")
        except ConsentError:
            return False
        return bool(collectors[v])

    flag(_bad_values(given, collector_ok))
    coll = [collectors.get(v) or "" for v in given]
    actions: dict[tuple[str, str], str | None] = {}

    def action_ok(ak: tuple[str, str]) -> bool:
        try:
            actions[ak] = check_action(ak[0] or None, ak[1])
        except ConsentError:
            return False
        return True

    ak = list(zip(c["action"], kind, strict=True))
    flag(_bad_values(ak, action_ok))
    action = [actions.get(k) for k in ak]
    flag(_bad_values(c["notice_version"], lambda v: not v or not _raises(check_version, v)))
    t_us = c.time_us  # type: ignore[attr-defined]
    flags |= t_us > now
    expires, evidence, guardian, age = _optional(c, giving, t_us, flag)
    minor = _minor(kind, giving, c["purpose"], age, guardian, min_age, flag, n)
    if c.any("event_id"):
        flags |= _regex_fails(c["event_id"], _EVENT_ID)
    source = [f"{chunk.name}:{line}" for line in chunk.lines]
    if source and _raises(check_text, max(source, key=len), "source", 512):
        flags[:] = True
    if chunk.name != chunk.name.strip() or _raises(check_text, chunk.name, "source", 512):
        flags[:] = True
    cols: dict[str, list[Any]] = {
        "event_id": list(c["event_id"]), "subject": c["subject"], "purpose": c["purpose"],
        "kind": kind, "time_us": t_us.tolist(), "recorded_us": [now] * n,
        "notice_version": [v or None for v in c["notice_version"]], "channel": c["channel"],
        "action": action, "evidence": evidence, "collector": coll, "expires_us": expires,
        "age": age, "minor": minor, "guardian": guardian, "source": source,
    }
    return cols, flags & ~slow


def _optional(c: _Cols, giving: np.ndarray, t_us: np.ndarray,
              flag: Callable[[np.ndarray | None], None]) -> tuple[list[Any], ...]:
    """The columns most files leave out: expiry, evidence, guardian, age (values and flags)."""
    n = c.n
    expires: list[int | None] = [None] * n
    if c.any("expires"):
        e_us, present = c.expires  # type: ignore[attr-defined]
        flag(present & (~giving | (e_us <= t_us)))
        expires = [None if not p else v
                   for v, p in zip(e_us.tolist(), present.tolist(), strict=True)]
    evidence: list[str | None] = [None] * n
    if c.any("evidence"):
        flag(_regex_fails(c["evidence"], _EVIDENCE))
        evidence = ["sha256:" + v[-64:].lower() if v else None for v in c["evidence"]]
    guardian: list[str | None] = [None] * n
    if c.any("guardian"):
        flag(_over(c["guardian"], 256))
        guardian = [v or None for v in c["guardian"]]
    age: list[int | None] = [None] * n
    if c.any("age"):
        age = [int(v) if v and v.isdigit() and len(v) <= 3 else None for v in c["age"]]
    return expires, evidence, guardian, age


def _minor(kind: list[str], giving: np.ndarray, purpose: list[str], age: list[int | None],
           guardian: list[str | None], min_age: dict[str, int | None],
           flag: Callable[[np.ndarray | None], None], n: int) -> list[bool | None]:
    """Art. 8 as ``validation._minor`` decides it, over columns (rows it would refuse flagged;
    ages over 130 too, which ``check_age`` refuses)."""
    has_age = np.fromiter((a is not None for a in age), bool, n)
    has_guardian = np.fromiter((g is not None for g in guardian), bool, n)
    ages = np.fromiter((a if a is not None else -1 for a in age), np.int64, n)
    flag(ages > 130)
    flag(~giving & (has_age | has_guardian))
    limit = np.fromiter((min_age.get(p) if min_age.get(p) is not None else -1
                         for p in purpose), np.int64, n)
    ruled = giving & (limit >= 0)
    flag(ruled & ~has_age)
    is_minor = ruled & has_age & (ages < limit)
    flag(is_minor & ~has_guardian)
    if not ruled.any():
        return [None] * n
    return [bool(m) if r else None
            for m, r in zip(is_minor.tolist(), ruled.tolist(), strict=True)]


def events_of(cols: dict[str, list[Any]], rows: Sequence[int]) -> list[Event]:
    """The rows' :class:`Event` objects (for the row functions that name an error)."""
    keys = [k for k in Event.__dataclass_fields__ if k in cols]
    return [Event(**{k: cols[k][i] for k in keys}) for i in rows]


def consent_event(cols: dict[str, list[Any]], i: int) -> ConsentEvent:  # for tests
    return ConsentEvent(cols["subject"][i], cols["purpose"][i], cols["kind"][i],
                        cols["channel"][i], cols["collector"][i], cols["time_us"][i])
