"""Fixtures shared by the decision tests (defined in ledger_fixtures and registry_fixtures)."""

from tests.decisions.ledger_fixtures import ledger, policy  # noqa: F401
from tests.decisions.registry_fixtures import trained  # noqa: F401
