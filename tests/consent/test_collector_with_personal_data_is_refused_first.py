"""A collector (the audit actor of consent events) holding personal data is refused before the
consent is stored: the ledger and its audit trail never disagree."""

from __future__ import annotations

import pytest

from veil.consent.ledger import Ledger
from veil.errors import AuditError, ConsentError


def test_an_email_as_collector_is_refused_and_nothing_is_stored(ledger: Ledger) -> None:
    with pytest.raises(AuditError, match="'actor' holds personal data \\(email\\)"):
        ledger.grant("C-1", "offers", channel="web_form", action="ticked the box",
                     collector="maria.schneider@example.com", notice_version="v1")
    with pytest.raises(ConsentError, match="unknown subject"):
        ledger.history("C-1")  # nothing was stored
    ledger.grant("C-1", "offers", channel="web_form", action="ticked the box",
                 collector="web", notice_version="v1")
    assert len(ledger.history("C-1")) == 1
