"""Benchmark for the run (issue: foundation): minimization CSV -> Parquet.

Figures: rows/s on one core on a 1,000,000-row sample CSV, and peak RSS on a 10,000,000-row
input (memory flat in input size), beside the naive approach (pandas read_csv, drop columns,
to_parquet) measured in the same run. Not a test: run it by hand.

    .venv/bin/python benchmarks/bench_run.py [--rows 1000000] [--big-rows 10000000]
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import DATA, ensure_sample, measure, replicate  # noqa: E402

# Imports happen before the clock restarts (t0): both sides are timed on the work itself.
VEIL = """
import veil
import veil.pipeline.run
t0 = time.perf_counter()
r = veil.run({policy!r}, "credit_scoring", {src!r}, {out!r}, workspace={ws!r})
extra = r.rows_out
"""


def minimize_only_policy() -> Path:
    """The sample policy with every credit_scoring treatment set to `keep`: the issue's figure
    is minimization alone (the sample purpose's transforms are measured on their own line)."""
    import yaml

    from veil.policy import SAMPLE_POLICY

    doc = yaml.safe_load(SAMPLE_POLICY.read_text())
    fields = doc["purposes"]["credit_scoring"]["datasets"]["transactions"]["fields"]
    doc["purposes"]["credit_scoring"]["datasets"]["transactions"]["fields"] = dict.fromkeys(
        fields, "keep")
    path = DATA / "minimize_policy.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path

NAIVE = """
import pandas as pd
from veil.policy import load_policy
from veil.policy import SAMPLE_POLICY
keep = list(load_policy(SAMPLE_POLICY).purposes["credit_scoring"].datasets["transactions"].fields)
t0 = time.perf_counter()
df = pd.read_csv({src!r})
df = df.drop(columns=[c for c in df.columns if c not in keep])
df.to_parquet({out!r}, index=False)
extra = len(df)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--big-rows", type=int, default=10_000_000)
    ap.add_argument("--core", type=int, default=0, help="CPU core to pin each measurement to")
    ap.add_argument("--naive-big", action="store_true",
                    help="also run pandas on the big input (needs ~10+ GB of memory)")
    a = ap.parse_args()

    import veil

    src = ensure_sample(a.rows)
    ws = DATA / "ws"
    if ws.exists():
        shutil.rmtree(ws)
    veil.init_workspace(ws)[0].close()
    out = DATA / "out.parquet"

    # The run encrypts its output at rest by default: give it a key-encryption key.
    env = {"VEIL_KEK": base64.b64encode(os.urandom(32)).decode()}
    minimize = str(minimize_only_policy())
    from veil.policy import SAMPLE_POLICY

    v = measure(VEIL.format(policy=minimize, src=str(src), out=str(out), ws=str(ws)),
                core=a.core, env=env)
    vt = measure(VEIL.format(policy=str(SAMPLE_POLICY), src=str(src), out=str(out), ws=str(ws)),
                 core=a.core, env=env)
    n = measure(NAIVE.format(src=str(src), out=str(DATA / "naive.parquet")), core=a.core)
    mb = src.stat().st_size / 1e6
    print(f"input: {src.name}, {a.rows:,} rows, {mb:,.0f} MB; one core each, fresh process; "
          "veil's output encrypted at rest (its default), pandas' not")
    print(f"{'':26}{'seconds':>10}{'rows/s':>14}{'peak RSS MB':>14}")
    for name, r in (("veil run (minimize)", v), ("naive pandas", n),
                    ("veil run (sample purpose)", vt)):
        print(f"{name:26}{r['seconds']:>10.2f}{a.rows / r['seconds']:>14,.0f}"
              f"{r['peak_rss_mb']:>14,.0f}")
    print("(sample purpose = minimization + HMAC pseudonyms of customer_id + age bands)")
    print(f"speed ratio veil/naive: {n['seconds'] / v['seconds']:.1f}x faster; "
          f"memory ratio naive/veil: {n['peak_rss_mb'] / v['peak_rss_mb']:.1f}x less")
    target = "OK" if a.rows / v["seconds"] >= 500_000 else "BELOW TARGET"
    print(f"target >= 500,000 rows/s on one core: {target}")

    if a.big_rows:
        times = max(1, a.big_rows // a.rows)
        big = replicate(src, times, DATA / f"sample_{a.rows * times}.csv")
        vb = measure(VEIL.format(policy=minimize, src=str(big), out=str(out), ws=str(ws)),
                     core=a.core, env=env)
        print(f"\nbig input: {a.rows * times:,} rows, {big.stat().st_size / 1e9:.1f} GB")
        print(f"veil run: {vb['seconds']:.1f} s, {a.rows * times / vb['seconds']:,.0f} rows/s, "
              f"peak RSS {vb['peak_rss_mb']:,.0f} MB (at {a.rows:,} rows: "
              f"{v['peak_rss_mb']:,.0f} MB)")
        print("target peak RSS < 300 MB: " + ("OK" if vb["peak_rss_mb"] < 300 else "ABOVE"))
        if a.naive_big:
            nb = measure(NAIVE.format(src=str(big), out=str(DATA / "naive.parquet")), core=a.core)
            print(f"naive pandas: {nb['seconds']:.1f} s, peak RSS {nb['peak_rss_mb']:,.0f} MB; "
                  f"memory ratio {nb['peak_rss_mb'] / vb['peak_rss_mb']:.1f}x")


if __name__ == "__main__":
    main()
