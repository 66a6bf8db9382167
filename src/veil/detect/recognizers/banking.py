"""Bank identifiers: IBAN (every country in the registry), BIC/SWIFT, account numbers."""

from __future__ import annotations

import re
from functools import lru_cache

from stdnum import bic, iban

from veil.detect.recognizers._common import ALNUM_L, ALNUM_R, NUM_L, NUM_R
from veil.detect.registry import Recognizer


@lru_cache(maxsize=256)
def _iban_length(country: str) -> int | None:
    from schwifty import registry

    try:
        return int(registry.get_iban_spec(country).iban_length)
    except ValueError:  # schwifty's InvalidCountryCode: not an IBAN country
        return None


# between groups of four: a space, dash or dot, or a line break (a number wrapped in a memo)
_GAP = r"(?:[ .\-]?\r?\n|[ .\-])"
_SEPS = re.compile(r"[\s.\-]")


def validate_iban(value: str) -> bool:
    """stdnum.iban's checks, with its per-country look-ups cached (a column of IBANs pays
    them once per country, not once per value): the BBAN structure of the IBAN registry,
    ISO 7064 mod 97-10, and the national check digits where stdnum knows them (BE, ES, NO,
    ...). Spaces, dashes, dots and line breaks between the groups are left out first."""
    c = _SEPS.sub("", value).upper()
    if len(c) < 5 or not (c.isascii() and c.isalnum() and c[:2].isalpha() and c[2:4].isdigit()):
        return False
    country = _country(c[:2])
    if country is None:
        return bool(iban.is_valid(c))  # stdnum's internals changed: ask it directly
    struct, national = country
    if struct is None or not struct.match(c[4:]):
        return False
    if int((c[4:] + c[:4]).translate(_LETTERS)) % 97 != 1:
        return False
    return national is None or bool(national.is_valid(c))


_LETTERS = {ord(ch): str(ord(ch) - 55) for ch in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}


@lru_cache(maxsize=512)
def _country(cc: str):  # type: ignore[no-untyped-def]
    """(BBAN structure regex or None, stdnum's national IBAN module or None) of a country,
    from stdnum's own IBAN registry; None when stdnum's internals are not as expected."""
    try:
        info = iban._ibandb.info(cc)
        props = info[0][1]
        struct = re.compile(iban._struct_to_re(props["bban"]).pattern + "$") if props else None
        return struct, iban._get_cc_module(cc)
    except (AttributeError, KeyError, IndexError, TypeError):
        return None


def looks_like_iban(value: str) -> bool:
    """Country code of the registry and the exact length of that country's IBAN."""
    c = iban.compact(_SEPS.sub("", value))
    return len(c) >= 15 and _iban_length(c[:2]) == len(c) and c[2:4].isdigit()


# a SWIFT field's account line opens with a slash (":59:/GB29...", "/DE89..." at a line's
# start); a slash after a word or another slash is a path ("example.com/DE89...")
_IBAN_L = r"(?:" + ALNUM_L + r"|(?<=[\s:\x00]/)|(?<=^/))"  # \x00: texts joined for a batch

IBAN_CONTEXT = ("iban", "account", "konto", "compte", "cuenta", "conto", "rekening", "bank")

BIC_CONTEXT = ("bic", "swift", "iban", "bank code", "bankleitzahl", "code banque")

_IBAN_BEFORE = re.compile(r"[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]{4}){3,8}")


def iban_before(before: str, after: str) -> bool:
    """A BIC right after an IBAN ("DE89 3704 ... / COBADEFFXXX") needs no other context."""
    return bool(_IBAN_BEFORE.search(before[-48:]))


ACCOUNT_CONTEXT = (
    "account",
    "acct",
    "a/c",
    "acc no",
    "acc.",
    "acc #",
    "account no",
    "konto",
    "kontonummer",
    "kto",
    "compte",
    "n° de compte",
    "cuenta",
    "conto",
    "rekening",
    "rekeningnummer",
    "rachunek",
    "rachunku",
    "sort code",
)

RECOGNIZERS = [
    Recognizer(
        name="iban",
        type="iban",
        pattern=(
            _IBAN_L
            + (
                r"(?:[A-Z]{2}\d{2}(?:_G?[A-Z0-9]{4}){2,8}(?:_G?[A-Z0-9]{1,4})?"
                r"|[a-z]{2}\d{2}(?:_G?[a-z0-9]{4}){2,8}(?:_G?[a-z0-9]{1,4})?)"
            ).replace("_G", _GAP)
            + ALNUM_R
        ),
        value_pattern=r"[A-Za-z]{2}[0-9]{2}(?:[ .\-]?[A-Za-z0-9]){11,30}",
        prefilter=(
            r"[A-Z]{2}\d{2}[ .\-\r\n]{0,3}[A-Z0-9]{4}|[a-z]{2}\d{2}[ .\-\r\n]{0,3}[a-z0-9]{4}"
        ),
        validator=validate_iban,
        validator_name="stdnum.iban",
        strength="checksum",
        context=IBAN_CONTEXT,
        score=0.9,
        veto=looks_like_iban,
        shrink=True,
        column_names=r"iban|account|konto|compte|cuenta|rekening",
    ),
    Recognizer(
        name="bic",
        type="bic",
        pattern=ALNUM_L + r"[A-Z]{6}[A-Z0-9]{2}(?:[A-Z0-9]{3})?" + ALNUM_R,
        value_pattern=r"[A-Za-z]{6}[A-Za-z0-9]{2}(?:[A-Za-z0-9]{3})?",
        prefilter=r"[A-Z]{6}[A-Z0-9]{2}",
        validator=bic.is_valid,
        validator_name="stdnum.bic",
        strength="library",
        context=BIC_CONTEXT,
        context_fn=iban_before,
        context_window=64,
        score=0.3,  # an 8-letter word can look like a BIC: needs a context word in text
        column_names=r"bic|swift",
    ),
    Recognizer(
        name="account_number",
        type="account_number",
        pattern=NUM_L + r"(?:\d{2,6}-\d{2,10}(?:-\d{1,4})?|\d{4,14})" + NUM_R,
        value_pattern=r"[0-9]{2,6}-[0-9]{2,10}(?:-[0-9]{1,4})?|[0-9]{6,20}",
        prefilter=r"\d{4}",
        strength="context",
        context=ACCOUNT_CONTEXT,
        context_required=True,
        context_window=16,
        # a bank's own books: ledger and cost-centre accounts are no customer's account
        context_not=(
            "gl", "g/l", "general ledger", "ledger", "nominal", "sachkonto", "hauptbuch",
            "comptable", "contable", "contabile", "grootboek", "księgow", "cost centre",
            "cost center", "kostenstelle",
        ),  # fmt: skip
        context_not_window=40,  # "general ledger account no. 4410": the ledger word is further
        score=0.55,
        column_names=r"account|acct|konto|kontonummer|compte|cuenta|conto|rekening",
        name_required=True,
    ),
]
