"""Benchmark for the consent ledger (issue 6). Not a test: run it by hand.

Figures, each printed beside its target (issue 6) on SQLite, on one core:

- bulk check of a batch of ``--rows`` subject ids against a ledger of ``--subjects`` subjects
  (target: 1,000,000 rows in < 1 s with 1,000,000 subjects), as one batch and as a stream of
  64k-row batches (what a run does); the one-off load of the purpose's state is shown apart;
- single ``Ledger.check`` latency, p50 / p99 (target p99 < 1 ms);
- appends through ``Ledger.append`` in batches of 1,000 validated events (target >= 20,000/s).

The run's consent check (issue 22 item 7) is shown as a run does it: the state loaded once, its
subject index built once, then 64k-row batches, in microseconds per row (target < 0.1 us/row).

``--import-rows N`` (issue 22 item 7) instead times `import_csv` (what `veil consent import`
calls) of a CSV of N grants, one distinct subject each, on SQLite and on PostgreSQL (``--pg
URL``, default $VEIL_TEST_DATABASE_URL), each in a fresh process beside its anchor interleaved
with it: a bare load of the same rows into a table of the same columns (pyarrow CSV read, one
``executemany`` in one transaction on SQLite, ``COPY`` on PostgreSQL), no validation, no state,
no audit. Medians of ``--repeat`` runs, wall and the measured process's own CPU (the import
alone, and the whole process with imports and setup), the child's own peak RSS; target >=
100,000 rows/s.

Anchor: Ethyca Fides has no bulk consent check, so there is no Fides figure to measure beside
ours. What a pipeline without one would do is call the single check once per row; that loop is
measured here on a sample of rows and extrapolated to ``--rows`` (labelled as such).

Setup: the ledger's ``--subjects`` subjects are written straight into ``consent_events`` and
``consent_state`` with bulk INSERTs (no rule checks), to build a big ledger fast. The appends
figure then goes through the full validated path.

    .venv/bin/python benchmarks/bench_consent.py                        # full size
    .venv/bin/python benchmarks/bench_consent.py --subjects 100000 --rows 100000 --appends 20000
    .venv/bin/python benchmarks/bench_consent.py --import-rows 1000000
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


IMPORT = """
import os
from veil.consent import Ledger
from veil.consent.interchange import import_csv
from veil.policy import load_policy
from veil.store.workspace import init_workspace
ws, _ = init_workspace({ws!r})
led = Ledger(ws, load_policy({policy!r}))
led.add_notice("offers", "1", "Offers from your history.", created_by="dpo",
               effective="2024-01-01T00:00:00Z")
c0 = time.process_time()
t0 = time.perf_counter()
extra = {{"n": import_csv(led, {csv!r}).events, "cpu": time.process_time() - c0}}
"""

BARE = """
import pyarrow.csv as pcsv
c0 = time.process_time()
t0 = time.perf_counter()
t = pcsv.read_csv({csv!r})
rows = list(zip(*(c.to_pylist() for c in t.columns)))
url, cols = {url!r}, ", ".join(t.column_names)
ddl = "CREATE TABLE bare (" + ", ".join(c + " TEXT" for c in t.column_names) + ")"
if url.startswith("sqlite"):
    import sqlite3
    con = sqlite3.connect(url.removeprefix("sqlite:///"))
    con.execute("DROP TABLE IF EXISTS bare")
    con.execute(ddl)
    con.executemany(f"INSERT INTO bare VALUES ({{', '.join('?' * len(t.column_names))}})", rows)
    con.commit()
else:
    import psycopg
    with psycopg.connect(url) as con:
        con.execute("DROP TABLE IF EXISTS bare")
        con.execute(ddl)
        with con.cursor().copy(f"COPY bare ({{cols}}) FROM STDIN") as cp:
            for r in rows:
                cp.write_row(r)
extra = {{"n": len(rows), "cpu": time.process_time() - c0}}
"""

POLICY = """\
version: 1
controller: {name: Bench Bank, contact: dpo@bench.example}
datasets:
  customers:
    subject_id: customer_id
    fields: {customer_id: direct_identifier}
purposes:
  offers:
    description: Offers
    legal_basis: consent
    retention: 1 year
    datasets:
      customers: {fields: {customer_id: keep}}
"""


def _fresh_pg(base: str) -> str:
    """A new empty database `veil_bench_consent` on the server of ``base`` (never ``base``'s
    own database, which others may be using); returns its URL."""
    import psycopg
    import sqlalchemy as sa

    name = "veil_bench_consent"
    with psycopg.connect(base, autocommit=True) as con:
        con.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        con.execute(f"CREATE DATABASE {name}")
    return sa.make_url(base).set(database=name).render_as_string(hide_password=False)


def import_figures(n: int, pg: str | None, repeat: int) -> None:
    """`import_csv` beside a bare executemany / COPY of the same rows (see the docstring)."""
    import base64

    sys.path.insert(0, str(Path(__file__).parent))
    from _util import commit, measure, medians

    DATA.mkdir(exist_ok=True)
    csv = DATA / f"consent_import_{n}.csv"
    if not csv.exists():
        with open(csv, "w") as f:
            f.write("subject,purpose,event,time,channel,action,collector,notice_version\n")
            for i in range(n):
                f.write(f"CUST-{i:010d},offers,granted,2025-01-01T00:00:00Z,web_form,"
                        f"clicked 'I agree',web-consent,1\n")
    work = DATA / "consent-import"
    work.mkdir(exist_ok=True)
    policy = work / "policy.yaml"
    policy.write_text(POLICY)
    print(f"consent import of {n:,} grants ({n:,} distinct subjects), commit {commit()}, "
          f"medians of {repeat}")
    for db, url in (("SQLite", f"sqlite:///{work / 'bare.db'}"),
                    ("PostgreSQL", pg and _fresh_pg(pg))):
        if url is None:
            print(f"  {db}: skipped (no --pg URL)")
            continue
        ours, bare = [], []
        for r in range(repeat):
            ws = work / f"ws-{db}-{r}"
            shutil.rmtree(ws, ignore_errors=True)
            env = {"VEIL_KEK": base64.b64encode(os.urandom(32)).decode()}
            if db == "PostgreSQL":
                env["VEIL_DATABASE_URL"] = _fresh_pg(pg)  # a fresh ledger each run
            m = measure(IMPORT.format(ws=str(ws), policy=str(policy), csv=str(csv)), env=env)
            assert m["extra"]["n"] == n
            ours.append(m | {"wall_seconds": m["seconds"], "own_cpu": m["extra"]["cpu"]})
            b = measure(BARE.format(csv=str(csv), url=url))
            assert b["extra"]["n"] == n
            bare.append(b | {"wall_seconds": b["seconds"], "own_cpu": b["extra"]["cpu"]})
        keys = ("wall_seconds", "own_cpu", "cpu_seconds", "peak_rss_mb")
        m, b = medians(ours, keys), medians(bare, keys)
        print(f"  {db:<10} import_csv   {n / m['wall_seconds']:>10,.0f} rows/s wall "
              f"({m['wall_seconds']:.2f} s), {n / m['own_cpu']:>9,.0f} rows per CPU-s "
              f"({m['own_cpu']:.2f} CPU s; process with imports and setup "
              f"{m['cpu_seconds']:.2f}), peak RSS {m['peak_rss_mb']:.0f} MB; "
              "target >= 100,000 rows/s")
        print(f"  {db:<10} bare anchor  {n / b['wall_seconds']:>10,.0f} rows/s wall "
              f"({b['wall_seconds']:.2f} s), {n / b['own_cpu']:>9,.0f} rows per CPU-s "
              f"({b['own_cpu']:.2f} CPU s), peak RSS {b['peak_rss_mb']:.0f} MB; ratio "
              f"ours/anchor {m['wall_seconds'] / b['wall_seconds']:.2f}x wall, "
              f"{m['own_cpu'] / b['own_cpu']:.2f}x CPU"
              + (" (this process; the server's CPU is not in it)" if db == "PostgreSQL"
                 else ""))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subjects", type=int, default=1_000_000)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--appends", type=int, default=100_000)
    ap.add_argument("--checks", type=int, default=5_000, help="single checks timed")
    ap.add_argument("--naive-rows", type=int, default=5_000,
                    help="rows checked one by one for the per-row anchor")
    ap.add_argument("--core", type=int, default=0)
    ap.add_argument("--import-rows", type=int, default=0,
                    help="only the consent import figures, for this many rows")
    ap.add_argument("--pg", default=os.environ.get("VEIL_TEST_DATABASE_URL"))
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    if a.import_rows:
        import_figures(a.import_rows, a.pg, a.repeat)
        return

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
    snap.index()  # what the run's consent stage does once, when it loads the state
    build = time.perf_counter() - t0
    streams = []
    for _ in range(3):
        t0, c0 = time.perf_counter(), time.process_time()
        kept = 0
        for i in range(0, a.rows, 65_536):
            kept += snap.check(ids.slice(i, 65_536)).valid
        streams.append((time.perf_counter() - t0, time.process_time() - c0))
    stream = statistics.median(w for w, _ in streams)
    stream_cpu = statistics.median(c for _, c in streams)
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
    print(f"  subject index (once per run)   {build:8.3f} s")
    print(f"  bulk check, 64k-row stream     {stream:8.3f} s   (what a run does; median of 3) "
          f"= {stream / a.rows * 1e6:.3f} us/row wall, {stream_cpu / a.rows * 1e6:.3f} us/row "
          f"CPU; target < 0.1 us/row")
    print(f"  run's consent check, all in    {load + build + stream:8.3f} s   (load + index + "
          f"stream)")
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
