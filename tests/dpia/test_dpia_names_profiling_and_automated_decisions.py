"""`veil dpia` drafts the Art. 35 assessment of a purpose from the policy and the workspace:
the sample credit_scoring names profiling (evaluation/scoring) and automated decisions, the
last succeeded run's figures, the safeguards in force and open questions; the draft is recorded
in the audit log."""

from __future__ import annotations

import json
from pathlib import Path

import veil
from veil.audit.log import AuditLog
from veil.cli.main import main
from veil.dpia import draft_dpia
from veil.policy import load_policy, parse_policy


def test_the_sample_credit_scoring_dpia(workspace, capsys) -> None:
    assert main(["sample", "--rows", "400", "--seed", "5", "-o", "tx.csv"]) == 0
    result = veil.run("sample", "credit_scoring", "tx.csv", "credit.parquet", workspace=workspace)
    capsys.readouterr()
    assert main(["dpia", "--policy", "sample", "--purpose", "credit_scoring", "-o", "out"]) == 0
    assert "4 EDPB criteria met" in capsys.readouterr().out
    md = Path("out/dpia-credit_scoring.md").read_text()
    doc = json.loads(Path("out/dpia-credit_scoring.json").read_text())
    assert "Evaluation or scoring, including profiling and predicting | yes" in md
    assert "Automated decision-making with legal or similar significant effect | yes" in md
    met = {c["id"] for c in doc["criteria"] if c["met"]}
    assert {"evaluation_scoring", "automated_decision"} <= met and doc["dpia_required"]
    assert doc["reference"] == "DPIA-2026-04"
    run = doc["measured_risk"]
    assert run["run_id"] == result.receipt["run_id"] and run["rows_in"] == 400
    assert run["encrypted"] and run["gate"] is None
    assert any("measured no re-identification risk" in q for q in doc["open_risks"])
    assert any(s.startswith("Automated-decision safeguards") for s in doc["safeguards"])
    assert doc["necessity"]["datasets"]["transactions"]["declared"] == 29
    assert "full_name" in doc["necessity"]["datasets"]["transactions"]["not_used"]
    [event] = list(AuditLog(workspace).events(action="dpia.draft"))
    assert event.event.purpose == "credit_scoring"


def test_without_a_run_the_draft_says_nothing_was_measured() -> None:
    d = draft_dpia(load_policy("sample"), "fraud_detection")
    assert d.measured_risk is None and d.reference == "DPIA-2026-05"  # the sample names it
    assert "nothing measured yet" in d.to_markdown()
    assert any("Card scheme" in r["name"] for r in d.description["recipients"])
    assert any("card_scheme" in q and "adequacy decision covers only" in q for q in d.open_risks)


def test_a_purpose_without_high_risk_criteria_is_not_required() -> None:
    pol = parse_policy("""\
controller: {name: Bank, contact: dpo@bank.example}
datasets:
  t: {fields: {cid: direct_identifier, city: location}}
purposes:
  stats:
    description: Branch statistics
    legal_basis: legitimate_interests
    legitimate_interest: Planning branches
    retention: 1 year
    datasets: {t: {fields: {cid: pseudonymize, city: keep}}}
""")
    d = draft_dpia(pol, "stats")
    assert not d.required and not [c for c in d.criteria if c["met"]]
    assert d.to_dict()["dpia_required"] is False


def test_an_unknown_purpose_is_one_line(workspace, capsys) -> None:
    assert main(["dpia", "--policy", "sample", "--purpose", "nope", "-o", "out"]) == 3
    assert "unknown purpose 'nope'" in capsys.readouterr().err
    assert not Path("out").exists()
