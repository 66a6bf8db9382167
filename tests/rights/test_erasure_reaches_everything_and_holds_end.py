"""Erasure (Art. 17) reaches the subject's earlier requests and consent ids and keeps them out
of later runs; masked rows say what remains and are not found again; legal holds keep the
fields they cover for calendar periods, and a rerun erases them once the hold ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

import veil
from veil.errors import RunRefused
from veil.rights import Requests, Store
from veil.rights.steps import hold_end
from veil.store.schema import consent_events, consent_state, dsr_requests

ERASED = "excluded: subject erased (Art. 17)"


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


def test_erased_subjects_are_counted_as_erased_in_consent_purposes(bank) -> None:
    reqs = Requests(bank.ws, bank.policy)
    reqs.run(reqs.open("erasure", bank.subject).id)
    r = veil.run(bank.policy, "personalised_offers", str(bank.csv), "o.parquet",
                 workspace=bank.ws)
    assert r.receipt["exclusions"] == {ERASED: bank.rows}
    assert r.receipt["rows"]["dropped"][ERASED] == bank.rows


def test_mask_erasure_says_what_remains_and_is_not_found_again(bank, edited_policy) -> None:
    pol = edited_policy(replace=("erasure: delete ", "erasure: mask\n      mask: [email, phone, "
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


def test_hold_periods_are_calendar_years() -> None:
    assert hold_end(datetime(2024, 2, 29, 10, tzinfo=UTC), "5y") == datetime(2029, 2, 28, 10,
                                                                              tzinfo=UTC)
    assert hold_end(datetime(2025, 3, 1, tzinfo=UTC), "5 years") == datetime(2030, 3, 1,
                                                                            tzinfo=UTC)
    assert hold_end(datetime(2025, 1, 31, tzinfo=UTC), "P1M") == datetime(2025, 2, 28,
                                                                         tzinfo=UTC)


def test_hold_by_categories_keeps_those_fields_and_ends(bank, edited_policy) -> None:
    pol = edited_policy("legal_holds:\n  aml:\n    legal_basis: AMLD (EU) 2015/849 Art. 40\n"
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


def _cells(engine: sa.Engine) -> list[tuple[str, str, str]]:
    """Every text, JSON and binary value of every table: (table, column, text)."""
    import json

    md = sa.MetaData()
    md.reflect(engine)
    out = []
    with engine.connect() as conn:
        for table in md.sorted_tables:
            for row in conn.execute(sa.select(table)):
                for col, v in row._mapping.items():
                    if isinstance(v, bytes | memoryview):
                        v = bytes(v).decode("latin-1")
                    elif isinstance(v, dict | list):
                        v = json.dumps(v, ensure_ascii=False)
                    if isinstance(v, str):
                        out.append((table.name, col, v))
    return out


def test_erasure_clears_the_free_text_of_earlier_requests(bank) -> None:
    """Verification, extension reason, close and lift notes are free text that may quote the
    subject (passport number, phone, e-mail): gone everywhere in the workspace database."""
    secrets = ["passport C01X00T47", "+48605755047", "dagmara_truchan42@gmail.com",
               "Dagmara Truchan said"]
    reqs = Requests(bank.ws, bank.policy)
    a = reqs.open("access", bank.subject, verification=f"{secrets[0]} of Dagmara")
    reqs.extend(a.id, 1, f"asked by phone {secrets[1]}")
    reqs.run(a.id)
    reqs.close(a.id, f"sent to {secrets[2]}")
    r = reqs.run(reqs.open("restriction", bank.subject, verification="branch").id)
    reqs.lift(r.id, f"{secrets[3]} the data is right")
    haystack = _cells(bank.ws.engine)
    assert all(any(s in v for _, _, v in haystack) for s in secrets)  # there before
    e = reqs.run(reqs.open("erasure", bank.subject, verification="signed form").id)
    assert e.status == "completed"
    left = [(t, c, s) for t, c, v in _cells(bank.ws.engine) for s in secrets if s in v]
    assert left == []
    shown = reqs.get(a.id).to_dict()
    assert (shown["verification"], shown["extension_reason"], shown["close_note"]) == \
        ("(erased)", "(erased)", "(erased)")
    assert reqs.get(r.id).result["lifted"]["note"] == "(erased)"


def test_an_erasure_holding_data_is_not_closed_before_the_hold_is_released(
        bank, edited_policy) -> None:
    """Closed, it would leave `veil dsr list` and `run` would refuse it: the held rows would
    stay for ever. The refusal says until when and what to do; once released, it closes."""
    from veil.errors import ConflictError

    pol = edited_policy("legal_holds:\n  aml:\n    legal_basis: AMLD (EU) 2015/849 Art. 40\n"
                        "    period: 5y\n    datasets: [transactions]\n")
    reqs = Requests(bank.ws, pol)
    e = reqs.run(reqs.open("erasure", bank.subject,
                           received=datetime(2024, 2, 29, 9, tzinfo=UTC)).id)
    assert e.hold_until == datetime(2029, 2, 28, 9, tzinfo=UTC)
    with pytest.raises(ConflictError, match=r"legal hold until 2029-02-28T09:00:00Z.*"
                       rf"`veil dsr run {e.id}`"):
        reqs.close(e.id, "subject told: data kept under AML hold")
    with bank.ws.engine.begin() as conn:  # time passes: the hold ends
        conn.execute(dsr_requests.update().where(dsr_requests.c.id == e.id).values(
            hold_until=datetime.now(UTC) - timedelta(days=1)))
    with pytest.raises(ConflictError, match=rf"hold ended .* `veil dsr run {e.id}`"):
        reqs.close(e.id, "subject told")
    assert reqs.get(e.id).status == "completed" and reqs.get(e.id).close_note is None
    assert [r.urgency() for r in reqs.list() if r.id == e.id] == ["hold ended: run again"]
    assert reqs.run(e.id).hold_until is None
    assert Store(pol, "transactions", bank.ws).count(bank.subject) == 0
    assert reqs.close(e.id, "subject told: held data erased").status == "closed"


def test_a_held_erasure_closed_earlier_is_still_listed_and_released(bank, edited_policy) -> None:
    """Workspaces from before that refusal may hold a closed erasure keeping data: it stays in
    `veil dsr list`, and its release run erases the data and leaves it closed."""
    pol = edited_policy("legal_holds:\n  aml:\n    legal_basis: AMLD (EU) 2015/849 Art. 40\n"
                        "    period: 5y\n    datasets: [transactions]\n")
    reqs = Requests(bank.ws, pol)
    e = reqs.run(reqs.open("erasure", bank.subject).id)
    closed_at = datetime.now(UTC)
    with bank.ws.engine.begin() as conn:  # closed as an older Veil allowed
        conn.execute(dsr_requests.update().where(dsr_requests.c.id == e.id).values(
            status="closed", close_note="subject told", closed_at=closed_at))
    assert [r.urgency() for r in reqs.list() if r.id == e.id] == ["legal hold"]
    assert reqs.run(e.id).status == "closed"  # the hold still runs: nothing to do yet
    assert Store(pol, "transactions", bank.ws).count(bank.subject) == bank.rows
    with bank.ws.engine.begin() as conn:  # time passes: the hold ends
        conn.execute(dsr_requests.update().where(dsr_requests.c.id == e.id).values(
            hold_until=datetime.now(UTC) - timedelta(days=1)))
    assert [r.urgency() for r in reqs.list() if r.id == e.id] == ["hold ended: run again"]
    done = reqs.run(e.id)
    assert (done.status, done.hold_until, done.close_note) == ("closed", None, "subject told")
    assert Store(pol, "transactions", bank.ws).count(bank.subject) == 0
    assert reqs._sealed(e.id) is None and e.id not in [r.id for r in reqs.list()]
