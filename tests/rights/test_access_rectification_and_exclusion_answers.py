"""What access, portability, rectification, restriction and objection answer: every store
(portability: only what was provided), rectifications that found nothing say so, exclusions
belong to their own request, and the lineage index finds the subject's outputs in one bucket."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

import veil
from veil.errors import InputError
from veil.rights import Requests, load_store


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


def test_access_covers_every_store_portability_only_provided(bank, edited_policy) -> None:
    pol = edited_policy(before_datasets=ARCHIVE)
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
