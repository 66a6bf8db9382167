"""Payment card numbers (PAN): issuer (IIN) ranges + the Luhn check from python-stdnum."""

from __future__ import annotations

from stdnum import luhn

from veil.discovery.recognizers._common import NUM_L, NUM_R
from veil.discovery.registry import Recognizer

# Issuer identification ranges of the card networks (ISO/IEC 7812 IINs as published by the
# networks): (first digits low, high, allowed lengths, brand). A table, not a checksum.
# Maestro also issued 12-15 digit numbers; they are too easily confused with account numbers
# in free text, so only 16-19 digits are taken.
IIN_RANGES: tuple[tuple[int, int, tuple[int, ...], str], ...] = (
    (4, 4, (13, 16, 19), "visa"),
    (51, 55, (16,), "mastercard"),
    (2221, 2720, (16,), "mastercard"),
    (34, 34, (15,), "amex"),
    (37, 37, (15,), "amex"),
    (300, 305, (14, 15, 16, 17, 18, 19), "diners"),
    (36, 36, (14, 15, 16, 17, 18, 19), "diners"),
    (38, 39, (14, 15, 16, 17, 18, 19), "diners"),
    (6011, 6011, (16, 17, 18, 19), "discover"),
    (644, 649, (16, 17, 18, 19), "discover"),
    (65, 65, (16, 17, 18, 19), "discover"),
    (3528, 3589, (16, 17, 18, 19), "jcb"),
    (62, 62, (16, 17, 18, 19), "unionpay"),
    (2200, 2204, (16, 17, 18, 19), "mir"),
    (50, 50, (16, 17, 18, 19), "maestro"),
    (56, 69, (16, 17, 18, 19), "maestro"),
)


def issuer(number: str) -> str | None:
    """The card brand whose IIN range and length fit ``number`` (digits only), or None."""
    n = len(number)
    for lo, hi, lengths, brand in IIN_RANGES:
        width = len(str(lo))
        if n in lengths and lo <= int(number[:width]) <= hi:
            return brand
    return None


def _digits(value: str) -> str | None:
    d = value.replace(" ", "").replace("-", "")
    return d if d.isdigit() and 12 <= len(d) <= 19 else None


def validate_card(value: str) -> bool:
    """A known issuer range and length, and a valid Luhn check digit (stdnum.luhn)."""
    d = _digits(value)
    return bool(d and issuer(d) and luhn.is_valid(d))


def looks_like_card(value: str) -> bool:
    """Issuer range and length fit: a failed Luhn check then vetoes any other reading."""
    d = _digits(value)
    return bool(d and issuer(d))


CONTEXT = (
    "card",
    "credit",
    "debit",
    "visa",
    "mastercard",
    "master card",
    "amex",
    "american express",
    "maestro",
    "pan",
    "karte",
    "kreditkarte",
    "carte",
    "tarjeta",
    "carta",
    "kaart",
    "cc ",
)

RECOGNIZERS = [
    Recognizer(
        name="card",
        type="card",
        pattern=(
            NUM_L
            + r"(?:\d{4}(?:[ \-]\d{4}){2,3}(?:[ \-]\d{1,3})?|\d{4}[ \-]\d{6}[ \-]\d{4,5}|\d{12,19})"
            + NUM_R
        ),
        value_pattern=r"[0-9]{4}(?:[ \-]?[0-9]){8,15}",
        prefilter=r"\d{4}[ \-]?\d{4}[ \-]?\d{4}|\d{4}[ \-]\d{6}[ \-]\d{4}",
        validator=validate_card,
        validator_name="stdnum.luhn + IIN ranges",
        strength="checksum",
        context=CONTEXT,
        score=0.8,
        veto=looks_like_card,
        shrink=True,
        column_names=r"card|pan\b|ccnum|cc_?num|kreditkarte|carte|tarjeta",
    ),
]
