"""Key-encryption-key providers: passphrase key files and environment secrets."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from veil.crypto.errors import CryptoError, KeyMissingError, WrongKeyError
from veil.crypto.keyset import Keyset, decrypt_keyset, encrypt_keyset
from veil.kek.providers import KEK, EnvKEK, PassphraseFileKEK, StaticKEK, rewrap

# The floors the module enforces (OWASP minimums) keep these tests fast.
FAST_ARGON2 = {"iterations": 2, "lanes": 1, "memory_cost_kib": 19 * 1024}
FAST_SCRYPT = {"n": 2**15, "r": 8, "p": 1}


@pytest.mark.parametrize(("kdf", "params"), [("argon2id", FAST_ARGON2), ("scrypt", FAST_SCRYPT)])
def test_passphrase_file_round_trip(tmp_path: Path, kdf: str, params: dict[str, int]) -> None:
    path = tmp_path / "kek.json"
    kek = PassphraseFileKEK.create(path, "correct horse battery staple", kdf=kdf, kdf_params=params)
    assert isinstance(kek, KEK)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    doc = json.loads(path.read_text())
    assert doc["kdf"]["name"] == kdf and doc["kek_id"] == kek.kek_id
    for k, v in params.items():
        assert doc["kdf"][k] == v  # parameters are stored in the file
    blob = kek.wrap(b"data key", b"keyset:fields")
    again = PassphraseFileKEK.open(path, "correct horse battery staple")
    assert again.kek_id == kek.kek_id
    assert again.unwrap(blob, b"keyset:fields") == b"data key"
    with pytest.raises(WrongKeyError):
        again.unwrap(blob, b"keyset:tokens")  # bound to what it wraps


def test_wrong_passphrase_is_a_clean_crypto_error(tmp_path: Path) -> None:
    path = tmp_path / "kek.json"
    PassphraseFileKEK.create(path, "right", kdf_params=FAST_ARGON2)
    with pytest.raises(CryptoError) as info:
        PassphraseFileKEK.open(path, "wrong")
    assert isinstance(info.value, WrongKeyError)
    assert "wrong passphrase" in str(info.value)
    assert info.value.exit_code == 7
    assert info.value.__cause__ is None  # no chained InvalidTag traceback
    assert info.value.__suppress_context__


def test_tampered_or_bogus_key_files(tmp_path: Path) -> None:
    path = tmp_path / "kek.json"
    PassphraseFileKEK.create(path, "pw", kdf_params=FAST_ARGON2)
    doc = json.loads(path.read_text())
    # Downgrading the stored KDF parameters breaks the binding: refused, not silently weaker.
    weaker = dict(doc, kdf=dict(doc["kdf"], iterations=1))
    path.write_text(json.dumps(weaker))
    with pytest.raises(WrongKeyError):
        PassphraseFileKEK.open(path, "pw")
    # A crafted file asking for absurd memory is refused before any work.
    huge = dict(doc, kdf=dict(doc["kdf"], memory_cost_kib=2**40))
    path.write_text(json.dumps(huge))
    with pytest.raises(CryptoError, match="memory_cost_kib"):
        PassphraseFileKEK.open(path, "pw")
    for bogus in (
        "not json",
        json.dumps({"format": "other"}),
        json.dumps(dict(doc, kdf=dict(doc["kdf"], name="md5"))),
    ):
        path.write_text(bogus)
        with pytest.raises(CryptoError):
            PassphraseFileKEK.open(path, "pw")
    with pytest.raises(KeyMissingError):
        PassphraseFileKEK.open(tmp_path / "missing.json", "pw")


def test_create_refuses_overwrite_weak_params_and_empty_passphrase(tmp_path: Path) -> None:
    path = tmp_path / "kek.json"
    PassphraseFileKEK.create(path, "pw", kdf_params=FAST_ARGON2)
    with pytest.raises(CryptoError, match="exists"):
        PassphraseFileKEK.create(path, "pw", kdf_params=FAST_ARGON2)
    with pytest.raises(CryptoError):
        PassphraseFileKEK.create(
            tmp_path / "b.json",
            "pw",
            kdf_params={"iterations": 1, "lanes": 1, "memory_cost_kib": 64},
        )
    with pytest.raises(CryptoError):
        PassphraseFileKEK.create(
            tmp_path / "c.json", "pw", kdf="scrypt", kdf_params={"n": 1024, "r": 8, "p": 1}
        )
    with pytest.raises(CryptoError):
        PassphraseFileKEK.create(tmp_path / "d.json", "", kdf_params=FAST_ARGON2)


def test_change_passphrase_keeps_wrapped_data_valid(tmp_path: Path) -> None:
    path = tmp_path / "kek.json"
    kek = PassphraseFileKEK.create(path, "old", kdf_params=FAST_ARGON2)
    blob = kek.wrap(b"k", b"ad")
    PassphraseFileKEK.change_passphrase(path, "old", "new", kdf="scrypt", kdf_params=FAST_SCRYPT)
    with pytest.raises(WrongKeyError, match="wrong passphrase"):
        PassphraseFileKEK.open(path, "old")
    assert PassphraseFileKEK.open(path, "new").unwrap(blob, b"ad") == b"k"


def test_env_kek() -> None:
    secret = EnvKEK.new_secret()
    kek = EnvKEK(environ={"VEIL_KEK": secret})
    assert kek.kek_id.startswith("env:VEIL_KEK:") and secret not in kek.kek_id
    assert secret not in repr(kek)
    blob = kek.wrap(b"x", b"ad")
    assert EnvKEK("OTHER", environ={"OTHER": secret}).unwrap(blob, b"ad") == b"x"
    with pytest.raises(WrongKeyError):
        EnvKEK(environ={"VEIL_KEK": EnvKEK.new_secret()}).unwrap(blob, b"ad")
    with pytest.raises(KeyMissingError):
        EnvKEK(environ={})
    with pytest.raises(CryptoError):
        EnvKEK(environ={"VEIL_KEK": "c2hvcnQ="})  # 5 bytes
    with pytest.raises(CryptoError):
        EnvKEK(environ={"VEIL_KEK": "***"})
    os.environ["VEIL_TEST_KEK_ENV"] = secret
    try:
        assert EnvKEK("VEIL_TEST_KEK_ENV").unwrap(blob, b"ad") == b"x"
    finally:
        del os.environ["VEIL_TEST_KEK_ENV"]


def test_kek_rotation_rewraps_keysets() -> None:
    old, new = StaticKEK(os.urandom(32)), StaticKEK(os.urandom(32))
    ks = Keyset.generate("aead")
    blob = encrypt_keyset(ks, old, b"keyset:fields")
    # An EncryptedKeyset re-wrapped: decrypt under old, encrypt under new.
    moved = encrypt_keyset(decrypt_keyset(blob, old, b"keyset:fields"), new, b"keyset:fields")
    assert decrypt_keyset(moved, new, b"keyset:fields") == ks
    with pytest.raises(WrongKeyError):
        decrypt_keyset(moved, old, b"keyset:fields")
    raw = old.wrap(b"subject key", b"s1")
    assert new.unwrap(rewrap(raw, b"s1", old, new), b"s1") == b"subject key"
    for bad in (b"", b"short", raw[:-1], raw + b"x"):
        with pytest.raises(WrongKeyError):
            old.unwrap(bad, b"s1")
