"""Bias monitoring of automated decisions (Art. 10(2)(f) and 10(5) EU AI Act), with Fairlearn's
definitions.

`fairness_report` joins the decisions of a period to the protected attributes the policy lists
for the purpose (``automated_decisions.protected_attributes``) by the subject's pseudonym, and per
attribute computes selection rates per group, and where actual outcomes are known
(``DecisionLedger.record_actual``) false positive and false negative rates, the
demographic-parity and the equalized-odds differences, as Fairlearn's ``MetricFrame``,
``demographic_parity_difference`` and ``equalized_odds_difference`` define them. Every figure
depends only on how many decisions fall in each (group, actual, selected) cell, so they are
computed from those counts with numpy (`veil.decisions.fairness_bootstrap.figures`), at a cost
independent of the number of decisions and without importing Fairlearn and scikit-learn (about
2 s of CPU, more than the report over a million decisions); the tests compare them with
Fairlearn's own figures over the rows. Bootstrap intervals come from the same module (fixed
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

from veil.decisions.fairness_bootstrap import bootstrap_intervals, cell_counts, figures
from veil.decisions.fairness_inputs import (
    decision_columns,
    group_codes,
    positions,
    protected_columns,
)
from veil.errors import InputError, PolicyError

__all__ = ["AttributeFairness", "FairnessReport", "GroupFigures", "fairness_report"]

PROTECTED_DATA_NOTE = (
    "The protected attributes were read from the caller's table, their subject ids replaced by "
    "keyed pseudonyms on reading, held in memory only for this check, never written to the "
    "workspace, and discarded when it finished (Art. 10(5) EU AI Act). This report holds group "
    "figures only.")


DEFINITIONS = ("Fairlearn's selection_rate, false_positive_rate, false_negative_rate, "
               "demographic_parity_difference and equalized_odds_difference (between groups, "
               "worst case), computed from the decisions' cell counts")


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
            "definitions": DEFINITIONS,
        }

    def digest(self) -> str:
        text = json.dumps(self.to_dict(), sort_keys=True, default=str)
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()

    def to_html(self) -> str:
        from veil.decisions.fairness_render import report_html

        return report_html(self)


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


def _attribute(name: str, groups: list[str], codes: Any, selected: Any, actual: Any, *,
               resamples: int, seed: int, level: float) -> AttributeFairness:
    """One attribute's figures, from the decisions' cell counts (`figures`: Fairlearn's
    definitions; the tests compare them with Fairlearn's own on the rows)."""
    cells = cell_counts(codes, groups, actual, selected)
    point = figures(cells.counts)
    ci = bootstrap_intervals(cells, resamples=resamples, seed=seed, level=level)
    n_group = cells.counts.sum(axis=(1, 2))
    n_known = cells.counts[:, 1:, :].sum(axis=(1, 2))
    fpr, fnr = point["false_positive_rate"], point["false_negative_rate"]
    rows = []
    for i, g in enumerate(groups):
        has = n_known[i] > 0
        rows.append(GroupFigures(
            g, int(n_group[i]), _f(point["selection_rate"][i]), _ci(ci, "selection_rate", i),
            int(n_known[i]),
            _f(fpr[i]) if has else None,
            _ci(ci, "false_positive_rate", i) if has else (None, None),
            _f(fnr[i]) if has else None,
            _ci(ci, "false_negative_rate", i) if has else (None, None)))
    errors = bool(n_known.sum())
    return AttributeFairness(name, rows, _f(point["demographic_parity_difference"]),
                             _ci(ci, "demographic_parity_difference"),
                             _f(point["equalized_odds_difference"]) if errors else None,
                             _ci(ci, "equalized_odds_difference") if errors else (None, None))


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
    dec = decision_columns(decisions, purpose=purpose, since=since, until=until,
                           positive=positive)
    prot = protected_columns(protected, attrs, ref_key=ref_key)
    at = positions(dec.subject, prot.subject)
    hit = at >= 0
    if not hit.any():
        raise InputError("no decision matches a subject of the protected attributes table",
                         where="fairness")
    rows, selected, actual = at[hit], dec.selected[hit], dec.actual[hit]
    results = []
    for a in attrs:
        groups, codes = group_codes(prot.attributes[a], rows)
        results.append(_attribute(a, groups, codes, selected, actual, resamples=resamples,
                                  seed=seed, level=level))
    del prot, rows  # the protected attributes live only as long as this computation
    report = FairnessReport(
        purpose=purpose, since=since, until=until, decisions=len(dec), matched=len(selected),
        with_actual=int((~np.isnan(actual)).sum()), attributes=results,
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
