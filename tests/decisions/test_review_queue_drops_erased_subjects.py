"""A decision about a subject erased since (Art. 17) leaves the review queue: routed or
contested, it can no longer be reviewed (the key that seals the rationale is shredded)."""

# ruff: noqa: F811  (pytest fixtures imported from ledger_fixtures are parameters here)
from __future__ import annotations

from tests.decisions.ledger_fixtures import MODEL
from tests.decisions.test_ledger_and_rights import subject  # noqa: F401  (the fixture)

FEATS = {"annual_income": 28000.0, "account_balance": 120.5}


def test_an_erased_subjects_decisions_leave_the_queue(ledger, subject) -> None:
    from veil.rights import Requests

    routed = ledger.record(MODEL, subject, FEATS, 0.1)  # a refusal: routed
    contested = ledger.record(MODEL, subject, FEATS, 0.9)
    ledger.contest(contested.id, "my view", by="subject")
    other = ledger.record(MODEL, "S-other", FEATS, 0.1)
    assert {i.decision_id for i in ledger.review_queue()} == {routed.id, contested.id, other.id}
    reqs = Requests(ledger.workspace, ledger.policy)
    reqs.run(reqs.open("erasure", subject, verification="ID checked").id)
    items, waiting, _ = ledger.review_queue_counted()
    assert [i.decision_id for i in items] == [other.id] and waiting == 1
    assert ledger.get(routed.id).status == "review"  # the record itself stays
