"""Shared fixtures: where the conformance data lives, and the databases to test on."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFORMANCE = ROOT.parent / "shared" / "conformance"


@pytest.fixture(scope="session")
def conformance_dir() -> Path:
    """`../shared/conformance` beside the project root (as CI lays it out)."""
    if not CONFORMANCE.is_dir():
        pytest.skip(f"conformance data not found at {CONFORMANCE}")
    return CONFORMANCE


def postgres_url() -> str | None:
    """The PostgreSQL URL for tests, or None when it is not set or not reachable."""
    url = os.environ.get("VEIL_TEST_DATABASE_URL")
    if not url:
        return None
    try:
        import sqlalchemy as sa

        engine = sa.create_engine(url)
        with engine.connect():
            pass
        engine.dispose()
    except Exception:  # unreachable server: skip with a reason instead of failing
        return None
    return url
