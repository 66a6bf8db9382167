"""The store-backed audit log (SQLite, and PostgreSQL when reachable): append, heads, proofs,
verify, events, export, keys, atomicity and concurrent writers."""

from __future__ import annotations

import json
import multiprocessing
import os
import stat
import threading
import traceback
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

import veil.audit.offline_verify as offline
from veil.audit.event import AuditEvent
from veil.audit.heads import (
    generate_signing_key,
    private_key_to_pem,
    verify_tree_head,
)
from veil.audit.log import (
    KEY_FILE,
    AuditLog,
    AuditVerifyError,
    load_signing_key,
    verify_export,
)
from veil.audit.merkle import (
    CompactRange,
    MemoryNodeStore,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_from_leaves,
    verify_consistency,
    verify_inclusion,
)
from veil.audit.proofs import verify_proof_file
from veil.errors import AuditError, StoreError
from veil.store.schema import audit_heads, audit_leaves, audit_nodes, audit_outbox, audit_state
from veil.store.workspace import Workspace


def test_append_heads_and_proofs(audit_log: AuditLog, make_event, tmp_path: Path) -> None:
    log = audit_log
    assert log.head().size == 0 and log.head().root == root_from_leaves([])
    assert log.verify().size == 0
    empty = log.sign_head()
    assert (empty.size, empty.root) == (0, root_from_leaves([]))
    with pytest.raises(AuditError, match="no event at index 0"):
        log.prove(0, head=empty)
    events = [make_event(i) for i in range(37)]
    heads = []
    for lo, hi in ((0, 1), (1, 8), (8, 20), (20, 21), (21, 37)):
        assert log.append(events[lo:hi]) == list(range(lo, hi))
        heads.append(log.sign_head())
    datas = [e.canonical_bytes() for e in events]
    assert log.head().root == root_from_leaves(datas)
    assert [h.size for h in log.heads()] == [0, 1, 8, 20, 21, 37]

    # the store's proofs equal those of the in-memory reference, and verify
    ref = MemoryNodeStore()
    ref.update(CompactRange().append([leaf_hash(d) for d in datas]).nodes)
    pk = log.public_key()
    assert pk is not None
    for head in heads:
        verify_tree_head(head, pk, origin=log.origin)
        for i in range(head.size):
            path = log.inclusion_proof(i, head.size)
            assert path == inclusion_proof(i, head.size, ref.get)
            verify_inclusion(leaf_hash(datas[i]), i, head.size, path, head.root)
    for a in heads:
        for b in heads:
            if a.size <= b.size:
                proof = log.consistency_proof(a.size, b.size)
                assert proof == consistency_proof(a.size, b.size, ref.get)
                verify_consistency(a.size, b.size, proof, a.root, b.root)
    assert log.root_at(20) == heads[2].root

    # proof files: under the latest head by default, checked by the library and the stdlib script
    for i in (0, 7, 36):
        proof = log.prove(i, tmp_path / f"p{i}.json")
        res = verify_proof_file(tmp_path / f"p{i}.json", pk)
        assert res.event == events[i] and res.leaf_index == i and res.head.size == 37
        _, _, anchored = offline.verify(proof, (37, heads[-1].root), None)
        assert anchored
    under_old = log.prove(3, head=heads[1])
    assert under_old["tree_size"] == 8
    with pytest.raises(AuditError, match="index 9 under the head of size 8"):
        log.prove(9, head=heads[1])
    with pytest.raises(AuditError, match="beyond the log's size"):
        log.inclusion_proof(0, 38)

    report = log.verify()
    assert (report.size, report.heads_checked, report.latest_signed_size) == (37, 6, 37)
    assert report.nodes_checked == 2 * 37 - (37).bit_count()


def test_prove_signs_a_head_when_none_covers_the_event(audit_log: AuditLog, make_event) -> None:
    audit_log.append([make_event(i) for i in range(3)])
    assert audit_log.signed_head() is None
    proof = audit_log.prove(2)
    assert proof["tree_size"] == 3 and audit_log.signed_head().size == 3  # type: ignore[union-attr]
    audit_log.append([make_event(3)])
    assert audit_log.prove(3)["tree_size"] == 4
    assert audit_log.prove(1)["tree_size"] == 4  # the latest head covers it


def test_sign_head_is_once_per_size(audit_log: AuditLog, make_event) -> None:
    audit_log.append([make_event(0)])
    first = audit_log.sign_head()
    assert audit_log.sign_head() == first
    assert AuditLog(audit_log.workspace, sinks=[]).sign_head() == first
    audit_log.append([make_event(1)])
    assert audit_log.sign_head().size == 2


@pytest.mark.parametrize("chunk", [2, 4, 8, 1 << 15])
def test_verify_every_size_and_chunking(audit_log: AuditLog, make_event, chunk: int) -> None:
    # a signed head at every size checks the verifier's root at every boundary of its chunks
    for i in range(35):
        audit_log.append([make_event(i)])
        audit_log.sign_head()
        r = audit_log.verify(chunk_size=chunk)
        assert r.size == i + 1 and r.heads_checked == i + 1
        assert r.root == audit_log.head().root


def test_record_and_event_filters(audit_log: AuditLog) -> None:
    t0 = datetime(2024, 5, 1, tzinfo=UTC)
    common = {"legal_basis": "art6_1_f_legitimate_interest"}
    for i in range(12):
        idx = audit_log.record(
            "svc:pipeline" if i % 2 else "user:dpo-7",
            ("run.start", "run.stage", "consent.grant")[i % 3],
            purpose=("credit_scoring", "marketing")[i % 2],
            outcome="success",
            counts={"rows": i},
            time=t0 + timedelta(days=i),
            **common,
        )
        assert idx == i
    ev = audit_log.get(4)
    assert ev.event.counts == {"rows": 4} and ev.leaf_hash == leaf_hash(ev.data)
    assert [e.idx for e in audit_log.events(action="run.stage")] == [1, 4, 7, 10]
    assert [e.idx for e in audit_log.events(action="run.*")] == [0, 1, 3, 4, 6, 7, 9, 10]
    assert [e.idx for e in audit_log.events(purpose="marketing", actor="svc:pipeline")] == [
        1,
        3,
        5,
        7,
        9,
        11,
    ]
    assert [e.idx for e in audit_log.events(since="2024-05-10")] == [9, 10, 11]
    assert [
        e.idx for e in audit_log.events(since=t0 + timedelta(days=2), until="2024-05-05T00:00:00Z")
    ] == [2, 3]
    assert [e.idx for e in audit_log.events(newest_first=True, limit=3)] == [11, 10, 9]
    assert [e.idx for e in audit_log.events(start=10)] == [10, 11]
    assert [e.idx for e in audit_log.events(page_size=5)] == list(range(12))
    assert [e.idx for e in audit_log.events(newest_first=True, page_size=5)] == list(
        range(11, -1, -1)
    )
    with pytest.raises(AuditError, match="no event at index 12"):
        audit_log.get(12)
    with pytest.raises(AuditError, match="not an ISO date"):
        list(audit_log.events(since="last tuesday"))


def test_raw_identifiers_are_refused_and_nothing_is_appended(audit_log: AuditLog) -> None:
    with pytest.raises(AuditError, match="pseudonym"):
        audit_log.record(
            "svc",
            "dsr.access",
            purpose="p",
            legal_basis="b",
            outcome="success",
            subjects=["jane.doe@example.com"],
        )
    with pytest.raises(AuditError, match="not an AuditEvent"):
        audit_log.append([{"actor": "x"}])  # type: ignore[list-item]
    assert audit_log.head().size == 0


def test_failed_append_changes_nothing(workspace, make_event) -> None:
    class Null:
        name = "null"

        def send(self, records: object) -> None:
            pass

    log = AuditLog(workspace, sinks=[Null()])
    log.append([make_event(i) for i in range(5)])
    # A stray outbox row for index 7 makes the outbox insert of the next batch fail, after its
    # leaves and nodes were written in the same transaction: all of it must roll back.
    with log.engine.begin() as conn:
        conn.execute(
            audit_outbox.insert().values(
                sink="null", idx=7, attempts=0, next_attempt="2024-01-01T00:00:00.000000Z"
            )
        )
    with pytest.raises(StoreError, match="appending to the audit log: database error"):
        log.append([make_event(i) for i in range(5, 9)])
    assert log.head().size == 5
    with log.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(audit_leaves)).scalar() == 5
        assert conn.execute(sa.select(sa.func.count()).select_from(audit_nodes)).scalar() == 8
    with log.engine.begin() as conn:
        conn.execute(audit_outbox.delete().where(audit_outbox.c.idx == 7))
    assert log.append([make_event(i) for i in range(5, 9)]) == [5, 6, 7, 8]
    assert log.verify().size == 9


def test_inclusion_proof_reads_log_n_nodes_in_one_query(audit_log: AuditLog, make_event) -> None:
    base = [make_event(i) for i in range(64)]
    for _ in range(16):
        audit_log.append(base)  # 1,024 events
    statements: list[str] = []

    def count(conn, cursor, statement, params, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(statement)

    sa.event.listen(audit_log.engine, "before_cursor_execute", count)
    try:
        path = audit_log.inclusion_proof(517, 1000)
    finally:
        sa.event.remove(audit_log.engine, "before_cursor_execute", count)
    node_queries = [s for s in statements if "audit_nodes" in s]
    assert len(node_queries) == 1 and len(path) == 10
    assert len(statements) <= 3  # the state row (size check), the nodes, maybe a pool ping


def test_signing_key_is_sealed_and_registered(audit_log: AuditLog, make_event) -> None:
    from veil.kek.config import workspace_kek
    from veil.kek.sealed import seal_to

    audit_log.append([make_event(0)])
    head = audit_log.sign_head()
    root = audit_log.workspace.root
    path = root / "keys" / "audit_signing.sealed"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not (root / KEY_FILE).exists()  # never a plaintext key file
    raw = load_signing_key(root, create=False).private_bytes_raw()  # type: ignore[union-attr]
    for f in (root / "keys").iterdir():
        assert raw not in f.read_bytes() and b"PRIVATE KEY" not in f.read_bytes(), f
    pk = audit_log.public_key()
    assert pk is not None
    verify_tree_head(head, pk)
    with audit_log.engine.connect() as conn:
        kid = conn.execute(sa.select(audit_state.c.key_id)).scalar()
    assert kid == head.key_id

    # another key, sealed under the same KEK: refused, never silently used
    saved = path.read_bytes()
    path.unlink()
    other = generate_signing_key().private_bytes_raw()
    path.write_bytes(seal_to(path, "audit_signing", other, workspace_kek(root)))
    audit_log.append([make_event(1)])
    with pytest.raises(AuditError, match="not this log's key"):
        AuditLog(audit_log.workspace, sinks=[]).sign_head()
    with pytest.raises(AuditVerifyError, match="not the workspace's signing key"):
        AuditLog(audit_log.workspace, sinks=[]).verify()
    path.unlink()
    with pytest.raises(AuditError, match="signing key is missing"):
        AuditLog(audit_log.workspace, sinks=[]).sign_head()
    path.write_bytes(saved)
    assert AuditLog(audit_log.workspace, sinks=[]).sign_head().size == 2


def test_without_the_kek_no_head_can_be_signed(audit_log: AuditLog, make_event,
                                               monkeypatch) -> None:
    from veil.errors import CryptoError

    audit_log.append([make_event(0)])
    audit_log.sign_head()
    audit_log.append([make_event(1)])
    monkeypatch.delenv("VEIL_KEK")
    with pytest.raises(CryptoError):
        AuditLog(audit_log.workspace, sinks=[]).sign_head()
    assert AuditLog(audit_log.workspace, sinks=[]).verify().size == 2  # verifying needs no KEK


def test_a_plaintext_key_of_an_older_version_is_sealed_and_removed(audit_log: AuditLog,
                                                                   make_event) -> None:
    root = audit_log.workspace.root
    legacy = generate_signing_key()
    (root / "keys").mkdir(exist_ok=True)
    (root / KEY_FILE).write_bytes(private_key_to_pem(legacy))
    audit_log.append([make_event(0)])
    head = audit_log.sign_head()
    verify_tree_head(head, legacy.public_key())
    assert not (root / KEY_FILE).exists()
    assert (root / "keys" / "audit_signing.sealed").is_file()


def test_origin_from_config_is_fixed(workspace, make_event) -> None:
    cfg = workspace.root / "veil.toml"
    cfg.write_text(cfg.read_text() + '\n[audit]\norigin = "bank.example/veil-audit"\n')
    log = AuditLog(workspace, sinks=[])
    log.append([make_event(0)])
    assert log.sign_head().origin == "bank.example/veil-audit"
    cfg.write_text(cfg.read_text().replace("bank.example/veil-audit", "other.example/log"))
    with pytest.raises(AuditError, match="origin is 'bank.example/veil-audit'"):
        AuditLog(workspace, sinks=[]).head()


def test_default_origin_is_unique_per_log(audit_log: AuditLog) -> None:
    assert audit_log.origin.startswith("veil.local/audit-")
    assert AuditLog(audit_log.workspace, sinks=[]).origin == audit_log.origin


def test_proof_from_another_log_is_refused(tmp_path: Path, monkeypatch, make_event) -> None:
    from veil.kek.providers import EnvKEK
    from veil.store.workspace import init_workspace

    monkeypatch.delenv("VEIL_DATABASE_URL", raising=False)
    monkeypatch.setenv("VEIL_KEK", EnvKEK.new_secret())
    a, _ = init_workspace(tmp_path / "a")
    b, _ = init_workspace(tmp_path / "b")
    la, lb = AuditLog(a, sinks=[]), AuditLog(b, sinks=[])
    for log in (la, lb):
        log.append([make_event(i) for i in range(4)])
        log.sign_head()
    proof = la.prove(2)
    with pytest.raises(AuditError, match="wrong key"):
        verify_proof_file(proof, lb.public_key())
    a.close()
    b.close()


def test_export_and_verify_export(audit_log: AuditLog, make_event, tmp_path: Path) -> None:
    log = audit_log
    log.append([make_event(i) for i in range(10)])
    log.sign_head()
    log.append([make_event(i) for i in range(10, 25)])
    out = tmp_path / "audit.jsonl"
    r = log.export(out)  # signs the head at 25 first
    assert (r.size, r.heads_checked, r.latest_signed_size) == (25, 2, 25)
    lines = out.read_bytes().splitlines(keepends=True)
    assert len(lines) == 1 + 25 + 2 + 1
    assert lines[1][:-1] == make_event(0).canonical_bytes()
    assert json.loads(lines[11])["checkpoint"].split("\n")[1] == "10"
    pk = log.public_key()
    ok = verify_export(out, pk)
    assert (ok.size, ok.heads_checked, ok.root, ok.key_trusted) == (25, 2, log.head().root, True)
    assert verify_export(out).key_trusted is False

    def bad(data: bytes, match: str) -> None:
        p = tmp_path / "bad.jsonl"
        p.write_bytes(data)
        with pytest.raises(AuditError, match=match):
            verify_export(p, pk)

    whole = b"".join(lines)
    for cut in (
        len(whole) - 1,
        len(whole) - len(lines[-1]),
        len(b"".join(lines[:5])),
        len(b"".join(lines[:5])) + 7,
        len(lines[0]),
        3,
    ):
        bad(whole[:cut], "truncated")
    bad(b"", "empty")
    edited = lines[3].replace(b'"rows_in":1002', b'"rows_in":1003')
    assert edited != lines[3]
    bad(b"".join(lines[:3] + [edited] + lines[4:]), "head root mismatch")
    bad(b"".join(lines[:3] + lines[4:]), "head")  # a deleted event line
    bad(b"".join(lines[:3] + [lines[4], lines[3]] + lines[5:]), "head root mismatch")
    other = AuditLog(log.workspace, sinks=[])
    del other
    stranger = generate_signing_key().public_key()
    p = tmp_path / "x.jsonl"
    p.write_bytes(whole)
    with pytest.raises(AuditError, match="another log"):
        verify_export(p, stranger)


@pytest.mark.parametrize("shared", [True, False])
def test_concurrent_threads_lose_nothing(audit_log: AuditLog, make_event, shared: bool) -> None:
    errors: list[BaseException] = []
    got: list[list[int]] = []
    lock = threading.Lock()

    def work(t: int) -> None:
        log = audit_log if shared else AuditLog(audit_log.workspace, sinks=[])
        try:
            for b in range(8):
                idx = log.append([make_event(t * 1000 + b * 10 + j) for j in range(1 + b % 3)])
                with lock:
                    got.append(idx)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    flat = sorted(i for batch in got for i in batch)
    total = 4 * sum(1 + b % 3 for b in range(8))
    assert flat == list(range(total))
    for batch in got:  # a batch is contiguous
        assert batch == list(range(batch[0], batch[0] + len(batch)))
    audit_log.sign_head()
    assert audit_log.verify().size == total


def _appender(root: Path, url: str, worker: int, batches: int, start, failures) -> None:
    """One writer in a forked process: its own engine and connections, like a second service
    process (forked rather than a fresh interpreter: the separate process is the point, not its
    start-up; the workers meet at a barrier so their appends overlap)."""
    try:
        os.environ["VEIL_DATABASE_URL"] = url
        ws = Workspace.open(root)
        log = AuditLog(ws, sinks=[])
        t0 = datetime(2024, 5, 1, tzinfo=UTC)
        start.wait()
        for b in range(batches):
            n = worker * 10_000 + b * 10
            log.append([
                AuditEvent(time=t0 + timedelta(seconds=n + j), actor=f"svc:worker-{worker}",
                           action="run.stage", purpose="credit_scoring",
                           legal_basis="contract", outcome="success", counts={"n": n + j})
                for j in range(1 + b % 4)
            ])
        ws.close()
    except BaseException:
        failures.put(traceback.format_exc())
        raise


def test_concurrent_processes_lose_nothing(audit_log: AuditLog) -> None:
    ctx = multiprocessing.get_context("fork")
    start, failures = ctx.Barrier(4), ctx.Queue()
    audit_log.workspace.engine.dispose()  # no pooled connection is inherited by the workers
    procs = [ctx.Process(target=_appender, args=(audit_log.workspace.root,
                                                 audit_log.workspace.database_url, w, 12,
                                                 start, failures))
             for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=180)
    errors = []
    while not failures.empty():
        errors.append(failures.get())
    assert not errors, errors[0][-2000:]
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    total = 4 * sum(1 + b % 4 for b in range(12))
    assert audit_log.head().size == total
    audit_log.sign_head()
    assert audit_log.verify().size == total
    ns = [json.loads(e.data)["counts"]["n"] for e in audit_log.events()]
    assert len(set(ns)) == total
    for w in range(4):  # each worker's events are in its order
        mine = [n for n in ns if n // 10_000 == w]
        assert mine == sorted(mine)


def test_verify_reports_a_bad_head_signature(audit_log: AuditLog, make_event) -> None:
    audit_log.append([make_event(i) for i in range(6)])
    head = audit_log.sign_head()
    note = head.to_note()
    sig_line = note.rstrip("\n").split("\n")[-1]
    prefix, _, sig = sig_line.rpartition(" ")
    flipped = sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:]
    with audit_log.engine.begin() as conn:
        conn.execute(audit_heads.update().values(note=note.replace(sig, flipped)))
    with pytest.raises(AuditVerifyError) as info:
        audit_log.verify()
    assert info.value.check == "bad signature" and info.value.index == 6


def test_verify_reports_an_altered_interior_node(audit_log: AuditLog, make_event) -> None:
    audit_log.append([make_event(i) for i in range(20)])
    with audit_log.engine.begin() as conn:
        conn.execute(
            audit_nodes.update()
            .where(audit_nodes.c.level == 2, audit_nodes.c.idx == 3)
            .values(hash=b"\x00" * 32)
        )
    with pytest.raises(AuditVerifyError) as info:
        audit_log.verify(chunk_size=4)
    assert (info.value.check, info.value.index) == ("bad node", 12)


def test_verify_needs_a_ready_store(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("VEIL_DATABASE_URL", raising=False)
    (tmp_path / "veil.toml").write_text('[workspace]\ndatabase_url = "sqlite:///v.db"\n')
    with pytest.raises(StoreError, match="veil db upgrade"):
        AuditLog(Workspace.open(tmp_path))


def test_event_bytes_are_cached_and_stable(make_event) -> None:
    e = make_event(3)
    again = AuditEvent.from_canonical_bytes(e.canonical_bytes())
    assert again == e and again.canonical_bytes() == e.canonical_bytes()
    assert e.canonical_bytes() is e.canonical_bytes()
