"""Erasure propagation end to end on the sample: the credit output (on_erasure: rebuild) is
rebuilt without the erased subject at the same path, the offers output (purge) is gone, the fraud
output (flag) is marked, the model trained on the credit output is flagged with the count, the
certificate lists it all, and a model on the flagged output is refused unless accepted."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pytest

import veil
from veil.errors import RunRefused
from veil.lifecycle import propagate_withdrawal, requests
from veil.lineage import Lineage, stale_subjects
from veil.policy import load_policy
from veil.sample import SAMPLE_POLICY, write_sample


@pytest.fixture
def bank(workspace, monkeypatch):  # type: ignore[no-untyped-def]
    from veil.consent.ledger import Ledger
    from veil.rights import load_store

    monkeypatch.delenv("VEIL_SAMPLE_STORE", raising=False)
    pol = load_policy(SAMPLE_POLICY)
    write_sample("tx.csv", 600, seed=7)
    load_store(pol, "transactions", Path("tx.csv"), workspace)
    ids = pcsv.read_csv("tx.csv").column("customer_id").to_pylist()
    subject, other = ids[0], next(i for i in ids if i != ids[0])
    led = Ledger(workspace, pol)
    led.add_notice("personalised_offers", "1", "We suggest offers.", created_by="test",
                   effective="2024-01-01T00:00:00Z")
    for s in (subject, other):
        led.grant(s, "personalised_offers", channel="web_form", action="ticked the box",
                  collector="test", notice_version="1")
    return workspace, pol, subject, other


def _pseudonym(ws, purpose: str, subject: str, prefix: str) -> str:
    from veil.transforms.keys import workspace_keys
    from veil.transforms.pseudonymize import pseudonyms

    key = workspace_keys(ws).hmac_key(purpose)
    return str(pseudonyms(pa.array([subject]), key, length=16, prefix=prefix)[0].as_py())


def test_erasure_rebuilds_purges_flags_and_certifies(bank) -> None:
    ws, pol, subject, other = bank
    credit = veil.run(pol, "credit_scoring", "tx.csv", "credit.parquet", workspace=ws)
    offers = veil.run(pol, "personalised_offers", "tx.csv", "offers.parquet", workspace=ws)
    fraud = veil.run(pol, "fraud_detection", "tx.csv", "fraud.parquet", workspace=ws)
    lin = Lineage(ws)
    lin.register_model("pd.v1", [credit.run_id], actor="ml")
    mine = _pseudonym(ws, "credit_scoring", subject, "c_")
    before = veil.read("credit.parquet", ws).column("customer_id").to_pylist()
    assert mine in before

    reqs = requests(ws, pol)
    rec = reqs.run(reqs.open("erasure", subject, verification="ID seen").id, actor="dpo")
    assert rec.status == "completed", rec.error
    prop = rec.result["propagation"]
    assert [o["run_id"] for o in prop["rebuilt"]] == [credit.run_id]
    assert [o["run_id"] for o in prop["purged"]] == [offers.run_id]
    assert [o["run_id"] for o in prop["flagged"]] == [fraud.run_id]
    assert prop["models_to_retrain"] == [{"name": "pd.v1", "trained_on": [credit.run_id],
                                          "affected_subjects": 1}]
    # the credit output was rebuilt at the same path without the subject
    after = veil.read("credit.parquet", ws).column("customer_id").to_pylist()
    assert mine not in after and len(after) == len(before) - before.count(mine)
    new = prop["rebuilt"][0]["new_run"]
    assert lin.output("credit.parquet").run_id == new
    assert lin.subject(subject).outputs == [lin.output(fraud.run_id)]  # only the flagged one
    assert lin.subject(other).outputs[0].run_id in (new, fraud.run_id)
    # the offers output is gone, the fraud output kept and marked
    assert not Path("offers.parquet").exists() and Path("fraud.parquet").exists()
    assert lin.model("pd.v1").retrain_subjects == 1
    # the certificate lists it
    cert = json.loads(Path(rec.result["certificate"][0]).read_text())
    assert cert["propagation"]["purged"][0]["run_id"] == offers.run_id
    assert cert["propagation"]["rebuilt"][0]["new_run"] == new
    assert cert["propagation"]["models_to_retrain"][0]["affected_subjects"] == 1
    assert {n["recipient"] for n in cert["recipients_notified"]} >= {
        "credit_risk_team", "marketing_analytics", "fraud_operations"}
    assert subject not in Path(rec.result["certificate"][1]).read_text()
    assert subject not in json.dumps(rec.result)
    # a model on the flagged fraud output is refused, then accepted with a reason
    with pytest.raises(RunRefused, match=r"1 subject \(1 erased\)"):
        lin.register_model("fraud.v1", [fraud.run_id], actor="ml")
    assert stale_subjects(ws, fraud.run_id).erased == 1
    assert lin.register_model("fraud.v1", [fraud.run_id], actor="ml", accept_stale=True,
                              reason="legal obligation: kept for investigations").accepted_stale
    # running the request again changes nothing
    assert reqs.run(rec.id).result["propagation"] == prop


def test_rebuild_without_input_falls_back_to_flag(bank) -> None:
    ws, pol, subject, _ = bank
    credit = veil.run(pol, "credit_scoring", "tx.csv", "credit.parquet", workspace=ws)
    Path("tx.csv").rename("moved.csv")
    reqs = requests(ws, pol)
    rec = reqs.run(reqs.open("erasure", subject, verification="ID seen").id, actor="dpo")
    flagged = rec.result["propagation"]["flagged"]
    assert [o["run_id"] for o in flagged] == [credit.run_id]
    assert "input file no longer exists" in flagged[0]["note"]
    assert Path("credit.parquet").exists()


def test_withdrawal_purges_offers(bank) -> None:
    from veil.consent.ledger import Ledger

    ws, pol, subject, _ = bank
    offers = veil.run(pol, "personalised_offers", "tx.csv", "offers.parquet", workspace=ws)
    Ledger(ws, pol).withdraw(subject, "personalised_offers", channel="web_form",
                             collector="test")
    p = propagate_withdrawal(ws, pol, subject, ["personalised_offers"], actor="dpo")
    assert [o.run_id for o in p.of("purged")] == [offers.run_id]
    assert not Path("offers.parquet").exists()
