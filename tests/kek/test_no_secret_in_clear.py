"""No secret Veil keeps is stored in clear, and what a workspace holds is owner-only.

After a short end-to-end sequence through the CLI (a passphrase KEK, consents, a run, an access
request, an API key, audit verification), every file of the workspace (the SQLite database, its
WAL and shared-memory files included) is searched for unwrapped key material: PEM private keys,
any file under ``keys/`` other than sealed documents and the passphrase-protected KEK file, and
the actual secret values (the subjects' pseudonym key, the API-key pepper, the audit signing key,
every keyset's keys), raw, in hex and in base64.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import io
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.kek.conftest import FAST_KDF, PASS, veil

PEM_PRIVATE = (b"-----BEGIN ", b"PRIVATE KEY-----")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def encodings(secret: bytes) -> dict[str, bytes]:
    """The forms a leaked secret would take in a file: raw, hex, and base64 (standard and
    URL-safe, at each of the three alignments inside a longer base64 text)."""
    forms = {"raw": secret, "hex": secret.hex().encode(), "HEX": secret.hex().upper().encode()}
    for shift in range(3):
        for name, enc in (("base64", base64.b64encode), ("base64url", base64.urlsafe_b64encode)):
            text = enc(bytes(shift) + secret)
            # drop the characters that mix in the neighbours' bits (and the padding)
            forms[f"{name}+{shift}"] = text[4 if shift else 0:-4]
    return forms


def workspace_files(root: Path) -> Iterator[Path]:
    for p in sorted(root.rglob("*")):
        if p.is_file():
            yield p


def cli(*args: str) -> str:
    """Run a CLI command (it must succeed); its standard output."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = veil(*args)
    assert code == 0, (args, code, err.getvalue()[-2000:])
    return out.getvalue()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A SQLite workspace after init, `keys init` (passphrase), consents, runs, an access
    request, an API key and `audit verify`, all through the CLI (once for the module)."""
    from veil.kek.config import clear_kek_cache

    base = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as mp:
        for var in ("VEIL_KEK", "VEIL_DATABASE_URL", "VEIL_WORKSPACE", "VEIL_SERVICE_PEPPER"):
            mp.delenv(var, raising=False)
        mp.setenv("VEIL_KEK_PASSPHRASE", PASS)
        mp.setattr("veil.kek.config.ARGON2ID_DEFAULT", FAST_KDF)
        clear_kek_cache()
        mp.chdir(base)
        cli("init", "ws")
        root = base / "ws"
        mp.chdir(root)
        Path("notice.txt").write_text("We use your card spending to suggest offers.\n")
        cli("keys", "init")
        cli("sample", "--rows", "200", "--seed", "3", "-o", "customers.csv",
            "--consents", "consents.csv")
        cli("consent", "notice", "add", "personalised_offers", "--version", "1", "--text-file",
            "notice.txt", "-p", "sample", "--effective", "2024-01-01T00:00:00Z")
        cli("consent", "import", "consents.csv", "-p", "sample")
        cli("run", "--policy", "sample", "--purpose", "credit_scoring", "customers.csv",
            "-o", "credit.parquet")
        cli("run", "--policy", "sample", "--purpose", "personalised_offers", "customers.csv",
            "-o", "offers.parquet")
        cli("dsr", "load-store", "transactions", "customers.csv", "-p", "sample")
        with open("customers.csv", newline="") as f:
            subject = next(csv.DictReader(f))["customer_id"]
        request = json.loads(cli("dsr", "open", "access", subject, "-p", "sample",
                                 "--verification", "online banking login", "--json"))["id"]
        cli("dsr", "run", request)
        cli("dsr", "export", request, "-o", "access-package", "--reason", "secure portal")
        cli("apikey", "create", "--role", "service", "--name", "web-app")
        cli("audit", "verify")
        yield root
        clear_kek_cache()


def kept_secrets(root: Path) -> dict[str, bytes]:
    """The secrets the workspace keeps, unsealed through the API (with the KEK)."""
    from veil.audit.identity import load_signing_key
    from veil.consent.models import SubjectRef
    from veil.keys.manager import KeyManager
    from veil.service.apikeys import load_pepper
    from veil.store.workspace import Workspace

    found = {"subject-reference key": SubjectRef(root).key(), "service pepper": load_pepper(root)}
    signing = load_signing_key(root, create=False)
    assert signing is not None, "the demo signs audit heads"
    found["audit signing key"] = signing.private_bytes_raw()
    with Workspace.open(root) as ws:
        km = KeyManager(ws)
        for info in km.list():
            for entry in km.keyset(info.name).entries:
                value = getattr(entry.material, "key_value", None)
                if value:
                    found[f"keyset {info.name} key {entry.key_id}"] = value
    assert any(k.startswith("keyset output") for k in found), found.keys()
    return found


def test_no_unwrapped_key_material_anywhere_in_the_workspace(demo: Path) -> None:
    from veil.kek.config import KeysConfig
    from veil.kek.providers import FILE_FORMAT
    from veil.kek.sealed import FORMAT

    files = list(workspace_files(demo))
    names = {p.relative_to(demo).as_posix() for p in files}
    assert "veil.db" in names and "keys/subject_ref.sealed" in names, names
    assert "keys/service_pepper.sealed" in names and "keys/audit_signing.sealed" in names
    # older versions' plaintext key files are gone
    assert not names & {"keys/consent_ref.key", "keys/service_pepper.key",
                        "keys/audit_signing.pem"}

    cfg = KeysConfig.from_workspace(demo)
    assert cfg is not None and cfg.path is not None
    kek_file = cfg.path.resolve()
    for p in (demo / "keys").rglob("*"):
        if not p.is_file():
            continue
        doc = json.loads(p.read_bytes())  # every key file is a JSON document ...
        if p.resolve() == kek_file:  # ... the passphrase-protected KEK file
            assert doc["format"] == FILE_FORMAT and set(doc) == {
                "format", "kek_id", "kdf", "wrapped_key"}, p
        else:  # ... or a secret sealed under the KEK, nothing beside it
            assert doc["format"] == FORMAT, p
            assert set(doc) == {"format", "name", "kek_id", "wrapped"}, p
            assert doc["kek_id"] == json.loads(kek_file.read_bytes())["kek_id"], p

    leaks: list[str] = []
    secrets_found = kept_secrets(demo)
    patterns = {(what, form): pattern for what, secret in secrets_found.items()
                for form, pattern in encodings(secret).items()}
    for p in files:
        data = p.read_bytes()
        rel = p.relative_to(demo).as_posix()
        if PEM_PRIVATE[0] in data and PEM_PRIVATE[1] in data:
            leaks.append(f"{rel}: a PEM private key")
        leaks += [f"{rel}: {what} ({form})" for (what, form), pattern in patterns.items()
                  if pattern in data]
    assert not leaks, leaks


def test_workspace_files_are_owner_only(demo: Path) -> None:
    assert mode(demo / "keys") == 0o700
    assert mode(demo / "veil.db") == 0o600
    for companion in ("veil.db-wal", "veil.db-shm"):
        if (demo / companion).exists():
            assert mode(demo / companion) == 0o600, companion
    sealed = sorted((demo / "keys").glob("*.sealed"))
    assert len(sealed) >= 3
    assert all(mode(p) == 0o600 for p in sealed), [(p.name, oct(mode(p))) for p in sealed]
    assert mode(demo / "keys" / "kek.json") == 0o600
    # what the runs and the request wrote: outputs, receipts, rejects, packages
    written = ["credit.parquet", "credit.parquet.receipt.json", "offers.parquet",
               "offers.parquet.receipt.json"]
    written += [p.relative_to(demo).as_posix() for p in demo.glob("*.rejects.jsonl")]
    written += [p.relative_to(demo).as_posix() for d in ("dsr", "access-package")
                for p in (demo / d).rglob("*") if p.is_file()]
    assert any(w.startswith("dsr/") for w in written) and any(
        w.startswith("access-package/") for w in written), written
    loose = {w: oct(mode(demo / w)) for w in written if mode(demo / w) != 0o600}
    assert not loose, loose


# -- the modes, unit by unit (whatever the umask) -------------------------------------------------

@pytest.fixture
def open_umask() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_a_new_sqlite_database_and_its_wal_are_created_0600(tmp_path: Path,
                                                            open_umask: None) -> None:
    import sqlalchemy as sa

    from veil.store.db import create_engine

    engine = create_engine(f"sqlite:///{tmp_path / 'new.db'}")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (x INTEGER)"))
        conn.execute(sa.text("INSERT INTO t VALUES (1)"))
        created = {p.name: mode(p) for p in tmp_path.iterdir()}
    engine.dispose()
    assert {"new.db", "new.db-wal", "new.db-shm"} <= set(created), created
    assert set(created.values()) == {0o600}, created


def test_init_makes_an_older_workspace_owner_only(tmp_path: Path, monkeypatch: Any,
                                                  open_umask: None) -> None:
    from veil.store.workspace import init_workspace

    monkeypatch.delenv("VEIL_DATABASE_URL", raising=False)
    ws, created = init_workspace(tmp_path / "ws")
    ws.close()
    assert created and mode(tmp_path / "ws" / "veil.db") == 0o600
    assert mode(tmp_path / "ws" / "keys") == 0o700
    os.chmod(tmp_path / "ws" / "veil.db", 0o644)  # as older versions left them
    os.chmod(tmp_path / "ws" / "keys", 0o755)
    ws, created = init_workspace(tmp_path / "ws")  # `veil init` upgrades a workspace
    ws.close()
    assert not created
    assert mode(tmp_path / "ws" / "veil.db") == 0o600
    assert mode(tmp_path / "ws" / "keys") == 0o700


def test_data_files_are_created_0600(tmp_path: Path, open_umask: None) -> None:
    import pyarrow as pa

    from veil.io.writers import ParquetSink, atomic_write_bytes, open_private

    atomic_write_bytes(tmp_path / "receipt.json", b"{}")
    assert mode(tmp_path / "receipt.json") == 0o600
    schema = pa.schema([("x", pa.int64())])
    sink = ParquetSink(tmp_path / "out.parquet", schema)
    assert mode(sink.tmp) == 0o600  # the temporary file too, before a byte is written
    sink.write(pa.record_batch([pa.array([1, 2])], schema=schema))
    sink.commit()
    assert mode(tmp_path / "out.parquet") == 0o600
    with open_private(tmp_path / "rejects.jsonl", "w", encoding="utf-8") as f:
        f.write("{}\n")
    assert mode(tmp_path / "rejects.jsonl") == 0o600
    with pytest.raises(FileExistsError):  # never reuses (and so never widens) a file
        open_private(tmp_path / "rejects.jsonl", "w")
