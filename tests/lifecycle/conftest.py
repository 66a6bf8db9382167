"""Fixtures for retention: small published runs of the sample policy's fraud_detection purpose
(legal obligation, kept 2 years), each encrypted under its own keyset."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import veil
from veil.sample import SAMPLE_POLICY, write_sample


@pytest.fixture
def publish(workspace) -> Callable[[str], Any]:
    """``publish(name)`` runs fraud_detection over 40 sample rows into ``name`` and returns
    the run's result."""
    csv = Path("tx.csv")
    write_sample(csv, 40, seed=7)
    policy = veil.load_policy(SAMPLE_POLICY)

    def run(name: str) -> Any:
        return veil.run(policy, "fraud_detection", str(csv), name, workspace=workspace)

    return run


@pytest.fixture
def clock_at(monkeypatch) -> Callable[[str], None]:
    """Move the sweep's idea of this machine's time (it refuses to dispose as of a later one)."""
    from veil.lifecycle import retention_sweep
    from veil.lifecycle.retention_records import parse_now

    def move(when: str) -> None:
        monkeypatch.setattr(retention_sweep, "clock", lambda: parse_now(when))

    return move
