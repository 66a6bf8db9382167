"""Requests: deadlines, refusals, reruns after a failure, legal holds, restriction, objection,
rectification, and the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import veil
from veil.cli.main import main
from veil.errors import InputError, PolicyError, RunRefused, StoreError
from veil.policy import parse_policy
from veil.rights import Requests, Store
from veil.rights.requests import add_months
from veil.sample import SAMPLE_POLICY


def _policy_with(extra: str):  # type: ignore[no-untyped-def]
    text = Path(SAMPLE_POLICY).read_text() + extra
    p = Path("policy.yaml")
    p.write_text(text)
    return veil.load_policy(p)


def test_due_dates_extension_and_order(bank) -> None:
    reqs = Requests(bank.ws, bank.policy)
    now = datetime.now(UTC)
    late = reqs.open("access", bank.subject, received=now - timedelta(days=40))
    soon = reqs.open("access", bank.other, received=now - timedelta(days=27))
    fresh = reqs.open("restriction", bank.other)
    assert late.due_at == add_months(late.received_at, 1)
    assert [r.id for r in reqs.list()] == [late.id, soon.id, fresh.id]
    assert [r.urgency() for r in reqs.list()] == ["overdue", "due soon", ""]
    with pytest.raises(InputError, match=r"was due on .*Art. 12\(3\).*overdue"):
        reqs.extend(late.id, 2, "too late: the first month has passed")
    ext = reqs.extend(soon.id, 2, "complex: records in 14 systems")
    assert ext.due_at == add_months(soon.received_at, 3) and ext.extended_months == 2
    with pytest.raises(InputError, match="at most two further months"):
        reqs.extend(soon.id, 1, "more")
    with pytest.raises(InputError, match="reason"):
        reqs.extend(fresh.id, 1, " ")
    closed = reqs.close(fresh.id, "withdrawn by the subject")
    assert closed.status == "closed" and fresh.id not in [r.id for r in reqs.list()]
    assert add_months(datetime(2025, 1, 31, tzinfo=UTC), 1) == datetime(2025, 2, 28, tzinfo=UTC)


def test_refused_types_are_recorded(bank) -> None:
    reqs = Requests(bank.ws, bank.policy)
    with pytest.raises(RunRefused, match="Art. 21.*personalised_offers"):
        reqs.open("objection", bank.subject, purposes=["personalised_offers"])
    refused = reqs.list(status="refused")
    assert len(refused) == 1 and "Art. 21" in refused[0].result["reason"]
    pol = _policy_with("rights: {refuse: [portability], refuse_reason: 'see our notice'}\n")
    with pytest.raises(RunRefused, match="see our notice"):
        Requests(bank.ws, pol).open("portability", bank.subject)
    with pytest.raises(InputError, match="unknown request type"):
        reqs.open("delete-me", bank.subject)
    with pytest.raises(PolicyError, match="unknown purpose"):
        reqs.open("restriction", bank.subject, purposes=["nope"])


def test_failed_request_reruns_and_nothing_is_lost(bank) -> None:
    reqs = Requests(bank.ws, bank.policy)
    store = Store(bank.policy, "transactions", bank.ws)
    with store.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE transactions RENAME TO tx_moved")
    rid = reqs.open("erasure", bank.subject).id
    with pytest.raises(StoreError, match="does not exist"):
        reqs.run(rid)
    rec = reqs.get(rid)
    assert rec.status == "failed" and rec.steps[0]["status"] == "failed"
    from veil.keys.keystore import SqlSubjectKeyStore
    assert SqlSubjectKeyStore(bank.ws.engine, "").get(rec.subject) is None  # nothing shredded
    with store.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE tx_moved RENAME TO transactions")
    store._table = None
    done = reqs.run(rid)
    assert done.status == "completed" and done.result["stores"]["transactions"]["rows"] == bank.rows
    locate = next(s for s in done.steps if s["step"] == "locate")
    assert locate["attempts"] == 2 and locate["status"] == "done"
    assert reqs.run(rid).status == "completed"  # idempotent


def test_legal_hold_restricts_instead_of_erasing(bank) -> None:
    pol = _policy_with("legal_holds:\n  aml:\n    legal_basis: AMLD (EU) 2015/849 Art. 40\n"
                       "    period: 5y\n    datasets: [transactions]\n")
    reqs = Requests(bank.ws, pol)
    e = reqs.run(reqs.open("erasure", bank.subject).id)
    assert e.result["outcome"] == "erased except data under legal hold"
    assert "aml (AMLD (EU) 2015/849 Art. 40)" in e.result["answer"]
    assert e.result["stores"]["transactions"]["action"] == "restricted (legal hold)"
    assert Store(pol, "transactions", bank.ws).count(bank.subject) == bank.rows  # kept
    r = veil.run(pol, "fraud_detection", str(bank.csv), "fraud.parquet", workspace=bank.ws)
    assert r.receipt["rows"]["dropped"]["excluded: subject erased (Art. 17)"] == bank.rows


def test_restriction_objection_and_lift(bank) -> None:
    reqs = Requests(bank.ws, bank.policy)
    obj = reqs.run(reqs.open("objection", bank.subject).id)
    assert obj.result["purposes"] == ["credit_scoring"]
    r = veil.run(bank.policy, "credit_scoring", str(bank.csv), "c.parquet", workspace=bank.ws)
    assert r.receipt["rows"]["dropped"] == {"excluded: subject objected (Art. 21)": bank.rows}
    res = reqs.run(reqs.open("restriction", bank.other,
                             purposes=["personalised_offers"]).id)
    r = veil.run(bank.policy, "personalised_offers", str(bank.csv), "o.parquet",
                 workspace=bank.ws)
    assert r.receipt["exclusions"] == {"excluded: processing restricted (Art. 18)":
                                       Store(bank.policy, "transactions", bank.ws)
                                       .count(bank.other)}
    reqs.lift(res.id, "accuracy verified; subject informed")
    reqs.lift(obj.id, "compelling grounds documented")
    r = veil.run(bank.policy, "credit_scoring", str(bank.csv), "c2.parquet", workspace=bank.ws)
    assert r.receipt["rows"]["dropped"] == {} and "exclusions" not in r.receipt


def test_rectification(bank) -> None:
    reqs = Requests(bank.ws, bank.policy)
    with pytest.raises(InputError, match="not declared"):
        reqs.open("rectification", bank.subject,
                  details={"corrections": {"shoe_size": "9"}, "dataset": "transactions"})
    r = reqs.run(reqs.open("rectification", bank.subject,
                           details={"corrections": {"email": "new@example.eu",
                                                    "annual_income": "51000"}}).id)
    assert r.result["stores"]["transactions"]["rows"] == bank.rows
    assert "Credit risk modelling team" in r.result["notify_recipients"]
    rows = Store(bank.policy, "transactions", bank.ws).rows(bank.subject)
    assert {x["email"] for x in rows} == {"new@example.eu"}
    assert {x["annual_income"] for x in rows} == {51000.0}
    assert "new@example.eu" not in json.dumps(r.to_dict())


def test_policy_errors_name_the_place() -> None:
    text = Path(SAMPLE_POLICY).read_text()
    with pytest.raises(PolicyError, match=r"p.yaml:\d+: legal_holds.aml.period"):
        parse_policy(text + "legal_holds:\n  aml: {legal_basis: x, period: soon, "
                     "datasets: [transactions]}\n", source="p.yaml")
    with pytest.raises(PolicyError, match=r"store: erasure: mask needs"):
        parse_policy(text.replace("erasure: delete ", "erasure: mask   "), source="p.yaml")


def test_cli_end_to_end(bank, capsys) -> None:
    def veil_cli(*args: str) -> int:
        return main(list(args))

    assert veil_cli("run", "-p", "sample", "--purpose", "personalised_offers", "tx.csv",
                    "-o", "offers.parquet", "--json") == 0
    run_id = json.loads(capsys.readouterr().out)["run_id"]
    assert veil_cli("lineage", "register-model", "offers-v1", "--trained-on",
                    "offers.parquet") == 0
    capsys.readouterr()
    assert veil_cli("lineage", "subject", bank.subject, "--json") == 0
    s = json.loads(capsys.readouterr().out)
    assert [o["run_id"] for o in s["outputs"]] == [run_id]
    assert veil_cli("dsr", "open", "access", bank.subject, "-p", "sample", "--json") == 0
    rid = json.loads(capsys.readouterr().out)["id"]
    assert veil_cli("dsr", "run", rid) == 0
    assert veil_cli("dsr", "export", rid, "-o", "pkg", "--reason", "portal") == 0
    assert json.loads(Path("pkg/package.json").read_text())["subject"]["id"] == bank.subject
    capsys.readouterr()
    assert veil_cli("dsr", "open", "erasure", bank.subject, "-p", "sample", "--json") == 0
    eid = json.loads(capsys.readouterr().out)["id"]
    assert veil_cli("dsr", "run", eid) == 0
    out = capsys.readouterr().out
    assert "offers-v1" in out and "certificate" in out and bank.subject not in out
    assert veil_cli("dsr", "list", "--all") == 0
    assert veil_cli("dsr", "open", "objection", bank.subject, "-p", "sample",
                    "--purpose", "fraud_detection") == 6
    assert veil_cli("dsr", "show", "zzzzzz") == 4
    assert veil_cli("lineage", "show", "nope") == 4
    err = capsys.readouterr().err
    assert "Art. 21" in err and bank.subject not in err
