"""End to end on the sample (SQLite and PostgreSQL): consent, run, register a model, an access
request whose package holds exactly this subject's data, then an erasure: the subject's
encrypted values no longer decrypt, their rows are gone from the store, later runs exclude them
and the model is listed for rebuilding."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
import sqlalchemy as sa

import veil
from veil.crypto.errors import ErasedError
from veil.lineage import Lineage
from veil.rights import Requests, Store, decrypt_values


def _subject_emails(bank, path: str) -> list[str]:
    from veil.transforms.keys import workspace_keys
    from veil.transforms.pseudonymize import pseudonyms

    key = workspace_keys(bank.ws).hmac_key("personalised_offers")
    mine = pseudonyms(pa.array([bank.subject]), key, length=16, prefix="o_")[0].as_py()
    out = veil.read(path, bank.ws)
    return [e for c, e in zip(out.column("customer_id").to_pylist(),
                              out.column("email").to_pylist(), strict=True) if c == mine]


def test_access_then_erasure(bank) -> None:
    ws, pol = bank.ws, bank.policy
    r = veil.run(pol, "personalised_offers", str(bank.csv), "offers.parquet", workspace=ws)
    assert r.receipt["lineage"]["subjects"] == 2
    lin = Lineage(ws)
    lin.register_model("offers-model", [r.run_id], actor="ml-team")
    s = lin.subject(bank.subject)
    assert [o.run_id for o in s.outputs] == [r.run_id]
    assert [m.name for m in s.models] == ["offers-model"]

    enc = _subject_emails(bank, "offers.parquet")
    assert len(enc) == bank.rows and all(e != bank.email for e in enc)
    assert decrypt_values(ws, bank.subject, enc, dataset="transactions", field="email",
                          actor="dpo", reason="test") == [bank.email] * bank.rows

    reqs = Requests(ws, pol)
    a = reqs.run(reqs.open("access", bank.subject, verification="passport seen").id)
    assert a.status == "completed" and a.result["outcome"] == "package ready"
    for f in a.result["files"]:  # at rest: encrypted, no clear personal data
        assert bank.subject.encode() not in Path(f["path"]).read_bytes()
    reqs.export(a.id, "out", reason="secure portal")
    pkg = json.loads(Path("out/package.json").read_text())
    rows = pkg["data"]["transactions"]["rows"]
    assert len(rows) == bank.rows and {x["customer_id"] for x in rows} == {bank.subject}
    assert {x["email"] for x in rows} == {bank.email}
    assert [e["purpose"] for e in pkg["consent"]] == ["personalised_offers"]
    assert [o["run_id"] for o in pkg["outputs"]] == [r.run_id]
    assert [m["name"] for m in pkg["models"]] == ["offers-model"]
    offers = next(p for p in pkg["processing"] if p["purpose"] == "personalised_offers")
    assert offers["your_data_used_in_outputs"] and offers["legal_basis"].startswith("Art. 6(1)(a)")
    assert "<h1>Your personal data</h1>" in Path("out/package.html").read_text()

    e = reqs.run(reqs.open("erasure", bank.subject, verification="signed form").id)
    assert e.status == "completed" and e.result["outcome"] == "erased"
    erased = e.result["stores"]["transactions"]
    assert (erased["action"], erased["rows"]) == ("deleted", bank.rows)
    assert e.result["rebuild"] == {"outputs": [r.run_id], "models": ["offers-model"],
                                   "output_paths": [str(r.output.resolve())], "running": []}
    assert e.result["consent_withdrawn"] == ["personalised_offers"]
    with pytest.raises(ErasedError, match="destroyed by an erasure") as info:
        decrypt_values(ws, bank.subject, enc, dataset="transactions", field="email",
                       actor="dpo", reason="after erasure")
    assert str(info.value).count("erased") == 0 and bank.subject not in str(info.value)
    store = Store(pol, "transactions", ws)
    assert store.count(bank.subject) == 0 and store.count(bank.other) > 0
    cert = json.loads(Path(e.result["certificate"][0]).read_text())
    assert cert["subject"] == e.subject and cert["subject_key"] == "destroyed"
    assert bank.subject not in Path(e.result["certificate"][0]).read_text()
    with ws.engine.connect() as conn:  # the sealed id is gone once erased
        from veil.store.schema import dsr_requests
        assert conn.execute(sa.select(dsr_requests.c.sealed).where(
            dsr_requests.c.id == e.id)).scalar() is None

    # later runs exclude the subject, counted by reason, for every purpose
    r2 = veil.run(pol, "credit_scoring", str(bank.csv), "credit.parquet", workspace=ws)
    assert r2.receipt["rows"]["dropped"] == {"excluded: subject erased (Art. 17)": bank.rows}
    assert r2.receipt["exclusions"] == {"excluded: subject erased (Art. 17)": bank.rows}
    assert lin.subject(bank.subject).outputs[-1].run_id == r.run_id  # not in the new output


def test_second_erasure_unknown_subject_and_no_personal_data_in_audit(bank) -> None:
    ws, pol = bank.ws, bank.policy
    reqs = Requests(ws, pol)
    first = reqs.run(reqs.open("erasure", bank.subject).id)
    again = reqs.run(reqs.open("erasure", bank.subject).id)
    assert again.result["outcome"] == "already erased"
    assert first.id in again.result["answer"]
    assert again.result["stores"]["transactions"]["rows"] == 0
    unknown = reqs.run(reqs.open("access", "NOBODY-42").id)
    assert unknown.status == "completed" and unknown.result["outcome"] == "no data held"
    assert "NOBODY" not in json.dumps(unknown.to_dict())
    blob = b"".join(_events(ws))
    assert bank.subject.encode() not in blob and b"NOBODY-42" not in blob


def _events(ws) -> list[bytes]:
    from veil.store.schema import audit_leaves

    with ws.engine.connect() as conn:
        return [bytes(r[0]) for r in conn.execute(sa.select(audit_leaves.c.event))]


def test_the_certificate_says_the_model_to_retrain_as_propagation_left_it(bank) -> None:
    """`rebuild.models` is read after the propagate step flagged the model (it said
    needs_retraining false, 0 subjects, beside propagation's 1)."""
    from veil.lifecycle import requests

    r = veil.run(bank.policy, "personalised_offers", str(bank.csv), "offers.parquet",
                 workspace=bank.ws)
    Lineage(bank.ws).register_model("offers-model", [r.run_id], actor="ml-team")
    reqs = requests(bank.ws, bank.policy)
    e = reqs.run(reqs.open("erasure", bank.subject, verification="signed form").id)
    cert = json.loads(Path(e.result["certificate"][0]).read_text())
    (model,) = cert["rebuild"]["models"]
    (flagged,) = cert["propagation"]["models_to_retrain"]
    assert (model["name"], model["needs_retraining"], model["affected_subjects"]) == \
        ("offers-model", True, 1) == (flagged["name"], True, flagged["affected_subjects"])
    assert Lineage(bank.ws).model("offers-model").retrain_subjects == 1
