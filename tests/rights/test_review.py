"""The DPO review of data-subject rights (issue 9): erasure reaches earlier requests and the
consent ledger, leases and compare-and-swap runs, certificates from the effects, the lineage
index, access to every store, rectification answers, per-request exclusions, masking, legal
hold periods and releases, deadlines, type checks at open, store errors, audit-first
completion, private files."""

from __future__ import annotations

import json
import os
import stat
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

import veil
from veil.cli.main import main
from veil.errors import ConflictError, InputError, PolicyError, RunRefused, StoreError
from veil.rights import Requests, Store, load_store
from veil.rights.steps import hold_end
from veil.sample import SAMPLE_POLICY
from veil.store.schema import consent_events, consent_state, dsr_requests

ERASED = "excluded: subject erased (Art. 17)"


def _policy(text: str = "", *, before_datasets: str = "", replace: tuple[str, str] | None = None):  # type: ignore[no-untyped-def]
    base = Path(SAMPLE_POLICY).read_text()
    if replace:
        assert replace[0] in base
        base = base.replace(replace[0], replace[1])
    if before_datasets:
        base = base.replace("datasets:\n  transactions:", "datasets:\n" + before_datasets
                            + "  transactions:", 1)
    p = Path("policy.yaml")
    p.write_text(base + text)
    return veil.load_policy(p)


def _dsr_events(ws, request_id: str, action: str) -> int:  # type: ignore[no-untyped-def]
    from veil.audit.log import AuditLog

    return sum(1 for le in AuditLog(ws).events(action=action, outcome="success")
               if le.event.details.get("request") == request_id)


# 1 ----------------------------------------------------------------------------------------------

def test_erasure_destroys_earlier_requests_and_consent_ids(bank) -> None:
    reqs = Requests(bank.ws, bank.policy)
    access = reqs.run(reqs.open("access", bank.subject).id)
    rect = reqs.open("rectification", bank.subject, details={"corrections": {"city": "Gent"}})
    files = [Path(f["path"]) for f in access.result["files"]]
    assert all(f.exists() for f in files)
    e = reqs.run(reqs.open("erasure", bank.subject).id)
    assert e.status == "completed"
    assert sorted(e.result["stores"]) == ["transactions"]
    assert not any(f.exists() for f in files)  # package files deleted
    with pytest.raises(RunRefused, match=r"destroyed .* by erasure request " + e.id):
        reqs.export(access.id, "out", reason="after erasure")
    assert not Path("out/package.json").exists()
    for rid in (access.id, rect.id):  # no seal left anywhere: subject id and new values gone
        assert reqs._sealed(rid) is None
        with pytest.raises(RunRefused, match="deleted by an erasure"):
            reqs._unseal(rid, reqs._sealed(rid))
    with bank.ws.engine.connect() as conn:
        ids = set(conn.execute(sa.select(consent_events.c.subject)).scalars())
        ids |= set(conn.execute(sa.select(consent_state.c.subject)).scalars())
    assert bank.subject not in ids and f"erased:{e.subject}" in ids and bank.other in ids
    assert e.result["consent_withdrawn"] == ["personalised_offers"]


# 2, 3, 16 ---------------------------------------------------------------------------------------

def test_killed_run_is_taken_over_after_the_lease(bank) -> None:
    reqs = Requests(bank.ws, bank.policy)
    rid = reqs.open("erasure", bank.subject).id
    now = datetime.now(UTC)
    with bank.ws.engine.begin() as conn:  # a run killed just after taking the request
        conn.execute(dsr_requests.update().where(dsr_requests.c.id == rid).values(
            status="running", lease_owner="dead-run", running_since=now))
    with pytest.raises(ConflictError, match="is being run .* --force"):
        reqs.run(rid)
    with bank.ws.engine.begin() as conn:
        conn.execute(dsr_requests.update().where(dsr_requests.c.id == rid).values(
            running_since=now - timedelta(minutes=45)))
    done = reqs.run(rid)
    assert done.status == "completed" and done.lease_owner is None
    rid2 = reqs.open("access", bank.other).id
    with bank.ws.engine.begin() as conn:
        conn.execute(dsr_requests.update().where(dsr_requests.c.id == rid2).values(
            status="running", lease_owner="dead-run", running_since=datetime.now(UTC)))
    assert reqs.run(rid2, force=True).status == "completed"


def test_concurrent_runs_act_once(bank) -> None:
    rid = Requests(bank.ws, bank.policy).open("erasure", bank.subject).id
    results: list[object] = []
    barrier = threading.Barrier(2)

    def go() -> None:
        reqs = Requests(bank.ws, bank.policy)
        barrier.wait()
        try:
            results.append(reqs.run(rid))
        except ConflictError as exc:
            results.append(exc)

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    recs = [r for r in results if not isinstance(r, Exception)]
    assert len(recs) >= 1 and all(isinstance(r, ConflictError) for r in results
                                  if isinstance(r, Exception))
    rec = Requests(bank.ws, bank.policy).get(rid)
    assert rec.status == "completed"
    assert rec.result["stores"]["transactions"]["rows"] == bank.rows
    cert = json.loads(Path(rec.result["certificate"][0]).read_text())
    assert cert["stores"]["transactions"]["rows"] == bank.rows
    assert cert["subject_key"] == "destroyed"
    assert _dsr_events(bank.ws, rid, "dsr.run") == 1


def test_crash_after_the_effect_keeps_the_certificate_true(bank, monkeypatch) -> None:
    reqs = Requests(bank.ws, bank.policy)
    rid = reqs.open("erasure", bank.subject).id
    real = Requests._step
    crashed: list[str] = []

    def crash(self, request_id, step, status, detail, owner=None, conn=None):  # type: ignore[no-untyped-def]
        if step == "store:transactions" and status == "done" and not crashed:
            crashed.append(step)
            raise KeyboardInterrupt  # killed after deleting, before recording
        return real(self, request_id, step, status, detail, owner, conn)

    monkeypatch.setattr(Requests, "_step", crash)
    with pytest.raises(KeyboardInterrupt):
        reqs.run(rid)
    monkeypatch.setattr(Requests, "_step", real)
    assert Store(bank.policy, "transactions", bank.ws).count(bank.subject) == 0
    rec = reqs.run(rid)
    st = rec.result["stores"]["transactions"]
    assert (st["rows"], st["deleted_earlier"], st["remaining"]) == (bank.rows, bank.rows, 0)
    step = next(s for s in rec.steps if s["step"] == "store:transactions")
    assert step["attempts"] == 2


def test_interrupted_completion_writes_the_audit_event_once(bank) -> None:
    reqs = Requests(bank.ws, bank.policy)
    rid = reqs.open("restriction", bank.subject).id
    assert _dsr_events(bank.ws, rid, "dsr.open") == 1
    reqs.run(rid)
    assert _dsr_events(bank.ws, rid, "dsr.run") == 1
    with bank.ws.engine.begin() as conn:  # the status change was lost after the audit event
        conn.execute(dsr_requests.update().where(dsr_requests.c.id == rid).values(
            status="running", lease_owner="gone", running_since=datetime.now(UTC)))
    assert reqs.run(rid, force=True).status == "completed"
    assert _dsr_events(bank.ws, rid, "dsr.run") == 1


# 4 ----------------------------------------------------------------------------------------------

def test_lineage_lookup_reads_one_bucket(bank) -> None:
    from veil.lineage import Lineage, PseudonymSet, bucket_of
    from veil.store.schema import lineage_subjects

    r1 = veil.run(bank.policy, "credit_scoring", str(bank.csv), "a.parquet", workspace=bank.ws)
    r2 = veil.run(bank.policy, "fraud_detection", str(bank.csv), "b.parquet", workspace=bank.ws)
    lin = Lineage(bank.ws)
    tok = lin.token(bank.subject)
    with bank.ws.engine.connect() as conn:
        rows = conn.execute(sa.select(lineage_subjects.c.run_id, lineage_subjects.c.bucket,
                                      lineage_subjects.c.subjects)).all()
    assert {r.run_id for r in rows} == {r1.run_id, r2.run_id}
    assert all(len(r.subjects) % 16 == 0 for r in rows)
    mine = [r for r in rows if r.bucket == bucket_of(tok)]
    assert all(tok in PseudonymSet.from_bytes(bytes(r.subjects)) for r in mine)
    assert [o.run_id for o in lin.subject(bank.subject).outputs] == [r1.run_id, r2.run_id]
    n = r1.receipt["lineage"]["subjects"]
    assert len(lin.subjects_of(r1.run_id)) == n
    assert sorted(lin.subjects_of(r1.run_id)) == lin.subjects_of(r1.run_id)


# 5, 6 -------------------------------------------------------------------------------------------

ARCHIVE = """\
  archive:
    description: Closed accounts kept for reference (no purpose uses them)
    source: core banking archive
    subject_id: customer_id
    store: {url: "${VEIL_SAMPLE_STORE:-sqlite:///bank.db}", table: archive}
    fields:
      customer_id: direct_identifier
      email: contact
"""


def test_access_covers_every_store_portability_only_provided(bank) -> None:
    pol = _policy(before_datasets=ARCHIVE)
    load_store(pol, "archive", bank.csv, bank.ws)
    reqs = Requests(bank.ws, pol)
    a = reqs.run(reqs.open("access", bank.subject).id)
    assert a.result["datasets"] == ["archive", "transactions"]
    assert a.result["rows"] == 2 * bank.rows
    p = reqs.run(reqs.open("portability", bank.subject).id)
    assert p.result["datasets"] == ["transactions"]


def test_rectification_says_when_nothing_was_corrected(bank) -> None:
    from veil.consent.ledger import Ledger

    Ledger(bank.ws, bank.policy).grant("NEW-0001", "personalised_offers", channel="web_form",
                                       action="ticked", collector="t", notice_version="1")
    veil.run(bank.policy, "credit_scoring", str(bank.csv), "c.parquet", workspace=bank.ws)
    from veil.lineage import Lineage

    Lineage(bank.ws).register_model("score.v1", ["c.parquet"], actor="ml")
    reqs = Requests(bank.ws, bank.policy)
    r = reqs.run(reqs.open("rectification", "NEW-0001",
                           details={"corrections": {"city": "Gent"}}).id)
    assert r.result["outcome"] == "no rows found" and "Nothing was corrected" in r.result["answer"]
    ok = reqs.run(reqs.open("rectification", bank.subject,
                            details={"corrections": {"city": "Gent"}}).id)
    assert ok.result["outcome"] == "rectified" and ok.result["rows"] == bank.rows
    assert ok.result["rebuild"]["models"] == ["score.v1"]


# 7, 14 ------------------------------------------------------------------------------------------

def test_set_never_echoes_and_types_are_checked_at_open(bank, capsys) -> None:
    assert main(["dsr", "open", "rectification", bank.subject, "-p", "sample",
                 "--set", "Jane Secret Doe"]) == 4
    err = capsys.readouterr().err
    assert "Secret" not in err and "--set #1" in err
    reqs = Requests(bank.ws, bank.policy)
    with pytest.raises(InputError, match="'annual_income': the new value is not a valid float"):
        reqs.open("rectification", bank.subject,
                  details={"corrections": {"annual_income": "lots"}})
    with pytest.raises(InputError, match="birth_date") as info:
        reqs.open("rectification", bank.subject,
                  details={"corrections": {"birth_date": "31/02/1990"}})
    assert "31/02" not in str(info.value)
    assert main(["dsr", "open", "rectification", bank.subject, "-p", "sample",
                 "--set", "phone=", "--json"]) == 0
    rid = json.loads(capsys.readouterr().out)["id"]
    reqs.run(rid)
    assert {r["phone"] for r in Store(bank.policy, "transactions", bank.ws)
            .rows(bank.subject)} == {None}


def test_purpose_and_status_are_checked(bank) -> None:
    reqs = Requests(bank.ws, bank.policy)
    with pytest.raises(InputError, match="--purpose is for restriction and objection"):
        reqs.open("access", bank.subject, purposes=["credit_scoring"])
    with pytest.raises(InputError, match="unknown status 'bogus'"):
        reqs.list(status="bogus")


# 8 ----------------------------------------------------------------------------------------------

def test_exclusions_belong_to_their_request(bank) -> None:
    reqs = Requests(bank.ws, bank.policy)
    a = reqs.run(reqs.open("restriction", bank.subject).id)
    b = reqs.run(reqs.open("restriction", bank.subject).id)
    reqs.lift(a.id, "accuracy verified; subject told")
    r = veil.run(bank.policy, "credit_scoring", str(bank.csv), "c.parquet", workspace=bank.ws)
    assert r.receipt["exclusions"] == {"excluded: processing restricted (Art. 18)": bank.rows}
    closed = reqs.close(b.id, "subject informed of the restriction")
    assert closed.status == "closed"
    lifted = reqs.lift(b.id, "restriction ended; subject told")
    assert lifted.result["lifted"]["purposes"] == ["*"]
    r = veil.run(bank.policy, "credit_scoring", str(bank.csv), "c2.parquet", workspace=bank.ws)
    assert "exclusions" not in r.receipt
    with pytest.raises(InputError, match="nothing to lift"):
        reqs.lift(b.id, "again")


# 9 ----------------------------------------------------------------------------------------------

def test_mask_erasure_says_what_remains_and_is_not_found_again(bank) -> None:
    pol = _policy(replace=("erasure: delete ", "erasure: mask\n      mask: [email, phone, "
                           "full_name]\n      #"))
    reqs = Requests(bank.ws, pol)
    e = reqs.run(reqs.open("erasure", bank.subject).id)
    assert e.result["outcome"] == "erased except masked rows kept"
    st = e.result["stores"]["transactions"]
    assert st["action"] == "masked" and st["rows"] == bank.rows
    assert st["fields"] == ["email", "phone", "full_name"]
    assert "iban" in st["kept_columns"] and "customer_id" in st["kept_columns"]
    assert st["still_identifies_subject"] and "iban" in e.result["answer"]
    again = reqs.run(reqs.open("erasure", bank.subject).id)
    assert again.result["outcome"] == "already erased"
    assert "nothing more was held" in again.result["answer"]
    assert again.result["stores"]["transactions"]["rows"] == 0


# 10 ---------------------------------------------------------------------------------------------

def test_hold_periods_are_calendar_years() -> None:
    assert hold_end(datetime(2024, 2, 29, 10, tzinfo=UTC), "5y") == datetime(2029, 2, 28, 10,
                                                                              tzinfo=UTC)
    assert hold_end(datetime(2025, 3, 1, tzinfo=UTC), "5 years") == datetime(2030, 3, 1,
                                                                            tzinfo=UTC)
    assert hold_end(datetime(2025, 1, 31, tzinfo=UTC), "P1M") == datetime(2025, 2, 28,
                                                                         tzinfo=UTC)


def test_hold_by_categories_keeps_those_fields_and_ends(bank) -> None:
    pol = _policy("legal_holds:\n  aml:\n    legal_basis: AMLD (EU) 2015/849 Art. 40\n"
                  "    period: 5y\n    categories: [transaction]\n")
    reqs = Requests(bank.ws, pol)
    e = reqs.run(reqs.open("erasure", bank.subject,
                           received=datetime(2024, 2, 29, 9, tzinfo=UTC)).id)
    assert e.result["outcome"] == "erased except data under legal hold"
    assert e.result["legal_holds"][0]["until"] == "2029-02-28T09:00:00Z"
    assert e.hold_until == datetime(2029, 2, 28, 9, tzinfo=UTC)
    st = e.result["stores"]["transactions"]
    assert "amount" in st["kept_fields"] and "email" in st["masked_fields"]
    rows = Store(pol, "transactions", bank.ws).rows(bank.subject)
    assert len(rows) == bank.rows and {r["email"] for r in rows} == {None}
    assert all(r["amount"] is not None for r in rows)
    assert reqs._sealed(e.id) is not None  # kept until the hold ends
    assert reqs.run(e.id).hold_until is not None  # not yet: nothing to do
    assert [r.urgency() for r in reqs.list() if r.id == e.id] == ["legal hold"]
    with bank.ws.engine.begin() as conn:  # time passes
        conn.execute(dsr_requests.update().where(dsr_requests.c.id == e.id).values(
            hold_until=datetime.now(UTC) - timedelta(days=1)))
    assert [r.urgency() for r in reqs.list() if r.id == e.id] == ["hold ended: run again"]
    done = reqs.run(e.id)
    assert done.status == "completed" and done.hold_until is None
    assert Store(pol, "transactions", bank.ws).count(bank.subject) == 0
    assert reqs._sealed(e.id) is None and done.result["legal_holds"] == []
    assert any(s["step"] == "certificate:final" for s in done.steps)


# 13 ---------------------------------------------------------------------------------------------

def test_erased_subjects_are_counted_as_erased_in_consent_purposes(bank) -> None:
    reqs = Requests(bank.ws, bank.policy)
    reqs.run(reqs.open("erasure", bank.subject).id)
    r = veil.run(bank.policy, "personalised_offers", str(bank.csv), "o.parquet",
                 workspace=bank.ws)
    assert r.receipt["exclusions"] == {ERASED: bank.rows}
    assert r.receipt["rows"]["dropped"][ERASED] == bank.rows


# 15, 17 -----------------------------------------------------------------------------------------

def test_store_errors_are_clear(bank, capsys) -> None:
    pol = _policy(replace=("${VEIL_SAMPLE_STORE:-sqlite:///bank.db}",
                           "mysql://u:pw@db.example/bank"))
    with pytest.raises(PolicyError, match=r"dataset 'transactions' needs the database driver"):
        Requests(bank.ws, pol).run(Requests(bank.ws, pol).open("erasure", bank.subject).id)
    missing = _policy(replace=("${VEIL_SAMPLE_STORE:-sqlite:///bank.db}",
                               "sqlite:///nowhere.db"))
    with pytest.raises(StoreError, match="does not exist: no file"):
        Store(missing, "transactions", bank.ws)
    assert not (Path(bank.ws.root) / "nowhere.db").exists()
    Path("bad.csv").write_text("customer_id,annual_income\nC1,12\nC2,lots\n")
    with pytest.raises(InputError):
        load_store(missing, "transactions", "bad.csv", bank.ws)
    assert not (Path(bank.ws.root) / "nowhere.db").exists()  # no empty database left
    pg = _policy(replace=("${VEIL_SAMPLE_STORE:-sqlite:///bank.db}",
                          "postgresql://veil:s3cret@127.0.0.1:1/bank"))
    with pytest.raises(StoreError, match="cannot connect to the database server") as info:
        Store(pg, "transactions", bank.ws).count("x")
    assert "s3cret" not in str(info.value)


def test_personal_data_files_are_private(workspace, tmp_path) -> None:
    from veil.sample import write_sample

    write_sample("tx.csv", 50, seed=1)
    pol = veil.load_policy(SAMPLE_POLICY)
    os.environ.pop("VEIL_SAMPLE_STORE", None)
    load_store(pol, "transactions", "tx.csv", workspace)
    db = Path(workspace.root) / "bank.db"
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    import pyarrow.csv as pcsv

    subject = pcsv.read_csv("tx.csv").column("customer_id")[0].as_py()
    reqs = Requests(workspace, pol)
    a = reqs.run(reqs.open("access", subject).id)
    files = reqs.export(a.id, "pkg", reason="portal")
    assert stat.S_IMODE(Path("pkg").stat().st_mode) == 0o700
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
