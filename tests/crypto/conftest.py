"""Fixtures for the crypto tests: tink-py, registered once (it is in the `test` extra)."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(scope="session")
def tink() -> Any:
    tink = pytest.importorskip("tink", reason="tink-py (test extra) is needed for interop tests")
    from tink import aead, daead, streaming_aead

    aead.register()
    daead.register()
    streaming_aead.register()
    return tink


@pytest.fixture(scope="session")
def token(tink: Any) -> Any:
    from tink import secret_key_access

    return secret_key_access.TOKEN
