"""Fixtures of the ledger tests: the sample policy (its credit_scoring purpose declares
automated_decisions) and a model row in the registry's table, read back by the real
`ModelRegistry.get` (registering through the training-data gate needs a pipeline run; the
registry's own tests do that)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

FEATURES = ["annual_income", "account_balance"]
MODEL = "credit-pd"


def add_model(ws: Any, name: str = MODEL, *, version: int = 1, threshold: float = 0.5,
              purpose: str = "credit_scoring", features: list[str] | None = None) -> None:
    from veil.store.schema import decision_models

    with ws.engine.begin() as conn:
        conn.execute(decision_models.insert().values(
            name=name, version=version, purpose=purpose, features=features or FEATURES,
            threshold=threshold, kind="external", artifact=None, artifact_sha256=None,
            trained_on=[], registered_at=datetime.now(UTC), registered_by="tests", gate={},
            card={}))


@pytest.fixture
def policy() -> Any:
    from veil.policy import load_policy

    return load_policy("sample")


@pytest.fixture
def ledger(workspace: Any, policy: Any) -> Any:
    from veil.decisions import DecisionLedger

    add_model(workspace)
    return DecisionLedger(workspace, policy)
