"""Benchmark for retention (issue 18): `retention_status` and `sweep` over N (default 10,000)
expired outputs, each a file on disk with its own wrapped keyset (`output.<run id>`), a lineage
bucket and a ``retention_outputs`` row.

Goal: status < 5 s and sweep < 5 s for 10,000 outputs, one core. The sweep deletes every file,
destroys every keyset (one transaction, secure delete), drops the lineage rows, appends 10,000
``retention.dispose`` audit events and writes one certificate.

Anchor, measured in the same run and interleaved: the floor of what a sweep must do anyway,
``os.remove`` of the same N files plus N plain row deletes by primary key in one SQLite
transaction (the ``retention_outputs`` rows). The status anchor is a plain ``sqlite3`` SELECT
of the same rows. Each measurement runs in a fresh process on one core, on a fresh copy of the
workspace; medians of --repeat runs and the process's peak RSS are printed. Not a test.

    .venv/bin/python benchmarks/bench_retention.py [--outputs 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import DATA, measure  # noqa: E402

LATER = "2040-01-01T00:00:00Z"


def build(root: Path, n: int) -> None:
    """A workspace holding ``n`` expired outputs (1 KiB files), their keysets and lineage."""
    from datetime import UTC, datetime

    from veil.crypto.keyset import Keyset, encrypt_keyset
    from veil.keys.manager import KeyManager, keyset_associated_data, output_keyset_name
    from veil.store.schema import keysets, lineage_outputs, lineage_subjects, retention_outputs
    from veil.store.workspace import init_workspace

    ws, _ = init_workspace(root)
    kek = KeyManager(ws).kek
    ks = Keyset.generate("streaming")
    t0 = datetime(2020, 1, 1, tzinfo=UTC)
    files = root / "outputs"
    files.mkdir()
    rows_k, rows_r, rows_l, rows_s = [], [], [], []
    for i in range(n):
        rid = f"{i:032x}"
        name = output_keyset_name(rid)
        path = files / f"{rid}.parquet"
        path.write_bytes(os.urandom(1024))
        rows_k.append({"name": name, "kind": "streaming", "purpose": "bench", "status": "ENABLED",
                       "encrypted_keyset": encrypt_keyset(ks, kek, keyset_associated_data(name)),
                       "kek_id": kek.kek_id, "primary_key_id": ks.primary_key_id, "version": 1,
                       "created_at": t0, "updated_at": t0})
        rows_r.append({"run_id": rid, "output_ref": str(path), "output_digest": "0" * 64,
                       "purpose": "scoring", "retention": "1 year", "created_at": t0,
                       "expires_at": datetime(2021, 1, 1, tzinfo=UTC), "keyset": name,
                       "own_key": True, "state": "live"})
        rows_l.append({"run_id": rid, "output_ref": str(path), "output_digest": "0" * 64,
                       "purpose": "scoring", "dataset": "d", "created_at": t0, "rows": 100,
                       "subject_count": 100, "categories": "[]"})
        rows_s.append({"run_id": rid, "bucket": i % 4096, "subjects": os.urandom(1600)})
    with ws.engine.begin() as conn:
        for table, rows in ((keysets, rows_k), (retention_outputs, rows_r),
                            (lineage_outputs, rows_l), (lineage_subjects, rows_s)):
            conn.execute(table.insert(), rows)
    ws.close()


STATUS = """
from veil.lifecycle import retention_status
from veil.store.workspace import Workspace
ws = Workspace.find(r"{root}")
extra = len(retention_status(ws, "{later}", due=True))
"""

SWEEP = """
from veil.lifecycle import sweep
from veil.store.workspace import Workspace
ws = Workspace.find(r"{root}")
extra = len(sweep(ws, None, now="{later}", actor="bench").disposed)
"""

STATUS_ANCHOR = """
import sqlite3
conn = sqlite3.connect(r"{db}")
extra = len(conn.execute("SELECT * FROM retention_outputs WHERE state != 'done' "
                         "AND expires_at <= ?", ("2040-01-01",)).fetchall())
"""

SWEEP_ANCHOR = """
import os, sqlite3
conn = sqlite3.connect(r"{db}")
ids = [r[0] for r in conn.execute("SELECT run_id FROM retention_outputs")]
for rid in ids:
    os.remove(os.path.join(r"{root}", "outputs", rid + ".parquet"))
with conn:
    conn.executemany("DELETE FROM retention_outputs WHERE run_id = ?", [(i,) for i in ids])
extra = len(ids)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--outputs", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from veil.kek.providers import EnvKEK

    os.environ.setdefault("VEIL_KEK", EnvKEK.new_secret())
    work = DATA / "retention"
    shutil.rmtree(work, ignore_errors=True)
    live, template = work / "ws", work / "template"
    print(f"building a workspace with {args.outputs:,} expired outputs ...", flush=True)
    build(live, args.outputs)
    shutil.copytree(live, template)
    db = live / "veil.db"

    def fresh() -> None:
        shutil.rmtree(live)
        shutil.copytree(template, live)

    names = ["status", "status anchor", "sweep", "sweep anchor"]
    codes = [STATUS, STATUS_ANCHOR, SWEEP, SWEEP_ANCHOR]
    results: dict[str, list[dict]] = {k: [] for k in names}
    for _ in range(args.repeat):
        for name, code in zip(names, codes, strict=True):  # interleaved
            fresh()
            r = measure(code.format(root=live, db=db, later=LATER), cwd=live)
            assert r["extra"] == args.outputs, (name, r["extra"])
            results[name].append(r)
    med = {k: statistics.median(r["seconds"] for r in v) for k, v in results.items()}
    rss = {k: max(r["peak_rss_mb"] for r in v) for k, v in results.items()}
    print(f"{args.outputs:,} outputs, median of {args.repeat}, one core each:")
    for k in names:
        print(f"  {k:<14} {med[k]:7.3f} s   peak RSS {rss[k]:6.0f} MB")
    print(f"  status / anchor: {med['status'] / med['status anchor']:.1f}x;  "
          f"sweep / anchor: {med['sweep'] / med['sweep anchor']:.1f}x;  "
          f"goal: status < 5 s ({'met' if med['status'] < 5 else 'MISSED'}), "
          f"sweep < 5 s ({'met' if med['sweep'] < 5 else 'MISSED'})")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
