"""Tink AES-GCM-HKDF streaming interop, both ways, with official tink-py.

Files written by Veil decrypt with tink-py's streaming AEAD, and files written by tink-py decrypt
with Veil, for empty, 1-byte, odd-sized, exact-segment-boundary and multi-segment inputs, with
1 MiB and 4 KiB segments and 16- and 32-byte derived keys. Ciphertext lengths must agree too: the
segment framing is identical.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from veil.crypto.keyset import Keyset, StreamingKey
from veil.crypto.streaming import (
    DecryptingReader,
    EncryptingWriter,
    decrypt_file,
    encrypt_file,
)

MIB = 1 << 20
AD = b"veil:dataset=loans;run=42"


def _data(n: int) -> bytes:
    # Deterministic, non-repeating pseudo-random bytes (fast for MiBs).
    out = bytearray()
    seed = n.to_bytes(8, "big")
    i = 0
    while len(out) < n:
        out += hashlib.sha512(seed + i.to_bytes(8, "big")).digest() * 64
        i += 1
    return bytes(out[:n])


def _sizes(derived: int, seg: int) -> list[int]:
    first = seg - (1 + derived + 7) - 16
    pt = seg - 16
    return [
        0,
        1,
        1001,  # odd
        first - 1,
        first,  # exactly one (first) segment
        first + 1,
        first + pt,  # exactly two segments
        first + 2 * pt,  # exactly three
        first + 2 * pt + 17,
        int(3.5 * MIB) if seg == MIB else 3 * seg + seg // 2 + 3,  # multi-segment
    ]


def _tink_sa(tink: Any, token: Any, ks: Keyset) -> Any:
    from tink import streaming_aead

    return tink.proto_keyset_format.parse(ks.to_binary(), token).primitive(
        streaming_aead.StreamingAead
    )


def _tink_encrypt(sa: Any, path: Path, data: bytes, ad: bytes) -> None:
    with open(path, "wb") as f, sa.new_encrypting_stream(f, ad) as es:
        # In uneven pieces, like a real producer.
        for i in range(0, len(data), 300_007):
            es.write(data[i : i + 300_007])


def _tink_decrypt(sa: Any, path: Path, ad: bytes) -> bytes:
    with open(path, "rb") as f, sa.new_decrypting_stream(f, ad) as ds:
        return ds.read()


def _expected_len(n: int, derived: int, seg: int) -> int:
    h = 1 + derived + 7
    first = seg - h - 16
    if n <= first:
        return h + n + 16
    rest = n - first
    full, tail = divmod(rest, seg - 16)
    return seg + full * seg + (tail + 16 if tail else 0)


@pytest.mark.parametrize(
    ("derived", "seg"),
    [(32, MIB), (16, MIB), (32, 4096), (16, 4096)],
    ids=["aes256-1MiB", "aes128-1MiB", "aes256-4KiB", "aes128-4KiB"],
)
def test_both_directions(tink: Any, token: Any, tmp_path: Path, derived: int, seg: int) -> None:
    ks = Keyset.generate("streaming", derived_key_size=derived, segment_size=seg)
    sa = _tink_sa(tink, token, ks)
    for n in _sizes(derived, seg):
        data = _data(n)
        src = tmp_path / f"plain-{n}"
        src.write_bytes(data)

        # Veil -> tink
        v_ct = tmp_path / f"veil-{n}.enc"
        encrypt_file(src, v_ct, ks, AD)
        assert v_ct.stat().st_size == _expected_len(n, derived, seg), n
        assert _tink_decrypt(sa, v_ct, AD) == data, n

        # tink -> Veil (file API and reader API)
        t_ct = tmp_path / f"tink-{n}.enc"
        _tink_encrypt(sa, t_ct, data, AD)
        assert t_ct.stat().st_size == v_ct.stat().st_size, n
        out = tmp_path / f"out-{n}"
        decrypt_file(t_ct, out, ks, AD)
        assert out.read_bytes() == data, n
        with DecryptingReader(t_ct, ks, AD) as r:
            assert r.read() == data

        # The writer API makes what tink reads, too.
        w_ct = tmp_path / f"writer-{n}.enc"
        with EncryptingWriter(w_ct, ks, AD) as w:
            for i in range(0, n, 77_777):
                w.write(data[i : i + 77_777])
        assert w_ct.stat().st_size == v_ct.stat().st_size
        assert _tink_decrypt(sa, w_ct, AD) == data
        for p in (src, v_ct, t_ct, out, w_ct):
            p.unlink()


def test_tink_generated_keyset_and_veil_generated_keyset(
    tink: Any, token: Any, tmp_path: Path
) -> None:
    from tink import streaming_aead

    h = tink.new_keyset_handle(streaming_aead.streaming_aead_key_templates.AES256_GCM_HKDF_1MB)
    ks = Keyset.from_binary(tink.proto_keyset_format.serialize(h, token))
    sa = h.primitive(streaming_aead.StreamingAead)
    data = _data(MIB + 12345)
    t_ct = tmp_path / "t.enc"
    _tink_encrypt(sa, t_ct, data, b"")
    out = tmp_path / "out"
    decrypt_file(t_ct, out, ks)  # empty associated data
    assert out.read_bytes() == data
    src = tmp_path / "src"
    src.write_bytes(data)
    v_ct = tmp_path / "v.enc"
    bare = ks.primary.material
    assert isinstance(bare, StreamingKey)
    encrypt_file(src, v_ct, bare)  # a bare StreamingKey works too
    assert _tink_decrypt(sa, v_ct, b"") == data


def test_multiple_keys_are_tried_like_tink(tink: Any, token: Any, tmp_path: Path) -> None:
    """No key id in streaming ciphertext: each side tries every enabled key."""
    old = Keyset.generate("streaming")
    new = old.rotate()  # new primary, old key kept
    assert new.primary_key_id != old.primary_key_id
    data = _data(2 * MIB + 5)
    src = tmp_path / "src"
    src.write_bytes(data)

    # Veil wrote under the old key; tink holding the rotated keyset still reads it.
    v_ct = tmp_path / "v.enc"
    encrypt_file(src, v_ct, old, AD)
    assert _tink_decrypt(_tink_sa(tink, token, new), v_ct, AD) == data

    # tink wrote under the new primary; Veil holding a keyset whose primary is the old key (the
    # new one listed second) still reads it.
    t_ct = tmp_path / "t.enc"
    _tink_encrypt(_tink_sa(tink, token, new), t_ct, data, AD)
    reordered = new.with_primary(old.primary_key_id)
    out = tmp_path / "out"
    decrypt_file(t_ct, out, reordered, AD)
    assert out.read_bytes() == data

    # A keyset mixing segment sizes and key sizes still finds the right key.
    mixed = Keyset.generate("streaming", derived_key_size=16, segment_size=4096)
    mixed = mixed.rotate(StreamingKey.generate(32, 8192)).rotate(new.primary.material)  # type: ignore[arg-type]
    mixed = mixed.with_primary(mixed.entries[0].key_id)
    out2 = tmp_path / "out2"
    decrypt_file(t_ct, out2, mixed, AD)
    assert out2.read_bytes() == data

    # Once the old key is disabled, its ciphertexts no longer open (in Veil and in tink).
    disabled = new.with_status(old.primary_key_id, "DISABLED")
    from veil.crypto.errors import WrongKeyError

    with pytest.raises(WrongKeyError):
        decrypt_file(v_ct, tmp_path / "nope", disabled, AD)
    assert not (tmp_path / "nope").exists()
    with pytest.raises(tink.TinkError):
        _tink_decrypt(_tink_sa(tink, token, disabled), v_ct, AD)


def test_tink_rejects_veil_output_under_wrong_associated_data(
    tink: Any, token: Any, tmp_path: Path
) -> None:
    ks = Keyset.generate("streaming")
    src = tmp_path / "src"
    src.write_bytes(os.urandom(5000))
    ct = tmp_path / "ct"
    encrypt_file(src, ct, ks, AD)
    with pytest.raises(tink.TinkError):
        _tink_decrypt(_tink_sa(tink, token, ks), ct, AD + b"x")
