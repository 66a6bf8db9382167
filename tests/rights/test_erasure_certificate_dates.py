"""The erasure certificate says exactly what is unreadable now, and gives the date after which
a backup taken before the erasure no longer decrypts the subject's values: checked with a
simulated clock (epoch rotations on the policy's schedule, an erasure in the middle of an
epoch) against a real copy of the database (SQLite), restored before and after that date."""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

import veil
from veil.crypto.errors import CryptoError
from veil.keys.epochs import EpochSchedule
from veil.keys.manager import KeyManager
from veil.policy.duration import Duration
from veil.rights import Requests, decrypt_values
from veil.store.workspace import Workspace

KEYS = "\nkeys: {epoch_rotation: 30 days, backup_retention: 35 days}\n"
MONTH, RETENTION = timedelta(days=30), timedelta(days=35)
SCHED_MONTH, SCHED_RETENTION = Duration(days=30), Duration(days=35)


def _emails(bank, subject: str) -> list[str]:
    from veil.transforms.keys import workspace_keys
    from veil.transforms.pseudonymize import pseudonyms

    key = workspace_keys(bank.ws).hmac_key("personalised_offers")
    mine = pseudonyms(pa.array([subject]), key, length=16, prefix="o_")[0].as_py()
    out = veil.read("offers.parquet", bank.ws)
    return [e for c, e in zip(out.column("customer_id").to_pylist(),
                              out.column("email").to_pylist(), strict=True) if c == mine]


def _decrypt(ws, subject: str, values: list[str]) -> list[str]:
    return decrypt_values(ws, subject, values, dataset="transactions", field="email",
                          actor="dpo", reason="restore test")


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_certificate_date_is_when_a_backup_from_before_the_erasure_stops_decrypting(
        bank, edited_policy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = bank.ws
    pol = edited_policy(KEYS)
    schedule = EpochSchedule.from_policy(pol)
    veil.run(pol, "personalised_offers", str(bank.csv), "offers.parquet", workspace=ws)
    mine, theirs = _emails(bank, bank.subject), _emails(bank, bank.other)
    km = KeyManager(ws, actor="cron")
    t0 = km.epochs().history()[0].created_at
    assert km.rotate_epoch(schedule, now=t0 + MONTH).current == 2  # one month on schedule

    sqlite_db = str(ws.database_url).startswith("sqlite")
    backup = tmp_path / "backup.db"
    if sqlite_db:  # a backup of the database taken during epoch 2, before the erasure
        with sqlite3.connect(Path(ws.root) / "veil.db") as src, sqlite3.connect(backup) as dst:
            src.backup(dst)

    erased_at = t0 + MONTH + timedelta(days=12)  # the erasure, in the middle of epoch 2
    with monkeypatch.context() as m:
        m.setattr("veil.keys.keystore.now", lambda: erased_at)
        e = Requests(ws, pol).run(Requests(ws, pol).open("erasure", bank.subject).id)
    assert e.status == "completed" and e.result["outcome"] == "erased"
    js, page = (Path(p) for p in e.result["certificate"])
    cert = json.loads(js.read_text())
    b = cert["backups"]
    retire_by, date = t0 + 2 * MONTH, t0 + 2 * MONTH + RETENTION
    assert (b["case"], b["epoch"], b["rotation_overdue"]) == ("scheduled", 2, False)
    assert _when(b["erased_at"]) == erased_at and _when(b["epoch_retires_by"]) == retire_by
    assert _when(b["unreadable_after"]) == date
    assert (b["epoch_rotation"], b["backup_retention"]) == ("30 days", "35 days")
    for part in (b["unreadable_after"], b["epoch_retires_by"], "veil keys rotate-epoch",
                 "keys/epochs/ is not part of those backups"):
        assert part in b["statement"]
    assert "can no longer be decrypted with this store" in cert["readable_now"]
    text = js.read_text() + page.read_text()
    assert "every output and backup" not in text and b["unreadable_after"] in page.read_text()
    assert bank.subject not in text
    with pytest.raises(CryptoError, match="destroyed by an erasure"):  # unreadable now
        _decrypt(ws, bank.subject, mine)

    def restored(name: str) -> Workspace:
        """The backup restored beside the workspace's current files (veil.toml, keys/)."""
        dest = tmp_path / name
        shutil.copytree(ws.root, dest, ignore=shutil.ignore_patterns("veil.db*"))
        shutil.copy(backup, dest / "veil.db")
        return Workspace.open(dest)

    km.rotate_epoch(schedule, now=retire_by)  # epoch 2 retires on schedule
    assert km.rotate_epoch(schedule, now=date - timedelta(seconds=1)).destroyed == [1]
    if sqlite_db:  # one second before the date: the backup still decrypts the subject
        with restored("before") as old:
            assert _decrypt(old, bank.subject, mine) == [bank.email] * bank.rows
    assert km.rotate_epoch(schedule, now=date).destroyed == [2]  # the date: epoch 2 goes
    if sqlite_db:
        with restored("after") as old, pytest.raises(CryptoError, match="epoch 2"):
            _decrypt(old, bank.subject, mine)
    assert _decrypt(ws, bank.other, theirs) and len(set(_decrypt(ws, bank.other, theirs))) == 1


@pytest.mark.parametrize(("policy_keys", "case", "says"), [
    ("", "unscheduled", "keys.epoch_rotation or keys.backup_retention"),
    ("\nkeys: {epoch_rotation: 30 days}\n", "unscheduled", "no keys.backup_retention"),
])
def test_without_an_epoch_schedule_the_certificate_says_backups_stay_readable(
        bank, edited_policy, policy_keys: str, case: str, says: str) -> None:
    pol = edited_policy(policy_keys)
    veil.run(pol, "personalised_offers", str(bank.csv), "offers.parquet", workspace=bank.ws)
    e = Requests(bank.ws, pol).run(Requests(bank.ws, pol).open("erasure", bank.subject).id)
    b = json.loads(Path(e.result["certificate"][0]).read_text())["backups"]
    assert b["case"] == case and b["unreadable_after"] is None
    assert says in b["statement"] and "for as long as they are kept" in b["statement"]


def test_every_backup_case_has_a_sentence_that_names_its_limit() -> None:
    from veil.keys.epochs import BackupHorizon, Epoch, horizon
    from veil.rights.erasure_statements import BACKUP_STATEMENTS, erasure_statements

    t0 = datetime.fromisoformat("2027-01-01T00:00:00+00:00")
    sched = EpochSchedule(SCHED_MONTH, SCHED_RETENTION, "30 days", "35 days")
    cases = {
        "no-key": BackupHorizon("no-key", schedule=sched),
        "kek": horizon(None, sched, t0),
        "unscheduled": horizon(Epoch(1, t0, None, None, "x"), EpochSchedule(), t0),
        "scheduled": horizon(Epoch(1, t0, None, None, "x"), sched, t0 + MONTH + MONTH),
    }
    assert set(cases) == set(BACKUP_STATEMENTS)
    said = {c: erasure_statements("destroyed", "2027-02-01T00:00:00Z", h.to_dict())
            for c, h in cases.items()}
    assert "no backup holds one" in said["no-key"]["backups"]
    assert "for as long as they are kept" in said["kek"]["backups"]
    assert "under the KEK" in said["kek"]["backups"]
    assert "for as long as they are kept" in said["unscheduled"]["backups"]
    overdue = said["scheduled"]["backups"]
    assert overdue.startswith("Epoch 1 was due to retire before the erasure")
    assert cases["scheduled"].unreadable_after == t0 + 2 * MONTH + RETENTION
    none = erasure_statements("none (never made)", None, cases["no-key"].to_dict())
    assert "never had a subject key" in none["readable_now"]
