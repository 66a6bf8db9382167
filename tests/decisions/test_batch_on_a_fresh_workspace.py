"""A batch of decisions is the first thing a fresh workspace does: whatever writes on its own
connection (the first key epoch) happens before the batch's transaction, so nothing waits for
that transaction's write lock ("database is locked" on SQLite). The wait is cut to a second
here, so a regression fails at once instead of after the 30-second default. Then: what the
batch sealed in bulk opens one decision at a time, and a later batch of mostly known subjects
keeps their keys."""

from __future__ import annotations

# ruff: noqa: F811  (pytest fixtures imported from ledger_fixtures are parameters here)
from typing import Any

import sqlalchemy as sa

from tests.decisions.ledger_fixtures import MODEL, add_model, policy  # noqa: F401
from veil.store.schema import key_epochs, subject_keys


def _short_waits(engine: sa.Engine) -> None:
    sqlite = engine.dialect.name == "sqlite"

    @sa.event.listens_for(engine, "connect")
    def _wait_briefly(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout=1000" if sqlite else "SET lock_timeout = '1s'")
        cur.close()
        if not sqlite:
            dbapi_conn.commit()

    engine.dispose()


def test_first_batch_of_a_fresh_workspace_records_without_waiting(workspace, policy) -> None:
    from veil.decisions import DecisionLedger

    with workspace.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(key_epochs)).scalar() == 0
    add_model(workspace)
    _short_waits(workspace.engine)
    ledger = DecisionLedger(workspace, policy)
    subjects = [f"FRESH-{i}" for i in range(300)]
    table = {"annual_income": [float(i) for i in range(300)],
             "account_balance": [1.0] * 300}
    got = ledger.record_batch(MODEL, subjects, table, [0.7] * 300)
    assert len(got) == 300
    with workspace.engine.connect() as conn:
        epochs = conn.execute(sa.select(key_epochs.c.id)).scalars().all()
        rows = conn.execute(sa.select(subject_keys.c.epoch, subject_keys.c.wrapped_key)).all()
    assert len(epochs) == 1 and len(rows) == 300
    assert all(e == epochs[0] and w is not None for e, w in rows)  # wrapped under the epoch
    assert [ledger.inputs(i)["annual_income"] for i in got[:5]] == [0.0, 1.0, 2.0, 3.0, 4.0]

    # The next batch: mostly the same people (their keys kept) and a few new ones.
    again = subjects[:200] + [f"LATER-{i}" for i in range(20)]
    table2 = {"annual_income": [float(i) + 0.5 for i in range(220)],
              "account_balance": [2.0] * 220}
    got2 = ledger.record_batch(MODEL, again, table2, [0.2] * 220)
    with workspace.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(subject_keys)).scalar() == 320
    assert ledger.inputs(got[7])["annual_income"] == 7.0  # old inputs, same key
    assert ledger.inputs(got2[7])["annual_income"] == 7.5
    assert ledger.inputs(got2[210])["annual_income"] == 210.5
