"""Benchmark: a fairness report over 1M decisions (goal: under 10 s).

Veil: `veil.decisions.fairness.fairness_report` on a decisions table (subject pseudonym, outcome,
actual outcome known for half) and a protected-attributes table (gender: 3 groups, age band: 4)
joined by pseudonym: Fairlearn's MetricFrame and its two difference functions per attribute,
1,000 bootstrap resamples, PNG plots and the HTML page (no audit event: no workspace).
Anchor, measured in the same process, interleaved: Fairlearn's MetricFrame alone on the same
(already joined) arrays: selection rate, false positive and false negative rates per group for
each attribute. Medians of ``--repeat`` rounds, their ratio, and the process's peak RSS.

    python benchmarks/bench_fairness.py --rows 1000000 --repeat 3
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    policy = SimpleNamespace(purposes={"credit_scoring": SimpleNamespace(
        automated_decisions=SimpleNamespace(protected_attributes=["gender", "age_band"]))})
    dec, prot = tables(args.rows)
    joined = dec.merge(prot, on="subject")
    veil_report(dec.head(1000), prot, policy)  # warm imports (fairlearn, matplotlib)
    anchor(joined.head(1000))
    ours, theirs = [], []
    for _ in range(args.repeat):  # interleaved
        ours.append(veil_report(dec, prot, policy))
        theirs.append(anchor(joined))
    mo, mt = statistics.median(ours), statistics.median(theirs)
    print(f"decisions: {args.rows:,}; rounds: {args.repeat}")
    print(f"veil fairness_report (join, Fairlearn, 1000 bootstrap resamples, plots, HTML): "
          f"median {mo:.2f} s  {[round(x, 2) for x in ours]}")
    print(f"anchor: Fairlearn MetricFrame alone on the joined arrays: "
          f"median {mt:.2f} s  {[round(x, 2) for x in theirs]}")
    print(f"ratio veil / anchor: {mo / mt:.1f}x; goal < 10 s: {'met' if mo < 10 else 'MISSED'}")
    print(f"peak RSS (this process, tables included): "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
