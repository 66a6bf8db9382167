"""Crypto-shredding: one random key per data subject, stored only wrapped.

Each subject (named by pseudonym, never by direct identifier) gets a fresh random 256-bit
AES-GCM key the first time something is encrypted for them. The key is stored only wrapped (by
any `veil.kek.providers.KEK`: the workspace's key manager wraps it under the current key
epoch, see `veil.keys.epochs`), with the subject bound as associated data (a wrapped key cannot
be moved to another subject). `SubjectKeys.shred` deletes the wrapped key from the store and
leaves a tombstone; from then on decrypting with that store raises `ErasedError`. A copy of the
store made before the shred still holds the wrapped key: how long such copies stay readable is
the key epochs' business (docs/crypto.md, "Backups"). Keys are random, never derived from a
master key and the subject id, so a shredded key cannot be re-derived.

Storage is a mapping-like `WrappedKeyStore` (a dict works; `InMemoryKeyStore` is the reference);
the SQLAlchemy store implements the same four members. An empty value is a tombstone.

Record ciphertext: ``nonce (12) || ciphertext || tag (16)`` under the subject's key, with
associated data ``"veil.subject.v1\\0" || len(subject) (4 bytes) || subject || caller's data``.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections import OrderedDict
from collections.abc import Iterator, MutableMapping, Sequence
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from veil.crypto.errors import CryptoError, ErasedError, KeyMissingError, TamperedError
from veil.kek.providers import KEK

__all__ = [
    "TOMBSTONE",
    "InMemoryKeyStore",
    "SubjectKeys",
    "WrappedKeyStore",
    "subject_wrap_aad",
]

TOMBSTONE = b""
NONCE_SIZE = 12
TAG_SIZE = 16


class WrappedKeyStore(Protocol):
    """Where wrapped subject keys live: subject pseudonym -> wrapped key (b"" = erased)."""

    def get(self, subject: str, /) -> bytes | None: ...

    def __setitem__(self, subject: str, wrapped: bytes, /) -> None: ...

    def __delitem__(self, subject: str, /) -> None: ...

    def __contains__(self, subject: object, /) -> bool: ...


class InMemoryKeyStore(MutableMapping[str, bytes]):
    """A dict-backed `WrappedKeyStore` (tests, single runs)."""

    def __init__(self) -> None:
        self._d: dict[str, bytes] = {}

    def __getitem__(self, k: str) -> bytes:
        return self._d[k]

    def __setitem__(self, k: str, v: bytes) -> None:
        self._d[k] = bytes(v)

    def __delitem__(self, k: str) -> None:
        del self._d[k]

    def __iter__(self) -> Iterator[str]:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)


def _subject_bytes(subject: str) -> bytes:
    if not isinstance(subject, str) or not subject:
        raise CryptoError("a subject must be a non-empty pseudonym string")
    return subject.encode("utf-8")


def subject_wrap_aad(namespace: str, subject: str) -> bytes:
    """What a wrapped subject key is bound to: its namespace and subject."""
    return b"veil.subject-key.v1\x00" + namespace.encode("utf-8") + b"\x00" + _subject_bytes(
        subject)


class SubjectKeys:
    """Per-subject keys with an LRU cache of ready AES-GCM primitives.

    ``cache_size`` bounds memory (about 2.5 KiB per cached subject). A process that did not shred
    may keep a shredded subject's key in its cache until `forget` / `clear_cache`, so a
    multi-process deployment must broadcast erasures (the store-backed manager's job).
    """

    def __init__(
        self,
        kek: KEK,
        store: WrappedKeyStore | None = None,
        *,
        cache_size: int = 4096,
        namespace: str = "veil",
    ) -> None:
        if cache_size < 1:
            raise ValueError("cache_size must be at least 1")
        if "\x00" in namespace:
            raise ValueError("namespace must not contain NUL")
        self.kek = kek
        self.store: WrappedKeyStore = store if store is not None else InMemoryKeyStore()
        self.cache_size = cache_size
        self.namespace = namespace
        self._cache: OrderedDict[str, AESGCM] = OrderedDict()
        self._lock = threading.RLock()

    # key lifecycle --------------------------------------------------------------------------

    def _wrap_aad(self, subject: str) -> bytes:
        return subject_wrap_aad(self.namespace, subject)

    def create(self, subject: str, *, recreate_erased: bool = False) -> bool:
        """Make the subject's key if it has none; True if one was made. An erased subject gets
        a new key only with ``recreate_erased=True`` (e.g. a returning customer)."""
        with self._lock:
            cur = self.store.get(subject)
            if cur is not None and (cur != TOMBSTONE or not recreate_erased):
                if cur == TOMBSTONE:
                    raise ErasedError("erased", where=f"subject {subject}")
                return False
            key = secrets.token_bytes(32)
            self.store[subject] = self.kek.wrap(key, self._wrap_aad(subject))
            self._put(subject, AESGCM(key))
            return True

    def shred(self, subject: str) -> bool:
        """Destroy the subject's key (leaving a tombstone). True if a key was destroyed."""
        with self._lock:
            self._cache.pop(subject, None)
            cur = self.store.get(subject)
            if cur is not None:
                del self.store[subject]
            self.store[subject] = TOMBSTONE
            return cur is not None and cur != TOMBSTONE

    def is_erased(self, subject: str) -> bool:
        return self.store.get(subject) == TOMBSTONE

    def has_key(self, subject: str) -> bool:
        cur = self.store.get(subject)
        return cur is not None and cur != TOMBSTONE

    def forget(self, subject: str) -> None:
        """Drop one subject from the cache (after another process shredded it)."""
        with self._lock:
            self._cache.pop(subject, None)

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()

    def _put(self, subject: str, prim: AESGCM) -> None:
        self._cache[subject] = prim
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    def _put_many(self, prims: Sequence[tuple[str, AESGCM]]) -> None:
        """The pairs (distinct subjects) entered in order as the newest, in bulk: a batch's
        subjects are mostly absent from the cache, so after taking out those present they are
        appended by one ``update``, then the oldest trimmed to ``cache_size``."""
        cache = self._cache
        if cache:
            drop = cache.pop
            for s, _ in prims:
                drop(s, None)
        cache.update(prims)
        pop = cache.popitem
        for _ in range(len(cache) - self.cache_size):
            pop(last=False)

    def _primitive(self, subject: str, create: bool) -> AESGCM:
        with self._lock:
            prim = self._cache.get(subject)
            if prim is not None:
                self._cache.move_to_end(subject)
                return prim
            wrapped = self.store.get(subject)
            if wrapped is None:
                if not create:
                    raise KeyMissingError("no key for this subject", where=f"subject {subject}")
                self.create(subject)
                return self._cache[subject]
            if wrapped == TOMBSTONE:
                raise ErasedError("erased", where=f"subject {subject}")
            prim = AESGCM(self.kek.unwrap(wrapped, self._wrap_aad(subject)))
            self._put(subject, prim)
            return prim

    # records --------------------------------------------------------------------------------

    @staticmethod
    def _aad(subject: str, associated_data: bytes) -> bytes:
        s = _subject_bytes(subject)
        return b"veil.subject.v1\x00" + len(s).to_bytes(4, "big") + s + associated_data

    def encrypt(self, subject: str, plaintext: bytes, associated_data: bytes = b"") -> bytes:
        """Encrypt for one subject (creating their key on first use)."""
        prim = self._primitive(subject, create=True)
        nonce = os.urandom(NONCE_SIZE)
        return nonce + prim.encrypt(nonce, plaintext, self._aad(subject, associated_data))

    def decrypt(self, subject: str, ciphertext: bytes, associated_data: bytes = b"") -> bytes:
        """Decrypt one subject's record; `ErasedError` after `shred`."""
        prim = self._primitive(subject, create=False)
        try:
            if len(ciphertext) < NONCE_SIZE + TAG_SIZE:
                raise InvalidTag
            return prim.decrypt(
                ciphertext[:NONCE_SIZE],
                ciphertext[NONCE_SIZE:],
                self._aad(subject, associated_data),
            )
        except InvalidTag:
            raise TamperedError(
                "record does not decrypt (wrong subject or associated data, or modified)",
                where=f"subject {subject}",
            ) from None

    def _windows(
        self, subjects: Sequence[str], create: bool
    ) -> Iterator[tuple[str, list[int]]]:
        """(subject, row indexes) pairs, in windows of at most ``cache_size`` subjects; each
        window is handed to `_prefetch` first (a store-backed subclass loads it in bulk)."""
        items = list(self._groups(subjects).items())
        step = self.cache_size
        for lo in range(0, len(items), step):
            window = items[lo : lo + step]
            self._prefetch([s for s, _ in window], create)
            yield from window

    def _prefetch(self, subjects: list[str], create: bool) -> None:
        """Hook: load these subjects' keys ahead of use (nothing to do for a mapping store)."""

    @staticmethod
    def _groups(subjects: Sequence[str]) -> dict[str, list[int]]:
        """Row indexes per subject. Working subject by subject keeps each key's AES context hot
        in the CPU cache (faster than row order when there are thousands of subjects)."""
        groups: dict[str, list[int]] = {}
        get = groups.get
        for i, s in enumerate(subjects):
            g = get(s)
            if g is None:
                groups[s] = [i]
            else:
                g.append(i)
        return groups

    def encrypt_many(
        self, subjects: Sequence[str], plaintexts: Sequence[bytes], associated_data: bytes = b""
    ) -> list[bytes]:
        """Encrypt ``plaintexts[i]`` for ``subjects[i]`` (creating keys on first use); each
        distinct subject's key is looked up once per call."""
        n = len(plaintexts)
        if len(subjects) != n:
            raise ValueError(f"{n} records but {len(subjects)} subjects")
        out: list[bytes] = [b""] * n
        pool = os.urandom(NONCE_SIZE * n)
        for s, rows in self._windows(subjects, create=True):
            enc = self._primitive(s, create=True).encrypt
            aad = self._aad(s, associated_data)
            for i in rows:
                j = NONCE_SIZE * i
                nonce = pool[j : j + NONCE_SIZE]
                out[i] = nonce + enc(nonce, plaintexts[i], aad)
        return out

    def decrypt_many(
        self,
        subjects: Sequence[str],
        ciphertexts: Sequence[bytes],
        associated_data: bytes = b"",
        *,
        erased: Any = ErasedError,
    ) -> list[Any]:
        """Decrypt records. A shredded subject's records raise `ErasedError`, or, if ``erased``
        is given any other value (e.g. ``None``), come back as that value."""
        n = len(ciphertexts)
        if len(subjects) != n:
            raise ValueError(f"{n} records but {len(subjects)} subjects")
        skip = erased is not ErasedError
        out: list[Any] = [erased] * n
        i = 0
        try:
            for s, rows in self._windows(subjects, create=False):
                try:
                    dec = self._primitive(s, create=False).decrypt
                except ErasedError:
                    if skip:
                        continue  # its rows keep the placeholder
                    raise
                aad = self._aad(s, associated_data)
                for i in rows:
                    c = ciphertexts[i]
                    if len(c) < NONCE_SIZE + TAG_SIZE:
                        raise InvalidTag
                    out[i] = dec(c[:NONCE_SIZE], c[NONCE_SIZE:], aad)
        except InvalidTag:
            raise TamperedError(
                "record does not decrypt (wrong subject or associated data, or modified)",
                where=f"record {i}",
            ) from None
        return out
