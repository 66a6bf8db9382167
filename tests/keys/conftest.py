"""Fixtures for the key store tests: a workspace (SQLite and PostgreSQL) with a KEK."""

from __future__ import annotations

import os
from typing import Any

import pytest

from veil.kek.providers import StaticKEK
from veil.keys.manager import KeyManager

#: Cheapest Argon2id the key file accepts (the OWASP floor), to keep tests fast.
FAST_KDF = {"iterations": 2, "lanes": 1, "memory_cost_kib": 19 * 1024}


@pytest.fixture
def kek() -> StaticKEK:
    return StaticKEK(os.urandom(32))


@pytest.fixture
def km(workspace: Any, kek: StaticKEK) -> KeyManager:
    return KeyManager(workspace, kek=kek, actor="tester")


@pytest.fixture(scope="session")
def tink() -> Any:
    tink = pytest.importorskip("tink", reason="tink-py (test extra) is needed for interop tests")
    from tink import aead, streaming_aead

    aead.register()
    streaming_aead.register()
    return tink


@pytest.fixture(scope="session")
def token(tink: Any) -> Any:
    from tink import secret_key_access

    return secret_key_access.TOKEN
