"""8 concurrent writers on PostgreSQL, 1,250 events each in batches of 250, then 10 rounds on the
same 40 subjects at once: nothing lost, nothing duplicated, and the state table equals a fold of
the stored events for every (purpose, subject)."""

from __future__ import annotations

import multiprocessing
import traceback
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from veil.consent import ConsentEvent, Ledger
from veil.consent.audit_trail import screen_consent_text
from veil.consent.models import fold, to_us
from veil.consent.reading import event_from_row
from veil.kek.providers import EnvKEK
from veil.store.schema import consent_events, consent_state
from veil.store.workspace import Workspace, init_workspace

WRITERS = 8
EVENTS = 1_250
BATCH = 250
SHARED = 40  # subjects every writer touches (grants and renewals only: valid in any order)
OWN = 250  # subjects of one writer: grant, renew, withdraw, grant
FINAL_ROUNDS = 10  # then every writer grants every shared subject at once, 10 times


def writer_events(w: int, base: int) -> list[ConsentEvent]:
    evs: list[ConsentEvent] = []
    us = 1
    # 1,000 events on the writer's own subjects, in valid per-subject order
    for k in range(OWN):
        s = f"w{w}-{k}"
        for step, kind in enumerate(("granted", "renewed", "withdrawn", "granted")):
            t = base + (k * 4 + step) * 1000 + w
            action = None if kind == "withdrawn" else "tapped 'I agree'"
            evs.append(ConsentEvent(s, "offers", kind, "app", f"writer-{w}", t, "1", action,
                                    event_id=f"w{w}-own-{k}-{step}"))
    # 250 events on shared subjects: a grant, then a renewal a microsecond later
    for j in range((EVENTS - len(evs)) // 2):
        s = f"shared-{j % SHARED}"
        # which writer holds the latest event of a subject changes from subject to subject
        t = base + j * 1000 + ((w * 5 + j) % WRITERS) * 10 + us
        evs.append(ConsentEvent(s, "offers", "granted", "web_form", f"writer-{w}", t, "1",
                                "clicked 'I agree'", event_id=f"w{w}-sh-{j}-g"))
        evs.append(ConsentEvent(s, "offers", "renewed", "app", f"writer-{w}", t + 1, "1",
                                "confirmed", event_id=f"w{w}-sh-{j}-r"))
    assert len(evs) == EVENTS
    return evs


@pytest.mark.postgres
def test_eight_concurrent_writers(database_url: str, tmp_path: Path, monkeypatch) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("concurrent writers are tested on PostgreSQL (SQLite has one writer)")
    monkeypatch.setenv("VEIL_DATABASE_URL", database_url)
    monkeypatch.setenv("VEIL_KEK", EnvKEK.new_secret())  # seals the subject-reference key
    ws, _ = init_workspace(tmp_path / "ws")
    ws.close()
    base = to_us(datetime.now(UTC) - timedelta(days=2))
    work = {w: writer_events(w, base) for w in range(WRITERS)}
    final = base + 10**10  # after every other event, still in the past
    # the audit screen's detector (its name lexicon) and its verdicts on the writers' texts are
    # loaded once here and shared by the forked writers, as in one long-running service process,
    # instead of once in each writer (most of their CPU)
    screen_consent_text([f"writer-{w}" for w in range(WRITERS)], ["app", "web_form"])
    ctx = multiprocessing.get_context("fork")
    start = ctx.Barrier(WRITERS)
    failures = ctx.Queue()

    def run(w: int) -> None:  # in a child process: its own engine and connections
        try:
            with Workspace.open(tmp_path / "ws") as mine:
                ledger = Ledger(mine)
                evs = work[w]
                # interleave own and shared events so that writers meet on shared rows
                own, shared = evs[: OWN * 4], evs[OWN * 4:]
                mixed = []
                for i in range(0, max(len(own), len(shared)), BATCH // 2):
                    mixed.extend(own[i:i + BATCH // 2] + shared[i:i + BATCH // 2])
                start.wait()
                for i in range(0, len(mixed), BATCH):
                    ledger.append(mixed[i:i + BATCH])
                # a last round where all writers hit the same rows at the same moment
                start.wait()
                for r in range(FINAL_ROUNDS):
                    ledger.append([ConsentEvent(
                        f"shared-{k}", "offers", "granted", "app", f"writer-{w}",
                        final + r * 1000 + ((w * 3 + k) % WRITERS) * 10, "1", "tapped yes",
                        event_id=f"w{w}-final-{r}-{k}") for k in range(SHARED)])
        except BaseException:
            failures.put(traceback.format_exc())
            raise

    procs = [ctx.Process(target=run, args=(w,)) for w in range(WRITERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=600)
    errors = []
    while not failures.empty():
        errors.append(failures.get())
    assert not errors, errors[0]
    assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]

    with Workspace.open(tmp_path / "ws") as check_ws:
        engine = check_ws.engine
        with engine.connect() as conn:
            ids = conn.execute(sa.select(consent_events.c.event_id)).scalars().all()
            rows = conn.execute(sa.select(consent_events)).all()
            states = {(r.purpose, r.subject): r for r in conn.execute(sa.select(consent_state))}
    expected_ids = {e.event_id for evs in work.values() for e in evs}
    expected_ids |= {f"w{w}-final-{r}-{k}" for w in range(WRITERS) for r in range(FINAL_ROUNDS)
                     for k in range(SHARED)}
    assert len(ids) == WRITERS * (EVENTS + FINAL_ROUNDS * SHARED)  # nothing lost
    assert len(set(ids)) == len(ids)  # nothing duplicated
    assert set(ids) == expected_ids
    by_key = defaultdict(list)
    for r in rows:
        by_key[(r.purpose, r.subject)].append(event_from_row(r))
    assert set(by_key) == set(states)
    for key, evs in by_key.items():
        want = fold(evs)  # raises if any stored sequence broke the rules
        got = states[key]
        assert want is not None
        assert (got.status, got.time_us, got.event_id, got.expires_us) == (
            want.status, want.time_us, want.event_id, want.expires_us), key
    assert sum(1 for k in states if k[1].startswith("shared-")) == SHARED
    assert all(states[k].status == "granted" for k in states)
