"""FPE: exact round trip, outputs pass the input's validator, wrong key refused, bad input."""

from __future__ import annotations

import random

import pyarrow as pa
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from schwifty import IBAN
from stdnum import luhn

from tests.transforms.conftest import Ctx
from veil.crypto.errors import WrongKeyError
from veil.errors import InputError
from veil.policy.model import FieldDef
from veil.transforms import REGISTRY, InMemoryTransformKeys
from veil.transforms.fpe import FpeCodec, encrypt_values, reverse
from veil.transforms.keys import key_id

F = REGISTRY["fpe"]
KEY = bytes(range(32))
KEYS = InMemoryTransformKeys()


def test_ff3_1_acvp_vector() -> None:
    """The package's FF3-1 against a NIST ACVP vector (56-bit tweak), as Veil calls it."""
    from ff3 import FF3Cipher

    c = FF3Cipher("2DE79D232DF5585D68CE47882AE256D6", "CBD09280979564", 10)
    assert c.encrypt("3992520240") == "8901801106"
    assert c.decrypt("8901801106") == "3992520240"


def cards() -> st.SearchStrategy[str]:
    def make(body: str, sep: str) -> str:
        digits = body + luhn.calc_check_digit(body)
        if sep and len(digits) == 16:
            return sep.join(digits[i:i + 4] for i in range(0, 16, 4))
        return digits

    return st.builds(make, st.text(alphabet="0123456789", min_size=12, max_size=18),
                     st.sampled_from(["", " ", "-"]))


ALGORITHM = st.sampled_from(["ff1", "ff3-1"])


@settings(max_examples=40, deadline=None)
@given(st.lists(cards(), min_size=1, max_size=12), st.integers(min_value=0, max_value=6),
       ALGORITHM)
def test_card_round_trip_and_luhn(batch: list[str], keep_first: int, algorithm: str) -> None:
    params = {"format": "card", "keep_first": keep_first, "algorithm": algorithm}
    out = encrypt_values(pa.array(batch), KEY, params).to_pylist()
    for card, e in zip(batch, out, strict=True):
        assert len(e) == len(card)
        assert [ch.isdigit() for ch in e] == [ch.isdigit() for ch in card]  # separators kept
        digits = e.replace(" ", "").replace("-", "")
        assert luhn.is_valid(digits)  # the same validator as the input passes
        assert digits[:keep_first] == card.replace(" ", "").replace("-", "")[:keep_first]
    assert reverse(out, KEY, params).to_pylist() == batch
    one = FpeCodec(KEY, "card", keep_first=keep_first, algorithm=algorithm)
    assert one.encrypt(batch[0]) == out[0] and one.decrypt(out[0]) == batch[0]


ibans = st.builds(lambda cc, seed: IBAN.random(cc, random=random.Random(seed)),
                  st.sampled_from(["DE", "GB", "FR", "IT", "ES", "NL", "BE", "AT", "CH",
                                   "PL", "NO", "MT", "SE", "DK", "IE", "LU"]),
                  st.integers(min_value=0, max_value=2**32))


def _digits_outside_bank(iban: IBAN, keep_bank: bool) -> int:
    outside = iban.compact[4:].replace(iban.bank_code, "", 1) if keep_bank else iban.compact[4:]
    return sum(ch.isdigit() for ch in outside)


@settings(max_examples=40, deadline=None)
@given(st.lists(ibans, min_size=1, max_size=8), st.booleans(), st.booleans(), ALGORITHM)
def test_iban_round_trip_and_schwifty_valid(batch: list[IBAN], printed: bool, keep_bank: bool,
                                            algorithm: str) -> None:
    # FPE needs 6 digits; random BBANs of alphanumeric formats (IT, MT) may have fewer
    batch = [i for i in batch if _digits_outside_bank(i, keep_bank) >= 6]
    assume(batch)
    values = [i.formatted if printed else i.compact for i in batch]
    params = {"format": "iban", "keep_bank": keep_bank, "algorithm": algorithm}
    out = encrypt_values(pa.array(values), KEY, params).to_pylist()
    for iban, value, e in zip(batch, values, out, strict=True):
        assert len(e) == len(value)
        parsed = IBAN(e)  # schwifty's validation: format, length, mod-97 check digits
        assert parsed.country_code == iban.country_code
        if keep_bank:
            assert parsed.bank_code == iban.bank_code
        assert e != value
    assert reverse(out, KEY, params).to_pylist() == values


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(alphabet="0123456789", min_size=6, max_size=30), min_size=1,
                max_size=12), st.booleans(), ALGORITHM)
def test_digits_round_trip(batch: list[str], luhn_check: bool, algorithm: str) -> None:
    if luhn_check:
        batch = [n + luhn.calc_check_digit(n) for n in batch]
    params = {"format": "digits", "check_digit": "luhn" if luhn_check else "none",
              "algorithm": algorithm}
    out = encrypt_values(pa.array(batch), KEY, params).to_pylist()
    for number, e in zip(batch, out, strict=True):
        assert len(e) == len(number) and e.isdigit()
        if luhn_check:
            assert luhn.is_valid(e)
    assert reverse(out, KEY, params).to_pylist() == batch


def test_ff1_and_ff3_1_tokens_differ_and_reverse_only_with_their_own_algorithm() -> None:
    vals = pa.array(["4111111111111111", "5500000000000004"])
    ff1 = encrypt_values(vals, KEY, {"format": "card", "algorithm": "ff1"})
    ff3 = encrypt_values(vals, KEY, {"format": "card"})
    assert ff1.to_pylist() != ff3.to_pylist()
    assert reverse(ff1, KEY, {"format": "card", "algorithm": "ff1"}).equals(vals)
    assert not reverse(ff1, KEY, {"format": "card"}).equals(vals)


def test_a_mixed_batch_equals_its_values_one_by_one() -> None:
    """Lengths, separators, repeats, nulls and invalid values in one batch: each valid value
    gets what it gets alone, each invalid one a null (on_invalid: null)."""
    vals = ["4111111111111111", "4111-1111-1111-1111", None, "12", "4111111111111112",
            "378282246310005", "4111111111111111", "abc", "", "6011 1111 1111 1117 0000 00"]
    params = {"format": "card", "keep_first": 6, "algorithm": "ff1", "on_invalid": "null"}
    out = encrypt_values(pa.array(vals), KEY, params).to_pylist()
    one = FpeCodec(KEY, "card", keep_first=6, algorithm="ff1")
    for v, e in zip(vals, out, strict=True):
        try:
            want = one.encrypt(v) if v is not None else None
        except ValueError:
            want = None
        assert e == want
    assert [e is None for e in out] == [False, False, True, True, True, False, False, True,
                                        True, True]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(alphabet="0123456789", min_size=2, max_size=20), min_size=1,
                max_size=10))
def test_vectorized_luhn_equals_stdnum(numbers: list[str]) -> None:
    import numpy as np

    from veil.transforms.fpe_batch import luhn_digit, luhn_valid

    for n in {len(x) for x in numbers}:
        group = [x for x in numbers if len(x) == n]
        d = np.array([[int(c) for c in x] for x in group], dtype=np.uint8)
        assert luhn_valid(d).tolist() == [luhn.is_valid(x) for x in group]
        assert luhn_digit(d).tolist() == [int(luhn.calc_check_digit(x)) for x in group]


def test_apply_dedupes_keeps_nulls_and_reverses_with_the_key_id() -> None:
    vals = pa.array(["4111111111111111", None, "4111111111111111", "5500 0000 0000 0004"])
    params = {"format": "card", "keep_first": 6}
    out = F.apply(vals, params, Ctx(KEYS))
    assert out[0] == out[2] and out[1].as_py() is None
    assert "4111111111111111" not in out.to_pylist()
    kid = key_id(KEYS, "fpe", "scoring")
    key = KEYS.fpe_key("scoring")
    assert reverse(out, key, params, expected_key_id=kid).to_pylist() == vals.to_pylist()
    # another purpose domain: another key, other outputs
    assert F.apply(vals, params, Ctx(KEYS, purpose="fraud"))[0] != out[0]


def test_wrong_key_never_silently_works() -> None:
    params = {"format": "card"}
    out = encrypt_values(pa.array(["4111111111111111"]), KEY, params)
    other = bytes(32)
    with pytest.raises(WrongKeyError):
        reverse(out, other, params, expected_key_id=key_id(KEYS, "fpe", "scoring"))
    from veil.transforms.keys import fingerprint

    with pytest.raises(WrongKeyError):
        reverse(out, other, params, expected_key_id=f"fpe:scoring:{fingerprint(KEY)}")
    assert reverse(out, KEY, params, expected_key_id=fingerprint(KEY)).to_pylist() == \
        ["4111111111111111"]


def test_invalid_values_are_refused_or_nulled_never_passed_through() -> None:
    vals = pa.array(["4111111111111112", "4111111111111111"])  # first: bad Luhn digit
    with pytest.raises(InputError, match="row 0 of the batch: not a card number") as exc:
        encrypt_values(vals, KEY, {"format": "card"})
    assert "4111111111111112" not in str(exc.value)
    out = encrypt_values(vals, KEY, {"format": "card", "on_invalid": "null"}).to_pylist()
    assert out[0] is None and out[1] is not None
    with pytest.raises(InputError, match="not a valid IBAN"):
        encrypt_values(pa.array(["DE00370400440532013000"]), KEY, {"format": "iban"})
    with pytest.raises(InputError, match="FF3-1 needs 6"):
        encrypt_values(pa.array(["12345"]), KEY, {"format": "digits"})
    with pytest.raises(InputError, match="digits and separators"):
        encrypt_values(pa.array(["12a456789"]), KEY, {"format": "digits"})


@pytest.mark.parametrize(("field", "params", "msg"), [
    (FieldDef(category="free_text"), {"format": "card"}, "does not fit free text"),
    (FieldDef(category="account", type="integer"), {"format": "digits"}, "type integer"),
    (FieldDef(category="card"), {}, "needs the parameter 'format'"),
    (FieldDef(category="card"), {"format": "ssn"}, "must be one of"),
    (FieldDef(category="card"), {"format": "card", "keep_first": 7}, "0..6"),
    (FieldDef(category="account"), {"format": "iban", "keep_first": 2}, "keep_bank"),
    (FieldDef(category="account"), {"format": "card", "keep_bank": True}, "iban"),
    (FieldDef(category="account"), {"format": "digits", "check_digit": "mod97"}, "luhn"),
    (FieldDef(category="account"), {"format": "iban", "on_invalid": "keep"}, "error, null"),
    (FieldDef(category="card"), {"format": "card", "algorithm": "ff3"}, "ff3-1, ff1"),
])
def test_check_refusals(field: FieldDef, params: dict, msg: str) -> None:
    with pytest.raises(ValueError, match=msg):
        F.check(field, params)


def test_describe_names_the_algorithm() -> None:
    assert F.describe({"format": "card"}, None)["algorithm"] == "FF3-1 (AES-256)"
    assert F.describe({"format": "card", "algorithm": "ff1"}, None)["algorithm"] == \
        "FF1 (AES-256)"
    F.check(FieldDef(category="card"), {"format": "card", "algorithm": "ff1"})


def test_reverse_with_bad_parameters_is_one_clear_error() -> None:
    with pytest.raises(InputError, match="algorithm must be one of ff3-1, ff1"):
        reverse(["4111111111111111"], KEY, {"format": "card", "algorithm": "ff3"})
    with pytest.raises(InputError, match="format must be one of"):
        reverse(["4111111111111111"], KEY, {"format": "ssn"})
