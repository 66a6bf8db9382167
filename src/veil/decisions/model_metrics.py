"""Metrics for the model card, computed on a holdout the registrant gives (scikit-learn).

Scores are the estimator's probability of the positive class (``predict_proba[:, 1]``) or, for
a model without it, ``decision_function``; accuracy counts a score >= threshold as positive.
"""

from __future__ import annotations

import math
from typing import Any

from veil.errors import InputError


def scores_of(estimator: Any, X: Any) -> Any:
    """The estimator's scores for X (positive-class probability when it has one)."""
    import numpy as np

    if hasattr(estimator, "predict_proba"):
        return np.asarray(estimator.predict_proba(X))[:, 1]
    if hasattr(estimator, "decision_function"):
        return np.asarray(estimator.decision_function(X))
    raise InputError("the estimator has neither predict_proba nor decision_function",
                     where="model register")


def holdout_metrics(estimator: Any, X: Any, y: Any, threshold: float) -> dict[str, Any]:
    """AUC, accuracy, Brier score (probabilities only), rows and positive share."""
    import numpy as np
    from sklearn.metrics import accuracy_score, brier_score_loss, roc_auc_score

    y = np.asarray(y).astype(int)
    if len(y) == 0:
        raise InputError("the holdout is empty", where="model register")
    s = scores_of(estimator, X)
    out: dict[str, Any] = {"holdout_rows": int(len(y)),
                           "holdout_positive_share": round(float(y.mean()), 6)}
    if len(set(y.tolist())) == 2:
        out["auc"] = round(float(roc_auc_score(y, s)), 6)
    out["accuracy"] = round(float(accuracy_score(y, (s >= threshold).astype(int))), 6)
    if hasattr(estimator, "predict_proba"):
        out["brier"] = round(float(brier_score_loss(y, s)), 6)
    return out


def clean_metrics(metrics: dict[str, Any] | None) -> dict[str, Any]:
    """Caller-given metrics: names to finite numbers (or short strings)."""
    out: dict[str, Any] = {}
    for k, v in (metrics or {}).items():
        if isinstance(v, bool) or not isinstance(v, int | float | str):
            raise InputError(f"metric '{k}' is not a number", where="model register")
        if isinstance(v, float) and not math.isfinite(v):
            raise InputError(f"metric '{k}' is not finite", where="model register")
        out[str(k)] = v
    return out
