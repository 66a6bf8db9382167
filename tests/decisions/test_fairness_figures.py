"""Fairness figures match Fairlearn's on fixed tables; intervals are reproducible and hold the
point figure; bad input gets one clear error."""

from __future__ import annotations

from types import SimpleNamespace as NS

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    equalized_odds_difference,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from veil.decisions.fairness import fairness_report
from veil.decisions.fairness_bootstrap import bootstrap_intervals, cell_counts, figures
from veil.errors import InputError, PolicyError

POLICY = NS(purposes={
    "credit_scoring": NS(automated_decisions=NS(protected_attributes=["gender", "age_band"])),
    "marketing": NS(automated_decisions=None)})


def _tables(n: int = 60, seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    subjects = [f"{i:064x}" for i in range(n)]
    actual = rng.integers(0, 2, n).astype(float)
    actual[::4] = np.nan  # unknown for a quarter
    dec = pd.DataFrame({"subject": subjects, "actual": actual,
                        "outcome": np.where(rng.random(n) < 0.55, "approve", "refuse")})
    prot = pd.DataFrame({"subject": subjects[::-1],  # another order: joined by pseudonym
                         "gender": rng.choice(["f", "m"], n)[::-1],
                         "age_band": rng.choice(["18-30", "31-50", "51+"], n)[::-1],
                         "postcode": ["X"] * n})
    return dec, prot


def test_figures_match_fairlearn_on_a_fixed_table():
    dec, prot = _tables()
    report = fairness_report(dec, prot, policy=POLICY, plots=False, resamples=50)
    joined = dec.merge(prot, on="subject")
    sel = (joined["outcome"] == "approve").to_numpy()
    known = joined["actual"].notna().to_numpy()
    assert (report.decisions, report.matched, report.with_actual) == (60, 60, int(known.sum()))
    for attr in report.attributes:
        sens = joined[attr.attribute].to_numpy()
        mf = MetricFrame(metrics=selection_rate, y_true=sel, y_pred=sel, sensitive_features=sens)
        yt = joined["actual"].to_numpy()[known].astype(int)
        err = MetricFrame(metrics={"fpr": false_positive_rate, "fnr": false_negative_rate},
                          y_true=yt, y_pred=sel[known], sensitive_features=sens[known])
        for g in attr.groups:
            assert g.selection_rate == pytest.approx(mf.by_group[g.group])
            assert g.false_positive_rate == pytest.approx(err.by_group.loc[g.group, "fpr"])
            assert g.false_negative_rate == pytest.approx(err.by_group.loc[g.group, "fnr"])
            assert g.decisions == int((sens == g.group).sum())
        assert attr.demographic_parity_difference == pytest.approx(
            demographic_parity_difference(sel, sel, sensitive_features=sens))
        assert attr.equalized_odds_difference == pytest.approx(
            equalized_odds_difference(yt, sel[known], sensitive_features=sens[known]))


def test_hand_checked_small_table():
    dec = pd.DataFrame({"subject": list("abcdef"),
                        "outcome": ["approve", "approve", "refuse", "approve", "refuse", "refuse"],
                        "actual": [1, 0, 1, 1, 0, np.nan]})
    prot = pd.DataFrame({"subject": list("abcdef"), "gender": list("fffmmm"),
                         "age_band": ["a"] * 6})
    gender = fairness_report(dec, prot, policy=POLICY, plots=False).attributes[0]
    f, m = gender.groups
    assert (f.selection_rate, m.selection_rate) == (pytest.approx(2 / 3), pytest.approx(1 / 3))
    assert gender.demographic_parity_difference == pytest.approx(1 / 3)
    # f: actual 0 -> approved (FP 1/1); actual 1 -> one refused of two (FN 1/2)
    assert (f.false_positive_rate, f.false_negative_rate) == (1.0, 0.5)
    # m: actual 0 -> refused (FP 0/1); actual 1 -> approved (FN 0/1)
    assert (m.false_positive_rate, m.false_negative_rate) == (0.0, 0.0)
    assert gender.equalized_odds_difference == pytest.approx(1.0)


def test_intervals_are_reproducible_and_hold_the_point_figure():
    dec, prot = _tables(400, seed=5)
    a = fairness_report(dec, prot, policy=POLICY, plots=False, seed=11)
    b = fairness_report(dec, prot, policy=POLICY, plots=False, seed=11)
    assert a.attributes == b.attributes
    for attr in a.attributes:
        lo, hi = attr.demographic_parity_ci
        assert lo <= attr.demographic_parity_difference <= hi
        for g in attr.groups:
            assert g.selection_ci[0] <= g.selection_rate <= g.selection_ci[1]
    assert a.bootstrap["seed"] == 11 and a.bootstrap["resamples"] == 1000


def test_the_multinomial_bootstrap_is_the_row_bootstrap():
    """The same resampling as drawing rows with replacement: the means and spreads of both
    bootstrap distributions of the selection-rate difference agree."""
    rng = np.random.default_rng(0)
    n = 500
    codes = rng.integers(0, 2, n)
    sel = rng.random(n) < np.where(codes == 0, 0.4, 0.6)
    actual = np.full(n, np.nan)
    cells = cell_counts(codes, ["a", "b"], actual, sel)
    draws = np.random.default_rng(1).multinomial(n, cells.counts.reshape(-1) / n, size=4000)
    multi = figures(draws.reshape(4000, 2, 3, 2))["demographic_parity_difference"]
    rows = []
    r = np.random.default_rng(2)
    for _ in range(4000):
        i = r.integers(0, n, n)
        rate = [sel[i][codes[i] == g].mean() for g in (0, 1)]
        rows.append(max(rate) - min(rate))
    assert np.mean(multi) == pytest.approx(np.mean(rows), abs=0.01)
    assert np.std(multi) == pytest.approx(np.std(rows), rel=0.1)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.booleans(), st.sampled_from([0.0, 1.0, None])),
                min_size=4, max_size=40))
def test_figures_from_counts_equal_fairlearns(rows):
    """Every figure, also for groups whose known outcomes are all of one class (Fairlearn's
    rate is then 0 for the missing class) and groups with no known outcome (no rate)."""
    codes = np.array([r[0] for r in rows])
    groups = sorted(set(codes.tolist()))
    codes = np.searchsorted(groups, codes)
    sel = np.array([r[1] for r in rows])
    actual = np.array([np.nan if r[2] is None else r[2] for r in rows])
    got = figures(cell_counts(codes, [str(g) for g in groups], actual, sel).counts)
    mf = MetricFrame(metrics=selection_rate, y_true=sel, y_pred=sel, sensitive_features=codes)
    assert got["selection_rate"] == pytest.approx(mf.by_group.sort_index().to_numpy())
    assert got["demographic_parity_difference"] == pytest.approx(
        demographic_parity_difference(sel, sel, sensitive_features=codes))
    known = ~np.isnan(actual)
    yt, yp, sk = actual[known].astype(int), sel[known], codes[known]
    if known.sum() >= 2:  # Fairlearn refuses a one-row table
        assert got["equalized_odds_difference"] == pytest.approx(
            equalized_odds_difference(yt, yp, sensitive_features=sk))
        err = MetricFrame(metrics={"fpr": false_positive_rate, "fnr": false_negative_rate},
                          y_true=yt, y_pred=yp, sensitive_features=sk)
        for g in range(len(groups)):
            if g in err.by_group.index:
                assert got["false_positive_rate"][g] == pytest.approx(err.by_group.loc[g, "fpr"])
                assert got["false_negative_rate"][g] == pytest.approx(err.by_group.loc[g, "fnr"])
            else:
                assert np.isnan(got["false_positive_rate"][g])
    assert bootstrap_intervals(cell_counts(codes, [str(g) for g in groups], actual, sel),
                               resamples=20)["selection_rate"][0].shape == (len(groups),)


def test_a_group_with_one_class_of_known_outcomes_matches_fairlearn():
    """Group m's known outcomes are all 1: Fairlearn gives it a false positive rate of 0 and
    counts it in the equalized-odds difference; so does the report."""
    dec = pd.DataFrame({"subject": list("abcdefgh"),
                        "outcome": ["approve", "refuse", "approve", "refuse"] * 2,
                        "actual": [1, 0, 0, 1, 1, 1, 1, np.nan]})
    prot = pd.DataFrame({"subject": list("abcdefgh"), "gender": list("ffffmmmm"),
                         "age_band": ["a"] * 8})
    gender = fairness_report(dec, prot, policy=POLICY, plots=False, resamples=20).attributes[0]
    f, m = gender.groups
    sel = (dec["outcome"] == "approve").to_numpy()[:7]
    yt, sens = dec["actual"].to_numpy()[:7].astype(int), prot["gender"].to_numpy()[:7]
    err = MetricFrame(metrics={"fpr": false_positive_rate, "fnr": false_negative_rate},
                      y_true=yt, y_pred=sel, sensitive_features=sens)
    assert (m.false_positive_rate, m.with_actual) == (0.0, 3)
    assert m.false_positive_rate == err.by_group.loc["m", "fpr"]
    assert f.false_positive_rate == pytest.approx(err.by_group.loc["f", "fpr"])
    assert gender.equalized_odds_difference == pytest.approx(
        equalized_odds_difference(yt, sel, sensitive_features=sens))


def test_without_actual_outcomes_only_selection_rates():
    dec, prot = _tables()
    report = fairness_report(dec.drop(columns="actual"), prot, policy=POLICY, plots=True,
                             resamples=20)
    assert report.with_actual == 0
    assert all(a.equalized_odds_difference is None for a in report.attributes)
    assert report.plots["gender"].startswith(b"\x89PNG")


def test_the_report_renders_escaped_html_and_json():
    dec, prot = _tables()
    prot["gender"] = np.where(prot["gender"] == "f", "<script>x</script>", "m")
    report = fairness_report(dec, prot, policy=POLICY, resamples=20)
    page = report.to_html()
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "data:image/png;base64," in page and "held in memory only" in page
    d = report.to_dict()
    assert d["protected_data"] == report.protected_data and d["unmatched"] == 0
    assert d["definitions"].startswith("Fairlearn's selection_rate")


def test_bad_input_gets_one_clear_error():
    dec, prot = _tables()
    with pytest.raises(InputError, match="missing protected attribute column"):
        fairness_report(dec, prot.drop(columns="gender"), policy=POLICY, plots=False)
    with pytest.raises(InputError, match="listed twice") as e:
        fairness_report(dec, pd.concat([prot, prot.iloc[:1]]), policy=POLICY, plots=False)
    assert e.value.where == "protected row 62"
    with pytest.raises(InputError, match="no decision matches"):
        fairness_report(dec, prot.assign(subject=[f"z{i}" for i in range(60)]), policy=POLICY,
                        plots=False)
    with pytest.raises(PolicyError, match="no automated_decisions"):
        fairness_report(dec, prot, policy=POLICY, purpose="marketing", plots=False)
    empty = NS(purposes={"p": NS(automated_decisions=NS(protected_attributes=[]))})
    with pytest.raises(PolicyError, match="no protected_attributes"):
        fairness_report(dec, prot, policy=empty, plots=False)
    with pytest.raises(InputError, match="subject_id needs a workspace"):
        fairness_report(dec, prot.rename(columns={"subject": "subject_id"}), policy=POLICY)


@pytest.mark.parametrize("n_known", [1, 2])
def test_a_single_known_outcome_gives_figures_not_an_error(n_known):
    """Fairlearn refuses a one-row table; a report with one known outcome (or one decision of
    one group) still gives the figures the cell defines."""
    dec, prot = _tables(8)
    dec["actual"] = np.nan
    dec.loc[: n_known - 1, "actual"] = 1.0
    dec["outcome"] = "approve"
    prot["gender"] = "f"
    report = fairness_report(dec, prot, policy=POLICY, plots=False, resamples=20)
    gender = next(a for a in report.attributes if a.attribute == "gender")
    (group,) = gender.groups
    assert (group.selection_rate, group.with_actual) == (1.0, n_known)
    assert (group.false_negative_rate, gender.demographic_parity_difference) == (0.0, 0.0)
    one, one_prot = dec.iloc[:1], prot[prot["subject"] == dec["subject"].iloc[0]]
    single = fairness_report(one, one_prot, policy=POLICY, plots=False, resamples=20)
    assert single.attributes[0].groups[0].selection_rate == 1.0
