"""Who receives a purpose's data: the register of recipients and processors (Art. 19, 28,
30(1)(d)) and the transfers to third countries (Art. 44-49), as the policy declares them.

The shape is checked here (a processor names its Art. 28(3) contract, a transfer other than
under an adequacy decision names its instrument); whether a transfer is lawful is a legal rule
(veil.policy.legal), checked when the policy loads.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from veil.policy.base import Contact, Country, Ident, _Strict, check_duration, duration
from veil.policy.duration import Duration

RecipientRole = Literal["internal", "processor", "recipient", "joint_controller", "third_party"]
Safeguard = Literal["adequacy", "sccs", "bcrs", "code_of_conduct", "certification",
                    "ad_hoc_clauses", "derogation"]
#: Art. 49(1) first subparagraph, points (a) to (g).
Derogation = Literal["a", "b", "c", "d", "e", "f", "g"]

_URL = re.compile(r"^https?://[^\s/?#]+[^\s]*$", re.IGNORECASE)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Notify(_Strict):
    """How Art. 19 notices reach a recipient: a webhook (http or https URL, optionally signed
    with an HMAC secret read from the environment variable ``secret_env``) or an email address
    (SMTP settings come from the workspace configuration)."""

    webhook: str | None = None
    email: str | None = None
    secret_env: str | None = None

    @field_validator("webhook")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not _URL.match(value):
            raise ValueError(f"webhook '{value[:80]}' is not an http(s) URL")
        return value

    @field_validator("email")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL.match(value):
            raise ValueError(f"email '{value[:80]}' is not an address like name@example.eu")
        return value

    @field_validator("secret_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not _ENV.match(value):
            raise ValueError(f"secret_env '{value[:80]}' is not an environment variable name")
        return value

    @model_validator(mode="after")
    def _channel(self) -> Notify:
        if not self.webhook and not self.email:
            raise ValueError("notify needs a 'webhook' or an 'email' (leave notify out to "
                             "track notices by hand)")
        if self.secret_env and not self.webhook:
            raise ValueError("secret_env signs webhook notices: it needs a 'webhook'")
        return self


class Recipient(_Strict):
    """One entry of the register: a recipient or processor the purposes refer to by id."""

    name: str = Field(min_length=1)
    role: RecipientRole
    contract: str | None = None  # the Art. 28(3) contract reference (required for a processor)
    contact: Contact | None = None
    country: Country | None = None  # where the recipient receives the data
    notify: Notify | None = None

    @field_validator("country", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _processor_contract(self) -> Recipient:
        if self.role == "processor" and not (self.contract or "").strip():
            raise ValueError("a processor needs 'contract': the reference of its Art. 28(3) "
                             "contract with the controller")
        return self


class Transfer(_Strict):
    """A transfer of the purpose's data to a third country (Chapter V GDPR)."""

    country: Country
    recipient: Ident  # an id from the policy's `recipients:` register
    safeguard: Safeguard
    reference: str | None = None  # the instrument (decision, SCC module, BCR approval, ...)
    derogation: Derogation | None = None  # Art. 49(1) letter, with safeguard: derogation

    @field_validator("country", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("derogation", mode="before")
    @classmethod
    def _letter(cls, value: object) -> object:
        if isinstance(value, str):
            return value.strip().lower().removeprefix("art. 49(1)").strip("() ")
        return value

    @model_validator(mode="after")
    def _instrument(self) -> Transfer:
        if self.safeguard != "adequacy" and not (self.reference or "").strip():
            raise ValueError(f"a transfer under '{self.safeguard}' needs 'reference': the "
                             "instrument (e.g. the SCC module and date, the BCR approval)")
        if self.safeguard == "derogation" and self.derogation is None:
            raise ValueError("a transfer under a derogation needs 'derogation': the Art. 49(1) "
                             "letter a..g it relies on")
        if self.safeguard != "derogation" and self.derogation is not None:
            raise ValueError("'derogation' is only used with safeguard: derogation")
        return self


class RecordRetention(_Strict):
    """How long the store keeps its own personal records; unset means kept until deleted."""

    requests: str | None = None  # closed data-subject requests, from their closing
    consent_evidence: str | None = None  # ended consents' evidence, from the end of consent
    decisions: str | None = None  # decision-log default when a purpose sets none

    @field_validator("requests", "consent_evidence", "decisions")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        return check_duration(value, "retention")

    def period(self, record: Literal["requests", "consent_evidence", "decisions"]
               ) -> Duration | None:
        """The calendar period of one kind of record, or None when the policy sets none."""
        return duration(getattr(self, record), record)
