"""FF1 (NIST SP 800-38G, Algorithms 7 and 8) over AES, on whole batches of numeral strings.

FF1 is the format-preserving cipher NIST keeps: the 2025 draft revision of SP 800-38G proposes
withdrawing FF3-1. The construction is the published one, unchanged; only its evaluation is
batched: each of the ten Feistel rounds encrypts the round blocks of every value of the batch
in one call of ``cryptography``'s AES (CBC-MAC chained block by block across the batch, ECB
per step), and the radix arithmetic runs on numpy vectors (`veil.crypto.fpe_radix`). Blocks
that do not depend on the round (``P``, and the tweak's full blocks of ``Q``) are encrypted
once per batch. Cross-tested against NIST's samples and the ``libffx`` package.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes

from veil.crypto.fpe_radix import (
    Half,
    Limbs,
    bytes_of_words,
    check_numerals,
    ecb,
    min_length,
    tweak_rows,
    words_of_bytes,
)

__all__ = ["FF1"]

ROUNDS = 10
MAX_LENGTH = 1024  # numerals; FF1 allows more, but the limb arithmetic grows as n**2


class FF1:
    """FF1 for one AES key (128, 192 or 256 bits) and radix (2..65536).

    ``encrypt`` / ``decrypt`` take an ``(N, n)`` array of numerals (values below the radix,
    most significant first, as written) and a tweak: ``bytes`` for the whole batch or one row
    per value (an ``(N, t)`` uint8 array or a list of equal-length ``bytes``).
    """

    def __init__(self, key: bytes, radix: int = 10) -> None:
        if len(key) not in (16, 24, 32):
            raise ValueError("FF1 needs a 128, 192 or 256-bit AES key")
        if not 2 <= radix <= 2**16:
            raise ValueError("FF1's radix is 2 to 65536")
        self.radix = radix
        self.min_length = min_length(radix)
        self.max_length = MAX_LENGTH
        self._aes = Cipher(algorithms.AES(bytes(key)), modes.ECB())

    def encrypt(
        self, numerals: np.ndarray, tweak: bytes | np.ndarray | Sequence[bytes] = b""
    ) -> np.ndarray:
        return self._crypt(numerals, tweak, True)

    def decrypt(
        self, numerals: np.ndarray, tweak: bytes | np.ndarray | Sequence[bytes] = b""
    ) -> np.ndarray:
        return self._crypt(numerals, tweak, False)

    def _crypt(
        self, numerals: np.ndarray, tweak: bytes | np.ndarray | Sequence[bytes], forward: bool
    ) -> np.ndarray:
        x = check_numerals(numerals, self.radix, self.min_length, self.max_length, "FF1")
        count, n = x.shape
        if count == 0:
            return x.copy()
        u, v = n // 2, n - n // 2
        hu, hv = Half(self.radix, u), Half(self.radix, v)
        a = hu.to_limbs(x[:, :u][:, ::-1])  # FF1 reads numerals big-endian
        b = hv.to_limbs(x[:, u:][:, ::-1])
        prf = _RoundFunction(
            self._aes.encryptor(), self.radix, u, n, tweak_rows(tweak, count), count
        )
        for i in range(ROUNDS) if forward else reversed(range(ROUNDS)):
            m_half, b_half = (hu, hv) if i % 2 == 0 else (hv, hu)
            if forward:  # Algorithm 7, steps 6.i-6.vi
                y = m_half.reduce_words(prf.y(i, b_half, b))
                a, b = b, m_half.add(a, y)
            else:  # Algorithm 8: the same round, inverted
                y = m_half.reduce_words(prf.y(i, b_half, a))
                a, b = m_half.sub(b, y), a
        out = np.empty_like(x)
        out[:, :u] = hu.to_numerals(a, x.dtype)[:, ::-1]
        out[:, u:] = hv.to_numerals(b, x.dtype)[:, ::-1]
        return out


class _RoundFunction:
    """Steps 6.i-6.iii of FF1 for a batch: ``y = NUM(S)`` with ``S`` from ``PRF(P || Q)``."""

    def __init__(
        self, enc: CipherContext, radix: int, u: int, n: int, tweaks: np.ndarray, count: int
    ) -> None:
        t = tweaks.shape[1]
        v = n - u
        self.count = count
        self.b = ((radix**v - 1).bit_length() + 7) // 8  # ceil(ceil(v*log2(radix)) / 8)
        self.d = 4 * ((self.b + 3) // 4) + 4
        self.enc = enc
        p = (
            bytes([1, 2, 1])
            + radix.to_bytes(3, "big")
            + bytes([10, u % 256])
            + n.to_bytes(4, "big")
            + t.to_bytes(4, "big")
        )
        pad = (-t - self.b - 1) % 16
        prefix = np.concatenate([tweaks, np.zeros((tweaks.shape[0], pad), np.uint8)], axis=1)
        full = prefix.shape[1] // 16  # Q's blocks before the one holding [i]: round-free
        state = ecb(enc, np.frombuffer(p, np.uint8).reshape(1, 16))
        for j in range(full):
            state = ecb(enc, state ^ prefix[:, 16 * j : 16 * j + 16])
        self.state = state
        self.tail = prefix[:, 16 * full :]

    def y(self, i: int, half: Half, limbs: Limbs) -> Limbs:
        """``NUM(S)`` for round ``i``, as 32-bit words (most significant first)."""
        count = self.count
        numb = bytes_of_words(half.to_words(limbs, (self.b + 3) // 4), self.b)
        tail = np.concatenate(
            [
                np.broadcast_to(self.tail, (count, self.tail.shape[1])),
                np.full((count, 1), i, np.uint8),
                numb,
            ],
            axis=1,
        )
        state = np.broadcast_to(self.state, (count, 16))
        for j in range(0, tail.shape[1], 16):
            state = ecb(self.enc, state ^ tail[:, j : j + 16])
        s = state
        if self.d > 16:  # S = R || CIPH(R xor [1]) || CIPH(R xor [2]) || ...
            extra = []
            for j in range(1, (self.d + 15) // 16):
                ctr = np.frombuffer(j.to_bytes(16, "big"), np.uint8)
                extra.append(ecb(self.enc, state ^ ctr))
            s = np.concatenate([state, *extra], axis=1)
        return words_of_bytes(s[:, : self.d], big_endian=True)
