"""The EDPB's criteria for processing "likely to result in a high risk" (WP29 guidelines on
DPIA, WP248 rev.01, endorsed by the EDPB): meeting two or more usually means a DPIA is required
(Art. 35(1)).

Each criterion is a row: its id, the guidelines' words, and a test that reads only the policy
and says *why* the purpose meets it, or None. Criteria the policy cannot show (large scale,
innovative technology) never match here; the DPIA draft asks the DPO about them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from veil.policy.model import Policy, Purpose

__all__ = ["CRITERIA", "Criterion", "criteria_met"]

#: Words in a dataset's `subjects` that name vulnerable data subjects (WP248 criterion 7).
VULNERABLE_WORDS = ("child", "minor", "pupil", "student", "employee", "staff", "patient",
                    "elderly", "asylum", "vulnerable")


@dataclass(frozen=True)
class Criterion:
    id: str
    title: str
    test: Callable[[Policy, Purpose], str | None]


def _used(policy: Policy, p: Purpose) -> list[tuple[str, str, str]]:
    """(dataset, field, category) of every field the purpose uses (not dropped)."""
    return [(d, f, policy.datasets[d].fields[f].category)
            for d, u in p.datasets.items() for f, t in u.fields.items() if t.transform != "drop"]


def _scoring(policy: Policy, p: Purpose) -> str | None:
    if p.automated_decisions is not None:
        return f"the purpose scores people: {p.automated_decisions.decision}"
    inferred = [f for _, f, c in _used(policy, p) if c == "inferred"]
    if inferred:
        return f"uses inferred data to predict people's behaviour ({', '.join(inferred)})"
    return None


def _automated(policy: Policy, p: Purpose) -> str | None:
    ad = p.automated_decisions
    if ad is not None and ad.legal_effect:
        return (f"automated decision with legal or similarly significant effect (Art. 22): "
                f"{ad.decision}")
    return None


def _monitoring(policy: Policy, p: Purpose) -> str | None:
    used = _used(policy, p)
    online = [f for _, f, c in used if c == "online_identifier"]
    timed = [f for d, f, _ in used if policy.datasets[d].fields[f].type == "timestamp"]
    if online and timed:
        return (f"observes people's activity over networks over time ({', '.join(online)} "
                f"with {', '.join(timed)})")
    return None


def _sensitive(policy: Policy, p: Purpose) -> str | None:
    hits = []
    for d, f, c in _used(policy, p):
        cat = policy.category(c)
        if cat.special or cat.criminal or cat.financial or policy.datasets[d].fields[f].sensitive:
            kind = ("Art. 9 special category" if cat.special else "Art. 10 criminal data"
                    if cat.criminal else "financial data" if cat.financial else "marked sensitive")
            hits.append(f"{f} ({kind})")
    return "sensitive or highly personal data: " + ", ".join(hits) if hits else None


def _matching(policy: Policy, p: Purpose) -> str | None:
    if len(p.datasets) > 1:
        return f"combines datasets: {', '.join(p.datasets)}"
    return None


def _vulnerable(policy: Policy, p: Purpose) -> str | None:
    if p.consent_min_age is not None:
        return f"children may consent (consent_min_age {p.consent_min_age})"
    for d in p.datasets:
        subjects = policy.datasets[d].subjects.lower()
        if any(w in subjects for w in VULNERABLE_WORDS):
            return f"data subjects of dataset '{d}': {policy.datasets[d].subjects}"
    return None


def _prevents(policy: Policy, p: Purpose) -> str | None:
    ad = p.automated_decisions
    if ad is not None and ad.legal_effect:
        return f"the decision can deny people a service or contract: {ad.decision}"
    return None


def _unknown(policy: Policy, p: Purpose) -> str | None:
    return None


CRITERIA: tuple[Criterion, ...] = (
    Criterion("evaluation_scoring", "Evaluation or scoring, including profiling and predicting",
              _scoring),
    Criterion("automated_decision", "Automated decision-making with legal or similar "
              "significant effect", _automated),
    Criterion("systematic_monitoring", "Systematic monitoring", _monitoring),
    Criterion("sensitive_data", "Sensitive data or data of a highly personal nature", _sensitive),
    Criterion("large_scale", "Data processed on a large scale", _unknown),
    Criterion("matching_datasets", "Matching or combining datasets", _matching),
    Criterion("vulnerable_subjects", "Data concerning vulnerable data subjects", _vulnerable),
    Criterion("innovative_technology", "Innovative use or applying new technological or "
              "organisational solutions", _unknown),
    Criterion("prevents_right_or_contract", "Processing that prevents data subjects from "
              "exercising a right or using a service or a contract", _prevents),
)


def criteria_met(policy: Policy, purpose_id: str) -> list[tuple[Criterion, str]]:
    """The criteria the purpose meets, each with the reason read from the policy."""
    p = policy.purpose(purpose_id)
    out = []
    for c in CRITERIA:
        why = c.test(policy, p)
        if why:
            out.append((c, why))
    return out
