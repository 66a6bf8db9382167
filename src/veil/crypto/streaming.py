"""Files and streams in Tink's AES-GCM-HKDF streaming AEAD format.

The format (https://developers.google.com/tink/streaming-aead/aes_gcm_hkdf_streaming), exactly as
Tink writes it, so official Tink (Java, Go, C++, Python) reads what Veil writes and vice versa:

    ciphertext = header || segment_0 || segment_1 || ... || segment_{n-1}
    header     = len(header) (1 byte: 24 or 40) || salt (derived key size) || nonce prefix (7 bytes)
    AES key    = HKDF(hash, ikm=key value, salt=salt, info=associated data, length=derived key size)
    segment_i  = AES-GCM(AES key, nonce_i, M_i, no AAD)  (ciphertext || 16-byte tag)
    nonce_i    = nonce prefix || i (4 bytes, big-endian) || 1 if last segment else 0 (1 byte)

Ciphertext segments are ``segment_size`` bytes (1 MiB by default) except the first, which is shorter
by the header, and the last, which may be shorter. Every segment is authenticated before its
plaintext is released, and the last-segment flag makes truncation at a segment boundary detectable.

AES-GCM and HKDF come from ``cryptography`` (OpenSSL); this module only does the framing.
Keysets may hold several streaming keys: as in Tink, the ciphertext carries no key id, so
decryption tries each enabled key on the first segment and keeps the one that authenticates it.

Public surface: `encrypt_file`, `decrypt_file` (atomic: a temporary file beside the destination,
renamed only after the last segment is written and verified), `EncryptingWriter`,
`DecryptingReader` (file-like, context managers), and `encrypt_bytes` / `decrypt_bytes`.
"""

from __future__ import annotations

import io
import os
import secrets
import struct
import tempfile
from collections.abc import Callable, Generator
from typing import IO, Any, BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from veil.crypto.errors import (
    CryptoError,
    KeysetError,
    NotCiphertextError,
    TamperedError,
    WrongKeyError,
)
from veil.crypto.keyset import Keyset, StreamingKey

__all__ = [
    "DecryptingReader",
    "EncryptingWriter",
    "decrypt_bytes",
    "decrypt_file",
    "encrypt_bytes",
    "encrypt_file",
]

TAG_SIZE = 16
NONCE_PREFIX_SIZE = 7
MAX_SEGMENTS = 2**32  # the segment counter is 4 bytes
_HEADER_LENGTHS = (24, 40)  # 1 + derived key size (16 or 32) + 7
_COUNTER = struct.Struct(">IB").pack
_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "SHA1": hashes.SHA1,
    "SHA256": hashes.SHA256,
    "SHA512": hashes.SHA512,
}

StrPath = str | os.PathLike[str]
KeyLike = Keyset | StreamingKey
ReadInto = Callable[[memoryview], int]


# --------------------------------------------------------------------------------------------
# keys and segment geometry


def streaming_keys(key: KeyLike) -> list[StreamingKey]:
    """Enabled streaming keys, primary first."""
    if isinstance(key, StreamingKey):
        return [key]
    if isinstance(key, Keyset):
        if key.kind != "streaming":
            raise KeysetError(
                f"a {key.kind} keyset cannot encrypt streams (needs AesGcmHkdfStreamingKey)"
            )
        keys = [e.material for e in key.enabled("streaming")]
        return [k for k in keys if isinstance(k, StreamingKey)]
    raise TypeError(f"expected a Keyset or StreamingKey, not {type(key).__name__}")


def _derive(key: StreamingKey, salt: bytes, associated_data: bytes) -> AESGCM:
    hkdf = HKDF(
        algorithm=_HASHES[key.hkdf_hash](),
        length=key.derived_key_size,
        salt=salt,
        info=associated_data,
    )
    return AESGCM(hkdf.derive(key.key_value))


# cryptography >= 45 encrypts and decrypts into caller buffers (no copy per segment); older
# versions fall back to allocating calls (same output, slower).
_HAS_INTO = hasattr(AESGCM, "encrypt_into") and hasattr(AESGCM, "decrypt_into")


def _encrypt_into(aes: AESGCM, nonce: bytes, pt: memoryview, out: memoryview) -> None:
    if _HAS_INTO:
        aes.encrypt_into(nonce, pt, None, out)
    else:
        out[:] = aes.encrypt(nonce, bytes(pt), None)


def _decrypt_into(aes: AESGCM, nonce: bytes, ct: memoryview, out: memoryview) -> None:
    if _HAS_INTO:
        aes.decrypt_into(nonce, ct, None, out)
    else:
        out[:] = aes.decrypt(nonce, bytes(ct), None)


def _aad(associated_data: bytes | str) -> bytes:
    if isinstance(associated_data, str):
        return associated_data.encode("utf-8")
    return bytes(associated_data)


class _SegmentEncrypter:
    """Header plus per-segment encryption for one new ciphertext."""

    __slots__ = ("aes", "first_pt", "header", "index", "prefix", "pt_size")

    def __init__(self, key: StreamingKey, associated_data: bytes) -> None:
        salt = secrets.token_bytes(key.derived_key_size)
        self.prefix = secrets.token_bytes(NONCE_PREFIX_SIZE)
        self.header = bytes([key.header_length]) + salt + self.prefix
        self.aes = _derive(key, salt, associated_data)
        self.pt_size = key.segment_size - TAG_SIZE
        self.first_pt = self.pt_size - key.header_length
        self.index = 0

    def encrypt_into(self, pt: memoryview, out: memoryview, last: bool) -> memoryview:
        i = self.index
        if i >= MAX_SEGMENTS:
            raise CryptoError("stream too long: more than 2**32 segments")
        n = len(pt) + TAG_SIZE
        view = out[:n]
        _encrypt_into(self.aes, self.prefix + _COUNTER(i, last), pt, view)
        self.index = i + 1
        return view


# --------------------------------------------------------------------------------------------
# byte plumbing


def _readfull(readinto: ReadInto, mv: memoryview) -> int:
    """Fill ``mv`` unless the source ends first; returns the number of bytes read."""
    want = len(mv)
    n = readinto(mv) or 0
    total = n
    while n and total < want:
        n = readinto(mv[total:]) or 0
        total += n
    return total


def _readinto_of(f: Any) -> ReadInto:
    ri = getattr(f, "readinto", None)
    if ri is not None:
        return ri  # type: ignore[no-any-return]

    def readinto(mv: memoryview) -> int:
        data = f.read(len(mv))
        k = len(data)
        mv[:k] = data
        return k

    return readinto


class _Pushback:
    """A readinto source that first returns bytes already read (after key detection)."""

    __slots__ = ("pending", "raw")

    def __init__(self, raw: ReadInto, pending: memoryview) -> None:
        self.raw = raw
        self.pending = pending

    def readinto(self, mv: memoryview) -> int:
        p = self.pending
        if p:
            k = min(len(p), len(mv))
            mv[:k] = p[:k]
            self.pending = p[k:]
            if k < len(mv):
                return k + (self.raw(mv[k:]) or 0)
            return k
        return self.raw(mv) or 0


def _write_all(write: Callable[[Any], int | None], mv: memoryview) -> None:
    n = write(mv)
    if n is None or n >= len(mv):
        return
    mv = mv[n:]
    while mv:
        n = write(mv)
        if n is None:  # pragma: no cover - only non-blocking sinks return None
            raise CryptoError("destination would block; non-blocking streams are not supported")
        mv = mv[n:]


class _AtomicFile:
    """A temporary file beside ``dst`` that replaces ``dst`` only on `commit`."""

    def __init__(self, dst: StrPath, fsync: bool = False) -> None:
        self.dst = os.fspath(dst)
        folder, name = os.path.split(os.path.abspath(self.dst))
        self.fd, self.tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".veil-partial", dir=folder)
        self.fsync = fsync
        self.done = False

    def write(self, mv: Any) -> int:
        return os.write(self.fd, mv)

    def commit(self) -> None:
        try:
            if self.fsync:
                os.fsync(self.fd)
        finally:
            os.close(self.fd)
            self.done = True
        try:
            os.replace(self.tmp, self.dst)
        except BaseException:
            self._unlink()
            raise
        if self.fsync:
            dfd = os.open(os.path.dirname(os.path.abspath(self.dst)), os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)

    def abort(self) -> None:
        if not self.done:
            self.done = True
            try:
                os.close(self.fd)
            finally:
                self._unlink()

    def _unlink(self) -> None:
        try:
            os.unlink(self.tmp)
        except FileNotFoundError:
            pass


def _open_source(src: StrPath) -> io.FileIO:
    f = io.FileIO(os.fspath(src), "rb")
    if hasattr(os, "posix_fadvise"):
        try:
            os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
        except OSError:  # pragma: no cover - not all file systems support the hint
            pass
    return f


# --------------------------------------------------------------------------------------------
# the two loops


def _encrypt_loop(
    readinto: ReadInto,
    write: Callable[[Any], int | None],
    key: StreamingKey,
    associated_data: bytes,
) -> None:
    """Read plaintext until EOF and write the complete ciphertext."""
    enc = _SegmentEncrypter(key, associated_data)
    _write_all(write, memoryview(enc.header))
    pt_size = enc.pt_size
    cur = memoryview(bytearray(pt_size))
    nxt = memoryview(bytearray(pt_size))
    out = memoryview(bytearray(pt_size + TAG_SIZE))
    cap = enc.first_pt
    n = _readfull(readinto, cur[:cap])
    while True:
        if n < cap:
            m, last = 0, True
        else:  # a full segment: it is the last one only if nothing follows
            m = _readfull(readinto, nxt)
            last = m == 0
        _write_all(write, enc.encrypt_into(cur[:n], out, last))
        if last:
            return
        cur, nxt = nxt, cur
        n, cap = m, pt_size


def decrypt_segments(
    readinto: ReadInto, keys: list[StreamingKey], associated_data: bytes, where: str | None
) -> Generator[memoryview, None, None]:
    """Yield each segment's plaintext once it is authenticated (a view, valid until the next).

    Raises TamperedError / WrongKeyError; the last thing yielded is only followed by a normal
    StopIteration when the final segment carried the last-segment flag.
    """

    def at(i: int) -> str:
        return f"{where}, segment {i}" if where else f"segment {i}"

    if not keys:
        raise KeysetError("the keyset has no enabled streaming key")
    first = bytearray(1)
    if _readfull(readinto, memoryview(first)) == 0:
        raise NotCiphertextError(
            "empty input: not a Tink streaming ciphertext (no header)", where=where
        )
    hlen = first[0]
    if hlen not in _HEADER_LENGTHS:
        raise NotCiphertextError(
            f"not a Tink streaming ciphertext (its first byte, the header length, is {hlen}; "
            "Tink writes 24 or 40)",
            where=where,
        )
    candidates = [k for k in keys if k.header_length == hlen]
    if not candidates:
        raise WrongKeyError(
            f"no key in the keyset opens this ciphertext (its header length is {hlen}; "
            "wrong key, not a Tink streaming ciphertext, or a damaged header)",
            where=where,
        )
    hbuf = memoryview(bytearray(hlen - 1))
    if _readfull(readinto, hbuf) < hlen - 1:
        raise TamperedError("ciphertext shorter than its header (truncated)", where=where)
    salt = bytes(hbuf[: hlen - 1 - NONCE_PREFIX_SIZE])
    prefix = bytes(hbuf[hlen - 1 - NONCE_PREFIX_SIZE :])

    # Read the first segment plus one full segment of lookahead (for the largest candidate), so
    # every candidate can decide whether its first segment is also the last.
    head_size = max(2 * k.segment_size - hlen for k in candidates)
    head = memoryview(bytearray(head_size))
    got = _readfull(readinto, head)
    chosen: StreamingKey | None = None
    aes: AESGCM | None = None
    first_pt = memoryview(b"")
    short = cut = False
    for k in candidates:
        first_ct = k.segment_size - hlen
        seg = head[: min(got, first_ct)]
        if len(seg) < TAG_SIZE:
            short = True
            continue
        last = got <= first_ct
        a = _derive(k, salt, associated_data)
        buf = memoryview(bytearray(len(seg) - TAG_SIZE))
        try:
            _decrypt_into(a, prefix + _COUNTER(0, last), seg, buf)
        except InvalidTag:
            if last and len(seg) == first_ct:  # a full first segment: was more cut off?
                try:
                    _decrypt_into(a, prefix + _COUNTER(0, False), seg, buf)
                    cut = True
                except InvalidTag:
                    pass
            continue
        chosen, aes, first_pt = k, a, buf
        break
    if chosen is None or aes is None:
        if cut:
            raise TamperedError(
                "ciphertext ends after its first segment, which is not the last (truncated)",
                where=at(1),
            )
        if short:
            raise TamperedError("ciphertext ends inside its first segment (truncated)", where=at(0))
        raise WrongKeyError(
            "no key in the keyset opens this ciphertext: wrong key or associated data, "
            "or its first segment is damaged",
            where=where,
        )
    first_ct = chosen.segment_size - hlen
    yield first_pt
    if got <= first_ct:
        return
    del first_pt

    src = _Pushback(readinto, head[first_ct:got]).readinto
    seg_size = chosen.segment_size
    cur = memoryview(bytearray(seg_size))
    nxt = memoryview(bytearray(seg_size))
    out = memoryview(bytearray(seg_size - TAG_SIZE))
    n = _readfull(src, cur)
    i = 1
    decrypt_into = _decrypt_into
    while True:
        if n < seg_size:
            m, last = 0, True
        else:
            m = _readfull(src, nxt)
            last = m == 0
        if n < TAG_SIZE:
            raise TamperedError("ciphertext ends inside a segment tag (truncated)", where=at(i))
        if i >= MAX_SEGMENTS:
            raise TamperedError("more than 2**32 segments", where=at(i))
        view = out[: n - TAG_SIZE]
        try:
            decrypt_into(aes, prefix + _COUNTER(i, last), cur[:n], view)
        except InvalidTag:
            raise TamperedError(
                "segment is not authentic (modified, reordered, truncated or extended)", where=at(i)
            ) from None
        yield view
        if last:
            return
        cur, nxt = nxt, cur
        n = m
        i += 1


# --------------------------------------------------------------------------------------------
# public API: files


def encrypt_file(
    src: StrPath,
    dst: StrPath,
    key: KeyLike,
    associated_data: bytes | str = b"",
    *,
    fsync: bool = False,
) -> None:
    """Encrypt file ``src`` into ``dst`` (Tink AES-GCM-HKDF streaming, primary key).

    ``dst`` appears only when complete (temporary file + ``os.replace``); ``fsync=True`` also
    flushes it to disk before the rename. Memory use is three segments whatever the file size.
    """
    k = streaming_keys(key)
    if not k:
        raise KeysetError("the keyset has no enabled streaming key")
    aad = _aad(associated_data)
    with _open_source(src) as fin:
        out = _AtomicFile(dst, fsync)
        try:
            _encrypt_loop(fin.readinto, out.write, k[0], aad)
        except BaseException:
            out.abort()
            raise
        out.commit()


def decrypt_file(
    src: StrPath,
    dst: StrPath,
    key: KeyLike,
    associated_data: bytes | str = b"",
    *,
    fsync: bool = False,
) -> None:
    """Decrypt ``src`` into ``dst``; ``dst`` appears only after the last segment is verified.

    Any failure (wrong key or associated data, tampering, truncation, appended bytes) raises a
    `CryptoError` subclass and leaves no output file behind.
    """
    keys = streaming_keys(key)
    aad = _aad(associated_data)
    with _open_source(src) as fin:
        out = _AtomicFile(dst, fsync)
        try:
            write = out.write
            for pt in decrypt_segments(fin.readinto, keys, aad, os.fspath(src)):
                _write_all(write, pt)
        except BaseException:
            out.abort()
            raise
        out.commit()


def encrypt_bytes(plaintext: bytes, key: KeyLike, associated_data: bytes | str = b"") -> bytes:
    """Encrypt an in-memory value into one streaming ciphertext (same format as the files)."""
    sink = io.BytesIO()
    with EncryptingWriter(sink, key, associated_data) as w:
        w.write(plaintext)
    return sink.getvalue()


def decrypt_bytes(ciphertext: bytes, key: KeyLike, associated_data: bytes | str = b"") -> bytes:
    """Decrypt a whole streaming ciphertext held in memory."""
    src = io.BytesIO(ciphertext)
    parts = [
        bytes(pt)
        for pt in decrypt_segments(src.readinto, streaming_keys(key), _aad(associated_data), None)
    ]
    return b"".join(parts)


# --------------------------------------------------------------------------------------------
# public API: file-like objects


class EncryptingWriter(io.RawIOBase):
    """A writable file object that encrypts into ``dst`` (a path or a binary file object).

    ``close()`` writes the last segment. Leaving a ``with`` block by an exception (or dropping the
    writer unclosed) does *not* finish the stream: a path destination is removed, and a file
    object is left with a stream that fails verification as truncated. A file object passed in is
    flushed but not closed.
    """

    def __init__(
        self,
        dst: StrPath | BinaryIO | IO[bytes],
        key: KeyLike,
        associated_data: bytes | str = b"",
        *,
        fsync: bool = False,
    ) -> None:
        super().__init__()
        self._atomic: _AtomicFile | None = None
        self._finished = True  # until fully set up
        keys = streaming_keys(key)
        if not keys:
            raise KeysetError("the keyset has no enabled streaming key")
        self._enc = _SegmentEncrypter(keys[0], _aad(associated_data))
        if isinstance(dst, (str, os.PathLike)):
            self._atomic = _AtomicFile(dst, fsync)
            self._sink: Any = None
            self._write: Callable[[Any], int | None] = self._atomic.write
        else:
            if not getattr(dst, "writable", lambda: True)():
                raise ValueError("destination is not writable")
            self._sink = dst
            self._write = dst.write
        self._buf = memoryview(bytearray(self._enc.pt_size))
        self._out = memoryview(bytearray(self._enc.pt_size + TAG_SIZE))
        self._n = 0
        self._cap = self._enc.first_pt
        self._finished = False
        try:
            _write_all(self._write, memoryview(self._enc.header))
        except BaseException:
            self.abort()
            raise

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:  # type: ignore[override]
        if self.closed:
            raise ValueError("write to a closed EncryptingWriter")
        mv = memoryview(b).cast("B")
        total = len(mv)
        enc, out, write = self._enc, self._out, self._write
        try:
            while mv:
                if self._n == self._cap:  # full buffer and more data: not the last segment
                    _write_all(write, enc.encrypt_into(self._buf[: self._n], out, False))
                    self._n, self._cap = 0, enc.pt_size
                if self._n == 0 and len(mv) > self._cap:  # encrypt straight from the caller
                    cap = self._cap
                    _write_all(write, enc.encrypt_into(mv[:cap], out, False))
                    mv = mv[cap:]
                    self._cap = enc.pt_size
                    continue
                k = min(self._cap - self._n, len(mv))
                self._buf[self._n : self._n + k] = mv[:k]
                self._n += k
                mv = mv[k:]
        except BaseException:
            self.abort()
            raise
        return total

    def close(self) -> None:
        """Write the last segment and publish (path) or flush (file object)."""
        if self.closed:
            return
        try:
            if not self._finished:
                _write_all(
                    self._write, self._enc.encrypt_into(self._buf[: self._n], self._out, True)
                )
                self._finished = True
                if self._atomic is not None:
                    self._atomic.commit()
                elif hasattr(self._sink, "flush"):
                    self._sink.flush()
        except BaseException:
            self.abort()
            raise
        finally:
            super().close()

    def abort(self) -> None:
        """Stop without finishing: nothing is published."""
        self._finished = True
        atomic = getattr(self, "_atomic", None)
        if atomic is not None:
            atomic.abort()
        if not self.closed:
            super().close()

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None:
            self.abort()
        else:
            self.close()

    def __del__(self) -> None:
        # Never finish a stream implicitly: an unclosed writer publishes nothing.
        if not self.closed:
            self.abort()


class DecryptingReader(io.RawIOBase):
    """A readable file object over a streaming ciphertext (a path or a binary file object).

    Each segment is authenticated before any of its bytes are returned; tampering raises a
    `CryptoError` subclass from ``read``. Reaching EOF means the whole stream was verified,
    including its end. A file object passed in is not closed.
    """

    def __init__(
        self, src: StrPath | BinaryIO | IO[bytes], key: KeyLike, associated_data: bytes | str = b""
    ) -> None:
        super().__init__()
        self._owned: io.FileIO | None = None
        self._segments: Generator[memoryview, None, None] | None = None
        self._cur = memoryview(b"")
        self._eof = False
        keys, aad = streaming_keys(key), _aad(associated_data)
        if isinstance(src, (str, os.PathLike)):
            self._owned = _open_source(src)
            readinto: ReadInto = self._owned.readinto
            where: str | None = os.fspath(src)
        else:
            readinto = _readinto_of(src)
            name = getattr(src, "name", None)
            where = name if isinstance(name, str) else None
        self._segments = decrypt_segments(readinto, keys, aad, where)

    def readable(self) -> bool:
        return True

    def _fill(self) -> bool:
        while not self._cur:
            if self._eof:
                return False
            try:
                assert self._segments is not None
                self._cur = next(self._segments)
            except StopIteration:
                self._eof = True
                return False
        return True

    def readinto(self, b: Any) -> int:  # type: ignore[override]
        if self.closed:
            raise ValueError("read from a closed DecryptingReader")
        mv = memoryview(b).cast("B")
        if not mv or not self._fill():
            return 0
        k = min(len(self._cur), len(mv))
        mv[:k] = self._cur[:k]
        self._cur = self._cur[k:]
        return k

    def read(self, size: int | None = -1) -> bytes:  # type: ignore[override]
        if size is None or size < 0:
            return self.readall()
        if self.closed:
            raise ValueError("read from a closed DecryptingReader")
        if size == 0 or not self._fill():
            return b""
        k = min(len(self._cur), size)
        data = bytes(self._cur[:k])
        self._cur = self._cur[k:]
        return data

    def readall(self) -> bytes:
        parts = []
        while self._fill():
            parts.append(bytes(self._cur))
            self._cur = memoryview(b"")
        return b"".join(parts)

    def close(self) -> None:
        if not self.closed:
            if self._segments is not None:
                self._segments.close()
            if self._owned is not None:
                self._owned.close()
        super().close()
