"""Every key use is one audit event, through the CLI as a user drives it (SQLite and
PostgreSQL): `veil encrypt`, `veil decrypt` (a file and a Spark parts folder), `veil keys
export` and `veil reidentify` each append exactly their event, with the actor, the keyset and
key ids and the digests of what went in and out, and never content, paths or values (checked
on the event's raw bytes as the log stores them). A failing decryption is a failure event and
publishes nothing. The log still verifies afterwards."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from veil.audit.log import AuditLog
from veil.cli.keys import register as register_keys
from veil.cli.main import app, main
from veil.cli.transforms import register as register_transforms
from veil.keys.manager import KeyManager

register_keys(app)  # what the main app does (idempotent)
register_transforms(app)

SECRET = "Jane Example, jane@example.com, IBAN DE89370400440532013000\n"
AD = "customer-export:jane"


def _sha(path: str | Path) -> str:
    return "sha256:" + hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _new_events(ws: Any, before: int) -> list[tuple[dict[str, Any], bytes]]:
    """Events appended since ``before``: (JSON object, raw canonical bytes as stored)."""
    log = AuditLog(ws)
    out = []
    for idx in range(before, log.head().size):
        ev = log.get(idx).event
        out.append((ev.to_json_obj(), ev.canonical_bytes()))
    return out


def _size(ws: Any) -> int:
    return AuditLog(ws).head().size


def _no_content(raw: bytes, *forbidden: str) -> None:
    text = raw.decode("utf-8")
    for word in ("jane", "Jane", "DE89370400440532013000", *forbidden):
        assert word not in text, (word, text)


@pytest.fixture
def keyed(workspace: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The workspace (KEK from VEIL_KEK) with its ``output`` keyset, a plaintext file, and
    VEIL_ACTOR unset so that --actor is what gets recorded."""
    monkeypatch.delenv("VEIL_ACTOR", raising=False)
    KeyManager(workspace).ensure("output", "streaming")
    Path("plain.txt").write_text(SECRET * 50)
    return workspace


def test_encrypt_decrypt_and_export_are_one_event_each(keyed: Any, capsys: Any) -> None:
    ws = keyed
    ks = KeyManager(ws).keyset("output")
    kek_id = KeyManager(ws).kek.kek_id
    n = _size(ws)
    assert main(["encrypt", "plain.txt", "plain.enc", "-a", AD, "--actor", "ops-7"]) == 0
    ((ev, raw),) = _new_events(ws, n)
    assert ev["action"] == "key.encrypt" and ev["outcome"] == "success"
    assert ev["actor"] == "ops-7" and ev["purpose"] == "key-management"
    assert ev["details"] == {"keyset": "output", "key_id": str(ks.primary_key_id),
                             "kek_id": kek_id}
    assert ev["digests"] == {"input": _sha("plain.txt"), "output": _sha("plain.enc")}
    assert ev["counts"] == {"input_bytes": Path("plain.txt").stat().st_size,
                            "output_bytes": Path("plain.enc").stat().st_size}
    _no_content(raw, "plain.txt", "plain.enc", AD)

    n = _size(ws)
    assert main(["decrypt", "plain.enc", "back.txt", "-a", AD, "--actor", "ops-7"]) == 0
    assert Path("back.txt").read_text() == SECRET * 50
    ((ev, raw),) = _new_events(ws, n)
    assert ev["action"] == "key.decrypt" and ev["outcome"] == "success"
    assert ev["details"] == {"keyset": "output", "key_id": str(ks.primary_key_id),
                             "kek_id": kek_id, "associated_data": "given"}
    assert ev["digests"] == {"input": _sha("plain.enc"), "output": _sha("back.txt")}
    _no_content(raw, "back.txt", AD)

    n = _size(ws)
    assert main(["keys", "export", "output", "-o", "out.keyset.json", "--actor", "ops-7"]) == 0
    ((ev, raw),) = _new_events(ws, n)  # one event, not the key event's copy as well
    assert ev["action"] == "key.export" and ev["outcome"] == "success"
    assert ev["details"] == {"keyset": "output", "key_id": str(ks.primary_key_id),
                             "kek_id": kek_id, "format": "json"}
    assert ev["digests"] == {"output": _sha("out.keyset.json")}
    assert ev["counts"]["keys"] == 1
    key_b64 = json.loads(Path("out.keyset.json").read_text())["key"][0]["keyData"]["value"]
    _no_content(raw, "out.keyset.json", key_b64)
    assert [e["op"] for e in KeyManager(ws).events("output", 1)] == ["export"]  # key history

    capsys.readouterr()
    assert main(["audit", "verify"]) == 0


def test_a_failing_decryption_is_a_failure_event_and_publishes_nothing(keyed: Any,
                                                                       capsys: Any) -> None:
    ws = keyed
    assert main(["encrypt", "plain.txt", "plain.enc", "-a", AD]) == 0
    ct = bytearray(Path("plain.enc").read_bytes())
    ct[60] ^= 1  # inside the first segment
    Path("plain.enc").write_bytes(bytes(ct))
    capsys.readouterr()
    for args in (["-a", AD], ["-a", "another context"]):
        n = _size(ws)
        assert main(["decrypt", "plain.enc", "back.txt", *args, "--actor", "ops-7"]) == 7
        assert not Path("back.txt").exists()
        assert [p.name for p in Path(".").iterdir() if "back.txt" in p.name] == []
        ((ev, raw),) = _new_events(ws, n)
        assert ev["action"] == "key.decrypt" and ev["outcome"] == "failure"
        assert ev["details"]["error"] in {"wrong key", "tampered ciphertext"}
        assert ev["digests"] == {"input": _sha("plain.enc")}  # no output
        _no_content(raw, "back.txt", AD, "another context")
    # a keyset that is not there is a key use that failed too
    n = _size(ws)
    assert main(["encrypt", "plain.txt", "x.enc", "-k", "nosuch"]) == 7
    ((ev, _),) = _new_events(ws, n)
    assert (ev["action"], ev["outcome"]) == ("key.encrypt", "failure")
    assert not Path("x.enc").exists()
    capsys.readouterr()
    assert main(["audit", "verify"]) == 0


def test_an_unrecorded_decryption_is_withdrawn(keyed: Any, monkeypatch: pytest.MonkeyPatch,
                                               capsys: Any) -> None:
    """If the event cannot be written, the plaintext does not stay: no use without its
    event."""
    from veil.errors import AuditError

    assert main(["encrypt", "plain.txt", "plain.enc"]) == 0

    def broken(self: Any, *a: Any, **kw: Any) -> int:
        raise AuditError("appending to the audit log failed: disk full")

    monkeypatch.setattr(AuditLog, "record", broken)
    capsys.readouterr()
    assert main(["decrypt", "plain.enc", "back.txt"]) == 8
    assert "disk full" in capsys.readouterr().err
    assert not Path("back.txt").exists()


class _Ref:
    """The output keyset as an executor would get it (`WrappedKeysetRef`)."""

    name = "output"

    def __init__(self, ws: Any) -> None:
        self.ws = ws

    def keyset(self) -> Any:
        return KeyManager(self.ws).keyset("output")


def _parts_folder(ws: Any, path: Path) -> None:
    """An encrypted parts folder of two parts and its receipt, as a Spark run leaves them."""
    from veil.keys.files import OutputEncryption
    from veil.keys.parts import PartsOutput

    table = pa.table({"customer": ["jane", "joe", "ann"], "score": [1, 2, 3]})
    enc = OutputEncryption(KeyManager(ws).keyset("output"), "output", b"unused")
    out = PartsOutput(path, "run-1", table.schema, enc, _Ref(ws))
    reported = []
    for i, batch in enumerate(table.to_batches(max_chunksize=2)):
        name, sink = out.target.open(i, 0)
        sink.write(batch)
        reported.append(out.target.close(name, i, sink))
    out.collect(reported)
    digest = out.commit()
    receipt = path.with_name(path.name + ".receipt.json")
    receipt.write_text(json.dumps({"output": {"sha256": digest}}))


def test_decrypting_a_parts_folder_is_one_event(keyed: Any, capsys: Any) -> None:
    ws = keyed
    _parts_folder(ws, Path("out.parts"))
    n = _size(ws)
    assert main(["decrypt", "out.parts", "plain.parquet", "--actor", "ops-7"]) == 0
    ((ev, raw),) = _new_events(ws, n)
    assert ev["action"] == "key.decrypt" and ev["outcome"] == "success"
    assert ev["details"]["keyset"] == "output" and ev["counts"]["rows"] == 3
    assert ev["digests"] == {"input": _sha("out.parts/_manifest.json"),
                             "output": _sha("plain.parquet")}
    _no_content(raw, "out.parts", "plain.parquet")
    capsys.readouterr()
    assert main(["audit", "verify"]) == 0


def test_reidentify_is_one_event_with_the_key_id(keyed: Any, capsys: Any) -> None:
    from veil.transforms.keys import key_id, workspace_keys
    from veil.transforms.tokenize import tokens

    ws = keyed
    keys = workspace_keys(ws)
    toks = tokens(pa.array(["CUST-0000042", "CUST-0000043"]), keys, "scoring").to_pylist()
    n = _size(ws)
    capsys.readouterr()
    assert main(["reidentify", "--domain", "scoring", "--actor", "ops-7", "--reason",
                 "case 2024-117", "--", *toks]) == 0
    assert "CUST-0000042" in capsys.readouterr().out
    ((ev, raw),) = _new_events(ws, n)
    assert ev["action"] == "reidentify" and ev["outcome"] == "success"
    assert ev["details"]["key_id"] == key_id(keys, "token", "scoring")
    assert ev["counts"] == {"values": 2, "distinct": 2}
    assert set(ev["digests"]) == {"input"}  # the tokens' digest; none of the values
    _no_content(raw, "CUST-0000042", toks[0], toks[1])

    n = _size(ws)
    bad = toks[0][:8] + ("A" if toks[0][8] != "A" else "B") + toks[0][9:]
    assert main(["reidentify", "--domain", "scoring", "--actor", "ops-7", "--reason",
                 "case 2024-117", "--", bad]) == 7
    ((ev, _),) = _new_events(ws, n)
    assert ev["outcome"] == "failure" and ev["details"]["error"] == "tampered ciphertext"
    capsys.readouterr()
    assert main(["audit", "verify"]) == 0
