"""The two tables a fairness check joins, as columns: decisions (from the ledger or a table) and
the protected attributes (the caller's table, pseudonymised on reading).

Decisions become `DecisionColumns`: ``subject`` (pseudonym), ``selected`` (the outcome is the
favourable one) and ``actual`` (the observed outcome, NaN when unknown). Only automated
decisions count (records with no ``final_of``; in a table, rows whose ``final_of`` is empty when
that column is there): the check is about the model's behaviour. Their order carries no meaning
(every figure depends on counts only), so the ledger is read without sorting.

Protected attributes become `ProtectedColumns`: a table with a ``subject_id`` column (the ids the
ledger was given; they are replaced by the workspace's keyed pseudonyms at once) or a
``subject`` column (pseudonyms already), plus one column per attribute the policy lists; other
columns are dropped on reading (a CSV file: never parsed). Values are text; an empty one is a
group of its own, ``(missing)``.

A million decisions cost about what their bytes do: on SQLite the ledger comes back as a few
long strings of fixed-width records that numpy views in place (`_sqlite_columns`; elsewhere, or
for an id of another width, as plain DBAPI rows), a CSV is read by Arrow's reader, and the joins
(decisions to their observed outcomes, decisions to the protected table) are a binary search and
Arrow hash lookups (`positions`). The only per-row Python work left is the keyed pseudonym of
each subject id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from veil.errors import InputError

__all__ = ["DecisionColumns", "ProtectedColumns", "decision_columns", "group_codes",
           "positions", "protected_columns"]

MISSING = "(missing)"  # the group of an empty protected value


@dataclass(frozen=True)
class DecisionColumns:
    subject: Any  # pyarrow (large) string array: pseudonyms
    selected: Any  # numpy bool array
    actual: Any  # numpy float array: NaN unknown, else 0/1

    def __len__(self) -> int:
        return len(self.selected)


@dataclass(frozen=True)
class ProtectedColumns:
    subject: Any  # pyarrow (large) string array: pseudonyms, each once
    attributes: dict[str, Any]  # name -> pyarrow string array (no nulls)


def positions(keys: Any, values: Any) -> Any:
    """For each of ``keys``, the index of the first equal entry of ``values`` (both pyarrow
    string arrays), or -1: a hash join, in C++."""
    import pyarrow.compute as pc

    if len(values) == 0:
        return np.full(len(keys), -1, dtype=np.int64)
    if values.type != keys.type:
        values = values.cast(keys.type)
    found = pc.index_in(keys, value_set=values)
    return pc.fill_null(found, -1).to_numpy().astype(np.int64)


def group_codes(column: Any, rows: Any) -> tuple[list[str], Any]:
    """The sorted groups of ``column`` (a pyarrow string array) at ``rows`` (indices into it),
    empty values as `MISSING`, and each row's group index. Groups no row has are left out."""
    import pyarrow.compute as pc

    enc = pc.dictionary_encode(pc.fill_null(column, ""))
    labels = [MISSING if s == "" else s for s in enc.dictionary.to_pylist()]
    groups = sorted(set(labels))
    rank = {g: i for i, g in enumerate(groups)}
    codes = np.array([rank[s] for s in labels], dtype=np.int64)[
        enc.indices.to_numpy()[rows]]
    used = np.bincount(codes, minlength=len(groups)) > 0
    return [g for g, u in zip(groups, used, strict=True) if u], (np.cumsum(used) - 1)[codes]


def _strings(values: Any) -> Any:
    import pyarrow as pa

    return pa.array(values, type=pa.string())


# -- decisions ------------------------------------------------------------------------------------


def _from_records(records: list[Any], positive: str) -> DecisionColumns:
    auto = [r for r in records if getattr(r, "final_of", None) is None]
    actual = [getattr(r, "actual", None) for r in auto]
    return DecisionColumns(
        _strings([r.subject for r in auto]),
        np.array([r.outcome == positive for r in auto], dtype=bool),
        np.array([np.nan if a is None else float(a) for a in actual], dtype=float))


def _from_ledger(engine: Any, purpose: str | None, since: datetime | None,
                 until: datetime | None, positive: str) -> DecisionColumns:
    """What `_from_records` makes of ``ledger.list(...)`` (in another order): on SQLite as a few
    long strings (`_sqlite_columns`), elsewhere by two plain DBAPI queries (`_row_columns`)."""
    import contextlib

    from veil.decisions.rows import time_binder
    from veil.store.transactions import read_connection

    with read_connection(engine, "reading decisions for a fairness check") as conn:
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        bind = time_binder(conn.dialect)
        where, params = "final_of IS NULL", []
        for cond, value in ((" AND purpose = ", purpose), (" AND decided_at >= ", since),
                            (" AND decided_at < ", until)):
            if value:
                where += cond + mark
                params.append(value if isinstance(value, str) else bind(value))
        with contextlib.closing(conn.connection.cursor()) as cur:
            out = (_sqlite_columns(cur, where, params, positive)
                   if conn.dialect.name == "sqlite" else None)
            if out is None:
                out = _row_columns(cur, mark, where, params, positive)
        conn.rollback()
    return out


def _row_columns(cur: Any, mark: str, where: str, params: list[Any],
                 positive: str) -> DecisionColumns:
    """The decisions (id, subject, selected) as rows and the latest observed outcome of each
    decision, joined here by id."""
    cur.execute(f"SELECT id, subject, outcome = {mark} FROM decisions WHERE {where}",
                (positive, *params))
    rows = cur.fetchall()
    # (decision_id, id) is the order of the index on (kind, decision_id): no sort
    cur.execute("SELECT decision_id, outcome FROM decision_events WHERE kind = 'actual' "
                "AND outcome IS NOT NULL ORDER BY decision_id, id")
    known = dict(cur.fetchall())  # the latest observed outcome of each decision
    subjects = _strings([r[1] for r in rows])
    selected = np.array([r[2] for r in rows], dtype=bool)
    actual = np.full(len(rows), np.nan)
    if known:
        at = positions(_strings([r[0] for r in rows]), _strings(list(known)))
        hit = at >= 0
        actual[hit] = np.array([float(v) for v in known.values()])[at[hit]]
    return DecisionColumns(subjects, selected, actual)


SPAN = 4_000_000  # rowids per SQLite query: at most ~400 MB of text, under its 1e9-byte limit
_DECISION = np.dtype([("id", "S32"), ("subject", "S64"), ("selected", "u1")])
_OUTCOME = np.dtype([("id", "S32"), ("positive", "u1")])


def _concatenated(cur: Any, table: str, record: str, record_params: list[Any], where: str,
                  params: list[Any], layout: Any, *, rowids: bool = False) -> Any:
    """The rows of ``table`` matching ``where`` as numpy records of ``layout``: ``record`` (a
    fixed-width text per row) concatenated by SQLite, one string per `SPAN` rowids, so no
    Python object is made per row; with ``rowids``, also each row's rowid (a second aggregate
    over the same rows, so in the same order). None when a text is not of its fixed width."""
    cur.execute(f"SELECT max(rowid) FROM {table}")  # noqa: S608 (our constant names)
    top = cur.fetchone()[0] or 0
    parts, seqs = [], []
    also = ", group_concat(rowid)" if rowids else ""
    for lo in range(0, top, SPAN):
        cur.execute(f"SELECT count(*), group_concat({record}, ''){also} "  # noqa: S608
                    f"FROM {table} WHERE rowid > ? AND rowid <= ? AND {where}",
                    (*record_params, lo, lo + SPAN, *params))
        n, text, *ids = cur.fetchone()
        if not n:
            continue
        try:
            data = text.encode("ascii")
        except UnicodeEncodeError:
            return None
        if len(data) != n * layout.itemsize:
            return None
        parts.append(np.frombuffer(data, dtype=layout))
        seqs.extend(np.array(t.split(","), dtype=np.int64) for t in ids)
    if not parts:
        return np.zeros(0, dtype=layout), np.zeros(0, dtype=np.int64)
    return np.concatenate(parts), np.concatenate(seqs) if seqs else None


def _sqlite_columns(cur: Any, where: str, params: list[Any],
                    positive: str) -> DecisionColumns | None:
    """Decisions as 97-byte records (id, pseudonym, selected) and observed outcomes as 33-byte
    ones (decision id, positive), read by `_concatenated`; the latest outcome of a decision
    (the highest event id) is found by sorting, and joined to the decisions by binary search.
    None if an id or a pseudonym is not of the usual width (32 and 64 hex digits)."""
    got = _concatenated(cur, "decisions", "id || subject || (outcome = ?)", [positive], where,
                        params, _DECISION)
    # "+kind": a scan of the table (in rowid order) costs less than half of a walk of the index
    # on (kind, decision_id) with a lookup of each row's outcome
    events = _concatenated(cur, "decision_events", "decision_id || (CAST(outcome AS REAL) > 0)",
                           [], "+kind = 'actual' AND outcome IS NOT NULL", [], _OUTCOME,
                           rowids=True)
    if got is None or events is None:
        return None
    dec, ev = got[0], events[0]
    ids = np.ascontiguousarray(dec["id"])
    actual = np.full(len(dec), np.nan)
    if len(ev):
        ev = ev[np.argsort(events[1])]  # in event order
        ev = ev[np.argsort(ev["id"], kind="stable")]  # by decision, then event order
        ev = ev[np.r_[ev["id"][1:] != ev["id"][:-1], True]]  # the latest of each decision
        at = np.minimum(np.searchsorted(ev["id"], ids), len(ev) - 1)
        hit = ev["id"][at] == ids
        actual[hit] = (ev["positive"][at[hit]] == ord("1")).astype(float)
    return DecisionColumns(_fixed_strings(np.ascontiguousarray(dec["subject"])),
                           dec["selected"] == ord("1"), actual)


def _fixed_strings(block: Any) -> Any:
    """A pyarrow string array over a contiguous numpy ``S<w>`` array (no copy, no objects)."""
    import pyarrow as pa

    w = block.dtype.itemsize
    offsets = np.arange(0, w * (len(block) + 1), w, dtype=np.int64)
    return pa.LargeStringArray.from_buffers(len(block), pa.py_buffer(offsets),
                                            pa.py_buffer(block.view(np.uint8)))


def _pandas(table: Any, where: str) -> Any:
    import pandas as pd

    if isinstance(table, pd.DataFrame):
        return table
    if hasattr(table, "to_pandas"):  # pyarrow Table / RecordBatch, polars
        return table.to_pandas()
    if isinstance(table, str | Path):
        path = Path(table)
        try:
            return pd.read_csv(path, dtype=str, keep_default_na=False)
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read the table: {exc}", where=str(path)) from None
    raise InputError(f"expected a DataFrame, Arrow table or CSV path, got {type(table).__name__}",
                     where=where)


def _within(df: Any, purpose: str | None, since: datetime | None,
            until: datetime | None) -> Any:
    import pandas as pd

    if purpose is not None and "purpose" in df.columns:
        df = df[df["purpose"] == purpose]
    if "final_of" in df.columns:
        df = df[df["final_of"].isna() | (df["final_of"] == "")]
    if (since or until) and "decided_at" in df.columns:
        t = pd.to_datetime(df["decided_at"], utc=True)
        keep = pd.Series(True, index=df.index)
        if since is not None:
            keep &= t >= pd.Timestamp(since)
        if until is not None:
            keep &= t < pd.Timestamp(until)
        df = df[keep]
    return df


def decision_columns(source: Any, *, purpose: str | None, since: datetime | None,
                     until: datetime | None, positive: str = "approve") -> DecisionColumns:
    """The automated decisions in [since, until) of ``source``: a `DecisionLedger`, a list of
    `DecisionRecord`, or a table with subject, outcome|selected[, actual, decided_at, purpose,
    final_of]."""
    if hasattr(source, "list") and callable(source.list):  # a DecisionLedger
        return _from_ledger(source.engine, purpose, since, until, positive)
    if isinstance(source, list | tuple):
        return _from_records(list(source), positive)
    import pandas as pd

    df = _within(_pandas(source, "decisions"), purpose, since, until)
    if "subject" not in df.columns or not {"outcome", "selected"} & set(df.columns):
        raise InputError("a decisions table needs columns subject and outcome (or selected)",
                         where="decisions")
    selected = (df["selected"].to_numpy(dtype=bool) if "selected" in df.columns
                else (df["outcome"] == positive).to_numpy())
    actual = (pd.to_numeric(df["actual"], errors="coerce").to_numpy(dtype=float)
              if "actual" in df.columns else np.full(len(df), np.nan))
    return DecisionColumns(_strings(df["subject"].astype(str).tolist()), selected, actual)


# -- protected attributes -------------------------------------------------------------------------


def _csv_columns(path: Path, attributes: list[str]) -> dict[str, Any]:
    """The subject column and the attributes of a CSV file, as text exactly as written (ids
    like 0042 stay), read by Arrow; other columns are skipped unparsed."""
    import csv

    import pyarrow as pa
    import pyarrow.csv as pcsv

    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            header = next(csv.reader(f), [])
        names = [c for c in ("subject_id", "subject", *attributes) if c in header]
        table = pcsv.read_csv(path, convert_options=pcsv.ConvertOptions(
            include_columns=names, column_types=dict.fromkeys(names, pa.string())))
    except OSError as exc:
        raise InputError(f"cannot read the table: {exc.strerror}", where=str(path)) from None
    except (UnicodeDecodeError, pa.ArrowException) as exc:
        raise InputError(f"cannot read the table as CSV: {_reason(exc)}",
                         where=str(path)) from None
    return {c: table.column(c).combine_chunks() for c in names}


def _reason(exc: Exception) -> str:
    """Why Arrow refused a CSV, without its quote of the offending row (personal data)."""
    shape = re.search(r"Expected \d+ columns, got \d+", str(exc))
    if shape:
        return shape.group(0).lower()
    if "UTF8" in str(exc) or isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    return "not a table with a header line"


def _table_columns(table: Any, attributes: list[str]) -> dict[str, Any]:
    df = _pandas(table, "protected")
    names = [c for c in ("subject_id", "subject", *attributes) if c in df.columns]
    return {c: _strings(df[c].astype(str).tolist()) for c in names}


def _pseudonyms(ids: list[str], key: bytes) -> Any:
    """HMAC-SHA256 of each id under ``key``, hex: the tokens of `DecisionLedger.tokens`
    (without its checks: an id here that matches no decision simply matches nothing). With
    `cryptography`'s HMAC, copied per id: half the CPU of the standard library's ``hmac``
    (whose copy and digest each duplicate OpenSSL contexts)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.hmac import HMAC

    copy = HMAC(key, hashes.SHA256()).copy
    out = []
    append = out.append
    for s in ids:
        h = copy()
        h.update(s.encode("utf-8", "surrogatepass"))
        append(h.finalize())
    hexes = b"".join(out).hex().encode("ascii")  # one hex conversion, not one per id
    return _fixed_strings(np.frombuffer(hexes, dtype="S64"))


def protected_columns(table: Any, attributes: list[str], *,
                      ref_key: bytes | None) -> ProtectedColumns:
    """(subject pseudonyms, attributes) of ``table`` (a DataFrame, an Arrow table or a CSV
    path); `InputError` for a missing column or a subject listed twice (named by row number,
    never by id)."""
    import pyarrow.compute as pc

    cols = (_csv_columns(Path(table), attributes) if isinstance(table, str | Path)
            else _table_columns(table, attributes))
    missing = [a for a in attributes if a not in cols]
    if missing:
        raise InputError(f"missing protected attribute column(s): {', '.join(missing)}",
                         where="protected")
    if "subject_id" in cols:
        if ref_key is None:
            raise InputError("subject_id needs a workspace to pseudonymise it", where="protected")
        subjects = _pseudonyms(cols["subject_id"].to_pylist(), ref_key)
    elif "subject" in cols:
        subjects = cols["subject"]
    else:
        raise InputError("the protected attributes need a subject_id (or subject) column",
                         where="protected")
    if pc.count_distinct(subjects).as_py() < len(subjects):
        first = positions(subjects, subjects)
        row = int(np.argmax(first != np.arange(len(subjects)))) + 2  # +1 header, +1 one-based
        raise InputError("a subject is listed twice", where=f"protected row {row}")
    return ProtectedColumns(subjects, {a: cols[a] for a in attributes})
