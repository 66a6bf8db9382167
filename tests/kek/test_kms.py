"""The AWS KMS KEK against a local KMS (moto's server on 127.0.0.1, never AWS): init, a real run,
moving to KMS and back, the encryption context, large secrets, and bad input."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.kek.conftest import (
    PASS,
    LocalKms,
    keyset_keks,
    one_line_error,
    run_output,
    snapshot,
    sqlite_only,
    veil,
)
from veil.crypto.errors import KeyMissingError, WrongKeyError
from veil.errors import CryptoError
from veil.kek.kms import MAGIC, KmsSettings, open_kms_kek


def _keys_table() -> dict[str, Any]:
    return tomllib.loads(Path("veil.toml").read_text())["keys"]


def test_run_and_move_to_kms_and_back(keyed: Any, kms: LocalKms, capsys: Any,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import veil as veil_lib

    first = run_output("one.parquet")
    alias = kms.new_key()
    assert veil("keys", "rewrap", "--to", "aws-kms", *kms.args(alias)) == 0
    assert "the old key file" in capsys.readouterr().out
    assert _keys_table() == {"kek": "aws-kms", "key_id": alias, "region": kms.region,
                             "endpoint_url": kms.endpoint}
    arn = kms.client.describe_key(KeyId=alias)["KeyMetadata"]["Arn"]
    assert set(keyset_keks(keyed).values()) == {f"aws-kms:{arn}"}
    second = run_output("two.parquet")
    assert veil_lib.read("one.parquet").equals(first)
    assert veil("keys", "rewrap", "--to", "passphrase-file") == 0
    assert "the old KMS key" in capsys.readouterr().out
    monkeypatch.setenv("VEIL_KEK_PASSPHRASE", PASS + " 2")
    assert veil_lib.read("one.parquet").equals(first)
    assert veil_lib.read("two.parquet").equals(second)
    assert all(k.startswith("file:") for k in keyset_keks(keyed).values())
    assert veil("audit", "verify") == 0


@sqlite_only
def test_init_with_a_kms_key(no_kek: Any, kms: LocalKms, capsys: Any) -> None:
    alias = kms.new_key()
    assert veil("keys", "init", "--kek", "aws-kms", *kms.args(alias)) == 0
    assert "Created KEK aws-kms:arn:aws:kms:eu-central-1:" in capsys.readouterr().out
    assert _keys_table()["key_id"] == alias
    assert "testing" not in Path("veil.toml").read_text()  # no credential in the config
    assert run_output("out.parquet").num_rows == 120


def test_wrapping_binds_the_associated_data_and_handles_large_secrets(kms: LocalKms) -> None:
    kek = open_kms_kek(KmsSettings(kms.new_key(), kms.region, kms.endpoint))
    blob = kek.wrap(b"s" * 32, b"veil:sealed:audit_signing")
    assert blob[:5] == MAGIC + b"\x01"
    assert kek.unwrap(blob, b"veil:sealed:audit_signing") == b"s" * 32
    with pytest.raises(WrongKeyError):
        kek.unwrap(blob, b"veil:sealed:subject_ref")  # KMS checks the encryption context
    big = os.urandom(10_000)  # over KMS's 4096-byte limit: a data key, AES-GCM locally
    env = kek.wrap(big, b"veil:keyset:output")
    assert env[:5] == MAGIC + b"\x02" and kek.unwrap(env, b"veil:keyset:output") == big
    for bad_aad, bad in ((b"veil:keyset:other", env),
                         (b"veil:keyset:output", env[:-1] + bytes([env[-1] ^ 1])),
                         (b"veil:keyset:output", env[:60]),
                         (b"veil:keyset:output", b"VP11\x01" + blob[5:])):
        with pytest.raises(WrongKeyError):
            kek.unwrap(bad, bad_aad)
    other = open_kms_kek(KmsSettings(kms.new_key(), kms.region, kms.endpoint))
    with pytest.raises(CryptoError):  # AWS says IncorrectKeyException, moto AccessDenied
        other.unwrap(blob, b"veil:sealed:audit_signing")


@pytest.mark.parametrize(("settings", "env", "error", "message"), [
    ({"key_id": "alias/no-such-key"}, {}, KeyMissingError,
     "KMS key alias/no-such-key not found in eu-central-1 (fix [keys] key_id or region)"),
    ({"endpoint_url": "http://127.0.0.1:9"}, {}, CryptoError,
     "cannot reach http://127.0.0.1:9 (check [keys] endpoint_url / region"),
    ({}, {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None, "AWS_SESSION_TOKEN": None},
     KeyMissingError, "no AWS credentials for KMS"),
])
def test_kms_errors_are_one_clear_line(kms: LocalKms, monkeypatch: pytest.MonkeyPatch,
                                       settings: dict[str, str], env: dict[str, str | None],
                                       error: type[Exception], message: str) -> None:
    for k, v in env.items():
        if v is None:
            monkeypatch.delenv(k, raising=False)
    full = {"key_id": kms.new_key(), "region": kms.region, "endpoint_url": kms.endpoint,
            **settings}
    with pytest.raises(error) as info:
        open_kms_kek(KmsSettings(**full), where="veil.toml [keys]")
    assert message in str(info.value) and "\n" not in str(info.value)


@sqlite_only
def test_an_unknown_kms_key_changes_nothing(keyed: Any, kms: LocalKms, capsys: Any) -> None:
    run_output("out.parquet")
    before, keks = snapshot(Path(".")), keyset_keks(keyed)
    capsys.readouterr()
    assert veil("keys", "rewrap", "--to", "aws-kms", *kms.args("alias/missing")) == 7
    assert "KMS key alias/missing not found in eu-central-1" in one_line_error(capsys)
    assert snapshot(Path(".")) == before and keyset_keks(keyed) == keks
    assert veil("decrypt", "out.parquet", "plain.parquet") == 0


def test_kms_settings_are_checked(tmp_path: Path) -> None:
    from veil.kek.config import KeysConfig

    ok = KeysConfig.from_table({"kek": "aws-kms", "key_id": "alias/k", "region": "eu-west-1"},
                               tmp_path, "x")
    assert ok.kms == KmsSettings("alias/k", "eu-west-1") and ok.describe() == \
        "aws-kms alias/k (eu-west-1)"
    for table, message in (
        ({"kek": "aws-kms", "key_id": "alias/k"}, "needs region"),
        ({"kek": "aws-kms", "key_id": "alias/k", "region": "r", "endpoint_url": "ftp://x"},
         "endpoint_url must be an http"),
        ({"kek": "aws-kms", "key_id": "k", "region": "r", "aws_secret_access_key": "s"},
         "aws_secret_access_key must not be in veil.toml"),
        ({"kek": "aws-kms", "key_id": "k", "region": "r", "token": "t"},
         "unknown setting(s) token for kek = 'aws-kms'"),
        ({"kek": "gcp-kms"}, "kek = 'gcp-kms': use one of passphrase-file, env, pkcs11, aws-kms"),
    ):
        with pytest.raises(CryptoError) as info:
            KeysConfig.from_table(table, tmp_path, "veil.toml [keys]")
        assert message in str(info.value) and "veil.toml [keys]" in str(info.value)
