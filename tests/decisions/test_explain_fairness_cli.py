"""`veil decisions explain` and `veil decisions fairness` end to end over a real ledger."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.decisions.ledger_fixtures import FEATURES, MODEL, add_model
from veil.cli.main import main


def veil(*args: str) -> int:
    return main(list(args))


@pytest.fixture
def ledger(workspace):
    from veil.decisions import DecisionLedger
    from veil.policy import load_policy

    add_model(workspace)
    return DecisionLedger(workspace, load_policy("sample"))


def test_explain_a_refusal_then_after_review_and_after_erasure(ledger, capsys):
    rec = ledger.record(MODEL, "CUST-7", {"annual_income": 18_000, "account_balance": 40},
                        0.31, reasons={"account_balance": -0.9, "annual_income": -0.4})
    assert veil("decisions", "explain", "-p", "sample", rec.id) == 0
    md = capsys.readouterr().out
    assert md.startswith(f"# Explanation of decision {rec.id}")
    assert "- Your account balance is low (lowered the score)" in md
    assert "Outcome: refuse" in md and "CUST-7" not in md

    assert veil("decisions", "contest", "-p", "sample", rec.id,
                "--statement", "My income doubled") == 0
    assert veil("decisions", "review", "-p", "sample", rec.id, "--reviewer", "Head of credit risk",
                "--outcome", "approve", "--rationale", "Payslips checked") == 0
    capsys.readouterr()
    assert veil("decisions", "explain", "-p", "sample", rec.id, "-o", "e.html") == 0
    page = Path("e.html").read_text()
    assert "Review history" in page and "Payslips checked" in page
    assert "written to e.html" in capsys.readouterr().out
    assert veil("decisions", "explain", "-p", "sample", rec.id, "--format", "json") == 0
    d = json.loads(capsys.readouterr().out)
    assert [h["kind"] for h in d["review_history"]] == ["contest", "review"]

    from veil.keys.manager import KeyManager

    KeyManager(ledger.workspace).shred_subjects([ledger.token("CUST-7")])
    assert veil("decisions", "explain", "-p", "sample", rec.id, "--format", "json") == 0
    d = json.loads(capsys.readouterr().out)
    assert d["main_factors"][0]["text"] == "Your account balance is low"
    assert veil("decisions", "explain", "-p", "sample", rec.id, "--format", "pdf") == 4
    assert veil("decisions", "explain", "-p", "sample", "0" * 32) == 4
    assert "no decision" in capsys.readouterr().err


def test_fairness_writes_the_report_and_records_figures(ledger, capsys):
    from veil.audit.log import AuditLog

    n = 50
    rng = np.random.default_rng(2)
    ids = [f"CUST-{i}" for i in range(n)]
    decided = ledger.record_batch(MODEL, ids, pd.DataFrame(
        {f: rng.normal(50, 9, n) for f in FEATURES}), rng.random(n))
    for d in decided[:35]:
        ledger.record_actual(d, int(rng.random() < 0.7), by="collections")
    pd.DataFrame({"subject_id": ids, "gender": rng.choice(["f", "m"], n),
                  "age_band": rng.choice(["20-39", "40-59", "60+"], n)}
                 ).to_csv("protected.csv", index=False)
    assert veil("decisions", "fairness", "-p", "sample", "--protected", "protected.csv",
                "-o", "fair",
                "--resamples", "100") == 0
    assert "50 of 50 decisions matched" in capsys.readouterr().out
    report = json.loads(Path("fair/fairness.json").read_text())
    assert report["with_actual"] == 35 and report["bootstrap"]["resamples"] == 100
    assert [a["attribute"] for a in report["attributes"]] == ["gender", "age_band"]
    assert Path("fair/gender.png").read_bytes().startswith(b"\x89PNG")
    assert "Fairness report: credit_scoring" in Path("fair/fairness.html").read_text()
    (ev,) = AuditLog(ledger.workspace).events(action="decisions.fairness")
    assert ev.event.counts["decisions"] == 50

    pd.DataFrame({"subject_id": ids}).to_csv("bad.csv", index=False)
    assert veil("decisions", "fairness", "-p", "sample", "--protected", "bad.csv") == 4
    assert "missing protected attribute column(s): gender, age_band" in capsys.readouterr().err
    assert veil("decisions", "fairness", "-p", "sample", "--protected", "nope.csv") == 4
    assert veil("decisions", "fairness", "--protected", "protected.csv") == 4
    assert "needs the policy" in capsys.readouterr().err
