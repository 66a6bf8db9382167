"""``fpe``: format-preserving encryption (FF1 or FF3-1) of card numbers, IBANs, account numbers.

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

The cipher (``algorithm:``) is FF1 or FF3-1 (NIST SP 800-38G Rev. 1), AES-256 with the
domain's key, computed in batches over ``cryptography``'s AES (`veil.crypto.fpe_ff1`,
`veil.crypto.fpe_ff3`; the formats over whole arrays: `veil.transforms.fpe_batch`). The tweak
is a hash of the format and the kept characters (FF3-1: 56 bits, FF1: 64 bits), so equal
account numbers at different banks encrypt differently. ``algorithm`` left out means
``ff3-1``: a policy written before FF1 existed keeps producing, and reversing, the very tokens
it always did (they equal the ``ff3`` package's, tested). New policies should say
``algorithm: ff1``: NIST's 2025 draft revision of SP 800-38G proposes withdrawing FF3-1. Values
too short for the minimum domain of a million (fewer than 6 digits to encrypt) are refused. A
value that is not valid in its format is an error naming the row (``on_invalid: error``, the
default) or becomes null (``on_invalid: null``); it is never passed through.

FPE has no room for an authentication tag, so decryption with a wrong key cannot notice and
would return a wrong number: `reverse` therefore takes the key id that the run's receipt
recorded and refuses (`WrongKeyError`) when the domain's key has another id.

FPE protects values against readers without the key, but the small domains involved (a
9-digit card payload) make it a pseudonymization, not a substitute for tokens where a token
would do.
"""

from __future__ import annotations

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
from veil.transforms.fpe_batch import (
    ALGORITHMS,
    NAMES,
    Engine,
    Rejects,
    Spec,
    crypt_iban,
    crypt_numeric,
)
from veil.transforms.keys import domain_of, fingerprint, key_id, keys_from
from veil.transforms.registry import Transform, register

__all__ = ["ALGORITHMS", "FORMATS", "FpeCodec", "Invalid", "encrypt_values", "reverse"]

FORMATS = ("card", "iban", "digits")


class Invalid(ValueError):
    """A value that is not valid in the format (never carries the value)."""


class FpeCodec:
    """FF1 or FF3-1 for one key and one format's parameters, over arrays (`crypt`) or one
    value (`encrypt` / `decrypt`)."""

    def __init__(self, key: bytes, fmt: str = "card", *, keep_first: int = 0,
                 keep_bank: bool = True, check_digit: str = "none",
                 algorithm: str = "ff3-1") -> None:
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}")
        if algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm must be one of {', '.join(ALGORITHMS)}")
        if len(key) not in (16, 24, 32):
            raise ValueError("FPE needs a 128, 192 or 256-bit key")
        self.spec = Spec(fmt, keep_first, keep_bank, check_digit, algorithm)
        self.key_id = fingerprint(key)
        self._engine = Engine(key, algorithm)

    def crypt(self, values: pa.Array, forward: bool) -> tuple[pa.Array, Rejects]:
        """Distinct, non-null strings -> (outputs with nulls where rejected, the rejects)."""
        run = crypt_iban if self.spec.fmt == "iban" else crypt_numeric
        return run(values, self.spec, self._engine, forward)

    def encrypt(self, value: str) -> str:
        return self._one(value, True)

    def decrypt(self, value: str) -> str:
        return self._one(value, False)

    def _one(self, value: str, forward: bool) -> str:
        out, rejects = self.crypt(pa.array([value], pa.string()), forward)
        bad = rejects.first()
        if bad is not None:
            raise Invalid(bad[1])
        return str(out[0].as_py())


# -- arrays ----------------------------------------------------------------------------------


def _codec(key: bytes, params: dict[str, Any]) -> FpeCodec:
    try:
        return FpeCodec(key, params["format"], keep_first=params.get("keep_first", 0),
                        keep_bank=params.get("keep_bank", True),
                        check_digit=params.get("check_digit", "none"),
                        algorithm=params.get("algorithm", "ff3-1"))
    except ValueError as exc:
        raise InputError(f"fpe parameters: {exc}") from None


def _map(values: pa.Array, codec: FpeCodec, forward: bool, on_invalid: str) -> pa.Array:
    arr = to_text(as_array(values))
    if len(arr) == 0:
        return pa.array([], type=pa.string())
    enc = pc.dictionary_encode(arr)
    out, rejects = codec.crypt(enc.dictionary, forward)
    bad = rejects.first()
    if bad is not None and on_invalid == "error":
        idx = pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False)
        row = int(np.flatnonzero(idx == bad[0])[0])
        many = int(rejects.mask().sum())
        raise InputError(f"row {row} of the batch: {bad[1]} "
                         f"({many} such value{'s' if many > 1 else ''}; "
                         "on_invalid: null turns them into nulls)")
    return out.take(enc.indices)


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
    allowed(params, ("format", "algorithm", "keep_first", "keep_bank", "check_digit",
                     "on_invalid", "domain"))
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
    str_param(params, "algorithm", "ff3-1", ALGORITHMS)
    domain_param(params)


def _apply(values: pa.Array, params: dict[str, Any], ctx: TransformContext) -> pa.Array:
    key = keys_from(ctx, "fpe").fpe_key(domain_of(params, ctx))
    return encrypt_values(values, key, params)


def _describe(params: dict[str, Any], ctx: TransformContext | None) -> dict[str, Any]:
    name = NAMES[params.get("algorithm", "ff3-1")]
    out: dict[str, Any] = {"transform": "fpe", "params": dict(params),
                           "algorithm": f"{name} (AES-256)"}
    if ctx is not None:
        d = domain_of(params, ctx)
        out.update(domain=d, key_id=key_id(keys_from(ctx, "fpe"), "fpe", d))
    return out


register(Transform(
    "fpe", "format-preserving encryption (FF1 or FF3-1) of cards, IBANs, account numbers; "
    "check digits recomputed", _check, _apply, output_type=lambda f, p: "string",
    describe=_describe,
    example="card_number: {transform: fpe, format: card, keep_first: 6, algorithm: ff1}"))

