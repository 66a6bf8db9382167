"""Benchmark for the Spark engine (issue 12): the full run, local engine vs Spark ``local[2]``,
single output file (streamed through the driver) and parts mode (written by the executors).

Figures: rows/s of the local engine (one core, as in bench_run) and of ``veil.spark.run`` on a
``local[2]`` session over the same sample CSV (the sample policy's ``credit_scoring`` purpose:
minimization, a keyed pseudonym, an age band; input: a sample Parquet file, output: encrypted
Parquet), the overhead ratio (local rows/s over Spark
rows/s), the peak RSS of the driver (Python) and of the JVM, and the partition-level
throughput that the scaling estimate in docs/_pending/spark.md is made from: rows per second
of stage work per executor core, and the driver's write rate (the single output's ceiling);
for parts mode, the executors' write rate per core (encode, encrypt, verify: summed over tasks)
and the driver's check of the parts (hashing them all).
Not a test: run it by hand.

    .venv/bin/python benchmarks/bench_spark.py [--rows 10000000] [--partitions 8]
    .venv/bin/python benchmarks/bench_spark.py --scaling --rows 1000000 [--repeat 3]

``--scaling``: the same job (parts mode, each core writing its own parts) at ``local[1]`` and
``local[2]``, and the local engine with ``--workers 1`` and ``--workers 2`` (one output file),
interleaved, ``--repeat`` times each, fresh processes: median wall and CPU seconds (the child
and the JVM or worker processes it waits for), rows/s, the speed-ups and whether the receipts
agree (rows, fields and key ids, stage counts, risk figures, columns), within each engine and
across the two. The load average is printed beside each figure: the machine is shared.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import DATA, measure  # noqa: E402

LOCAL = """
import veil
import veil.pipeline.run
t0 = time.perf_counter()
r = veil.run({policy!r}, "credit_scoring", {src!r}, {out!r}, workspace={ws!r})
extra = r.rows_out
"""

SPARK = r"""
import json, resource, sys, time
from veil.spark import run, session
spark = session({master!r}, **{{"spark.sql.files.maxPartitionBytes": str({split}),
                                 # the output streams through the driver: no result cap, and
                                 # heap for a few partitions' results in flight
                                 "spark.driver.maxResultSize": "0",
                                 "spark.driver.memory": "4g"}})
spark.range(1).count()  # JVM and session up before the clock starts
t0 = time.perf_counter()
r = run({src!r}, {policy!r}, "credit_scoring", {out!r}, workspace={ws!r}, spark=spark,
        parts={parts!r})
seconds = time.perf_counter() - t0
rec = r.receipt
jvm_pid = spark.sparkContext._gateway.proc.pid
hwm = [x for x in open(f"/proc/{{jvm_pid}}/status") if x.startswith("VmHWM")]
import os
def _tree_cpu(root):  # the JVM and its Python workers (alive now), from /proc
    ticks, kids, stats = 0, {{root}}, {{}}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                f = open(f"/proc/{{d}}/stat").read().rsplit(")", 1)[1].split()
                stats[int(d)] = (int(f[1]), sum(int(x) for x in f[11:15]))
            except OSError:
                pass
    grew = True
    while grew:
        new = {{p for p, (pp, _) in stats.items() if pp in kids}} - kids
        grew = bool(new)
        kids |= new
    return sum(stats[p][1] for p in kids if p in stats) / os.sysconf("SC_CLK_TCK")
self_cpu = resource.getrusage(resource.RUSAGE_SELF)
tree_cpu = _tree_cpu(jvm_pid) + self_cpu.ru_utime + self_cpu.ru_stime
print("@@RESULT@@" + json.dumps({{
    "seconds": seconds, "rows_out": r.rows_out,
    "driver_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "jvm_rss_mb": int(hwm[0].split()[1]) / 1024 if hwm else None,
    "stage_seconds": sum(s["seconds"] for s in rec["stages"]),
    "write_seconds": rec["timings_seconds"]["write"],
    "partitions": rec["engine"]["partitions"],
    "verify_seconds": rec["engine"].get("parts_verify_seconds"), "tree_cpu": tree_cpu,
    "receipt": {{"rows": rec["rows"], "fields": rec["fields"], "risk": rec.get("risk"),
                 "stages": [(s["stage"], s["rows_in"], s["rows_out"]) for s in rec["stages"]],
                 "columns": rec["output"]["columns"]}}}}))
spark.stop()
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--partitions", type=int, default=8,
                    help="about how many input splits Spark reads the input in")
    ap.add_argument("--scaling", action="store_true",
                    help="local[1] against local[2] on the same job (see the module doc)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    from veil.kek.providers import EnvKEK
    from veil.policy import SAMPLE_POLICY
    from veil.store.workspace import Workspace, init_workspace

    src = DATA / f"sample_{args.rows}_1.parquet"  # a data lake's format: columnar, splittable
    if not src.exists():
        from veil.sample import write_sample

        DATA.mkdir(exist_ok=True)
        write_sample(src, args.rows, seed=1)
    # a fresh workspace (and KEK) per run: a workspace left from an older schema cannot skew
    # or break the figures
    ws = Path(tempfile.mkdtemp(prefix="spark_ws.", dir=DATA))
    atexit.register(shutil.rmtree, ws, True)
    os.environ["VEIL_KEK"] = EnvKEK.new_secret()
    base64.b64decode(os.environ["VEIL_KEK"])
    init_workspace(ws)[0].close()
    Workspace.open(ws).close()
    split = max(1 << 20, src.stat().st_size // args.partitions + 1)
    print(f"input: {src.name}, {args.rows:,} rows, {src.stat().st_size / 1e6:,.0f} MB")

    if args.scaling:
        return scaling(args, src, split, ws)
    local = measure(LOCAL.format(policy=str(SAMPLE_POLICY), src=str(src),
                                 out=str(DATA / "spark_bench_local.parquet"), ws=str(ws)))

    def spark_run(out: Path, parts: bool) -> dict:
        code = SPARK.format(policy=str(SAMPLE_POLICY), src=str(src), split=split,
                            out=str(out), ws=str(ws), parts=parts, master="local[2]")
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env=os.environ.copy())
        if r.returncode != 0:
            raise SystemExit(f"Spark child failed:\n{r.stderr[-3000:]}")
        res = json.loads([x for x in r.stdout.splitlines()
                          if x.startswith("@@RESULT@@")][-1][len("@@RESULT@@"):])
        assert res["rows_out"] == local["extra"], "the engines disagree on the row count"
        return res  # type: ignore[no-any-return]

    spark = spark_run(DATA / "spark_bench_spark.parquet", False)
    parts = spark_run(DATA / "spark_bench_parts", True)

    local_rps = args.rows / local["seconds"]
    spark_rps = args.rows / spark["seconds"]
    per_core = args.rows / spark["stage_seconds"] if spark["stage_seconds"] else float("nan")
    sink_rps = args.rows / spark["write_seconds"] if spark["write_seconds"] else float("nan")
    print(f"local engine (1 core):     {local_rps:>12,.0f} rows/s  {local['seconds']:7.1f} s  "
          f"peak RSS {local['peak_rss_mb']:,.0f} MB")
    print(f"spark local[2]:            {spark_rps:>12,.0f} rows/s  {spark['seconds']:7.1f} s  "
          f"driver RSS {spark['driver_rss_mb']:,.0f} MB, JVM RSS {spark['jvm_rss_mb']:,.0f} MB, "
          f"{spark['partitions']} partitions")
    parts_rps = args.rows / parts["seconds"]
    print(f"spark local[2], parts:     {parts_rps:>12,.0f} rows/s  {parts['seconds']:7.1f} s  "
          f"driver RSS {parts['driver_rss_mb']:,.0f} MB, JVM RSS {parts['jvm_rss_mb']:,.0f} MB, "
          f"{parts['partitions']} parts")
    print(f"overhead ratio (local / spark rows/s): single file {local_rps / spark_rps:.2f}, "
          f"parts {local_rps / parts_rps:.2f}")
    parts_core = args.rows / (parts["stage_seconds"] + parts["write_seconds"])
    print(f"parts mode: stage work + part writing {parts_core:,.0f} rows/s per executor core "
          f"(writing alone {args.rows / parts['write_seconds']:,.0f}); driver's check of the "
          f"parts {parts['verify_seconds']:.2f} s "
          f"({args.rows / max(parts['verify_seconds'], 1e-9):,.0f} rows/s)")
    print(f"partition level: stage work {per_core:,.0f} rows/s per executor core; "
          f"driver sink {sink_rps:,.0f} rows/s")
    print(f"scaling estimate: min(cores x {per_core:,.0f}, {sink_rps:,.0f}) rows/s, "
          f"e.g. 16 cores -> {min(16 * per_core, sink_rps):,.0f} rows/s "
          "(plus Spark's own scan and Arrow exchange per row: see docs)")
    print(f"parts mode: about cores x {parts_core:,.0f} rows/s, e.g. 16 cores -> "
          f"{16 * parts_core:,.0f} rows/s (bounded by executor cores and storage, not the "
          "driver)")


def _spark_child(code: str) -> dict:
    """One fresh Spark process: its result, with the CPU seconds of it and its JVM."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=os.environ.copy())
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise SystemExit(f"Spark child failed:\n{r.stderr[-3000:]}")
    res = json.loads([x for x in r.stdout.splitlines()
                      if x.startswith("@@RESULT@@")][-1][len("@@RESULT@@"):])
    # the JVM and its Python workers are not waited for by the child: their CPU comes from
    # /proc before the session stops (tree_cpu); the larger of the two counts
    waited = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    res["cpu_seconds"] = max(waited, res.get("tree_cpu") or 0.0)
    return res  # type: ignore[no-any-return]


LOCAL_WORKERS = r"""
import json, time
import veil
t0 = time.perf_counter()
r = veil.run({policy!r}, "credit_scoring", {src!r}, {out!r}, workspace={ws!r},
             workers={workers})
seconds = time.perf_counter() - t0
rec = r.receipt
print("@@RESULT@@" + json.dumps({{
    "seconds": seconds, "rows_out": r.rows_out,
    "receipt": {{"rows": rec["rows"], "fields": rec["fields"], "risk": rec.get("risk"),
                 "stages": [(s["stage"], s["rows_in"], s["rows_out"]) for s in rec["stages"]],
                 "columns": rec["output"]["columns"]}}}}))
"""


def _local_child(code: str) -> dict:
    """One fresh local-engine process: its result, with its CPU seconds (its worker
    processes, reaped before it exits, included) and peak RSS."""
    from _util import run_child

    r = run_child([sys.executable, "-c", code])
    res = json.loads([x for x in r["stdout"].splitlines()
                      if x.startswith("@@RESULT@@")][-1][len("@@RESULT@@"):])
    return res | {"cpu_seconds": r["cpu_seconds"], "peak_rss_mb": r["peak_rss_mb"]}


def scaling(args: argparse.Namespace, src: Path, split: int, ws: Path) -> None:
    """local[1] against local[2], and the local engine's 1 against 2 workers, interleaved,
    medians (see the module doc)."""
    import statistics

    from veil.policy import SAMPLE_POLICY

    kinds = ["local[1]", "local[2]", "workers 1", "workers 2"]
    results: dict[str, list[dict]] = {k: [] for k in kinds}
    for i in range(args.repeat):
        for kind in kinds:
            tag = kind.strip("]").replace("[", "_").replace(" ", "_")
            out = DATA / f"spark_bench_scaling_{tag}_{i}"
            load = os.getloadavg()[0]
            if kind.startswith("local["):
                code = SPARK.format(policy=str(SAMPLE_POLICY), src=str(src), split=split,
                                    out=str(out), ws=str(ws), parts=True, master=kind)
                res = _spark_child(code)
                shutil.rmtree(out, ignore_errors=True)
                out.with_name(out.name + ".receipt.json").unlink(missing_ok=True)
            else:
                out = out.with_suffix(".parquet")
                code = LOCAL_WORKERS.format(policy=str(SAMPLE_POLICY), src=str(src),
                                            out=str(out), ws=str(ws), workers=kind.split()[1])
                res = _local_child(code)
                for f in (out, out.with_name(out.name + ".receipt.json")):
                    f.unlink(missing_ok=True)
            res["load"] = (load + os.getloadavg()[0]) / 2
            results[kind].append(res)
    med = {m: statistics.median(r["seconds"] for r in rs) for m, rs in results.items()}
    for kind, rs in results.items():
        cpu = statistics.median(r["cpu_seconds"] for r in rs)
        rss = (f"driver {max(r['driver_rss_mb'] for r in rs):,.0f} MB, JVM "
               f"{max(r['jvm_rss_mb'] or 0 for r in rs):,.0f} MB" if kind.startswith("local[")
               else f"{max(r['peak_rss_mb'] for r in rs):,.0f} MB (the parent)")
        print(f"{kind:>9}: {args.rows / med[kind]:>12,.0f} rows/s  median {med[kind]:6.2f} s "
              f"wall, {cpu:6.2f} s CPU (all its processes) of {len(rs)} runs; peak RSS {rss}; "
              f"load average {statistics.median(r['load'] for r in rs):.1f} "
              f"(on {os.cpu_count()} CPUs)")

    def same(ks: list[str]) -> bool:
        return len({json.dumps(r["receipt"], sort_keys=True)
                    for k in ks for r in results[k]}) == 1

    def core(r: dict) -> str:  # what both engines must agree on (stages differ by design)
        rec = r["receipt"]
        return json.dumps([rec["rows"], rec["fields"], rec["risk"], rec["columns"]],
                          sort_keys=True)

    across = len({core(r) for rs in results.values() for r in rs}) == 1
    print(f"speed-up Spark local[1] -> local[2]: {med['local[1]'] / med['local[2]']:.2f}x "
          f"(receipts equal: {same(kinds[:2])}); local engine 1 -> 2 workers: "
          f"{med['workers 1'] / med['workers 2']:.2f}x (receipts equal: {same(kinds[2:])}); "
          f"rows, fields, risk and columns equal across the engines: {across}")


if __name__ == "__main__":
    main()
