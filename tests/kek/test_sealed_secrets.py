"""The subjects' pseudonym key and the API-key pepper are sealed under the KEK.

With a copy of the workspace (its database included) and the customer list but without the KEK,
a subject's pseudonym cannot be computed; with the KEK it is the ledger's. A workspace an older
version left with plaintext key files keeps its pseudonyms and API keys after sealing.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import json
import os
import re
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest

from tests.kek.conftest import PASS, one_line_error, veil
from tests.kek.test_no_secret_in_clear import encodings
from veil.crypto.errors import KeyMissingError, WrongKeyError
from veil.kek.config import clear_kek_cache, workspace_kek
from veil.kek.providers import EnvKEK
from veil.kek.sealed import open_sealed, sealed_path

NO_KEK = "this workspace has no key-encryption key: run `veil keys init` (or set VEIL_KEK)"
POLICY = """\
version: 1
controller: {name: Example Bank SE, contact: privacy@example-bank.eu}
datasets:
  customers:
    subject_id: customer_id
    fields: {customer_id: direct_identifier, email: contact}
purposes:
  offers:
    description: Offers tailored to the customer's transactions
    legal_basis: consent
    retention: 2 years
    datasets: {customers: {fields: {customer_id: keep}}}
"""


def ledger_for(ws: Any) -> Any:
    from veil.consent import Ledger
    from veil.policy.loader import parse_policy

    ledger = Ledger(ws, parse_policy(POLICY))
    ledger.add_notice("offers", "1", "Offers from your transactions.", created_by="dpo",
                      effective="2024-01-01T00:00:00Z")
    return ledger


def grant(ledger: Any, subject: str) -> None:
    ledger.grant(subject, "offers", channel="app", action="tapped 'yes'", collector="app",
                 time="2025-03-01T09:30:00Z")


def audited_pseudonyms(ws: Any) -> set[str]:
    """The subject pseudonyms the consent ledger's audit trail holds."""
    from veil.audit.log import AuditLog

    return {s.removeprefix("consent:") for e in AuditLog(ws).events(action="consent.*")
            for s in e.event.subjects}


def old_token(key: bytes, subject: str) -> str:
    """The pseudonym as versions with a plaintext ``keys/consent_ref.key`` computed it."""
    if len(key) < 16:
        key = hashlib.sha256(b"veil.consent.ref\0" + key).digest()
    return hmac.new(key, subject.encode(), hashlib.sha256).hexdigest()


def fresh_process_view() -> None:
    """Forget the KEKs this process opened (what a new process, e.g. an attacker's, has)."""
    clear_kek_cache()


# -- re-identification ---------------------------------------------------------------------------

def test_pseudonyms_cannot_be_recomputed_without_the_kek(keyed: Any, tmp_path: Path,
                                                         monkeypatch: Any, capsys: Any) -> None:
    from veil.consent.models import SubjectRef

    assert veil("sample", "--rows", "400", "--seed", "4", "-o", "customers.csv",
                "--consents", "consents.csv") == 0
    Path("notice.txt").write_text("We use your card spending to suggest offers.\n")
    assert veil("consent", "notice", "add", "personalised_offers", "--version", "1",
                "--text-file", "notice.txt", "-p", "sample", "--effective",
                "2024-01-01T00:00:00Z") == 0
    assert veil("consent", "import", "consents.csv", "-p", "sample") == 0
    capsys.readouterr()
    with open("customers.csv", newline="") as f:
        customers = sorted({r["customer_id"] for r in csv.DictReader(f)})  # the customer list
    with open("consents.csv", newline="") as f:
        consenting = {r["subject"] for r in csv.DictReader(f)}
    logged = audited_pseudonyms(keyed)
    assert len(logged) == len(consenting) >= 10

    keyed.close()
    copy = tmp_path / "stolen"
    shutil.copytree(keyed.root, copy)  # veil.db (PostgreSQL: the attacker reads the same store)
    names = sorted(p.name for p in (copy / "keys").iterdir())
    assert "subject_ref.sealed" in names and "consent_ref.key" not in names, names

    # the key is nowhere in the copy's key files or config: every 32-byte window of them (and of
    # their base64 fields, decoded) tried as the HMAC key re-identifies no customer
    blobs = [p.read_bytes() for p in (copy / "keys").iterdir()] + [
        (copy / "veil.toml").read_bytes()]
    blobs += [base64.b64decode(v) for b in blobs[:-1]
              for v in json.loads(b).values() if isinstance(v, str) and len(v) > 40]
    targets = {t[:16] for t in logged}
    sample = customers[:5]
    for blob in blobs:
        for i in range(max(1, len(blob) - 31)):
            window = blob[i:i + 32]
            assert not {old_token(window, c)[:16] for c in sample} & targets

    # without the passphrase, or with a wrong one: no pseudonym
    monkeypatch.delenv("VEIL_KEK_PASSPHRASE")
    fresh_process_view()
    with pytest.raises(KeyMissingError, match="needs its passphrase"):
        SubjectRef(copy).token(customers[0])
    monkeypatch.setenv("VEIL_KEK_PASSPHRASE", "not the passphrase")
    with pytest.raises(WrongKeyError):
        SubjectRef(copy).token(customers[0])
    # a KEK of the attacker's own instead of the workspace's: the sealed key does not open
    (copy / "veil.toml").write_text("[workspace]\ndatabase_url = \"sqlite:///veil.db\"\n")
    (copy / "keys" / "kek.json").unlink()
    monkeypatch.setenv("VEIL_KEK", EnvKEK.new_secret())
    with pytest.raises(WrongKeyError):
        SubjectRef(copy).token(customers[0])
    assert sorted(p.name for p in (copy / "keys").iterdir()) == [  # nothing new was made
        n for n in names if n != "kek.json"]
    monkeypatch.delenv("VEIL_KEK")
    with pytest.raises(KeyMissingError, match=re.escape(NO_KEK)):
        SubjectRef(copy).token(customers[0])

    # with the workspace's KEK, the same copy computes exactly the ledger's pseudonyms
    shutil.copy2(keyed.root / "veil.toml", copy / "veil.toml")
    shutil.copy2(keyed.root / "keys" / "kek.json", copy / "keys" / "kek.json")
    monkeypatch.setenv("VEIL_KEK_PASSPHRASE", PASS)
    fresh_process_view()
    ref = SubjectRef(copy)
    assert {ref.token(c) for c in consenting} == logged
    assert {ref.token(c) for c in customers} >= logged


def test_without_a_kek_the_ledger_gives_one_clear_error_and_stores_nothing(
        no_kek: Any, capsys: Any) -> None:
    from veil.audit.log import AuditLog

    ledger = ledger_for(no_kek)
    with pytest.raises(KeyMissingError) as info:
        grant(ledger, "CUST-0000001")
    assert NO_KEK in str(info.value)
    assert ledger.count() == 0
    assert not list(AuditLog(no_kek).events(action="consent.*"))
    assert not sealed_path(no_kek.root, "subject_ref").exists()
    assert not (no_kek.root / "keys" / "consent_ref.key").exists()
    Path("policy.yaml").write_text(POLICY)
    code = veil("consent", "grant", "CUST-0000001", "--purpose", "offers", "-p", "policy.yaml",
                "--channel", "app", "--action", "tapped yes", "--notice", "1")
    assert code == KeyMissingError.exit_code
    assert NO_KEK in one_line_error(capsys)
    assert ledger.count() == 0


# -- the upgrade from plaintext key files -------------------------------------------------------

@pytest.mark.parametrize("size", [32, 8], ids=["32-byte key", "short key"])
def test_a_legacy_plaintext_reference_key_is_sealed_and_pseudonyms_stay(
        keyed: Any, size: int) -> None:
    from veil.consent.models import SubjectRef

    root = keyed.root
    assert not sealed_path(root, "subject_ref").exists()
    legacy = root / "keys" / "consent_ref.key"
    old_key = os.urandom(size)
    legacy.write_bytes(old_key)
    os.chmod(legacy, 0o600)
    expected = {s: old_token(old_key, s) for s in ("CUST-0000001", "CUST-0000002")}

    ledger = ledger_for(keyed)
    for subject in expected:
        grant(ledger, subject)
    assert audited_pseudonyms(keyed) == set(expected.values())  # the pseudonyms of before
    assert not legacy.exists()
    sealed = sealed_path(root, "subject_ref")
    assert stat.S_IMODE(sealed.stat().st_mode) == 0o600
    data = sealed.read_bytes()
    assert not [f for f, pattern in encodings(old_key).items() if pattern in data]
    fresh_process_view()
    assert open_sealed(sealed, "subject_ref", workspace_kek(root)) == old_key
    assert {s: SubjectRef(root).token(s) for s in expected} == expected


def test_a_legacy_plaintext_pepper_is_sealed_and_api_keys_keep_working(
        keyed: Any, monkeypatch: Any) -> None:
    from veil.service.apikeys import ApiKeyStore, load_pepper

    root = keyed.root
    old_pepper = os.urandom(32)
    monkeypatch.setenv("VEIL_SERVICE_PEPPER", old_pepper.hex())  # the override is honoured ...
    _, secret = ApiKeyStore(keyed).create("service", "web-app", created_by="tests")
    assert load_pepper(root) == old_pepper
    assert not sealed_path(root, "service_pepper").exists()  # ... and seals nothing

    monkeypatch.delenv("VEIL_SERVICE_PEPPER")
    legacy = root / "keys" / "service_pepper.key"  # what older versions kept in clear
    legacy.write_bytes(old_pepper)
    assert ApiKeyStore(keyed).authenticate(secret).role == "service"
    assert not legacy.exists()
    sealed = sealed_path(root, "service_pepper")
    assert stat.S_IMODE(sealed.stat().st_mode) == 0o600
    assert not [f for f, p in encodings(old_pepper).items() if p in sealed.read_bytes()]
    fresh_process_view()
    assert open_sealed(sealed, "service_pepper", workspace_kek(root)) == old_pepper

    monkeypatch.delenv("VEIL_KEK_PASSPHRASE")  # the pepper needs the KEK: no guessing without it
    fresh_process_view()
    with pytest.raises(KeyMissingError):
        ApiKeyStore(keyed)
