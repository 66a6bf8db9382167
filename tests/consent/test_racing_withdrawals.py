"""Withdrawing is as easy as granting (Art. 7(3)): writers racing grants and withdrawals on the
same subjects, with the ledger choosing the time, never see an event refused as backdated."""

from __future__ import annotations

import multiprocessing
import traceback
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from veil.consent import Ledger
from veil.consent.models import fold
from veil.consent.reading import event_from_row
from veil.errors import ConsentError
from veil.store.schema import consent_events, consent_state
from veil.store.workspace import Workspace

WRITERS = 4
ROUNDS = 60
SUBJECTS = ["shared-a", "shared-b"]


def test_racing_withdrawals_are_never_taken_for_backdated(workspace: Workspace, policy: Any,
                                                          tmp_path: Path) -> None:
    root = workspace.root
    with Workspace.open(root) as ws:
        ledger = Ledger(ws, policy)
        for s in SUBJECTS:
            ledger.grant(s, "offers", channel="app", action="tapped yes", collector="setup",
                         notice_version="1")
    ctx = multiprocessing.get_context("fork")
    start = ctx.Barrier(WRITERS)
    out = ctx.Queue()

    def run(w: int) -> None:  # its own process, engine and connections
        backdated = refused = 0
        try:
            with Workspace.open(root) as mine:
                led = Ledger(mine, policy)
                start.wait()
                for r in range(ROUNDS):
                    s = SUBJECTS[(w + r) % len(SUBJECTS)]
                    try:
                        if (w + r) % 2:
                            led.withdraw(s, "offers", channel="app", collector=f"writer-{w}")
                        else:
                            led.grant(s, "offers", channel="app", action="tapped yes",
                                      collector=f"writer-{w}", notice_version="1")
                    except ConsentError as exc:  # e.g. "already withdrawn": a real race
                        refused += 1
                        backdated += "backdated" in str(exc)
            out.put((w, backdated, refused, None))
        except BaseException:
            out.put((w, 0, 0, traceback.format_exc()))

    procs = [ctx.Process(target=run, args=(w,)) for w in range(WRITERS)]
    for p in procs:
        p.start()
    results = [out.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert [r[3] for r in results if r[3]] == []
    assert sum(r[1] for r in results) == 0, results  # none refused as backdated

    with Workspace.open(root) as check, check.engine.connect() as conn:
        rows = conn.execute(sa.select(consent_events)).all()
        states = {(r.purpose, r.subject): r for r in conn.execute(sa.select(consent_state))}
    refused = sum(r[2] for r in results)
    assert len(rows) == len(SUBJECTS) + WRITERS * ROUNDS - refused  # nothing lost
    for s in SUBJECTS:
        evs = [event_from_row(r) for r in rows if r.subject == s]
        want = fold(evs)  # raises if any stored order broke the rules
        got = states[("offers", s)]
        assert want is not None and (got.status, got.event_id) == (want.status, want.event_id)
