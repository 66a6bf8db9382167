"""Benchmark of the decision ledger (issue 19). Not a test: run it by hand.

Figures, each beside its goal (issue 19), on SQLite, one process:

1. ``--decisions`` decisions (distinct subjects, all new) recorded with
   ``DecisionLedger.record_batch`` in batches of ``--batch``, in a fresh child process (its
   imports timed apart): the rate including the subject pseudonyms, one new random key per
   subject (made, wrapped under the key epoch and stored), the inputs sealed under it, the rows
   and one audit event per batch, all in one durable transaction per batch (goal: >= 50,000
   decisions/s). Anchor, interleaved batch by batch in the same child: a plain SQLite
   ``executemany`` of the same rows (the inputs as clear JSON) into a bare table of the same
   shape, one transaction per batch. Overall rate and medians over the batches, wall and per
   CPU-second (the machine is shared: wall rates move with its load, CPU rates much less),
   the child's own CPU (RUSAGE_CHILDREN) and its peak RSS.
2. Online decisions paced at 200/s, a new subject each (open loop: latency from the scheduled
   time, so a late start counts), in ``--rounds`` rounds (medians of the rounds' p50 and p99):
   a ``scoring()`` session with a shared audit event per second, one with an event per
   decision, and interleaved with them the anchor (a plain SQLite insert and commit per
   decision, WAL, synchronous=NORMAL) and the pacing alone (a call that does nothing: what the
   loaded machine adds to any call), each with the calling thread's CPU time per call; then
   ``record()`` (durable: one fsync per decision) once and the disk's own fsync latency (goal
   p99 < 5 ms).
3. The same through the service (``POST /v1/decisions`` on loopback, ``veil serve`` in its own
   process, open loop at 200/s, latency from the scheduled time) in rounds interleaved with the
   anchor (the same POST refused with 422 after authentication and validation): p50 / p99 and
   the server's CPU per request (goal p99 < 20 ms).

Peak RSS of this process (and the server's) is printed.

    .venv/bin/python benchmarks/bench_decisions.py                     # 1M decisions
    .venv/bin/python benchmarks/bench_decisions.py --decisions 100000 --online 1000
    .venv/bin/python benchmarks/bench_decisions.py --decisions 0     # the online parts only
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

POLICY_PURPOSE = "credit_scoring"  # the sample policy's purpose with automated_decisions
MODEL = "credit-pd"
FEATURES = ["annual_income", "account_balance", "amount"]


def _register(ws) -> None:  # type: ignore[no-untyped-def]
    """The model row, written directly (setup only: registering checks a pipeline run)."""
    from veil.store.schema import decision_models

    with ws.engine.begin() as conn:
        conn.execute(decision_models.insert().values(
            name=MODEL, version=1, purpose=POLICY_PURPOSE, features=FEATURES, threshold=0.5,
            kind="external", artifact=None, artifact_sha256=None, trained_on=[],
            registered_at=datetime.now(UTC), registered_by="bench", gate={}, card={}))


def _frame(lo: int, n: int, rng: random.Random):  # type: ignore[no-untyped-def]
    import pyarrow as pa

    subjects = [f"CUST-{i:09d}" for i in range(lo, lo + n)]
    table = pa.table({"annual_income": [rng.uniform(10_000, 150_000) for _ in range(n)],
                      "account_balance": [rng.uniform(-500, 50_000) for _ in range(n)],
                      "amount": [rng.uniform(1, 5_000) for _ in range(n)]})
    scores = [rng.random() for _ in range(n)]
    return subjects, table, scores


ANCHOR_DDL = """CREATE TABLE d (id TEXT PRIMARY KEY, model TEXT, model_version INT,
purpose TEXT, subject TEXT, score REAL, threshold REAL, outcome TEXT, reasons TEXT,
decided_at TEXT, decided_by TEXT, final_of TEXT, review TEXT, review_due TEXT, session TEXT,
retain_until TEXT, inputs BLOB)"""


def _anchor(db: sqlite3.Connection, subjects, table, scores) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """The same rows into a bare SQLite table: ids, clear JSON inputs, one transaction."""
    import uuid

    t0, c0 = time.perf_counter(), time.process_time()
    rows = table.to_pylist()
    now = datetime.now(UTC).isoformat()
    data = [(uuid.uuid4().hex, MODEL, 1, POLICY_PURPOSE, s, sc, 0.5,
             "approve" if sc >= 0.5 else "refuse", "[]", now, "model:credit-pd.v1", None,
             None, None, "batch", now, json.dumps(r).encode())
            for s, sc, r in zip(subjects, scores, rows, strict=True)]
    with db:
        db.executemany("INSERT INTO d VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", data)
    return time.perf_counter() - t0, time.process_time() - c0


def _pg_anchor(url: str, subjects, table, scores) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """The same rows into a bare PostgreSQL table by COPY: ids, clear JSON inputs, one
    transaction (what the ledger's own COPY path costs without keys, sealing or audit)."""
    import uuid

    import psycopg

    t0, c0 = time.perf_counter(), time.process_time()
    rows = table.to_pylist()
    now = datetime.now(UTC)
    with (psycopg.connect(url) as conn, conn.cursor() as cur,
          cur.copy("COPY d FROM STDIN") as copy):
        for s, sc, r in zip(subjects, scores, rows, strict=True):
            copy.write_row((uuid.uuid4().hex, MODEL, 1, POLICY_PURPOSE, s, sc, 0.5,
                            "approve" if sc >= 0.5 else "refuse", "[]", now,
                            "model:credit-pd.v1", None, None, None, "batch", now,
                            json.dumps(r).encode()))
    return time.perf_counter() - t0, time.process_time() - c0


PG_ANCHOR_DDL = (ANCHOR_DDL.replace("REAL", "DOUBLE PRECISION").replace("BLOB", "BYTEA")
                 .replace("decided_at TEXT", "decided_at TIMESTAMPTZ")
                 .replace("retain_until TEXT", "retain_until TIMESTAMPTZ"))


def batches(led, total: int, size: int, anchor_path: Path, pg_url: str | None = None) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(7)
    db = sqlite3.connect(anchor_path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(ANCHOR_DDL)
    if pg_url is not None:
        import psycopg

        with psycopg.connect(pg_url) as conn:
            conn.execute(PG_ANCHOR_DDL)
    ours, theirs = [], []
    for lo in range(0, total, size):
        n = min(size, total - lo)
        subjects, table, scores = _frame(lo, n, rng)
        t0, c0 = time.perf_counter(), time.process_time()
        led.record_batch(MODEL, subjects, table, scores)
        ours.append((n, time.perf_counter() - t0, time.process_time() - c0))
        anchor_ids = [f"A{s}" for s in subjects]
        theirs.append((n, *(_anchor(db, anchor_ids, table, scores) if pg_url is None
                            else _pg_anchor(pg_url, anchor_ids, table, scores))))
    db.close()
    o_rate = [n / t for n, t, _ in ours]
    a_rate = [n / t for n, t, _ in theirs]
    o_cpu = [n / c for n, _, c in ours]
    a_cpu = [n / c for n, _, c in theirs]
    total_t = sum(t for _, t, _ in ours)
    where = "PostgreSQL" if pg_url else "SQLite"
    print(f"batches ({where}): {total:,} decisions in {len(ours)} batches of {size:,}")
    print(f"  ledger : {total / total_t:,.0f} decisions/s overall, median batch "
          f"{statistics.median(o_rate):,.0f}/s (goal >= 50,000/s); per CPU-second of this "
          f"process: median {statistics.median(o_cpu):,.0f}/s")
    how = "COPY" if pg_url else "executemany"
    print(f"  anchor : median batch {statistics.median(a_rate):,.0f}/s ({where} {how} of the "
          f"same rows into a bare table, clear inputs); per CPU-second: "
          f"{statistics.median(a_cpu):,.0f}/s")
    ratio = statistics.median(a_rate) / statistics.median(o_rate)
    print(f"  ratio  : anchor / ledger = {ratio:.2f}x (wall), "
          f"{statistics.median(a_cpu) / statistics.median(o_cpu):.2f}x (CPU)")
    total_c = sum(c for _, _, c in ours)
    print(f"  ledger CPU: {total_c:.1f} s for {total:,} ({total / total_c:,.0f}/s, "
          f"{total_c / total * 1e6:.1f} us per decision)")


def _fresh_pg_database(base_url: str):  # type: ignore[no-untyped-def]
    """A uniquely named database on the server; returns (url, drop)."""
    import uuid

    import sqlalchemy as sa

    name = f"veil_bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(base_url).set(database=name).render_as_string(hide_password=False)

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


def _batch_child(args: argparse.Namespace) -> None:
    """Part 1 in this (fresh) process: imports timed apart, then the batches."""
    t0, c0 = time.perf_counter(), time.process_time()
    from veil.kek.providers import EnvKEK

    os.environ.setdefault("VEIL_KEK", EnvKEK.new_secret())
    pg_url = None
    if args.database_url:
        pg_url, drop = _fresh_pg_database(args.database_url)
        os.environ["VEIL_DATABASE_URL"] = pg_url
    else:
        os.environ.pop("VEIL_DATABASE_URL", None)
    from veil.decisions import DecisionLedger
    from veil.policy import load_policy
    from veil.store.workspace import init_workspace

    print(f"  imports: {time.perf_counter() - t0:.2f} s wall, {time.process_time() - c0:.2f} s "
          "CPU (not in the rates)")
    with tempfile.TemporaryDirectory(prefix="veil-bench-batches-") as tmp:
        ws, _ = init_workspace(Path(tmp) / "ws")
        _register(ws)
        try:
            batches(DecisionLedger(ws, load_policy("sample")), args.decisions, args.batch,
                    Path(tmp) / "anchor.db", pg_url)
        finally:
            ws.close()
            if pg_url is not None:
                drop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  peak RSS of the child (ledger and anchor): {rss:.0f} MiB", flush=True)


def batch_part(args: argparse.Namespace) -> None:
    """Part 1 in a fresh child process; its CPU as the kernel counts it."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    extra = ["--database-url", args.database_url] if args.database_url else []
    subprocess.run([sys.executable, __file__, "--batch-child", "--decisions",
                    str(args.decisions), "--batch", str(args.batch), *extra], check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(f"  child process: {time.perf_counter() - t0:.1f} s wall, {cpu:.1f} s CPU "
          "(user+sys, imports, setup and anchor included)")


def _pct(lat: list[float], q: float) -> float:
    lat = sorted(lat)
    return lat[min(len(lat) - 1, int(q * len(lat)))] * 1000


Times = list[float]


def _paced(decide, n: int, rate: float, prefix: str) -> tuple[Times, Times, Times]:  # type: ignore[no-untyped-def]
    """(latency from each decision's scheduled time, each call's own duration, the calling
    thread's CPU time per call)."""
    rng = random.Random(9)
    feats = {"annual_income": 42_000.0, "account_balance": 1_200.0, "amount": 250.0}
    for i in range(50):  # warm-up
        decide(f"WARM-{prefix}-{i}", feats, rng.random())
    lat, call, cpu = [], [], []
    t0 = time.perf_counter()
    for i in range(n):
        at = t0 + i / rate
        d = at - time.perf_counter()
        if d > 0:
            time.sleep(d)
        c0, w0 = time.thread_time(), time.perf_counter()
        decide(f"{prefix}-{i:07d}", feats, rng.random())
        cpu.append(time.thread_time() - c0)
        call.append(time.perf_counter() - w0)
        lat.append(time.perf_counter() - at)
    return lat, call, cpu


def _line(name: str, lat: list[float], call: list[float], cpu: list[float]) -> str:
    return (f"  {name}: p50 {_pct(lat, .5):.2f} ms, p99 {_pct(lat, .99):.2f} ms, max "
            f"{max(lat) * 1000:.1f} ms\n      each call: p50 {_pct(call, .5):.2f} ms, p99 "
            f"{_pct(call, .99):.2f} ms; its CPU p50 {_pct(cpu, .5):.2f} ms, p99 "
            f"{_pct(cpu, .99):.2f} ms")


def _median_line(name: str, runs: list[tuple[Times, Times, Times]]) -> tuple[float, float, str]:
    """Medians over the rounds of each round's p50 and p99 (latency, call, CPU)."""
    med = statistics.median

    def m(k: int, q: float) -> float:
        return med(_pct(r[k], q) for r in runs)

    return m(0, .5), m(0, .99), (
        f"  {name}: p50 {m(0, .5):.2f} ms, p99 {m(0, .99):.2f} ms (rounds' p99: "
        f"{', '.join(f'{_pct(r[0], .99):.1f}' for r in runs)})\n      each call: p50 "
        f"{m(1, .5):.2f} ms, p99 {m(1, .99):.2f} ms; its CPU p50 {m(2, .5):.2f} ms, p99 "
        f"{m(2, .99):.2f} ms")


def _sqlite_anchor(path: Path):  # type: ignore[no-untyped-def]
    """The anchor: one plain SQLite insert and commit per decision (WAL, synchronous=NORMAL,
    as the session's commits), the inputs as clear JSON, no keys, no audit."""
    import uuid

    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(ANCHOR_DDL)
    now = datetime.now(UTC).isoformat()

    def decide(subject: str, feats: dict, score: float) -> None:  # type: ignore[type-arg]
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO d VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", (
            uuid.uuid4().hex, MODEL, 1, POLICY_PURPOSE, subject, score, 0.5,
            "approve" if score >= 0.5 else "refuse", "[]", now, "model:credit-pd.v1", None,
            None, None, "online", now, json.dumps(feats).encode()))
        db.execute("COMMIT")

    return db, decide


def online(led, n: int, rate: float, rounds: int, anchor_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Latency from each decision's scheduled time (a late start counts: open loop), in
    ``rounds`` rounds interleaving the session, its anchor and the pacing alone."""
    print(f"online, Python API, {rate:.0f}/s, {n:,} new subjects per round, paced, {rounds} "
          "rounds interleaved, medians of the rounds (goal p99 < 5 ms):")
    db, anchor = _sqlite_anchor(anchor_path)
    runs: dict[str, list[tuple[Times, Times, Times]]] = {
        "shared": [], "own": [], "anchor": [], "pacing": []}
    for r in range(rounds):
        with led.scoring(MODEL, audit_every=1.0) as s:
            runs["shared"].append(_paced(s.decide, n, rate, f"SES{r}"))
        with led.scoring(MODEL, audit_every=None) as s:
            runs["own"].append(_paced(s.decide, n, rate, f"SEN{r}"))
        runs["anchor"].append(_paced(anchor, n, rate, f"ANC{r}"))
        runs["pacing"].append(_paced(lambda *a: None, n, rate, f"NOP{r}"))
    db.close()
    names = {"shared": "scoring() session, shared audit event per second",
             "own": "scoring() session, own audit event per decision ",
             "anchor": "anchor: plain SQLite insert + commit per decision",
             "pacing": "the pacing alone (a call that does nothing)    "}
    figs = {k: _median_line(names[k], v) for k, v in runs.items()}
    for k in names:
        print(figs[k][2])
    a50, a99 = figs["anchor"][:2]
    for k in ("shared", "own"):
        print(f"  ratio {k} / anchor: p50 {figs[k][0] / a50:.2f}x, p99 {figs[k][1] / a99:.2f}x")
    print(_line("record(), durable (waits for the disk's fsync), one round", *_paced(
        lambda s, f, sc: led.record(MODEL, s, f, sc), n, rate, "REC")))
    fs = _fsync_latency(Path(led.workspace.root))
    print(f"  the disk's fsync alone (4 KiB, 200 times): p50 {_pct(fs, .5):.2f} ms, "
          f"p99 {_pct(fs, .99):.2f} ms")
    print(f"  load average now: {', '.join(f'{x:.1f}' for x in os.getloadavg())} "
          f"({os.cpu_count()} CPUs)")


def _fsync_latency(folder: Path, n: int = 200) -> list[float]:
    fd, name = tempfile.mkstemp(dir=folder)
    out = []
    try:
        for _ in range(n):
            os.write(fd, b"x" * 4096)
            t0 = time.perf_counter()
            os.fsync(fd)
            out.append(time.perf_counter() - t0)
            time.sleep(0.005)
    finally:
        os.close(fd)
        os.unlink(name)
    return out


def service(root: Path, n: int, rate: float, rounds: int) -> None:
    """``POST /v1/decisions`` through ``veil serve`` in its own process, open loop, in rounds
    interleaved with the anchor: the same POST with a body the service refuses (422 after
    authentication and validation: the framework's and the key check's share, no ledger)."""
    from bench_service import Conn, free_port, peak_rss_mib, wait_ready

    from veil.service import ApiKeyStore
    from veil.store.workspace import Workspace

    with Workspace.open(root) as ws:
        _, secret = ApiKeyStore(ws).create("service", "bench", created_by="bench")
    port = free_port()
    veil = Path(sys.executable).with_name("veil")
    server = subprocess.Popen(
        [str(veil), "serve", "-w", str(root), "--policy", "sample", "--port", str(port),
         "--rate-limit", "0", "--log-level", "warning"],
        env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_ready(port, server)
        headers = [("x-api-key", secret)]

        def body(i: int, valid: bool = True) -> bytes:
            doc: dict[str, Any] = {"model": MODEL, "subject": f"SVC-{i:07d}",
                                   "features": {"annual_income": 42000.0, "amount": 250.0}}
            if valid:
                doc["score"] = 0.7
            return json.dumps(doc).encode()

        async def go(offset: int, valid: bool) -> tuple[list[float], int, float]:
            pool = [Conn(port) for _ in range(16)]
            for c in pool:
                await c.open()
            for i in range(30):  # warm-up
                await pool[0].post("/v1/decisions", headers, body(offset + 10**6 + i, valid))
            want = 201 if valid else 422
            cpu0 = _cpu_seconds(server.pid)
            queue: asyncio.Queue[tuple[int, float]] = asyncio.Queue()
            t0 = time.perf_counter() + 0.05
            for i in range(n):
                queue.put_nowait((i, t0 + i / rate))
            lat: list[float] = []
            errors = 0

            async def worker(c: Conn) -> None:
                nonlocal errors
                while not queue.empty():
                    i, at = queue.get_nowait()
                    d = at - time.perf_counter()
                    if d > 0:
                        await asyncio.sleep(d)
                    if await c.post("/v1/decisions", headers, body(offset + i, valid)) != want:
                        errors += 1
                    lat.append(time.perf_counter() - at)

            await asyncio.gather(*(worker(c) for c in pool))
            for c in pool:
                await c.close()
            return lat, errors, (_cpu_seconds(server.pid) - cpu0) / n * 1000

        res: dict[bool, list[tuple[list[float], int, float]]] = {True: [], False: []}
        for r in range(rounds):
            for valid in (True, False):
                res[valid].append(asyncio.run(go(r * 10**7, valid)))
        med = statistics.median
        print(f"online, service (POST /v1/decisions, loopback), {rate:.0f}/s, {n:,} requests "
              f"per round, {rounds} rounds interleaved, medians (goal p99 < 20 ms):")
        for valid, name in ((True, "decisions   "), (False, "anchor (422)")):
            rs = res[valid]
            p50, p99 = med(_pct(x[0], .5) for x in rs), med(_pct(x[0], .99) for x in rs)
            print(f"  {name}: p50 {p50:.2f} ms, p99 {p99:.2f} ms (rounds' p99: "
                  f"{', '.join(f'{_pct(x[0], .99):.1f}' for x in rs)}), errors "
                  f"{sum(x[1] for x in rs)}; server CPU {med(x[2] for x in rs):.2f} ms "
                  "per request")
        ratio = med(_pct(x[0], .99) for x in res[True]) / med(_pct(x[0], .99) for x in res[False])
        cpu_ratio = med(x[2] for x in res[True]) / med(x[2] for x in res[False])
        print(f"  ratio decisions / anchor: p99 {ratio:.2f}x, server CPU {cpu_ratio:.2f}x; "
              f"server peak RSS {peak_rss_mib(server.pid):.0f} MiB; load average "
              f"{os.getloadavg()[0]:.1f}")
    finally:
        server.terminate()
        server.wait(timeout=10)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--decisions", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=50_000)
    ap.add_argument("--online", type=int, default=1_000,
                    help="online decisions per figure and round")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of the online figures")
    ap.add_argument("--rate", type=float, default=200.0)
    ap.add_argument("--database-url", default=None,
                    help="PostgreSQL server for part 1 (a fresh database is made and dropped; "
                    "the anchor is COPY into a bare table there), e.g. "
                    "postgresql://postgres@127.0.0.1:5432/test")
    ap.add_argument("--batch-only", action="store_true", help="part 1 only")
    ap.add_argument("--batch-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.batch_child:
        _batch_child(args)
        return
    if args.decisions > 0:
        batch_part(args)
    if args.batch_only:
        return

    from veil.kek.providers import EnvKEK

    os.environ.setdefault("VEIL_KEK", EnvKEK.new_secret())
    os.environ.pop("VEIL_DATABASE_URL", None)
    from veil.decisions import DecisionLedger
    from veil.policy import load_policy
    from veil.store.workspace import init_workspace

    with tempfile.TemporaryDirectory(prefix="veil-bench-decisions-") as tmp:
        root = Path(tmp) / "ws"
        ws, _ = init_workspace(root)
        _register(ws)
        led = DecisionLedger(ws, load_policy("sample"))
        online(led, args.online, args.rate, args.rounds, Path(tmp) / "online-anchor.db")
        ws.close()
        service(root, args.online, args.rate, args.rounds)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS of this process: {rss:.0f} MiB")


if __name__ == "__main__":
    main()
