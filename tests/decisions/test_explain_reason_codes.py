"""Reason codes match a hand computation for linear models and SHAP's own values for trees;
plain reasons use the policy's texts; shap is imported only when a tree model is explained."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from veil.decisions.explain import Reason, coerce_reasons, plain_reasons, reason_codes
from veil.errors import InputError

FEATURES = ["annual_income", "account_balance", "debt_ratio"]


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    X = rng.normal(size=(300, 3)) * [20_000, 3_000, 0.2] + [50_000, 5_000, 0.4]
    y = ((X[:, 0] - 50_000) / 20_000 + (X[:, 1] - 5_000) / 3_000 - (X[:, 2] - 0.4) / 0.2
         + rng.normal(size=300) > 0).astype(int)
    return X, y


def test_logistic_regression_is_coef_times_distance_from_the_baseline(data):
    X, y = data
    model = LogisticRegression(max_iter=1000).fit(X / [20_000, 3_000, 0.2], y)
    x = X[:3] / [20_000, 3_000, 0.2]
    baseline = x.mean(axis=0) * 0.9
    got = reason_codes(model, x, FEATURES, baseline=baseline)
    for row, reasons in zip(x, got, strict=True):
        expected = {f: model.coef_[0][j] * (row[j] - baseline[j]) for j, f in enumerate(FEATURES)}
        assert {r.feature: r.contribution for r in reasons} == pytest.approx(expected)
        assert {r.feature: r.value for r in reasons} == dict(zip(FEATURES, row, strict=True))
        assert [r.contribution for r in reasons] == sorted(r.contribution for r in reasons)


def test_without_a_baseline_a_plain_model_is_measured_from_zero(data):
    X, y = data
    model = LogisticRegression(max_iter=1000).fit(X / [20_000, 3_000, 0.2], y)
    x = X[:1] / [20_000, 3_000, 0.2]
    got = {r.feature: r.contribution for r in reason_codes(model, x, FEATURES)[0]}
    assert got == pytest.approx(dict(zip(FEATURES, model.coef_[0] * x[0], strict=True)))
    total = sum(got.values())
    assert total == pytest.approx(model.decision_function(x)[0] - model.intercept_[0])


def test_a_scaled_pipeline_is_measured_from_the_training_means(data):
    X, y = data
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
    scaler, lr = pipe[0], pipe[-1]
    x = X[5:8]
    got = reason_codes(pipe, pd.DataFrame(x, columns=FEATURES)[FEATURES[::-1]], FEATURES)
    for row, reasons in zip(x, got, strict=True):
        hand = lr.coef_[0] * (row - scaler.mean_) / scaler.scale_
        assert {r.feature: r.contribution for r in reasons} == pytest.approx(
            dict(zip(FEATURES, hand, strict=True)))
        # the contributions add up to the log-odds above the training-mean applicant
        at_mean = pipe.decision_function(scaler.mean_.reshape(1, -1))[0]
        assert sum(r.contribution for r in reasons) == pytest.approx(
            pipe.decision_function(row.reshape(1, -1))[0] - at_mean)


def test_gradient_boosting_reasons_are_shaps_values(data):
    import shap

    X, y = data
    model = GradientBoostingClassifier(n_estimators=15, max_depth=2, random_state=0).fit(X, y)
    x = X[:4]
    expected = shap.TreeExplainer(model).shap_values(x)
    got = reason_codes(model, x, FEATURES)
    for i, reasons in enumerate(got):
        assert {r.feature: r.contribution for r in reasons} == pytest.approx(
            dict(zip(FEATURES, expected[i], strict=True)))
        assert [r.contribution for r in reasons] == sorted(r.contribution for r in reasons)
    assert [len(r) for r in reason_codes(model, x, FEATURES, top=2)] == [2, 2, 2, 2]


def test_random_forest_reasons_are_the_positive_class_shap_values(data):
    import shap

    X, y = data
    model = RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0).fit(X, y)
    expected = np.asarray(shap.TreeExplainer(model).shap_values(X[:2]))[:, :, 1]
    got = reason_codes(model, X[:2], FEATURES)
    assert {r.feature: r.contribution for r in got[1]} == pytest.approx(
        dict(zip(FEATURES, expected[1], strict=True)))


def test_what_cannot_be_explained_is_refused(data):
    X, y = data
    with pytest.raises(InputError, match="cannot explain"):
        reason_codes(object(), X[:1], FEATURES)
    onehot = make_pipeline(OneHotEncoder(handle_unknown="ignore"), LogisticRegression())
    onehot.fit(X[:, :1].round(-4), y)
    with pytest.raises(InputError, match="not a StandardScaler"):
        reason_codes(onehot, X[:1, :1], FEATURES[:1], kind="linear")
    model = LogisticRegression().fit(X, y)
    with pytest.raises(InputError, match="missing feature"):
        reason_codes(model, pd.DataFrame(X[:1, :2], columns=FEATURES[:2]), FEATURES)
    with pytest.raises(InputError, match="expected"):
        reason_codes(model, X[:1, :2], FEATURES)


def test_caller_given_reasons_pass_through_sorted():
    assert coerce_reasons({"a": 0.5, "b": -1.0}) == [Reason("b", -1.0), Reason("a", 0.5)]
    assert coerce_reasons([("a", 1), {"feature": "b", "contribution": -2, "value": 3}],
                          top=1) == [Reason("b", -2.0, 3)]
    with pytest.raises(InputError, match="numeric contribution"):
        coerce_reasons([("a", "lots")])


class _Feature:
    def __init__(self, reason: str) -> None:
        self.reason = reason


def test_plain_reasons_are_the_policys_texts_for_what_lowered_the_score():
    features = {"annual_income": _Feature("Your income is low"),
                "account_balance": _Feature("Your account balance is low"),
                "overdrafts": _Feature("Your account balance is low")}
    reasons = [Reason("account_balance", -0.2), Reason("debt_ratio", -0.9),
               Reason("annual_income", 0.4), Reason("overdrafts", -0.1)]
    assert plain_reasons(reasons, features) == ["debt_ratio", "Your account balance is low"]
    assert plain_reasons(reasons, features, top=1) == ["debt_ratio"]
    assert plain_reasons([Reason("annual_income", 0.3)], features) == []


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-5, 5), min_size=3, max_size=3),
       st.lists(st.floats(-100, 100), min_size=3, max_size=3))
def test_linear_contributions_always_add_up_and_come_sorted(coef, x):
    class Linear:  # any estimator with coef_ is linear
        coef_ = np.array([coef])

    reasons = reason_codes(Linear(), np.array([x]), FEATURES)[0]
    assert sum(r.contribution for r in reasons) == pytest.approx(float(np.dot(coef, x)),
                                                                 abs=1e-9)
    assert [r.contribution for r in reasons] == sorted(r.contribution for r in reasons)


def test_the_cli_and_the_explain_module_do_not_import_shap_or_fairlearn():
    code = ("import runpy, sys\n"
            "import veil.decisions.explain, veil.decisions.explanation, veil.decisions.fairness\n"
            "sys.argv = ['veil', '--help']\n"
            "try:\n    runpy.run_module('veil', run_name='__main__')\n"
            "except SystemExit:\n    pass\n"
            "heavy = [m for m in ('shap', 'fairlearn', 'matplotlib') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
