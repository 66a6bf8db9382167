"""Key material: random per (use, domain), never derived; the store-backed provider persists."""

from __future__ import annotations

import os
from typing import Any

import pytest

from veil.crypto.aead import InMemoryKeyProvider
from veil.crypto.errors import KeyMissingError, KeysetError
from veil.crypto.keyset import Keyset
from veil.kek.providers import StaticKEK
from veil.keys.manager import KeyManager
from veil.transforms.keys import (
    InMemoryTransformKeys,
    KeysetTransformKeys,
    TransformKeys,
    key_id,
    workspace_keys,
)


def test_in_memory_keys_are_random_per_use_and_domain() -> None:
    k = InMemoryTransformKeys()
    assert isinstance(k, TransformKeys)
    assert len(k.hmac_key("a")) == 32
    assert k.hmac_key("a") == k.hmac_key("a")
    assert k.hmac_key("a") != k.hmac_key("b")
    assert k.hmac_key("a") != k.fpe_key("a")
    assert k.token_cipher("a") is k.token_cipher("a")
    # two providers never agree: nothing is derived from a name
    assert InMemoryTransformKeys().hmac_key("a") != k.hmac_key("a")
    with pytest.raises(ValueError, match="domain"):
        k.hmac_key("no spaces allowed")


def test_key_ids_name_keys_without_revealing_them() -> None:
    k = InMemoryTransformKeys()
    kid = key_id(k, "hmac", "scoring")
    assert kid.startswith("hmac:scoring:") and len(kid.split(":")[-1]) == 16
    assert k.hmac_key("scoring").hex()[:16] not in kid
    assert key_id(k, "token", "scoring") == \
        f"token:scoring:{k.token_cipher('scoring').keyset.primary_key_id}"


class EnsuringProvider(InMemoryKeyProvider):
    """A KeyProvider that creates keysets on demand, like the workspace's KeyManager."""

    def __init__(self) -> None:
        super().__init__()
        self.created: list[tuple[str, str]] = []

    def ensure(self, name: str, kind: str = "streaming", purpose: str = "") -> Keyset:
        try:
            return self.keyset(name)
        except KeyMissingError:
            self.created.append((name, kind))
            return self.create(name, kind)  # type: ignore[arg-type]


def test_keyset_keys_over_any_provider() -> None:
    prov = EnsuringProvider()
    a = KeysetTransformKeys(prov)
    h = a.hmac_key("scoring")
    tok = a.token_cipher("scoring").tokenize("C1", "scoring")
    assert sorted(prov.created) == [("transforms.hmac.scoring", "aead"),
                                    ("transforms.token.scoring", "daead")]
    b = KeysetTransformKeys(prov, create=False)  # another process on the same store
    assert b.hmac_key("scoring") == h and len(h) == 32
    assert b.token_cipher("scoring").detokenize(tok, "scoring") == b"C1"
    with pytest.raises(KeyMissingError):
        b.fpe_key("scoring")  # never created, and create=False
    assert a.fpe_key("scoring") not in (h,)
    # a plain provider without ensure(): keys must exist
    plain = InMemoryKeyProvider()
    with pytest.raises(KeyMissingError):
        KeysetTransformKeys(plain).hmac_key("x")
    plain.create("transforms.hmac.x", "daead")
    with pytest.raises(KeysetError, match="expected aead"):
        KeysetTransformKeys(plain).hmac_key("x")


def _key_manager_ready() -> bool:
    try:
        from veil.store.schema import key_events, keysets  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(not _key_manager_ready(),
                    reason="the store-backed KeyManager's tables are not in veil.store yet")
def test_store_backed_keys_persist_and_are_wrapped(workspace: Any) -> None:
    kek = StaticKEK(os.urandom(32))
    a = KeysetTransformKeys(KeyManager(workspace, kek=kek, actor="t"))
    h = a.hmac_key("scoring")
    tok = a.token_cipher("scoring").tokenize("C1", "scoring")
    b = workspace_keys(workspace, kek=kek, actor="t")  # a new process, say
    assert b.hmac_key("scoring") == h
    assert b.token_cipher("scoring").detokenize(tok, "scoring") == b"C1"
    assert b.fpe_key("scoring") != h
    names = {i.name for i in KeyManager(workspace, kek=kek).list()}
    assert {"transforms.hmac.scoring", "transforms.token.scoring",
            "transforms.fpe.scoring"} <= names
    # without create, a missing key is an error, not a new key
    c = workspace_keys(workspace, create=False, kek=kek)
    with pytest.raises(KeyMissingError):
        c.hmac_key("other")


def test_workspace_keys_open_nothing_until_a_key_is_asked_for() -> None:
    made: list[int] = []

    def factory() -> EnsuringProvider:
        made.append(1)
        return EnsuringProvider()

    k = KeysetTransformKeys(factory)
    assert made == []  # a run without keyed transforms never touches the key store
    k.hmac_key("a")
    k.fpe_key("a")
    assert made == [1]
