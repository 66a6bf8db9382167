"""The policy's word on a purpose, as the consent ledger needs it.

A ledger without a policy accepts any well-formed purpose id; with one, a purpose must be
declared, must rely on consent to be granted, and may set a minimum age (GDPR Art. 8).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from veil.consent.models import check_purpose_id
from veil.errors import ConsentError, UnknownPurposeError

if TYPE_CHECKING:
    from veil.policy.model import Policy, Purpose

__all__ = ["consent_min_age", "policy_purpose"]


def consent_min_age(purpose: Purpose | None) -> int | None:
    """The policy's minimum age for consent to a purpose (Art. 8), if the policy sets one."""
    value = getattr(purpose, "consent_min_age", None) if purpose is not None else None
    return int(value) if value is not None else None


def policy_purpose(policy: Policy | None, purpose: str, *, granting: bool = False,
                   quote: bool = True) -> Purpose | None:
    """Check a purpose id (and, with a policy, that it is declared; ``granting``: that it
    relies on consent, so recorded consent cannot mislead); returns its definition.
    ``quote=False`` for a file's cell, which may hold anything (a subject id in the wrong
    column): an unknown id is then refused without repeating it."""
    check_purpose_id(purpose)
    if policy is None:
        return None
    if not quote and purpose not in policy.purposes:  # exit 3 as below, without the value
        known = ", ".join(sorted(policy.purposes)) or "none"
        raise UnknownPurposeError(f"unknown purpose (known: {known})", where=policy.source)
    p = policy.purpose(purpose)  # an unknown purpose: UnknownPurposeError (exit 3)
    if granting and not p.needs_consent:
        raise ConsentError(f"purpose '{purpose}' does not rely on consent (legal basis: "
                           f"{p.legal_basis_text}); consent recorded for it would mislead",
                           where=policy.locate("purposes", purpose, "legal_basis"))
    return p
