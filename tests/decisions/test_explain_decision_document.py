"""The Art. 15(1)(h) / Art. 86 explanation: built from the stored reason codes and the policy
alone (so it survives erasure of the inputs), with the person's rights and the review history,
rendered as JSON, Markdown and escaped HTML."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from veil.decisions.explain import Reason
from veil.decisions.explanation import explain_decision
from veil.decisions.records import DecisionRecord, HistoryEntry
from veil.policy.loader import load_policy

SAMPLE = Path(__file__).resolve().parents[2] / "src" / "veil" / "sample" / "sample_policy.yaml"


@pytest.fixture(scope="module")
def policy():
    return load_policy(SAMPLE)


def _record(**kw) -> DecisionRecord:
    base = dict(
        id="D-1", model="credit", model_version=2, purpose="credit_scoring", subject="ab" * 32,
        score=0.41, threshold=0.5, outcome="refuse",
        reasons=[Reason("account_balance", -0.8), Reason("annual_income", -0.3),
                 Reason("unnamed_feature", -0.1), Reason("amount", 0.2)],
        decided_at=datetime(2026, 12, 1, 9, 30, tzinfo=UTC), decided_by="model:credit.v2",
        status="review", final_of=None, inputs_available=True)
    base.update(kw)
    return DecisionRecord(**base)


def test_the_explanation_names_the_decision_model_factors_and_rights(policy):
    ex = explain_decision(_record(), policy)
    d = ex.to_dict()
    assert d["automated"] is True and d["legal_effect"] is True and d["basis"] == "contract"
    assert (d["model"], d["model_version"], d["score"], d["threshold"]) == ("credit", 2, 0.41, 0.5)
    assert d["decision"] == "Approve or refuse a retail loan application"
    lowered = [f for f in d["main_factors"] if f["direction"] == "lowered"]
    assert [f["text"] for f in lowered] == ["Your account balance is low",
                                            "Your income is low compared with the amount "
                                            "requested", "unnamed_feature"]
    assert [f["feature"] for f in d["main_factors"] if f["direction"] == "raised"] == ["amount"]
    assert [r["safeguard"] for r in d["rights"]] == ["human_intervention", "express_view",
                                                     "contest"]
    assert "privacy@example-bank.eu" in d["contact"] and "dpo@example-bank.eu" in d["contact"]
    json.dumps(d)  # JSON-ready
    md = ex.to_markdown()
    assert md.startswith("# Explanation of decision D-1")
    assert "- Your account balance is low (lowered the score)" in md
    assert "automatically, by a computer model (model:credit.v2)" in md
    assert "## Your rights" in md and "Contest the decision" in md


def test_it_works_from_the_reason_codes_after_the_inputs_are_erased(policy):
    ex = explain_decision(_record(inputs_available=False), policy)
    assert ex.to_dict()["inputs_available"] is False
    assert "input data for this decision has been erased" in ex.to_markdown()
    assert ex.factors[0]["text"] == "Your account balance is low"


def test_a_reviewed_decision_shows_the_history_and_the_replaced_decision(policy):
    final = _record(id="D-2", decided_by="Head of credit risk", outcome="approve",
                    status="final", final_of="D-1", reasons=[])
    history = [HistoryEntry("D-1", "contest", datetime(2026, 12, 2, tzinfo=UTC), "subject",
                            text="My salary rose last month"),
               HistoryEntry("D-1", "review", datetime(2026, 12, 3, tzinfo=UTC),
                            "Head of credit risk", outcome="approve", final_id="D-2",
                            text="Payslips confirm the new salary")]
    ex = explain_decision(final, policy, history=history)
    md = ex.to_markdown()
    assert "made by a person (Head of credit risk)" in md
    assert "replaces the automated decision D-1" in md
    assert "## Review history" in md
    assert "review by Head of credit risk outcome approve: Payslips confirm" in md
    assert "No factor is recorded" in md
    assert ex.to_dict()["review_history"][0]["kind"] == "contest"


def test_html_escapes_everything(policy):
    ex = explain_decision(_record(model="<b>m</b>", reasons=[Reason("x<y", -1.0)]), policy,
                          history=[{"at": "t", "kind": "contest", "text": "<script>1</script>"}])
    page = ex.to_html()
    assert "<script>" not in page and "<b>m" not in page
    assert "&lt;script&gt;1&lt;/script&gt;" in page and "x&lt;y" in page
    assert page.startswith("<!doctype html>")


def test_a_model_adds_its_kind(policy):
    class Model:
        kind = "linear"

    assert explain_decision(_record(), policy, Model()).to_dict()["model_kind"] == "linear"
