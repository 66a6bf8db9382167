"""Helpers for the store-backed audit log tests: events and a log in the `workspace` fixture."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from veil.audit.event import AuditEvent

T0 = datetime(2024, 5, 1, tzinfo=UTC)
ACTIONS = ("run.start", "run.stage", "run.end", "consent.grant", "dsr.access")
PURPOSES = ("credit_scoring", "fraud_detection", "marketing")


def make_event(i: int, **changes: object) -> AuditEvent:
    """A realistic event, different for each ``i`` (pseudonymous subjects only)."""
    fields: dict[str, object] = {
        "time": T0 + timedelta(seconds=i),
        "actor": "svc:pipeline" if i % 3 else "user:dpo-7",
        "action": ACTIONS[i % len(ACTIONS)],
        "purpose": PURPOSES[i % len(PURPOSES)],
        "legal_basis": "art6_1_b_contract",
        "outcome": "success" if i % 4 else "refused",
        "data_categories": ["financial", "contact"][: 1 + i % 2],
        "counts": {"rows_in": 1000 + i, "rows_out": 990 + i},
        "subjects": [f"cust:{i:064x}"],
        "digests": {"output": "sha256:" + f"{i:064x}"},
        "details": {"run": f"r{i}", "note": 'Zürich "branch" ]'},
    }
    fields.update(changes)
    return AuditEvent(**fields)  # type: ignore[arg-type]


@pytest.fixture
def audit_log(workspace) -> Iterator:  # type: ignore[no-untyped-def]
    """An empty AuditLog in the test workspace (SQLite, and PostgreSQL when reachable)."""
    from veil.audit.log import AuditLog

    yield AuditLog(workspace, sinks=[])


@pytest.fixture(name="make_event")
def _make_event_fixture():  # type: ignore[no-untyped-def]
    """The :func:`make_event` factory, as a fixture (test modules do not import conftest)."""
    return make_event
