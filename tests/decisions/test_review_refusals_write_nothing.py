"""A review's outcome is one the ledger knows (approve, refuse, the automated one), checked
and screened before the write: a refused review writes nothing. Two contests (or reviews) of
one decision at the same moment: the second, re-checked inside its transaction, is refused."""

# ruff: noqa: F811  (pytest fixtures imported from ledger_fixtures are parameters here)
from __future__ import annotations

import threading
from typing import Any

import pytest
import sqlalchemy as sa

from tests.decisions.ledger_fixtures import MODEL
from veil.audit.log import AuditLog
from veil.decisions import review as review_mod
from veil.errors import ConflictError, InputError
from veil.store.schema import decision_events, decisions

FEATS = {"annual_income": 28000.0, "account_balance": 120.5}


def _rows(ledger: Any) -> int:
    with ledger.engine.connect() as conn:
        return sum(int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar())
                   for t in (decisions, decision_events))


@pytest.mark.parametrize("outcome", ["maybe", "approve, call Gunter Rörricht"])
def test_an_unknown_outcome_is_refused_and_nothing_is_written(ledger, outcome) -> None:
    rec = ledger.record(MODEL, "S-1", FEATS, 0.1)  # a refusal, routed to review
    before = _rows(ledger)
    with pytest.raises(InputError, match="outcome is one of approve, refuse") as exc:
        ledger.review(rec.id, reviewer="Credit review team", outcome=outcome, rationale="ok")
    assert "Rörricht" not in str(exc.value)
    assert _rows(ledger) == before and ledger.get(rec.id).status == "review"
    assert [i.decision_id for i in ledger.review_queue()] == [rec.id]
    final = ledger.review(rec.id, reviewer="Credit review team", outcome="approve",
                          rationale="ok")
    assert final.outcome == "approve"


def _race(ledger: Any, monkeypatch: Any, first: Any, second: Any) -> list[Any]:
    """Run ``first`` held inside its write transaction until ``second`` has passed its checks
    outside and is about to open its own; the results (or errors) of both."""
    inside, go, second_ready = threading.Event(), threading.Event(), threading.Event()
    real_tx = review_mod.write_transaction
    held = []

    def hook() -> None:
        if not held:
            held.append(1)
            inside.set()
            assert go.wait(30)

    def tx(*a: Any, **k: Any) -> Any:
        if threading.current_thread().name == "second":
            second_ready.set()
        return real_tx(*a, **k)

    monkeypatch.setattr(review_mod, "_after_write", hook)
    monkeypatch.setattr(review_mod, "write_transaction", tx)
    out: dict[str, Any] = {}

    def run(name: str, call: Any) -> None:
        try:
            out[name] = call()
        except Exception as exc:  # noqa: BLE001 - the result under test
            out[name] = exc

    a = threading.Thread(target=run, args=("first", first), name="first")
    a.start()
    assert inside.wait(30)
    b = threading.Thread(target=run, args=("second", second), name="second")
    b.start()
    assert second_ready.wait(30)
    go.set()
    a.join(30)
    b.join(30)
    return [out["first"], out["second"]]


def test_two_contests_at_once_record_one(ledger, monkeypatch) -> None:
    rec = ledger.record(MODEL, "S-1", FEATS, 0.9)
    first, second = _race(ledger, monkeypatch,
                          lambda: ledger.contest(rec.id, "one", by="subject"),
                          lambda: ledger.contest(rec.id, "two", by="dpo"))
    assert first.status == "contested"
    assert isinstance(second, ConflictError) and "contested meanwhile" in str(second)
    assert [h.text for h in ledger.history(rec.id)] == ["one"]
    actions = [e.event.action for e in AuditLog(ledger.workspace).events(action="decision.*")]
    assert actions.count("decision.contest") == 1


def test_a_review_and_a_contest_at_once_record_the_review(ledger, monkeypatch) -> None:
    rec = ledger.record(MODEL, "S-1", FEATS, 0.1)
    first, second = _race(
        ledger, monkeypatch,
        lambda: ledger.review(rec.id, reviewer="Team", outcome="refuse", rationale="r"),
        lambda: ledger.contest(rec.id, "my view", by="subject"))
    assert first.final_of == rec.id
    assert isinstance(second, ConflictError) and "reviewed meanwhile" in str(second)
    assert [h.kind for h in ledger.history(rec.id)] == ["review"]
