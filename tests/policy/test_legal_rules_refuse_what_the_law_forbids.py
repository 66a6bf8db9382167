"""`veil policy check` refuses what the law forbids, naming file:line and the article, and
accepts the same policy once the missing condition, safeguard or authorisation is there; `veil
run` refuses too (the rules run when a policy loads). Each rule: a failing and a passing policy
through the CLI."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from veil.cli.main import main
from veil.errors import PolicyError
from veil.policy import load_policy, parse_policy

BASE = """\
version: 1
controller: {name: Bank SE, contact: dpo@bank.example}
recipients:
  risk: {name: Risk team, role: internal, country: DE}
  scheme: {name: Card scheme, role: third_party, country: US}
  farco: {name: Far Co, role: recipient, country: XX}
  host: {name: Hosting, role: processor, contract: DPA-1}
datasets:
  t:
    subject_id: cid
    fields:
      cid: direct_identifier
      income: {category: income_credit, type: float}
      diagnosis: health
      convictions: criminal_offences
      amount: {category: transaction, type: float}
purposes:
  p:
    description: Scoring
    legal_basis: contract
    retention: 1 year
    recipients: [risk]
    datasets:
      t:
        fields: {cid: keep, income: keep, amount: keep}
"""

DECISIONS = """\
    automated_decisions:
      decision: Approve or refuse a loan
      basis: contract
      safeguards: [human_intervention, express_view, contest]
      overseers: [Head of credit risk]
      features:
        income: Your income is low
      log_retention: 6 months
"""

#: rule -> (text to add or replace in BASE for the failing policy, the fix, what the error says)
CASES = {
    "art9": ([("income: keep,", "income: keep, diagnosis: keep,")],
             [("    retention: 1 year\n",
               "    retention: 1 year\n    special_categories_condition: h\n")],
             "purposes.p.datasets.t.fields.diagnosis", "Art. 9(2)"),
    "art10": ([("income: keep,", "income: keep, convictions: keep,")],
              [("    retention: 1 year\n", "    retention: 1 year\n    "
                "criminal_data_authorisation: Anti-money-laundering act, section 10\n")],
              "purposes.p.datasets.t.fields.convictions", "Art. 10"),
    "adequacy": ([("    recipients: [risk]\n", "    recipients: [risk, farco]\n    transfers:\n"
                   "      - {country: XX, recipient: farco, safeguard: adequacy}\n")],
                 [("safeguard: adequacy}", "safeguard: sccs, reference: SCC 2021/914 module 1}")],
                 "purposes.p.transfers.0.safeguard", "no adequacy decision covers"),
    "abroad": ([("    recipients: [risk]\n", "    recipients: [risk, scheme]\n")],
               [("    recipients: [risk, scheme]\n",
                 "    recipients: [risk, scheme]\n    transfers:\n"
                 "      - {country: US, recipient: scheme, safeguard: adequacy}\n")],
               "purposes.p.recipients.1", "outside the EEA"),
    "basis": ([("      basis: contract\n", "")], [],
              "purposes.p.automated_decisions", "Art. 22(2)"),
    "safeguards": ([("[human_intervention, express_view, contest]", "[human_intervention]")], [],
                   "purposes.p.automated_decisions.safeguards",
                   "missing: express_view, contest"),
    "overseers": ([("      overseers: [Head of credit risk]\n", "")], [],
                  "purposes.p.automated_decisions", "Art. 14"),
    "log": ([("log_retention: 6 months", "log_retention: 30 days")],
            [("log_retention: 30 days", "log_retention: 1 year")],
            "purposes.p.automated_decisions.log_retention", "Art. 26(6)"),
    "art22_4": ([("income: keep,", "income: keep, diagnosis: keep,"),
                 ("    retention: 1 year\n",
                  "    retention: 1 year\n    special_categories_condition: h\n"),
                 ("        income: Your income is low\n", "        income: Your income is low\n"
                  "        diagnosis: Your health\n")],
                [("special_categories_condition: h", "special_categories_condition: g")],
                "purposes.p.automated_decisions.features.diagnosis", "Art. 22(4)"),
}


def _policy(edits: list[tuple[str, str]], decisions: bool) -> str:
    text = BASE + (DECISIONS if decisions else "")
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


def _check(tmp_path: Path, text: str, capsys) -> tuple[int, str]:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    code = main(["policy", "check", str(path)])
    out = capsys.readouterr()
    return code, out.err.replace(str(tmp_path) + "/", "")


@pytest.mark.parametrize("rule", list(CASES))
def test_each_rule_fails_then_passes(rule: str, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)  # outside any workspace
    monkeypatch.delenv("VEIL_WORKSPACE", raising=False)
    bad, fix, where, says = CASES[rule]
    decisions = rule in ("basis", "safeguards", "overseers", "log", "art22_4")
    text = _policy(bad, decisions)
    code, err = _check(tmp_path, text, capsys)
    assert code == 3, err
    m = re.search(r"p\.yaml:(\d+): (\S+):", err)
    assert m and m.group(2) == where and says in err, err
    last = [k for k in where.split(".") if not k.isdigit()][-1]
    assert last in text.splitlines()[int(m.group(1)) - 1]  # the line of the key
    assert err.count("\n") == 1  # one line
    # no fix given: the base policy is the passing one
    fixed = _policy(bad + fix if fix else [], decisions)
    code, err = _check(tmp_path, fixed, capsys)
    assert code == 0, err


def test_the_line_is_the_key_of_the_breach(tmp_path: Path, capsys) -> None:
    text = _policy(CASES["art9"][0], False)
    code, err = _check(tmp_path, text, capsys)
    line = int(re.search(r"p\.yaml:(\d+):", err).group(1))
    assert "diagnosis: keep" in text.splitlines()[line - 1]


def test_run_refuses_a_policy_the_law_forbids(tmp_path: Path, capsys) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(_policy(CASES["art10"][0], False))
    (tmp_path / "in.csv").write_text("cid,income,amount,convictions\n1,2.0,3.0,x\n")
    code = main(["run", "--policy", str(path), "--purpose", "p", str(tmp_path / "in.csv"),
                 "-o", str(tmp_path / "out.parquet")])
    assert code == 3 and "Art. 10" in capsys.readouterr().err
    assert not (tmp_path / "out.parquet").exists()


def test_the_sample_policy_passes_and_meets_the_rules() -> None:
    pol = load_policy("sample")
    ad = pol.purposes["credit_scoring"].automated_decisions
    assert ad is not None and ad.basis == "contract" and len(ad.safeguards) == 3
    assert [r for r, _ in pol.recipients_of("fraud_detection")][:2] == ["fraud_operations",
                                                                        "card_scheme"]


@pytest.mark.parametrize("edit, says", [
    (("    recipients: [risk]\n", "    recipients: [nobody]\n"), "unknown recipient 'nobody'"),
    (("    recipients: [risk]\n", "    transfers: [{country: US, recipient: ghost, "
      "safeguard: sccs, reference: x}]\n"), "transfer to unknown recipient 'ghost'"),
    (("  host: {name: Hosting, role: processor, contract: DPA-1}\n",
      "  host: {name: Hosting, role: processor}\n"), "Art. 28(3)"),
    (("    recipients: [risk]\n", "    transfers: [{country: US, recipient: scheme, "
      "safeguard: sccs}]\n"), "needs 'reference'"),
    (("    recipients: [risk]\n", "    transfers: [{country: US, recipient: scheme, "
      "safeguard: derogation, reference: consent form}]\n"), "Art. 49(1) letter"),
    (("    recipients: [risk]\n", "    transfers: [{country: US, recipient: scheme, "
      "safeguard: none}]\n"), "purposes.p.transfers.0.safeguard"),
])
def test_shape_and_reference_errors_name_the_place(edit, says: str) -> None:
    with pytest.raises(PolicyError, match=re.escape(says)) as info:
        parse_policy(_policy([edit], False), source="p.yaml")
    assert re.match(r"p\.yaml:\d+", info.value.where or "")


def test_a_decision_feature_must_come_from_a_field_the_purpose_uses() -> None:
    text = _policy([("        income: Your income is low\n",
                     "        income: Your income is low\n        debt: Your debts are high\n")],
                   True)
    with pytest.raises(PolicyError, match="decision feature 'debt'") as info:
        parse_policy(text, source="p.yaml")
    line = int(info.value.where.rsplit(":", 1)[1])
    assert "debt:" in text.splitlines()[line - 1]
