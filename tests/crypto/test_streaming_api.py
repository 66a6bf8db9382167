"""The streaming API's behaviour: round trips under any chunking, atomic publication, aborts,
memory bound."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from veil.crypto.errors import KeysetError, TamperedError
from veil.crypto.keyset import Keyset, StreamingKey
from veil.crypto.streaming import (
    DecryptingReader,
    EncryptingWriter,
    decrypt_bytes,
    decrypt_file,
    encrypt_bytes,
    encrypt_file,
)


@settings(max_examples=150, deadline=None)
@given(
    data=st.binary(max_size=3000),
    derived=st.sampled_from([16, 32]),
    seg_extra=st.integers(min_value=1, max_value=400),
    chunks=st.lists(st.integers(min_value=1, max_value=900), min_size=1, max_size=8),
    reads=st.lists(st.integers(min_value=1, max_value=900), min_size=1, max_size=8),
    ad=st.binary(max_size=40),
)
def test_round_trip_any_chunking(
    data: bytes, derived: int, seg_extra: int, chunks: list[int], reads: list[int], ad: bytes
) -> None:
    key = StreamingKey.generate(derived, 1 + derived + 7 + 16 + seg_extra)  # tiny segments
    sink = io.BytesIO()
    with EncryptingWriter(sink, key, ad) as w:
        pos, i = 0, 0
        while pos < len(data):
            n = chunks[i % len(chunks)]
            assert w.write(data[pos : pos + n]) == len(data[pos : pos + n])
            pos += n
            i += 1
    ct = sink.getvalue()
    assert decrypt_bytes(ct, key, ad) == data
    # Same framing as a one-shot encryption.
    assert len(encrypt_bytes(data, key, ad)) == len(ct)
    out = bytearray()
    with DecryptingReader(io.BytesIO(ct), key, ad) as r:
        i = 0
        while True:
            piece = r.read(reads[i % len(reads)])
            if not piece:
                break
            out += piece
            i += 1
    assert bytes(out) == data


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=5000))
def test_file_round_trip(tmp_path: Path, data: bytes) -> None:
    ks = Keyset.generate("streaming", segment_size=512)
    src, enc, dec = tmp_path / "a", tmp_path / "a.enc", tmp_path / "a.dec"
    src.write_bytes(data)
    encrypt_file(src, enc, ks, "ctx")  # str associated data is UTF-8
    decrypt_file(enc, dec, ks, b"ctx")
    assert dec.read_bytes() == data


def test_readinto_and_readall(tmp_path: Path) -> None:
    ks = Keyset.generate("streaming", segment_size=1024)
    data = os.urandom(10_000)
    ct = encrypt_bytes(data, ks)
    r = DecryptingReader(io.BytesIO(ct), ks)
    buf = bytearray(3000)
    n = r.readinto(buf)
    assert 0 < n <= 3000 and bytes(buf[:n]) == data[:n]
    assert r.readall() == data[n:]
    assert r.read(10) == b""
    r.close()
    with pytest.raises(ValueError):
        r.read(1)
    # A source with only read() (no readinto) works too.

    class ReadOnly:
        def __init__(self, b: bytes) -> None:
            self._b = io.BytesIO(b)

        def read(self, n: int) -> bytes:
            return self._b.read(min(n, 777))  # short reads

    with DecryptingReader(ReadOnly(ct), ks) as r2:  # type: ignore[arg-type]
        assert r2.read() == data


def test_writer_to_path_is_atomic_and_abort_publishes_nothing(tmp_path: Path) -> None:
    ks = Keyset.generate("streaming", segment_size=1024)
    dst = tmp_path / "out.enc"
    with pytest.raises(RuntimeError), EncryptingWriter(dst, ks) as w:
        w.write(os.urandom(5000))
        assert not dst.exists()  # nothing published while writing
        raise RuntimeError("producer failed")
    assert list(tmp_path.iterdir()) == []

    w = EncryptingWriter(dst, ks)
    w.write(b"abc")
    del w  # dropped unclosed: never finished implicitly
    import gc

    gc.collect()
    assert list(tmp_path.iterdir()) == []

    with EncryptingWriter(dst, ks) as w:
        w.write(b"abc")
    assert decrypt_bytes(dst.read_bytes(), ks) == b"abc"
    assert [p.name for p in tmp_path.iterdir()] == ["out.enc"]


def test_writer_abort_on_file_object_leaves_a_detectably_truncated_stream() -> None:
    ks = Keyset.generate("streaming", segment_size=1024)
    for n in (10, 5000):
        sink = io.BytesIO()
        with pytest.raises(RuntimeError), EncryptingWriter(sink, ks) as w:
            w.write(os.urandom(n))
            raise RuntimeError
        assert not sink.closed  # a caller's file object is not closed
        with pytest.raises(TamperedError):
            decrypt_bytes(sink.getvalue(), ks)


def test_failed_encryption_leaves_nothing(tmp_path: Path) -> None:
    ks = Keyset.generate("streaming")
    with pytest.raises(FileNotFoundError):
        encrypt_file(tmp_path / "missing", tmp_path / "x.enc", ks)
    assert list(tmp_path.iterdir()) == []


def test_wrong_keyset_kind_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KeysetError):
        encrypt_bytes(b"x", Keyset.generate("aead"))
    with pytest.raises(TypeError):
        encrypt_bytes(b"x", b"raw key bytes")  # type: ignore[arg-type]


def test_memory_stays_flat(tmp_path: Path) -> None:
    """Python allocations during a 24 MiB round trip stay at a few segments."""
    ks = Keyset.generate("streaming")
    src = tmp_path / "big"
    with open(src, "wb") as f:
        block = os.urandom(1 << 20)
        f.writelines(block for _ in range(24))
    tracemalloc.start()
    try:
        encrypt_file(src, tmp_path / "big.enc", ks)
        _, enc_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        decrypt_file(tmp_path / "big.enc", tmp_path / "big.dec", ks)
        _, dec_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert enc_peak < 8 << 20, enc_peak
    assert dec_peak < 8 << 20, dec_peak
    assert (tmp_path / "big.dec").read_bytes() == src.read_bytes()


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")
def test_streaming_adds_little_to_peak_rss(tmp_path: Path) -> None:
    """In a fresh interpreter, a 96 MiB encrypt + decrypt raises the peak RSS (VmHWM, which,
    unlike ru_maxrss, does not inherit pytest's peak) by a few MB over what the imports took.
    A 64 MiB allocation afterwards must show up, proving the measurement is live."""
    src = tmp_path / "big"
    with open(src, "wb") as f:
        block = os.urandom(1 << 20)
        f.writelines(block for _ in range(96))
    code = textwrap.dedent(f"""
        def hwm():
            with open("/proc/self/status") as f:
                return next(int(l.split()[1]) for l in f if l.startswith("VmHWM:"))
        from veil.crypto.keyset import Keyset
        from veil.crypto.streaming import encrypt_file, decrypt_file
        ks = Keyset.generate("streaming")
        base = hwm()
        encrypt_file({str(src)!r}, {str(src)!r} + ".enc", ks)
        decrypt_file({str(src)!r} + ".enc", {str(src)!r} + ".dec", ks)
        after = hwm()
        ballast = bytearray(64 << 20)
        ballast[::4096] = b"x" * len(ballast[::4096])
        print(base, after, hwm())
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    base_kib, peak_kib, control_kib = map(int, out.stdout.split())
    assert control_kib - peak_kib > 48 * 1024, "VmHWM did not register a 64 MiB allocation"
    assert peak_kib - base_kib < 16 * 1024, f"RSS grew {peak_kib - base_kib} KiB over imports"
    assert (tmp_path / "big.dec").stat().st_size == 96 << 20


def test_fallback_without_encrypt_into(monkeypatch: pytest.MonkeyPatch) -> None:
    """Older cryptography (no encrypt_into/decrypt_into) gives byte-identical framing."""
    from veil.crypto import streaming

    ks = Keyset.generate("streaming", segment_size=1024)
    data = os.urandom(5000)
    fast = encrypt_bytes(data, ks, b"a")
    monkeypatch.setattr(streaming, "_HAS_INTO", False)
    slow = encrypt_bytes(data, ks, b"a")
    assert len(slow) == len(fast)
    assert decrypt_bytes(slow, ks, b"a") == data
    assert decrypt_bytes(fast, ks, b"a") == data
    with pytest.raises(TamperedError):
        decrypt_bytes(slow[:-1], ks, b"a")
