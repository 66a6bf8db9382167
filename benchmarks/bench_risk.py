"""Benchmark: re-identification risk measurement and the optimal anonymization.

(a) UCI Adult (30,162 rows, all 9 columns as QIs, ARX hierarchies), k = 5 with 4% suppression,
    non-uniform entropy: the optimum search, beside its anchor measured in the same run: the
    brute-force evaluation of all 12,960 lattice nodes (``--no-brute`` skips it).
(b) Metrics over a generated table (default 10,000,000 rows, 5 QIs + 1 sensitive attribute,
    generated batch by batch with numpy, so the table is never held in memory): time and
    peak RSS, beside pycanon on the same rows. pycanon is pandas-based and slow: it runs on
    the first ``--sample`` rows only, Veil runs on the same sample too (a measured ratio), and
    pycanon's full-size time is a linear extrapolation, printed as such.
(c) The release gate of a run on Adult (staged Parquet in, generalized Parquet out).
(d) Every privacy model on Adult (eight QIs, occupation sensitive): its figure measured, and
    the optimal anonymization with 4% suppression beside k-anonymity's time (the ratio);
    beside pyCANON on the first ``--pycanon-rows`` rows where it has the model (same rows).
(e) Every model's figure on ``--rows`` generated rows (5 QIs, ~10M classes at 12M rows).
(f) Peak RSS per equivalence class at ``--classes-rows`` rows (about 10M classes), in a
    fresh process: (peak - RSS before the aggregation) / classes.

pycanon pins old numpy/pandas, so it is best kept in its own virtualenv: pass
``--pycanon-python /path/to/venv/bin/python`` (or set VEIL_PYCANON_PYTHON); the sample is
handed over as a Parquet file and timed inside that interpreter. If pycanon is importable here,
it runs in-process instead. Without either, the comparison is skipped and says so.

    python benchmarks/bench_risk.py --rows 200000 --sample 50000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from veil.risk import Anonymizer, KAnonymity, NonUniformEntropy, anonymize, load_hierarchies
from veil.risk.metrics import aggregate, distinct_l_diversity, k_anonymity, report

ROOT = Path(__file__).resolve().parents[1]
ADULT = ROOT.parent / "shared" / "conformance" / "adult"
QIS = ["age", "sex", "region", "education", "occupation"]
SENSITIVE = "income"


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024.0  # Linux: KiB


# -- (a) Adult ---------------------------------------------------------------------------------


def bench_adult(repeat: int, brute: bool) -> dict:
    table = pacsv.read_csv(ADULT / "adult.csv", parse_options=pacsv.ParseOptions(delimiter=";"))
    hs = load_hierarchies(sorted(ADULT.glob("adult_hierarchy_*.csv")))
    times = []
    res = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        res = anonymize(
            table, hs, [KAnonymity(5)], suppression_limit=0.04, quality=NonUniformEntropy()
        )
        times.append(time.perf_counter() - t0)
    assert res is not None
    search_only = res.elapsed_seconds
    out = {
        "rows": table.num_rows,
        "node": res.levels,
        "info_loss": res.info_loss,
        "suppressed": res.suppressed_records,
        "suppressed_share": res.suppressed_share,
        "nodes_total": res.nodes_total,
        "nodes_evaluated": res.nodes_evaluated,
        "seconds_median": statistics.median(times),
        "seconds_min": min(times),
        "seconds_read_and_search": search_only,
    }
    if brute:
        ec = aggregate(table, table.column_names, hierarchies=hs)
        eng = Anonymizer(
            ec, hs, [KAnonymity(5)], suppression_limit=0.04, quality=NonUniformEntropy()
        )
        t0 = time.perf_counter()
        ev = eng.evaluate_all()
        out["brute_seconds"] = time.perf_counter() - t0
        best = ev.optimum()
        out["brute_agrees"] = (
            dict(zip(ec.quasi_identifiers, ev.nodes[best].tolist(), strict=True)) == res.levels
        )
    out["peak_rss_mb"] = peak_rss_mb()
    return out


# -- (b) generated table ----------------------------------------------------------------------


def generate(rows: int, batch: int, seed: int = 20240501) -> Iterator[pa.RecordBatch]:
    """A census-like table: skewed distributions, so QI combinations repeat as in real data."""
    rng = np.random.default_rng(seed)
    sexes = pa.array(["F", "M"])
    regions = pa.array([f"R{i:02d}" for i in range(50)])
    educations = pa.array([f"E{i:02d}" for i in range(16)])
    region_p = 1.0 / np.arange(1, 51) ** 1.1
    region_p /= region_p.sum()
    edu_p = np.linspace(3, 1, 16)
    edu_p /= edu_p.sum()
    for start in range(0, rows, batch):
        n = min(batch, rows - start)
        age = np.clip(rng.normal(42, 14, n).round(), 18, 90).astype(np.int64)
        yield pa.record_batch(
            {
                "age": pa.array(age),
                "sex": sexes.take(pa.array(rng.integers(0, 2, n))),
                "region": regions.take(pa.array(rng.choice(50, n, p=region_p))),
                "education": educations.take(pa.array(rng.choice(16, n, p=edu_p))),
                "occupation": pa.array(rng.integers(0, 15, n).astype(np.int16)),
                SENSITIVE: pa.array(rng.integers(0, 10, n).astype(np.int8)),
            }
        )


class Timed:
    """Wraps a batch generator and adds up the time spent producing batches, so that the
    consumer's own time is ``total - produced``."""

    def __init__(self, batches: Iterator[pa.RecordBatch]) -> None:
        self.batches = batches
        self.seconds = 0.0

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        while True:
            t0 = time.perf_counter()
            try:
                batch = next(self.batches)
            except StopIteration:
                self.seconds += time.perf_counter() - t0
                return
            self.seconds += time.perf_counter() - t0
            yield batch


def veil_k_l(batches: Iterator[pa.RecordBatch]) -> tuple[int, int, int]:
    ec = aggregate(batches, QIS, [SENSITIVE])
    return k_anonymity(ec), distinct_l_diversity(ec, SENSITIVE), ec.classes


PYCANON_SNIPPET = r"""
import json, sys, time
import pyarrow.parquet as pq
from pycanon import anonymity
df = pq.read_table(sys.argv[1]).to_pandas()
qis = json.loads(sys.argv[2]); sa = sys.argv[3]
t0 = time.perf_counter()
k = anonymity.k_anonymity(df, qis)
l = anonymity.l_diversity(df, qis, [sa])
print(json.dumps({"seconds": time.perf_counter() - t0, "k": int(k), "l": int(l)}))
"""


def run_pycanon(sample: pa.Table, python: str | None) -> dict | None:
    try:
        from pycanon import anonymity  # noqa: F401

        in_process = True
    except ImportError:
        in_process = False
    if in_process:
        from pycanon import anonymity

        df = sample.to_pandas()
        t0 = time.perf_counter()
        k = anonymity.k_anonymity(df, QIS)
        l = anonymity.l_diversity(df, QIS, [SENSITIVE])  # noqa: E741
        return {
            "seconds": time.perf_counter() - t0,
            "k": int(k),
            "l": int(l),
            "where": "in-process",
        }
    if not python:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sample.parquet"
        pq.write_table(sample, path)
        proc = subprocess.run(
            [python, "-c", PYCANON_SNIPPET, str(path), json.dumps(QIS), SENSITIVE],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            print(f"pycanon failed: {proc.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
            return None
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        out["where"] = python
        return out


def bench_metrics(rows: int, batch: int, sample_rows: int, python: str | None) -> dict:
    # the time spent generating batches is measured inside the stream and taken out
    stream = Timed(generate(rows, batch))
    t0 = time.perf_counter()
    k, l, classes = veil_k_l(iter(stream))  # noqa: E741
    kl_seconds = time.perf_counter() - t0 - stream.seconds
    gen_seconds = stream.seconds
    rss_after_kl = peak_rss_mb()
    stream = Timed(generate(rows, batch))
    t0 = time.perf_counter()
    ec = aggregate(iter(stream), QIS, [SENSITIVE])
    full = report(ec, contributions=True)
    full_seconds = time.perf_counter() - t0 - stream.seconds
    del ec
    out: dict = {
        "rows": rows,
        "batch": batch,
        "qis": QIS,
        "classes": classes,
        "k": k,
        "l": l,
        "generation_seconds": gen_seconds,
        "veil_k_l_seconds": kl_seconds,
        "veil_full_report_seconds": full_seconds,
        "veil_rows_per_second": rows / kl_seconds if kl_seconds > 0 else float("inf"),
        "peak_rss_mb_after_k_l": rss_after_kl,
        "peak_rss_mb": peak_rss_mb(),
        "full_report_uniqueness": full.sample_uniqueness,
    }
    # pycanon on a sample; Veil on the same sample for a measured ratio
    n = min(sample_rows, rows)
    sample = pa.Table.from_batches(list(generate(n, batch)))
    t0 = time.perf_counter()
    vk, vl, _ = veil_k_l(iter(sample.to_batches()))
    veil_sample = time.perf_counter() - t0
    canon = run_pycanon(sample, python)
    out["sample_rows"] = n
    out["veil_sample_seconds"] = veil_sample
    if canon is None:
        out["pycanon"] = "not available (pip install pycanon, or --pycanon-python)"
        return out
    if (canon["k"], canon["l"]) != (vk, vl):
        raise SystemExit(f"pycanon disagrees: k,l = {canon['k']},{canon['l']} vs {vk},{vl}")
    out["pycanon_sample_seconds"] = canon["seconds"]
    out["pycanon_where"] = canon["where"]
    out["ratio_on_sample"] = canon["seconds"] / veil_sample
    out["pycanon_extrapolated_seconds"] = canon["seconds"] * rows / n
    out["ratio_extrapolated"] = out["pycanon_extrapolated_seconds"] / kl_seconds
    return out


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def bench_gate(repeat: int) -> dict:
    """The release gate of a run on Adult: read the staged Parquet, measure, search, write
    the generalized file, re-measure it (k = 5, 4 %, all nine QIs)."""
    from veil.policy.risk import RiskPolicy
    from veil.risk.gate import release_gate

    table = pacsv.read_csv(ADULT / "adult.csv", parse_options=pacsv.ParseOptions(delimiter=";"))
    risk = RiskPolicy.model_validate(
        {
            "min_k": 5,
            "suppression_limit": 0.04,
            "auto_generalize": True,
            "hierarchies": {q: f"adult_hierarchy_{q}.csv" for q in table.column_names},
        }
    )
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp) / "staged.parquet"
        pq.write_table(table, staged)
        for i in range(repeat):
            t0 = time.perf_counter()
            g = release_gate(staged, Path(tmp) / f"out{i}.parquet", risk, ADULT, table.column_names)
            times.append(time.perf_counter() - t0)
    return {
        "seconds_median": statistics.median(times),
        "rows_out": g.rows_out,
        "suppressed": g.suppressed_records,
        "k_after": g.after.k if g.after is not None else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=10_000_000, help="rows of the generated table")
    ap.add_argument("--batch", type=int, default=1 << 16, help="rows per record batch")
    ap.add_argument("--sample", type=int, default=200_000, help="rows given to pycanon")
    ap.add_argument("--repeat", type=int, default=3, help="Adult runs (median reported)")
    ap.add_argument("--no-brute", action="store_true", help="skip the brute-force anchor")
    ap.add_argument("--skip-adult", action="store_true")
    ap.add_argument("--skip-metrics", action="store_true")
    ap.add_argument("--pycanon-python", default=os.environ.get("VEIL_PYCANON_PYTHON"))
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    ap.add_argument("--models", action="store_true", help="run (d)-(f): every model")
    ap.add_argument("--only-models", action="store_true", help="run (d)-(f) only")
    ap.add_argument("--pycanon-rows", type=int, default=3000, help="Adult rows for pyCANON")
    ap.add_argument("--classes-rows", type=int, default=12_000_000, help="rows for (e), (f)")
    ap.add_argument("--search", action="store_true",
                    help="run (g) only: each model's optimum in fresh processes beside k's")
    ap.add_argument("--baseline", default=None,
                    help="with --search: the src/ of another Veil version to interleave "
                    "(git archive <rev> src | tar -x -C DIR; pass DIR/src)")
    args = ap.parse_args()
    results: dict = {}
    if args.search:
        results["search"] = run_search(args)
        if args.json:
            print(json.dumps(results, indent=2, default=str))
        return
    if args.only_models:
        results.update(run_models(args))
        if args.json:
            print(json.dumps(results, indent=2, default=str))
        return
    if not args.skip_metrics:  # first: its RSS peak is not hidden by anything else
        m = bench_metrics(args.rows, args.batch, args.sample, args.pycanon_python)
        results["metrics"] = m
        print(
            f"(b) metrics, {m['rows']:,} generated rows x {len(QIS)} QIs + 1 sensitive, "
            f"batches of {m['batch']:,}: {m['classes']:,} classes, k={m['k']}, l={m['l']}"
        )
        print(
            f"    veil k + distinct-l, one streaming pass: {m['veil_k_l_seconds']:.2f} s "
            f"({m['veil_rows_per_second'] / 1e6:.2f} M rows/s; generation "
            f"{m['generation_seconds']:.2f} s not counted); full report "
            f"{m['veil_full_report_seconds']:.2f} s; peak RSS {m['peak_rss_mb']:.0f} MB"
        )
        verdict = (
            _verdict(m["veil_k_l_seconds"] < 10 and m["peak_rss_mb"] < 1024)
            if m["rows"] >= 10_000_000
            else f"not judged at {m['rows']:,} rows (run without --rows)"
        )
        print(f"    target: < 10 s and < 1 GB peak RSS at 10,000,000 rows x 5 QIs: {verdict}")
        if "pycanon_sample_seconds" in m:
            print(
                f"    pycanon k + l on the first {m['sample_rows']:,} rows: "
                f"{m['pycanon_sample_seconds']:.2f} s vs veil {m['veil_sample_seconds']:.3f} s "
                f"on the same rows: ratio {m['ratio_on_sample']:.1f}x (measured)"
            )
            print(
                f"    pycanon at {m['rows']:,} rows: {m['pycanon_extrapolated_seconds']:.1f} s "
                f"EXTRAPOLATED linearly from the sample (not run): ratio "
                f"{m['ratio_extrapolated']:.1f}x (extrapolated)"
            )
        else:
            print(f"    pycanon: {m['pycanon']}")
    if not args.skip_adult:
        a = bench_adult(args.repeat, not args.no_brute)
        results["adult"] = a
        print(
            f"(a) Adult {a['rows']:,} rows, 9 QIs, k=5, 4% suppression, non-uniform entropy: "
            f"optimum {a['node']} loss {a['info_loss']:.2f}, suppressed {a['suppressed']} "
            f"({a['suppressed_share']:.2%})"
        )
        print(
            f"    time {a['seconds_median']:.3f} s median of {args.repeat} (min "
            f"{a['seconds_min']:.3f} s; read + search {a['seconds_read_and_search']:.3f} s, "
            f"reports excluded), {a['nodes_evaluated']} of {a['nodes_total']:,} nodes "
            f"evaluated exactly; peak RSS {a['peak_rss_mb']:.0f} MB"
        )
        print(f"    target: < 1 s for the Adult optimum: {_verdict(a['seconds_median'] < 1.0)}")
        if "brute_seconds" in a:
            print(
                f"    anchor: brute force over all {a['nodes_total']:,} nodes "
                f"{a['brute_seconds']:.2f} s (same optimum: {a['brute_agrees']}): ratio "
                f"{a['brute_seconds'] / a['seconds_median']:.1f}x"
            )
    if not args.skip_adult:
        gt = bench_gate(args.repeat)
        results["gate"] = gt
        print(
            f"(c) release gate on Adult as a run's staged Parquet (measure, search, write, "
            f"re-measure): {gt['seconds_median']:.3f} s median of {args.repeat}; "
            f"{gt['rows_out']:,} rows released, {gt['suppressed']} suppressed, "
            f"k after = {gt['k_after']}"
        )
    if args.models:  # last: (e) aggregates millions of rows in this process
        results.update(run_models(args))
    if args.json:
        print(json.dumps(results, indent=2, default=str))


def run_models(args: argparse.Namespace) -> dict:
    """(f) first (a fresh process), then (d) and (e); prints as it goes."""
    from _risk_models import bench_models_10m, bench_models_adult, memory_code
    from _util import measure as fresh

    out: dict = {}
    mem = fresh(memory_code(args.classes_rows, with_report=True))
    e = mem["extra"]
    per_class = (mem["peak_rss_mb"] - e["base_mb"]) * 2**20 / e["classes"]
    out["memory"] = {**mem, "bytes_per_class": per_class}
    print(
        f"(f) {args.classes_rows:,} rows -> {e['classes']:,} classes (5 QIs), aggregate + report "
        f"in a fresh process: peak RSS {mem['peak_rss_mb']:.0f} MB, {e['base_mb']:.0f} MB before "
        f"the aggregation: {per_class:.1f} bytes per class "
        f"(target < 64: {_verdict(per_class < 64)}); {mem['seconds']:.1f} s"
    )
    d = bench_models_adult(ADULT, args.repeat, args.pycanon_rows)
    out["adult_models"] = d
    print(
        f"(d) Adult {d['rows']:,} rows, 8 QIs, occupation sensitive: aggregate "
        f"{d['aggregate_seconds'] * 1000:.0f} ms CPU; each figure (median of {args.repeat}):"
    )
    canon = d["pycanon"]
    for name, m in d["measure"].items():
        line = f"    {name:42s} {m['seconds'] * 1000:9.2f} ms  = {_short(m['value'])}"
        if canon and name in canon:
            c = canon[name]
            secs, value = d["veil_sample"][name]
            v = secs + d["veil_sample_aggregate"]
            line += (
                f" | first {d['sample_rows']:,} rows: pyCANON {c['seconds']:.2f} s "
                f"= {_short(c['value'])}, Veil {v * 1000:.1f} ms incl. aggregate = "
                f"{_short(value)}: {c['seconds'] / v:,.0f}x"
            )
        print(line)
    if canon is None:
        print("    pyCANON: not importable (PYTHONPATH=/path/pycanon-*.whl to compare)")
    k_time = d["search"]["k-anonymity (k=5)"]["seconds"]
    print("    optimal anonymization, 4% suppression (CPU s, ratio to k-anonymity's):")
    for name, r in d["search"].items():
        print(
            f"    {name:42s} {r['seconds']:7.2f} s  {r['seconds'] / k_time:6.1f}x  "
            f"node {r['node']} ({r['exact']} exact evaluations)"
        )
    m10 = bench_models_10m(args.classes_rows)
    out["rows_models"] = m10
    print(
        f"(e) {m10['rows']:,} generated rows, {m10['classes']:,} classes: aggregate "
        f"{m10['aggregate_seconds']:.1f} s CPU (generation not counted); each figure:"
    )
    for name, m in m10["measure"].items():
        print(f"    {name:42s} {m['seconds']:8.2f} s  = {_short(m['value'])}")
    return out


def run_search(args: argparse.Namespace) -> dict:
    """(g): each model's optimal anonymization on Adult, fresh processes, beside k's."""
    from _risk_models import bench_search

    g = bench_search(ADULT, args.repeat, args.baseline)
    base = g.pop("baseline", None)
    anchor = g["k-anonymity (k=5)"]["search_cpu_seconds"]
    print(
        f"(g) optimal anonymization on Adult, 8 QIs, 4% suppression, public API in a fresh "
        f"process per run, interleaved; medians of {args.repeat} (search CPU s excluding the "
        f"read; ratio to k-anonymity's; the child's CPU s and peak RSS):"
    )
    for name, r in g.items():
        ratio = r["search_cpu_seconds"] / anchor
        print(
            f"    {name:42s} {r['search_cpu_seconds']:6.2f} s {ratio:5.1f}x "
            f"(target 5x: {_verdict(ratio <= 5)})  process {r['process_cpu_seconds']:5.2f} s "
            f"CPU, peak RSS {r['peak_rss_mb']:4.0f} MB; node {tuple(r['node'])}, "
            f"{r['evaluated']} exact"
        )
    if base is not None:
        b_anchor = base["k-anonymity (k=5)"]["search_cpu_seconds"]
        print(f"    baseline {args.baseline} (interleaved with the runs above):")
        for name, r in base.items():
            same = r["node"] == g[name]["node"] and r["loss"] == g[name]["loss"]
            print(
                f"    {name:42s} {r['search_cpu_seconds']:6.2f} s "
                f"{r['search_cpu_seconds'] / b_anchor:5.1f}x  node {tuple(r['node'])}, "
                f"{r['evaluated']} exact; same optimum: {'yes' if same else 'NO'}"
            )
        g["baseline"] = base
    return g


def _short(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, tuple):
        return "(" + ", ".join(_short(x) for x in v) + ")"
    return str(v)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
