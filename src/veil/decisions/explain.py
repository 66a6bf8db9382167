"""Reason codes: which inputs pushed one decision's score up or down, and by how much.

A `Reason` is one feature's contribution in the model's score units; negative means it lowered the
score. Contributions are measured against a stated baseline, so "lowered" always means "compared
with X":

- **linear models** (scikit-learn estimators with ``coef_``: LogisticRegression, Ridge, ...;
  and a `Pipeline` whose steps before the linear model are only ``StandardScaler``\\ s):
  ``coef_j * (x_j - baseline_j)`` in the model's decision units (log-odds for a logistic
  regression). The baseline is, in this order: the ``baseline`` argument; the training means a
  ``StandardScaler`` in the pipeline recorded (``mean_``); else zero (then the contribution is
  ``coef_j * x_j``). Other pipeline steps (encoders, imputers) are refused: their output columns
  are not the policy's features.
- **tree ensembles** (scikit-learn GradientBoosting, RandomForest, HistGradientBoosting,
  DecisionTree; LightGBM and XGBoost when installed): SHAP values from ``shap.TreeExplainer``
  against its expected value (the mean model output over the training data the trees record). For
  gradient boosting that is log-odds; for random forests, the probability of the positive class.
  ``shap`` is imported only here, when a tree model is explained.
- **caller-given** reasons (`coerce_reasons`) pass through, sorted the same way.

`plain_reasons` turns the top factors that lowered the score into the policy's reason texts, as an
adverse-action notice would.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from veil.errors import InputError

__all__ = ["Reason", "coerce_reasons", "model_kind", "plain_reasons", "reason_codes"]

_TREE_MODULES = ("sklearn.ensemble", "sklearn.tree", "lightgbm", "xgboost")


@dataclass(frozen=True)
class Reason:
    """One feature's contribution to a score (score units; negative = lowered the score)."""

    feature: str
    contribution: float
    value: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {"feature": self.feature, "contribution": self.contribution, "value": self.value}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Reason:
        return cls(str(d["feature"]), float(d["contribution"]), d.get("value"))


def _sorted(reasons: Iterable[Reason], top: int | None) -> list[Reason]:
    out = sorted(reasons, key=lambda r: (r.contribution, r.feature))
    return out if top is None else out[:top]


def coerce_reasons(given: Any, *, top: int | None = None) -> list[Reason]:
    """Caller-given reasons as `Reason`\\ s, most-negative first: a mapping feature ->
    contribution, or an iterable of `Reason`, dicts (feature, contribution[, value]) or
    ``(feature, contribution)`` pairs."""
    if isinstance(given, Mapping):
        items: Iterable[Any] = [(k, v) for k, v in given.items()]
    else:
        items = given
    out = []
    for i, r in enumerate(items):
        try:
            if isinstance(r, Reason):
                out.append(r)
            elif isinstance(r, Mapping):
                out.append(Reason.from_dict(r))
            else:
                f, c = r
                out.append(Reason(str(f), float(c)))
        except (KeyError, TypeError, ValueError):
            raise InputError("a reason is a feature and a numeric contribution",
                             where=f"reasons[{i}]") from None
    return _sorted(out, top)


def _final(estimator: Any) -> Any:
    steps = getattr(estimator, "steps", None)
    return steps[-1][1] if steps else estimator


def model_kind(estimator: Any) -> str:
    """``"linear"`` or ``"tree"`` for an estimator `reason_codes` can explain; `InputError`
    otherwise."""
    final = _final(estimator)
    if hasattr(final, "coef_"):
        return "linear"
    module = type(final).__module__
    if module.startswith(_TREE_MODULES):
        return "tree"
    raise InputError(
        f"cannot explain a {type(final).__name__}: reason codes come from linear models "
        "(coef_) and tree ensembles; pass the reasons yourself", where="reason_codes")


def _matrix(X: Any, feature_names: Sequence[str]) -> Any:
    import numpy as np

    if hasattr(X, "columns"):  # a pandas DataFrame: take the features in the stated order
        missing = [f for f in feature_names if f not in X.columns]
        if missing:
            raise InputError(f"missing feature column(s): {', '.join(missing)}",
                             where="reason_codes")
        X = X[list(feature_names)].to_numpy()
    arr = np.asarray(X, dtype=float)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2 or arr.shape[1] != len(feature_names):
        raise InputError(f"X has shape {arr.shape}, expected (rows, {len(feature_names)})",
                         where="reason_codes")
    return arr


def _linear(estimator: Any, arr: Any, baseline: Any) -> Any:
    import numpy as np

    steps = getattr(estimator, "steps", None) or [("model", estimator)]
    final = steps[-1][1]
    coef = np.asarray(final.coef_, dtype=float)
    if coef.ndim == 2:
        if coef.shape[0] != 1:
            raise InputError("only binary or single-output linear models are explained",
                             where="reason_codes")
        coef = coef[0]
    mean = np.zeros(arr.shape[1])
    scale = np.ones(arr.shape[1])
    for name, step in steps[:-1]:
        if type(step).__name__ != "StandardScaler":
            raise InputError(
                f"pipeline step {name!r} ({type(step).__name__}) is not a StandardScaler: "
                "reason codes need the model's inputs to be the features", where="reason_codes")
        # composing scalers: z = (x - m1)/s1 then (z - m2)/s2
        m = getattr(step, "mean_", None) if getattr(step, "with_mean", True) else None
        s = getattr(step, "scale_", None)
        m = np.zeros_like(mean) if m is None else np.asarray(m, dtype=float)
        s = np.ones_like(scale) if s is None else np.asarray(s, dtype=float)
        mean = mean + m * scale
        scale = scale * s
    if baseline is not None:
        mean = np.asarray(baseline, dtype=float).reshape(-1)
        if mean.shape[0] != arr.shape[1]:
            raise InputError("baseline needs one value per feature", where="reason_codes")
    return (arr - mean) * (coef / scale)


def _tree(estimator: Any, arr: Any) -> Any:
    import numpy as np

    try:
        import shap
    except ImportError:  # pragma: no cover - shap is in the ml extra
        raise InputError("explaining a tree model needs shap (pip install 'veil[ml]')",
                         where="reason_codes") from None
    values = shap.TreeExplainer(_final(estimator)).shap_values(arr)
    if isinstance(values, list):  # older shap: one array per class
        values = values[-1]
    values = np.asarray(values, dtype=float)
    if values.ndim == 3:  # (rows, features, classes): the positive class
        values = values[:, :, -1]
    return values


def reason_codes(estimator: Any, X: Any, feature_names: list[str], *, kind: str | None = None,
                 top: int | None = None, baseline: Any = None) -> list[list[Reason]]:
    """Per row of ``X`` (2-D array or DataFrame), every feature's `Reason`, most-negative first
    (``top``: only the first ``top``). ``kind``: "linear" or "tree" (default: from the
    estimator). ``baseline``: linear models only, the reference input (see the module notes)."""
    arr = _matrix(X, feature_names)
    kind = kind or model_kind(estimator)
    if kind == "linear":
        contrib = _linear(estimator, arr, baseline)
    elif kind == "tree":
        contrib = _tree(estimator, arr)
    else:
        raise InputError(f"unknown model kind {kind!r} (linear, tree)", where="reason_codes")
    names = list(feature_names)
    out = []
    for row, vals in zip(contrib.tolist(), arr.tolist(), strict=True):
        out.append(_sorted((Reason(f, c, v) for f, c, v in zip(names, row, vals, strict=True)),
                           top))
    return out


def plain_reasons(reasons: list[Reason], features: Mapping[str, Any], top: int = 4) -> list[str]:
    """The policy's reason texts (``features[f].reason``) for the ``top`` factors that lowered
    the score, most-negative first; a feature without a reason text is named; repeated texts
    appear once."""
    texts: list[str] = []
    for r in _sorted((r for r in reasons if r.contribution < 0), None):
        spec = features.get(r.feature)
        text = getattr(spec, "reason", None) or (spec.get("reason") if isinstance(spec, Mapping)
                                                 else None) or r.feature
        if text not in texts:
            texts.append(text)
        if len(texts) >= top:
            break
    return texts
