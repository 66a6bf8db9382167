"""Sealing and opening a batch of records subject by subject, with each subject's key given
either as a ready AES-GCM primitive (from the cache) or as raw key bytes (just unwrapped or
just made): a primitive is built only when its subject's records are reached, so a batch of
100,000 new subjects holds 100,000 32-byte keys, not 100,000 OpenSSL contexts (about 1.4 KiB
each), and the cache stays bounded.

`gc_paused` holds Python's cyclic garbage collector off during a batch: a batch allocates
hundreds of thousands of small objects (lists, bytes, tuples) that make no reference cycles,
and each allocation burst would otherwise trigger full collections that walk the whole heap
(measured: a quarter of a decision batch's CPU time).
"""

from __future__ import annotations

import contextlib
import gc
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from veil.crypto.errors import TamperedError

__all__ = [
    "NONCE_SIZE",
    "TAG_SIZE",
    "KeyOrPrimitive",
    "gc_paused",
    "open_groups",
    "record_aad",
    "seal_groups",
]

NONCE_SIZE = 12
TAG_SIZE = 16
KeyOrPrimitive = AESGCM | bytes
_AAD_HEAD = b"veil.subject.v1\x00"

_gc_lock = threading.Lock()
_gc_depth = 0
_gc_was_on = False


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside the block (nests, and across threads: collection
    resumes when the last block ends, if it was on before the first began)."""
    global _gc_depth, _gc_was_on
    with _gc_lock:
        if _gc_depth == 0:
            _gc_was_on = gc.isenabled()
            gc.disable()
        _gc_depth += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_depth -= 1
            if _gc_depth == 0 and _gc_was_on:
                gc.enable()


def record_aad(subject: str, associated_data: bytes) -> bytes:
    """A record's associated data: ``"veil.subject.v1\\0" || len (4) || subject || data``."""
    sb = subject.encode("utf-8")
    return _AAD_HEAD + len(sb).to_bytes(4, "big") + sb + associated_data


def _primitive(key: KeyOrPrimitive) -> AESGCM:
    return AESGCM(key) if isinstance(key, bytes) else key


def seal_groups(
    groups: Mapping[str, list[int]],
    keys: Mapping[str, KeyOrPrimitive],
    plaintexts: Sequence[bytes],
    associated_data: bytes,
    keep: Callable[[list[tuple[str, AESGCM]]], None] | None = None,
    keep_last: int = 0,
) -> list[bytes]:
    """``nonce || ciphertext || tag`` of each record, under its subject's key (``groups``:
    subject -> record indexes). ``keep`` is given the primitives of the last ``keep_last``
    subjects, in order (what an LRU cache would hold after them all)."""
    out: list[bytes] = [b""] * len(plaintexts)
    pool = os.urandom(NONCE_SIZE * len(plaintexts))
    tail = len(groups) - keep_last
    kept: list[tuple[str, AESGCM]] = []
    head, ad = _AAD_HEAD, associated_data
    for k, (s, rows) in enumerate(groups.items()):
        key = keys[s]
        prim = AESGCM(key) if type(key) is bytes else key  # `_primitive`, inline: hot loop
        if k >= tail:
            kept.append((s, prim))  # type: ignore[arg-type]
        enc = prim.encrypt  # type: ignore[union-attr]
        sb = s.encode("utf-8")
        aad = head + len(sb).to_bytes(4, "big") + sb + ad  # `record_aad`, inline
        for i in rows:
            j = NONCE_SIZE * i
            nonce = pool[j : j + NONCE_SIZE]
            out[i] = nonce + enc(nonce, plaintexts[i], aad)
    if keep is not None and kept:
        keep(kept)
    return out


def open_groups(
    groups: Mapping[str, list[int]],
    keys: Mapping[str, KeyOrPrimitive],
    ciphertexts: Sequence[bytes],
    associated_data: bytes,
    placeholder: Any,
    keep: Callable[[list[tuple[str, AESGCM]]], None] | None = None,
    keep_last: int = 0,
) -> list[Any]:
    """The plaintext of each record whose subject has a key in ``keys``; the others keep
    ``placeholder``. A record that does not open raises `TamperedError` naming its index.
    ``keep`` and ``keep_last`` as in `seal_groups`."""
    out: list[Any] = [placeholder] * len(ciphertexts)
    tail = len(groups) - keep_last
    kept: list[tuple[str, AESGCM]] = []
    i = 0
    try:
        for k, (s, rows) in enumerate(groups.items()):
            key = keys.get(s)
            if key is None:
                continue
            prim = _primitive(key)
            if k >= tail:
                kept.append((s, prim))
            dec = prim.decrypt
            aad = record_aad(s, associated_data)
            for i in rows:
                c = ciphertexts[i]
                if len(c) < NONCE_SIZE + TAG_SIZE:
                    raise InvalidTag
                out[i] = dec(c[:NONCE_SIZE], c[NONCE_SIZE:], aad)
        if keep is not None and kept:
            keep(kept)
    except InvalidTag:
        raise TamperedError(
            "record does not decrypt (wrong subject or associated data, or modified)",
            where=f"record {i}",
        ) from None
    return out
