"""The store-backed key hierarchy: keysets wrapped under the KEK, rotation, KEK rotation,
disable/destroy, events, the KEK from veil.toml. On SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from veil.crypto.aead import FieldCipher, FieldContext
from veil.crypto.errors import CryptoError, KeyMissingError, KeysetError, WrongKeyError
from veil.crypto.keyset import AeadKey, StreamingKey
from veil.crypto.streaming import decrypt_bytes, encrypt_bytes
from veil.kek.providers import EnvKEK, PassphraseFileKEK, StaticKEK
from veil.keys.manager import KeyManager, KeysConfig, write_keys_config
from veil.store.schema import key_events, keysets, subject_keys

from .conftest import FAST_KDF

AD = b"veil:test"
CTX = FieldContext("loans", "iban")


def _secrets_of(km: KeyManager, name: str) -> list[bytes]:
    out = []
    for e in km.keyset(name).entries:
        m = e.material
        if isinstance(m, (StreamingKey, AeadKey)):
            out.append(m.key_value)
    return out


def _blob(ws: Any, name: str) -> bytes | None:
    with ws.engine.connect() as conn:
        return conn.execute(
            sa.select(keysets.c.encrypted_keyset).where(keysets.c.name == name)
        ).scalar()


def test_rotation_keeps_old_ciphertexts_and_uses_the_new_primary(km: KeyManager) -> None:
    km.init("output", "streaming", "files")
    km.init("fields", "aead", "field encryption")
    old_stream = encrypt_bytes(b"old file", km.keyset("output"), AD)
    old_field = FieldCipher(km.keyset("fields")).encrypt("DE89 3704", CTX, "p-1")
    first = {n: km.keyset(n).primary_key_id for n in ("output", "fields")}

    for n in ("output", "fields"):
        info = km.rotate(n)
        assert info.primary_key_id != first[n]
        assert [k["primary"] for k in info.keys] == [False, True]
        assert km.keyset(n).primary_key_id == info.primary_key_id

    # Old data still decrypts through the rotated keysets.
    assert decrypt_bytes(old_stream, km.keyset("output"), AD) == b"old file"
    fc = FieldCipher(km.keyset("fields"))
    assert fc.decrypt(old_field, CTX, "p-1") == b"DE89 3704"
    # New data uses the new primary: the Tink prefix names it ...
    new_field = fc.encrypt("x", CTX)
    assert new_field[1:5] == km.keyset("fields").primary_key_id.to_bytes(4, "big")
    assert old_field[1:5] == first["fields"].to_bytes(4, "big")
    # ... and a streaming file made now opens with the new key alone, not the old one.
    new_stream = encrypt_bytes(b"new file", km.keyset("output"), AD)
    ks = km.keyset("output")
    only_new = ks.with_status(first["output"], "DISABLED")
    only_old = ks.with_primary(first["output"]).with_status(ks.primary_key_id, "DISABLED")
    assert decrypt_bytes(new_stream, only_new, AD) == b"new file"
    with pytest.raises(WrongKeyError):
        decrypt_bytes(new_stream, only_old, AD)


def test_keysets_are_stored_only_wrapped_and_bound_to_their_name(km: KeyManager,
                                                                 workspace: Any) -> None:
    km.init("a", "aead")
    km.init("b", "aead")
    key = _secrets_of(km, "a")[0]
    blob = _blob(workspace, "a")
    assert blob is not None and key not in blob
    # Moving a's wrapped keyset into b's row is detected (the name is the associated data).
    with workspace.engine.begin() as conn:
        conn.execute(keysets.update().where(keysets.c.name == "b").values(
            encrypted_keyset=blob, version=keysets.c.version + 1))
    with pytest.raises(WrongKeyError):
        KeyManager(workspace, kek=km.kek).keyset("b")
    # A different KEK cannot open the store's keysets, and says which KEK it needs.
    with pytest.raises(WrongKeyError, match="wrapped under KEK static:"):
        KeyManager(workspace, kek=StaticKEK(os.urandom(32))).keyset("a")


def test_list_needs_no_kek_and_shows_keys(km: KeyManager, workspace: Any, monkeypatch) -> None:
    monkeypatch.delenv("VEIL_KEK", raising=False)  # the fixture's env KEK would be found
    km.init("output", "streaming", "files at rest")
    km.rotate("output")
    km.init("tokens", "daead", "join tokens")
    blind = KeyManager(workspace)  # no KEK configured, none given: list still works
    infos = {i.name: i for i in blind.list()}
    assert set(infos) == {"output", "tokens"}
    out = infos["output"]
    assert out.kind == "streaming" and out.purpose == "files at rest" and out.status == "ENABLED"
    assert len(out.keys) == 2 and sum(k["primary"] for k in out.keys) == 1
    assert out.keys[1]["key_id"] == out.primary_key_id
    assert infos["tokens"].keys[0]["type_url"].endswith("AesSivKey")
    with pytest.raises(KeyMissingError, match="veil keys init"):
        blind.keyset("output")  # but unwrapping does need the KEK


def test_disable_enable_destroy(km: KeyManager, workspace: Any) -> None:
    km.init("output", "streaming")
    old_id = km.keyset("output").primary_key_id
    old_ct = encrypt_bytes(b"old", km.keyset("output"), AD)
    km.rotate("output")
    new_ct = encrypt_bytes(b"new", km.keyset("output"), AD)

    # One old key disabled: its ciphertexts stop opening; re-enabled: they open again.
    with pytest.raises(KeysetError, match="is the primary"):
        km.disable("output", km.keyset("output").primary_key_id)
    km.disable("output", old_id)
    with pytest.raises(WrongKeyError):
        decrypt_bytes(old_ct, km.keyset("output"), AD)
    assert decrypt_bytes(new_ct, km.keyset("output"), AD) == b"new"
    km.enable("output", old_id)
    assert decrypt_bytes(old_ct, km.keyset("output"), AD) == b"old"

    # Destroying the old key removes its material from the stored keyset for good.
    old_value = next(e.material.key_value for e in km.keyset("output").entries  # type: ignore[union-attr]
                     if e.key_id == old_id)
    km.destroy("output", old_id)
    ks = km.keyset("output")
    assert next(e for e in ks.entries if e.key_id == old_id).status == "DESTROYED"
    assert old_value not in ks.to_binary()
    with pytest.raises(WrongKeyError):
        decrypt_bytes(old_ct, ks, AD)
    with pytest.raises(KeysetError, match="destroyed"):
        km.enable("output", old_id)

    # The whole keyset: disable is reversible, destroy is not.
    km.disable("output")
    with pytest.raises(KeyMissingError, match="disabled"):
        km.keyset("output")
    km.enable("output")
    assert decrypt_bytes(new_ct, km.keyset("output"), AD) == b"new"
    km.destroy("output")
    assert _blob(workspace, "output") is None
    for call in (lambda: km.keyset("output"), lambda: km.rotate("output"),
                 lambda: km.enable("output")):
        with pytest.raises(KeyMissingError, match="destroyed"):
            call()
    assert km.info("output").status == "DESTROYED"
    with pytest.raises(KeyMissingError, match="no keyset named 'nope'"):
        km.keyset("nope")
    with pytest.raises(KeysetError, match="already exists"):
        km.init("output", "streaming")  # a destroyed name is not reused
    with pytest.raises(KeysetError, match="invalid keyset name"):
        km.init("../x", "streaming")


def test_key_events_record_every_operation_without_secrets(km: KeyManager,
                                                           workspace: Any) -> None:
    seen: list[dict[str, Any]] = []
    km.on_event = seen.append
    km.init("output", "streaming", "files")
    kid1 = km.keyset("output").primary_key_id
    km.rotate("output")
    kid2 = km.keyset("output").primary_key_id
    km.disable("output", kid1)
    km.destroy("output", kid1)
    km.disable("output")
    km.enable("output")
    sk = km.subject_keys()
    sk.encrypt("p-1", b"x")
    km.shred_subjects(["p-1"])
    old_kek = km.kek.kek_id
    new = StaticKEK(os.urandom(32))
    km.rewrap(new)
    evs = km.events()
    ops = [e["op"] for e in reversed(evs)]
    assert ops == ["init", "rotate", "disable", "destroy", "disable", "enable",
                   "epoch-create", "subject-shred", "rewrap", "kek-rotate"]
    assert [e["op"] for e in seen] == ops  # on_event saw each one after it committed
    by_op = {e["op"]: e for e in evs}
    assert by_op["init"]["key_id"] == kid1 and by_op["rotate"]["key_id"] == kid2
    assert by_op["destroy"]["key_id"] == kid1
    assert all(e["actor"] == "tester" for e in evs)
    assert by_op["kek-rotate"]["detail"] == {"from_kek": old_kek, "keysets": 1,
                                             "subject_keys": 0}
    assert by_op["subject-shred"]["detail"] == {"subjects": 1, "keys_destroyed": 1}
    assert by_op["rewrap"]["kek_id"] == new.kek_id
    assert km.events(keyset="output", limit=2)[0]["op"] == "rewrap"
    # No key material anywhere in the events table.
    with workspace.engine.connect() as conn:
        dump = json.dumps([list(map(str, r)) for r in conn.execute(sa.select(key_events))])
    for secret in _secrets_of(km, "output"):
        for form in (secret.hex(), base64.b64encode(secret).decode(), repr(secret)):
            assert form not in dump


def test_rewrap_changes_only_the_wrapping(km: KeyManager, workspace: Any) -> None:
    km.init("output", "streaming")
    km.init("fields", "aead")
    stream_ct = encrypt_bytes(b"file body", km.keyset("output"), AD)
    field_ct = FieldCipher(km.keyset("fields")).encrypt("v", CTX)
    sk = km.subject_keys()
    rec = sk.encrypt("p-7", b"balance", b"accounts")
    before = {n: km.keyset(n) for n in ("output", "fields")}
    old_blobs = {n: _blob(workspace, n) for n in before}
    with workspace.engine.connect() as conn:
        old_wrapped = conn.execute(sa.select(subject_keys.c.wrapped_key)).scalar()
    epoch_file = Path(workspace.root) / "keys" / "epochs" / "epoch-1.sealed"
    old_epoch_file = epoch_file.read_bytes()

    old_kek = km.kek
    new = StaticKEK(os.urandom(32))
    # Subject keys hang off the KEK through their epoch: the epoch's key file is resealed,
    # the subject key rows stay as they are.
    assert km.rewrap(new) == {"keysets": 2, "subject_keys": 0}
    with pytest.raises(CryptoError, match="current KEK"):
        km.rewrap(new)

    fresh = KeyManager(workspace, kek=new)
    for n in before:
        assert fresh.keyset(n) == before[n]  # same keys ...
        assert _blob(workspace, n) != old_blobs[n]  # ... new wrapping
        assert fresh.info(n).kek_id == new.kek_id
    assert decrypt_bytes(stream_ct, fresh.keyset("output"), AD) == b"file body"
    assert FieldCipher(fresh.keyset("fields")).decrypt(field_ct, CTX) == b"v"
    assert fresh.subject_keys().decrypt("p-7", rec, b"accounts") == b"balance"
    with workspace.engine.connect() as conn:
        row = conn.execute(sa.select(subject_keys.c.wrapped_key, subject_keys.c.epoch)).one()
    assert row.wrapped_key == old_wrapped and row.epoch == 1
    assert epoch_file.read_bytes() != old_epoch_file
    # The old KEK opens nothing any more (a process still using it gets a clear error).
    stale = KeyManager(workspace, kek=StaticKEK(b"\x00" * 32))
    with pytest.raises(WrongKeyError, match="wrapped under KEK"):
        stale.keyset("output")
    with pytest.raises(WrongKeyError, match="wrapped under KEK"):
        stale.subject_keys().decrypt("p-7", rec, b"accounts")
    # A writer still on the old KEK after the rotation: refused with a clear error, nothing
    # written.
    with pytest.raises(WrongKeyError, match="unfinished"):
        KeyManager(workspace, kek=old_kek).subject_keys().encrypt("p-late", b"late")
    assert fresh.subject_keys().has_key("p-late") is False


def test_other_process_sees_rotation_and_ensure(km: KeyManager, workspace: Any) -> None:
    ks1 = km.ensure("output", "streaming", "files")
    assert km.ensure("output") == ks1  # exists: returned, not re-created
    other = KeyManager(workspace, kek=km.kek)  # another process, same store
    assert other.keyset("output") == ks1
    km.rotate("output")
    assert other.keyset("output").primary_key_id == km.keyset("output").primary_key_id
    km.disable("output")
    with pytest.raises(KeyMissingError, match="disabled"):
        other.ensure("output")  # a disabled keyset is not silently replaced


def test_kek_from_workspace_config(workspace: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    root = Path(workspace.root)
    monkeypatch.delenv("VEIL_KEK", raising=False)
    monkeypatch.delenv("VEIL_KEK_PASSPHRASE", raising=False)
    assert KeysConfig.from_workspace(root) is None
    with pytest.raises(KeyMissingError, match="veil keys init"):
        _ = KeyManager(workspace).kek

    # passphrase-file, created through the manager; veil.toml gets a [keys] table.
    km = KeyManager(workspace, passphrase="right horse")
    monkeypatch.setattr("veil.kek.config.ARGON2ID_DEFAULT", FAST_KDF)
    made = km.setup_kek("passphrase-file", path="keys/kek.json")
    assert (root / "keys" / "kek.json").is_file()
    cfg = KeysConfig.from_workspace(root)
    assert cfg is not None and cfg.kek == "passphrase-file" and cfg.path == root / "keys/kek.json"
    assert "[workspace]" in (root / "veil.toml").read_text()  # the rest of the file is kept
    km.init("output", "streaming")
    with pytest.raises(CryptoError, match="already has a KEK"):
        km.setup_kek("env")

    # Another process: the passphrase from the environment, or a wrong one.
    monkeypatch.setenv("VEIL_KEK_PASSPHRASE", "right horse")
    again = KeyManager(workspace)
    assert again.kek.kek_id == made.kek_id
    assert again.keyset("output") == km.keyset("output")
    with pytest.raises(WrongKeyError, match="wrong passphrase"):
        _ = KeyManager(workspace, passphrase="wrong horse").kek
    asked: list[bool] = []

    def ask(confirm: bool) -> str:
        asked.append(confirm)
        return "right horse"

    assert KeyManager(workspace, passphrase=ask).kek.kek_id == made.kek_id
    assert asked in ([False], [])  # asked once, or served from the per-process cache

    # env provider, with the variable named in veil.toml.
    secret = EnvKEK.new_secret()
    monkeypatch.setenv("BANK_KEK", secret)
    write_keys_config(root, {"kek": "env", "variable": "BANK_KEK"})
    env_km = KeyManager(workspace)
    assert env_km.kek.kek_id == EnvKEK("BANK_KEK").kek_id
    assert (root / "veil.toml").read_text().count("[keys]") == 1
    with pytest.raises(WrongKeyError, match="wrapped under KEK"):
        env_km.keyset("output")  # the keysets are still under the file KEK
    monkeypatch.delenv("BANK_KEK")
    with pytest.raises(KeyMissingError, match="BANK_KEK is not set"):
        _ = KeyManager(workspace).kek
    for bad in ({"kek": "kms"}, {"kek": "env", "variable": "no spaces"},
                {"kek": "passphrase-file", "colour": "red"}):
        write_keys_config(root, bad)
        with pytest.raises(CryptoError):
            KeysConfig.from_workspace(root)


def test_missing_key_file_and_passphrase(workspace: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    root = Path(workspace.root)
    monkeypatch.delenv("VEIL_KEK_PASSPHRASE", raising=False)
    write_keys_config(root, {"kek": "passphrase-file", "path": "keys/none.json"})
    with pytest.raises(KeyMissingError, match="key file not found"):
        _ = KeyManager(workspace, passphrase="x").kek
    (root / "keys").mkdir(exist_ok=True)
    PassphraseFileKEK.create(root / "keys" / "none.json", "pw", kdf_params=FAST_KDF)
    with pytest.raises(KeyMissingError, match="VEIL_KEK_PASSPHRASE"):
        _ = KeyManager(workspace).kek  # no terminal under pytest, no variable


def test_concurrent_ensure_and_key_creation_agree(km: KeyManager, workspace: Any) -> None:
    """Several processes (threads with their own managers here) creating the same keyset and
    the same subjects' keys at once end up with one keyset and one key per subject."""
    import threading

    results: list[Any] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def worker() -> None:
        try:
            mine = KeyManager(workspace, kek=km.kek)
            barrier.wait()
            ks = mine.ensure("output", "streaming")
            sk = mine.subject_keys()
            cts = sk.encrypt_many([f"s{i}" for i in range(50)], [b"v"] * 50)
            results.append((ks, cts))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert len({r[0].primary_key_id for r in results}) == 1
    assert [e["op"] for e in km.events()].count("init") == 1
    reader = km.subject_keys()
    for _, cts in results:  # everyone's records open with the one stored key per subject
        assert reader.decrypt_many([f"s{i}" for i in range(50)], cts) == [b"v"] * 50


def test_key_operations_are_in_the_audit_log(km: KeyManager, workspace: Any) -> None:
    from veil.audit.log import AuditLog

    km.init("output", "streaming", "files at rest")
    km.rotate("output")
    log = AuditLog(workspace)
    events = [log.get(i).event for i in range(log.head().size)]
    actions = [e.action for e in events]
    assert any(a.startswith("key.") and "init" in a for a in actions), actions
    assert any("rotate" in a for a in actions), actions
    assert all(e.details.get("keyset") == "output" for e in events if e.action.startswith("key."))
    log.verify()
