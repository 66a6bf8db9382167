"""An insider with write access to every workspace file and the database, but not the KEK, cannot
rewrite the audit history unseen once a head is witnessed: a forged, truncated, rolled back or
forked log, or one missing a head, passes `verify` alone but fails against a trusted head and
against the witness. On SQLite, and PostgreSQL when reachable."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from veil.audit import stored_heads
from veil.audit.heads import generate_signing_key, key_id, public_key_to_pem
from veil.audit.log import AuditLog, AuditVerifyError
from veil.audit.merkle import empty_root
from veil.audit.trust import load_trusted_head, verify_from_trusted
from veil.audit.witnesses import FolderWitness
from veil.cli import main as cli_main
from veil.errors import AuditError
from veil.store.schema import audit_heads, audit_leaves, audit_nodes, audit_outbox, audit_state

SIZES = (5, 12, 20)
TABLES = (audit_state, audit_leaves, audit_nodes, audit_heads)


class History:
    """A log checkpointed at SIZES to a folder witness outside the workspace; the last
    checkpoint is also saved as a trusted head file."""

    def __init__(self, ws: Any, tmp: Path, make_event: Any) -> None:
        self.ws, self.make_event = ws, make_event
        self.witness = FolderWitness("archive", tmp / "witness")
        self.log = AuditLog(ws, sinks=[], witnesses=[self.witness])
        self.snapshots: dict[int, dict[str, list[dict[str, Any]]]] = {}
        lo = 0
        for size in SIZES:
            self.log.append([make_event(i) for i in range(lo, size)])
            report = self.log.checkpoint()
            assert not report.failed, report.published
            self.snapshots[size] = self.rows()
            lo = size
        self.trusted_file = tmp / "trusted.checkpoint"
        self.trusted_file.write_text(report.head.to_note(), "utf-8")
        self.trusted = load_trusted_head(self.trusted_file)

    def rows(self) -> dict[str, list[dict[str, Any]]]:
        with self.log.engine.connect() as conn:
            return {t.name: [dict(r._mapping) for r in conn.execute(sa.select(t))]
                    for t in TABLES}

    def restore(self, snap: dict[str, list[dict[str, Any]]]) -> None:
        """Put the audit tables back as they were (an older copy of the database)."""
        with self.log.engine.begin() as conn:
            for t in (audit_heads, audit_nodes, audit_leaves, audit_outbox):
                conn.execute(t.delete())
            for t in (audit_leaves, audit_nodes, audit_heads):
                if snap[t.name]:
                    conn.execute(t.insert(), snap[t.name])
            conn.execute(audit_state.update().values(**snap["audit_state"][0]))

    def fresh(self) -> AuditLog:
        return AuditLog(self.ws, sinks=[], witnesses=[self.witness])

    def must_fail(self, check: str) -> None:
        """Plain verify passes; the trusted head and the witness both catch the change."""
        log = self.fresh()
        log.verify()
        with pytest.raises(AuditVerifyError) as info:
            verify_from_trusted(log, self.trusted)
        assert info.value.check == check, info.value
        _, checks = log.verify_witnesses()
        assert [c.status for c in checks] == ["failed"], checks


@pytest.fixture
def history(workspace, tmp_path: Path, make_event) -> History:  # type: ignore[no-untyped-def]
    return History(workspace, tmp_path, make_event)


def test_the_untouched_log_verifies_from_its_trusted_head(history: History) -> None:
    rep = verify_from_trusted(history.fresh(), history.trusted)
    assert (rep.size, rep.report.size) == (20, 20)  # type: ignore[union-attr]
    _, checks = history.fresh().verify_witnesses()
    assert [(c.status, c.size) for c in checks] == [("ok", 20)]


def test_a_rewritten_event_resigned_with_a_new_key_fails(history: History, monkeypatch) -> None:
    # The attacker rewrites event 3, rebuilds the whole tree with Veil's own code and re-signs
    # every head with a key of their own (the real one is sealed under a KEK they lack).
    monkeypatch.delenv("VEIL_KEK")
    log, origin, evil = history.log, history.log.origin, generate_signing_key()
    with log.engine.begin() as conn:
        for t in (audit_heads, audit_nodes, audit_leaves, audit_outbox):
            conn.execute(t.delete())
        conn.execute(audit_state.update().values(
            size=0, root=empty_root(), public_key=public_key_to_pem(evil.public_key()).decode(),
            key_id=key_id(evil.public_key(), origin)))
    forger = AuditLog(history.ws, sinks=[])
    lo = 0
    for size in SIZES:
        forger.append([history.make_event(i, outcome="refused" if i == 3 else None) if i == 3
                       else history.make_event(i) for i in range(lo, size)])
        stored_heads.sign_current_head(log.engine, evil, origin)
        lo = size
    history.must_fail("key replaced")


def test_truncation_back_to_an_earlier_signed_size_fails(history: History) -> None:
    five = history.snapshots[5]
    history.restore({**history.rows(), "audit_state": five["audit_state"],
                     "audit_leaves": five["audit_leaves"], "audit_nodes": five["audit_nodes"],
                     "audit_heads": five["audit_heads"]})
    history.must_fail("truncated")


def test_deleting_the_witnessed_head_fails(history: History) -> None:
    with history.log.engine.begin() as conn:
        conn.execute(audit_heads.delete().where(audit_heads.c.size == 20))
    history.must_fail("head deleted")


def test_rollback_to_an_older_copy_of_the_database_fails(history: History) -> None:
    history.restore(history.snapshots[12])
    history.must_fail("truncated")
    report = history.fresh().checkpoint()  # the witness refuses to go back
    assert [p.ok for p in report.published] == [False]
    assert "rolled back" in report.failed[0].detail


def test_a_forked_log_fails(history: History) -> None:
    # An older copy (size 12) restored and continued with other events, heads signed with the
    # real key: consistent in itself, but not with what the witness saw.
    history.restore(history.snapshots[12])
    log = history.fresh()
    log.append([history.make_event(i, actor="svc:other") for i in range(12, 20)])
    log.sign_head()
    history.must_fail("fork")
    report = log.checkpoint()
    assert report.failed and "does not extend" in report.failed[0].detail


FIELDS = [(audit_leaves, c) for c in ("idx", "event", "leaf_hash", "time", "action", "actor",
                                      "purpose", "outcome")] + \
         [(audit_nodes, c) for c in ("level", "idx", "hash")] + \
         [(audit_heads, c) for c in ("size", "root", "timestamp", "key_id", "note")] + \
         [(audit_state, c) for c in ("origin", "size", "root", "public_key", "key_id")]
KEYS = {"audit_leaves": ("idx",), "audit_nodes": ("level", "idx"), "audit_heads": ("size",),
        "audit_state": ("id",)}


def _mutate(value: Any, rng: random.Random, key: bool) -> Any:
    """Another value of the same type, differing in one place (a key column: a free key)."""
    if key:
        return value + 10_000 + rng.randrange(1000)
    if isinstance(value, bytes | memoryview):
        b = bytearray(bytes(value))
        b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        return bytes(b)
    if isinstance(value, int):
        return value + rng.choice([1, 2, 3, 1000])
    text = str(value)
    if text.startswith("-----BEGIN PUBLIC KEY"):
        return public_key_to_pem(generate_signing_key().public_key()).decode()
    i = rng.randrange(len(text))
    new = "a" if text[i] != "a" else "b"
    return text[:i] + new + text[i + 1:]


def test_a_hundred_random_single_field_edits_are_all_detected(history: History) -> None:
    rng = random.Random(17)
    base = history.rows()
    order = FIELDS * (100 // len(FIELDS) + 1)
    rng.shuffle(order)
    detected, missed = 0, []
    for table, column in order[:100]:
        rows = base[table.name]
        row = rng.choice(rows)
        new = _mutate(row[column], rng, column in KEYS[table.name])
        where = [table.c[k] == row[k] for k in KEYS[table.name]]
        with history.log.engine.begin() as conn:
            conn.execute(table.update().where(*where).values({column: new}))
        try:
            verify_from_trusted(history.fresh(), history.trusted)
            missed.append((table.name, column))
        except AuditError:
            detected += 1
        history.restore(base)
    assert not missed and detected == 100
    verify_from_trusted(history.fresh(), history.trusted)  # restored: clean again


def test_cli_trusted_head_from_another_log_is_one_clear_line(history: History, tmp_path: Path,
                                                               capsys) -> None:
    assert cli_main.main(["audit", "verify", "--trusted-head", str(history.trusted_file)]) == 0
    assert "extends the trusted head of size 20" in capsys.readouterr().out
    other = generate_signing_key()
    foreign = stored_heads.sign_tree_head(other, "other.example/log", 3, b"\x01" * 32)
    path = tmp_path / "foreign.checkpoint"
    path.write_text(foreign.to_note(), "utf-8")
    assert cli_main.main(["audit", "verify", "--trusted-head", str(path)]) == 8
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "from another log" in err[0] and str(path) in err[0]
    history.restore(history.snapshots[12])
    assert cli_main.main(["audit", "verify", "--trusted-head", str(history.trusted_file)]) == 8
    assert "truncated" in capsys.readouterr().err
