"""The credit part of the demo (issue 19): a real scikit-learn credit model on the scoring
output, registered through the training-data gate, scoring applicants into the decision ledger,
one decision contested and reviewed, the fairness report and one explanation.

Run inside the demo workspace after `scripts/demo.sh`'s runs (demo.sh calls it):

    python ../scripts/demo_credit.py -p sample

Steps: train on the pseudonymised scoring output (one row per customer: income, balance, mean
spending; the label is "repaid", so a higher score is better); register it with a holdout
through the training-data gate (`veil decisions model register`; with --stale OUTPUT it first
shows the gate refusing an output that holds an erased customer); score every customer of
transactions.csv as an applicant (features computed the same way) into the ledger with reason
codes; record the observed outcomes (repaid or not: `veil decisions record-actual`, so the
fairness report has error rates); contest one refusal and review it (`veil decisions
contest|review`); write the fairness report by gender and age band (`veil decisions fairness`;
the protected attributes are written to a temporary owner-only file and deleted right after)
and the explanation of the contested decision (`veil decisions explain`) into decisions/.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

FEATURES = ["annual_income", "account_balance", "amount"]
MODEL = "credit-pd"


def cli(*args: str, expect: int = 0) -> None:
    """One `veil ...` command, in this process (the same code path as the shell command)."""
    from veil.cli.main import main

    print("$ veil " + " ".join(a if " " not in a else repr(a) for a in args), flush=True)
    rc = main(list(args))
    if rc != expect:
        raise SystemExit(f"`veil {args[0]} {args[1]}` exited {rc}, expected {expect}")


def per_customer(df: Any, id_col: str) -> Any:
    """One row per customer: the last income and balance, the mean amount, repaid (1 = never
    defaulted)."""
    g = df.groupby(id_col, sort=True).agg(
        annual_income=("annual_income", "last"), account_balance=("account_balance", "last"),
        amount=("amount", "mean"), default=("loan_default", "max"))
    g["repaid"] = 1 - g.pop("default").astype(int)
    return g


def age_band(birth: Any, today: Any) -> Any:
    import pandas as pd

    years = (pd.Timestamp(today) - pd.to_datetime(birth, errors="coerce")).dt.days // 365
    lo = (years // 10 * 10).astype("Int64")
    return lo.astype(str) + "-" + (lo + 9).astype(str)


def private_csv(df: Any, folder: Path, name: str) -> Path:
    path = folder / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", newline="") as f:
        df.to_csv(f, index=False)
    return path


def train(ws: Any, output: str) -> tuple[Any, Any, Any, float]:
    """The estimator, the holdout (X, y) and the threshold (the holdout's 15th percentile
    score: about one applicant in seven is refused and goes to human review)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    import veil

    g = per_customer(veil.read(output, workspace=ws).to_pandas(), "customer_id")
    X_tr, X_ho, y_tr, y_ho = train_test_split(g[FEATURES], g["repaid"], test_size=0.25,
                                              random_state=42, stratify=g["repaid"])
    est = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X_tr, y_tr)
    threshold = round(float(np.quantile(est.predict_proba(X_ho)[:, 1], 0.15)), 4)
    print(f"trained a logistic regression on {len(X_tr):,} customers of {output} "
          f"(holdout {len(X_ho):,})")
    return est, X_ho, y_ho, threshold


def register(est: Any, holdout: tuple[Any, Any], threshold: float, *, policy: str,
             training: str, stale: str | None, tmp: Path) -> None:
    import joblib

    pkl = tmp / "credit-pd.pkl"
    joblib.dump(est, pkl)
    os.chmod(pkl, 0o600)
    hold = private_csv(holdout[0].assign(repaid=holdout[1].to_numpy()), tmp, "holdout.csv")
    base = ["decisions", "model", "register", MODEL, "--purpose", "credit_scoring", "-p",
            policy, "--estimator", str(pkl), "--threshold", str(threshold),
            "--holdout", str(hold), "--label", "repaid",
            "--description", "Retail loan repayment model (demo)"]
    for f in FEATURES:
        base += ["-f", f]
    if stale and Path(stale).exists() and stale != training:
        print(f"{stale} holds a customer erased since: the gate refuses it.")
        cli(*base, "--trained-on", stale, expect=6)
    cli(*base, "--trained-on", training)


def score(ws: Any, pol: Any, transactions: str) -> tuple[Any, list[str], Any]:
    """Every customer of the raw data as an applicant: features, score, reason codes, one
    batch in the ledger. Returns the protected attributes, the recorded ids and the observed
    outcomes (decision_id, actual: 1 repaid) of the recorded decisions."""
    import pandas as pd

    from veil.decisions.explain import reason_codes
    from veil.decisions.ledger import DecisionLedger
    from veil.decisions.registry import ModelRegistry

    raw = pd.read_csv(transactions, usecols=["customer_id", "gender", "birth_date",
                                             *FEATURES, "loan_default"])
    apps = per_customer(raw, "customer_id")
    model = ModelRegistry(ws).get(MODEL)
    est = ModelRegistry(ws).load_estimator(model)
    X = apps[FEATURES]
    scores = est.predict_proba(X)[:, 1]
    reasons = reason_codes(est, X, FEATURES, kind=model.kind, top=4)
    led = DecisionLedger(ws, pol)
    ids = led.record_batch(MODEL, list(apps.index), X, scores, reasons=reasons)
    refused = int((scores < model.threshold).sum())
    skipped = getattr(ids, "skipped_total", 0)
    print(f"scored {len(apps):,} applicants with {model.id}: {len(ids):,} decisions recorded, "
          f"{refused:,} refusals routed to human review, {skipped} left out (erased or "
          "objecting)")
    people = raw.drop_duplicates("customer_id").set_index("customer_id")
    prot = pd.DataFrame({"subject_id": people.index,
                         "gender": people["gender"].fillna("").to_numpy(),
                         "age_band": age_band(people["birth_date"], "2026-01-01").to_numpy()})
    left_out = set(ids.skipped_rows)  # erased or objecting: no decision, no outcome
    kept = [i for i in range(len(apps)) if i not in left_out]
    actuals = pd.DataFrame({"decision_id": list(ids),
                            "actual": apps["repaid"].to_numpy()[kept].astype(int)})
    return prot, list(ids), actuals


def contested(ws: Any, pol: Any, ids: list[str]) -> str:
    """The first refusal among the recorded decisions."""
    from veil.decisions.ledger import DecisionLedger

    led = DecisionLedger(ws, pol)
    for d in led.list(model=MODEL):
        if d.outcome == "refuse":
            return d.id
    return ids[0]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-p", "--policy", default="sample")
    ap.add_argument("--training", default="credit_scoring.v2.parquet",
                    help="The scoring output to train on (default: the run after the erasure).")
    ap.add_argument("--stale", default=None,
                    help="An output holding an erased customer, shown refused by the gate.")
    ap.add_argument("--transactions", default="transactions.csv")
    ap.add_argument("--out", default="decisions")
    a = ap.parse_args(argv)

    from veil.policy import load_policy, policy_path
    from veil.store.workspace import Workspace

    t0 = time.perf_counter()
    ws = Workspace.find(None)
    pol = load_policy(policy_path(a.policy))
    training = a.training if Path(a.training).exists() else "credit_scoring.parquet"
    out = Path(a.out)
    out.mkdir(mode=0o700, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="veil-demo-") as tmp_name:
        tmp = Path(tmp_name)
        est, X_ho, y_ho, threshold = train(ws, training)
        register(est, (X_ho, y_ho), threshold, policy=a.policy, training=training,
                 stale=a.stale, tmp=tmp)
        cli("decisions", "model", "card", MODEL, "-o", str(out / "model-card.md"))
        prot, ids, actuals = score(ws, pol, a.transactions)
        outcomes = private_csv(actuals, tmp, "outcomes.csv")  # repaid or not, per decision
        cli("decisions", "record-actual", str(outcomes))
        outcomes.unlink()
        one = contested(ws, pol, ids)
        cli("decisions", "contest", one, "-p", a.policy, "--statement",
            "My income rose last month; my payslips show it")
        cli("decisions", "review", one, "-p", a.policy, "--reviewer",
            "Credit decision review team", "--outcome", "approve", "--rationale",
            "Payslips checked: the income is higher than the data held")
        cli("decisions", "explain", one, "-p", a.policy, "-o", str(out / "explanation.html"))
        cli("decisions", "explain", one, "-p", a.policy, "-o", str(out / "explanation.md"))
        protected = private_csv(prot, tmp, "protected.csv")  # Art. 10(5): deleted right after
        cli("decisions", "fairness", "-p", a.policy, "--protected", str(protected), "-o",
            str(out), "--resamples", "200")
        protected.unlink()
    print(f"credit demo done in {time.perf_counter() - t0:.1f} s: model card, fairness report "
          f"and explanation in {out.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
