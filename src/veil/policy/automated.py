"""A purpose's automated decisions about people (Art. 22 GDPR; EU AI Act Annex III 5(b)): the
decision, its Art. 22(2) basis and 22(3) safeguards, who oversees it (AI Act Art. 14), the
model's input features with the reason text a person is shown, which decisions go to human
review, the attributes monitored for bias and how long the decision log is kept.

The shape is checked here; whether it is lawful (a basis, all safeguards, overseers, six months
of logs, Art. 22(4) for special categories) is checked by veil.policy.legal when the policy
loads, so the error names the rule.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from veil.policy.base import Ident, _Strict, check_duration
from veil.policy.duration import Duration

DecisionBasis = Literal["contract", "law", "explicit_consent"]
DecisionSafeguard = Literal["human_intervention", "express_view", "contest"]
#: The Art. 22(3) safeguards, in the article's order.
ALL_SAFEGUARDS: tuple[DecisionSafeguard, ...] = ("human_intervention", "express_view", "contest")


class DecisionFeature(_Strict):
    """A model input: the plain-language reason shown when it lowered the score, and the field
    of the purpose's data it comes from (default: the field of the same name)."""

    reason: str = Field(min_length=1)
    field: Ident | None = None

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        # `annual_income: "Your income is low"` is shorthand for {reason: ...}.
        return {"reason": value} if isinstance(value, str) else value


class DecisionReview(_Strict):
    """Which automated decisions a person reviews, and by when."""

    refusals: bool = True  # every refusal
    near_threshold: float = Field(default=0.0, ge=0.0, le=1.0)  # |score - threshold| <= this
    due: str = "5 days"

    @field_validator("due")
    @classmethod
    def _duration(cls, value: str) -> str:
        check_duration(value, "review.due")
        return value

    @property
    def due_period(self) -> Duration:
        return Duration.parse(self.due, what="review.due")


class AutomatedDecisions(_Strict):
    decision: str = Field(min_length=1)
    legal_effect: bool = True  # legal or similarly significant effect (Art. 22(1))
    basis: DecisionBasis | None = None  # Art. 22(2)(a) contract, (b) law, (c) explicit consent
    law: str | None = None  # the Union or Member State law, with basis: law
    safeguards: list[DecisionSafeguard] = []
    overseers: list[str] = []  # AI Act Art. 14: names or roles
    features: dict[Ident, DecisionFeature] = {}
    review: DecisionReview = DecisionReview()
    contest_due: str = "1 month"
    protected_attributes: list[Ident] = []  # for bias monitoring only (AI Act Art. 10(2)(f))
    log_retention: str = "6 months"  # AI Act Art. 26(6): at least six months

    @field_validator("contest_due", "log_retention")
    @classmethod
    def _duration(cls, value: str, info: Any) -> str:
        check_duration(value, info.field_name)
        return value

    @model_validator(mode="after")
    def _law_named(self) -> AutomatedDecisions:
        if self.basis == "law" and not (self.law or "").strip():
            raise ValueError("basis: law needs 'law': the Union or Member State law that "
                             "authorises the decision (Art. 22(2)(b))")
        if self.basis != "law" and self.law:
            raise ValueError("'law' is only used with basis: law")
        return self

    def feature_field(self, name: str) -> str:
        """The purpose field a feature comes from."""
        return self.features[name].field or name

    @property
    def contest_period(self) -> Duration:
        return Duration.parse(self.contest_due, what="contest_due")

    @property
    def log_period(self) -> Duration:
        return Duration.parse(self.log_retention, what="log_retention")
