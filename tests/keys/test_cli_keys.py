"""`veil keys ...`, `veil encrypt` and `veil decrypt` as a user drives them, through the main
entry point (exit codes and one-line errors), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from veil.cli.keys import register
from veil.cli.main import app, main

register(app)  # what the main app does (idempotent)

PASS = "correct horse battery staple"


def veil(*args: str) -> int:
    return main(list(args))


@pytest.fixture
def keyed(workspace: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> Any:
    """A workspace after `veil keys init` with a passphrase-file KEK."""
    monkeypatch.setenv("VEIL_KEK_PASSPHRASE", PASS)
    monkeypatch.delenv("VEIL_KEK", raising=False)
    monkeypatch.setattr("veil.kek.config.ARGON2ID_DEFAULT",
                        {"iterations": 2, "lanes": 1, "memory_cost_kib": 19 * 1024})
    assert veil("keys", "init") == 0
    out = capsys.readouterr().out
    assert "Created KEK" in out and "recorded in veil.toml [keys]" in out
    assert "Created streaming keyset output" in out
    return workspace


def _err(capsys: Any) -> str:
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err  # one line
    return err


@pytest.mark.parametrize("cmd", [
    ["keys"], ["keys", "init"], ["keys", "list"], ["keys", "rotate"], ["keys", "rewrap"],
    ["keys", "disable"], ["keys", "enable"], ["keys", "destroy"], ["keys", "events"],
    ["keys", "export"],
    ["encrypt"], ["decrypt"],
])
def test_help_has_an_example(cmd: list[str], capsys: Any) -> None:
    assert veil(*cmd, "--help") == 0
    assert "Example:" in capsys.readouterr().out


def test_encrypt_decrypt_round_trip_and_tink_interop(keyed: Any, tmp_path: Path, capsys: Any,
                                                     tink: Any, token: Any) -> None:
    data = os.urandom(3 * (1 << 20) + 12345)  # several 1 MiB segments, odd tail
    Path("plain.bin").write_bytes(data)
    assert veil("encrypt", "plain.bin", "plain.bin.enc", "-a", "export:2026-11") == 0
    assert "Encrypted plain.bin -> plain.bin.enc" in capsys.readouterr().out
    ct = Path("plain.bin.enc").read_bytes()
    assert data[:64] not in ct and ct[0] == 40  # Tink header: 1 + 32 + 7 bytes
    assert veil("decrypt", "plain.bin.enc", "back.bin", "-a", "export:2026-11") == 0
    assert Path("back.bin").read_bytes() == data
    # Official Tink decrypts the CLI's file with the keyset `veil keys export` writes.
    from tink import streaming_aead

    assert veil("keys", "export", "output", "-o", "output.keyset.json") == 0
    assert "keep it secret" in capsys.readouterr().out
    assert (Path("output.keyset.json").stat().st_mode & 0o777) == 0o600
    handle = tink.json_proto_keyset_format.parse(Path("output.keyset.json").read_text(), token)
    sa = handle.primitive(streaming_aead.StreamingAead)
    with open("plain.bin.enc", "rb") as f, sa.new_decrypting_stream(f, b"export:2026-11") as ds:
        assert ds.read() == data
    # ... and Veil's CLI decrypts what tink-py wrote.
    with open("tink.enc", "wb") as f, sa.new_encrypting_stream(f, b"from-tink") as es:
        es.write(data[:777_777])
    assert veil("decrypt", "tink.enc", "tink.out", "--associated-data", "from-tink") == 0
    assert Path("tink.out").read_bytes() == data[:777_777]
    capsys.readouterr()
    assert veil("keys", "export", "output", "-o", "output.keyset.json") == 7  # never overwrites
    assert "refusing to overwrite" in _err(capsys)
    assert veil("keys", "events", "--limit", "2") == 0
    assert [json.loads(x)["op"] for x in capsys.readouterr().out.splitlines()] == [
        "export", "init"]  # one export recorded: the refused one wrote nothing


def test_bad_input_is_one_line_exit_7_and_no_output(keyed: Any, capsys: Any,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    Path("p.csv").write_text("name,iban\nAda,DE89370400440532013000\n" * 100_000)  # 3.4 MB
    assert veil("encrypt", "p.csv", "p.enc") == 0
    capsys.readouterr()
    good = Path("p.enc").read_bytes()
    before = sorted(os.listdir("."))

    def refused(args: list[str], message: str) -> None:
        assert veil(*args) == 7, args
        err = _err(capsys)
        assert message in err, err
        assert "Ada" not in err and "DE89" not in err  # no plaintext in messages
        assert not Path("out.csv").exists()  # no partial plaintext
        assert sorted(os.listdir(".")) == before  # no temporary file either

    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0x20
    Path("bad.enc").write_bytes(bytes(flipped))
    before = sorted(os.listdir("."))
    refused(["decrypt", "bad.enc", "out.csv"], "tampered ciphertext")
    first = bytearray(good)
    first[100] ^= 1  # in the first segment: AEAD cannot tell damage from a wrong key there
    Path("bad.enc").write_bytes(bytes(first))
    refused(["decrypt", "bad.enc", "out.csv"], "or its first segment is damaged")
    Path("bad.enc").write_bytes(good[: 1 << 20])  # truncated at the first segment boundary
    refused(["decrypt", "bad.enc", "out.csv"], "tampered ciphertext")
    Path("bad.enc").write_bytes(good[:-7])  # truncated inside the last segment
    refused(["decrypt", "bad.enc", "out.csv"], "tampered ciphertext")
    refused(["decrypt", "p.csv", "out.csv"], "not a ciphertext")
    Path("bad.enc").write_bytes(b"")
    refused(["decrypt", "bad.enc", "out.csv"], "not a ciphertext")
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"a": [1]}), "t.parquet")
    before = sorted(os.listdir("."))
    refused(["decrypt", "t.parquet", "out.csv"], "plain (unencrypted) Parquet")
    refused(["decrypt", "p.enc", "out.csv", "-a", "other context"], "wrong key")
    refused(["decrypt", "p.enc", "out.csv", "--keyset", "nope"], "no keyset named 'nope'")
    monkeypatch.setenv("VEIL_KEK_PASSPHRASE", "wrong horse")
    from veil.kek.config import clear_kek_cache

    clear_kek_cache()
    refused(["decrypt", "p.enc", "out.csv"], "wrong passphrase")
    monkeypatch.delenv("VEIL_KEK_PASSPHRASE")
    refused(["decrypt", "p.enc", "out.csv"], "VEIL_KEK_PASSPHRASE")
    monkeypatch.setenv("VEIL_KEK_PASSPHRASE", PASS)
    Path("existing.csv").write_text("keep me")
    before = sorted(os.listdir("."))
    Path("bad.enc").write_bytes(bytes(flipped))
    assert veil("decrypt", "bad.enc", "existing.csv") == 7
    capsys.readouterr()
    assert Path("existing.csv").read_text() == "keep me"  # an old output survives a failure

    # A destroyed keyset: its files are gone for good.
    assert veil("keys", "destroy", "output") == 2  # needs --yes without a terminal
    capsys.readouterr()
    assert veil("keys", "destroy", "output", "--yes") == 0
    capsys.readouterr()
    before = sorted(os.listdir("."))
    refused(["decrypt", "p.enc", "out.csv"], "keyset 'output' was destroyed")
    assert veil("encrypt", "nope.csv", "x.enc") == 4
    assert "input file not found" in _err(capsys)


def test_rotate_disable_list_rewrap(keyed: Any, capsys: Any,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    Path("a.txt").write_text("first")
    assert veil("encrypt", "a.txt", "a.enc") == 0
    assert veil("keys", "rotate", "output") == 0
    out = capsys.readouterr().out
    assert "new primary key" in out and "1 older key(s) kept" in out
    Path("b.txt").write_text("second")
    assert veil("encrypt", "b.txt", "b.enc") == 0
    assert veil("decrypt", "a.enc", "a.out") == 0 and Path("a.out").read_text() == "first"
    capsys.readouterr()
    assert veil("keys", "list", "--json", "--events", "10") == 0
    listing = json.loads(capsys.readouterr().out)
    (ks,) = listing["keysets"]
    assert listing["kek"].startswith("passphrase-file ")
    assert ks["name"] == "output" and len(ks["keys"]) == 2
    old_id = next(k["key_id"] for k in ks["keys"] if not k["primary"])
    assert [e["op"] for e in listing["events"]] == ["rotate", "init", "kek-create"]

    assert veil("keys", "disable", "output", "--key-id", str(old_id)) == 0
    capsys.readouterr()
    assert veil("decrypt", "a.enc", "a2.out") == 7 and "wrong key" in _err(capsys)
    assert veil("decrypt", "b.enc", "b.out") == 0
    assert veil("keys", "enable", "output", "--key-id", str(old_id)) == 0
    assert veil("decrypt", "a.enc", "a2.out") == 0
    assert veil("keys", "list") == 0
    assert "output" in capsys.readouterr().out

    # KEK rotation: keysets re-wrapped, files untouched, veil.toml points at the new key file.
    monkeypatch.setenv("VEIL_KEK_NEW_PASSPHRASE", "a brand new passphrase")
    enc_before = Path("a.enc").read_bytes()
    assert veil("keys", "rewrap", "--path", "keys/kek2.json") == 0
    out = capsys.readouterr().out
    assert "Re-wrapped 1 keyset(s)" in out and "veil.toml updated" in out
    assert 'path = "keys/kek2.json"' in Path("veil.toml").read_text()
    assert Path("a.enc").read_bytes() == enc_before
    monkeypatch.setenv("VEIL_KEK_PASSPHRASE", "a brand new passphrase")
    assert veil("decrypt", "a.enc", "a3.out") == 0 and Path("a3.out").read_text() == "first"
    monkeypatch.setenv("VEIL_KEK_PASSPHRASE", PASS)  # the old passphrase no longer works
    capsys.readouterr()
    assert veil("decrypt", "b.enc", "b3.out") == 7 and "wrong passphrase" in _err(capsys)
    assert veil("keys", "events", "--keyset", "output", "--limit", "1") == 0
    assert json.loads(capsys.readouterr().out)["op"] == "rewrap"
