"""An actor name holding personal data is refused before any breach row is stored: the breach
register and its audit trail never disagree (the audit screen refuses such an actor)."""

from __future__ import annotations

import pytest

from veil.errors import AuditError
from veil.incidents.register import Breaches


def test_an_email_as_actor_is_refused_before_the_breach_is_stored(bank) -> None:
    ws, pol, export, _ = bank
    with pytest.raises(AuditError, match="'actor' holds personal data \\(email\\)"):
        Breaches(ws, policy=pol, actor="maria.schneider@example.com")
    assert Breaches(ws, policy=pol, actor="dpo").list() == []
