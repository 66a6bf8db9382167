"""Benchmark for the consent ledger (issue 6). Not a test: run it by hand.

Figures, each printed beside its target (issue 6) on SQLite, on one core:

- bulk check of a batch of ``--rows`` subject ids against a ledger of ``--subjects`` subjects
  (target: 1,000,000 rows in < 1 s with 1,000,000 subjects), as one batch and as a stream of
  64k-row batches (what a run does); the one-off load of the purpose's state is shown apart;
- single ``Ledger.check`` latency, p50 / p99 (target p99 < 1 ms);
- appends through ``Ledger.append`` in batches of 1,000 validated events (target >= 20,000/s).

Anchor: Ethyca Fides has no bulk consent check, so there is no Fides figure to measure beside
ours. What a pipeline without one would do is call the single check once per row; that loop is
measured here on a sample of rows and extrapolated to ``--rows`` (labelled as such).

Setup: the ledger's ``--subjects`` subjects are written straight into ``consent_events`` and
``consent_state`` with bulk INSERTs (no rule checks), to build a big ledger fast. The appends
figure then goes through the full validated path.

    .venv/bin/python benchmarks/bench_consent.py                        # full size
    .venv/bin/python benchmarks/bench_consent.py --subjects 100000 --rows 100000 --appends 20000
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench-data"
PURPOSE = "personalised_offers"


def _bulk_setup(ws, n: int) -> None:  # type: ignore[no-untyped-def]
    """n subjects in mixed states, inserted directly (setup only: no rule checks)."""
    import sqlalchemy as sa

    from veil.consent.models import to_us
    from veil.store.schema import consent_events, consent_state

    now = to_us(datetime.now(UTC))
    day = 86_400_000_000
    rng = random.Random(1)
    chunk = 50_000
    with ws.engine.begin() as conn:
        for lo in range(0, n, chunk):
            events, states = [], []
            for i in range(lo, min(n, lo + chunk)):
                s = f"CUST-{i:08d}"
                r = rng.random()
                t = now - rng.randrange(30 * day, 300 * day)
                kind, expires = "granted", None
                if r < 0.10:
                    kind = "withdrawn"
                elif r < 0.20:
                    expires = now - day
                    t = expires - 100 * day
                eid = f"bench-{i}"
                events.append({"event_id": eid, "subject": s, "purpose": PURPOSE, "kind": kind,
                               "time_us": t, "recorded_us": now, "notice_version": "1",
                               "notice_seq": None, "channel": "web_form",
                               "action": None if kind == "withdrawn" else "clicked 'I agree'",
                               "evidence": None, "collector": "bench", "expires_us": expires,
                               "age": None, "minor": None, "guardian": None, "source": None})
                states.append({"purpose": PURPOSE, "subject": s,
                               "status": "withdrawn" if kind == "withdrawn" else "granted",
                               "time_us": t, "event_id": eid, "expires_us": expires,
                               "notice_version": None if kind == "withdrawn" else "1",
                               "notice_seq": None, "minor": None})
            conn.execute(sa.insert(consent_events), events)
            conn.execute(sa.insert(consent_state), states)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subjects", type=int, default=1_000_000)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--appends", type=int, default=100_000)
    ap.add_argument("--checks", type=int, default=5_000, help="single checks timed")
    ap.add_argument("--naive-rows", type=int, default=5_000,
                    help="rows checked one by one for the per-row anchor")
    ap.add_argument("--core", type=int, default=0)
    a = ap.parse_args()

    os.sched_setaffinity(0, {a.core})
    import numpy as np
    import pyarrow as pa

    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    from veil.consent import ConsentEvent, Ledger
    from veil.store.workspace import init_workspace

    root = DATA / "consent-ws"
    if root.exists():
        shutil.rmtree(root)
    os.environ.pop("VEIL_DATABASE_URL", None)
    from veil.kek.providers import EnvKEK

    os.environ.setdefault("VEIL_KEK", EnvKEK.new_secret())  # seals the pseudonym key
    ws, _ = init_workspace(root)
    ledger = Ledger(ws)

    t0 = time.perf_counter()
    _bulk_setup(ws, a.subjects)
    setup = time.perf_counter() - t0
    print(f"setup: {a.subjects:,} subjects bulk-inserted (direct INSERTs, no checks) "
          f"in {setup:.1f} s")

    rng = np.random.default_rng(2)
    ids = pa.array([f"CUST-{i:08d}" for i in rng.integers(0, int(a.subjects * 1.1), a.rows)])

    t0 = time.perf_counter()
    snap = ledger.snapshot(PURPOSE)
    load = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = snap.check(ids)
    one = time.perf_counter() - t0
    t0 = time.perf_counter()
    kept = 0
    for i in range(0, a.rows, 65_536):
        kept += snap.check(ids.slice(i, 65_536)).valid
    stream = time.perf_counter() - t0
    assert kept == res.valid
    counts = res.counts()

    sample = ids.slice(0, a.naive_rows).to_pylist()
    t0 = time.perf_counter()
    naive_valid = sum(1 for s in sample if ledger.check(s, PURPOSE).valid)
    naive = (time.perf_counter() - t0) / len(sample) * a.rows
    assert naive_valid == int(np.count_nonzero(res.codes[: a.naive_rows] == 0))

    lat = []
    subjects = [f"CUST-{i:08d}" for i in rng.integers(0, a.subjects, a.checks)]
    for s in subjects[:200]:
        ledger.check(s, PURPOSE)  # warm the pool and statement cache
    for s in subjects:
        t0 = time.perf_counter()
        ledger.check(s, PURPOSE)
        lat.append(time.perf_counter() - t0)
    lat.sort()
    p50 = statistics.median(lat) * 1000
    p99 = lat[int(len(lat) * 0.99) - 1] * 1000

    base = datetime.now(UTC) - timedelta(days=1)
    events = [ConsentEvent(f"NEW-{i:08d}", PURPOSE, "granted", "app", "bench",
                           base + timedelta(microseconds=i), "1", "tapped 'I agree'")
              for i in range(a.appends)]
    t0 = time.perf_counter()
    for i in range(0, a.appends, 1000):
        ledger.append(events[i:i + 1000])
    appends = a.appends / (time.perf_counter() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    scale = f"{a.rows:,} rows vs {a.subjects:,} subjects"
    print(f"\nconsent ledger, SQLite, one core ({scale})")
    print(f"  state load (once per run)      {load:8.3f} s")
    print(f"  bulk check, one batch          {one:8.3f} s   target < 1 s for 1,000,000 rows "
          f"vs 1,000,000 subjects")
    print(f"  bulk check, 64k-row stream     {stream:8.3f} s   (what a run does)")
    print(f"  rows valid / dropped           {res.valid:,} / "
          + ", ".join(f"{n:,} {k}" for k, n in sorted(counts.items())))
    print(f"  per-row check loop (anchor)    {naive:8.1f} s   extrapolated from "
          f"{a.naive_rows:,} rows; Fides has no bulk check, so no Fides figure to measure; "
          f"bulk/loop = 1/{naive / one:,.0f}")
    print(f"  single check p50 / p99         {p50:6.3f} / {p99:6.3f} ms   target p99 < 1 ms")
    print(f"  appends (batches of 1,000)     {appends:8,.0f} /s   target >= 20,000/s")
    print(f"  peak RSS                       {peak:8.0f} MB")
    ws.close()


if __name__ == "__main__":
    sys.exit(main())
