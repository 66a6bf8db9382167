"""Tokens: exact round trip, wrong key or domain fails loudly, re-identification recorded."""

from __future__ import annotations

import base64
import json
import os
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.transforms.conftest import Ctx
from tests.transforms.test_keys import EnsuringProvider, _key_manager_ready
from veil.crypto.errors import CryptoError, KeyMissingError
from veil.errors import InputError
from veil.transforms import REGISTRY, InMemoryTransformKeys, KeysetTransformKeys
from veil.transforms.tokenize import detokenize, reidentify

T = REGISTRY["tokenize"]
KEYS = InMemoryTransformKeys()


@settings(max_examples=80, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=60)), min_size=1, max_size=30))
def test_round_trip_exact(values: list[str | None]) -> None:
    toks = T.apply(pa.array(values, type=pa.string()), {}, Ctx(KEYS))
    assert toks.type == pa.string()
    assert detokenize(toks, KEYS, "scoring") == values
    for v, t in zip(values, toks.to_pylist(), strict=True):
        assert (t is None) == (v is None)
        if v is not None and len(v) >= 8:
            assert v not in t  # no input leaks into the token


def test_deterministic_per_domain_for_joins() -> None:
    a = T.apply(pa.array(["C1", "C2", "C1"]), {}, Ctx(KEYS)).to_pylist()
    assert a[0] == a[2] != a[1]
    assert T.apply(pa.array(["C1"]), {}, Ctx(KEYS)).to_pylist()[0] == a[0]
    other = T.apply(pa.array(["C1"]), {}, Ctx(KEYS, purpose="fraud")).to_pylist()[0]
    assert other != a[0]
    ints = T.apply(pa.array([7]), {}, Ctx(KEYS)).to_pylist()
    assert detokenize(ints, KEYS, "scoring") == ["7"]


def test_wrong_key_or_domain_never_silently_works() -> None:
    toks = T.apply(pa.array(["C1", "C2"]), {}, Ctx(KEYS)).to_pylist()
    with pytest.raises(CryptoError):
        detokenize(toks, InMemoryTransformKeys(), "scoring")  # another key
    with pytest.raises(CryptoError):
        detokenize(toks, KEYS, "fraud")  # the right key family, another domain
    with pytest.raises(CryptoError):
        detokenize([_flip(toks[0])], KEYS, "scoring")


def _flip(token: str, at: int = 8) -> str:
    """The token with one base64url character changed (in the middle: all 6 bits count)."""
    return token[:at] + ("A" if token[at] != "A" else "B") + token[at + 1:]


@pytest.fixture
def store_keys(workspace: Any) -> KeysetTransformKeys:
    return KeysetTransformKeys(EnsuringProvider())


def _events(workspace: Any) -> list[dict]:
    from veil.audit.log import AuditLog

    return [e.event.to_json_obj() for e in AuditLog(workspace).events()
            if e.event.action == "reidentify"]


def test_reidentify_records_in_the_audit_log(workspace: Any,
                                             store_keys: KeysetTransformKeys) -> None:
    toks = T.apply(pa.array(["C1", "C2", "C1"]), {}, Ctx(store_keys)).to_pylist()
    out = reidentify(workspace, toks, domain="scoring", actor="alice", reason="case 2024-117",
                     keys=store_keys)
    assert out == ["C1", "C2", "C1"]
    (ev,) = _events(workspace)
    assert ev["actor"] == "alice" and ev["outcome"] == "success"
    assert ev["purpose"] == "scoring"
    assert ev["details"]["reason"] == "case 2024-117"
    assert ev["details"]["key_id"].startswith("token:scoring:")
    assert ev["counts"] == {"values": 3, "distinct": 2}
    text = json.dumps(ev)
    assert "C1" not in text and toks[0] not in text  # neither values nor tokens recorded


def test_reidentify_failure_is_recorded_and_raised(workspace: Any,
                                                   store_keys: KeysetTransformKeys) -> None:
    toks = T.apply(pa.array(["C1"]), {}, Ctx(InMemoryTransformKeys())).to_pylist()
    store_keys.token_cipher("scoring")  # the workspace has a (different) key
    with pytest.raises(CryptoError):
        reidentify(workspace, toks, domain="scoring", actor="bob", reason="case 9",
                   keys=store_keys)
    (ev,) = _events(workspace)
    assert ev["outcome"] == "failure" and ev["actor"] == "bob"


def test_reidentify_needs_actor_and_reason(workspace: Any) -> None:
    with pytest.raises(InputError, match="reason"):
        reidentify(workspace, ["x"], domain="scoring", actor="alice", reason="")
    with pytest.raises(InputError, match="actor"):
        reidentify(workspace, ["x"], domain="scoring", actor=" ", reason="case 1")
    assert _events(workspace) == []


@pytest.mark.skipif(not _key_manager_ready(),
                    reason="the store-backed KeyManager's tables are not in veil.store yet")
def test_reidentify_does_not_create_keys(workspace: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("VEIL_KEK", base64.b64encode(os.urandom(32)).decode())
    with pytest.raises(KeyMissingError):
        reidentify(workspace, ["AAAA"], domain="scoring", actor="a", reason="case 1")
    assert [e["outcome"] for e in _events(workspace)] == ["failure"]


def test_cli_reidentify(workspace: Any, monkeypatch: Any, capsys: Any) -> None:
    import typer

    import veil.transforms.tokenize as tok_mod
    from veil.cli.main import app, main
    from veil.cli.transforms import register

    keys = KeysetTransformKeys(EnsuringProvider())
    seen: list[dict] = []

    def fake_workspace_keys(ws: Any, **kw: Any) -> KeysetTransformKeys:
        seen.append(kw)
        return keys

    monkeypatch.setattr(tok_mod, "workspace_keys", fake_workspace_keys)
    toks = T.apply(pa.array(["C1", "Hans Müller"]), {}, Ctx(keys)).to_pylist()
    register(app)
    register(app)  # idempotent
    assert isinstance(app, typer.Typer)
    capsys.readouterr()
    code = main(["reidentify", "--domain", "scoring", "--actor", "alice", "--reason",
                 "case 7", *toks])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.splitlines() == [f"{toks[0]}\tC1", f"{toks[1]}\tHans Müller"]
    code = main(["reidentify", "--domain", "scoring", "--actor", "alice", "--reason",
                 "case 7", _flip(toks[0])])
    assert code == 7
    code = main(["reidentify", "--domain", "scoring", "--actor", "alice", toks[0]])
    assert code == 2  # no --reason: usage error
    assert [e["outcome"] for e in _events(workspace)] == ["success", "failure"]
    assert all(kw["create"] is False for kw in seen)  # reidentify never creates keys


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=70), max_size=40))
def test_vectorized_base64url_matches_the_token_cipher(items: list[bytes]) -> None:
    import base64

    from veil.transforms._common import b64url_strings

    want = [base64.urlsafe_b64encode(b).rstrip(b"=").decode() for b in items]
    assert b64url_strings(items).to_pylist() == want
    cipher = KEYS.token_cipher("scoring")
    vals = [b.hex() for b in items]
    assert T.apply(pa.array(vals, type=pa.string()), {}, Ctx(KEYS)).to_pylist() == \
        cipher.tokenize_many(vals, "scoring", text=True)
