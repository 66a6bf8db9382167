"""Proof files: build, verify in the library, and verify with the stdlib-only offline script."""

from __future__ import annotations

import base64
import copy
import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import veil.audit.offline_verify as offline
from veil.audit.event import AuditEvent
from veil.audit.heads import generate_signing_key, public_key_to_pem, sign_tree_head
from veil.audit.merkle import CompactRange, MemoryNodeStore, leaf_hash, root_from_inclusion_proof
from veil.audit.proofs import PROOF_FORMAT, build_proof, verify_proof_file, write_proof_file
from veil.errors import AuditError

ORIGIN = "bank.example/veil-audit"
N = 37


def _event(i: int) -> AuditEvent:
    return AuditEvent(
        time=datetime(2024, 5, 1, tzinfo=UTC) + timedelta(seconds=i),
        actor="svc:pipeline",
        action="dsr.access" if i % 2 else "run.publish",
        purpose="credit_scoring",
        legal_basis="art6_1_b_contract",
        outcome="success",
        data_categories=["financial"],
        counts={"rows_in": 100 + i},
        subjects=["cust:" + f"{i:064x}"],
        digests={"output": "sha256:" + "cd" * 32},
        details={"run": i, "note": "Zürich branch"},
    )


class Log:
    def __init__(self, key: Ed25519PrivateKey) -> None:
        self.key = key
        self.store = MemoryNodeStore()
        self.events = [_event(i).canonical_bytes() for i in range(N)]
        res = CompactRange().append(
            [AuditEvent.from_canonical_bytes(b).leaf_hash() for b in self.events]
        )
        self.store.update(res.nodes)
        self.head = sign_tree_head(
            key, ORIGIN, res.size, res.root, datetime(2024, 5, 2, tzinfo=UTC)
        )

    def proof(self, i: int) -> dict[str, Any]:
        return build_proof(
            event_bytes=self.events[i],
            leaf_index=i,
            head=self.head,
            get_node=self.store.get,
            public_key=self.key.public_key(),
        )


@pytest.fixture(scope="module")
def log() -> Log:
    return Log(generate_signing_key())


def test_build_and_verify(log: Log, tmp_path: Path) -> None:
    for i in (0, 1, 17, N - 1):
        proof = log.proof(i)
        assert proof["format"] == PROOF_FORMAT
        path = tmp_path / f"p{i}.json"
        write_proof_file(path, proof)
        res = verify_proof_file(path, log.key.public_key())
        assert res.event == _event(i) and res.leaf_index == i and res.key_trusted
        assert res.head == log.head
        assert verify_proof_file(proof).key_trusted is False


def test_build_refuses_wrong_event(log: Log) -> None:
    with pytest.raises(AuditError, match="root mismatch"):
        build_proof(
            event_bytes=log.events[3],
            leaf_index=4,
            head=log.head,
            get_node=log.store.get,
            public_key=log.key.public_key(),
        )


def _mutations(proof: dict[str, Any], log: Log) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}

    def mut(name: str, **changes: Any) -> None:
        p = copy.deepcopy(proof)
        p.update(changes)
        out[name] = p

    other = _event(99).canonical_bytes()
    mut("other event", event=base64.b64encode(other).decode())
    edited = json.loads(base64.b64decode(proof["event"]))
    edited["counts"]["rows_in"] += 1
    mut("edited event", event=base64.b64encode(json.dumps(edited).encode()).decode())
    mut("index + 1", leaf_index=proof["leaf_index"] + 1)
    mut("size - 1", tree_size=proof["tree_size"] - 1)
    path = list(proof["inclusion_path"])
    path[0] = ("0" if path[0][0] != "0" else "1") + path[0][1:]
    mut("flipped path", inclusion_path=path)
    mut("short path", inclusion_path=proof["inclusion_path"][:-1])
    mut("long path", inclusion_path=[*proof["inclusion_path"], proof["inclusion_path"][0]])
    mut("origin", origin="other.example/log")
    lines = proof["checkpoint"].split("\n")
    lines[1] = str(int(lines[1]) + 1)
    mut("checkpoint size", checkpoint="\n".join(lines), tree_size=int(lines[1]))
    # a re-signed head by an attacker's key over a forged root, with the attacker's key embedded
    evil = generate_signing_key()
    forged_root = bytes(32)
    forged = sign_tree_head(evil, ORIGIN, proof["tree_size"], forged_root, log.head.timestamp)
    mut(
        "attacker key",
        checkpoint=forged.to_note(),
        public_key=public_key_to_pem(evil.public_key()).decode(),
    )
    mut("unknown field", extra=1)
    p = copy.deepcopy(proof)
    del p["public_key"]
    out["missing field"] = p
    mut("format", format="veil-audit-proof/v0")
    return out


def test_library_rejects_tampering(log: Log) -> None:
    proof = log.proof(5)
    for name, bad in _mutations(proof, log).items():
        with pytest.raises(AuditError):
            verify_proof_file(bad, log.key.public_key())
        if name != "attacker key":  # self-consistent without a trusted key: that is the point
            with pytest.raises(AuditError):
                verify_proof_file(bad)


def test_library_error_messages_name_the_check(log: Log) -> None:
    proof = log.proof(5)
    bad = _mutations(proof, log)
    expect = {
        "flipped path": "root mismatch",
        "short path": "wrong proof size",
        "size - 1": "size mismatch",
        "attacker key": "wrong key",
        "edited event": "canonical",
        "origin": "origin mismatch",
    }
    for name, fragment in expect.items():
        with pytest.raises(AuditError, match=fragment):
            verify_proof_file(bad[name], log.key.public_key())


# --- the offline, standard-library-only verifier -------------------------------------------------


@pytest.fixture(scope="module")
def standalone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of offline_verify.py outside the package, as an auditor would have it."""
    dst = tmp_path_factory.mktemp("auditor") / "offline_verify.py"
    shutil.copy(offline.__file__, dst)
    return dst


def _run(script: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # -I: isolated (no user site, no PYTHON* env, script dir not special); -S: no site-packages,
    # so neither veil nor cryptography can be imported: a bare standard library.
    return subprocess.run(
        [sys.executable, "-I", "-S", str(script), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_offline_script_uses_only_the_stdlib(standalone: Path) -> None:
    probe = (
        "import sys, runpy; runpy.run_path(sys.argv[1], run_name='not_main'); "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('veil', 'cryptography')]; "
        "print(bad)"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe, str(standalone)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "[]"


def test_offline_verify_anchored_by_size_and_root(
    log: Log, tmp_path: Path, standalone: Path
) -> None:
    path = tmp_path / "p.json"
    write_proof_file(path, log.proof(11))
    size = str(log.head.size)
    ok = _run(standalone, str(path), "--size", size, "--root", log.head.root.hex())
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "VERIFIED" in ok.stdout and "NOT CHECKED" in ok.stdout  # no cryptography under -S
    assert '"action": "dsr.access"' in ok.stdout  # the event is shown to the auditor
    b64root = base64.b64encode(log.head.root).decode()
    assert _run(standalone, str(path), "--size", size, "--root", b64root).returncode == 0
    # without a trusted checkpoint: consistent, but not anchored
    unanchored = _run(standalone, str(path))
    assert unanchored.returncode == 3 and "NOT ANCHORED" in unanchored.stdout
    # a different trusted root or size fails
    wrong = _run(standalone, str(path), "--size", size, "--root", "00" * 32)
    assert wrong.returncode == 1 and "root mismatch" in wrong.stdout
    wrong = _run(standalone, str(path), "--size", str(log.head.size + 1), "--root", b64root)
    assert wrong.returncode == 1 and "size mismatch" in wrong.stdout
    # usage errors
    assert _run(standalone, str(path), "--root", b64root).returncode == 2  # root without size
    assert _run(standalone, str(path), "--size", size, "--root", "xyz").returncode == 2
    assert _run(standalone, str(tmp_path / "missing.json")).returncode == 2


def test_offline_verify_rejects_tampering(log: Log, tmp_path: Path, standalone: Path) -> None:
    proof = log.proof(20)
    anchor = ("--size", str(log.head.size), "--root", log.head.root.hex())
    for name, bad in _mutations(proof, log).items():
        if name == "edited event":
            continue  # canonical form is the library's check; the leaf hash still catches it below
        path = tmp_path / "bad.json"
        write_proof_file(path, bad)
        res = _run(standalone, str(path), *anchor)
        assert res.returncode == 1, (name, res.stdout, res.stderr)
        assert res.stdout.startswith("FAILED:"), name
    edited = _mutations(proof, log)["edited event"]
    with pytest.raises(offline.ProofError, match="root mismatch"):
        offline.verify(edited, (log.head.size, log.head.root))


def test_offline_verify_in_process_with_signature(log: Log, tmp_path: Path) -> None:
    """With `cryptography` importable (as in this venv) the script also checks the signature."""
    proof = log.proof(3)
    event, report, anchored = offline.verify(proof, None, public_key_to_pem(log.key.public_key()))
    assert anchored and any("signature:  OK (valid under the trusted" in line for line in report)
    assert event == _event(3).to_json_obj()
    _, report, anchored = offline.verify(proof)
    assert not anchored and any("embedded" in line for line in report)
    other = public_key_to_pem(generate_signing_key().public_key())
    with pytest.raises(offline.ProofError, match="wrong key"):
        offline.verify(proof, None, other)
    bad = copy.deepcopy(proof)
    sig_line = bad["checkpoint"].split("\n")[-2]
    raw = bytearray(base64.b64decode(sig_line.split(" ")[-1]))
    raw[10] ^= 1
    bad["checkpoint"] = bad["checkpoint"].replace(
        sig_line.split(" ")[-1], base64.b64encode(raw).decode()
    )
    with pytest.raises(offline.ProofError, match="bad signature"):
        offline.verify(bad, None, public_key_to_pem(log.key.public_key()))
    # the library agrees
    with pytest.raises(AuditError, match="bad signature"):
        verify_proof_file(bad, log.key.public_key())
    pem_path = tmp_path / "key.pem"
    pem_path.write_bytes(public_key_to_pem(log.key.public_key()))
    proof_path = tmp_path / "p.json"
    write_proof_file(proof_path, proof)
    assert offline.main([str(proof_path), "--public-key", str(pem_path), "--quiet"]) == 0


def test_offline_and_library_agree_on_the_merkle_rules(log: Log) -> None:
    """Same leaf, same path, perturbed index/size/path: both accept or both reject, same root."""
    for i in range(N):
        proof = log.proof(i)
        path = [bytes.fromhex(h) for h in proof["inclusion_path"]]
        lh = offline.leaf_hash(log.events[i])
        assert lh == leaf_hash(log.events[i])
        assert offline.root_from_inclusion_proof(lh, i, N, path) == log.head.root
        variants = [
            (j, n, path) for j in (i - 1, i, i + 1, i ^ 2) for n in (N - 1, N, N + 1, 2 * N)
        ]
        variants += [(i, N, path[:-1]), (i, N, [*path, path[0]]), (i, N, [b"", *path[1:]])]
        for j, n, p in variants:
            try:
                ours = offline.root_from_inclusion_proof(lh, j, n, p)
            except offline.ProofError:
                ours = None
            try:
                theirs = root_from_inclusion_proof(lh, j, n, p)
            except AuditError:
                theirs = None
            assert ours == theirs, (i, j, n)


def test_verify_proof_anchored_needs_a_key_or_a_head_you_trust(log: Log) -> None:
    """The check `veil audit verify-proof` makes, for a Python caller: a proof is accepted only
    when anchored to the log's key or to a head (size and root) the caller trusts."""
    from veil.audit.proofs import TrustedHead, verify_proof_anchored

    proof = log.proof(5)
    with pytest.raises(AuditError, match="nothing to anchor the proof"):
        verify_proof_anchored(proof)
    by_key = verify_proof_anchored(proof, public_key=log.key.public_key())
    assert by_key.key_trusted and by_key.leaf_index == 5
    trusted = TrustedHead(log.head.size, log.head.root)
    by_head = verify_proof_anchored(proof, trusted_head=trusted)
    assert not by_head.key_trusted and by_head.head == log.head
    with pytest.raises(AuditError, match="size mismatch"):
        verify_proof_anchored(proof, trusted_head=TrustedHead(log.head.size - 1, log.head.root))
    with pytest.raises(AuditError, match="root mismatch"):
        verify_proof_anchored(proof, trusted_head=TrustedHead(log.head.size, b"\0" * 32))
    other = generate_signing_key().public_key()
    with pytest.raises(AuditError):
        verify_proof_anchored(proof, public_key=other, trusted_head=trusted)


def test_a_log_verifies_proofs_against_its_own_key(  # type: ignore[no-untyped-def]
    audit_log, make_event
) -> None:
    from veil.audit.proofs import TrustedHead

    with pytest.raises(AuditError, match="no key yet"):
        audit_log.verify_proof({})
    audit_log.append([make_event(i) for i in range(9)])
    proof = audit_log.prove(4)
    assert audit_log.verify_proof(proof).key_trusted
    head = audit_log.signed_head()
    assert audit_log.verify_proof(proof, trusted_head=TrustedHead(head.size, head.root))
    with pytest.raises(AuditError, match="root mismatch"):
        audit_log.verify_proof(proof, trusted_head=TrustedHead(head.size, b"\1" * 32))
