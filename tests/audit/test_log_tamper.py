"""Property tests: any single modification, deletion, insertion or reordering of the stored
events, and any change to a signed head, is detected by `verify`, which names the first bad index
and the check that failed. On SQLite, and PostgreSQL when reachable."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from veil.audit.heads import generate_signing_key, key_id, public_key_to_pem, sign_tree_head
from veil.audit.log import AuditLog, AuditVerifyError
from veil.store.schema import audit_heads, audit_leaves, audit_state

N = 23
HEADS = (5, 16, 23)
COLS = ("idx", "event", "leaf_hash", "time", "action", "actor", "purpose", "outcome")
CHUNKS = st.sampled_from([2, 4, 8, 1 << 15])

Row = dict[str, Any]


class Tampered:
    """A small signed log whose tables a test rewrites and then restores."""

    def __init__(self, log: AuditLog, make_event: Callable[..., Any]) -> None:
        self.log = log
        self.make_event = make_event
        lo = 0
        for size in HEADS:
            log.append([make_event(i) for i in range(lo, size)])
            log.sign_head()
            lo = size
        log.verify()
        self.leaves = self._rows(audit_leaves, audit_leaves.c.idx)
        self.heads = self._rows(audit_heads, audit_heads.c.size)

    def _rows(self, table: sa.Table, order: Any) -> list[Row]:
        with self.log.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.select(table).order_by(order))]

    def write(self, table: sa.Table, rows: list[Row]) -> None:
        with self.log.engine.begin() as conn:
            conn.execute(table.delete())
            if rows:
                conn.execute(table.insert(), rows)

    def restore(self) -> None:
        self.write(audit_leaves, self.leaves)
        self.write(audit_heads, self.heads)

    def expect(self, index: int, checks: set[str], chunk: int) -> None:
        with pytest.raises(AuditVerifyError) as info:
            self.log.verify(chunk_size=chunk)
        err = info.value
        assert (err.index, err.check) in {(index, c) for c in checks}, str(err)
        assert f"index {index}" in str(err)


@pytest.fixture
def tampered(audit_log: AuditLog, make_event) -> Tampered:  # type: ignore[no-untyped-def]
    return Tampered(audit_log, make_event)


def _renumber(rows: list[Row]) -> list[Row]:
    return [{**r, "idx": i} for i, r in enumerate(rows)]


def _new_row(t: Tampered, idx: int) -> Row:
    e = t.make_event(1000 + idx)
    d = e.canonical_bytes()
    return {
        "idx": idx,
        "event": d,
        "leaf_hash": hashlib.sha256(b"\x00" + d).digest(),
        "time": d[-35:-8].decode(),
        "action": e.action,
        "actor": e.actor,
        "purpose": e.purpose,
        "outcome": e.outcome,
    }


SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@SETTINGS
@given(
    k=st.integers(0, N - 1),
    how=st.sampled_from(["bytes", "bytes+hash", "flip", "column"]),
    pos=st.integers(0, 10_000),
    chunk=CHUNKS,
)
def test_modified_event(tampered: Tampered, k: int, how: str, pos: int, chunk: int) -> None:
    rows = [dict(r) for r in tampered.leaves]
    r = rows[k]
    data = bytes(r["event"])
    if how == "flip":
        i = pos % len(data)
        data = data[:i] + bytes([data[i] ^ (1 << (pos % 8))]) + data[i + 1 :]
    elif how == "column":
        r["action"] = r["action"] + ".hidden"
    else:
        data = data.replace(b'"rows_in":', b'"rows_in":9', 1)
        if how == "bytes+hash":
            r["leaf_hash"] = hashlib.sha256(b"\x00" + data).digest()
    r["event"] = data
    tampered.write(audit_leaves, rows)
    try:
        tampered.expect(k, {"filter columns"} if how == "column" else {"modified event"}, chunk)
    finally:
        tampered.restore()


@SETTINGS
@given(k=st.integers(0, N - 1), renumber=st.booleans(), chunk=CHUNKS)
def test_deleted_event(tampered: Tampered, k: int, renumber: bool, chunk: int) -> None:
    rows = [r for r in tampered.leaves if r["idx"] != k]
    tampered.write(audit_leaves, _renumber(rows) if renumber else rows)
    try:
        tampered.expect(k, {"deleted leaf"}, chunk)
    finally:
        tampered.restore()


@SETTINGS
@given(k=st.integers(0, N), chunk=CHUNKS)
def test_inserted_event(tampered: Tampered, k: int, chunk: int) -> None:
    rows = list(tampered.leaves)
    rows.insert(k, _new_row(tampered, k))
    tampered.write(audit_leaves, _renumber(rows))
    try:
        tampered.expect(k, {"inserted leaf"}, chunk)
    finally:
        tampered.restore()


@SETTINGS
@given(
    ij=st.lists(st.integers(0, N - 1), min_size=2, max_size=2, unique=True),
    move=st.booleans(),
    chunk=CHUNKS,
)
def test_reordered_events(tampered: Tampered, ij: list[int], move: bool, chunk: int) -> None:
    i, j = sorted(ij)
    rows = list(tampered.leaves)
    if move:  # take one event out and put it back elsewhere: everything between shifts
        src, dst = (i, j) if ij[0] < ij[1] else (j, i)
        rows.insert(dst, rows.pop(src))
    else:
        rows[i], rows[j] = rows[j], rows[i]
    tampered.write(audit_leaves, _renumber(rows))
    try:
        tampered.expect(i, {"reordered leaf"}, chunk)
    finally:
        tampered.restore()


def _b64_root_line(note: str, root: bytes) -> str:
    lines = note.split("\n")
    lines[2] = base64.b64encode(root).decode()
    return "\n".join(lines)


@SETTINGS
@given(
    h=st.sampled_from(HEADS),
    how=st.sampled_from(
        [
            "note root",
            "note size",
            "note timestamp",
            "signature",
            "root column",
            "timestamp column",
            "key id column",
            "origin",
        ]
    ),
    pos=st.integers(0, 10_000),
    chunk=CHUNKS,
)
def test_changed_signed_head(tampered: Tampered, h: int, how: str, pos: int, chunk: int) -> None:
    rows = [dict(r) for r in tampered.heads]
    r = next(x for x in rows if x["size"] == h)
    note: str = r["note"]
    lines = note.split("\n")
    if how == "note root":
        r["note"] = _b64_root_line(note, hashlib.sha256(bytes([pos % 256])).digest())
    elif how == "note size":
        lines[1] = str(h + 1 + pos % 5)
        r["note"] = "\n".join(lines)
    elif how == "note timestamp":
        lines[3] = lines[3][:-2] + ("1Z" if lines[3][-2] != "1" else "2Z")
        r["note"] = "\n".join(lines)
    elif how == "signature":
        sig = lines[-2].rpartition(" ")[2]
        raw = bytearray(base64.b64decode(sig))
        raw[4 + pos % 64] ^= 1 << (pos % 8)
        lines[-2] = lines[-2][: -len(sig)] + base64.b64encode(bytes(raw)).decode()
        r["note"] = "\n".join(lines)
    elif how == "root column":
        r["root"] = hashlib.sha256(r["root"]).digest()
    elif how == "timestamp column":
        r["timestamp"] = "2020-01-01T00:00:00.000000Z"
    elif how == "key id column":
        r["key_id"] = "00000000" if r["key_id"] != "00000000" else "00000001"
    else:
        r["note"] = note.replace(lines[0], "evil.example/log")
    tampered.write(audit_heads, rows)
    try:
        tampered.expect(h, {"bad signature", "head altered"}, chunk)
    finally:
        tampered.restore()


def test_rewritten_log_with_a_forged_head_is_caught_by_the_key(tampered: Tampered) -> None:
    # An attacker with database access rewrites event 2 *and* its whole tree, state and heads,
    # re-signing with their own key stored in the database: the key file in the workspace
    # (or a public key the verifier trusts) still catches it.
    log = tampered.log
    evil = generate_signing_key()
    with log.engine.begin() as conn:
        conn.execute(
            audit_state.update().values(public_key=public_key_to_pem(evil.public_key()).decode(),
                                        key_id=key_id(evil.public_key(), log.origin))
        )
    with pytest.raises(AuditVerifyError, match="not the workspace's signing key"):
        log.verify()
    trusted = tampered.log.workspace.root / "keys" / "audit_signing.sealed"
    trusted.unlink()  # even without the key file, a trusted public key catches the forgery
    forged = [dict(r) for r in tampered.heads]
    for r in forged:
        h = sign_tree_head(evil, log.origin, r["size"], r["root"])
        r["note"], r["key_id"] = h.to_note(), h.key_id
        r["timestamp"] = r["note"].split("\n")[3].split(" ")[1]
    tampered.write(audit_heads, forged)
    assert log.verify().heads_checked == 3  # consistent with the forged key in the database...
    with pytest.raises(AuditVerifyError) as info:
        log.verify(public_key=tampered.heads_key)  # type: ignore[attr-defined]
    assert info.value.check == "bad signature" and info.value.index == HEADS[0]


@pytest.fixture(autouse=True)
def _remember_key(request) -> None:  # type: ignore[no-untyped-def]
    if "tampered" in request.fixturenames:
        t = request.getfixturevalue("tampered")
        t.heads_key = t.log.public_key()
