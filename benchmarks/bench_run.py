"""Benchmark: `veil run` over N rows with N distinct subjects, beside pyarrow alone.

Each figure is one fresh process pinned to one core, and its cost is that process's own
(``os.wait4``: wall, CPU = user + system, peak RSS); headlines are medians of ``--runs``
interleaved rounds (the order alternates each round), never best-of. In a round:

* **veil run**: the CLI as a user types it, ``veil run --policy sample --purpose PURPOSE
  IN.csv -o OUT.parquet`` in a fresh workspace (output encrypted at rest, Veil's default);
* **pyarrow alone** (the anchor): a Python process that reads the same CSV in batches (the
  columns the purpose keeps, the sample's types) and writes them to one Parquet file;
* **start-up**, reported apart: ``veil --version`` (imports and CLI set-up, no work) and
  ``python -c "import pyarrow.csv, pyarrow.parquet"``.

The input has as many distinct subjects as rows (`_util.distinct_subjects_csv`: the sample's
realistic columns, ``customer_id`` made unique), so lineage grows as it does on real data.
A purpose whose legal basis is consent (``personalised_offers``) processes only subjects who
consented: before the timed run, untimed, the fresh workspace gets a notice
(``veil consent notice add``) and a grant for every generated subject (``veil consent
import`` of a generated CSV), and the benchmark stops unless rows out == rows in.
``--again`` also times a second run over the same input in the same workspace (``--overwrite``):
for ``encrypt`` purposes, every subject's key then exists.
Not a test: run it by hand (a 10M-row input takes minutes and about 4 GB of disk).

    .venv/bin/python benchmarks/bench_run.py --rows 1000000 --runs 3
    .venv/bin/python benchmarks/bench_run.py --rows 10000000 --json > run-10m.json
    .venv/bin/python benchmarks/bench_run.py --purpose personalised_offers --rows 100000 --again
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import DATA, commit, distinct_subjects_csv, medians, run_child  # noqa: E402

VEIL = Path(sys.executable).with_name("veil")
GOALS = {"credit_scoring": 300_000, "fraud_detection": 100_000,
         "personalised_offers": 150_000}  # issue 22: rows/s on one worker (others: 300k)

ANCHOR = """
import sys
import pyarrow as pa, pyarrow.csv as pacsv, pyarrow.parquet as pq
names = {names!r}
convert = pacsv.ConvertOptions(include_columns=names, column_types={types})
reader = pacsv.open_csv({src!r}, convert_options=convert)
rows = 0
with pq.ParquetWriter({out!r}, reader.schema) as w:
    for batch in reader:
        w.write_batch(batch)
        rows += batch.num_rows
print(rows)
"""


def anchor_columns(purpose: str) -> tuple[list[str], str]:
    """The columns the purpose keeps (in the sample policy), and their sample types as the
    source of a dict the anchor's child evaluates (it imports pyarrow only)."""
    import pyarrow as pa

    from veil.policy import SAMPLE_POLICY, load_policy
    from veil.sample.generator import SCHEMA

    pur = load_policy(SAMPLE_POLICY).purposes[purpose]
    names = [f for ds in pur.datasets.values() for f in ds.fields]

    def code(t: pa.DataType) -> str:
        if pa.types.is_timestamp(t):
            return f"pa.timestamp({t.unit!r}, tz={t.tz!r})"
        simple = {pa.string(): "string", pa.float64(): "float64", pa.bool_(): "bool_",
                  pa.date32(): "date32", pa.int64(): "int64"}
        return f"pa.{simple[t]}()"

    return names, "{" + ", ".join(f"{n!r}: {code(SCHEMA.field(n).type)}" for n in names) + "}"


def fresh_workspace(path: Path) -> None:
    import veil

    if path.exists():
        shutil.rmtree(path)
    veil.init_workspace(path)[0].close()


def needs_consent(purpose: str) -> bool:
    from veil.policy import SAMPLE_POLICY, load_policy

    return load_policy(SAMPLE_POLICY).purposes[purpose].legal_basis == "consent"


def consent_csv(rows: int, purpose: str) -> Path:
    """A cached consent CSV granting ``purpose`` to each subject of
    `_util.distinct_subjects_csv` (``CUST-`` and a 10-digit row number), for ``veil consent
    import``; written with Arrow, a batch at a time."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    path = DATA / f"consent_granted_{purpose}_{rows}.csv"
    if path.exists():
        return path
    tmp = path.with_suffix(".tmp")
    const = {"purpose": purpose, "event": "granted", "time": "2025-01-01T00:00:00Z",
             "channel": "web_form", "action": "clicked 'I agree'", "collector": "bench"}
    schema = pa.schema([("subject", pa.string())] + [(k, pa.string()) for k in const])
    with pacsv.CSVWriter(tmp, schema) as w:
        for lo in range(0, rows, 500_000):
            n = min(rows, lo + 500_000) - lo
            ids = pc.binary_join_element_wise("CUST-", pc.utf8_lpad(pc.cast(
                pa.array(np.arange(lo, lo + n, dtype=np.int64)), pa.string()), 10, "0"), "")
            w.write_batch(pa.record_batch(
                [ids] + [pa.array([v] * n, pa.string()) for v in const.values()],
                schema=schema))
    os.replace(tmp, path)
    return path


def grant_consent(ws: Path, purpose: str, consents: Path, env: dict[str, str]) -> None:
    """The user's path, untimed: a notice in effect, then ``veil consent import``."""
    notice = ws / "notice.txt"
    notice.write_text("We use your spending patterns to tailor our offers to you.\n")
    for argv in (["consent", "notice", "add", purpose, "--version", "1", "--text-file",
                  str(notice), "-p", "sample", "--effective", "2024-01-01T00:00:00Z"],
                 ["consent", "import", str(consents), "-p", "sample"]):
        run_child([str(VEIL), *argv], env=env, cwd=ws)


def one_round(i: int, a: argparse.Namespace, src: Path, env: dict[str, str],
              anchor: str, consents: Path | None) -> dict[str, dict]:
    """One interleaved round: start-ups, then veil and the anchor (order alternating)."""
    ws, out = DATA / "bench-run-ws", DATA / "bench-run-out.parquet"
    core = None if a.core < 0 else a.core
    got: dict[str, dict] = {
        "veil_startup": run_child([str(VEIL), "--version"], core=core, env=env),
        "pyarrow_startup": run_child([sys.executable, "-c",
                                      "import pyarrow.csv, pyarrow.parquet"], core=core),
    }
    argv = [str(VEIL), "run", "--policy", "sample", "--purpose", a.purpose, str(src),
            "-o", str(out), "--json"] + (["--workers", str(a.workers)] if a.workers else [])

    wenv = {**env, "VEIL_WORKSPACE": str(ws)}

    def timed(args: list[str]) -> dict:
        r = run_child(args, core=core, env=wenv, cwd=ws)
        receipt = json.loads(r["stdout"])
        r["rows_out"] = receipt["rows"]["out"]
        r["subjects"] = receipt.get("lineage", {}).get("subjects")
        if consents is not None and r["rows_out"] != a.rows:
            raise SystemExit(f"veil wrote {r['rows_out']:,} rows of {a.rows:,}: every subject "
                             "consented, so the run should keep them all")
        return r

    def veil_run() -> dict:
        fresh_workspace(ws)
        for old in DATA.glob(out.name + "*"):  # the output and its receipt, from a last round
            old.unlink()
        if consents is not None:
            grant_consent(ws, a.purpose, consents, wenv)
        r = timed(argv)
        if a.again:  # the same subjects again: their keys exist now
            got["veil_again"] = timed(argv + ["--overwrite"])
            got["veil_again"].pop("stdout", None)
        return r

    def pyarrow_run() -> dict:
        r = run_child([sys.executable, "-c", anchor], core=core)
        r["rows_out"] = int(r["stdout"].strip())
        return r

    order = [("veil", veil_run), ("pyarrow", pyarrow_run)]
    for name, fn in order if i % 2 == 0 else order[::-1]:
        got[name] = fn()
        got[name].pop("stdout", None)
    for k in ("veil_startup", "pyarrow_startup", "veil_again"):
        if k not in got:
            continue
        got[k].pop("stdout", None)
    return got


def report(a: argparse.Namespace, src: Path, rounds: list[dict[str, dict]],
           started: str) -> dict:
    med = {k: medians([r[k] for r in rounds]) for k in rounds[0]}
    ended = commit()
    v, p = med["veil"], med["pyarrow"]
    return {
        "benchmark": "bench_run", "date": datetime.now(UTC).date().isoformat(),
        "commit": started if ended == started else f"{started}..{ended} (changed during the run)",
        "purpose": a.purpose, "rows": a.rows,
        "distinct_subjects": a.rows, "input_mb": round(src.stat().st_size / 1e6),
        "core": a.core, "workers": a.workers, "medians": med,
        "veil_rows_per_s": a.rows / v["wall_seconds"],
        "veil_rows_per_cpu_s": a.rows / v["cpu_seconds"],
        "pyarrow_rows_per_s": a.rows / p["wall_seconds"],
        "pyarrow_rows_per_cpu_s": a.rows / p["cpu_seconds"],
        "ratio_cpu": v["cpu_seconds"] / p["cpu_seconds"],
        "ratio_wall": v["wall_seconds"] / p["wall_seconds"],
        "veil_rows_out": rounds[0]["veil"]["rows_out"],
        "veil_lineage_subjects": rounds[0]["veil"]["subjects"],
        "consent_granted": a.rows if needs_consent(a.purpose) else None,
        "raw": rounds,
    }


def print_report(r: dict) -> None:
    m = r["medians"]
    print(f"input: {r['rows']:,} rows, {r['distinct_subjects']:,} distinct subjects, "
          f"{r['input_mb']:,} MB CSV; purpose {r['purpose']}; commit {r['commit']}, {r['date']}")
    print(f"medians of {m['veil']['runs']} interleaved rounds; each a fresh process"
          + (f" pinned to core {r['core']}" if r["core"] >= 0 else "")
          + "; figures of that process alone (os.wait4)")
    print(f"{'':34}{'wall s':>9}{'CPU s':>9}{'rows/s':>12}{'rows/CPU-s':>12}{'peak RSS MB':>13}")
    rows = r["rows"]
    for key, label in (("veil", "veil run (CLI)"), ("veil_again", "veil run again (keys exist)"),
                       ("pyarrow", "pyarrow alone (anchor)"),
                       ("veil_startup", "veil --version (start-up)"),
                       ("pyarrow_startup", "import pyarrow (start-up)")):
        if key not in m:
            continue
        x = m[key]
        rate = (f"{rows / x['wall_seconds']:>12,.0f}{rows / x['cpu_seconds']:>12,.0f}"
                if key in ("veil", "veil_again", "pyarrow") else f"{'':>12}{'':>12}")
        print(f"{label:34}{x['wall_seconds']:>9.2f}{x['cpu_seconds']:>9.2f}{rate}"
              f"{x['peak_rss_mb']:>13,.0f}")
    print(f"ratio veil/pyarrow: CPU {r['ratio_cpu']:.2f}x, wall {r['ratio_wall']:.2f}x; "
          f"veil wrote {r['veil_rows_out']:,} rows, lineage {r['veil_lineage_subjects']:,} "
          "subjects" + (f"; consent granted to all {r['consent_granted']:,} subjects first "
                        "(untimed: veil consent import)" if r["consent_granted"] else ""))
    goal = GOALS.get(r["purpose"], 300_000)
    ok = "OK" if r["veil_rows_per_cpu_s"] >= goal else "below"
    rss = m["veil"]["peak_rss_mb"]
    print(f"goals: >= {goal:,} rows per CPU second on one worker: {ok}; peak RSS < 300 MB "
          f"with 10M distinct subjects: {'OK' if rss < 300 else 'above'} at "
          f"{r['rows']:,} ({rss:,.0f} MB)")


def main() -> None:
    ap = argparse.ArgumentParser(
        description="veil run (CLI) over N rows with N distinct subjects, beside pyarrow "
                    "alone: medians of interleaved fresh processes (wall, CPU, peak RSS).",
        epilog="example: .venv/bin/python benchmarks/bench_run.py --rows 1000000 --runs 3")
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows = distinct subjects")
    ap.add_argument("--runs", type=int, default=3, help="interleaved rounds (at least 3)")
    ap.add_argument("--purpose", default="credit_scoring", help="a sample-policy purpose")
    ap.add_argument("--core", type=int, default=0, help="CPU core to pin to (-1: none)")
    ap.add_argument("--workers", type=int, default=0, help="veil run --workers (0: default)")
    ap.add_argument("--again", action="store_true",
                    help="also time a second run over the same subjects (keys exist)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    a = ap.parse_args()
    if a.runs < 3 or a.rows < 1:
        ap.error("--runs must be at least 3 (medians) and --rows at least 1")
    src = distinct_subjects_csv(a.rows)
    names, types = anchor_columns(a.purpose)
    anchor = ANCHOR.format(names=names, types=types, src=str(src),
                           out=str(DATA / "bench-run-anchor.parquet"))
    consents = consent_csv(a.rows, a.purpose) if needs_consent(a.purpose) else None
    env = {"VEIL_KEK": base64.b64encode(os.urandom(32)).decode()}
    started = commit()  # the code the children run: a checkout changing meanwhile is reported
    rounds = []
    for i in range(a.runs):
        rounds.append(one_round(i, a, src, env, anchor, consents))
        if not a.json:
            v = rounds[-1]["veil"]
            print(f"round {i + 1}: veil {v['wall_seconds']:.1f} s wall, "
                  f"{v['cpu_seconds']:.1f} s CPU, {v['peak_rss_mb']:,.0f} MB", file=sys.stderr)
    r = report(a, src, rounds, started)
    if a.json:
        print(json.dumps(r, indent=2))
    else:
        print_report(r)


if __name__ == "__main__":
    main()
