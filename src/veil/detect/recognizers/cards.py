"""Payment card numbers (PAN): issuer (IIN) ranges + the Luhn check from python-stdnum."""

from __future__ import annotations

import re
from dataclasses import dataclass

from stdnum import luhn

from veil.detect.recognizers._common import NUM_L, NUM_R
from veil.detect.registry import Recognizer


@dataclass(frozen=True)
class IssuerRange:
    """Card numbers of ``brand`` start with a number from ``low`` to ``high`` (as many digits
    as ``low`` has) and have one of ``lengths`` digits (ISO/IEC 7812 IINs as the networks
    publish them)."""

    brand: str
    low: int
    high: int
    lengths: tuple[int, ...]

    def fits(self, number: str) -> bool:
        width = len(str(self.low))
        return len(number) in self.lengths and self.low <= int(number[:width]) <= self.high


_ANY = (16, 17, 18, 19)
_DINERS = (14, 15, 16, 17, 18, 19)
_MAESTRO = (12, 13, 14, 15, 16, 17, 18, 19)

# A table, not a checksum. Maestro numbers have 12 to 19 digits: in free text a plain run of
# 12-15 digits scores below the threshold unless a card word is near (account numbers look
# the same), while grouped ones ("5018 0000 0009") count.
IIN_RANGES: tuple[IssuerRange, ...] = (
    IssuerRange("uatp", 1, 1, (15,)),
    IssuerRange("visa", 4, 4, (13, 16, 19)),
    IssuerRange("mastercard", 51, 55, (16,)),
    IssuerRange("mastercard", 2221, 2720, (16,)),
    IssuerRange("amex", 34, 34, (15,)),
    IssuerRange("amex", 37, 37, (15,)),
    IssuerRange("diners", 300, 305, _DINERS),
    IssuerRange("diners", 36, 36, _DINERS),
    IssuerRange("diners", 38, 39, _DINERS),
    IssuerRange("discover", 6011, 6011, _ANY),
    IssuerRange("discover", 644, 649, _ANY),
    IssuerRange("discover", 65, 65, _ANY),
    IssuerRange("jcb", 3528, 3589, _ANY),
    IssuerRange("unionpay", 62, 62, _ANY),
    IssuerRange("mir", 2200, 2204, _ANY),
    IssuerRange("maestro", 50, 50, _MAESTRO),
    IssuerRange("maestro", 56, 69, _MAESTRO),
    IssuerRange("rupay", 60, 60, (16,)),
    IssuerRange("troy", 9792, 9792, (16,)),
)


def issuer(number: str) -> str | None:
    """The card brand whose IIN range and length fit ``number`` (digits only), or None."""
    return next((r.brand for r in IIN_RANGES if r.fits(number)), None)


_SEP = re.compile(r"[\s.\-]")


def _digits(value: str) -> str | None:
    d = _SEP.sub("", value)
    return d if d.isdigit() and 12 <= len(d) <= 19 else None


def validate_card(value: str) -> float:
    """A known issuer range and length, and a valid Luhn check digit (stdnum.luhn): 0.8; a
    plain run of 12-15 digits (Maestro, UATP, Amex written without spaces) 0.45, so that in
    text it needs a card word nearby."""
    d = _digits(value)
    if not (d and issuer(d) and luhn.is_valid(d)):
        return 0.0
    if len(d) < 16 and d == value.strip() and not d.startswith(("34", "37")):
        return 0.45
    return 0.8


def looks_like_card(value: str) -> bool:
    """Issuer range and length fit: a failed Luhn check then vetoes any other reading. Plain
    runs of 12-15 digits that only Maestro or UATP would issue veto nothing (account
    numbers look the same)."""
    d = _digits(value)
    if not d:
        return False
    brand = issuer(d)
    return bool(brand) and (len(d) >= 16 or brand not in ("maestro", "uatp", "rupay", "troy"))


# between digit groups: a space, dash or dot, or a line break (a number wrapped in a memo)
_GAP = r"(?:[ .\-]?\r?\n|[ .\-])"

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
    "diners",
    "discover",
    "jcb",
    "unionpay",
    "uatp",
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
            + r"(?:\d{4}(?:"
            + _GAP
            + r"\d{4}){2,3}(?:"
            + _GAP
            + r"\d{1,3})?|\d{4}"
            + _GAP
            + r"\d{6}"
            + _GAP
            + r"\d{4,5}|\d{12,19})"
            + NUM_R
        ),
        value_pattern=r"[0-9]{4}(?:[ .\-]?[0-9]){8,15}",
        prefilter=r"\d{4}[ .\-\r\n]{0,3}\d{4}[ .\-\r\n]{0,3}\d{4}|\d{4}[ .\-]\d{6}[ .\-]\d{4}",
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
