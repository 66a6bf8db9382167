"""Fixtures for the KEK provider tests: a SoftHSM2 token of this test session's own, a local KMS
(moto's server on 127.0.0.1), and a workspace with a passphrase-file KEK, driven through the
CLI's entry point."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from veil.cli.keys import register
from veil.cli.main import app, main
from veil.kek.config import clear_kek_cache

register(app)  # what the main app does (idempotent)

SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
TOKEN = "veil-test"
PIN = "1234"
SO_PIN = "5678"
#: The command docs/crypto.md shows to make a test token (the fixture runs the same).
INIT_TOKEN = ["softhsm2-util", "--init-token", "--free", "--label", TOKEN, "--pin", PIN,
              "--so-pin", SO_PIN]
PASS = "correct horse battery staple"
FAST_KDF = {"iterations": 2, "lanes": 1, "memory_cost_kib": 19 * 1024}


def veil(*args: str) -> int:
    return main(list(args))


def one_line_error(capsys: Any) -> str:
    err = capsys.readouterr().err.strip()
    assert err and err.count("\n") == 0, err
    assert "Traceback" not in err
    return err


@pytest.fixture(autouse=True)
def _fresh_keks() -> Iterator[None]:
    """Every test opens its KEKs itself (and logs in to the token itself)."""
    clear_kek_cache()
    yield
    clear_kek_cache()


# -- SoftHSM2 ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SoftHsm:
    module: str
    token: str
    pin: str

    def args(self, key: str) -> list[str]:
        return ["--module", self.module, "--token", self.token, "--key", key]


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftHsm]:
    """A SoftHSM2 token (label veil-test, PIN 1234) in a token directory of this session's
    own; skipped when SoftHSM2 is not installed (CI installs it)."""
    if shutil.which("softhsm2-util") is None or not Path(SOFTHSM_MODULE).is_file():
        pytest.skip("SoftHSM2 is not installed (apt-get install softhsm2)")
    pytest.importorskip("pkcs11", reason="python-pkcs11 is needed for the HSM tests")
    base = tmp_path_factory.mktemp("softhsm")
    (base / "tokens").mkdir()
    conf = base / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {base / 'tokens'}\nobjectstore.backend = file\n"
                    "log.level = ERROR\nslots.removable = false\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOFTHSM2_CONF", str(conf))
        subprocess.run(INIT_TOKEN, check=True, capture_output=True)
        yield SoftHsm(SOFTHSM_MODULE, TOKEN, PIN)


@pytest.fixture
def hsm(softhsm: SoftHsm, monkeypatch: pytest.MonkeyPatch) -> SoftHsm:
    monkeypatch.setenv("VEIL_HSM_PIN", softhsm.pin)
    return softhsm


def new_label() -> str:
    return f"kek-{uuid.uuid4().hex[:10]}"


# -- a local KMS ---------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def kms_endpoint() -> Iterator[str]:
    """moto's KMS on 127.0.0.1 (a subprocess of this test session); never a real AWS endpoint."""
    pytest.importorskip("moto.server", reason="moto[server] is needed for the KMS tests")
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p",
                             str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # readiness: wait until it accepts connections, however long a loaded machine takes
        # to import it (a count of tries ran out under load and went on with no server); the
        # 10 minutes only stop a hang
        hang = time.monotonic() + 600
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail("moto.server exited at start")
                if time.monotonic() > hang:
                    pytest.fail("moto.server did not accept connections in 10 minutes")
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@dataclass(frozen=True)
class LocalKms:
    endpoint: str
    region: str
    client: Any

    def new_key(self) -> str:
        """A new symmetric key behind a new alias; returns the alias."""
        kid = self.client.create_key()["KeyMetadata"]["KeyId"]
        alias = f"alias/veil-{uuid.uuid4().hex[:8]}"
        self.client.create_alias(AliasName=alias, TargetKeyId=kid)
        return alias

    def args(self, key: str) -> list[str]:
        return ["--key", key, "--region", self.region, "--endpoint-url", self.endpoint]


@pytest.fixture
def kms(kms_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> LocalKms:
    for var, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_SESSION_TOKEN": "testing", "AWS_EC2_METADATA_DISABLED": "true",
                       "AWS_CONFIG_FILE": os.devnull,
                       "AWS_SHARED_CREDENTIALS_FILE": os.devnull}.items():
        monkeypatch.setenv(var, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    import boto3

    client = boto3.client("kms", region_name="eu-central-1", endpoint_url=kms_endpoint)
    return LocalKms(kms_endpoint, "eu-central-1", client)


# -- workspaces ----------------------------------------------------------------------------------

@pytest.fixture
def keyed(workspace: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> Any:
    """A workspace after `veil keys init` with a passphrase-file KEK."""
    monkeypatch.setenv("VEIL_KEK_PASSPHRASE", PASS)
    monkeypatch.setenv("VEIL_KEK_NEW_PASSPHRASE", PASS + " 2")
    monkeypatch.delenv("VEIL_KEK", raising=False)
    monkeypatch.setattr("veil.kek.config.ARGON2ID_DEFAULT", FAST_KDF)
    assert veil("keys", "init") == 0
    capsys.readouterr()
    return workspace


@pytest.fixture
def no_kek(workspace: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A workspace without any KEK yet."""
    monkeypatch.delenv("VEIL_KEK", raising=False)
    return workspace


def run_output(name: str, rows: int = 120) -> Any:
    """A real `veil run` into ``name`` (encrypted at rest); returns what `veil.read` gives."""
    import veil as veil_lib

    if not Path("tx.csv").exists():
        assert veil("sample", "--rows", str(rows), "--seed", "5", "-o", "tx.csv") == 0
    assert veil("run", "--policy", "sample", "--purpose", "credit_scoring", "tx.csv",
                "-o", name) == 0
    return veil_lib.read(name)


def snapshot(root: Path) -> dict[str, bytes]:
    """veil.toml and every file under keys/ (what a failed KEK move must leave as it was)."""
    files = [root / "veil.toml", *sorted((root / "keys").rglob("*"))]
    return {str(p.relative_to(root)): p.read_bytes() for p in files if p.is_file()}


def keyset_keks(workspace: Any) -> dict[str, str]:
    from veil.keys.manager import KeyManager

    return {i.name: i.kek_id for i in KeyManager(workspace).list()}


#: Only on SQLite (the end-to-end tests run on PostgreSQL too).
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
