"""Benchmark: the column scan of ``veil scan FILE`` (every column classified, every value
validated), rows per second by wall and CPU time, beside reading the same file with pyarrow.

Two tables, written once to bench-data/:

* the sample table (``veil sample --rows N``, 29 columns: ~8 transactions per customer, so
  identifiers repeat across rows);
* a customer table shaped like a real extract: one row per customer (every identifier
  distinct), 5 % nulls and blanks, a column mixing IBANs, cards and reference numbers, a
  column of 16-digit reference numbers (Luhn passes 10 % of them: not cards).

Per table and run, fresh child processes pinned to one core, interleaved: pyarrow reading the
file (the anchor: ``pyarrow.csv.read_csv``), ``scan_source`` (what ``veil scan`` runs), and
``scan_source`` with one-value-at-a-time validation (``Matcher.vectorized = False``, the path
before vectorized validation: the "before" figure, measured in the same run). Printed: medians
of ``--runs`` runs of the scan's own wall and CPU seconds (imports and a warm-up scan of
2,000 rows that loads the name lists and gazetteer excluded), rows/s, the
child's own peak RSS, the ratio to the anchor; and whether both paths gave the same report.

    python benchmarks/bench_column_scan.py                  # 200,000 rows, 3 runs
    python benchmarks/bench_column_scan.py --rows 50000 --runs 1
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import DATA, ROOT, commit, ensure_sample, medians, run_child  # noqa: E402

_CHILD = r"""
import json, os, sys, time
os.sched_setaffinity(0, {0})
import pyarrow as pa, pyarrow.csv as pacsv
pa.set_cpu_count(1); pa.set_io_thread_count(1)
mode, path = sys.argv[1], sys.argv[2]
if mode != "read":
    from veil.discovery import column_matching
    from veil.discovery.scan import scan_source
    from veil.discovery import scan_table
    column_matching.Matcher.vectorized = mode == "vectorized"
    scan_table(pacsv.read_csv(path).slice(0, 2000))  # warm-up: lexicons, regexes (not timed)
w, c = time.perf_counter(), time.process_time()
if mode == "read":
    rows, out = pacsv.read_csv(path).num_rows, None
else:
    r = scan_source(path, full=True)
    rows = r.rows
    out = [[c.name, c.top_type, [(t.type, t.rows, t.share, t.confidence) for t in c.types],
            c.non_null, c.distinct] for c in r.report.columns]
w, c = time.perf_counter() - w, time.process_time() - c
hwm = int(next(x for x in open('/proc/self/status') if x.startswith('VmHWM')).split()[1]) / 1024
print("@@" + json.dumps({"rows": rows, "wall": w, "cpu": c, "hwm": hwm, "report": out}))
"""


def customer_table(rows: int, seed: int = 1) -> Path:
    """One row per customer of the sample generator's pool (distinct identifiers), with
    nulls, blanks, a mixed column and reference numbers; cached as CSV."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from veil.sample.customers import build_pool
    from veil.sample.generator import SCHEMA

    path = DATA / f"customers_{rows}_{seed}.csv"
    if path.exists():
        return path
    DATA.mkdir(exist_ok=True)
    rng = random.Random(seed)
    pool = build_pool(rows, seed)
    cols = {k: pa.array(v, type=SCHEMA.field(k).type).to_pylist() for k, v in pool.columns.items()}
    n = len(next(iter(cols.values())))

    def spoil(v: object) -> object:
        r = rng.random()
        return None if r < 0.04 else ("" if r < 0.05 and isinstance(v, str) else v)

    table = {k: [spoil(x) for x in v] for k, v in cols.items()}
    iban, card = cols.get("iban", [None] * n), cols.get("card_number", [None] * n)
    table["payment_ref"] = [
        rng.choice([iban[i], card[i], str(rng.randrange(10**15, 10**16)), None]) for i in range(n)
    ]
    table["reference"] = [str(rng.randrange(10**15, 10**16)) for _ in range(n)]
    tmp = path.with_suffix(".tmp")
    pacsv.write_csv(pa.table(table), tmp)
    tmp.replace(path)
    return path


def _run(mode: str, path: Path) -> dict:
    env = {"PYTHONPATH": str(ROOT / "src")}
    r = run_child([sys.executable, "-c", _CHILD, mode, str(path)], env=env)
    out = json.loads([x for x in r["stdout"].splitlines() if x.startswith("@@")][-1][2:])
    return {"wall_seconds": out["wall"], "cpu_seconds": out["cpu"], "peak_rss_mb": out["hwm"],
            "rows": out["rows"], "report": out["report"]}


def bench(name: str, path: Path, runs: int) -> None:
    modes = ("read", "vectorized", "each")
    samples: dict[str, list[dict]] = {m: [] for m in modes}
    for _ in range(runs):
        for m in modes:  # interleaved: the machine's load hits all three alike
            samples[m].append(_run(m, path))
    rows = samples["vectorized"][0]["rows"]
    same = all(s["report"] == samples["each"][0]["report"] for m in modes[1:] for s in samples[m])
    med = {m: medians(samples[m]) for m in modes}
    print(f"\n{name}: {path.name}, {rows:,} rows, {path.stat().st_size / 1e6:,.0f} MB, "
          f"medians of {runs}")
    print(f"  {'':34} {'wall s':>8} {'CPU s':>8} {'rows/s wall':>12} {'rows/CPU-s':>11} "
          f"{'RSS MB':>7} {'CPU/read':>8}")
    labels = {"read": "anchor: pyarrow.csv.read_csv",
              "vectorized": "veil scan (vectorized validation)",
              "each": "veil scan (one value at a time)"}
    for m in modes:
        x = med[m]
        print(f"  {labels[m]:34} {x['wall_seconds']:8.2f} {x['cpu_seconds']:8.2f} "
              f"{rows / x['wall_seconds']:12,.0f} {rows / x['cpu_seconds']:11,.0f} "
              f"{x['peak_rss_mb']:7.0f} {x['cpu_seconds'] / med['read']['cpu_seconds']:8.1f}")
    speed = med["each"]["cpu_seconds"] / med["vectorized"]["cpu_seconds"]
    print(f"  vectorized vs one at a time: {speed:.2f}x less CPU; same report: {same}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    print(f"bench_column_scan at {commit()}: one core per child, scan time after imports")
    bench("sample table", ensure_sample(args.rows), args.runs)
    bench("customer table (distinct values)", customer_table(args.rows), args.runs)


if __name__ == "__main__":
    main()
