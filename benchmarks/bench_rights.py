"""Benchmark for data-subject rights (issue 9): erasure of one subject, and the access package
of one subject, in a workspace holding N (default 1,000,000) subjects: a registered SQLite store
with one row per subject (indexed on the subject id), one subject key per subject (transform
`encrypt` in a run over all of them), and 20 outputs (default) of N subjects each in lineage:
the real run's set, plus 19 more outputs recorded with `record_output` from that same set (as
if the purpose had been run 20 times; running it 20 times would only make the setup slower, the
lookup reads the same rows).

Targets: erasure < 1 s, access package < 2 s, one core, memory peak printed.

``--load-store`` (issue 22 item 7) times `load_store` (what `veil dsr load-store` calls) of
``--subjects`` rows, one distinct subject each, into SQLite and PostgreSQL (``--pg URL``, default
$VEIL_TEST_DATABASE_URL), each in a fresh process beside its anchor run interleaved with it: a
bare loader of the same file (pyarrow CSV read, then one ``executemany`` in one transaction on
SQLite, ``COPY`` on PostgreSQL, and the same index). Medians of ``--repeat`` runs, CPU and wall,
the child's own peak RSS; target >= 100,000 rows/s. Also printed: the
run's lineage cost (collecting distinct ids per batch + one HMAC per distinct id at the end) on
the sample's 1,000,000-row CSV.

Anchor: Fides (ethyca) is the reference DSR tool, but it is a server with its own PostgreSQL,
Redis and web UI, distributed through Docker images and PyPI packages that pull in a service
stack; it cannot be installed and run offline here, so no Fides figure is printed beside
Veil's. Not a test: run it by hand.

    .venv/bin/python benchmarks/bench_rights.py [--subjects 1000000] [--outputs 20]
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import DATA, ensure_sample, measure  # noqa: E402

POLICY = """\
version: 1
controller: {name: Bench Bank, contact: dpo@bench.example}
datasets:
  customers:
    subject_id: customer_id
    store: {url: "sqlite:///store.db", table: customers}
    fields:
      customer_id: direct_identifier
      email: contact
      balance: {category: income_credit, type: float}
purposes:
  scoring:
    description: bench
    legal_basis: legitimate_interests
    legitimate_interest: bench
    retention: 1 year
    datasets:
      customers:
        fields:
          customer_id: {transform: pseudonymize}
          email: {transform: encrypt}
          balance: keep
"""

SETUP = """
import veil
from veil.policy import load_policy
from veil.rights import load_store
ws, _ = veil.init_workspace({ws!r})
pol = load_policy({policy!r})
load_store(pol, "customers", {csv!r}, ws)
r = veil.run(pol, "scoring", {csv!r}, {out!r}, workspace=ws)
from veil.lineage import Lineage, PseudonymSet, record_output
lin = Lineage(ws)
subjects = PseudonymSet.from_hex(lin.subjects_of(r.run_id))
o = lin.output(r.run_id)
with ws.engine.begin() as conn:
    for i in range(1, {outputs}):
        record_output(conn, run_id=f"{{r.run_id[:24]}}{{i:08d}}", output=f"{{o.output}}.{{i}}",
                      digest=o.digest, purpose=o.purpose, dataset=o.dataset, rows=o.rows,
                      categories=o.categories, subjects=subjects)
extra = r.receipt["lineage"]["subjects"]
"""

ERASE = """
from veil.policy import load_policy
from veil.rights import Requests
from veil.store.workspace import Workspace
ws = Workspace.open({ws!r})
reqs = Requests(ws, load_policy({policy!r}))
t0 = time.perf_counter()
rec = reqs.run(reqs.open("erasure", {subject!r}).id)
extra = rec.result["outcome"]
"""

ACCESS = """
from veil.policy import load_policy
from veil.rights import Requests
from veil.store.workspace import Workspace
ws = Workspace.open({ws!r})
reqs = Requests(ws, load_policy({policy!r}))
t0 = time.perf_counter()
rec = reqs.run(reqs.open("access", {subject!r}).id)
extra = rec.result["rows"]
"""

LINEAGE = """
import pyarrow.csv as pcsv
from veil.consent.models import SubjectRef
from veil.lineage import LineageCollector
opts = pcsv.ConvertOptions(include_columns=["customer_id"])
reader = pcsv.open_csv({csv!r}, convert_options=opts)
batches = list(reader)
t0 = time.perf_counter()
c = LineageCollector()
for b in batches:
    c.add(b.column(0))
extra = len(c.finish(SubjectRef(None)))
"""


LOAD = """
import os
from veil.policy import load_policy
from veil.rights import load_store
from veil.store.workspace import Workspace
ws = Workspace.open({ws!r})
pol = load_policy({policy!r})
t0 = time.perf_counter()
extra = load_store(pol, "customers", {csv!r}, ws, replace=True)
"""

BARE = """
import pyarrow.csv as pcsv
t0 = time.perf_counter()
t = pcsv.read_csv({csv!r})
rows = list(zip(*(c.to_pylist() for c in t.columns)))
url = {url!r}
if url.startswith("sqlite"):
    import sqlite3
    con = sqlite3.connect(url.removeprefix("sqlite:///"))
    con.execute("DROP TABLE IF EXISTS bare")
    con.execute("CREATE TABLE bare (customer_id TEXT, email TEXT, balance FLOAT)")
    con.executemany("INSERT INTO bare VALUES (?, ?, ?)", rows)
    con.execute("CREATE INDEX ix_bare ON bare (customer_id)")
    con.commit()
else:
    import psycopg
    with psycopg.connect(url) as con:
        con.execute("DROP TABLE IF EXISTS bare")
        con.execute("CREATE TABLE bare (customer_id TEXT, email TEXT, balance FLOAT)")
        with con.cursor().copy("COPY bare FROM STDIN") as cp:
            for r in rows:
                cp.write_row(r)
        con.execute("CREATE INDEX ix_bare ON bare (customer_id)")
extra = len(rows)
"""


def _own_pg_database(base: str) -> str:
    """A new empty database `veil_bench_rights` on the server of ``base`` (never ``base``'s own
    database, which others may be using); returns its URL."""
    import psycopg
    import sqlalchemy as sa

    name = "veil_bench_rights"
    with psycopg.connect(base, autocommit=True) as con:
        con.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        con.execute(f"CREATE DATABASE {name}")
    return sa.make_url(base).set(database=name).render_as_string(hide_password=False)


def load_store_figures(n: int, csv: Path, work: Path, pg: str | None, repeat: int) -> None:
    """`load_store` beside a bare executemany / COPY loader, interleaved (see the docstring)."""
    from _util import commit, medians

    env = {"VEIL_KEK": base64.b64encode(os.urandom(32)).decode(), "VEIL_ACTOR": "bench"}
    print(f"load-store of {n:,} rows ({n:,} distinct subjects), commit {commit()}, "
          f"medians of {repeat}")
    for db, url in (("SQLite", f"sqlite:///{work / 'store.db'}"),
                    ("PostgreSQL", pg and _own_pg_database(pg))):
        if url is None:
            print(f"  {db}: skipped (no --pg URL)")
            continue
        pol = work / f"policy_{db}.yaml"
        pol.write_text(POLICY.replace("sqlite:///store.db", url))
        ws = str(work / "ws")
        if not Path(ws).exists():
            measure(f"import veil; veil.init_workspace({ws!r})", env=env)
        ours, bare = [], []
        for _ in range(repeat):
            r = measure(LOAD.format(ws=ws, policy=str(pol), csv=str(csv)), env=env)
            assert r["extra"] == n
            ours.append(r | {"wall_seconds": r["seconds"]})
            b = measure(BARE.format(csv=str(csv), url=url))
            bare.append(b | {"wall_seconds": b["seconds"]})
        m, a = medians(ours), medians(bare)
        print(f"  {db:<10} load_store   {n / m['wall_seconds']:>10,.0f} rows/s wall "
              f"({m['wall_seconds']:.2f} s, process CPU {m['cpu_seconds']:.2f} s with imports), "
              f"peak RSS {m['peak_rss_mb']:.0f} MB; target >= 100,000 rows/s")
        print(f"  {db:<10} bare anchor  {n / a['wall_seconds']:>10,.0f} rows/s wall "
              f"({a['wall_seconds']:.2f} s, process CPU {a['cpu_seconds']:.2f} s), "
              f"peak RSS {a['peak_rss_mb']:.0f} MB; ratio ours/anchor "
              f"{m['wall_seconds'] / a['wall_seconds']:.2f}x")


def make_customers(n: int, path: Path) -> Path:
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pcsv

    if path.exists():
        return path
    ids = pa.array([f"C{i:08d}" for i in range(n)])
    emails = pa.array([f"user{i}@mail.example" for i in range(n)])
    bal = pa.array(np.random.default_rng(1).normal(2000, 500, n).round(2))
    pcsv.write_csv(pa.table({"customer_id": ids, "email": emails, "balance": bal}), path)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subjects", type=int, default=1_000_000)
    ap.add_argument("--outputs", type=int, default=20)
    ap.add_argument("--load-store", action="store_true", help="only the load-store figures")
    ap.add_argument("--pg", default=os.environ.get("VEIL_TEST_DATABASE_URL"),
                    help="PostgreSQL URL for the load-store figures")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    n = args.subjects
    DATA.mkdir(exist_ok=True)
    work = DATA / f"rights_{n}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    csv = make_customers(n, DATA / f"customers_{n}.csv")
    if args.load_store:
        load_store_figures(n, csv, work, args.pg, args.repeat)
        return
    policy = work / "policy.yaml"
    policy.write_text(POLICY)
    env = {"VEIL_KEK": base64.b64encode(os.urandom(32)).decode(), "VEIL_ACTOR": "bench"}
    env.pop("VEIL_DATABASE_URL", None)
    ws = str(work / "ws")
    fmt = {"ws": ws, "policy": str(policy), "csv": str(csv), "out": str(work / "out.parquet")}
    setup = measure(SETUP.format(outputs=args.outputs, **fmt), env=env)
    print(f"setup: {n:,} subjects stored and keyed; {args.outputs} outputs of "
          f"{setup['extra']:,} subjects each in lineage, in {setup['seconds']:.1f} s")
    print("anchor: Fides is not installable offline (a Docker/PostgreSQL/Redis service); "
          "no anchor figure")
    for label, code, subject, target in (
            ("access package, one subject", ACCESS, "C00000042", 2.0),
            ("erasure, one subject", ERASE, "C00000042", 1.0)):
        r = measure(code.format(subject=subject, **fmt), env=env)
        ok = "OK" if r["seconds"] < target else "SLOWER THAN TARGET"
        print(f"{label:<30} {r['seconds']:.3f} s (target < {target:.0f} s, {ok}), "
              f"peak RSS {r['peak_rss_mb']:.0f} MB, result: {r['extra']}")
    sample = ensure_sample(1_000_000)
    lin = measure(LINEAGE.format(csv=str(sample)))
    print(f"run lineage cost on the 1,000,000-row sample: {lin['seconds']:.3f} s for "
          f"{lin['extra']:,} distinct subjects (collect per batch + one HMAC each), "
          f"peak RSS {lin['peak_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
