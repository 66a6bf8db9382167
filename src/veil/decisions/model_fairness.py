"""Fairness at registration: the holdout's would-be decisions by the policy's protected
attributes, with `veil.decisions.fairness.fairness_report` (Fairlearn's definitions).

The holdout rows stand in for applicants: a row's decision is an approval when its score is at
or above the threshold, its actual outcome the holdout label (1 = the favourable outcome). Rows
are joined to the protected attributes by position, never by a person's id, and nothing of the
protected table is stored: the card keeps the report's group figures (no plots).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from veil.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from veil.policy.model import Policy


def holdout_fairness(policy: Policy, purpose: str, estimator: Any, holdout: tuple[Any, Any],
                     protected: Any, threshold: float) -> dict[str, Any]:
    """The fairness report (as a dict) of the holdout's decisions."""
    import numpy as np
    import pandas as pd

    from veil.decisions.fairness import fairness_report
    from veil.decisions.model_metrics import scores_of

    X, y = holdout
    prot = pd.DataFrame(protected).reset_index(drop=True)
    if len(prot) != len(X):
        raise InputError(f"the protected attributes have {len(prot)} rows, the holdout "
                         f"{len(X)}: give one row per holdout row", where="model register")
    scores = scores_of(estimator, X)
    subjects = [f"{i:032x}" for i in range(len(prot))]  # row positions, not people
    decisions = pd.DataFrame({"subject": subjects, "selected": scores >= threshold,
                              "actual": np.asarray(y).astype(float)})
    prot = prot.drop(columns=[c for c in ("subject", "subject_id") if c in prot.columns])
    prot.insert(0, "subject", subjects)
    report = fairness_report(decisions, prot, policy=policy, purpose=purpose, plots=False)
    out = _plain(report.to_dict())
    out["source"] = "holdout at registration (score >= threshold counted as an approval)"
    return out


def _plain(v: Any) -> Any:
    """JSON-safe: tuples as lists, numpy scalars as Python numbers, NaN and inf as None (the
    card is stored as JSON, also on PostgreSQL, which refuses NaN)."""
    import math

    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    if hasattr(v, "item") and not isinstance(v, str | bytes):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v
