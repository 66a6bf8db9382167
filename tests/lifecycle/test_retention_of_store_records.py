"""The policy's `retention:` periods reach the store's own records: a closed request past its
period keeps only a tombstone (id, kind, dates, pseudonym) and its package files go; ended
consents lose their evidence past the period; open requests and live consents are untouched."""

from __future__ import annotations

import sqlalchemy as sa

from veil.audit.log import AuditLog
from veil.consent.ledger import Ledger
from veil.lifecycle import sweep
from veil.policy import load_policy
from veil.rights import Requests
from veil.sample import SAMPLE_POLICY
from veil.store.schema import consent_events, dsr_requests, dsr_steps


def test_closed_requests_become_tombstones_and_ended_consents_lose_evidence(workspace,
                                                                            clock_at):
    clock_at("2033-01-01T00:00:00Z")  # the machine's clock, years on
    pol = load_policy(SAMPLE_POLICY)  # requests: 3 years, consent_evidence: 6 years
    reqs = Requests(workspace, pol)
    closed = reqs.open("access", "CUST-1", received="2026-01-05T10:00:00Z",
                       verification="passport seen at the branch")
    reqs.close(closed.id, "refused by phone: identity not confirmed")
    kept_open = reqs.open("access", "CUST-2", verification="passport seen")
    pkg = reqs.folder(closed.id)
    pkg.mkdir(parents=True)
    (pkg / "package.json.enc").write_bytes(b"\x28ciphertext")
    led = Ledger(workspace, pol)
    led.add_notice("personalised_offers", "1", "We suggest offers.", created_by="t",
                   effective="2024-01-01T00:00:00Z")
    ev = "sha256:" + "ab" * 32
    for s in ("CUST-1", "CUST-2"):
        led.grant(s, "personalised_offers", channel="web_form", action="ticked the box",
                  collector="t", notice_version="1", evidence=ev, time="2026-01-02T00:00:00Z")
    led.withdraw("CUST-1", "personalised_offers", channel="web_form", collector="t",
                 time="2026-02-01T00:00:00Z")

    early = sweep(workspace, pol, now="2028-06-01T00:00:00Z")  # inside both periods
    assert early.requests == [] and early.consent_events == 0

    dry = sweep(workspace, pol, now="2033-01-01T00:00:00Z", dry_run=True)
    assert dry.requests == [closed.id] and dry.consent_events == 1
    assert pkg.exists()

    rep = sweep(workspace, pol, now="2033-01-01T00:00:00Z")
    assert rep.requests == [closed.id] and rep.consent_events == 1
    assert not pkg.exists()
    with workspace.engine.connect() as conn:
        row = conn.execute(sa.select(dsr_requests).where(dsr_requests.c.id == closed.id)).one()
        other = conn.execute(sa.select(dsr_requests).where(
            dsr_requests.c.id == kept_open.id)).one()
        steps = conn.execute(sa.select(sa.func.count()).select_from(dsr_steps).where(
            dsr_steps.c.request_id == closed.id)).scalar()
        evs = conn.execute(sa.select(consent_events.c.kind, consent_events.c.evidence,
                                     consent_events.c.action)
                           .order_by(consent_events.c.seq)).all()
    assert (row.kind, row.status, row.subject) == ("access", "closed", closed.subject)
    assert row.received_at is not None and row.closed_at is not None
    assert row.sealed is None and row.verification is None and row.close_note is None
    assert "tombstone" in row.result and steps == 0
    assert other.verification == "passport seen" and other.sealed is not None
    grants = [(e.evidence, e.action) for e in evs if e.kind == "granted"]
    assert sorted(grants, key=str) == sorted([(None, None), (ev, "ticked the box")], key=str)
    #        CUST-1's ended consent lost its evidence; CUST-2 still consents and keeps it
    assert reqs.get(closed.id).to_dict()["result"]["outcome"].startswith(
        "record reduced to a tombstone")
    (event,) = AuditLog(workspace).events(action="retention.records")
    assert event.event.counts == {"requests": 1, "consent_events": 1}
    assert sweep(workspace, pol, now="2033-01-01T00:00:00Z").requests == []  # done once
