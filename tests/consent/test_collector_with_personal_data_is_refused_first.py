"""A collector (the audit actor of consent events) holding personal data is refused before the
consent is stored: the ledger and its audit trail never disagree."""

from __future__ import annotations

import pytest

from veil.consent.ledger import Ledger
from veil.errors import AuditError, ConsentError


def test_an_email_as_collector_is_refused_and_nothing_is_stored(workspace) -> None:
    ledger = Ledger(workspace)
    with pytest.raises(AuditError, match="'actor' holds personal data \\(email\\)"):
        ledger.grant("C-1", "marketing", channel="web_form", action="ticked the box",
                     collector="maria.schneider@example.com")
    with pytest.raises(ConsentError, match="unknown subject"):
        ledger.history("C-1")  # nothing was stored
    ledger.grant("C-1", "marketing", channel="web_form", action="ticked the box",
                 collector="web")
    assert len(ledger.history("C-1")) == 1
