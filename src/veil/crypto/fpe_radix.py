"""Numeral-string arithmetic for batched FF1 / FF3-1: many values at once, in numpy.

The Feistel rounds of FF1 and FF3-1 (NIST SP 800-38G) add a 64- to 128-bit AES output to the
number a half of the numeral string spells, modulo ``radix**m``. For the lengths FPE is used
on, ``radix**m`` goes beyond 64 bits (28 decimal digits are 93 bits), so a whole batch cannot
be one ``uint64`` vector. Instead a half is held as *limbs*: a few ``uint64`` vectors, each
below ``D = radix**k <= 2**32`` (``10**9`` for decimals, ``26**6`` for letters, ``36**6`` for
base 36), least significant first. Every step then stays inside 64 bits without any Python
integer per value:

* an AES output (32-bit words) modulo ``radix**m``: long division of the words by ``D``, one
  limb per pass (``rem * 2**32 + word < D * 2**32 <= 2**64``);
* adding or subtracting modulo ``radix**m``: limb by limb with a carry;
* a half as the big-endian bytes the round function hashes: Horner's rule from the top limb
  into 32-bit words (``word * D + carry < 2**64``).

A sixteen-digit number is two halves of one limb each; the longest the ``fpe`` transform takes
(56 digits) has halves of four limbs. Numerals here are little-endian (the first numeral is
the least significant): FF3-1 reads its halves reversed, which is exactly that, and FF1 reads
them big-endian, so its module reverses the numerals before and after.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from cryptography.hazmat.primitives.ciphers import CipherContext

__all__ = [
    "Half",
    "Limbs",
    "bytes_of_words",
    "check_numerals",
    "decode",
    "ecb",
    "encode",
    "min_length",
    "tweak_rows",
    "words_of_bytes",
]

_MASK = np.uint64(0xFFFFFFFF)
_SHIFT = np.uint64(32)

Limbs = list[np.ndarray]  # uint64 vectors, least significant limb first


@dataclass(frozen=True)
class Half:
    """The limb layout of a numeral string of length ``m`` in base ``radix``."""

    radix: int
    m: int

    @cached_property
    def k(self) -> int:
        """Numerals per limb: the largest ``k`` with ``radix**k <= 2**32``."""
        k = 1
        while self.radix ** (k + 1) <= 2**32:
            k += 1
        return k

    @cached_property
    def moduli(self) -> tuple[int, ...]:
        """Each limb's modulus: ``radix**k``, and ``radix**(rest)`` for the top limb."""
        k, m = self.k, self.m
        return tuple(self.radix ** min(k, m - i) for i in range(0, m, k))

    # -- numerals <-> limbs --------------------------------------------------------------

    def to_limbs(self, numerals: np.ndarray) -> Limbs:
        """``(N, m)`` little-endian numerals -> limbs of the number they spell."""
        out: Limbs = []
        k = self.k
        for i in range(0, self.m, k):
            seg = numerals[:, i : i + k].astype(np.uint64)
            pw = self.radix ** np.arange(seg.shape[1], dtype=np.uint64)
            out.append(seg @ pw)
        return out

    def to_numerals(self, limbs: Limbs, dtype: type = np.uint8) -> np.ndarray:
        """Limbs -> ``(N, m)`` little-endian numerals (the inverse of `to_limbs`)."""
        n = len(limbs[0])
        out = np.empty((n, self.m), dtype=dtype)
        k = self.k
        r = np.uint64(self.radix)
        for j, i in enumerate(range(0, self.m, k)):
            width = min(k, self.m - i)
            pw = self.radix ** np.arange(width, dtype=np.uint64)
            out[:, i : i + width] = (limbs[j][:, None] // pw[None, :]) % r
        return out

    # -- arithmetic modulo radix**m ------------------------------------------------------

    def reduce_words(self, words: Sequence[np.ndarray]) -> Limbs:
        """A number given as 32-bit words (most significant first), modulo ``radix**m``."""
        work = [w.astype(np.uint64, copy=True) for w in words]
        out: Limbs = []
        last = len(self.moduli) - 1
        for j, d in enumerate(self.moduli):
            dd = np.uint64(d)
            rem = np.zeros(len(work[0]), dtype=np.uint64)
            for i, w in enumerate(work):
                cur = (rem << _SHIFT) | w
                if j < last:
                    q = cur // dd
                    work[i] = q
                    rem = cur - q * dd
                else:
                    rem = cur % dd
            out.append(rem)
        return out

    def add(self, a: Limbs, b: Limbs) -> Limbs:
        """``(a + b) mod radix**m``, both reduced."""
        out: Limbs = []
        carry = np.zeros(len(a[0]), dtype=np.uint64)
        for x, y, d in zip(a, b, self.moduli, strict=True):
            s = x + y + carry
            over = s >= np.uint64(d)
            out.append(s - over.astype(np.uint64) * np.uint64(d))
            carry = over.astype(np.uint64)
        return out

    def sub(self, a: Limbs, b: Limbs) -> Limbs:
        """``(a - b) mod radix**m``, both reduced."""
        out: Limbs = []
        borrow = np.zeros(len(a[0]), dtype=np.uint64)
        for x, y, d in zip(a, b, self.moduli, strict=True):
            dd = np.uint64(d)
            t = x + dd - y - borrow  # in [0, 2d): never below zero
            keep = t >= dd
            out.append(t - keep.astype(np.uint64) * dd)
            borrow = (~keep).astype(np.uint64)
        return out

    def to_words(self, limbs: Limbs, nwords: int) -> Limbs:
        """The number as ``nwords`` 32-bit words, least significant first (Horner's rule)."""
        d = np.uint64(self.radix**self.k)
        words = [limbs[-1].copy()] + [np.zeros_like(limbs[0]) for _ in range(nwords - 1)]
        for limb in reversed(limbs[:-1]):
            carry = limb
            for i in range(nwords):
                t = words[i] * d + carry
                words[i] = t & _MASK
                carry = t >> _SHIFT
        return words


def bytes_of_words(words: Limbs, nbytes: int) -> np.ndarray:
    """32-bit words (least significant first) -> ``(N, nbytes)`` big-endian bytes."""
    a = np.stack(words[::-1], axis=1).astype(">u4")
    return a.view(np.uint8)[:, a.shape[1] * 4 - nbytes :]


def words_of_bytes(block: np.ndarray, big_endian: bool) -> Limbs:
    """``(N, 4w)`` bytes -> the number's 32-bit words, most significant first."""
    a = np.ascontiguousarray(block).view(">u4" if big_endian else "<u4").astype(np.uint64)
    cols = [a[:, i] for i in range(a.shape[1])]
    return cols if big_endian else cols[::-1]


def decode(values: Sequence[str], alphabet: str) -> np.ndarray:
    """Equal-length strings over ``alphabet`` -> ``(N, n)`` numerals (big-endian as written).

    For tests and library callers; the ``fpe`` transform decodes Arrow buffers directly.
    """
    index = {c: i for i, c in enumerate(alphabet)}
    n = len(values[0]) if values else 0
    out = np.empty((len(values), n), dtype=np.uint16 if len(alphabet) > 256 else np.uint8)
    for r, v in enumerate(values):
        if len(v) != n:
            raise ValueError("values of one batch must have the same length")
        try:
            out[r] = [index[c] for c in v]
        except KeyError:
            raise ValueError(f"value {r} has a character outside the alphabet") from None
    return out


def encode(numerals: np.ndarray, alphabet: str) -> list[str]:
    """``(N, n)`` numerals -> strings over ``alphabet`` (the inverse of `decode`)."""
    table = np.array(list(alphabet))
    return ["".join(row) for row in table[numerals]]


def min_length(radix: int) -> int:
    """The shortest numeral string SP 800-38G Rev. 1 allows: ``radix**n >= 1_000_000``."""
    n = 2
    while radix**n < 1_000_000:
        n += 1
    return n


def check_numerals(numerals: np.ndarray, radix: int, lo: int, hi: int, name: str) -> np.ndarray:
    """The batch as a 2-D integer array, or a ValueError naming what is wrong."""
    x = np.asarray(numerals)
    if x.ndim != 2 or not np.issubdtype(x.dtype, np.integer):
        raise ValueError(f"{name}: numerals must be an (N, n) integer array")
    if not lo <= x.shape[1] <= hi:
        raise ValueError(f"{name}: {x.shape[1]} numerals; radix {radix} needs {lo} to {hi}")
    if x.size and (int(x.max()) >= radix or int(x.min()) < 0):
        raise ValueError(f"{name}: a numeral outside 0..{radix - 1}")
    return x


def tweak_rows(tweak: bytes | np.ndarray | Sequence[bytes], count: int) -> np.ndarray:
    """One tweak for the batch (``(1, t)``) or one per value (``(N, t)``), as uint8 rows."""
    if isinstance(tweak, (bytes, bytearray)):
        return np.frombuffer(bytes(tweak), dtype=np.uint8).reshape(1, -1)
    if isinstance(tweak, np.ndarray):
        rows = np.ascontiguousarray(tweak, dtype=np.uint8)
    else:
        lengths = {len(t) for t in tweak}
        if len(lengths) > 1:
            raise ValueError("the tweaks of one batch must have the same length")
        rows = np.frombuffer(b"".join(tweak), dtype=np.uint8).reshape(len(tweak), -1)
    if rows.ndim != 2 or rows.shape[0] not in (1, count):
        raise ValueError("tweaks: one for the batch or one per value")
    return rows


def ecb(encryptor: CipherContext, blocks: np.ndarray) -> np.ndarray:
    """AES of every 16-byte row in one call of ``cryptography``'s ECB encryptor."""
    data = np.ascontiguousarray(blocks, dtype=np.uint8).tobytes()
    return np.frombuffer(encryptor.update(data), dtype=np.uint8).reshape(-1, 16)
