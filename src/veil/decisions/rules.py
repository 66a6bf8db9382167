"""What the policy says about one model's decisions: the purpose's ``automated_decisions``
section read once, so the ledger applies it the same way to a batch, an online decision and a
review. A model's purpose without that section makes no automated decisions: refused."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from veil.errors import InputError, PolicyError
from veil.policy.duration import Duration

__all__ = ["DEFAULT_LOG_RETENTION", "DecisionRules", "after", "default_outcome"]

#: AI Act Art. 26(6): deployers keep the logs at least six months.
DEFAULT_LOG_RETENTION = "6 months"


def default_outcome(score: float, threshold: float) -> str:
    """``approve`` at or above the threshold, ``refuse`` below."""
    return "approve" if score >= threshold else "refuse"


def _duration(text: Any, what: str, where: str) -> Duration:
    if isinstance(text, Duration):
        return text
    try:
        return Duration.parse(str(text), what=what)
    except ValueError as exc:
        raise PolicyError(str(exc), where=where) from None


@dataclass(frozen=True)
class DecisionRules:
    """The ``automated_decisions`` rules of the purpose a model serves."""

    purpose: str
    features: dict[str, Any]  # feature -> DecisionFeature (reason text, field)
    refusals_to_review: bool
    near_threshold: float | None
    review_due: Duration
    contest_due: Duration
    log_retention: Duration
    legal_basis: str

    @classmethod
    def of(cls, policy: Any, purpose: str) -> DecisionRules:
        """The rules of ``purpose``; `InputError` for an unknown purpose or one that makes no
        automated decisions (nothing is recorded)."""
        p = policy.purpose(purpose)  # an unknown purpose: UnknownPurposeError (exit 3)
        ad = getattr(p, "automated_decisions", None)
        if ad is None:
            raise InputError(f"purpose '{purpose}' declares no automated_decisions: the policy "
                             "does not allow decisions under it", where=f"purposes.{purpose}")
        where = f"purposes.{purpose}.automated_decisions"
        retention = ad.log_retention or _policy_default(policy) or DEFAULT_LOG_RETENTION
        review = ad.review
        return cls(
            purpose=purpose, features=dict(ad.features),
            refusals_to_review=bool(review.refusals),
            near_threshold=review.near_threshold,
            review_due=_duration(review.due, "review.due", f"{where}.review.due"),
            contest_due=_duration(ad.contest_due, "contest_due", f"{where}.contest_due"),
            log_retention=_duration(retention, "log_retention", f"{where}.log_retention"),
            legal_basis=f"Art. 22(2) {ad.basis}" if ad.basis else "Art. 22",
        )

    def check_features(self, names: Iterable[str]) -> list[str]:
        """The given feature names, in order; `InputError` naming every one the policy does not
        declare (nothing is recorded)."""
        given = list(names)
        unknown = [n for n in given if n not in self.features]
        if unknown:
            raise InputError(
                f"feature(s) not declared in the policy's automated_decisions.features of "
                f"'{self.purpose}': {', '.join(sorted(unknown)[:10])}", where="features")
        return given

    def route(self, outcome: str, score: float, threshold: float) -> str | None:
        """Why the policy sends this decision to human review (None: it stands)."""
        if self.refusals_to_review and outcome == "refuse":
            return "refusal"
        near = self.near_threshold
        if near and abs(score - threshold) <= near:
            return "near_threshold"
        return None

    def due(self, why: str | None, at: datetime) -> datetime | None:
        return None if why is None else after(self.review_due, at)

    def retain_until(self, at: datetime) -> datetime:
        return after(self.log_retention, at)


@functools.lru_cache(maxsize=1024)
def _shifted(d: Duration, day: date) -> date:
    return d.after(datetime.combine(day, time(), tzinfo=UTC)).date()


def after(d: Duration, at: datetime) -> datetime:
    """``d.after(at)``, its calendar arithmetic done once per day and duration (an online
    decision computed it twice per call): a duration moves the date only (years, months,
    weeks, days), the time of day and the offset stay."""
    return datetime.combine(_shifted(d, at.date()), at.timetz())


def _policy_default(policy: Any) -> str | None:
    retention = getattr(policy, "retention", None)
    return getattr(retention, "decisions", None) if retention is not None else None
