"""A fairness check reads the ledger as columns (`fairness_inputs._from_ledger`): the table it
builds equals the one built from the ledger's records (`ledger.list`), with reviewers' final
decisions left out, the latest observed outcome of each decision, and the purpose and time
window applied."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd

from veil.decisions.fairness_inputs import _from_records, decisions_frame


def _both(ledger, **window) -> tuple[pd.DataFrame, pd.DataFrame]:
    fast = decisions_frame(ledger, purpose=window.get("purpose"), since=window.get("since"),
                           until=window.get("until"))
    slow = _from_records(ledger.list(**window), "approve")
    return fast, slow


def test_the_columns_read_equal_the_records(ledger) -> None:
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
        pd.testing.assert_frame_equal(fast.reset_index(drop=True), slow.reset_index(drop=True))
    fast, _ = _both(ledger)
    assert fast["actual"].notna().sum() == 7
    assert len(fast) == 18


def test_an_empty_window_gives_an_empty_table(ledger) -> None:
    fast, slow = _both(ledger, since=datetime(2030, 1, 1, tzinfo=UTC))
    assert len(fast) == 0 and list(fast.columns) == list(slow.columns)
