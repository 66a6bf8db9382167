"""``fpe``: format-preserving encryption (FF3-1) of card numbers, IBANs and account numbers.

The output looks like the input (same length, digits stay digits, separators stay where they
were) and still passes the same validators, because the check digits are recomputed after
encryption: the Luhn digit of a card (``stdnum.luhn``) and the mod-97 check digits of an IBAN
(``stdnum.iban``; ``schwifty.IBAN`` accepts the result). The key holder reverses it exactly
(`reverse`, ``veil reidentify --transform fpe``).

Formats (``format:``):

* ``card``: 13 to 19 digits, Luhn-valid. The digits between the ``keep_first`` kept ones
  (0..6, e.g. 6 keeps the BIN) and the check digit are encrypted; the check digit is
  recomputed.
* ``iban``: a valid IBAN. The country code is kept, and the bank code with ``keep_bank: true``
  (the default: bank and BIC lookups still work); the other BBAN digits are encrypted as one
  decimal string and its letters, when there are 5 or more, as one string of letters; the
  IBAN check digits are recomputed. National check digits inside the BBAN are encrypted like
  the account number, so ``schwifty``'s optional ``validate_bban=True`` may reject results
  for countries that have them (FR, IT, ES, BE, NO, ...); the IBAN itself is valid.
* ``digits``: account numbers and other digit strings (separators `` -/.`` kept in place),
  6 to 56 digits after the ``keep_first`` kept ones; ``check_digit: luhn`` when the last
  digit is a Luhn check digit (recomputed), else ``none``.

The cipher is FF3-1 (NIST SP 800-38G Rev. 1, from the ``ff3`` package, AES-256 key of the
domain, 56-bit tweak = SHA-256 of the format and the kept characters, so equal account
numbers at different banks encrypt differently). Values too short for FF3-1's minimum domain
of a million (fewer than 6 digits to encrypt) are refused. A value that is not valid in its
format is an error naming the row (``on_invalid: error``, the default) or becomes null
(``on_invalid: null``); it is never passed through.

FPE has no room for an authentication tag, so decryption with a wrong key cannot notice and
would return a wrong number: `reverse` therefore takes the key id that the run's receipt
recorded and refuses (`WrongKeyError`) when the domain's key has another id.

NIST's 2025 second draft of SP 800-38G Rev. 1 proposes withdrawing FF3-1 and keeping FF1
only; Veil will move to FF1 when a well-kept Python package implements it. FPE protects
values against readers without the key, but the small domains involved (a 9-digit card
payload) make it a pseudonymization, not a substitute for tokens where a token would do.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from veil.crypto.errors import WrongKeyError
from veil.errors import InputError
from veil.policy.model import FieldDef
from veil.transforms._common import (
    allowed,
    as_array,
    domain_param,
    int_param,
    str_param,
    to_text,
    types,
)
from veil.transforms.context import TransformContext
from veil.transforms.keys import domain_of, fingerprint, key_id, keys_from
from veil.transforms.registry import Transform, register

FORMATS = ("card", "iban", "digits")
DIGITS = "0123456789"
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_SEPARATORS = set(" -/.")
MIN_DIGITS, MAX_DIGITS = 6, 56  # FF3-1, radix 10: 10**6 >= one million; 2*floor(96/log2(10))
MIN_LETTERS, MAX_LETTERS = 5, 40  # radix 26


class Invalid(ValueError):
    """A value that is not valid in the format (never carries the value)."""


def _ff3() -> Any:
    try:
        from ff3 import FF3Cipher
    except ImportError:  # pragma: no cover - a dependency of veil
        raise InputError("the fpe transform needs the 'ff3' package (pip install ff3)") from None
    return FF3Cipher


def _tweak(fmt: str, context: str, part: str = "") -> str:
    h = hashlib.sha256(b"veil.fpe.v1\x00" + fmt.encode() + b"\x00" + part.encode() + b"\x00"
                       + context.encode("utf-8")).digest()
    return h[:7].hex()  # 56 bits: FF3-1


class FpeCodec:
    """FF3-1 for one key and one format's parameters: ``encrypt`` / ``decrypt`` one value."""

    def __init__(self, key: bytes, fmt: str = "card", *, keep_first: int = 0,
                 keep_bank: bool = True, check_digit: str = "none") -> None:
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}")
        if len(key) not in (16, 24, 32):
            raise ValueError("FF3-1 needs a 128, 192 or 256-bit key")
        cls = _ff3()
        self.fmt = fmt
        self.keep_first = keep_first
        self.keep_bank = keep_bank
        self.check_digit = check_digit
        self.key_id = fingerprint(key)
        self._digits = cls(key.hex(), "00000000000000", 10)
        self._letters = cls.withCustomAlphabet(key.hex(), "00000000000000", LETTERS)

    # -- one value --------------------------------------------------------------------------

    def encrypt(self, value: str) -> str:
        return self._run(value, True)

    def decrypt(self, value: str) -> str:
        return self._run(value, False)

    def _run(self, value: str, forward: bool) -> str:
        if self.fmt == "iban":
            return self._iban(value, forward)
        return self._numeric(value, forward)

    def _numeric(self, value: str, forward: bool) -> str:
        from stdnum import luhn

        chars = list(value)
        pos = [i for i, c in enumerate(chars) if c in DIGITS]
        if len(pos) + sum(1 for c in chars if c in _SEPARATORS) != len(chars) or not pos:
            raise Invalid(f"not a {self._what()} (digits and separators only)")
        digits = "".join(chars[i] for i in pos)
        luhn_check = self.fmt == "card" or self.check_digit == "luhn"
        if self.fmt == "card" and not 13 <= len(digits) <= 19:
            raise Invalid("not a card number (13 to 19 digits)")
        if luhn_check and not luhn.is_valid(digits):
            raise Invalid(f"not a {self._what()} (the Luhn check digit is wrong)")
        head = digits[:self.keep_first]
        body = digits[self.keep_first:len(digits) - 1] if luhn_check else \
            digits[self.keep_first:]
        if not MIN_DIGITS <= len(body) <= MAX_DIGITS:
            raise Invalid(f"{len(body)} digits to encrypt; FF3-1 needs {MIN_DIGITS} to "
                          f"{MAX_DIGITS}")
        tweak = _tweak(self.fmt, head)
        new = (self._digits.encrypt_with_tweak(body, tweak) if forward
               else self._digits.decrypt_with_tweak(body, tweak))
        out = head + new
        if luhn_check:
            out += luhn.calc_check_digit(out)
        for i, d in zip(pos, out, strict=True):
            chars[i] = d
        return "".join(chars)

    def _iban(self, value: str, forward: bool) -> str:
        from schwifty import IBAN
        from schwifty.domain import Component
        from schwifty.exceptions import SchwiftyException
        from stdnum import iban as std_iban

        chars = list(value)
        pos = [i for i, c in enumerate(chars) if c.isalnum()]
        if len(pos) + sum(1 for c in chars if c in _SEPARATORS) != len(chars) or len(pos) < 5:
            raise Invalid("not an IBAN")
        compact = "".join(chars[i] for i in pos).upper()
        try:
            parsed = IBAN(compact)
        except (SchwiftyException, ValueError):
            raise Invalid("not a valid IBAN") from None
        bban = compact[4:]
        kept: set[int] = set()
        if self.keep_bank:
            r = parsed.bban.spec.positions.get(Component.BANK_CODE)
            if r is not None and r.end > r.start:
                kept = set(range(r.start, r.end))
        context = compact[:2] + "".join(bban[i] for i in sorted(kept))
        dig = [i for i in range(len(bban)) if i not in kept and bban[i] in DIGITS]
        let = [i for i in range(len(bban)) if i not in kept and bban[i] in LETTERS]
        if len(dig) < MIN_DIGITS:
            raise Invalid(f"IBAN of {compact[:2]}: {len(dig)} digits to encrypt, FF3-1 needs "
                          f"{MIN_DIGITS} (try keep_bank: false)")
        new = list(bban)
        body = "".join(bban[i] for i in dig)
        tw = _tweak("iban", context, "digits")
        enc = (self._digits.encrypt_with_tweak(body, tw) if forward
               else self._digits.decrypt_with_tweak(body, tw))
        for i, c in zip(dig, enc, strict=True):
            new[i] = c
        if MIN_LETTERS <= len(let) <= MAX_LETTERS:
            body = "".join(bban[i] for i in let)
            tw = _tweak("iban", context, "letters")
            enc = (self._letters.encrypt_with_tweak(body, tw) if forward
                   else self._letters.decrypt_with_tweak(body, tw))
            for i, c in zip(let, enc, strict=True):
                new[i] = c
        new_bban = "".join(new)
        check = std_iban.calc_check_digits(compact[:2] + "00" + new_bban)
        out = compact[:2] + check + new_bban
        # back into the input's layout: same separators, kept characters as they were typed
        res = list(chars)
        for i, c in zip(pos, out, strict=True):
            if chars[i].upper() != c:
                res[i] = c
        return "".join(res)

    def _what(self) -> str:
        return {"card": "card number", "digits": "account number"}.get(self.fmt, self.fmt)


# -- arrays ----------------------------------------------------------------------------------


def _codec(key: bytes, params: dict[str, Any]) -> FpeCodec:
    return FpeCodec(key, params["format"], keep_first=params.get("keep_first", 0),
                    keep_bank=params.get("keep_bank", True),
                    check_digit=params.get("check_digit", "none"))


def _map(values: pa.Array, codec: FpeCodec, forward: bool, on_invalid: str) -> pa.Array:
    arr = to_text(as_array(values))
    if len(arr) == 0:
        return pa.array([], type=pa.string())
    enc = pc.dictionary_encode(arr)
    out: list[str | None] = []
    bad: list[int] = []
    run = codec.encrypt if forward else codec.decrypt
    reason = ""
    for j, v in enumerate(enc.dictionary.to_pylist()):
        try:
            out.append(run(v))
        except Invalid as exc:
            out.append(None)
            bad.append(j)
            reason = reason or str(exc)
    if bad and on_invalid == "error":
        idx = pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False)
        row = int(np.flatnonzero(np.isin(idx, bad))[0])
        raise InputError(f"row {row} of the batch: {reason} "
                         f"({len(bad)} such value{'s' if len(bad) > 1 else ''}; "
                         "on_invalid: null turns them into nulls)")
    return pa.array(out, type=pa.string()).take(enc.indices)


def encrypt_values(values: pa.Array, key: bytes, params: dict[str, Any]) -> pa.Array:
    """``fpe`` with an explicit key (library use): Arrow ``string`` out, nulls stay null."""
    return _map(values, _codec(key, params), True, params.get("on_invalid", "error"))


def reverse(values: pa.Array | list[str | None], key: bytes, params: dict[str, Any], *,
            expected_key_id: str | None = None) -> pa.Array:
    """The original values of FPE outputs. ``expected_key_id`` is the key id the receipt
    recorded (``fpe:<domain>:<id>`` or ``<id>``): a different key is a `WrongKeyError`, since
    FPE itself cannot tell a wrong key."""
    if expected_key_id is not None:
        want = expected_key_id.rsplit(":", 1)[-1]
        if want != fingerprint(key):
            raise WrongKeyError(f"the domain's FPE key is {fingerprint(key)}, not {want}: "
                                "the values were encrypted under another key")
    arr = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else \
        pa.array(values, type=pa.string())
    return _map(arr, _codec(key, params), False, "error")


def _check(field: FieldDef, params: dict[str, Any]) -> None:
    allowed(params, ("format", "keep_first", "keep_bank", "check_digit", "on_invalid",
                     "domain"))
    if field.category == "free_text":
        raise ValueError("does not fit free text: FPE encrypts one identifier of a known "
                         "format (use redact_text for free text)")
    types(field, ("string",), "FPE encrypts identifiers kept as text (declare the field "
          "type: string, so leading zeros are not lost)")
    fmt = str_param(params, "format", None, FORMATS)
    if fmt == "card":
        int_param(params, "keep_first", 0, 0, 6)
    elif fmt == "digits":
        int_param(params, "keep_first", 0, 0, 50)
    elif "keep_first" in params:
        raise ValueError("'keep_first' is for card and digits (IBANs: keep_bank)")
    if "keep_bank" in params:
        if fmt != "iban":
            raise ValueError("'keep_bank' is for format: iban")
        if not isinstance(params["keep_bank"], bool):
            raise ValueError("'keep_bank' must be true or false")
    if "check_digit" in params:
        if fmt != "digits":
            raise ValueError("'check_digit' is for format: digits (cards always have one)")
        str_param(params, "check_digit", "none", ("none", "luhn"))
    str_param(params, "on_invalid", "error", ("error", "null"))
    domain_param(params)
    _ff3()


def _apply(values: pa.Array, params: dict[str, Any], ctx: TransformContext) -> pa.Array:
    key = keys_from(ctx, "fpe").fpe_key(domain_of(params, ctx))
    return encrypt_values(values, key, params)


def _describe(params: dict[str, Any], ctx: TransformContext | None) -> dict[str, Any]:
    out: dict[str, Any] = {"transform": "fpe", "params": dict(params),
                           "algorithm": "FF3-1 (AES-256)"}
    if ctx is not None:
        d = domain_of(params, ctx)
        out.update(domain=d, key_id=key_id(keys_from(ctx, "fpe"), "fpe", d))
    return out


register(Transform(
    "fpe", "format-preserving encryption (FF3-1) of cards, IBANs, account numbers; "
    "check digits recomputed", _check, _apply, output_type=lambda f, p: "string",
    describe=_describe,
    example="card_number: {transform: fpe, format: card, keep_first: 6}"))

