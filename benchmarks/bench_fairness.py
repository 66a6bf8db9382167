"""Benchmark: a fairness report over 1M decisions (goal: under 10 s).

Veil: `veil.decisions.fairness.fairness_report` on a decisions table (subject pseudonym, outcome,
actual outcome known for half) and a protected-attributes table (gender: 3 groups, age band: 4)
joined by pseudonym: the figures Fairlearn's MetricFrame and its two difference functions give,
computed from cell counts, 1,000 bootstrap resamples, PNG plots and the HTML page (no audit
event: no workspace).
Anchor, measured in the same process, interleaved: Fairlearn's MetricFrame alone on the same
(already joined) arrays: selection rate, false positive and false negative rates per group for
each attribute. Medians of ``--repeat`` rounds, their ratio, and the process's peak RSS.

    python benchmarks/bench_fairness.py --rows 1000000 --repeat 3
    python benchmarks/bench_fairness.py --ledger --rows 1000000   # the user's path (below)

``--ledger``: the user's path. A workspace's ledger gets ``--rows`` decisions by
``DecisionLedger.record_batch`` (batches of 50,000, half of them with an observed outcome by
``record_actuals``; setup, not timed), and ``veil decisions fairness -p sample --protected
FILE`` runs in a fresh process each round (reading the decisions and their outcomes from the
ledger, pseudonymising the CSV's subject ids, the report, PNGs, HTML, JSON and its audit
event): its wall time, CPU and peak RSS. Interleaved anchor: the same ledger's decisions
already read into memory, and `fairness_report` on them (the computation alone, as above).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from types import SimpleNamespace

import numpy as np
import pandas as pd


def tables(n: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    subjects = np.char.mod("%064x", np.arange(n)).astype(object)
    gender = rng.choice(["f", "m", "x"], n, p=[0.48, 0.48, 0.04])
    age = rng.choice(["18-29", "30-44", "45-59", "60+"], n)
    p = 0.55 + 0.05 * (gender == "m")
    outcome = np.where(rng.random(n) < p, "approve", "refuse")
    actual = np.where(rng.random(n) < 0.5, np.nan, (rng.random(n) < 0.8).astype(float))
    dec = pd.DataFrame({"subject": subjects, "outcome": outcome, "actual": actual})
    order = rng.permutation(n)
    prot = pd.DataFrame({"subject": subjects[order], "gender": gender[order],
                         "age_band": age[order]})
    return dec, prot


def veil_report(dec: pd.DataFrame, prot: pd.DataFrame, policy: object) -> float:
    from veil.decisions.fairness import fairness_report

    t = time.perf_counter()
    report = fairness_report(dec, prot, policy=policy, resamples=1000, seed=0)
    report.to_html()
    return time.perf_counter() - t


def anchor(joined: pd.DataFrame) -> float:
    from fairlearn.metrics import (
        MetricFrame,
        false_negative_rate,
        false_positive_rate,
        selection_rate,
    )

    t = time.perf_counter()
    sel = (joined["outcome"] == "approve").to_numpy()
    known = joined["actual"].notna().to_numpy()
    yt = joined["actual"].to_numpy()[known].astype(int)
    for attr in ("gender", "age_band"):
        sens = joined[attr].to_numpy()
        MetricFrame(metrics=selection_rate, y_true=sel, y_pred=sel, sensitive_features=sens)
        MetricFrame(metrics={"fpr": false_positive_rate, "fnr": false_negative_rate},
                    y_true=yt, y_pred=sel[known], sensitive_features=sens[known])
    return time.perf_counter() - t


def _build(root, csv, rows, gender, age, score, rng) -> None:  # type: ignore[no-untyped-def]
    """The workspace with ``rows`` decisions (half with an observed outcome) and the CSV."""
    from bench_decisions import MODEL, _register

    from veil.decisions import DecisionLedger
    from veil.policy import load_policy
    from veil.store.workspace import init_workspace

    ws, _ = init_workspace(root)
    _register(ws)
    led = DecisionLedger(ws, load_policy("sample"))
    t0 = time.perf_counter()
    for lo in range(0, rows, 50_000):
        hi = min(rows, lo + 50_000)
        n = hi - lo
        ids = led.record_batch(MODEL, [f"CUST-{i:09d}" for i in range(lo, hi)],
                               {"annual_income": rng.uniform(1e4, 1.5e5, n).tolist(),
                                "account_balance": rng.uniform(0, 5e4, n).tolist(),
                                "amount": rng.uniform(1, 5e3, n).tolist()},
                               score[lo:hi].tolist())
        half = ids[: n // 2]
        led.record_actuals(half, (rng.random(len(half)) < 0.8).astype(int).tolist(),
                           by="bench")
    ws.close()
    print(f"setup: {rows:,} decisions recorded, half with outcomes, in "
          f"{time.perf_counter() - t0:.0f} s (not timed below)")
    pd.DataFrame({"subject_id": [f"CUST-{i:09d}" for i in range(rows)], "gender": gender,
                  "age_band": age}).to_csv(csv, index=False)


def ledger_part(rows: int, repeat: int, keep: str | None = None) -> None:
    """``veil decisions fairness`` over a ledger of ``rows`` decisions (see the docstring); with
    ``keep``, the workspace and CSV live in that folder and are built only if absent."""
    import contextlib
    import os
    import sys
    import tempfile
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _util import run_child

    from veil.kek.providers import EnvKEK

    if keep:  # the kept workspace's key-encryption key, kept beside it
        Path(keep).mkdir(parents=True, exist_ok=True)
        kek = Path(keep) / "kek.secret"
        if not kek.exists():
            kek.write_text(EnvKEK.new_secret())
        os.environ["VEIL_KEK"] = kek.read_text()
    os.environ.setdefault("VEIL_KEK", EnvKEK.new_secret())
    os.environ.pop("VEIL_DATABASE_URL", None)
    from veil.decisions import DecisionLedger
    from veil.policy import load_policy

    rng = np.random.default_rng(0)
    gender = rng.choice(["f", "m", "x"], rows, p=[0.48, 0.48, 0.04])
    age = rng.choice(["18-29", "30-44", "45-59", "60+"], rows)
    score = rng.random(rows) - 0.05 * (gender == "m")
    with (contextlib.nullcontext(keep) if keep else
          tempfile.TemporaryDirectory(prefix="veil-bench-fairness-")) as tmp:
        root, csv = Path(tmp) / "ws", Path(tmp) / "protected.csv"
        if not csv.exists():
            _build(root, csv, rows, gender, age, score, rng)
        veil = str(Path(sys.executable).with_name("veil"))
        argv = [veil, "decisions", "fairness", "-w", str(root), "-p", "sample", "--protected",
                str(csv), "-o", str(Path(tmp) / "out"), "--actor", "bench"]
        from veil.store.workspace import Workspace

        with Workspace.open(root) as ws2:
            from veil.consent.models import SubjectRef
            from veil.decisions.fairness_inputs import decision_columns, protected_columns

            d = decision_columns(DecisionLedger(ws2, load_policy("sample")),
                                 purpose="credit_scoring", since=None, until=None)
            p = protected_columns(csv, ["gender", "age_band"], ref_key=SubjectRef(root).key())
        dec = pd.DataFrame({"subject": d.subject.to_pylist(), "selected": d.selected,
                            "actual": d.actual})
        prot = pd.DataFrame({"subject": p.subject.to_pylist(),
                             **{a: c.to_pylist() for a, c in p.attributes.items()}})
        policy = load_policy("sample")
        table = dec.rename(columns={"selected": "outcome"}).assign(
            outcome=lambda d: np.where(d["outcome"], "approve", "refuse"))
        cli, mem, mem_cpu = [], [], []
        for _ in range(repeat):  # interleaved
            cli.append(run_child(argv))
            c0 = time.process_time()
            mem.append(veil_report(table, prot, policy))
            mem_cpu.append(time.process_time() - c0)
        med = statistics.median
        w = med(r["wall_seconds"] for r in cli)
        print(f"veil decisions fairness (fresh process: ledger read, CSV pseudonymised, report, "
              f"plots, HTML, audit event), {rows:,} decisions: median {w:.2f} s wall "
              f"{[round(r['wall_seconds'], 2) for r in cli]}, CPU "
              f"{med(r['cpu_seconds'] for r in cli):.2f} s, peak RSS "
              f"{med(r['peak_rss_mb'] for r in cli):.0f} MiB; goal < 10 s: "
              f"{'met' if w < 10 else 'MISSED'}")
        print(f"anchor: fairness_report on the same decisions already in memory: median "
              f"{med(mem):.2f} s {[round(x, 2) for x in mem]}, CPU {med(mem_cpu):.2f} s; "
              f"ratio {w / med(mem):.1f}x (wall), "
              f"{med(r['cpu_seconds'] for r in cli) / med(mem_cpu):.1f}x (CPU); "
              f"load average {os.getloadavg()[0]:.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--ledger", action="store_true", help="the user's path (see above)")
    ap.add_argument("--keep", metavar="DIR", help="with --ledger: build the workspace and CSV "
                    "in DIR once and reuse them on later runs (same --rows)")
    args = ap.parse_args()
    if args.ledger:
        ledger_part(args.rows, args.repeat, args.keep)
        return
    policy = SimpleNamespace(purposes={"credit_scoring": SimpleNamespace(
        automated_decisions=SimpleNamespace(protected_attributes=["gender", "age_band"]))})
    dec, prot = tables(args.rows)
    joined = dec.merge(prot, on="subject")
    veil_report(dec.head(1000), prot, policy)  # warm imports (matplotlib)
    anchor(joined.head(1000))
    ours, theirs = [], []
    for _ in range(args.repeat):  # interleaved
        ours.append(veil_report(dec, prot, policy))
        theirs.append(anchor(joined))
    mo, mt = statistics.median(ours), statistics.median(theirs)
    print(f"decisions: {args.rows:,}; rounds: {args.repeat}")
    print(f"veil fairness_report (join, figures, 1000 bootstrap resamples, plots, HTML): "
          f"median {mo:.2f} s  {[round(x, 2) for x in ours]}")
    print(f"anchor: Fairlearn MetricFrame alone on the joined arrays: "
          f"median {mt:.2f} s  {[round(x, 2) for x in theirs]}")
    print(f"ratio veil / anchor: {mo / mt:.1f}x; goal < 10 s: {'met' if mo < 10 else 'MISSED'}")
    print(f"peak RSS (this process, tables included): "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
