"""Benchmark: the column scan of ``veil scan FILE`` (every column classified, every value
validated), rows per second by wall and CPU time, beside reading the same file with pyarrow.

Two tables, written once to bench-data/:

* the sample table (``veil sample --rows N``, 29 columns: ~8 transactions per customer, so
  identifiers repeat across rows);
* a customer table shaped like a real extract: one row per customer (every identifier
  distinct), 5 % nulls and blanks, a column mixing IBANs, cards and reference numbers, a
  column of 16-digit reference numbers (Luhn passes 10 % of them: not cards), and the
  phone numbers again as people type them (00 for +, "(0)" after the code, dots, slashes,
  no spaces).

Per table and run, fresh child processes pinned to one core, interleaved: pyarrow reading the
file (the anchor: ``pyarrow.csv.read_csv``), ``scan_source`` (what ``veil scan`` runs), and
``scan_source`` with one-value-at-a-time validation (``Matcher.vectorized = False``, the path
before vectorized validation, measured in the same run) and, with ``--before REV``, the scan
of an earlier commit (its ``src/`` exported with ``git archive``). Printed: medians
of ``--runs`` runs of the scan's own wall and CPU seconds (imports and a warm-up scan of
2,000 rows that loads the name lists and gazetteer excluded), rows/s, the
child's own peak RSS, the ratio to the anchor; and whether both paths gave the same report.

    python benchmarks/bench_column_scan.py                  # 200,000 rows, 3 runs
    python benchmarks/bench_column_scan.py --rows 50000 --runs 1
    python benchmarks/bench_column_scan.py --before HEAD~1   # and that commit's scan
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import DATA, ROOT, commit, ensure_sample, medians, run_child  # noqa: E402

_CHILD = r"""
import json, os, sys, time
os.sched_setaffinity(0, {0})
import pyarrow as pa, pyarrow.csv as pacsv
pa.set_cpu_count(1); pa.set_io_thread_count(1)
mode, path = sys.argv[1], sys.argv[2]
if mode == "before":
    mode = "vectorized"
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

    path = DATA / f"customers_{rows}_{seed}_v2.csv"
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
    table["phone_typed"] = [typed_phone(rng, v) for v in cols["phone"]]
    tmp = path.with_suffix(".tmp")
    pacsv.write_csv(pa.table(table), tmp)
    tmp.replace(path)
    return path


def typed_phone(rng: random.Random, v: str | None) -> str | None:
    """A phone number as a person might type it: 00 for +, "(0)" after the calling code,
    dots or slashes for spaces, or no separators at all."""
    if not v:
        return v
    r = rng.random()
    if r < 0.25 and v.startswith("+"):
        return "00" + v[1:]
    if r < 0.45 and v.startswith("+") and " " in v:
        code, rest = v.split(" ", 1)
        return f"{code} (0){rest}"
    if r < 0.65:
        return v.replace(" ", rng.choice(".-/"))
    if r < 0.8:
        return v.replace(" ", "").replace("-", "")
    return v


BEFORE = [""]  # the commit "before" runs, as printed
SRC: dict[str, Path] = {}  # mode -> the src/ it runs (default: this checkout's)


def snapshot(rev: str) -> Path:
    """The ``src/`` of commit ``rev``, exported to a temporary folder."""
    out = Path(tempfile.mkdtemp(prefix="veil-before-"))
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "src"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
    return out / "src"


def commit_name(rev: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", rev],
                          check=True, capture_output=True, text=True).stdout.strip()


def _run(mode: str, path: Path) -> dict:
    env = {"PYTHONPATH": str(SRC.get(mode, ROOT / "src"))}
    r = run_child([sys.executable, "-c", _CHILD, mode, str(path)], env=env)
    out = json.loads([x for x in r["stdout"].splitlines() if x.startswith("@@")][-1][2:])
    return {"wall_seconds": out["wall"], "cpu_seconds": out["cpu"], "peak_rss_mb": out["hwm"],
            "rows": out["rows"], "report": out["report"]}


def bench(name: str, path: Path, runs: int) -> None:
    modes = ("read", *(("before",) if "before" in SRC else ()), "vectorized", "each")
    samples: dict[str, list[dict]] = {m: [] for m in modes}
    for _ in range(runs):
        for m in modes:  # interleaved: the machine's load hits all three alike
            samples[m].append(_run(m, path))
    rows = samples["vectorized"][0]["rows"]
    same = all(s["report"] == samples["each"][0]["report"]
               for m in modes[1:] if m != "before" for s in samples[m])
    med = {m: medians(samples[m]) for m in modes}
    print(f"\n{name}: {path.name}, {rows:,} rows, {path.stat().st_size / 1e6:,.0f} MB, "
          f"medians of {runs}")
    print(f"  {'':34} {'wall s':>8} {'CPU s':>8} {'rows/s wall':>12} {'rows/CPU-s':>11} "
          f"{'RSS MB':>7} {'CPU/read':>8}")
    labels = {"read": "anchor: pyarrow.csv.read_csv",
              "before": f"veil scan at {BEFORE[0]}"[:34],
              "vectorized": "veil scan (vectorized validation)",
              "each": "veil scan (one value at a time)"}
    for m in modes:
        x = med[m]
        print(f"  {labels[m]:34} {x['wall_seconds']:8.2f} {x['cpu_seconds']:8.2f} "
              f"{rows / x['wall_seconds']:12,.0f} {rows / x['cpu_seconds']:11,.0f} "
              f"{x['peak_rss_mb']:7.0f} {x['cpu_seconds'] / med['read']['cpu_seconds']:8.1f}")
    speed = med["each"]["cpu_seconds"] / med["vectorized"]["cpu_seconds"]
    print(f"  vectorized vs one at a time: {speed:.2f}x less CPU; same report: {same}")
    if "before" in samples:
        gain = med["before"]["cpu_seconds"] / med["vectorized"]["cpu_seconds"]
        alike = samples["before"][0]["report"] == samples["vectorized"][0]["report"]
        print(f"  this checkout vs {BEFORE[0]}: {gain:.2f}x less CPU; same report: {alike}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--before", help="also scan with this commit's src/ (e.g. HEAD~1)")
    ap.add_argument("--at", help="scan with this commit's src/, not the working tree's")
    args = ap.parse_args()
    if args.before:
        SRC["before"] = snapshot(args.before)
        BEFORE[0] = commit_name(args.before)
    if args.at:
        SRC["vectorized"] = SRC["each"] = snapshot(args.at)
    at = commit_name(args.at) if args.at else commit()
    print(f"bench_column_scan at {at}: one core per child, scan time after imports")
    bench("sample table", ensure_sample(args.rows), args.runs)
    bench("customer table (distinct values)", customer_table(args.rows), args.runs)


if __name__ == "__main__":
    main()
