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


@settings(max_examples=150, deadline=None)
@given(cards(), st.integers(min_value=0, max_value=6))
def test_card_round_trip_and_luhn(card: str, keep_first: int) -> None:
    c = FpeCodec(KEY, "card", keep_first=keep_first)
    e = c.encrypt(card)
    assert len(e) == len(card)
    assert [ch.isdigit() for ch in e] == [ch.isdigit() for ch in card]  # separators kept
    digits = e.replace(" ", "").replace("-", "")
    assert luhn.is_valid(digits)  # the same validator as the input passes
    assert digits[:keep_first] == card.replace(" ", "").replace("-", "")[:keep_first]
    assert c.decrypt(e) == card


ibans = st.builds(lambda cc, seed: IBAN.random(cc, random=random.Random(seed)),
                  st.sampled_from(["DE", "GB", "FR", "IT", "ES", "NL", "BE", "AT", "CH",
                                   "PL", "NO", "MT", "SE", "DK", "IE", "LU"]),
                  st.integers(min_value=0, max_value=2**32))


@settings(max_examples=150, deadline=None)
@given(ibans, st.booleans(), st.booleans())
def test_iban_round_trip_and_schwifty_valid(iban: IBAN, printed: bool, keep_bank: bool) -> None:
    value = iban.formatted if printed else iban.compact
    outside_bank = iban.compact[4:].replace(iban.bank_code, "", 1) if keep_bank else \
        iban.compact[4:]
    # FF3-1 needs 6 digits; random BBANs of alphanumeric formats (IT, MT) may have fewer
    assume(sum(ch.isdigit() for ch in outside_bank) >= 6)
    c = FpeCodec(KEY, "iban", keep_bank=keep_bank)
    e = c.encrypt(value)
    assert len(e) == len(value)
    out = IBAN(e)  # schwifty's validation: format, length, mod-97 check digits
    assert out.country_code == iban.country_code
    if keep_bank:
        assert out.bank_code == iban.bank_code
    assert c.decrypt(e) == value
    assert e != value


@settings(max_examples=80, deadline=None)
@given(st.text(alphabet="0123456789", min_size=6, max_size=30), st.booleans())
def test_digits_round_trip(number: str, luhn_check: bool) -> None:
    if luhn_check:
        number = number + luhn.calc_check_digit(number)
    c = FpeCodec(KEY, "digits", check_digit="luhn" if luhn_check else "none")
    e = c.encrypt(number)
    assert len(e) == len(number) and e.isdigit()
    if luhn_check:
        assert luhn.is_valid(e)
    assert c.decrypt(e) == number


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
])
def test_check_refusals(field: FieldDef, params: dict, msg: str) -> None:
    with pytest.raises(ValueError, match=msg):
        F.check(field, params)
