"""The PKCS#11 KEK against SoftHSM2: init, a real run, rotation, moving to the HSM and back, the
key never leaving the token, a bounded number of HSM unwraps, and bad input."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.kek.conftest import (
    PASS,
    SoftHsm,
    keyset_keks,
    new_label,
    one_line_error,
    run_output,
    snapshot,
    sqlite_only,
    veil,
)
from veil.crypto.errors import WrongKeyError
from veil.kek.config import KeysConfig, load_kek
from veil.kek.pkcs11 import MAGIC, Pkcs11KEK, Pkcs11Settings, open_pkcs11_kek


def _keys_table() -> dict[str, Any]:
    return tomllib.loads(Path("veil.toml").read_text())["keys"]


def _sealed_keks() -> set[str]:
    import json

    return {json.loads(p.read_text())["kek_id"] for p in Path("keys").rglob("*.sealed")}


def test_run_rotate_and_move_to_the_hsm_and_back(keyed: Any, hsm: SoftHsm, capsys: Any,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    first = run_output("one.parquet")
    label = new_label()
    assert veil("keys", "rewrap", "--to", "pkcs11", *hsm.args(label)) == 0
    out = capsys.readouterr().out
    assert "sealed secret(s)" in out and "the old key file" in out
    assert _keys_table() == {"kek": "pkcs11", "module": hsm.module, "token": hsm.token,
                             "key": label}
    kek_ids = set(keyset_keks(keyed).values())
    assert len(kek_ids) == 1 and kek_ids.pop().startswith(f"pkcs11:{hsm.token}/{label}:")
    assert _sealed_keks() == set(keyset_keks(keyed).values())
    # Under the HSM: outputs written before decrypt, a new run and a rotation work.
    assert veil("decrypt", "one.parquet", "one.plain.parquet") == 0
    second = run_output("two.parquet")
    assert veil("keys", "rotate", "output") == 0
    third = run_output("three.parquet")
    assert second.num_rows == third.num_rows == first.num_rows
    # ... and back to a passphrase-protected key file.
    assert veil("keys", "rewrap", "--to", "passphrase-file", "--path", "keys/back.json") == 0
    assert "the old HSM key" in capsys.readouterr().out
    monkeypatch.setenv("VEIL_KEK_PASSPHRASE", PASS + " 2")  # the new key file's passphrase
    assert _keys_table() == {"kek": "passphrase-file", "path": "keys/back.json"}
    import veil as veil_lib

    for name, table in (("one.parquet", first), ("two.parquet", second),
                        ("three.parquet", third)):
        assert veil_lib.read(name).equals(table)
    assert all(k.startswith("file:") for k in keyset_keks(keyed).values())
    assert veil("audit", "verify") == 0  # every key event of the moves is in the signed log


@sqlite_only
def test_init_makes_a_non_extractable_key_in_the_token(no_kek: Any, hsm: SoftHsm,
                                                       capsys: Any) -> None:
    label = new_label()
    assert veil("keys", "init", "--kek", "pkcs11", *hsm.args(label)) == 0
    out = capsys.readouterr().out
    assert f"Created KEK pkcs11:{hsm.token}/{label}:" in out and "streaming keyset output" in out
    text = Path("veil.toml").read_text()
    assert hsm.pin not in text and "pin" not in _keys_table()
    run_output("out.parquet")
    # The key is in the token, sensitive and never extractable: its value cannot be read.
    import pkcs11
    from pkcs11 import Attribute, ObjectClass

    kek = load_kek(KeysConfig.from_workspace(Path(".")))  # type: ignore[arg-type]
    assert isinstance(kek, Pkcs11KEK)
    key = kek._ts.session.get_key(object_class=ObjectClass.SECRET_KEY, label=label)
    assert key[Attribute.SENSITIVE] and not key[Attribute.EXTRACTABLE]
    with pytest.raises(pkcs11.AttributeSensitive):
        key[Attribute.VALUE]
    # A second workspace naming the same key uses it (same KEK id), it does not make another.
    again = open_pkcs11_kek(Pkcs11Settings(hsm.module, hsm.token, label), hsm.pin, create=True)
    assert again.kek_id == kek.kek_id


def test_wrapping_is_self_describing_and_bound_to_its_associated_data(hsm: SoftHsm) -> None:
    kek = open_pkcs11_kek(Pkcs11Settings(hsm.module, hsm.token, new_label()), hsm.pin,
                          create=True)
    blob = kek.wrap(b"k" * 32, b"veil:keyset:output")
    assert blob[:5] == MAGIC + b"\x01" and len(blob) == 5 + 12 + 32 + 16
    assert kek.unwrap(blob, b"veil:keyset:output") == b"k" * 32
    assert kek.wrap(b"k" * 32, b"veil:keyset:output") != blob  # a fresh IV each time
    for bad_aad, bad_blob in ((b"veil:keyset:other", blob),
                              (b"veil:keyset:output", blob[:-1] + bytes([blob[-1] ^ 1])),
                              (b"veil:keyset:output", b"VP11\x02" + blob[5:]),
                              (b"veil:keyset:output", b"\x00" * 40)):
        with pytest.raises(WrongKeyError):
            kek.unwrap(bad_blob, bad_aad)
    other = open_pkcs11_kek(Pkcs11Settings(hsm.module, hsm.token, new_label()), hsm.pin,
                            create=True)
    with pytest.raises(WrongKeyError):
        other.unwrap(blob, b"veil:keyset:output")
    from veil.crypto.errors import KeyMissingError

    with pytest.raises(KeyMissingError, match="no AES key labelled 'absent' in token "
                                              "'veil-test' .fix .keys. key"):
        open_pkcs11_kek(Pkcs11Settings(hsm.module, hsm.token, "absent"), hsm.pin)


class CountingKEK:
    """A KEK that counts its unwraps (each one a round trip to the HSM)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.unwraps = inner, 0
        self.kek_id = inner.kek_id

    def wrap(self, plaintext: bytes, aad: bytes) -> bytes:
        return bytes(self.inner.wrap(plaintext, aad))

    def unwrap(self, ciphertext: bytes, aad: bytes) -> bytes:
        self.unwraps += 1
        return bytes(self.inner.unwrap(ciphertext, aad))


@sqlite_only
def test_many_keysets_make_a_bounded_number_of_hsm_unwraps(no_kek: Any, hsm: SoftHsm,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    import veil.kek.pkcs11 as p11
    from veil.keys.manager import KeyManager

    logins = []
    real_login = p11._login
    monkeypatch.setattr(p11, "_login", lambda *a: logins.append(1) or real_login(*a))
    label = new_label()
    assert veil("keys", "init", "--kek", "pkcs11", *hsm.args(label)) == 0
    cfg = KeysConfig.from_workspace(Path("."))
    assert cfg is not None
    counting = CountingKEK(load_kek(cfg))
    names = [f"fields-{i}" for i in range(12)]
    for n in names:
        KeyManager(no_kek, kek=counting).init(n, "aead")  # type: ignore[arg-type]
    for n in names:  # the creator keeps what it made: no unwrap at all
        KeyManager(no_kek, kek=counting).keyset(n)  # type: ignore[arg-type]
    assert counting.unwraps == 0
    from veil.keys.manager import _cache_drop

    _cache_drop(no_kek.database_url)  # as another process would start
    # Every stage of a run makes its own KeyManager and asks for keysets again and again.
    for _ in range(5):
        for n in names:
            KeyManager(no_kek, kek=counting).keyset(n)  # type: ignore[arg-type]
    assert counting.unwraps == len(names)  # one HSM unwrap per keyset, not per use
    for _ in range(20):
        assert load_kek(cfg).kek_id == counting.kek_id
    assert len(logins) == 1  # the token session is opened (and logged in) once per process


@sqlite_only
def test_a_second_run_in_the_process_pays_no_hsm_unwrap(no_kek: Any, hsm: SoftHsm,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = Pkcs11KEK.unwrap
    monkeypatch.setattr(Pkcs11KEK, "unwrap",
                        lambda self, c, a: calls.append(a) or real(self, c, a))
    assert veil("keys", "init", "--kek", "pkcs11", *hsm.args(new_label())) == 0
    run_output("a.parquet")
    run_output("b.parquet")
    wrapped = len(keyset_keks(no_kek)) + len(list(Path("keys").rglob("*.sealed")))
    assert len(set(calls)) == len(calls) <= wrapped  # each keyset and secret at most once
    before = len(calls)
    run_output("c.parquet")
    assert len(calls) == before  # everything cached: a further run asks the HSM nothing


@sqlite_only
@pytest.mark.parametrize(("change", "message"), [
    ({"VEIL_HSM_PIN": "0000"}, "wrong PIN for token 'veil-test' (VEIL_HSM_PIN)"),
    ({"VEIL_HSM_PIN": None}, "the HSM needs its user PIN: set VEIL_HSM_PIN"),
    ({"--token": "no-such-token"}, "no token labelled 'no-such-token'"),
    ({"--module": "/nonexistent/libpkcs11.so"}, "PKCS#11 module /nonexistent/libpkcs11.so not "
                                                "found"),
])
def test_bad_hsm_settings_give_one_line_and_change_nothing(
        keyed: Any, hsm: SoftHsm, monkeypatch: pytest.MonkeyPatch, capsys: Any,
        change: dict[str, str | None], message: str) -> None:
    run_output("out.parquet")
    args = dict(zip(hsm.args(new_label())[::2], hsm.args(new_label())[1::2], strict=True))
    for k, v in change.items():
        if k.startswith("--"):
            args[k] = str(v)
        elif v is None:
            monkeypatch.delenv(k)
        else:
            monkeypatch.setenv(k, v)
    before, keks = snapshot(Path(".")), keyset_keks(keyed)
    capsys.readouterr()
    flat = [x for kv in args.items() for x in kv]
    assert veil("keys", "rewrap", "--to", "pkcs11", *flat) == 7
    assert message in one_line_error(capsys)
    assert snapshot(Path(".")) == before and keyset_keks(keyed) == keks
    assert veil("decrypt", "out.parquet", "plain.parquet") == 0


@sqlite_only
def test_wrong_pin_on_an_hsm_workspace(no_kek: Any, hsm: SoftHsm, monkeypatch: pytest.MonkeyPatch,
                                       capsys: Any) -> None:
    from veil.kek.config import clear_kek_cache

    assert veil("keys", "init", "--kek", "pkcs11", *hsm.args(new_label())) == 0
    run_output("out.parquet")
    clear_kek_cache()  # a new process: nothing opened or unwrapped yet
    from veil.keys import manager

    monkeypatch.setattr(manager, "_KEYSET_CACHE", type(manager._KEYSET_CACHE)())
    monkeypatch.setenv("VEIL_HSM_PIN", "4321")
    capsys.readouterr()
    assert veil("keys", "rotate", "output") == 7
    err = one_line_error(capsys)
    assert "wrong key" in err and "wrong PIN for token 'veil-test'" in err
    monkeypatch.setenv("VEIL_HSM_PIN", hsm.pin)
    assert veil("decrypt", "out.parquet", "plain.parquet") == 0


def test_pin_is_never_read_from_veil_toml(tmp_path: Path) -> None:
    from veil.errors import CryptoError

    with pytest.raises(CryptoError, match="pin must not be in veil.toml: it comes from "
                                          "VEIL_HSM_PIN"):
        KeysConfig.from_table({"kek": "pkcs11", "module": "m.so", "token": "t", "key": "k",
                               "pin": "1234"}, tmp_path, "veil.toml [keys]")
    with pytest.raises(CryptoError, match="needs token"):
        KeysConfig.from_table({"kek": "pkcs11", "module": "m.so", "key": "k"}, tmp_path, "x")
    with pytest.raises(CryptoError, match="unknown setting.s. path for kek = 'pkcs11'"):
        KeysConfig.from_table({"kek": "pkcs11", "module": "m.so", "token": "t", "key": "k",
                               "path": "x"}, tmp_path, "x")
