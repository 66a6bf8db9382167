"""Records of processing: every Art. 30(1) item present or explicitly marked missing."""

from __future__ import annotations

import json
from pathlib import Path

from veil.policy import load_policy, parse_policy
from veil.ropa import build_ropa, render_markdown, write_ropa
from veil.sample import SAMPLE_POLICY


def test_sample_policy_record_is_complete(tmp_path: Path) -> None:
    md, js, rec = write_ropa(load_policy(SAMPLE_POLICY), tmp_path)
    assert rec["missing"] == []
    data = json.loads(js.read_text())
    assert [r["purpose_id"] for r in data["records"]] == ["credit_scoring", "fraud_detection",
                                                          "personalised_offers"]
    fraud = data["records"][1]
    for key in ("a_controller", "b_purpose", "c_categories", "d_recipients", "e_transfers",
                "f_erasure_time_limit", "g_security_measures"):
        assert fraud[key], key
    assert fraud["e_transfers"][0]["country"] == "US"
    assert fraud["e_transfers"][0]["safeguard"] == "adequacy"
    roles = {r["id"]: (r["role"], r["country"], r["contract"]) for r in fraud["d_recipients"]}
    assert roles["card_scheme"] == ("third_party", "US", None)
    assert roles["cloud_hosting"] == ("processor", "DE", "DPA-2024-017, signed 2024-03-01")
    assert fraud["b_purpose"]["legal_basis"] == "Art. 6(1)(c) legal obligation"
    cats = {c["category"] for c in fraud["c_categories"]["personal_data"]}
    assert {"transaction", "online_identifier", "location"} <= cats
    text = md.read_text()
    for item in "abcdefg":
        assert f"| ({item}) |" in text
    assert ("Analytics platform hosting provider (processor, DE, Art. 28(3) contract "
            "DPA-2024-017, signed 2024-03-01)") in text
    assert ("Card scheme fraud analytics service (US), safeguard: adequacy: EU-US Data "
            "Privacy Framework") in text


def test_missing_items_are_marked_not_omitted() -> None:
    policy = parse_policy("""\
controller: {name: Bank, contact: c@bank.example}
datasets:
  t:
    fields: {health_note: health, cid: direct_identifier}
purposes:
  care:
    description: d
    legal_basis: consent
    special_categories_condition: a
    retention: 30 days
    datasets: {t: {fields: {health_note: keep, cid: keep}}}
""")
    rec = build_ropa(policy)
    assert rec["missing"] == ["care: a_controller.representative", "care: a_controller.dpo",
                              "care: d_recipients"]
    r = rec["records"][0]
    assert r["c_categories"]["special_categories_present"] is True
    assert r["b_purpose"]["consent_required"] is True
    md = render_markdown(rec)
    assert "**MISSING**: add controller.dpo" in md
    assert "Art. 9 special category" in md
