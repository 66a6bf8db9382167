"""A fairness check reads the ledger as columns (`fairness_inputs._from_ledger`): the decisions
it reads equal the ones built from the ledger's records (`ledger.list`), in any order, with
reviewers' final decisions left out, the latest observed outcome of each decision, and the
purpose and time window applied; on SQLite whether read as long strings (in one query or in
several spans of rowids) or as rows."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest

from veil.decisions import fairness_inputs
from veil.decisions.fairness_inputs import DecisionColumns, _from_records, decision_columns


@pytest.fixture(params=["strings", "strings in spans of 4 rowids", "rows"])
def reader(request, monkeypatch) -> str:
    if request.param == "rows":
        monkeypatch.setattr(fairness_inputs, "_sqlite_columns", lambda *a: None)
    elif request.param.endswith("rowids"):
        monkeypatch.setattr(fairness_inputs, "SPAN", 4)
    return request.param


def _rows(d: DecisionColumns) -> list[tuple[str, bool, float]]:
    """The decisions as sorted (subject, selected, actual; -1 unknown) rows: their order
    carries no meaning."""
    return sorted((s, bool(x), -1.0 if math.isnan(a) else a)
                  for s, x, a in zip(d.subject.to_pylist(), d.selected.tolist(),
                                     d.actual.tolist(), strict=True))


def _both(ledger, **window) -> tuple[DecisionColumns, DecisionColumns]:
    fast = decision_columns(ledger, purpose=window.get("purpose"), since=window.get("since"),
                            until=window.get("until"))
    slow = _from_records(ledger.list(**window), "approve")
    return fast, slow


def test_the_columns_read_equal_the_records(ledger, reader) -> None:
    t0 = datetime(2026, 5, 1, tzinfo=UTC)
    first = ledger.record_batch("credit-pd", [f"A-{i}" for i in range(12)],
                                {"annual_income": [float(i) for i in range(12)],
                                 "account_balance": [0.0] * 12},
                                [i / 12 for i in range(12)], at=t0)
    later = ledger.record_batch("credit-pd", [f"B-{i}" for i in range(6)],
                                {"annual_income": [1.0] * 6, "account_balance": [2.0] * 6},
                                [0.9, 0.1, 0.6, 0.4, 0.7, 0.2], at=t0 + timedelta(days=3))
    ledger.record_actuals(first[:5], [1, 0, 1, 1, 0], by="servicing")
    ledger.record_actuals(first[:2], [0, 1], by="servicing")  # corrected: the latest counts
    ledger.record_actuals(later[1:3], [1, 1], by="servicing")
    refused = next(r for r in ledger.list() if r.outcome == "refuse")
    ledger.contest(refused.id, "I repaid every loan", by="dpo")
    ledger.review(refused.id, reviewer="credit-officer", outcome="approve",
                  rationale="income verified")
    assert any(r.final_of for r in ledger.list())  # a final row exists and is left out
    for window in ({}, {"purpose": "credit_scoring"},
                   {"since": t0 + timedelta(days=1)}, {"until": t0 + timedelta(days=1)}):
        fast, slow = _both(ledger, **window)
        assert len(fast) > 0
        assert _rows(fast) == _rows(slow)
    fast, _ = _both(ledger)
    assert int((~np.isnan(fast.actual)).sum()) == 7
    assert len(fast) == 18 and fast.selected.dtype == bool
    if ledger.engine.dialect.name == "sqlite":  # the reader asked for is the one used
        assert (fast.subject.type == pa.large_string()) == (reader != "rows")


def test_an_empty_window_gives_an_empty_table(ledger, reader) -> None:
    fast, slow = _both(ledger, since=datetime(2030, 1, 1, tzinfo=UTC))
    assert len(fast) == len(slow) == len(fast.subject) == len(fast.actual) == 0
