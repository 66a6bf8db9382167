"""FF3-1 (NIST SP 800-38G Rev. 1, Algorithms 9 and 10) over AES, on whole batches.

Kept so that tokens Veil made with FF3-1 (through the ``ff3`` package, one value at a time)
stay identical and reversible; new policies should use FF1 (`veil.crypto.fpe_ff1`), since the
2025 draft revision of SP 800-38G proposes withdrawing FF3-1. The construction is the
published one; each of the eight rounds encrypts every value's block in one call of
``cryptography``'s AES, and the radix arithmetic runs on numpy vectors
(`veil.crypto.fpe_radix`). Cross-tested against NIST's samples and the ``ff3`` package.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from veil.crypto.fpe_radix import Half, check_numerals, ecb, min_length, tweak_rows, words_of_bytes

__all__ = ["FF31"]

ROUNDS = 8


class FF31:
    """FF3-1 for one AES key (128, 192 or 256 bits) and radix (2..65536).

    ``encrypt`` / ``decrypt`` take an ``(N, n)`` array of numerals (as written) and a 56-bit
    tweak: 7 ``bytes`` for the whole batch or one per value (an ``(N, 7)`` uint8 array or a
    list of 7-byte ``bytes``). ``n`` runs from ``radix**n >= 10**6`` up to
    ``2 * floor(log_radix(2**96))`` (56 for decimals, 40 for letters).
    """

    def __init__(self, key: bytes, radix: int = 10) -> None:
        if len(key) not in (16, 24, 32):
            raise ValueError("FF3-1 needs a 128, 192 or 256-bit AES key")
        if not 2 <= radix <= 2**16:
            raise ValueError("FF3-1's radix is 2 to 65536")
        self.radix = radix
        self.min_length = min_length(radix)
        half = 1
        while radix ** (half + 1) <= 2**96:
            half += 1
        self.max_length = 2 * half
        self._aes = Cipher(algorithms.AES(bytes(key)[::-1]), modes.ECB())  # CIPH_REVB(K)

    def encrypt(
        self, numerals: np.ndarray, tweak: bytes | np.ndarray | Sequence[bytes]
    ) -> np.ndarray:
        return self._crypt(numerals, tweak, True)

    def decrypt(
        self, numerals: np.ndarray, tweak: bytes | np.ndarray | Sequence[bytes]
    ) -> np.ndarray:
        return self._crypt(numerals, tweak, False)

    def _crypt(
        self, numerals: np.ndarray, tweak: bytes | np.ndarray | Sequence[bytes], forward: bool
    ) -> np.ndarray:
        x = check_numerals(numerals, self.radix, self.min_length, self.max_length, "FF3-1")
        count, n = x.shape
        tw = tweak_rows(tweak, count)
        if tw.shape[1] != 7:
            raise ValueError("FF3-1 tweaks are 56 bits (7 bytes)")
        if count == 0:
            return x.copy()
        u, v = (n + 1) // 2, n // 2
        hu, hv = Half(self.radix, u), Half(self.radix, v)
        # NUM_radix(REV(X)): the numerals as written are little-endian
        a, b = hu.to_limbs(x[:, :u]), hv.to_limbs(x[:, u:])
        # T_L = T[0..27] || 0^4, T_R = T[32..55] || T[28..31] || 0^4; the block is REVB(P), so
        # W xor [i]_4 goes in reversed, after the 12 bytes of NUM(REV(B)) little-endian
        t_l = np.stack([tw[:, 3] & 0xF0, tw[:, 2], tw[:, 1], tw[:, 0]], axis=1)
        t_r = np.stack([(tw[:, 3] & 0x0F) << 4, tw[:, 6], tw[:, 5], tw[:, 4]], axis=1)
        enc = self._aes.encryptor()
        for i in range(ROUNDS) if forward else reversed(range(ROUNDS)):
            m_half, b_half = (hu, hv) if i % 2 == 0 else (hv, hu)
            w = (t_r if i % 2 == 0 else t_l).copy()
            w[:, 0] ^= i
            src = b if forward else a
            numb = np.stack(b_half.to_words(src, 3), axis=1).astype("<u4").view(np.uint8)
            block = np.concatenate([numb, np.broadcast_to(w, (count, 4))], axis=1)
            # S = REVB(CIPH(REVB(P))), y = NUM(S): the AES output read little-endian
            y = m_half.reduce_words(words_of_bytes(ecb(enc, block), big_endian=False))
            if forward:
                a, b = b, m_half.add(a, y)
            else:
                a, b = m_half.sub(b, y), a
        out = np.empty_like(x)
        out[:, :u] = hu.to_numerals(a, x.dtype)
        out[:, u:] = hv.to_numerals(b, x.dtype)
        return out
