"""The consent ledger: explicit, granular, withdrawable, provable consent, enforced in the run.

::

    from veil.consent import Ledger
    ledger = Ledger(workspace, policy)
    ledger.grant("C-1", "personalised_offers", channel="web_form",
                 action="clicked 'I agree'", collector="web")
    ledger.check("C-1", "personalised_offers").valid           # True
    ledger.check_many(batch.column("customer_id"), "personalised_offers").mask

See ``docs/consent.md``.
"""

from veil.consent.bulk import BulkCheck, ConsentSnapshot
from veil.consent.interchange import export_ledger, import_csv, read_csv, subject_record
from veil.consent.ledger import Ledger, consent_min_age
from veil.consent.models import (
    CHANNELS,
    KINDS,
    REASONS,
    ConsentEvent,
    ConsentStatus,
    Event,
    Notice,
    State,
)
from veil.consent.sample import sample_consents

__all__ = [
    "CHANNELS",
    "KINDS",
    "REASONS",
    "BulkCheck",
    "ConsentEvent",
    "ConsentSnapshot",
    "ConsentStatus",
    "Event",
    "Ledger",
    "Notice",
    "State",
    "consent_min_age",
    "export_ledger",
    "import_csv",
    "read_csv",
    "sample_consents",
    "subject_record",
]
