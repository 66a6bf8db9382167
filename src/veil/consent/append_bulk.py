"""Appending an import's checked columns: the steps of :mod:`~veil.consent.appending`, over
columns, inside the caller's write transaction.

Ids already stored and the (purpose, subject) states are read in one query per purpose (SQLite:
the ids as one JSON array, ``json_each``; PostgreSQL: one array parameter), notices are resolved
once per distinct (purpose, version, kind) and compared with the times in numpy, the common key
(one new event, after its stored state) is checked by a table of (state, kind) answers. A key
with several events in the chunk, a backdated event, or an event the rules refuse goes through
:func:`veil.consent.appending._state_after` itself, in the order of the keys' first rows, so the
error is the one the row-by-row append raised. The rows are written by the database's bulk path:
PostgreSQL ``COPY`` of text built by Arrow kernels, SQLite one ``executemany`` with the columns
that hold one value for the whole chunk written into the statement.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from veil.consent.appending import PG_CHUNK, Namer, _state_after
from veil.consent.columns_bulk import events_of
from veil.consent.models import EVENT_COLUMNS, STATE_COLUMNS, STATUS_AFTER, State, transition
from veil.consent.notices import notices_in, resolve_notice
from veil.consent.validation import GIVING

__all__ = ["resolve_notices", "stored_ids", "write_chunk"]

Cols = dict[str, list[Any]]
_STATE_READ = ("subject", "status", "time_us", "event_id", "expires_us", "notice_version",
               "notice_seq", "minor")


def _in_list(conn: sa.Connection) -> tuple[str, Any]:
    """The SQL of "is in this list" and how to pass the list, for the connection's database."""
    if conn.dialect.name == "sqlite":
        return "IN (SELECT value FROM json_each(?))", json.dumps
    return "= ANY(%s)", list


def stored_ids(conn: sa.Connection, ids: Sequence[str]) -> dict[str, tuple[int, str | None]]:
    """The chunk's event ids the ledger already holds: id -> (recorded_us, source)."""
    where, param = _in_list(conn)
    rows = conn.exec_driver_sql(
        f"SELECT event_id, recorded_us, source FROM consent_events WHERE event_id {where}",
        (param(list(ids)),)).all()
    return {r[0]: (int(r[1]), r[2]) for r in rows}


def _states(conn: sa.Connection, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], State]:
    """The stored states of the keys, locked on PostgreSQL in the order every writer locks."""
    by_purpose: dict[str, set[str]] = {}
    for p, s in keys:
        by_purpose.setdefault(p, set()).add(s)
    where, param = _in_list(conn)
    pg = conn.dialect.name == "postgresql"
    cols = ", ".join(_STATE_READ)
    out: dict[tuple[str, str], State] = {}
    for purpose in sorted(by_purpose):
        subjects = sorted(by_purpose[purpose])
        step = PG_CHUNK if pg else len(subjects)
        for i in range(0, len(subjects), step):
            sql = (f"SELECT {cols} FROM consent_state WHERE purpose = {'%s' if pg else '?'} "
                   f"AND subject {where} ORDER BY subject{' FOR UPDATE' if pg else ''}")
            for r in conn.exec_driver_sql(sql, (purpose, param(subjects[i:i + step]))):
                out[(purpose, r[0])] = State(r[1], int(r[2]), r[3], r[4], r[5], r[6],
                                             None if r[7] is None else bool(r[7]))
    return out


def resolve_notices(conn: sa.Connection, cols: Cols) -> None:
    """Fill ``notice_version``/``notice_seq`` as :func:`~veil.consent.notices.resolve_notice`
    does for each row; its error for the first row it refuses."""
    n = len(cols["kind"])
    notices = notices_in(conn, set(cols["purpose"]))
    giving = [k in GIVING for k in cols["kind"]]
    keys = list(zip(cols["purpose"], cols["notice_version"], giving, strict=True))
    plan: dict[tuple[str, str | None, bool], Any] = {}
    for purpose, version, gives in set(keys):
        ns = notices.get(purpose, [])
        if not gives:
            ok = not version or not ns or any(x.version == version for x in ns)
            plan[(purpose, version, gives)] = ("keep", None) if ok else ("fail", None)
        elif version:
            match = next((x for x in ns if x.version == version), None)
            plan[(purpose, version, gives)] = (("keep", None) if not ns else ("fail", None)
                                               if match is None else ("named", match))
        else:
            eff = np.array([x.effective_us for x in ns], np.int64)
            plan[(purpose, version, gives)] = ("latest", (ns, eff))
    seq: list[int | None] = [None] * n
    version_col = cols["notice_version"]
    t = np.array(cols["time_us"], np.int64)
    bad = np.zeros(n, bool)
    gid = {key: j for j, key in enumerate(plan)}
    ids = np.fromiter((gid[k] for k in keys), np.int64, n)
    order = np.argsort(ids, kind="stable")
    bounds = np.searchsorted(ids[order], np.arange(len(plan) + 1))
    for j, (mode, arg) in enumerate(plan.values()):
        rows = order[bounds[j]:bounds[j + 1]]
        if mode == "fail":
            bad[rows] = True
        elif mode == "named":
            bad[rows[t[rows] < arg.effective_us]] = True
            for i in rows.tolist():
                seq[i] = arg.seq
        elif mode == "latest":
            ns, eff = arg
            if len(eff) and np.any(np.diff(eff) < 0):  # never stored so; the row path decides
                bad[rows] = True
                continue
            at = np.searchsorted(eff, t[rows], side="right") - 1
            bad[rows[at < 0]] = True
            for i, j in zip(rows.tolist(), at.tolist(), strict=True):
                if j >= 0:
                    seq[i], version_col[i] = ns[j].seq, ns[j].version
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        e = events_of(cols, [first])[0]
        resolve_notice(e, notices.get(e.purpose, []))  # raises the row path's error
        raise AssertionError("notice resolution: columns and rows disagree")
    cols["notice_seq"] = seq


def new_states(conn: sa.Connection, cols: Cols, ref: Namer) -> Changes:
    """The stored states of the chunk's keys and the states its events leave where they
    change, checked against the transition rules (see the module docstring)."""
    n = len(cols["kind"])
    keys = list(zip(cols["purpose"], cols["subject"], strict=True))
    old = _states(conn, keys)
    kind, t = cols["kind"], cols["time_us"]
    exact: set[tuple[str, str]] = set()
    if len(set(keys)) < n:
        exact = {k for k, c in Counter(keys).items() if c > 1}
    if old:
        status = [o.status if (o := old.get(k)) is not None else None for k in keys]
        for i, k in enumerate(keys):
            o = old.get(k)
            if o is not None and t[i] < o.time_us:
                exact.add(k)  # backdated: the key's stored history is checked again
    else:
        status = [None] * n
    answers = {pair: transition(*pair) for pair in set(zip(status, kind, strict=True))}
    refused = {pair for pair, why in answers.items() if why is not None}
    if refused:
        exact.update(k for k, pair in zip(keys, zip(status, kind, strict=True), strict=True)
                     if pair in refused)
    changed: dict[tuple[str, str], State] = {}
    simple = np.ones(n, bool)
    if exact:
        first = dict(zip(reversed(keys), range(n - 1, -1, -1), strict=True))
        rows: dict[tuple[str, str], list[int]] = {k: [] for k in
                                                  sorted(exact, key=first.__getitem__)}
        for i, k in enumerate(keys):
            if k in rows:
                rows[k].append(i)
                simple[i] = False
        for k, idx in rows.items():
            evs = sorted(events_of(cols, idx), key=lambda e: e.time_us)
            new = _state_after(conn, k, evs, old.get(k), ref)  # raises the row path's error
            if new != old.get(k):
                changed[k] = new
    return Changes(old, changed, np.flatnonzero(simple))


class Changes:
    """What a chunk changes in ``consent_state``: the states of the keys of ``exact`` rows
    (several events, backdated) and, for the ``simple`` rows (one new event after the key's
    stored state), the state their own event leaves."""

    def __init__(self, old: dict[tuple[str, str], State], exact: dict[tuple[str, str], State],
                 simple: np.ndarray) -> None:
        self.old, self.exact, self.simple = old, exact, simple

    def columns(self, cols: Cols) -> Cols:
        """The new states as columns (purpose, subject, then ``STATE_COLUMNS``), sorted by key."""
        rows = self.simple.tolist()
        giving = np.fromiter((k in GIVING for k in cols["kind"]), bool, len(cols["kind"]))
        g = giving[self.simple].tolist()

        def pick(c: str, only_giving: bool = False) -> list[Any]:
            v = cols[c]
            if only_giving:
                return [v[i] if gi else None for i, gi in zip(rows, g, strict=True)]
            return [v[i] for i in rows]

        out: Cols = {"purpose": pick("purpose"), "subject": pick("subject"),
                     "status": [STATUS_AFTER[k] for k in pick("kind")],
                     "time_us": pick("time_us"), "event_id": pick("event_id"),
                     "expires_us": pick("expires_us", True),
                     "notice_version": pick("notice_version", True),
                     "notice_seq": pick("notice_seq", True), "minor": pick("minor", True)}
        for (p, s), st in self.exact.items():
            out["purpose"].append(p)
            out["subject"].append(s)
            for c, v in zip(STATE_COLUMNS, st.values(), strict=True):
                out[c].append(v)
        order = pc.sort_indices(pa.table({"p": out["purpose"], "s": out["subject"]}),
                                sort_keys=[("p", "ascending"), ("s", "ascending")])
        if not (np.diff(np.asarray(order)) > 0).all():
            idx = np.asarray(order).tolist()
            out = {c: [v[i] for i in idx] for c, v in out.items()}
        return out


def write_chunk(conn: sa.Connection, cols: Cols, changes: Changes) -> None:
    """The events (in the chunk's order), then the states: new keys inserted, known keys
    updated, in one order (sorted keys) as every writer does."""
    _insert(conn, "consent_events", {c: cols[c] for c in EVENT_COLUMNS})
    states = changes.columns(cols)
    known = [(p, s) in changes.old for p, s in zip(states["purpose"], states["subject"],
                                                    strict=True)] if changes.old else []
    if not any(known):
        _insert(conn, "consent_state", states)
        return
    _insert(conn, "consent_state",
            {c: [x for x, k in zip(v, known, strict=True) if not k] for c, v in states.items()})
    ups = [(*(states[c][i] for c in STATE_COLUMNS), states["purpose"][i], states["subject"][i])
           for i, k in enumerate(known) if k]
    mark = "?" if conn.dialect.name == "sqlite" else "%s"
    sets = ", ".join(f"{c} = {mark}" for c in STATE_COLUMNS)
    conn.exec_driver_sql(f"UPDATE consent_state SET {sets} WHERE purpose = {mark} AND "
                         f"subject = {mark}", ups)  # type: ignore[arg-type]


def _literal(v: Any) -> str:
    """A SQLite literal of a plain value (text quoted as SQL quotes it: no escapes exist)."""
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return str(int(v))
    return "'" + str(v).replace("'", "''") + "'"


def _insert(conn: sa.Connection, table: str, cols: Cols) -> None:
    """Rows into ``table`` by the database's bulk path; none is a no-op (an ``executemany`` of
    no rows is taken for one statement without parameters: a chunk of backdated events that
    change no state has no state to write)."""
    names = list(cols)
    if not cols[names[0]]:
        return
    if conn.dialect.name == "postgresql":
        _copy_bytes(conn, f"COPY {table} ({', '.join(names)}) FROM STDIN", _copy_text(cols))
        return
    n = len(cols[names[0]])
    fixed = {c: cols[c][0] for c in names if n and _one_value(cols[c])}
    bound = [c for c in names if c not in fixed]
    values = ", ".join(_literal(fixed[c]) if c in fixed else "?" for c in names)
    sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({values})"
    rows = list(zip(*(cols[c] for c in bound), strict=True)) if bound else [()] * n
    conn.exec_driver_sql(sql, rows)  # type: ignore[arg-type]


def _one_value(values: list[Any]) -> bool:
    """Whether every value is the first one (same type too), a plain value a literal holds."""
    v = values[0]
    if v is not None and (type(v) not in (int, str, bool) or "\x00" in str(v)):
        return False
    return values.count(v) == len(values)  # a column holds one type (and None)


def _copy_bytes(conn: sa.Connection, sql: str, data: bytes) -> None:
    """COPY prepared text in the caller's transaction (errors raised as SQLAlchemy's)."""
    dbapi = conn.dialect.loaded_dbapi
    cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        with cur.copy(sql) as cp:
            cp.write(data)
    except dbapi.Error as exc:
        raise sa.exc.DBAPIError.instance(sql, None, exc, dbapi.Error) from None
    finally:
        cur.close()


def _copy_text(cols: Cols) -> bytes:
    """The rows as PostgreSQL ``COPY`` text: tab-separated, ``\\N`` for NULL, backslash,
    tab, newline and carriage return escaped; built column by column with Arrow kernels."""
    parts = []
    for values in cols.values():
        first = next((v for v in values if v is not None), None)
        if isinstance(first, bool):
            a = pc.if_else(pa.array(values, pa.bool_()), "t", "f")
        elif isinstance(first, int):
            a = pc.cast(pa.array(values, pa.int64()), pa.string())
        else:
            a = pa.array(values, pa.string())
            for raw, esc in (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r")):
                if pc.any(pc.match_substring(a, raw)).as_py():
                    a = pc.replace_substring(a, raw, esc)
        parts.append(a.fill_null("\\N"))
    lines = pc.binary_join_element_wise(*parts, "\t")
    one = pa.ListArray.from_arrays(pa.array([0, len(lines)], pa.int32()), lines)
    text = pc.binary_join(one, "\n")[0].as_py()
    return (text + "\n").encode("utf-8") if len(lines) else b""
