"""`veil policy check` inside a workspace fails on a consent purpose without a notice (naming
the purpose), and warns (exit 0) when a purpose meets two or more EDPB high-risk criteria
without a DPIA reference."""

from __future__ import annotations

import json
from pathlib import Path

from veil.cli.main import main
from veil.policy import load_policy, parse_policy
from veil.policy.edpb import criteria_met
from veil.policy.legal import legal_warnings

POLICY = """\
version: 1
controller: {name: Bank SE, contact: dpo@bank.example}
datasets:
  t:
    subject_id: cid
    fields:
      cid: direct_identifier
      ip: online_identifier
      at: {category: transaction, type: timestamp}
      flag: {category: inferred, type: boolean}
purposes:
  watch:
    description: Fraud monitoring
    legal_basis: legal_obligation
    retention: 1 year
    datasets: {t: {fields: {cid: keep, ip: keep, at: keep, flag: keep}}}
  offers:
    description: Offers
    legal_basis: consent
    retention: 1 year
    datasets: {t: {fields: {cid: keep}}}
"""


def test_a_consent_purpose_without_a_notice_fails_inside_a_workspace(workspace, capsys) -> None:
    Path("p.yaml").write_text(POLICY)
    assert main(["policy", "check", "p.yaml"]) == 3
    err = capsys.readouterr().err
    assert "p.yaml:17: purposes.offers: consent purpose 'offers' has no notice" in err
    Path("n.txt").write_text("We use your transactions to suggest offers.\n")
    assert main(["consent", "notice", "add", "offers", "--version", "1", "--text-file", "n.txt",
                 "-p", "p.yaml"]) == 0
    capsys.readouterr()
    assert main(["policy", "check", "p.yaml", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)["findings"]
    assert [f["rule"] for f in found] == ["dpia_needed"]


def test_outside_a_workspace_the_notice_is_not_checked(tmp_path: Path, monkeypatch,
                                                       capsys) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VEIL_WORKSPACE", raising=False)
    Path("p.yaml").write_text(POLICY)
    assert main(["policy", "check", "p.yaml"]) == 0
    err = capsys.readouterr().err
    assert "warning: p.yaml:12: purposes.watch: meets 3 EDPB high-risk criteria" in err
    assert "offers" not in err


def test_a_dpia_reference_silences_the_warning() -> None:
    text = POLICY.replace("    legal_basis: legal_obligation\n",
                          "    legal_basis: legal_obligation\n    dpia: DPIA-7\n")
    assert legal_warnings(parse_policy(text)) == []


def test_one_criterion_is_not_enough() -> None:
    text = POLICY.replace("ip: keep, at: keep, flag: keep", "at: keep")
    pol = parse_policy(text)
    assert [c.id for c, _ in criteria_met(pol, "watch")] == ["sensitive_data"]
    assert legal_warnings(pol) == []


def test_the_sample_credit_scoring_meets_profiling_and_automated_decisions() -> None:
    met = {c.id: why for c, why in criteria_met(load_policy("sample"), "credit_scoring")}
    assert {"evaluation_scoring", "automated_decision", "prevents_right_or_contract",
            "sensitive_data"} <= set(met)
    assert "Approve or refuse a retail loan application" in met["automated_decision"]
