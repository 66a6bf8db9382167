"""Benchmark of the DPO's pages (issue 20). Not a test: run it by hand.

Every page of ``/ui/`` rendered at real sizes, on SQLite: ``--subjects`` consent subjects
(default 1,000,000; about 1.15 events each), ``--requests`` data-subject requests (10,000),
``--breaches`` breaches (1,000), ``--events`` audit events (1,000,000), plus ``--decisions``
credit decisions (100,000, a tenth routed to review) and ``--runs`` runs (1,000). Goal: each
page under 300 ms of server time (issue 20).

Printed per page: p50 and p99 of ``--rounds`` renders (the app in this process, requests
through Starlette's TestClient: server time plus a fraction of a millisecond of in-process
transport), and beside it, measured in the same rounds, interleaved, the same page's data
fetched through the REST API (the endpoints a script would call for it, summed; "-" where the
REST API has no such data). The Consent page's figures are aggregated in a background thread
on a ledger this size (see veil.ui.pages.consent_cache): the time that aggregation takes is
printed, and the pages are measured once it has finished; its refreshes (and those of the
Decisions page's 30-day counts) during the measurement share the one core with the pages, so a
third column gives the p99 of the renders during which no such computation ran. Peak RSS of
the measuring process is printed.

The workspace is built once into bench-data/ui-<sizes>/ (bulk inserts for the consent ledger,
cloned rows for most requests, breaches and runs; real library calls for the rest) and reused.

    .venv/bin/python benchmarks/bench_ui.py                  # the sizes of issue 20
    .venv/bin/python benchmarks/bench_ui.py --subjects 100000 --events 100000 --rounds 20
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import DATA, measure  # noqa: E402

MODEL = "credit-pd"
FEATURES = ["annual_income", "account_balance"]
PURPOSE = "personalised_offers"  # the sample policy's consent purpose
KEK_FILE = "bench.kek"


def _now() -> datetime:
    return datetime.now(UTC)


def _consent(db: Path, n: int, seed: int = 1) -> None:
    """``n`` subjects who consented over the last year; 10% withdrew, 3% lapsed by date."""
    rng = random.Random(seed)
    now_us = int(_now().timestamp() * 1_000_000)
    year = 365 * 86_400 * 1_000_000
    con = sqlite3.connect(db)
    con.execute("PRAGMA synchronous=OFF")
    ev_sql = ("INSERT INTO consent_events (event_id, subject, purpose, kind, time_us, "
              "recorded_us, notice_version, notice_seq, channel, action, collector, expires_us) "
              "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)")
    st_sql = ("INSERT INTO consent_state (purpose, subject, status, time_us, event_id, "
              "expires_us, notice_version, notice_seq, minor) VALUES (?,?,?,?,?,?,?,?,?)")
    for lo in range(0, n, 100_000):
        events, states = [], []
        for i in range(lo, min(n, lo + 100_000)):
            s, t = f"C{i:08d}", now_us - rng.randrange(year)
            exp = t + rng.randrange(year) if rng.random() < 0.03 else None
            events.append((f"g{i}", s, PURPOSE, "granted", t, t, "1", 1, "web_form",
                           "clicked 'I agree'", "bench", exp))
            state = (PURPOSE, s, "granted", t, f"g{i}", exp, "1", 1, None)
            if rng.random() < 0.10:
                t2 = t + rng.randrange(max(1, now_us - t))
                if exp is None or t2 < exp:
                    events.append((f"w{i}", s, PURPOSE, "withdrawn", t2, t2, None, None, "app",
                                   None, "bench", None))
                    state = (PURPOSE, s, "withdrawn", t2, f"w{i}", None, None, None, None)
            states.append(state)
        con.executemany(ev_sql, events)
        con.executemany(st_sql, states)
        con.commit()
    con.close()


def _audit(ws, n: int) -> None:  # type: ignore[no-untyped-def]
    from veil.audit.event import AuditEvent
    from veil.audit.log import AuditLog

    log = AuditLog(ws)
    t0 = _now() - timedelta(days=365)
    actions = ("consent.granted", "run.stage", "dsr.open", "key.rotate", "decision.record")
    done = 0
    while done < n:
        k = min(20_000, n - done)
        log.append([AuditEvent(
            time=t0 + timedelta(seconds=(done + j) * 30), actor="bench",
            action=actions[(done + j) % len(actions)], purpose="bench",
            legal_basis="Art. 6(1)(c)", outcome="success", counts={"rows": done + j})
            for j in range(k)])
        done += k


def _clone(ws, table, key: str, rows: list[dict], n: int, vary) -> None:  # type: ignore[no-untyped-def]
    """``n`` more rows like ``rows`` (round robin), each changed by ``vary(row, i)``."""
    out = []
    for i in range(n):
        r = dict(rows[i % len(rows)])
        if key:
            r.pop(key, None)
        out.append(vary(r, i))
    with ws.engine.begin() as conn:
        for lo in range(0, len(out), 5_000):
            conn.execute(table.insert(), out[lo:lo + 5_000])


def _requests(ws, policy, n: int) -> str:  # type: ignore[no-untyped-def]
    from veil.lifecycle import requests as requests_of
    from veil.store.schema import dsr_requests

    reqs = requests_of(ws, policy)
    real = [reqs.open("access", f"C{i:08d}", received=_now() - timedelta(days=i % 45),
                      actor="bench") for i in range(min(n, 50))]
    with ws.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(dsr_requests.select())]

    def vary(r: dict, i: int) -> dict:
        recv = _now() - timedelta(days=i % 400, minutes=i)
        r.update(id=uuid.uuid4().hex[:12], received_at=recv, due_at=recv + timedelta(days=30),
                 status="open" if i % 400 < 40 else "closed",
                 closed_at=None if i % 400 < 40 else recv + timedelta(days=10))
        return r

    _clone(ws, dsr_requests, "", rows, max(0, n - len(real)), vary)
    return str(real[0].id)


def _breaches(ws, policy, n: int) -> str:  # type: ignore[no-untyped-def]
    from veil.incidents import Breaches
    from veil.store.schema import breaches

    reg = Breaches(ws, policy=policy, actor="bench")
    real = [reg.open(title=f"Incident {i}", occurred_at=_now() - timedelta(hours=30 + i),
                     aware_at=_now() - timedelta(hours=20 + i), nature=["confidentiality"],
                     other=["a laptop with customer notes"]) for i in range(min(n, 20))]
    with ws.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(breaches.select())]

    def vary(r: dict, i: int) -> dict:
        aware = _now() - timedelta(days=30 + i % 900)
        r.update(title=f"Archived incident {i}", aware_at=aware, occurred_at=aware,
                 status="closed", closed_at=aware + timedelta(days=20), close_reason="done")
        return r

    _clone(ws, breaches, "id", rows, max(0, n - len(real)), vary)
    return str(real[0].ref)


def _runs(ws, root: Path, n: int) -> str:  # type: ignore[no-untyped-def]
    import veil
    from veil.sample import write_sample
    from veil.store.schema import runs

    src = root / "tx.csv"
    write_sample(src, 2_000, seed=3)
    veil.run("sample", "credit_scoring", src, root / "credit.parquet", workspace=ws)
    with ws.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(runs.select())]

    def vary(r: dict, i: int) -> dict:
        start = _now() - timedelta(hours=i + 1)
        r.update(id=uuid.uuid4().hex, started_at=start, finished_at=start + timedelta(minutes=2))
        return r

    _clone(ws, runs, "", rows, max(0, n - 1), vary)
    return str(rows[0]["id"])


def _decisions(ws, policy, n: int) -> str:  # type: ignore[no-untyped-def]
    import pyarrow as pa

    from veil.decisions import DecisionLedger
    from veil.store.schema import decision_models

    with ws.engine.begin() as conn:
        conn.execute(decision_models.insert().values(
            name=MODEL, version=1, purpose="credit_scoring", features=FEATURES, threshold=0.5,
            kind="external", artifact=None, artifact_sha256=None, trained_on=[],
            registered_at=_now(), registered_by="bench", gate={}, card={}))
    led = DecisionLedger(ws, policy)
    _ = led.keys  # the key epoch made before the batch's transaction (SQLite: one writer)
    rng = random.Random(7)
    for lo in range(0, n, 20_000):
        k = min(20_000, n - lo)
        table = pa.table({"annual_income": [rng.uniform(1e4, 1e5) for _ in range(k)],
                          "account_balance": [rng.uniform(0, 5e4) for _ in range(k)]})
        # nine in ten approved clear of the threshold (0.5, review band 0.05); the rest refused,
        # so routed to a person (the sample policy reviews every refusal)
        scores = [0.6 + 0.4 * rng.random() if (lo + j) % 10 else 0.4 * rng.random()
                  for j in range(k)]
        led.record_batch(MODEL, [f"C{lo + j:08d}" for j in range(k)], table, scores)
    return str(led.review_queue()[0].decision_id)


def build(root: Path, sizes: dict[str, int]) -> dict[str, str]:
    """The workspace of the measurement, with the ids of one request, breach, run, decision."""
    from veil.consent import Ledger
    from veil.policy import load_policy
    from veil.service import ApiKeyStore
    from veil.store.workspace import init_workspace

    ws, _ = init_workspace(root)
    policy = load_policy("sample")
    t0 = time.perf_counter()
    Ledger(ws, policy).add_notice(PURPOSE, "1", "We use your spending to suggest offers.\n",
                                  created_by="bench", effective="2020-01-01T00:00:00Z")
    _consent(Path(ws.engine.url.database), sizes["subjects"])
    print(f"  consent ledger: {time.perf_counter() - t0:.0f} s", flush=True)
    ids = {"request": _requests(ws, policy, sizes["requests"]),
           "breach": _breaches(ws, policy, sizes["breaches"]),
           "run": _runs(ws, root, sizes["runs"]),
           "decision": _decisions(ws, policy, sizes["decisions"])}
    print(f"  requests, breaches, runs, decisions: {time.perf_counter() - t0:.0f} s", flush=True)
    _audit(ws, max(0, sizes["events"] - _audit_size(ws)))
    print(f"  audit log: {time.perf_counter() - t0:.0f} s", flush=True)
    ids["dpo_key"] = ApiKeyStore(ws).create("dpo", "bench", created_by="bench")[1]
    ws.close()
    return ids


def _audit_size(ws) -> int:  # type: ignore[no-untyped-def]
    from veil.audit.log import AuditLog

    return int(AuditLog(ws).head().size)


# (page, its path, the REST calls that fetch the same data); {request} etc. are filled in
PAGES = [
    ("Today", "/ui/", ["/v1/dsr", "/v1/breaches?status=open", "/v1/decisions/queue",
                       "/v1/retention", "/v1/audit/head"]),
    ("Requests", "/ui/requests", ["/v1/dsr"]),
    ("One request", "/ui/requests/{request}", ["/v1/dsr/{request}"]),
    ("Breaches", "/ui/breaches", ["/v1/breaches"]),
    ("One breach", "/ui/breaches/{breach}", ["/v1/breaches/{breach}"]),
    ("Consent", "/ui/consent", []),
    ("Runs", "/ui/runs", []),
    ("One run", "/ui/runs/{run}", []),
    ("Records", "/ui/records", ["/v1/ropa"]),
    ("DPIA draft", "/ui/records/dpia/credit_scoring", []),
    ("Decisions", "/ui/decisions", ["/v1/decisions/queue?limit=100"]),
    ("One decision", "/ui/decisions/{decision}", ["/v1/decisions/{decision}/explanation"]),
]

MEASURE = r"""
import re, statistics, time
from fastapi.testclient import TestClient
from veil.service import ServiceConfig, create_app

ids = {ids!r}
app = create_app(ServiceConfig.load(r"{root}", policy="sample", rate_limit=0))
c = TestClient(app)
page = c.get("/ui/login")
token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
r = c.post("/ui/login", data={{"csrf": token, "key": ids["dpo_key"], "next": "/ui/"}})
assert r.status_code == 200, r.status_code
hdr = {{"X-API-Key": ids["dpo_key"]}}
t = time.perf_counter()
assert c.get("/ui/consent").status_code == 200
first_consent = time.perf_counter() - t
engine = app.state.service.workspace.engine
cache = app.state.consent_figures[id(engine)]
cache.wait(3600)
figures_seconds = cache.get().figures.seconds
pages = {pages!r}
times = {{name: ([], [], [], []) for name, _, _ in pages}}
def busy():
    caches = [*app.state.consent_figures.values(),
              *getattr(app.state, "decision_counts", {{}}).values()]
    return any(x.computing for x in caches)
for _ in range({rounds}):
    for name, path, rest in pages:
        before = busy()
        t, cpu = time.perf_counter(), time.process_time()
        resp = c.get(path.format(**ids))
        times[name][0].append(time.perf_counter() - t)
        times[name][3].append(time.process_time() - cpu)  # the process's CPU, every thread
        if not (before or busy()):
            times[name][2].append(times[name][0][-1])  # no figures computed meanwhile
        assert resp.status_code == 200, (path, resp.status_code, resp.text[:300])
        if rest:
            t = time.perf_counter()
            for p in rest:
                resp = c.get(p.format(**ids), headers=hdr)
                assert resp.status_code == 200, (p, resp.status_code, resp.text[:300])
            times[name][1].append(time.perf_counter() - t)
extra = {{"first_consent": first_consent, "figures_seconds": figures_seconds, "times": times}}
"""


def _q(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--subjects", type=int, default=1_000_000)
    ap.add_argument("--requests", type=int, default=10_000)
    ap.add_argument("--breaches", type=int, default=1_000)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--decisions", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=1_000)
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--only", action="append", default=None, metavar="PAGE",
                    help="Measure only this page (repeatable), e.g. --only Decisions")
    args = ap.parse_args()
    pages = [p for p in PAGES if not args.only or p[0] in args.only]
    sizes = {k: getattr(args, k) for k in ("subjects", "requests", "breaches", "events",
                                           "decisions", "runs")}
    root = DATA / ("ui-" + "-".join(str(v) for v in sizes.values()))
    kek_file = DATA / f"{root.name}.{KEK_FILE}"
    if not (root / "bench-ids.json").is_file():
        import shutil

        from veil.kek.providers import EnvKEK

        shutil.rmtree(root, ignore_errors=True)
        DATA.mkdir(exist_ok=True)
        kek_file.write_text(EnvKEK.new_secret())
        os.environ["VEIL_KEK"] = kek_file.read_text()
        print(f"building the workspace in {root} (once) ...", flush=True)
        ids = build(root, sizes)
        (root / "bench-ids.json").write_text(json.dumps(ids))
    ids = json.loads((root / "bench-ids.json").read_text())
    env = {"VEIL_KEK": kek_file.read_text(), "VEIL_DATABASE_URL": ""}
    os.environ.pop("VEIL_DATABASE_URL", None)
    res = measure(MEASURE.format(ids=ids, root=root, pages=pages, rounds=args.rounds),
                  env={k: v for k, v in env.items() if v}, cwd=root)
    x = res["extra"]
    print(f"\nPages of /ui/ at {', '.join(f'{v:,} {k}' for k, v in sizes.items())} "
          f"(SQLite, one core, {args.rounds} rounds, interleaved)")
    print(f"Consent figures aggregated in the background in {x['figures_seconds']:.1f} s; "
          f"the first Consent page meanwhile took {1000 * x['first_consent']:.0f} ms")
    print(f"{'page':<14} {'p50 ms':>8} {'p99 ms':>8} {'CPU p50':>8} {'CPU p99':>8} "
          f"{'p99 quiet':>10}   {'REST p50':>9} {'REST p99':>9}  goal < 300 ms")
    for name, _path, rest in pages:
        ui, api, quiet, cpu = x["times"][name]
        line = (f"{name:<14} {1000 * _q(ui, .5):8.1f} {1000 * _q(ui, .99):8.1f} "
                f"{1000 * _q(cpu, .5):8.1f} {1000 * _q(cpu, .99):8.1f} ")
        line += (f"{1000 * _q(quiet, .99):10.1f}   " if quiet else f"{'-':>10}   ")
        line += (f"{1000 * _q(api, .5):9.1f} {1000 * _q(api, .99):9.1f}" if api
                 else f"{'-':>9} {'-':>9}")
        line += "  " + ("met" if _q(ui, .99) < 0.3 else "NOT met")
        print(line + ("" if rest else "  (no REST equivalent)"))
    print("p99 quiet: of the renders during which no figures were computed in the background")
    print("CPU: the measuring process's CPU time during each render (every thread: a figures "
          "computation in the background counts); wall times move with the machine's load")
    print(f"peak RSS of the measuring process: {res['peak_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
