"""Streaming ciphertexts that were altered in any way are refused, and nothing is published.

Covered: every header byte and sampled bytes of every segment flipped; truncation at and between
segment boundaries; reordered, dropped and duplicated segments; appended data; wrong associated
data; wrong key. Each must raise a CryptoError subclass from `decrypt_file` and leave no output
(neither the destination nor a temporary file), and fail `DecryptingReader` before EOF.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from veil.crypto.errors import CryptoError, TamperedError, WrongKeyError
from veil.crypto.keyset import Keyset
from veil.crypto.streaming import DecryptingReader, decrypt_bytes, decrypt_file, encrypt_bytes

SEG = 4096
HEADER = 40
FIRST_CT = SEG - HEADER
AD = b"ad"


@pytest.fixture(scope="module")
def ks() -> Keyset:
    return Keyset.generate("streaming", segment_size=SEG)


@pytest.fixture(scope="module")
def plain() -> bytes:
    return random.Random(7).randbytes(FIRST_CT - 16 + 4 * (SEG - 16) + 1234)  # 6 segments


@pytest.fixture(scope="module")
def ct(ks: Keyset, plain: bytes) -> bytes:
    c = encrypt_bytes(plain, ks, AD)
    assert decrypt_bytes(c, ks, AD) == plain
    return c


def _bounds(ct: bytes) -> list[tuple[int, int]]:
    """(start, end) of each ciphertext segment."""
    out = [(HEADER, HEADER + FIRST_CT)]
    pos = HEADER + FIRST_CT
    while pos < len(ct):
        out.append((pos, min(pos + SEG, len(ct))))
        pos += SEG
    return out


def _refused(tmp_path: Path, blob: bytes, ks: Keyset, ad: bytes = AD) -> CryptoError:
    folder = tmp_path / f"case-{os.urandom(4).hex()}"
    folder.mkdir()
    src = folder / "in.enc"
    src.write_bytes(blob)
    out_dir = folder / "out"
    out_dir.mkdir()
    dst = out_dir / "plain.bin"
    with pytest.raises(CryptoError) as info:
        decrypt_file(src, dst, ks, ad)
    assert type(info.value) is not CryptoError  # a specific subclass
    assert list(out_dir.iterdir()) == [], "output or temporary file left behind"
    with pytest.raises(CryptoError), DecryptingReader(src, ks, ad) as r:
        while r.read(1000):
            pass
    return info.value


def test_fixture_has_six_segments(ct: bytes) -> None:
    assert len(_bounds(ct)) == 6


def test_every_header_byte_flipped(tmp_path: Path, ks: Keyset, ct: bytes) -> None:
    for pos in range(HEADER):
        for mask in (0x01, 0x80):
            bad = bytearray(ct)
            bad[pos] ^= mask
            _refused(tmp_path, bytes(bad), ks)


def test_sampled_bytes_of_every_segment_flipped(tmp_path: Path, ks: Keyset, ct: bytes) -> None:
    rng = random.Random(1)
    positions: set[int] = set()
    for a, b in _bounds(ct):
        positions |= {a, a + 1, b - 17, b - 16, b - 1}  # first bytes, last data byte, tag
        positions |= {rng.randrange(a, b) for _ in range(4)}
    for pos in sorted(positions):
        bad = bytearray(ct)
        bad[pos] ^= 1 << rng.randrange(8)
        err = _refused(tmp_path, bytes(bad), ks)
        if pos >= HEADER + FIRST_CT:
            assert isinstance(err, TamperedError), pos  # past the first segment: tampering
            assert "segment" in str(err)


def test_truncation_at_and_between_boundaries(tmp_path: Path, ks: Keyset, ct: bytes) -> None:
    cuts = {0, 1, HEADER - 1, HEADER, HEADER + 1, HEADER + 15, HEADER + 16}
    for a, b in _bounds(ct):
        cuts |= {a, a + 1, a + 16, (a + b) // 2, b - 16, b - 1}
        if b < len(ct):
            cuts.add(b)  # exactly at a segment boundary: looks complete but lacks the last flag
    cuts.discard(len(ct))
    for cut in sorted(cuts):
        _refused(tmp_path, ct[:cut], ks)


def test_reordered_dropped_duplicated_segments(tmp_path: Path, ks: Keyset, ct: bytes) -> None:
    b = _bounds(ct)
    seg = [ct[x:y] for x, y in b]
    head = ct[:HEADER]
    variants = [
        head + seg[0] + seg[2] + seg[1] + b"".join(seg[3:]),  # swap two middle segments
        head + seg[0] + seg[1] + seg[2] + seg[4] + seg[3] + seg[5],
        head + seg[0] + b"".join(seg[2:]),  # drop a middle segment
        head + seg[0] + seg[1] + seg[1] + b"".join(seg[2:]),  # replay a segment
        head + seg[0] + b"".join(seg[1:5]),  # drop the last segment
        head + seg[0] + b"".join(seg[1:4]) + seg[5],  # drop the one before last
        head + seg[0] + seg[5],  # last segment moved right after the first
    ]
    for v in variants:
        _refused(tmp_path, v, ks)


def test_segments_spliced_from_another_ciphertext(
    tmp_path: Path, ks: Keyset, plain: bytes, ct: bytes
) -> None:
    other = encrypt_bytes(plain, ks, AD)  # same key, fresh salt and nonce prefix
    x, y = _bounds(ct)[2]
    _refused(tmp_path, ct[:x] + other[x:y] + ct[y:], ks)
    _refused(tmp_path, other[:HEADER] + ct[HEADER:], ks)


def test_appended_data(tmp_path: Path, ks: Keyset, ct: bytes) -> None:
    last = ct[_bounds(ct)[-1][0] :]
    for extra in (b"\x00", os.urandom(16), os.urandom(17), last, os.urandom(SEG)):
        _refused(tmp_path, ct + extra, ks)


def test_wrong_associated_data_and_wrong_key(tmp_path: Path, ks: Keyset, ct: bytes) -> None:
    for ad in (b"", b"ad ", b"AD", b"a"):
        assert isinstance(_refused(tmp_path, ct, ks, ad), WrongKeyError)
    other = Keyset.generate("streaming", segment_size=SEG)
    assert isinstance(_refused(tmp_path, ct, other), WrongKeyError)
    small = Keyset.generate("streaming", derived_key_size=16, segment_size=SEG)
    assert isinstance(_refused(tmp_path, ct, small), WrongKeyError)  # header size differs
    # Right key bytes, wrong segment size: refused as well.
    m = ks.primary.material
    from veil.crypto.keyset import StreamingKey

    assert isinstance(m, StreamingKey)
    resized = Keyset.from_material(StreamingKey(m.key_value, 32, SEG * 2))
    _refused(tmp_path, ct, resized)


def test_default_segment_size_header_and_boundary(tmp_path: Path) -> None:
    """The same on the default 1 MiB segments (a few cases; the rest are size-independent)."""
    ks = Keyset.generate("streaming")
    data = os.urandom((1 << 20) * 2 + 100)
    ct = encrypt_bytes(data, ks, AD)
    assert decrypt_bytes(ct, ks, AD) == data
    first_end = 1 << 20
    for pos in (0, 5, 39, 40, first_end - 1, first_end, first_end + 1000, len(ct) - 1):
        bad = bytearray(ct)
        bad[pos] ^= 4
        _refused(tmp_path, bytes(bad), ks)
    for cut in (first_end, 2 * first_end, len(ct) - 1):
        _refused(tmp_path, ct[:cut], ks)


def test_existing_destination_survives_a_failed_decryption(
    tmp_path: Path, ks: Keyset, ct: bytes
) -> None:
    src = tmp_path / "in.enc"
    src.write_bytes(ct[:-1])
    dst = tmp_path / "plain.bin"
    dst.write_bytes(b"previous good output")
    with pytest.raises(TamperedError):
        decrypt_file(src, dst, ks, AD)
    assert dst.read_bytes() == b"previous good output"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.enc", "plain.bin"]
