"""A fairness check over the ledger: the protected attributes are joined by pseudonym, never
written to the workspace, and the audit event holds figures only (Art. 10(5) EU AI Act)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.decisions.ledger_fixtures import FEATURES, MODEL, add_model
from veil.decisions.fairness import fairness_report

MARK = "zqprotectedzq"


@pytest.fixture
def recorded(workspace, tmp_path):
    from veil.decisions import DecisionLedger
    from veil.policy import load_policy

    policy = load_policy("sample")
    add_model(workspace)
    ledger = DecisionLedger(workspace, policy)
    n = 40
    rng = np.random.default_rng(4)
    ids = [f"APPLICANT-{i:04d}" for i in range(n)]
    feats = pd.DataFrame({f: rng.normal(50, 10, n) for f in FEATURES})
    scores = rng.random(n)
    decided = ledger.record_batch(MODEL, ids, feats, scores)
    for i, d in enumerate(decided[:30]):
        ledger.record_actual(d, int(i % 3 != 0), by="collections")
    protected = tmp_path / "protected.csv"
    pd.DataFrame({"subject_id": ids[::-1],
                  "gender": [f"{MARK}{g}" for g in rng.choice(["f", "m"], n)],
                  "age_band": rng.choice(["20-39", "40-59"], n),
                  "name": ["Erika Mustermann"] * n}).to_csv(protected, index=False)
    return ledger, policy, ids, protected, scores


def test_report_over_the_ledger_matches_its_decisions(recorded):
    ledger, policy, ids, protected, scores = recorded
    report = fairness_report(ledger, protected, policy=policy, resamples=50)
    assert (report.decisions, report.matched, report.with_actual) == (40, 40, 30)
    assert report.purpose == "credit_scoring"
    gender = report.attributes[0]
    assert sum(g.decisions for g in gender.groups) == 40
    approved = sum(g.selection_rate * g.decisions for g in gender.groups)
    assert approved == pytest.approx(int((scores >= 0.5).sum()))


def test_protected_attributes_are_gone_after_the_check(recorded, workspace):
    from veil.audit.log import AuditLog

    ledger, policy, ids, protected, _ = recorded
    report = fairness_report(ledger, protected, policy=policy, resamples=50)
    assert "never written to the workspace" in report.protected_data
    for path in Path(workspace.root).rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert MARK.encode() not in data, path
            assert b"APPLICANT-00" not in data, path
            assert b"Mustermann" not in data, path
    (ev,) = list(AuditLog(workspace).events(action="decisions.fairness"))
    e = ev.event
    assert e.counts["matched"] == 40 and e.digests["report"] == report.digest()
    assert e.details["gender.groups"] == 2
    assert e.details["gender.demographic_parity_difference"] == pytest.approx(
        report.attributes[0].demographic_parity_difference)
    assert not any(MARK in str(v) for v in e.details.values())
    assert list(e.subjects) == []


@pytest.mark.parametrize("body", [
    b"subject_id,gender,age_band\nAPPLICANT-0001,f,20-39\nZQSECRET-9,m,40-59,extra\n",
    b"subject_id,gender,age_band\nZQSECRET-9,f,\xff\xfe\n"])
def test_an_unreadable_csv_gets_one_line_that_quotes_no_row(recorded, workspace, tmp_path,
                                                            body):
    from veil.audit.log import AuditLog
    from veil.errors import InputError

    ledger, policy, *_ = recorded
    bad = tmp_path / "bad.csv"
    bad.write_bytes(body)
    with pytest.raises(InputError, match="cannot read the table as CSV") as e:
        fairness_report(ledger, bad, policy=policy, resamples=0)
    assert "ZQSECRET" not in str(e.value) and e.value.where == str(bad)
    assert list(AuditLog(workspace).events(action="decisions.fairness")) == []
