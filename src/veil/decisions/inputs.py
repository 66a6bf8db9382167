"""A batch's inputs made uniform before anything is recorded: the feature frame (pyarrow
Table, pandas DataFrame or a mapping of columns) as rows, the scores as floats, the reasons as
`Reason` lists, each checked against the batch's length; and who is left out (Art. 21
objection, Art. 18 restriction, Art. 17 erasure) read from the rights exclusions."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from veil.decisions.explain import Reason, coerce_reasons
from veil.errors import InputError
from veil.store.schema import rights_exclusions

__all__ = ["as_columns", "as_rows", "as_scores", "as_reasons", "as_table", "excluded"]

_CHUNK = 500
ALL = "*"  # an exclusion of every purpose (veil.rights.exclusions.ALL)


def as_table(features: Any) -> Any:
    """A pyarrow Table of a pyarrow Table, pandas DataFrame or mapping of equally long
    columns."""
    import pyarrow as pa

    if isinstance(features, Mapping) and not hasattr(features, "columns"):
        try:
            return pa.table({str(k): list(v) for k, v in features.items()})
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
            raise InputError("a feature column mixes values of different types, or the "
                             "columns differ in length", where="features") from None
    if not isinstance(features, pa.Table):
        if not hasattr(features, "columns"):
            raise InputError("features must be a pyarrow Table, a pandas DataFrame or a "
                             "mapping of columns", where="features")
        return pa.Table.from_pandas(features, preserve_index=False)
    return features


def as_rows(features: Any) -> tuple[list[str], list[dict[str, Any]]]:
    """(feature names, one dict per row) of a pyarrow Table, pandas DataFrame or mapping of
    equally long columns."""
    table = as_table(features)
    return [str(c) for c in table.column_names], table.to_pylist()


def as_columns(features: Any) -> tuple[list[str], list[list[Any]]]:
    """(feature names, each column's values) of the same inputs (a batch seals by column)."""
    table = as_table(features)
    return [str(c) for c in table.column_names], [c.to_pylist() for c in table.columns]


def as_scores(scores: Any, n: int) -> list[float]:
    try:
        out = [float(s) for s in scores]
    except (TypeError, ValueError):
        raise InputError("scores must be numbers", where="scores") from None
    if len(out) != n:
        raise InputError(f"{len(out)} scores for {n} decisions", where="scores")
    bad = next((i for i, s in enumerate(out) if not math.isfinite(s)), None)
    if bad is not None:
        raise InputError("a score must be a finite number", where=f"scores[{bad}]")
    return out


def as_reasons(reasons: Sequence[Any] | None, n: int) -> list[list[Reason]]:
    if reasons is None:
        return [[] for _ in range(n)]
    if len(reasons) != n:
        raise InputError(f"{len(reasons)} reason lists for {n} decisions", where="reasons")
    return [coerce_reasons(r) if r is not None else [] for r in reasons]


def excluded(conn: sa.Connection, purpose: str, subjects: Sequence[str]) -> dict[str, str]:
    """pseudonym -> reason (erased | restricted | objected) of every subject here with an
    active exclusion from ``purpose`` (a data-subject request made it)."""
    subs = sorted(set(subjects))
    if len(subs) == 1:  # an online decision: plain DBAPI, no SQL compiled per call
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        with contextlib.closing(conn.connection.cursor()) as cur:
            cur.execute("SELECT reason FROM rights_exclusions WHERE subject = " + mark +
                        f" AND lifted_at IS NULL AND purpose IN ({mark}, {mark})",
                        (subs[0], purpose, ALL))
            rows = cur.fetchall()
        return {subs[0]: rows[0][0]} if rows else {}
    t = rights_exclusions.c
    active = (t.lifted_at.is_(None), t.purpose.in_([purpose, ALL]))
    out: dict[str, str] = {}
    if len(subs) > 20 * _CHUNK:  # a big batch: every active exclusion at once
        wanted = set(subs)
        for s, r in conn.execute(sa.select(t.subject, t.reason).where(*active)):
            if s in wanted:
                out.setdefault(s, r)
        return out
    for lo in range(0, len(subs), _CHUNK):
        part = subs[lo:lo + _CHUNK]
        for s, r in conn.execute(sa.select(t.subject, t.reason).where(
                t.subject.in_(part), *active)):
            out.setdefault(s, r)
    return out
