"""Decrypting a subject's data is one audit event each (SQLite and PostgreSQL): `veil dsr
export` (a package) and `veil dsr decrypt` (values of the ``encrypt`` transform) record the
actor, the request's legal basis, the key, counts and digests, with the subject only as a
keyed pseudonym and never a value (checked on the raw event bytes). A tampered package is a
failure event and nothing is written. The log still verifies afterwards."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pyarrow as pa

import veil
from veil.audit.log import AuditLog
from veil.cli.main import main
from veil.keys.manager import KeyManager
from veil.rights.records import KINDS, PACKAGE_KEYSET


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _new_events(ws: Any, before: int) -> list[tuple[dict[str, Any], str]]:
    log = AuditLog(ws)
    return [(log.get(i).event.to_json_obj(), log.get(i).event.canonical_bytes().decode())
            for i in range(before, log.head().size)]


def _ran_access_request(bank: Any, capsys: Any) -> str:
    assert main(["dsr", "open", "access", bank.subject, "-p", "sample", "--json"]) == 0
    rid: str = json.loads(capsys.readouterr().out)["id"]
    assert main(["dsr", "run", rid]) == 0
    return rid


def test_package_export_is_one_event_with_key_and_digests(bank: Any, capsys: Any) -> None:
    ws = bank.ws
    rid = _ran_access_request(bank, capsys)
    encrypted = sorted((ws.root / "dsr" / rid).glob("*.enc"))
    assert len(encrypted) == 2
    n = AuditLog(ws).head().size
    assert main(["dsr", "export", rid, "-o", "pkg", "--reason", "portal 881",
                 "--actor", "dpo-1"]) == 0
    ((ev, raw),) = _new_events(ws, n)
    assert ev["action"] == "dsr.export" and ev["outcome"] == "success"
    assert ev["actor"] == "dpo-1" and ev["legal_basis"] == KINDS["access"]
    ks = KeyManager(ws).keyset(PACKAGE_KEYSET)
    assert ev["details"]["keyset"] == PACKAGE_KEYSET
    assert ev["details"]["key_id"] == str(ks.primary_key_id)
    assert ev["details"]["kek_id"] == KeyManager(ws).kek.kek_id
    assert ev["digests"] == {
        **{f"input:{p.name[:-4]}": _sha(p.read_bytes()) for p in encrypted},
        **{f"output:{p.name}": _sha(p.read_bytes()) for p in Path("pkg").iterdir()}}
    assert ev["counts"]["files"] == 2
    assert ev["subjects"] == [f"dsr:{_token(bank)}"]
    for word in (bank.subject, bank.email, "pkg"):
        assert word not in raw
    assert main(["audit", "verify"]) == 0


def _token(bank: Any) -> str:
    from veil.consent.models import SubjectRef

    return SubjectRef(bank.ws.root).token(bank.subject)


def test_a_tampered_package_is_a_failure_event_and_writes_nothing(bank: Any,
                                                                  capsys: Any) -> None:
    ws = bank.ws
    rid = _ran_access_request(bank, capsys)
    html = ws.root / "dsr" / rid / "package.html.enc"  # the second file: the first decrypts
    ct = bytearray(html.read_bytes())
    ct[-5] ^= 1
    html.write_bytes(bytes(ct))
    n = AuditLog(ws).head().size
    assert main(["dsr", "export", rid, "-o", "pkg", "--reason", "portal 881"]) == 7
    assert not Path("pkg").exists()  # not even package.json, which did decrypt
    ((ev, raw),) = _new_events(ws, n)
    assert (ev["action"], ev["outcome"]) == ("dsr.export", "failure")
    assert ev["details"]["error"] in {"wrong key", "tampered ciphertext"}  # one segment
    assert not any(k.startswith("output:") for k in ev["digests"])
    assert bank.subject not in raw
    capsys.readouterr()
    assert main(["audit", "verify"]) == 0


def test_value_decryption_is_one_event_with_the_subject_key(bank: Any, capsys: Any) -> None:
    from veil.transforms.keys import workspace_keys
    from veil.transforms.pseudonymize import pseudonyms

    ws = bank.ws
    r = veil.run(bank.policy, "personalised_offers", str(bank.csv), "offers.parquet",
                 workspace=ws)
    key = workspace_keys(ws).hmac_key("personalised_offers")
    mine = pseudonyms(pa.array([bank.subject]), key, length=16, prefix="o_")[0].as_py()
    out = veil.read(r.output, ws)
    enc = [e for c, e in zip(out.column("customer_id").to_pylist(),
                             out.column("email").to_pylist(), strict=True) if c == mine][:3]
    n = AuditLog(ws).head().size
    capsys.readouterr()
    # `--`: a base64url ciphertext may start with "-"
    assert main(["dsr", "decrypt", "--dataset", "transactions", "--field", "email",
                 "--actor", "dpo-1", "--reason", "case 7", "--", bank.subject, *enc]) == 0
    assert bank.email in capsys.readouterr().out
    ((ev, raw),) = _new_events(ws, n)
    assert ev["action"] == "dsr.decrypt" and ev["outcome"] == "success"
    assert ev["details"]["key"] == "subject"
    assert ev["details"]["kek_id"] == KeyManager(ws).kek.kek_id
    assert ev["counts"] == {"values": len(enc)}
    assert ev["digests"]["input"].startswith("sha256:")
    assert ev["subjects"] == [f"dsr:{_token(bank)}"]
    for word in (bank.subject, bank.email, *enc):
        assert word not in raw
    assert main(["audit", "verify"]) == 0
