"""Observed outcomes of many decisions at once (library, CLI, REST): one transaction and one audit
event with counts only; a bad row (unknown or repeated id, an outcome not 0 or 1) is one error
naming the row, and nothing is written; the outcomes reach the records and the fairness
report's error rates."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
import pyarrow.csv as pcsv
import pytest
import sqlalchemy as sa

from tests.decisions.ledger_fixtures import MODEL
from veil.cli.main import main
from veil.errors import InputError
from veil.store.schema import decision_events


def _batch(ledger: Any, n: int) -> list[str]:
    table = pa.table({"annual_income": [30_000.0 + i for i in range(n)],
                      "account_balance": [1.0] * n})
    scores = [0.2 if i % 2 else 0.8 for i in range(n)]
    return list(ledger.record_batch(MODEL, [f"OUT-{i:03d}" for i in range(n)], table, scores))


def _events(ledger: Any) -> int:
    with ledger.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(decision_events))
                   .scalar() or 0)


def _audit(ledger: Any, action: str) -> list[Any]:
    return [e.event for e in ledger.log.events(action=action)]


def test_a_batch_is_recorded_with_one_event_of_counts(ledger) -> None:
    ids = _batch(ledger, 6)
    res = ledger.record_actuals(ids, [1, 0, True, "0", 1.0, "true"], by="collections-system")
    assert res.to_dict() == {"recorded": 6, "positive": 4, "replaced": 0}
    assert [ledger.get(i).actual for i in ids] == [1, 0, 1, 0, 1, 1]
    (ev,) = _audit(ledger, "decision.actuals")
    assert not ev.subjects and dict(ev.counts) == {"actuals": 6, "positive": 4, "replaced": 0}
    assert ev.digests["decisions"].startswith("sha256:") and ev.actor == "collections-system"
    again = ledger.record_actuals(ids[:2], [0, 1])  # a correction: the later outcome counts
    assert again.replaced == 2
    assert [ledger.get(i).actual for i in ids[:2]] == [0, 1]


@pytest.mark.parametrize(("bad", "where", "says"), [
    (lambda ids: ([*ids[:2], "f" * 32, ids[3], "e" * 32], [1] * 5), "actuals row 3",
     "2 decision id(s) unknown: row 3"),
    (lambda ids: ([ids[0], ids[1], ids[0]], [1, 0, 1]), "actuals row 3", "already in row 1"),
    (lambda ids: (ids[:3], [1, 2, 0]), "actuals row 2, actual", "0 or 1, got 2"),
    (lambda ids: (ids[:2], [1, None]), "actuals row 2, actual", "got nothing"),
    (lambda ids: ([ids[0], "not-an-id"], [1, 1]), "actuals row 2", "32 hexadecimal"),
    (lambda ids: (ids[:2], [1]), "actuals", "2 decision ids for 1 outcomes"),
])
def test_a_bad_row_is_named_and_nothing_is_written(ledger, bad, where, says) -> None:
    ids = _batch(ledger, 4)
    before, events = _events(ledger), len(_audit(ledger, "decision.actuals"))
    with pytest.raises(InputError) as err:
        ledger.record_actuals(*bad(ids))
    assert err.value.where == where and says in err.value.message
    assert _events(ledger) == before and len(_audit(ledger, "decision.actuals")) == events


def test_the_fairness_report_has_error_rates_once_outcomes_are_known(ledger) -> None:
    import pandas as pd

    from veil.decisions.fairness import fairness_report

    ids = _batch(ledger, 8)
    protected = pd.DataFrame({"subject_id": [f"OUT-{i:03d}" for i in range(8)],
                              "gender": ["f", "m"] * 4, "age_band": ["30-39"] * 8})
    before = fairness_report(ledger, protected, policy=ledger.policy, resamples=0, plots=False)
    assert before.to_dict()["attributes"][0]["equalized_odds_difference"] is None
    ledger.record_actuals(ids, [1, 1, 0, 1, 1, 0, 0, 1])
    after = fairness_report(ledger, protected, policy=ledger.policy, resamples=0, plots=False)
    figures = after.to_dict()["attributes"][0]
    assert figures["equalized_odds_difference"] is not None
    assert all(g["with_actual"] == 4 for g in figures["groups"])


def test_the_cli_reads_a_csv_and_names_the_file_row(ledger, capsys) -> None:
    ids = _batch(ledger, 3)
    pcsv.write_csv(pa.table({"decision_id": ids, "actual": [1, 0, 1]}), "outcomes.csv")
    assert main(["decisions", "record-actual", "outcomes.csv", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"recorded": 3, "positive": 2, "replaced": 0}
    pcsv.write_csv(pa.table({"decision_id": [ids[0], "0" * 32], "actual": [1, 1]}), "bad.csv")
    assert main(["decisions", "record-actual", "bad.csv"]) == 4
    err = capsys.readouterr().err
    assert "bad.csv row 2" in err and "unknown" in err and "Traceback" not in err
    pcsv.write_csv(pa.table({"id": ids, "actual": [1, 0, 1]}), "cols.csv")
    assert main(["decisions", "record-actual", "cols.csv"]) == 4
    assert "no column 'decision_id'" in capsys.readouterr().err
