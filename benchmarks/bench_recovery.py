"""Benchmark for crash recovery (issue 25): the check every command makes when it opens a
workspace, and the recovery of runs killed mid-way.

* **open check**: `veil.pipeline.recovery.recover_stale_runs` with nothing stale, called
  --calls times on a workspace with 8 live runs (their holder, this benchmark's parent process,
  lives). Anchor: the same number of ``SELECT 1`` on the same pooled engine (the floor of any
  query). Goal: under 5 ms a call.
* **recover**: N (default 200) runs killed while writing, each with 3 temporary files and its
  own output keyset: each is claimed, its files removed, its records undone and its keyset
  destroyed in one transaction, and a ``run.recover`` audit event appended. Anchor, the floor
  of any cleanup: ``os.remove`` of the same files and one plain ``UPDATE runs`` per run in one
  SQLite transaction.

Each measurement runs in a fresh process on one core, on a fresh copy of the workspace,
interleaved with its anchor; medians of --repeat runs and the process's peak RSS. Not a test.

    .venv/bin/python benchmarks/bench_recovery.py [--runs 200] [--calls 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import DATA, measure  # noqa: E402


def build(root: Path, dead: int, live: int) -> None:
    """A workspace with ``dead`` runs killed while writing and ``live`` running runs."""
    from datetime import UTC, datetime

    from veil.crypto.keyset import Keyset, encrypt_keyset
    from veil.keys.manager import KeyManager, keyset_associated_data, output_keyset_name
    from veil.store.schema import keysets, run_leases, runs
    from veil.store.workspace import init_workspace

    ws, _ = init_workspace(root)
    kek = KeyManager(ws).kek
    ks = Keyset.generate("streaming")
    p = subprocess.Popen(["true"])
    p.wait()
    gone, alive = p.pid, os.getpid()
    now = datetime.now(UTC)
    out = root / "outputs"
    out.mkdir()
    r_runs, r_leases, r_keys = [], [], []
    for i in range(dead + live):
        rid = f"{i:032x}"
        path = out / f"o{i}.parquet"
        temp = [out / f".{path.name}.{i:012x}.tmp", out / f".{path.name}.receipt.json.{i:012x}.tmp",
                out / f".{path.name}.rejects.jsonl.{i:012x}.tmp"]
        for t in temp:
            t.write_bytes(os.urandom(4096))
        r_runs.append({"id": rid, "started_at": now, "status": "running", "actor": "bench",
                       "purpose": "scoring", "dataset": "d", "policy_path": "p.yaml",
                       "policy_digest": "0" * 64, "input_ref": "in.csv",
                       "output_ref": str(path)})
        r_leases.append({"output_key": f"{i:064x}", "run_id": rid, "output_ref": str(path),
                         "host": os.uname().nodename, "pid": gone if i < dead else alive,
                         "proc_start": None, "started_at": now, "heartbeat_at": now,
                         "phase": "writing", "files": {"temp": [str(t) for t in temp],
                                                       "moves": []}})
        name = output_keyset_name(rid)
        r_keys.append({"name": name, "kind": "streaming", "purpose": "bench", "status": "ENABLED",
                       "encrypted_keyset": encrypt_keyset(ks, kek, keyset_associated_data(name)),
                       "kek_id": kek.kek_id, "primary_key_id": ks.primary_key_id, "version": 1,
                       "created_at": now, "updated_at": now})
    with ws.engine.begin() as conn:
        conn.execute(runs.insert(), r_runs)
        conn.execute(run_leases.insert(), r_leases)
        conn.execute(keysets.insert(), r_keys)
    ws.close()


CHECK = """
from veil.pipeline.recovery import recover_stale_runs
from veil.store.workspace import Workspace
ws = Workspace.find(r"{root}")
recover_stale_runs(ws)  # connect once, outside the timing of the loop below
t0 = time.perf_counter()
found = sum(len(recover_stale_runs(ws)) for _ in range({calls}))
extra = (time.perf_counter() - t0) / {calls} * 1000, found
"""

CHECK_ANCHOR = """
import sqlalchemy as sa
from veil.store.workspace import Workspace
ws = Workspace.find(r"{root}")
with ws.engine.connect() as c:
    c.execute(sa.text("SELECT 1"))
t0 = time.perf_counter()
for _ in range({calls}):
    with ws.engine.connect() as c:
        c.execute(sa.text("SELECT 1")).all()
extra = (time.perf_counter() - t0) / {calls} * 1000, 0
"""

RECOVER = """
from veil.pipeline.recovery import recover_stale_runs
from veil.store.workspace import Workspace
ws = Workspace.find(r"{root}")
extra = len(recover_stale_runs(ws))
"""

RECOVER_ANCHOR = """
import json, os, sqlite3
conn = sqlite3.connect(r"{db}")
rows = conn.execute("SELECT run_id, files FROM run_leases WHERE pid != ?", ({alive},)).fetchall()
for _, files in rows:
    for t in json.loads(files)["temp"]:
        os.remove(t)
with conn:
    conn.executemany("UPDATE runs SET status = 'failed' WHERE id = ?", [(r,) for r, _ in rows])
extra = len(rows)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--calls", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from veil.kek.providers import EnvKEK

    os.environ.setdefault("VEIL_KEK", EnvKEK.new_secret())
    os.environ.pop("VEIL_DATABASE_URL", None)
    work = DATA / "recovery"
    shutil.rmtree(work, ignore_errors=True)
    live, template, checked = work / "ws", work / "template", work / "check"
    print(f"building a workspace with {args.runs:,} killed runs and 8 live ones ...", flush=True)
    build(live, args.runs, 8)
    shutil.copytree(live, template)
    build(checked, 0, 8)

    def fresh() -> None:
        shutil.rmtree(live)
        shutil.copytree(template, live)

    plan = [("open check", CHECK, checked), ("open check anchor", CHECK_ANCHOR, checked),
            ("recover", RECOVER, live), ("recover anchor", RECOVER_ANCHOR, live)]
    results: dict[str, list[dict]] = {k: [] for k, _, _ in plan}
    for _ in range(args.repeat):
        for name, code, root in plan:  # interleaved
            if root == live:
                fresh()
            r = measure(code.format(root=root, db=root / "veil.db", calls=args.calls,
                                    alive=os.getpid()), cwd=root)
            if root == live:
                assert r["extra"] == args.runs, (name, r["extra"])
            results[name].append(r)
    ms = {k: statistics.median(r["extra"][0] for r in results[k])
          for k in ("open check", "open check anchor")}
    sec = {k: statistics.median(r["seconds"] for r in results[k])
           for k in ("recover", "recover anchor")}
    rss = {k: max(r["peak_rss_mb"] for r in v) for k, v in results.items()}
    print(f"median of {args.repeat}, one core each:")
    for k in ("open check", "open check anchor"):
        print(f"  {k:<18} {ms[k]:8.3f} ms a call ({args.calls:,} calls)   "
              f"peak RSS {rss[k]:5.0f} MB")
    for k in ("recover", "recover anchor"):
        print(f"  {k:<18} {sec[k]:8.3f} s for {args.runs:,} runs "
              f"({sec[k] / args.runs * 1000:.2f} ms a run)   peak RSS {rss[k]:5.0f} MB")
    print(f"  open check / anchor: {ms['open check'] / ms['open check anchor']:.1f}x "
          f"(goal < 5 ms: {'met' if ms['open check'] < 5 else 'MISSED'});  "
          f"recover / anchor: {sec['recover'] / sec['recover anchor']:.1f}x")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
