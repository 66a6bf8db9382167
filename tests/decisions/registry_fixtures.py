"""Fixtures of the model registry tests: a real credit_scoring run on sample data (the sample
policy's purpose declares automated_decisions) and a logistic regression trained on its output,
one row per pseudonymous customer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

FEATURES = ["annual_income", "account_balance", "amount"]


@dataclass
class Trained:
    ws: Any
    policy: Any
    run_id: str
    X: Any
    y: Any
    estimator: Any
    protected: Any


def per_customer(table: Any) -> Any:
    """One row per customer: income and balance (the last seen), mean amount, repaid (1 = did
    not default: the favourable outcome, so a higher score is better)."""
    df = table.to_pandas() if hasattr(table, "to_pandas") else table
    g = df.groupby("customer_id", sort=True).agg(
        annual_income=("annual_income", "last"), account_balance=("account_balance", "last"),
        amount=("amount", "mean"), default=("loan_default", "max"))
    g["repaid"] = 1 - g.pop("default").astype(int)
    return g


@pytest.fixture
def trained(workspace) -> Trained:
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    import veil
    from veil.sample import SAMPLE_POLICY, write_sample

    write_sample("tx.csv", 600, seed=7)
    policy = veil.load_policy(SAMPLE_POLICY)
    r = veil.run(policy, "credit_scoring", "tx.csv", "credit.parquet", workspace=workspace)
    g = per_customer(veil.read("credit.parquet", workspace=workspace))
    X, y = g[FEATURES], g["repaid"]
    est = LogisticRegression(max_iter=1000).fit(X, y)
    rng = np.random.default_rng(1)
    protected = pd.DataFrame({"gender": rng.choice(["f", "m"], len(X)),
                              "age_band": rng.choice(["20-39", "40-59", "60+"], len(X))})
    return Trained(workspace, policy, r.run_id, X, y, est, protected)
