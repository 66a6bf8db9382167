"""Moving a workspace between KEKs is all or nothing: keysets, subject keys and sealed secrets
move together with veil.toml, and a failure anywhere before the commit leaves the old KEK with
everything readable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.kek.conftest import (
    keyset_keks,
    one_line_error,
    run_output,
    snapshot,
    sqlite_only,
    veil,
)
from veil.errors import CryptoError
from veil.kek.config import KeysConfig
from veil.kek.providers import EnvKEK, StaticKEK
from veil.keys import kek_rotation
from veil.keys.kek_rotation import ProviderOptions, provider_config, rotate_kek
from veil.keys.manager import KeyManager


class FlakyKEK(StaticKEK):
    """A new KEK that fails on its n-th wrap (a KMS or HSM going away midway)."""

    def __init__(self, fail_at: int) -> None:
        super().__init__(b"\x07" * 32)
        self.fail_at, self.wraps = fail_at, 0

    def wrap(self, plaintext: bytes, aad: bytes) -> bytes:
        self.wraps += 1
        if self.wraps == self.fail_at:
            raise CryptoError("the KMS went away", where=self.kek_id)
        return super().wrap(plaintext, aad)


SUBJECTS = ["p-1", "p-2", "p-3"]


def _subject_records(workspace: Any) -> list[bytes]:
    """Records encrypted under three subjects' keys (wrapped under the KEK, or under a key
    epoch sealed under the KEK)."""
    sk = KeyManager(workspace).subject_keys(sync_interval=None)
    return list(sk.encrypt_many(SUBJECTS, [b"a", b"b", b"c"], b"accounts"))


def _read_subject_records(workspace: Any, records: list[bytes]) -> list[bytes]:
    from veil.kek.config import clear_kek_cache

    clear_kek_cache()
    sk = KeyManager(workspace).subject_keys(sync_interval=None)
    return list(sk.decrypt_many(SUBJECTS, records, b"accounts"))


def _sealed(root: Path) -> dict[str, str]:
    return {p.name: json.loads(p.read_text())["kek_id"] for p in (root / "keys").rglob("*.sealed")}


@pytest.mark.parametrize(("database_url", "fail_at"), [
    ("sqlite", 1), ("sqlite", 3), ("sqlite", 6), ("sqlite", 100),
    pytest.param("postgresql", 6, marks=pytest.mark.postgres),
], indirect=["database_url"])
def test_a_failure_before_the_commit_leaves_the_old_kek(keyed: Any, fail_at: int,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """fail_at 1: the probe; 3: a sealed secret; 6: a keyset in the store; 100: the switch of
    the files (the wraps succeed, writing veil.toml fails)."""
    table = run_output("out.parquet")
    records = _subject_records(keyed)
    before, keks = snapshot(Path(".")), keyset_keks(keyed)
    flaky = FlakyKEK(fail_at)
    monkeypatch.setenv("VEIL_KEK_FLAKY", EnvKEK.new_secret())
    monkeypatch.setattr(kek_rotation, "create_kek", lambda cfg, pw=None: flaky)
    if fail_at == 100:
        def broken(*a: Any) -> None:
            raise OSError("disk full")
        monkeypatch.setattr(kek_rotation, "write_keys_config", broken)
    with pytest.raises((CryptoError, OSError)):
        rotate_kek(KeyManager(keyed), KeysConfig("env", variable="VEIL_KEK_FLAKY"))
    assert snapshot(Path(".")) == before  # veil.toml and every sealed secret as they were
    assert keyset_keks(keyed) == keks
    import veil as veil_lib

    assert veil_lib.read("out.parquet").equals(table)
    assert _read_subject_records(keyed, records) == [b"a", b"b", b"c"]
    assert veil("audit", "verify") == 0


@sqlite_only
def test_every_sealed_secret_and_subject_key_moves(keyed: Any,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    run_output("out.parquet")
    records = _subject_records(keyed)
    old = _sealed(Path("."))
    assert old and len(set(old.values())) == 1
    monkeypatch.setenv("VEIL_KEK_NEXT", EnvKEK.new_secret())
    done = rotate_kek(KeyManager(keyed), "env", variable="VEIL_KEK_NEXT")
    assert done.sealed_secrets == len(old)
    assert _read_subject_records(keyed, records) == [b"a", b"b", b"c"]
    assert set(_sealed(Path(".")).values()) == {done.new_kek_id}
    assert all((p.stat().st_mode & 0o777) == 0o600 for p in Path("keys").rglob("*.sealed"))
    assert set(keyset_keks(keyed).values()) == {done.new_kek_id}
    assert done.old_key_file and done.old_key_file.endswith("keys/kek.json")
    assert veil("decrypt", "out.parquet", "plain.parquet") == 0
    assert veil("audit", "verify") == 0


@sqlite_only
def test_options_that_do_not_fit_the_provider_are_refused(keyed: Any, capsys: Any) -> None:
    before = snapshot(Path("."))
    for args, message in (
        (["--to", "env", "--module", "/x.so"], "--module do(es) not apply to a env KEK"),
        (["--to", "pkcs11", "--token", "t", "--key", "k"], "needs module"),
        (["--to", "aws-kms", "--key", "alias/k"], "needs region"),
        (["--to", "vault"], "unknown KEK provider 'vault'"),
    ):
        capsys.readouterr()
        assert veil("keys", "rewrap", *args) == 7, args
        assert message in one_line_error(capsys)
    assert snapshot(Path(".")) == before


def test_provider_config_builds_what_veil_toml_would_hold(tmp_path: Path) -> None:
    cfg = provider_config(tmp_path, ProviderOptions("pkcs11", module="/m.so", token="t",
                                                    key="k"), default_path="keys/kek.json")
    assert cfg.toml_table(tmp_path) == {"kek": "pkcs11", "module": "/m.so", "token": "t",
                                        "key": "k"}
    again = KeysConfig.from_table(cfg.toml_table(tmp_path), tmp_path, "x")
    assert again == cfg
    kms = provider_config(tmp_path, ProviderOptions("aws-kms", key="alias/k", region="r"),
                          default_path="keys/kek.json")
    assert kms.toml_table(tmp_path) == {"kek": "aws-kms", "key_id": "alias/k", "region": "r"}
    file = provider_config(tmp_path, ProviderOptions("passphrase-file"),
                           default_path="keys/kek-1.json")
    assert file.path == tmp_path / "keys/kek-1.json"
