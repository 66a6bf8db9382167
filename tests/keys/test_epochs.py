"""Key epochs: subject keys wrapped under a rotating epoch key kept outside the database.

Simulated months (an injected clock): keys stay readable across rotations, a retired epoch is
destroyed once the backup retention has passed, and a copy of the database taken before an
erasure decrypts the erased subject until then and not after. Also: keys stored directly under
the KEK by older versions move into the first epoch, a failed rotation or destruction loses
nothing, a writer racing a rotation never stores a key under a retired epoch, KEK rotation
moves the epoch files, and the two CLI commands.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from veil.crypto.errors import CryptoError, ErasedError, KeyMissingError, WrongKeyError
from veil.kek.providers import StaticKEK
from veil.keys import epoch_files
from veil.keys.epochs import EpochSchedule, horizon
from veil.keys.manager import KeyManager
from veil.keys.subject_keys import InMemoryKeyStore, SubjectKeys
from veil.policy.duration import Duration
from veil.store.schema import key_epochs, subject_keys
from veil.store.workspace import Workspace

MONTH, RETENTION = timedelta(days=30), timedelta(days=35)
SCHED_MONTH, SCHED_RETENTION = Duration(days=30), Duration(days=35)
SCHEDULE = EpochSchedule(SCHED_MONTH, SCHED_RETENTION, "30 days", "35 days")
SUBJECTS = [f"p-{i:03d}" for i in range(30)]


def _rows(ws: Any) -> dict[str, Any]:
    with ws.engine.connect() as conn:
        return {r.subject: r for r in conn.execute(sa.select(subject_keys))}


def _encrypt_all(km: KeyManager) -> list[bytes]:
    return km.subject_keys().encrypt_many(SUBJECTS, [s.encode() for s in SUBJECTS], b"ad")


def _readable(ws: Any, kek: Any, cts: list[bytes]) -> list[bytes | None]:
    fresh = KeyManager(ws, kek=kek, actor="tester").subject_keys()
    return fresh.decrypt_many(SUBJECTS, cts, b"ad", erased=None)


def test_rotation_keeps_keys_and_destroys_old_epochs_after_the_retention(
        km: KeyManager, workspace: Any, tmp_path: Path) -> None:
    cts = _encrypt_all(km)
    first = km.epochs().history()
    assert [e.status for e in first] == ["current"] and first[0].id == 1
    t0 = first[0].created_at
    root = Path(workspace.root)
    assert epoch_files.epoch_file_ids(root) == {1}
    assert (root / "keys" / "epochs" / "epoch-1.sealed").stat().st_mode & 0o777 == 0o600
    assert all(r.epoch == 1 and r.kek_id is None for r in _rows(workspace).values())

    early = km.rotate_epoch(SCHEDULE, now=t0 + timedelta(days=10))
    assert not early.rotated and early.current == 1 and "not due" in early.reason
    second = km.rotate_epoch(SCHEDULE, now=t0 + MONTH)
    assert second.rotated and second.current == 2 and second.retired == [1]
    assert second.subject_keys == len(SUBJECTS) and second.destroyed == []
    assert second.next_due == t0 + 2 * MONTH
    assert {r.epoch for r in _rows(workspace).values()} == {2}
    assert _readable(workspace, km.kek, cts) == [s.encode() for s in SUBJECTS]

    third = km.rotate_epoch(SCHEDULE, now=t0 + 2 * MONTH)
    assert third.rotated and third.retired == [2] and third.destroyed == []  # 30 < 35 days
    again = km.rotate_epoch(SCHEDULE, now=t0 + 2 * MONTH)  # idempotent
    assert not again.rotated and again.destroyed == []
    sealed = epoch_files.epoch_path(root, 1)
    before = sealed.read_bytes()
    os.link(sealed, tmp_path / "second-name")  # sees the file's blocks after the unlink
    fourth = km.rotate_epoch(SCHEDULE, now=t0 + MONTH + RETENTION)
    assert not fourth.rotated and fourth.destroyed == [1]
    assert epoch_files.epoch_file_ids(root) == {2, 3}
    left = (tmp_path / "second-name").read_bytes()
    assert len(left) == len(before) and left != before and b"veil-sealed" not in left
    statuses = {e.id: e.status for e in km.epochs().history()}
    assert statuses == {1: "destroyed", 2: "retired", 3: "current"}
    assert _readable(workspace, km.kek, cts) == [s.encode() for s in SUBJECTS]
    ops = [e["op"] for e in reversed(km.events())]
    assert ops == ["epoch-create", "epoch-rotate", "epoch-rotate", "epoch-destroy"]
    assert km.events(limit=1)[0]["detail"]["epoch"] == 1

    # Without a retention nothing is ever destroyed; without a period each call rotates.
    manual = km.rotate_epoch(EpochSchedule(), now=t0 + 9 * MONTH)
    assert manual.rotated and manual.destroyed == [] and manual.next_due is None


def test_a_database_copy_from_before_the_erasure_expires_with_its_epoch(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The backup case on SQLite, where a copy of the database is a file."""
    from veil.store.workspace import init_workspace

    monkeypatch.delenv("VEIL_DATABASE_URL", raising=False)
    ws, _ = init_workspace(tmp_path / "live")
    kek = StaticKEK(os.urandom(32))
    km = KeyManager(ws, kek=kek, actor="tester")
    cts = _encrypt_all(km)
    t0 = km.epochs().history()[0].created_at
    backup = tmp_path / "backup.db"
    with sqlite3.connect(Path(ws.root) / "veil.db") as src, sqlite3.connect(backup) as dst:
        src.backup(dst)  # the database only: keys/epochs/ is not part of it
    victim = SUBJECTS.index("p-007")
    assert km.shred_subjects(["p-007"]) == {"p-007"}
    erased_at = _rows(ws)["p-007"].erased_at
    date = horizon(km.epochs().history()[0], SCHEDULE, erased_at).unreadable_after
    assert date == t0 + MONTH + RETENTION

    def restored(name: str, epochs_from: Path | None = None) -> Workspace:
        """The backup restored beside today's workspace files (veil.toml, keys/)."""
        dest = tmp_path / name
        shutil.copytree(ws.root, dest, ignore=shutil.ignore_patterns("veil.db*"))
        shutil.copy(backup, dest / "veil.db")
        if epochs_from is not None:
            shutil.rmtree(dest / "keys" / "epochs")
            shutil.copytree(epochs_from, dest / "keys" / "epochs")
        return Workspace.open(dest)

    def opens(w: Workspace) -> bytes:
        try:
            return KeyManager(w, kek=kek, on_event=lambda e: None).subject_keys().decrypt(
                "p-007", cts[victim], b"ad")
        finally:
            w.close()

    with pytest.raises(ErasedError):  # the live store: unreadable at once
        KeyManager(ws, kek=kek).subject_keys().decrypt("p-007", cts[victim], b"ad")
    assert opens(restored("r0")) == b"p-007"  # the backup, before any rotation

    km.rotate_epoch(SCHEDULE, now=t0 + MONTH)  # epoch 1 retired, on schedule
    epochs_copy = tmp_path / "epochs-copy"
    shutil.copytree(Path(ws.root) / "keys" / "epochs", epochs_copy)
    km.rotate_epoch(SCHEDULE, now=date - timedelta(seconds=1))
    assert opens(restored("r1")) == b"p-007"  # within the retention: still readable
    assert km.rotate_epoch(SCHEDULE, now=date).destroyed == [1]
    with pytest.raises(KeyMissingError, match="epoch 1"):
        opens(restored("r2"))
    # The stated limit: a copy of keys/epochs/ taken before the destruction still opens it.
    assert opens(restored("r3", epochs_from=epochs_copy)) == b"p-007"
    # Live subjects lost nothing.
    got = _readable(ws, kek, cts)
    assert got == [None if s == "p-007" else s.encode() for s in SUBJECTS]
    ws.close()


def test_keys_stored_under_the_kek_move_into_the_first_epoch(km: KeyManager,
                                                             workspace: Any) -> None:
    """What an older version left: subject keys wrapped directly under the KEK."""
    old = SubjectKeys(km.kek, InMemoryKeyStore(), namespace="veil")
    cts = old.encrypt_many(SUBJECTS, [s.encode() for s in SUBJECTS], b"ad")
    at = datetime.now(UTC)
    with workspace.engine.begin() as conn:
        conn.execute(subject_keys.insert(), [
            {"subject": s, "wrapped_key": old.store.get(s), "kek_id": km.kek.kek_id,
             "created_at": at} for s in SUBJECTS])
    seen: list[dict[str, Any]] = []
    km.on_event = seen.append
    assert km.epochs().live_keys() == {None: len(SUBJECTS)}
    got = km.subject_keys().decrypt_many(SUBJECTS, cts, b"ad")
    assert got == [s.encode() for s in SUBJECTS]
    assert km.epochs().live_keys() == {1: len(SUBJECTS)}
    assert all(r.epoch == 1 and r.kek_id is None for r in _rows(workspace).values())
    assert [(e["op"], json.loads(e["detail"])) for e in seen] == [
        ("epoch-create", {"epoch": 1, "subject_keys": len(SUBJECTS)})]


def test_a_failed_rotation_or_destruction_leaves_every_key_readable(
        km: KeyManager, workspace: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import veil.keys.epochs as epochs_mod

    cts = _encrypt_all(km)
    t0 = km.epochs().history()[0].created_at
    calls = {"n": 0}
    real = epochs_mod.subject_wrap_aad

    def failing(namespace: str, subject: str) -> bytes:
        calls["n"] += 1
        if calls["n"] == 7:
            raise OSError("disk gone")
        return real(namespace, subject)

    monkeypatch.setattr(epochs_mod, "subject_wrap_aad", failing)
    with pytest.raises(OSError):
        km.rotate_epoch(SCHEDULE, now=t0 + MONTH)
    monkeypatch.undo()
    assert [e.status for e in km.epochs().history()] == ["current"]  # nothing changed
    assert {r.epoch for r in _rows(workspace).values()} == {1}
    assert _readable(workspace, km.kek, cts) == [s.encode() for s in SUBJECTS]
    done = km.rotate_epoch(SCHEDULE, now=t0 + MONTH)  # and it simply runs again
    assert done.rotated and done.current == 3  # the failed attempt's id is not reused
    assert _readable(workspace, km.kek, cts) == [s.encode() for s in SUBJECTS]

    # A crash after the destruction is recorded but before the file is gone: the next run
    # deletes the file.
    def crash(root: Path, epoch: int) -> bool:
        raise OSError("killed")

    monkeypatch.setattr(epoch_files, "shred_epoch_file", crash)
    with pytest.raises(OSError):
        km.rotate_epoch(SCHEDULE, now=t0 + MONTH + RETENTION)
    monkeypatch.undo()
    assert epoch_files.epoch_path(Path(workspace.root), 1).exists()
    assert km.epochs().history()[0].status == "destroyed"
    km.rotate_epoch(SCHEDULE, now=t0 + MONTH + RETENTION)
    assert not epoch_files.epoch_path(Path(workspace.root), 1).exists()
    assert _readable(workspace, km.kek, cts) == [s.encode() for s in SUBJECTS]


def test_writers_never_leave_a_key_under_a_retired_epoch(km: KeyManager,
                                                         workspace: Any) -> None:
    writer = km.subject_keys(sync_interval=None)  # its keyring still thinks epoch 1 is current
    first = writer.encrypt("p-000", b"x")
    under_1 = _rows(workspace)["p-000"]
    t0 = km.epochs().history()[0].created_at
    other = KeyManager(workspace, kek=km.kek, actor="cron")
    other.rotate_epoch(SCHEDULE, now=t0 + MONTH)
    late = writer.encrypt("p-late", b"late")  # wrapped under epoch 1 first, refused, rewrapped
    assert _rows(workspace)["p-late"].epoch == 2
    # A key left under the retired epoch anyway (say, by an older version's writer) is
    # rewrapped when that epoch is destroyed, not lost.
    t = subject_keys
    with workspace.engine.begin() as conn:
        conn.execute(t.update().where(t.c.subject == "p-000").values(
            wrapped_key=under_1.wrapped_key, epoch=1))
    short = EpochSchedule(SCHED_MONTH, Duration(days=5))
    done = other.rotate_epoch(short, now=t0 + MONTH + timedelta(days=5))
    assert not done.rotated and done.destroyed == [1]
    assert other.events(limit=1)[0]["detail"]["stragglers_rewrapped"] == 1
    assert _rows(workspace)["p-000"].epoch == 2
    fresh = KeyManager(workspace, kek=km.kek).subject_keys()
    assert fresh.decrypt("p-late", late) == b"late" and fresh.decrypt("p-000", first) == b"x"


def test_kek_rotation_moves_the_epoch_keys(km: KeyManager, workspace: Any,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from veil.kek.providers import EnvKEK
    from veil.keys.kek_rotation import rotate_kek

    cts = _encrypt_all(km)
    old = km.kek
    new = StaticKEK(os.urandom(32))
    assert km.rewrap(new) == {"keysets": 0, "subject_keys": 0}
    assert _readable(workspace, new, cts) == [s.encode() for s in SUBJECTS]
    with pytest.raises(WrongKeyError, match="not wrapped under KEK"):
        KeyManager(workspace, kek=old).subject_keys().decrypt(SUBJECTS[0], cts[0], b"ad")
    # `veil keys rewrap` (rotate_kek) moves them with the workspace's other sealed secrets.
    monkeypatch.setenv("NEXT_KEK", EnvKEK.new_secret())
    done = rotate_kek(KeyManager(workspace, kek=new), "env", variable="NEXT_KEK")
    assert done.sealed_secrets >= 1
    assert _readable(workspace, EnvKEK("NEXT_KEK"), cts) == [s.encode() for s in SUBJECTS]


def test_an_epoch_file_from_elsewhere_is_refused(km: KeyManager, workspace: Any) -> None:
    cts = _encrypt_all(km)
    epoch_files.write_epoch_key(Path(workspace.root), 1, os.urandom(32), km.kek)
    with pytest.raises(CryptoError, match="another key"):
        KeyManager(workspace, kek=StaticKEK(os.urandom(32))).epochs(kek=km.kek).key(1)
    with pytest.raises(CryptoError):
        _readable(workspace, km.kek, cts)


# -- the certificate's date, with a fake clock -------------------------------------------------

T0 = datetime(2027, 1, 1, tzinfo=UTC)


def _epoch(created: datetime, retired: datetime | None = None) -> Any:
    from veil.keys.epochs import Epoch

    return Epoch(1, created, retired, None, "x")


@pytest.mark.parametrize(("erased", "case", "retire_by", "after", "overdue"), [
    (T0 + timedelta(days=12), "scheduled", T0 + MONTH, T0 + MONTH + RETENTION, False),
    (T0, "scheduled", T0 + MONTH, T0 + MONTH + RETENTION, False),
    (T0 + MONTH + timedelta(days=3), "scheduled", T0 + MONTH + timedelta(days=3),
     T0 + MONTH + timedelta(days=3) + RETENTION, True),
])
def test_horizon_of_an_erasure_mid_epoch(erased: datetime, case: str, retire_by: datetime,
                                         after: datetime, overdue: bool) -> None:
    h = horizon(_epoch(T0), SCHEDULE, erased)
    assert (h.case, h.retire_by, h.unreadable_after, h.overdue) == (case, retire_by, after,
                                                                    overdue)
    assert h.to_dict()["epoch_rotation"] == "30 days"


def test_horizon_without_a_schedule_or_an_epoch() -> None:
    assert horizon(None, SCHEDULE, T0).case == "kek"
    unscheduled = EpochSchedule(SCHED_MONTH, None, "30 days")
    assert horizon(_epoch(T0), unscheduled, T0).case == "unscheduled"
    assert horizon(_epoch(T0), EpochSchedule(None, SCHED_RETENTION), T0).unreadable_after is None
    retired_late = horizon(_epoch(T0, retired=T0 + MONTH + timedelta(days=2)), SCHEDULE, T0)
    assert retired_late.unreadable_after == T0 + MONTH + timedelta(days=2) + RETENTION


# -- CLI -----------------------------------------------------------------------------------------

def test_cli_rotate_epoch_and_epochs(workspace: Any, capsys: Any, tmp_path: Path) -> None:
    from veil.cli.keys import register
    from veil.cli.main import app, main
    from veil.policy.loader import SAMPLE_POLICY

    register(app)
    for cmd in (["keys", "rotate-epoch"], ["keys", "epochs"]):
        assert main([*cmd, "--help"]) == 0
        assert "Example:" in capsys.readouterr().out
    KeyManager(workspace).subject_keys().encrypt("p-1", b"x")
    policy = tmp_path / "p.yaml"
    policy.write_text(Path(SAMPLE_POLICY).read_text()
                      + "\nkeys: {epoch_rotation: 30 days, backup_retention: 35 days}\n")
    assert main(["keys", "rotate-epoch", "--policy", str(policy), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["rotated"] is False and out["current"] == 1 and out["next_due"]
    assert main(["keys", "rotate-epoch", "--force"]) == 0
    printed = capsys.readouterr().out
    assert "Epoch 2 is current: 1 subject key(s) rewrapped" in printed
    assert "No backup retention" in printed
    assert main(["keys", "epochs", "--policy", str(policy), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(e["epoch"], e["status"], e["subject_keys"], e["key_file"])
            for e in listed["epochs"]] == [(1, "retired", 0, True), (2, "current", 1, True)]
    assert listed["epochs"][0]["destroy_due"] and listed["backup_retention"] == "35 days"
    assert main(["keys", "epochs"]) == 0
    assert "destroy 2" not in capsys.readouterr().out  # no policy: no due dates
    bad = tmp_path / "bad.yaml"
    bad.write_text(policy.read_text().replace("35 days", "soon"))
    with workspace.engine.connect() as conn:
        before = conn.execute(sa.select(sa.func.count()).select_from(key_epochs)).scalar()
    assert main(["keys", "rotate-epoch", "--policy", str(bad)]) == 3
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "backup_retention" in err and "bad.yaml" in err
    with workspace.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(key_epochs)).scalar() == before
