"""Signed tree heads: C2SP checkpoint bytes, Ed25519 sign/verify, tamper detection, keys."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from veil.audit.heads import (
    SignedTreeHead,
    checkpoint_body,
    generate_signing_key,
    key_id,
    load_private_key_pem,
    load_public_key_pem,
    private_key_to_pem,
    public_key_to_pem,
    sign_tree_head,
    verifier_key,
    verify_tree_head,
)
from veil.audit.merkle import root_from_leaves
from veil.errors import AuditError, CryptoError

ORIGIN = "bank.example/veil-audit"
TS = datetime(2024, 5, 1, 12, 0, 0, 250000, tzinfo=UTC)
ROOT = root_from_leaves([b"a", b"b", b"c"])

# RFC 8032 section 7.1, TEST 1: a fixed key makes the signature deterministic.
RFC8032_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUB = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")


@pytest.fixture(scope="module")
def key() -> Ed25519PrivateKey:
    return generate_signing_key()


def test_checkpoint_body_is_c2sp_checkpoint() -> None:
    body = checkpoint_body(ORIGIN, 3, ROOT, TS)
    assert (
        body
        == (
            f"{ORIGIN}\n3\n{base64.b64encode(ROOT).decode()}\n"
            "timestamp 2024-05-01T12:00:00.250000Z\n"
        ).encode()
    )


def test_known_key_id_and_signature() -> None:
    sk = Ed25519PrivateKey.from_private_bytes(RFC8032_SEED)
    pk = sk.public_key()
    assert pk.public_bytes_raw() == RFC8032_PUB
    # C2SP signed-note key hash: SHA-256(name || "\n" || 0x01 || key)[:4]
    expected_id = hashlib.sha256(ORIGIN.encode() + b"\n\x01" + RFC8032_PUB).digest()[:4].hex()
    assert key_id(pk, ORIGIN) == expected_id
    assert verifier_key(pk, ORIGIN) == (
        f"{ORIGIN}+{expected_id}+" + base64.b64encode(b"\x01" + RFC8032_PUB).decode()
    )
    head = sign_tree_head(sk, ORIGIN, 3, ROOT, TS)
    assert head.key_id == expected_id
    # Ed25519 is deterministic: same key, same bytes -> same signature
    assert head.signature == sk.sign(checkpoint_body(ORIGIN, 3, ROOT, TS))
    assert sign_tree_head(sk, ORIGIN, 3, ROOT, TS) == head
    verify_tree_head(head, pk, origin=ORIGIN, size=3, root=ROOT)


def test_note_round_trip(key: Ed25519PrivateKey) -> None:
    head = sign_tree_head(key, ORIGIN, 3, ROOT, TS)
    note = head.to_note()
    body, sig = note.split("\n\n")
    assert body + "\n" == head.signed_bytes().decode()
    assert sig.startswith(f"\u2014 {ORIGIN} ")
    assert SignedTreeHead.from_note(note) == head
    assert SignedTreeHead.from_dict(head.to_dict()) == head
    # cosignatures by other names are tolerated
    witnessed = note + f"\u2014 witness.example {base64.b64encode(bytes(68)).decode()}\n"
    assert SignedTreeHead.from_note(witnessed) == head


def test_tamper_detection(key: Ed25519PrivateKey) -> None:
    pk = key.public_key()
    head = sign_tree_head(key, ORIGIN, 3, ROOT, TS)
    other_root = root_from_leaves([b"a", b"b", b"X"])
    cases = {
        "bad signature": replace(head, size=4),
        "bad signature ": replace(head, root=other_root),
        "bad signature  ": replace(head, timestamp=datetime(2024, 5, 1, tzinfo=UTC)),
        "bad signature   ": replace(
            head, signature=bytes([head.signature[0] ^ 1]) + head.signature[1:]
        ),
        "wrong key": replace(head, origin="other.example/log"),  # key id is bound to the name
    }
    for expected, bad in cases.items():
        with pytest.raises(AuditError, match=expected.strip()):
            verify_tree_head(bad, pk)
    with pytest.raises(AuditError, match="wrong key"):
        verify_tree_head(head, generate_signing_key().public_key())
    with pytest.raises(AuditError, match="origin mismatch"):
        verify_tree_head(head, pk, origin="other.example/log")
    with pytest.raises(AuditError, match="size mismatch"):
        verify_tree_head(head, pk, size=4)
    with pytest.raises(AuditError, match="root mismatch"):
        verify_tree_head(head, pk, root=other_root)
    # a forged key id pointing at the verifier's key still fails on the signature
    other = generate_signing_key()
    forged = replace(sign_tree_head(other, ORIGIN, 3, ROOT, TS), key_id=head.key_id)
    with pytest.raises(AuditError, match="bad signature"):
        verify_tree_head(forged, pk)


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_any_note_byte_change_is_caught(data: st.DataObject) -> None:
    sk = Ed25519PrivateKey.from_private_bytes(RFC8032_SEED)
    head = sign_tree_head(sk, ORIGIN, 12345, ROOT, TS)
    note = head.to_note().encode()
    i = data.draw(st.integers(0, len(note) - 1))
    new = data.draw(st.integers(0, 255).filter(lambda b: b != note[i]))
    bad = note[:i] + bytes([new]) + note[i + 1 :]
    with pytest.raises((AuditError, UnicodeDecodeError)):
        verify_tree_head(SignedTreeHead.from_note(bad.decode("utf-8")), sk.public_key())


@pytest.mark.parametrize(
    "note",
    [
        "no newline at the end",
        "bank.example/veil-audit\n3\n",
        "bank.example/veil-audit\n03\nAAAA\ntimestamp 2024-05-01T12:00:00.000000Z\n\n\u2014 x y\n",
    ],
)
def test_malformed_notes(note: str) -> None:
    with pytest.raises(AuditError):
        SignedTreeHead.from_note(note)


def test_head_validation(key: Ed25519PrivateKey) -> None:
    with pytest.raises(AuditError, match="origin"):
        sign_tree_head(key, "has space", 1, ROOT, TS)
    with pytest.raises(AuditError, match="origin"):
        sign_tree_head(key, "a+b", 1, ROOT, TS)
    with pytest.raises(AuditError, match="root"):
        sign_tree_head(key, ORIGIN, 1, ROOT[:31], TS)
    with pytest.raises(AuditError, match="size"):
        sign_tree_head(key, ORIGIN, -1, ROOT, TS)
    with pytest.raises(AuditError, match="timezone"):
        sign_tree_head(key, ORIGIN, 1, ROOT, datetime(2024, 1, 1))


def test_key_pem_round_trip(key: Ed25519PrivateKey) -> None:
    pem = private_key_to_pem(key)
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert load_private_key_pem(pem).private_bytes_raw() == key.private_bytes_raw()
    enc = private_key_to_pem(key, b"correct horse")
    assert b"ENCRYPTED" in enc
    assert (
        load_private_key_pem(enc, b"correct horse").private_bytes_raw() == key.private_bytes_raw()
    )
    with pytest.raises(CryptoError):
        load_private_key_pem(enc, b"wrong")
    with pytest.raises(CryptoError):
        load_private_key_pem(enc)
    pub = public_key_to_pem(key.public_key())
    assert load_public_key_pem(pub).public_bytes_raw() == key.public_key().public_bytes_raw()
    ec = generate_private_key(SECP256R1())
    with pytest.raises(CryptoError, match="Ed25519"):
        load_public_key_pem(public_key_to_pem(ec.public_key()))  # type: ignore[arg-type]
    with pytest.raises(CryptoError):
        load_public_key_pem(b"not a key")


# golang.org/x/mod/sumdb/note (BSD-3-Clause), package doc and note_test.go: the reference signed
# note. Ed25519 is deterministic, so the same seed must give the same key hash and signature line.
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_SIG = (
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
)


def test_go_sumdb_note_reference_vector() -> None:
    seed = base64.b64decode(GO_SKEY.split("+", 4)[4])
    assert seed[0] == 1  # algorithm byte: Ed25519
    sk = Ed25519PrivateKey.from_private_bytes(seed[1:])
    assert verifier_key(sk.public_key(), "PeterNeumann") == GO_VKEY
    assert key_id(sk.public_key(), "PeterNeumann") == "c74f20a3"
    blob = base64.b64encode(bytes.fromhex("c74f20a3") + sk.sign(GO_TEXT.encode())).decode()
    assert blob == GO_SIG
    # and our note layout is the reference layout: text, empty line, "— name blob"
    head = sign_tree_head(sk, "PeterNeumann", 3, ROOT, TS)
    note = head.to_note()
    expected_line = base64.b64encode(
        bytes.fromhex("c74f20a3") + sk.sign(head.signed_bytes())
    ).decode()
    assert note == head.signed_bytes().decode() + "\n\u2014 PeterNeumann " + expected_line + "\n"
