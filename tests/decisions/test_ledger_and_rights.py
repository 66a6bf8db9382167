"""Rights reach the ledger: the access package holds the person's decisions with their
explanation and review history; erasure shreds the decision inputs (and the contest statement)
while the record and its explanation from the stored reason codes stay; an objection under
Art. 21 keeps the person out of later scoring."""

# ruff: noqa: F811  (pytest fixtures imported from ledger_fixtures are parameters here)
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.decisions.ledger_fixtures import MODEL
from veil.errors import InputError

FEATS = {"annual_income": 28000.0, "account_balance": 120.5}


@pytest.fixture
def subject(ledger, monkeypatch) -> str:  # type: ignore[no-untyped-def]
    """A customer of a small sample table loaded into the sample policy's store."""
    import pyarrow.csv as pcsv

    from veil.rights import load_store
    from veil.sample import write_sample

    monkeypatch.delenv("VEIL_SAMPLE_STORE", raising=False)
    write_sample(Path("tx.csv"), 40, seed=5)
    load_store(ledger.policy, "transactions", Path("tx.csv"), ledger.workspace)
    return str(pcsv.read_csv("tx.csv").column("customer_id")[0].as_py())


def test_access_package_lists_decisions_with_explanation_and_history(ledger, subject) -> None:
    from veil.rights import Requests

    rec = ledger.record(MODEL, subject, FEATS, 0.2,
                        reasons={"annual_income": -1.2, "account_balance": 0.3})
    ledger.contest(rec.id, "I was promoted last month", by="subject")
    ledger.review(rec.id, reviewer="Credit review team", outcome="approve", rationale="ok")
    ledger.record(MODEL, "SOMEONE-ELSE", FEATS, 0.9)
    reqs = Requests(ledger.workspace, ledger.policy)
    a = reqs.run(reqs.open("access", subject, verification="ID checked").id)
    reqs.export(a.id, "out", reason="secure portal")
    pkg = json.loads(Path("out/package.json").read_text())
    got = pkg["automated_decisions"]
    assert [d["id"] for d in got] == [rec.id, ledger.get(rec.id).final_id]
    first = got[0]
    assert first["inputs"] == FEATS
    assert [h["kind"] for h in first["history"]] == ["contest", "review"]
    assert first["history"][0]["text"] == "I was promoted last month"
    text = json.dumps(first["explanation"])
    assert "Your income is low" in text  # the policy's reason text for the top factor


def test_erasure_shreds_inputs_but_the_record_and_explanation_stay(ledger, subject) -> None:
    from veil.decisions import explain_decision
    from veil.rights import Requests

    rec = ledger.record(MODEL, subject, FEATS, 0.2, reasons={"annual_income": -1.2})
    ledger.contest(rec.id, "I was promoted last month", by="subject")
    reqs = Requests(ledger.workspace, ledger.policy)
    reqs.run(reqs.open("erasure", subject, verification="ID checked").id)
    ledger.keys.clear_cache()
    assert ledger.inputs(rec.id) is None
    after = ledger.get(rec.id)
    assert after.outcome == "refuse" and not after.inputs_available
    (contest,) = ledger.history(rec.id)
    assert contest.text is None and contest.text_erased
    exp = explain_decision(after, ledger.policy, None, history=ledger.history(rec.id))
    assert "Your income is low" in json.dumps(exp.to_dict())
    with pytest.raises(InputError, match="excluded"):  # erased: no new decisions either
        ledger.record(MODEL, subject, FEATS, 0.9)


def test_objection_excludes_from_later_scoring(ledger, subject) -> None:
    from veil.rights import Requests

    reqs = Requests(ledger.workspace, ledger.policy)
    reqs.run(reqs.open("objection", subject, verification="ID checked",
                       purposes=["credit_scoring"]).id)
    b = ledger.record_batch(MODEL, [subject, "OTHER"],
                            {"annual_income": [1.0, 2.0]}, [0.9, 0.9])
    assert len(b) == 1 and b.skipped == {"objected": 1}
    with pytest.raises(InputError, match="objected"):
        ledger.record(MODEL, subject, FEATS, 0.9)
