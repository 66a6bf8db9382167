"""Benchmark: format-preserving encryption, batched FF1 / FF3-1 beside the ``ff3`` package.

Two figures, each one fresh process pinned to one core (``_util``: the child's own wall, CPU
and peak RSS from ``os.wait4``), medians of ``--runs`` interleaved rounds (the order rotates
each round), never best-of:

* **values/s, 16-digit numbers**: the public API a user calls,
  ``veil.transforms.fpe.encrypt_values`` on an Arrow array of N distinct 16-digit strings
  (``format: digits``, and ``format: card, keep_first: 6`` as the sample policy uses it), for
  ``algorithm: ff1`` and ``ff3-1``; the anchor is the ``ff3`` package (what Veil used before),
  one ``encrypt_with_tweak`` per value. Each child reports the CPU seconds of the encryption
  alone (``time.process_time`` around it, imports and data making excluded) and the rate.
* **fraud_detection rows/s through the CLI**: ``veil run --policy sample --purpose
  fraud_detection IN.csv -o OUT.parquet`` in a fresh workspace (FPE of the card number and
  memo redaction), beside pyarrow alone reading the purpose's columns and writing Parquet.

Not a test: run it by hand.

    .venv/bin/python benchmarks/bench_fpe.py --values 300000 --rows 100000 --runs 3
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import DATA, commit, ensure_sample, measure, medians, run_child  # noqa: E402

VEIL = Path(sys.executable).with_name("veil")

_MAKE = """
import time
import numpy as np
rng = np.random.default_rng(7)
n = {n}
digits = rng.integers(0, 10, (n, 16), dtype=np.uint8)
digits[:, 0] = rng.integers(1, 10, n)
"""

BATCHED = _MAKE + """
from veil.transforms.fpe import encrypt_values
fmt = {fmt!r}
if fmt == "card":  # a valid Luhn digit on every value, computed vectorized as the transform does
    from veil.transforms.fpe_batch import luhn_digit
    digits[:, -1] = luhn_digit(digits[:, :-1])
offsets = (np.arange(n + 1, dtype=np.int32) * 16).tobytes()
vals = pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer((digits + 48).tobytes()))
params = {{"format": fmt, "algorithm": {alg!r}}}
if fmt == "card":
    params["keep_first"] = 6
c0, w0 = time.process_time(), time.perf_counter()
out = encrypt_values(vals, bytes(range(32)), params)
extra = {{"values": n, "cpu": time.process_time() - c0, "wall": time.perf_counter() - w0}}
assert len(out) == n and out.null_count == 0
"""

ANCHOR = _MAKE + """
from ff3 import FF3Cipher
vals = ["".join(map(str, row)) for row in digits.tolist()]
c = FF3Cipher(bytes(range(32)).hex(), "00" * 7)
tweak = "a1b2c3d4e5f607"
c0, w0 = time.process_time(), time.perf_counter()
out = [c.encrypt_with_tweak(v, tweak) for v in vals]
extra = {{"values": n, "cpu": time.process_time() - c0, "wall": time.perf_counter() - w0}}
"""

RUN_ANCHOR = """
import pyarrow as pa, pyarrow.csv as pacsv, pyarrow.parquet as pq
reader = pacsv.open_csv({src!r}, convert_options=pacsv.ConvertOptions(
    include_columns={names!r}))
rows = 0
with pq.ParquetWriter({out!r}, reader.schema) as w:
    for batch in reader:
        w.write_batch(batch)
        rows += batch.num_rows
print(rows)
"""


def values_round(i: int, a: argparse.Namespace, core: int | None) -> dict[str, dict]:
    """One round of the values/s figure: every case once, in a rotated order."""
    cases = [(f"{alg} {fmt}", BATCHED.format(n=a.values, fmt=fmt, alg=alg))
             for alg in ("ff1", "ff3-1") for fmt in ("digits", "card")]
    cases.append(("ff3 package (anchor)", ANCHOR.format(n=a.anchor_values)))
    k = i % len(cases)
    got: dict[str, dict] = {}
    for name, code in cases[k:] + cases[:k]:
        r = measure(code, core=0 if core is None else core)
        e = r["extra"]
        got[name] = {"values_per_cpu_s": e["values"] / e["cpu"], "fpe_cpu_seconds": e["cpu"],
                     "fpe_wall_seconds": e["wall"], "cpu_seconds": r["cpu_seconds"],
                     "peak_rss_mb": r["peak_rss_mb"]}
    return got


def run_round(i: int, a: argparse.Namespace, src: Path, core: int | None) -> dict[str, dict]:
    """One round of the fraud_detection figure: veil run and pyarrow alone, order alternating."""
    from veil.policy import SAMPLE_POLICY, load_policy

    ws, out = DATA / "bench-fpe-ws", DATA / "bench-fpe-out.parquet"
    pur = load_policy(SAMPLE_POLICY).purposes["fraud_detection"]
    names = [f for ds in pur.datasets.values() for f in ds.fields]
    env = {"VEIL_KEK": base64.b64encode(os.urandom(32)).decode(), "VEIL_WORKSPACE": str(ws)}

    def veil_run() -> dict:
        import veil

        if ws.exists():
            shutil.rmtree(ws)
        veil.init_workspace(ws)[0].close()
        for old in DATA.glob(out.name + "*"):
            old.unlink()
        r = run_child([str(VEIL), "run", "--policy", "sample", "--purpose", "fraud_detection",
                       str(src), "-o", str(out), "--json"], core=core, env=env, cwd=ws)
        r["rows"] = json.loads(r.pop("stdout"))["rows"]["out"]
        return r

    def anchor_run() -> dict:
        code = RUN_ANCHOR.format(src=str(src), names=names, out=str(out) + ".anchor")
        r = run_child([sys.executable, "-c", code], core=core)
        r["rows"] = int(r.pop("stdout").strip())
        return r

    order = [("veil run fraud_detection", veil_run), ("pyarrow alone (anchor)", anchor_run)]
    got = {name: fn() for name, fn in (order if i % 2 == 0 else order[::-1])}
    for r in got.values():
        r["rows_per_cpu_s"] = r["rows"] / r["cpu_seconds"]
        r["rows_per_wall_s"] = r["rows"] / r["wall_seconds"]
    return got


def summarize(rounds: list[dict[str, dict]]) -> dict[str, dict]:
    keys = list(rounds[0][next(iter(rounds[0]))])
    return {name: medians([r[name] for r in rounds], [k for k in keys if k != "rows"])
            for name in rounds[0]}


def main() -> None:
    p = argparse.ArgumentParser(
        description="Batched FF1 / FF3-1 beside the ff3 package; fraud_detection rows/s.",
        epilog="example: .venv/bin/python benchmarks/bench_fpe.py --values 300000 "
               "--rows 100000 --runs 3")
    p.add_argument("--values", type=int, default=300_000, help="values per batched run")
    p.add_argument("--anchor-values", type=int, default=20_000,
                   help="values for the ff3 package (it runs one value at a time)")
    p.add_argument("--rows", type=int, default=100_000, help="rows for fraud_detection (0: skip)")
    p.add_argument("--runs", type=int, default=3, help="interleaved rounds (medians)")
    p.add_argument("--core", type=int, default=0, help="CPU core to pin to (-1: none)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    a = p.parse_args()
    core = None if a.core < 0 else a.core
    values = summarize([values_round(i, a, core) for i in range(a.runs)])
    anchor = values["ff3 package (anchor)"]["values_per_cpu_s"]
    for v in values.values():
        v["ratio_to_anchor"] = v["values_per_cpu_s"] / anchor
    report: dict = {"commit": commit(), "runs": a.runs, "values": values}
    if a.rows:
        src = ensure_sample(a.rows)
        runs = summarize([run_round(i, a, src, core) for i in range(a.runs)])
        base = runs["pyarrow alone (anchor)"]["cpu_seconds"]
        for v in runs.values():
            v["cpu_ratio_to_anchor"] = v["cpu_seconds"] / base
        report["fraud_detection"] = {"rows": a.rows, **runs}
    if a.json:
        print(json.dumps(report, indent=2))
        return
    print(f"commit {report['commit']}, medians of {a.runs} interleaved runs, one core")
    print(f"{'16-digit values':28} {'values/CPU s':>14} {'x ff3':>7} {'FPE CPU s':>10} "
          f"{'child CPU s':>11} {'peak RSS MB':>11}")
    for name, v in values.items():
        print(f"{name:28} {v['values_per_cpu_s']:>14,.0f} {v['ratio_to_anchor']:>7.1f} "
              f"{v['fpe_cpu_seconds']:>10.3f} {v['cpu_seconds']:>11.2f} {v['peak_rss_mb']:>11.0f}")
    if a.rows:
        print(f"\nfraud_detection, {a.rows:,} sample rows, CLI in a fresh workspace")
        print(f"{'':28} {'rows/CPU s':>12} {'rows/wall s':>12} {'CPU s':>8} {'x anchor':>9} "
              f"{'peak RSS MB':>11}")
        for name, v in report["fraud_detection"].items():
            if name == "rows":
                continue
            print(f"{name:28} {v['rows_per_cpu_s']:>12,.0f} {v['rows_per_wall_s']:>12,.0f} "
                  f"{v['cpu_seconds']:>8.2f} {v['cpu_ratio_to_anchor']:>9.1f} "
                  f"{v['peak_rss_mb']:>11.0f}")


if __name__ == "__main__":
    main()
