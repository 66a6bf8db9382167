"""Bias monitoring of automated decisions (Art. 10(2)(f) and 10(5) EU AI Act) with Fairlearn.

`fairness_report` joins the decisions of a period to the protected attributes the policy lists
for the purpose (``automated_decisions.protected_attributes``) by the subject's pseudonym, and per
attribute computes with Fairlearn (``MetricFrame``, ``demographic_parity_difference``,
``equalized_odds_difference``): selection rates per group, and where actual outcomes are known
(``DecisionLedger.record_actual``) false positive and false negative rates and the equalized-odds
difference. Fairlearn is given the distinct (group, actual, selected) cells weighted by their
counts (``sample_weight``), which yields the rows' figures exactly at a cost independent of the
number of decisions. Bootstrap intervals come from `veil.decisions.fairness_bootstrap` (fixed
seed).

Selected means the decision's outcome is the favourable one (``positive``, "approve" by default);
an actual outcome of 1 means the favourable outcome was deserved (e.g. the loan was repaid), so a
false positive is an approval of a loan that was not repaid and a false negative a refusal of a
person who would have repaid (measured where the actual outcome is known).

Protected attributes (Art. 10(5)): read from the caller's table, the subject ids replaced by the
workspace's keyed pseudonyms on reading, held in this process's memory only for the computation,
never written to the workspace (database, files, audit log), and dropped when the report is made.
The report and its audit event hold group figures only.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from veil.decisions.fairness_bootstrap import POS, UNKNOWN, bootstrap_intervals, cell_counts
from veil.decisions.fairness_inputs import decisions_frame, protected_frame
from veil.errors import InputError, PolicyError

__all__ = ["AttributeFairness", "FairnessReport", "GroupFigures", "fairness_report"]

PROTECTED_DATA_NOTE = (
    "The protected attributes were read from the caller's table, their subject ids replaced by "
    "keyed pseudonyms on reading, held in memory only for this check, never written to the "
    "workspace, and discarded when it finished (Art. 10(5) EU AI Act). This report holds group "
    "figures only.")


def _f(x: Any) -> float | None:
    x = float(x)
    return None if x != x else x  # NaN -> None


@dataclass(frozen=True)
class GroupFigures:
    """One group's figures; rates are None where their denominator is zero."""

    group: str
    decisions: int
    selection_rate: float | None
    selection_ci: tuple[float | None, float | None]
    with_actual: int = 0
    false_positive_rate: float | None = None
    false_positive_ci: tuple[float | None, float | None] = (None, None)
    false_negative_rate: float | None = None
    false_negative_ci: tuple[float | None, float | None] = (None, None)


@dataclass(frozen=True)
class AttributeFairness:
    attribute: str
    groups: list[GroupFigures]
    demographic_parity_difference: float | None
    demographic_parity_ci: tuple[float | None, float | None]
    equalized_odds_difference: float | None = None
    equalized_odds_ci: tuple[float | None, float | None] = (None, None)


@dataclass(frozen=True)
class FairnessReport:
    purpose: str
    since: datetime | None
    until: datetime | None
    decisions: int
    matched: int
    with_actual: int
    attributes: list[AttributeFairness]
    bootstrap: dict[str, Any]
    generated_at: datetime
    positive: str = "approve"
    protected_data: str = PROTECTED_DATA_NOTE
    plots: dict[str, bytes] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        iso = (lambda t: t.isoformat() if t else None)  # noqa: E731
        return {
            "purpose": self.purpose, "since": iso(self.since), "until": iso(self.until),
            "positive_outcome": self.positive, "decisions": self.decisions,
            "matched": self.matched, "unmatched": self.decisions - self.matched,
            "with_actual": self.with_actual,
            "attributes": [asdict(a) for a in self.attributes], "bootstrap": self.bootstrap,
            "protected_data": self.protected_data, "generated_at": self.generated_at.isoformat(),
            "library": "fairlearn " + _fairlearn_version(),
        }

    def digest(self) -> str:
        text = json.dumps(self.to_dict(), sort_keys=True, default=str)
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()

    def to_html(self) -> str:
        from veil.decisions.fairness_render import report_html

        return report_html(self)


def _fairlearn_version() -> str:
    import fairlearn

    return str(fairlearn.__version__)


def _attributes(policy: Any, purpose: str | None) -> tuple[str, list[str]]:
    decides = {p: v.automated_decisions for p, v in policy.purposes.items()
               if getattr(v, "automated_decisions", None) is not None}
    if purpose is None:
        if len(decides) != 1:
            raise InputError("name the purpose (the policy has "
                             f"{len(decides)} purposes with automated decisions)",
                             where="fairness")
        purpose = next(iter(decides))
    if purpose not in decides:
        raise PolicyError(f"purpose {purpose!r} declares no automated_decisions",
                          where=f"purposes.{purpose}")
    attrs = list(getattr(decides[purpose], "protected_attributes", None) or [])
    if not attrs:
        raise PolicyError("no protected_attributes to monitor",
                          where=f"purposes.{purpose}.automated_decisions")
    return purpose, attrs


def _ci(ci: dict[str, Any], name: str, i: int | None = None) -> tuple[float | None, float | None]:
    if name not in ci:
        return (None, None)
    lo, hi = ci[name]
    return (_f(lo if i is None else lo[i]), _f(hi if i is None else hi[i]))


def _attribute(name: str, sens: Any, selected: Any, actual: Any, *, resamples: int, seed: int,
               level: float) -> AttributeFairness:
    """One attribute's figures. Fairlearn computes them from the distinct (group, actual,
    selected) cells weighted by their counts (``sample_weight``): the same rates and
    differences as from the rows (tests compare both), at a cost independent of the rows."""
    import numpy as np
    import pandas as pd
    from fairlearn.metrics import (
        MetricFrame,
        demographic_parity_difference,
        equalized_odds_difference,
        false_negative_rate,
        false_positive_rate,
        selection_rate,
    )

    codes, uniques = pd.factorize(sens, sort=True)
    groups = [str(g) for g in uniques]
    cells = cell_counts(codes, groups, actual, selected)
    g_idx, a_idx, s_idx = np.nonzero(cells.counts)
    w = cells.counts[g_idx, a_idx, s_idx].astype(float)
    if len(w) == 1:  # Fairlearn refuses a single row: the same cell as two halves
        g_idx, a_idx, s_idx, w = (np.repeat(g_idx, 2), np.repeat(a_idx, 2),
                                  np.repeat(s_idx, 2), np.repeat(w / 2, 2))
    g_lab = np.array(groups, dtype=object)[g_idx]
    sel = s_idx.astype(bool)
    mf = MetricFrame(metrics=selection_rate, y_true=sel, y_pred=sel, sensitive_features=g_lab,
                     sample_params={"sample_weight": w})
    dp = demographic_parity_difference(sel, sel, sensitive_features=g_lab, sample_weight=w)
    known = a_idx != UNKNOWN
    err = eo = None
    if known.any():
        yt, yp, sk, wk = (a_idx[known] == POS).astype(int), sel[known], g_lab[known], w[known]
        if len(wk) == 1:  # one known cell: two halves, as above
            yt, yp, sk, wk = (np.repeat(yt, 2), np.repeat(yp, 2), np.repeat(sk, 2),
                              np.repeat(wk / 2, 2))
        err = MetricFrame(metrics={"fpr": false_positive_rate, "fnr": false_negative_rate},
                          y_true=yt, y_pred=yp, sensitive_features=sk,
                          sample_params={"fpr": {"sample_weight": wk},
                                         "fnr": {"sample_weight": wk}})
        eo = equalized_odds_difference(yt, yp, sensitive_features=sk, sample_weight=wk)
    ci = bootstrap_intervals(cells, resamples=resamples, seed=seed, level=level)
    n_group = cells.counts.sum(axis=(1, 2))
    n_known = cells.counts[:, 1:, :].sum(axis=(1, 2))
    rows = []
    for i, g in enumerate(groups):
        has = err is not None and n_known[i] > 0
        e = err.by_group.loc[g] if has else None
        rows.append(GroupFigures(
            g, int(n_group[i]), _f(mf.by_group.loc[g]), _ci(ci, "selection_rate", i),
            int(n_known[i]),
            _f(e["fpr"]) if has else None,
            _ci(ci, "false_positive_rate", i) if has else (None, None),
            _f(e["fnr"]) if has else None,
            _ci(ci, "false_negative_rate", i) if has else (None, None)))
    return AttributeFairness(name, rows, _f(dp), _ci(ci, "demographic_parity_difference"),
                             _f(eo) if eo is not None else None,
                             _ci(ci, "equalized_odds_difference") if eo is not None
                             else (None, None))


def fairness_report(decisions: Any, protected: Any, *, policy: Any, purpose: str | None = None,
                    since: datetime | None = None, until: datetime | None = None,
                    workspace: Any = None, positive: str = "approve", resamples: int = 1000,
                    seed: int = 0, level: float = 0.95, plots: bool = True,
                    actor: str | None = None) -> FairnessReport:
    """The fairness report of ``decisions`` (a `DecisionLedger`, a list of `DecisionRecord`,
    or a table with subject, outcome|selected[, actual, decided_at, purpose, decided_by]) in
    [since, until), by the policy's protected attributes from ``protected`` (see
    `veil.decisions.fairness_inputs`). With a workspace (or a ledger's), ``subject_id`` columns
    are pseudonymised with its key and the report is recorded as an audit event (figures only).
    """
    import numpy as np

    purpose, attrs = _attributes(policy, purpose)
    workspace = workspace if workspace is not None else getattr(decisions, "workspace", None)
    ref_key = None
    if workspace is not None:
        from veil.consent.models import SubjectRef

        ref_key = SubjectRef(workspace.root).key()
    dec = decisions_frame(decisions, purpose=purpose, since=since, until=until,
                          positive=positive)
    prot = protected_frame(protected, attrs, ref_key=ref_key)
    joined = dec.merge(prot, on="subject", how="inner", sort=False)
    del prot  # the protected attributes live only as long as this computation
    if joined.empty:
        raise InputError("no decision matches a subject of the protected attributes table",
                         where="fairness")
    selected = joined["selected"].to_numpy(dtype=bool)
    actual = joined["actual"].to_numpy(dtype=float)
    results = []
    for a in attrs:
        sens = joined[a].replace("", "(missing)").to_numpy(dtype=object)
        results.append(_attribute(a, sens, selected, actual, resamples=resamples, seed=seed,
                                  level=level))
    n_known = int((~np.isnan(actual)).sum())
    matched = len(joined)
    del joined
    report = FairnessReport(
        purpose=purpose, since=since, until=until, decisions=len(dec), matched=matched,
        with_actual=n_known, attributes=results,
        bootstrap={"resamples": resamples, "seed": seed, "level": level,
                   "method": "percentile intervals of a row bootstrap, drawn as multinomial "
                             "cell counts (numpy default_rng(seed))"},
        generated_at=datetime.now(UTC), positive=positive)
    if plots:
        from veil.decisions.fairness_render import plot_attribute

        report.plots.update({a.attribute: plot_attribute(a) for a in results})
    if workspace is not None:
        _audit(workspace, report, actor)
    return report


def _audit(workspace: Any, report: FairnessReport, actor: str | None) -> None:
    from veil._actor import default_actor
    from veil.audit.event import AuditEvent
    from veil.audit.log import AuditLog

    details: dict[str, Any] = {"since": report.since.isoformat() if report.since else None,
                               "until": report.until.isoformat() if report.until else None,
                               "protected_data": "in memory only; discarded after the check"}
    for a in report.attributes:
        details[f"{a.attribute}.groups"] = len(a.groups)
        details[f"{a.attribute}.demographic_parity_difference"] = a.demographic_parity_difference
        details[f"{a.attribute}.equalized_odds_difference"] = a.equalized_odds_difference
    AuditLog(workspace).append([AuditEvent(
        time=report.generated_at, actor=default_actor(actor), action="decisions.fairness",
        purpose=report.purpose, legal_basis="Art. 10(2)(f) and 10(5) EU AI Act",
        outcome="success", data_categories=["protected attributes"],
        counts={"decisions": report.decisions, "matched": report.matched,
                "with_actual": report.with_actual},
        digests={"report": report.digest()}, details=details)])
