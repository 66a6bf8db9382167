"""Batched FF1 / FF3-1 equal the reference packages value for value (``libffx`` for FF1, the
``ff3`` package Veil's FF3-1 tokens were made with), and the limb arithmetic equals Python's
integers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from veil.crypto.fpe_ff1 import FF1
from veil.crypto.fpe_ff3 import FF31
from veil.crypto.fpe_radix import Half, decode, encode

B36 = "0123456789abcdefghijklmnopqrstuvwxyz"
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
keys = st.sampled_from([16, 24, 32]).flatmap(lambda n: st.binary(min_size=n, max_size=n))


@st.composite
def batches(draw: st.DrawFn, alphabet: str, lo: int, hi: int) -> list[str]:
    n = draw(st.integers(min_value=lo, max_value=hi))
    value = st.text(alphabet=alphabet, min_size=n, max_size=n)
    return draw(st.lists(value, min_size=1, max_size=6))


@settings(max_examples=40, deadline=None)
@given(keys, st.sampled_from(["0123456789", LETTERS]), st.data())
def test_ff3_1_equals_the_ff3_package(key: bytes, alphabet: str, data: st.DataObject) -> None:
    from ff3 import FF3Cipher

    ref = FF3Cipher.withCustomAlphabet(key.hex(), "00" * 7, alphabet)
    values = data.draw(batches(alphabet, ref.minLen, ref.maxLen))
    tweaks = data.draw(st.lists(st.binary(min_size=7, max_size=7), min_size=len(values),
                                max_size=len(values)))
    want = [ref.encrypt_with_tweak(v, t.hex()) for v, t in zip(values, tweaks, strict=True)]
    c = FF31(key, len(alphabet))
    got = encode(c.encrypt(decode(values, alphabet), tweaks), alphabet)
    assert got == want
    assert encode(c.decrypt(decode(got, alphabet), tweaks), alphabet) == values


@settings(max_examples=40, deadline=None)
@given(keys, st.sampled_from([10, 26, 36]), st.binary(max_size=40), st.data())
def test_ff1_equals_libffx(key: bytes, radix: int, tweak: bytes, data: st.DataObject) -> None:
    ffx = pytest.importorskip("ffx", reason="libffx (test extra) is the FF1 reference")
    alphabet = B36[:radix]
    ref = ffx.FF1(key, radix=radix)
    c = FF1(key, radix)
    values = data.draw(batches(alphabet, c.min_length, 90))  # past 58 digits: S > one block
    want = [ref.encrypt(v, tweak=tweak) for v in values]
    got = encode(c.encrypt(decode(values, alphabet), tweak), alphabet)
    assert got == want
    assert encode(c.decrypt(decode(got, alphabet), tweak), alphabet) == values


@settings(max_examples=50, deadline=None)
@given(st.sampled_from([2, 10, 26, 36, 64, 255, 65536]), st.integers(1, 60), st.data())
def test_limb_arithmetic_equals_python_integers(radix: int, m: int, data: st.DataObject) -> None:
    h = Half(radix, m)
    mod = radix**m
    a, b = (data.draw(st.lists(st.integers(0, mod - 1), min_size=3, max_size=3)) for _ in "ab")
    y = data.draw(st.lists(st.integers(0, 2**160 - 1), min_size=3, max_size=3))

    def limbs(xs: list[int]) -> list[np.ndarray]:
        dig = np.array([[(x // radix**j) % radix for j in range(m)] for x in xs], np.uint64)
        return h.to_limbs(dig)

    def ints(ls: list[np.ndarray]) -> list[int]:
        dig = h.to_numerals(ls, np.uint64 if radix > 255 else np.uint8)
        return [sum(int(d) * radix**j for j, d in enumerate(row)) for row in dig]

    assert ints(limbs(a)) == a
    assert ints(h.add(limbs(a), limbs(b))) == [(x + z) % mod for x, z in zip(a, b, strict=True)]
    assert ints(h.sub(limbs(a), limbs(b))) == [(x - z) % mod for x, z in zip(a, b, strict=True)]
    words = [np.array([(v >> (32 * (4 - i))) & 0xFFFFFFFF for v in y], np.uint64)
             for i in range(5)]  # most significant first
    assert ints(h.reduce_words(words)) == [v % mod for v in y]
    nw = (mod.bit_length() + 31) // 32
    back = h.to_words(limbs(a), nw)
    assert [sum(int(w[r]) << (32 * i) for i, w in enumerate(back)) for r in range(3)] == a


@pytest.mark.parametrize(("make", "msg"), [
    (lambda: FF1(bytes(15), 10), "128, 192 or 256-bit"),
    (lambda: FF31(bytes(33), 10), "128, 192 or 256-bit"),
    (lambda: FF1(bytes(16), 1), "radix"),
    (lambda: FF1(bytes(16)).encrypt(np.zeros((2, 5), np.uint8)), "6 to"),
    (lambda: FF31(bytes(16)).encrypt(np.zeros((2, 57), np.uint8), bytes(7)), "6 to 56"),
    (lambda: FF1(bytes(16)).encrypt(np.full((1, 8), 10, np.uint8)), "outside 0..9"),
    (lambda: FF31(bytes(16)).encrypt(np.zeros((1, 8), np.uint8), bytes(8)), "56 bits"),
    (lambda: FF1(bytes(16)).encrypt(np.zeros((3, 8), np.uint8), [b"a", b"bc", b"c"]),
     "same length"),
    (lambda: FF1(bytes(16)).encrypt(np.zeros((3, 8), np.uint8), np.zeros((2, 4), np.uint8)),
     "one per value"),
])
def test_bad_input_is_one_clear_error(make: object, msg: str) -> None:
    with pytest.raises(ValueError, match=msg):
        make()  # type: ignore[operator]


def test_empty_batch() -> None:
    empty = np.zeros((0, 16), np.uint8)
    assert FF1(bytes(16)).encrypt(empty).shape == (0, 16)
    assert FF31(bytes(16)).decrypt(empty, bytes(7)).shape == (0, 16)
