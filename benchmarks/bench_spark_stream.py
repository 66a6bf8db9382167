"""Benchmark for `veil.spark.stream` (issue 23, item 4): a file source drained with
``availableNow``, one file per micro-batch, beside the anchor: the same files through a bare
Spark Structured Streaming query (``foreachBatch`` writing the same columns to Parquet per
batch, nothing else), in the same run, interleaved, fresh processes.

Figures per mode (medians over ``--repeat``): rows/s over the whole drain (query start to
stop), the per-micro-batch latency p50/p99 (time inside ``foreachBatch``: Veil's run, or the
bare write), the CPU seconds of the whole process tree (the Python driver, the JVM and its
Python workers, read from /proc before the session stops) beside wall seconds, the driver's own
peak RSS and the JVM's. The sample policy's ``credit_scoring`` purpose (minimization, a keyed
pseudonym, format-preserving encryption of the card, redaction of the memo, an encrypted
output) over sample Parquet files. Not a test: run it by hand.

    .venv/bin/python benchmarks/bench_spark_stream.py [--files 8] [--rows-per-file 25000]
                                                      [--repeat 2]
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import DATA, commit, run_child  # noqa: E402

CHILD = r"""
import json, os, resource, sys, time
from pathlib import Path
from veil.spark import session
spark = session("local[2]", **{{"spark.sql.shuffle.partitions": "2",
                                "spark.ui.enabled": "false"}})
spark.range(1).count()  # the JVM and session up before the clock starts
mode, landing, work = {mode!r}, {landing!r}, Path({work!r})
lat = []
t0 = time.perf_counter()
if mode == "veil":
    from veil.policy import SAMPLE_POLICY
    from veil.spark import stream
    r = stream(landing, SAMPLE_POLICY, "credit_scoring", work / "out", checkpoint=work / "ckpt",
               workspace={ws!r}, spark=spark, max_files_per_trigger=1)
    lat = [b.seconds for b in r.batches]
    rows = sum(b.rows_in for b in r.batches)
    batches = len(r.batches)
else:  # the anchor: the same files, the same columns, written per batch, nothing else
    schema = spark.read.parquet(landing).schema
    cols = {cols!r}
    seen = []
    def write(df, batch_id):
        t = time.perf_counter()
        df = df.select(*cols)
        n = df.count()
        df.write.parquet(str(work / "out" / f"batch={{batch_id:06d}}"))
        lat.append(time.perf_counter() - t)
        seen.append(n)
    q = (spark.readStream.schema(schema).option("maxFilesPerTrigger", 1).parquet(landing)
         .writeStream.foreachBatch(write).trigger(availableNow=True)
         .option("checkpointLocation", str(work / "ckpt")).start())
    q.awaitTermination()
    rows, batches = sum(seen), len(seen)
seconds = time.perf_counter() - t0
jvm_pid = spark.sparkContext._gateway.proc.pid
hwm = [x for x in open(f"/proc/{{jvm_pid}}/status") if x.startswith("VmHWM")]
def _tree_cpu(root):  # the JVM and its Python workers (alive now), from /proc
    stats = {{}}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                f = open(f"/proc/{{d}}/stat").read().rsplit(")", 1)[1].split()
                stats[int(d)] = (int(f[1]), sum(int(x) for x in f[11:15]))
            except OSError:
                pass
    kids, grew = {{root}}, True
    while grew:
        new = {{p for p, (pp, _) in stats.items() if pp in kids}} - kids
        grew = bool(new)
        kids |= new
    return sum(stats[p][1] for p in kids if p in stats) / os.sysconf("SC_CLK_TCK")
me = resource.getrusage(resource.RUSAGE_SELF)
print("@@RESULT@@" + json.dumps({{
    "seconds": seconds, "rows": rows, "batches": batches, "latencies": lat,
    "tree_cpu": _tree_cpu(jvm_pid) + me.ru_utime + me.ru_stime,
    "driver_rss_mb": me.ru_maxrss / 1024,
    "jvm_rss_mb": int(hwm[0].split()[1]) / 1024 if hwm else None}}))
spark.stop()
"""


def _files(files: int, rows: int) -> Path:
    """`files` sample Parquet files of `rows` rows each (cached in bench-data/)."""
    import pyarrow.parquet as pq

    folder = DATA / f"stream_{files}x{rows}"
    if folder.is_dir() and len(list(folder.glob("*.parquet"))) == files:
        return folder
    src = DATA / f"sample_{files * rows}_1.parquet"
    if not src.exists():
        from veil.sample import write_sample

        DATA.mkdir(exist_ok=True)
        write_sample(src, files * rows, seed=1)
    table = pq.read_table(src)
    tmp = folder.with_suffix(".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for i in range(files):
        pq.write_table(table.slice(i * rows, rows), tmp / f"part-{i:04d}.parquet")
    shutil.rmtree(folder, ignore_errors=True)
    tmp.replace(folder)
    return folder


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _once(mode: str, landing: Path, ws: Path, cols: list[str]) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"stream_{mode}.", dir=DATA))
    try:
        code = CHILD.format(mode=mode, landing=str(landing), work=str(work), ws=str(ws),
                            cols=cols)
        r = run_child([sys.executable, "-c", code])
        line = [x for x in r["stdout"].splitlines() if x.startswith("@@RESULT@@")][-1]
        res = json.loads(line[len("@@RESULT@@"):])
        # the JVM is not waited for by the child: the larger of the two counts
        res["cpu_seconds"] = max(r["cpu_seconds"], res["tree_cpu"])
        return res  # type: ignore[no-any-return]
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=8, help="files = micro-batches")
    ap.add_argument("--rows-per-file", type=int, default=25_000)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()

    from veil.kek.providers import EnvKEK
    from veil.pipeline.plan import make_plan
    from veil.policy import SAMPLE_POLICY, load_policy
    from veil.store.workspace import init_workspace

    landing = _files(args.files, args.rows_per_file)
    ws = Path(tempfile.mkdtemp(prefix="stream_ws.", dir=DATA))
    atexit.register(shutil.rmtree, ws, True)
    os.environ["VEIL_KEK"] = EnvKEK.new_secret()
    init_workspace(ws)[0].close()
    import pyarrow.parquet as pq

    names = pq.read_schema(next(landing.glob("*.parquet"))).names
    cols = make_plan(load_policy(SAMPLE_POLICY), "credit_scoring", names, None).read
    total = args.files * args.rows_per_file
    print(f"commit {commit()}; {args.files} files x {args.rows_per_file:,} rows "
          f"({total:,} rows), one file per micro-batch, availableNow, local[2]; "
          f"load {os.getloadavg()[0]:.1f}")
    runs: dict[str, list[dict]] = {"veil": [], "anchor": []}
    for i in range(args.repeat):
        for mode in ("anchor", "veil") if i % 2 else ("veil", "anchor"):
            res = _once(mode, landing, ws, cols)
            assert res["rows"] == total and res["batches"] == args.files, res
            runs[mode].append(res)
    print(f"{'mode':<8} {'rows/s':>10} {'wall s':>8} {'CPU s':>8} {'p50 ms':>8} "
          f"{'p99 ms':>8} {'driver RSS':>11} {'JVM RSS':>9}")
    fig = {}
    for mode, rs in runs.items():
        wall = statistics.median(r["seconds"] for r in rs)
        cpu = statistics.median(r["cpu_seconds"] for r in rs)
        lat = [x for r in rs for x in r["latencies"]]
        fig[mode] = {"rps": total / wall, "wall": wall, "cpu": cpu,
                     "p50": _pct(lat, 0.5) * 1e3, "p99": _pct(lat, 0.99) * 1e3}
        f = fig[mode]
        print(f"{mode:<8} {f['rps']:>10,.0f} {wall:>8.1f} {cpu:>8.1f} {f['p50']:>8.0f} "
              f"{f['p99']:>8.0f} {statistics.median(r['driver_rss_mb'] for r in rs):>8,.0f} MB"
              f" {statistics.median(r['jvm_rss_mb'] or 0 for r in rs):>6,.0f} MB")
    v, a = fig["veil"], fig["anchor"]
    print(f"ratio veil/anchor: wall {v['wall'] / a['wall']:.2f}x, CPU {v['cpu'] / a['cpu']:.2f}x"
          f", p50 latency {v['p50'] / a['p50']:.2f}x ({args.repeat} runs each, interleaved; "
          f"load {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
