"""The review queue is read from its indexes (migration 0017), not from every decision: the
counts cover every waiting decision whatever the limit, the cut keeps the soonest due first,
contests set the due date, reviewed decisions leave, and on SQLite the routed branch is a
search of the covering partial index."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

FEATS = {"annual_income": 30_000.0, "account_balance": 200.0}


def _batch(ledger, n: int, refused_every: int = 3) -> list[str]:
    import pyarrow as pa

    scores = [0.1 if i % refused_every == 0 else 0.9 for i in range(n)]
    table = pa.table({"annual_income": [30_000.0] * n, "account_balance": [1.0] * n})
    return list(ledger.record_batch("credit-pd", [f"Q{i:04d}" for i in range(n)], table,
                                    scores))


def test_counts_cover_all_and_the_cut_is_the_soonest(ledger) -> None:
    ids = _batch(ledger, 12)
    routed = [d for i, d in enumerate(ids) if i % 3 == 0]
    contested = ids[1]  # approved, then contested: due by contest_due
    ledger.contest(contested, "My income is higher than recorded.", by="subject")
    reviewed = routed[0]
    ledger.review(reviewed, reviewer="Credit team", outcome="approve", rationale="Checked.")

    full = ledger.review_queue()
    assert {i.decision_id for i in full} == {*routed[1:], contested}
    assert [(i.due, i.decision_id) for i in full] == sorted((i.due, i.decision_id) for i in full)
    assert {i.why for i in full if i.decision_id == contested} == {"contest"}

    later = datetime.now(UTC) + timedelta(days=400)
    cut, waiting, overdue = ledger.review_queue_counted(later, limit=2)
    assert [i.decision_id for i in cut] == [i.decision_id for i in full[:2]]
    assert (waiting, overdue) == (len(full), len(full))
    assert ledger.review_queue_counted(limit=1)[1:] == (len(full), 0)


def test_a_contest_of_a_routed_decision_is_due_when_the_contest_is(ledger) -> None:
    rec = ledger.record("credit-pd", "QC-1", FEATS, 0.1)
    (before,) = ledger.review_queue()
    assert before.why == rec.review
    ledger.contest(rec.id, "Please look again.", by="subject")
    (after,) = ledger.review_queue()
    assert after.why == "contest" and after.decision_id == rec.id


def test_the_routed_branch_searches_the_covering_partial_index(ledger) -> None:
    from veil.decisions.review import _branches

    if ledger.engine.dialect.name != "sqlite":
        return  # the plan's wording is SQLite's; PostgreSQL runs the same queries above
    routed, _ = _branches()
    sql = str(routed.compile(ledger.engine, compile_kwargs={"literal_binds": True}))
    with ledger.engine.connect() as conn:
        plan = " | ".join(r[3] for r in conn.execute(sa.text("EXPLAIN QUERY PLAN " + sql)))
    assert "USING INDEX ix_decisions_review_due" in plan, plan
    assert "SCAN" not in plan, plan  # the erased check: one probe of the exclusions' key
    assert "SEARCH rights_exclusions USING INDEX sqlite_autoindex_rights_exclusions_1" in plan
