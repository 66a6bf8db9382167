"""Policies without ``algorithm`` keep FF3-1 and the very tokens Veil always made with it.

The pinned outputs below were made by the ``fpe`` transform of commit 6a95f82, which encrypted
one value at a time with the ``ff3`` package; the batched FF3-1 must give them unchanged (and
reverse them), and must equal the ``ff3`` package on random batches too.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum import luhn

from veil.transforms.fpe import encrypt_values, reverse

KEY = bytes(range(32))
PINNED: list[tuple[dict[str, Any], list[tuple[str, str]]]] = [
    ({"format": "card", "keep_first": 6}, [
        ("4111111111111111", "4111114191885844"),
        ("5500 0000 0000 0004", "5500 0055 9652 3764"),
        ("378282246310005", "378282060652938"),
        ("6011-1111-1111-1117", "6011-1196-5719-8984")]),
    ({"format": "card"}, [("4012888888881881", "8293909644271968"),
                          ("4222222222222", "9143556184306")]),
    ({"format": "digits"}, [
        ("123456", "043423"), ("0000123456789", "8422518916230"),
        ("12-3456-7890/12", "72-2289-2238/32"),
        ("98765432109876543210987654321098765432109876543210123456",
         "53705224364438834415476549153317294059075365887299372345")]),
    ({"format": "digits", "check_digit": "luhn", "keep_first": 3},
     [("79927398713", "79932848546")]),
    ({"format": "iban"}, [
        ("DE89370400440532013000", "DE29370400442821191673"),
        ("GB82 WEST 1234 5698 7654 32", "GB33 WEST 0682 7947 5815 13"),
        ("FR1420041010050500013M02606", "FR6120041175074534634M33391"),
        ("MT84MALT011000012345MTLCAST001S", "MT40MALT282148923605JFSCURP353C")]),
    ({"format": "iban", "keep_bank": False}, [("NL91ABNA0417164300", "NL90ABNA8833450216")]),
]


@pytest.mark.parametrize(("params", "pairs"), PINNED)
@pytest.mark.parametrize("algorithm", [None, "ff3-1"])
def test_pinned_ff3_1_tokens(params: dict[str, Any], pairs: list[tuple[str, str]],
                             algorithm: str | None) -> None:
    p = dict(params) if algorithm is None else {**params, "algorithm": algorithm}
    plain = pa.array([a for a, _ in pairs])
    assert encrypt_values(plain, KEY, p).to_pylist() == [b for _, b in pairs]
    assert reverse([b for _, b in pairs], KEY, p).to_pylist() == plain.to_pylist()


def _ff3_card(card: str, keep_first: int) -> str:
    """The transform's card format, one value at a time over the ``ff3`` package."""
    from ff3 import FF3Cipher

    head, body = card[:keep_first], card[keep_first:-1]
    tweak = hashlib.sha256(b"veil.fpe.v1\x00card\x00\x00" + head.encode()).digest()[:7]
    new = head + FF3Cipher(KEY.hex(), "00" * 7).encrypt_with_tweak(body, tweak.hex())
    return new + luhn.calc_check_digit(new)


cards = st.builds(lambda p: p + luhn.calc_check_digit(p),
                  st.text(alphabet="0123456789", min_size=12, max_size=18))


@settings(max_examples=25, deadline=None)
@given(st.lists(cards, min_size=1, max_size=30), st.integers(min_value=0, max_value=6))
def test_batches_equal_the_ff3_package(batch: list[str], keep_first: int) -> None:
    params = {"format": "card", "keep_first": keep_first}
    out = encrypt_values(pa.array(batch), KEY, params).to_pylist()
    assert out == [_ff3_card(c, keep_first) for c in batch]
    assert reverse(out, KEY, params).to_pylist() == batch


@settings(max_examples=15, deadline=None)
@given(st.lists(st.text(alphabet="0123456789", min_size=26, max_size=26), min_size=1,
                max_size=10), st.sampled_from([0, 3, 18, 19, 20]))
def test_long_kept_heads_equal_the_ff3_package(batch: list[str], keep_first: int) -> None:
    """Heads of more than 18 digits are told apart as bytes, shorter ones as integers."""
    from ff3 import FF3Cipher

    ref = FF3Cipher(KEY.hex(), "00" * 7)
    want = []
    for v in batch:
        head = v[:keep_first]
        tweak = hashlib.sha256(b"veil.fpe.v1\x00digits\x00\x00" + head.encode()).digest()[:7]
        want.append(head + ref.encrypt_with_tweak(v[keep_first:], tweak.hex()))
    params = {"format": "digits", "keep_first": keep_first}
    assert encrypt_values(pa.array(batch), KEY, params).to_pylist() == want
