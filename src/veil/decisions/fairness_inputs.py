"""The two tables a fairness check joins: decisions (from the ledger or a table) and the protected
attributes (the caller's table, pseudonymised on reading).

Decisions become ``subject`` (pseudonym), ``selected`` (the outcome is the favourable one) and
``actual`` (the observed outcome, NaN when unknown). Only automated decisions count (records
with no ``final_of``; in a table, rows whose ``final_of`` is empty when that column is there): the
check is about the model's behaviour.

Protected attributes: a table with a ``subject_id`` column (the ids the ledger was given; they are
replaced by the workspace's keyed pseudonyms at once) or a ``subject`` column (pseudonyms already),
plus one column per attribute the policy lists; other columns are dropped on reading.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from pathlib import Path
from typing import Any

from veil.errors import InputError

__all__ = ["decisions_frame", "protected_frame"]


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


def _from_records(records: list[Any], positive: str) -> Any:
    import numpy as np
    import pandas as pd

    auto = [r for r in records if getattr(r, "final_of", None) is None]
    actual = [getattr(r, "actual", None) for r in auto]
    return pd.DataFrame({
        "subject": [r.subject for r in auto],
        "selected": np.array([r.outcome == positive for r in auto], dtype=bool),
        "actual": np.array([np.nan if a is None else float(a) for a in actual], dtype=float),
    })


def _from_ledger(engine: Any, purpose: str | None, since: datetime | None,
                 until: datetime | None, positive: str) -> Any:
    """What `_from_records` makes of ``ledger.list(...)``, read as three columns and the
    observed outcomes by plain DBAPI queries instead of a `DecisionRecord` (and its history)
    per decision, or a SQLAlchemy row per decision (a million decisions in about a second)."""
    import contextlib

    import numpy as np
    import pandas as pd

    from veil.decisions.rows import time_binder
    from veil.store.transactions import read_connection

    with read_connection(engine, "reading decisions for a fairness check") as conn:
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        bind = time_binder(conn.dialect)
        sql, params = "SELECT id, subject, outcome FROM decisions WHERE final_of IS NULL", []
        for cond, value in ((" AND purpose = ", purpose), (" AND decided_at >= ", since),
                            (" AND decided_at < ", until)):
            if value:
                sql += cond + mark
                params.append(value if isinstance(value, str) else bind(value))
        with contextlib.closing(conn.connection.cursor()) as cur:
            cur.execute(sql + " ORDER BY decided_at, id", tuple(params))
            rows = cur.fetchall()
            cur.execute("SELECT decision_id, outcome FROM decision_events WHERE kind = 'actual' "
                        "AND outcome IS NOT NULL ORDER BY id")
            known = dict(cur.fetchall())  # the latest observed outcome of each decision
        conn.rollback()
    ids, subjects, outcomes = zip(*rows, strict=True) if rows else ((), (), ())
    return pd.DataFrame({
        "subject": list(subjects),
        "selected": np.array([o == positive for o in outcomes], dtype=bool),
        "actual": np.array([float(known.get(i, np.nan)) for i in ids], dtype=float),
    })


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


def decisions_frame(source: Any, *, purpose: str | None, since: datetime | None,
                    until: datetime | None, positive: str = "approve") -> Any:
    """(subject, selected, actual) of the automated decisions in [since, until)."""
    import numpy as np
    import pandas as pd

    if hasattr(source, "list") and callable(source.list):  # a DecisionLedger
        return _from_ledger(source.engine, purpose, since, until, positive)
    if isinstance(source, list | tuple):
        return _from_records(list(source), positive)
    df = _within(_pandas(source, "decisions"), purpose, since, until)
    if "subject" not in df.columns or not {"outcome", "selected"} & set(df.columns):
        raise InputError("a decisions table needs columns subject and outcome (or selected)",
                         where="decisions")
    selected = (df["selected"].to_numpy(dtype=bool) if "selected" in df.columns
                else (df["outcome"] == positive).to_numpy())
    actual = (pd.to_numeric(df["actual"], errors="coerce").to_numpy(dtype=float)
              if "actual" in df.columns else np.full(len(df), np.nan))
    return pd.DataFrame({"subject": df["subject"].to_numpy(), "selected": selected,
                         "actual": actual})


def protected_frame(table: Any, attributes: list[str], *, ref_key: bytes | None) -> Any:
    """(subject, *attributes) with pseudonyms; `InputError` for a missing column or a subject
    listed twice (named by row number, never by id)."""
    df = _pandas(table, "protected")
    missing = [a for a in attributes if a not in df.columns]
    if missing:
        raise InputError(f"missing protected attribute column(s): {', '.join(missing)}",
                         where="protected")
    if "subject_id" in df.columns:
        if ref_key is None:
            raise InputError("subject_id needs a workspace to pseudonymise it", where="protected")
        base = hmac.new(ref_key, digestmod=hashlib.sha256)  # copied per id: cheaper than new
        subjects = []
        for s in df["subject_id"].tolist():  # plain objects: iterating arrow strings is slow
            h = base.copy()
            h.update(str(s).encode("utf-8", "surrogatepass"))
            subjects.append(h.hexdigest())
    elif "subject" in df.columns:
        subjects = df["subject"].astype(str).to_numpy()
    else:
        raise InputError("the protected attributes need a subject_id (or subject) column",
                         where="protected")
    out = df[attributes].astype(str).copy()
    out.insert(0, "subject", subjects)
    dup = out["subject"].duplicated()
    if dup.any():
        row = int(dup.to_numpy().argmax()) + 2  # +1 header line, +1 one-based
        raise InputError("a subject is listed twice", where=f"protected row {row}")
    return out
