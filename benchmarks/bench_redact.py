"""Benchmark: memo redaction, the span finding a run's ``redact_text`` does, and the run.

Each figure is one fresh process pinned to one core (``_util``: the child's own CPU, wall and
peak RSS), medians of ``--runs`` interleaved rounds (the order rotates), never best-of:

* **fraud_detection rows/s through the CLI**: ``veil run --policy sample --purpose
  fraud_detection`` (FPE of the card, memo redaction) on ``--rows`` sample rows, beside pyarrow
  alone reading the purpose's columns and writing Parquet (the anchor, same rounds).
* **batched span finding, texts/s**: ``SpanFinder().find`` (what ``redact_text`` calls) over
  batches of 2,600 texts (one 1 MB CSV block of sample rows), CPU seconds of the finding alone,
  on (a) the sample's memos and (b) varied text: the hand-written held-out texts of
  tests/detect (names of many traditions, towns, identifiers of many countries, text without
  personal data) and random mixes of their pieces, so the figure is not the sample's
  templates only (all distinct: nothing answered from the finder's memory). Beside it,
  Presidio's ``BatchAnalyzerEngine`` (spaCy small English model, wall seconds: it runs in its
  own process) on a subset of the varied texts, when installed.

``--before-src DIR`` times another source tree (a ``src`` folder, e.g. the previous commit's
``git archive``) in the same rounds, for before/after figures.

Not a test: run it by hand.

    .venv/bin/python benchmarks/bench_redact.py --rows 100000 --texts 20000 --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import ROOT, commit, ensure_sample, measure, medians  # noqa: E402

BATCH = 2_600

FIND = """
import json, time
import pyarrow as pa
texts = json.load(open({path!r}))
from veil.detect.text import SpanFinder
c0 = time.process_time()
finder = SpanFinder()
build = time.process_time() - c0
# lexicons and validators loaded, as after a run's first batch (texts not timed below: the
# finder remembers the spans of texts it has seen)
finder.find([f"Transfer {{k}} to Anna Schmidt, IBAN DE89 3704 0044 0532 0130 00"
             for k in range(64)])
arr = pa.array(texts, type=pa.string())
c0, w0 = time.process_time(), time.perf_counter()
spans = 0
for k in range(0, len(texts), {batch}):
    spans += sum(map(len, finder.find(arr.slice(k, {batch}))))
extra = {{"texts": len(texts), "cpu": time.process_time() - c0, "wall": time.perf_counter() - w0,
          "spans": spans, "build_cpu": build}}
"""


def varied_texts(n: int, seed: int = 7) -> list[str]:
    """Hand-written held-out texts of tests/detect and random mixes of their pieces."""
    sys.path.insert(0, str(ROOT / "tests" / "detect"))
    from evalset import parse_line
    from test_one_text_and_batches_agree import PIECES

    base: list[str] = []
    for f in sorted((ROOT / "tests" / "detect" / "data").glob("names_*.txt")):
        base += [parse_line(x)[0] for x in f.read_text(encoding="utf-8").splitlines()
                 if x and not x.startswith("#")]
    for f in sorted((ROOT / "tests" / "detect" / "data" / "eval").glob("*.jsonl")):
        base += [json.loads(x)["text"] for x in f.read_text(encoding="utf-8").splitlines()]
    rnd = random.Random(seed)
    pieces = base + PIECES
    out = dict.fromkeys(base)
    while len(out) < n:  # distinct texts: no span finder may answer from memory
        out[rnd.choice([" ", ", ", "; ", " - "]).join(
            rnd.choice(pieces) for _ in range(rnd.randint(2, 3)))] = None
    texts = list(out)
    rnd.shuffle(texts)
    return texts[:n]


def sample_memos(n: int) -> list[str]:
    import pyarrow.csv as pacsv

    src = ensure_sample(max(n, 100_000))
    col = pacsv.read_csv(src, convert_options=pacsv.ConvertOptions(include_columns=["memo"]))
    return [m or "" for m in col.column("memo").to_pylist()[:n]]


def find_round(i: int, jobs: dict[str, Path], srcs: dict[str, str | None],
               core: int) -> dict[str, dict]:
    cases = [(f"{label}: {kind}", path, src) for label, src in srcs.items()
             for kind, path in jobs.items()]
    k = i % len(cases)
    got: dict[str, dict] = {}
    for name, path, src in cases[k:] + cases[:k]:
        env = {"PYTHONPATH": src} if src else None
        r = measure(FIND.format(path=str(path), batch=BATCH), core=core, env=env)
        e = r["extra"]
        got[name] = {"texts_per_cpu_s": e["texts"] / e["cpu"], "find_cpu_seconds": e["cpu"],
                     "find_wall_seconds": e["wall"], "spans": e["spans"],
                     "cpu_seconds": r["cpu_seconds"], "peak_rss_mb": r["peak_rss_mb"]}
    return got


def presidio(texts: list[str], core: int) -> dict | None:
    from bench_scan import _presidio_here, run_presidio

    if not _presidio_here():
        return None
    r = run_presidio(Path(sys.executable), {"memos": texts}, core)
    if "error" in r:
        return {"error": r["error"]}
    return {"texts": len(texts), "wall_seconds": r["memos_seconds"],
            "texts_per_wall_s": len(texts) / r["memos_seconds"], "model": r["model"]}


def run_rounds(a: argparse.Namespace, core: int | None, srcs: dict[str, str | None]) -> dict:
    """fraud_detection through the CLI (bench_fpe's round), for each source tree."""
    import bench_fpe

    src_csv = ensure_sample(a.rows)
    rounds = []
    for i in range(a.runs):
        got: dict[str, dict] = {}
        for label, src in (list(srcs.items()) if i % 2 == 0 else list(srcs.items())[::-1]):
            old = os.environ.get("PYTHONPATH")
            if src:
                os.environ["PYTHONPATH"] = src
            try:
                r = bench_fpe.run_round(i, a, src_csv, core)
            finally:
                if src:
                    os.environ.pop("PYTHONPATH") if old is None else os.environ.update(
                        PYTHONPATH=old)
            got[f"{label}: veil run fraud_detection"] = r["veil run fraud_detection"]
            got.setdefault("pyarrow alone (anchor)", r["pyarrow alone (anchor)"])
        rounds.append(got)
    keys = ["wall_seconds", "cpu_seconds", "peak_rss_mb", "rows_per_cpu_s", "rows_per_wall_s"]
    return {name: medians([r[name] for r in rounds], keys) for name in rounds[0]}


def main() -> None:
    p = argparse.ArgumentParser(
        description="Memo redaction: batched span finding texts/s (beside Presidio) and "
                    "fraud_detection rows/s through the CLI (beside pyarrow alone).",
        epilog="example: .venv/bin/python benchmarks/bench_redact.py --rows 100000 "
               "--texts 20000 --runs 3")
    p.add_argument("--rows", type=int, default=100_000, help="rows for fraud_detection (0: skip)")
    p.add_argument("--texts", type=int, default=20_000, help="texts per span-finding case")
    p.add_argument("--presidio-texts", type=int, default=1_000,
                   help="varied texts for Presidio's batch analyzer (0: skip)")
    p.add_argument("--runs", type=int, default=3, help="interleaved rounds (medians)")
    p.add_argument("--core", type=int, default=0, help="CPU core to pin to (-1: none)")
    p.add_argument("--before-src", help="another source tree (its src/) to time beside")
    p.add_argument("--src", help="time this source tree (its src/) as 'now' (default: the "
                                 "installed one)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    a = p.parse_args()
    core = None if a.core < 0 else a.core
    now = str(Path(a.src).resolve()) if a.src else None
    srcs: dict[str, str | None] = {"now": now}
    if a.before_src:
        srcs = {"before": str(Path(a.before_src).resolve()), "now": now}
    report: dict = {"commit": commit(), "runs": a.runs, "batch_texts": BATCH}
    with tempfile.TemporaryDirectory() as d:
        varied = varied_texts(a.texts)
        jobs = {"sample memos": Path(d) / "memos.json", "varied text": Path(d) / "varied.json"}
        jobs["sample memos"].write_text(json.dumps(sample_memos(a.texts)))
        jobs["varied text"].write_text(json.dumps(varied))
        rounds = [find_round(i, jobs, srcs, 0 if core is None else core) for i in range(a.runs)]
        keys = [k for k in rounds[0][next(iter(rounds[0]))] if k != "spans"]
        report["find"] = {name: medians([r[name] for r in rounds], keys)
                          | {"spans": rounds[0][name]["spans"]} for name in rounds[0]}
        if a.presidio_texts:
            report["presidio"] = presidio(varied[: a.presidio_texts], 0 if core is None else core)
    if a.rows:
        runs = run_rounds(a, core, srcs)
        base = runs["pyarrow alone (anchor)"]["cpu_seconds"]
        for v in runs.values():
            v["cpu_ratio_to_anchor"] = v["cpu_seconds"] / base
        report["fraud_detection"] = {"rows": a.rows, **runs}
    if a.json:
        print(json.dumps(report, indent=2))
        return
    _print(report, a)


def _print(report: dict, a: argparse.Namespace) -> None:
    print(f"commit {report['commit']}, medians of {a.runs} interleaved runs, one core")
    print(f"\nbatched span finding, batches of {BATCH:,} texts")
    print(f"{'':34} {'texts/CPU s':>12} {'find CPU s':>11} {'spans':>8} {'peak RSS MB':>11}")
    for name, v in report["find"].items():
        print(f"{name:34} {v['texts_per_cpu_s']:>12,.0f} {v['find_cpu_seconds']:>11.2f} "
              f"{v['spans']:>8,} {v['peak_rss_mb']:>11.0f}")
    pr = report.get("presidio")
    if pr and "error" not in pr:
        print(f"{'Presidio batch analyzer: varied':34} {pr['texts_per_wall_s']:>12,.0f} "
              f"{pr['wall_seconds']:>11.2f}   (wall, {pr['texts']:,} texts, {pr['model']})")
    elif pr:
        print(f"Presidio: {pr['error']}")
    if a.rows:
        print(f"\nfraud_detection, {a.rows:,} sample rows, CLI in a fresh workspace")
        print(f"{'':40} {'rows/CPU s':>11} {'rows/wall s':>11} {'CPU s':>7} {'x anchor':>8} "
              f"{'peak RSS MB':>11}")
        for name, v in report["fraud_detection"].items():
            if name == "rows":
                continue
            print(f"{name:40} {v['rows_per_cpu_s']:>11,.0f} {v['rows_per_wall_s']:>11,.0f} "
                  f"{v['cpu_seconds']:>7.2f} {v['cpu_ratio_to_anchor']:>8.1f} "
                  f"{v['peak_rss_mb']:>11.0f}")


if __name__ == "__main__":
    main()
