"""Checksummed identifiers that pass the same validators discovery uses.

Every builder here follows one rule: construct the number the way the issuing scheme does
(check digits computed, birth date and sex encoded where the scheme encodes them), then validate
it with python-stdnum / schwifty / phonenumbers, and retry on the rare rejection. A synthetic
identifier that a real validator rejects would make the sample useless for testing recognizers.
"""

from __future__ import annotations

import datetime as dt
import itertools
import unicodedata
import warnings
from collections.abc import Callable
from random import Random

import phonenumbers
from schwifty import BIC, IBAN, registry
from schwifty.checksum import algorithms
from schwifty.domain import Component
from schwifty.exceptions import NationalChecksumNotVerified, SchwiftyException
from stdnum import luhn
from stdnum.at import uid as at_uid
from stdnum.at import vnr as at_vnr
from stdnum.be import nn as be_nn
from stdnum.de import idnr as de_idnr
from stdnum.dk import cpr as dk_cpr
from stdnum.dk import cvr as dk_cvr
from stdnum.es import dni as es_dni
from stdnum.es import nie as es_nie
from stdnum.eu import vat as eu_vat
from stdnum.fi import alv as fi_alv
from stdnum.fi import hetu as fi_hetu
from stdnum.fr import nir as fr_nir
from stdnum.fr import siren as fr_siren
from stdnum.ie import pps as ie_pps
from stdnum.ie import vat as ie_vat
from stdnum.iso7064 import mod_11_10, mod_97_10
from stdnum.it import codicefiscale as it_cf
from stdnum.nl import bsn as nl_bsn
from stdnum.pl import pesel as pl_pesel
from stdnum.pt import nif as pt_nif
from stdnum.se import personnummer as se_pnr
from stdnum.us import ssn as us_ssn

from veil.sample.locales import BY_CC, IT_COMUNI, US_BICS

MAX_TRIES = 200


class _GenerationError(RuntimeError):
    """A builder kept producing numbers its validator rejects: a bug in the builder."""


def _retry(make: Callable[[], str | None], valid: Callable[[str], bool], what: str) -> str:
    """Build, validate, retry: the one loop every identifier goes through."""
    for _ in range(MAX_TRIES):
        value = make()
        if value is not None and valid(value):
            return value
    raise _GenerationError(f"could not build a valid {what} in {MAX_TRIES} tries")


def _digits(r: Random, n: int) -> str:
    return f"{r.randrange(10**n):0{n}d}"


def _first_nonzero(r: Random, n: int) -> str:
    return str(r.randrange(1, 10)) + _digits(r, n - 1)


def _complete(body: str, valid: Callable[[str], bool], alphabet: str = "0123456789") -> str | None:
    """The body plus the first check character that makes it valid (None: no such character)."""
    for ch in alphabet:
        if valid(body + ch):
            return body + ch
    return None


# --- national identifiers -------------------------------------------------------------------


def ascii_fold(text: str) -> str:
    """Strip diacritics (Müller -> Muller, Łukasz -> Lukasz) for codes and e-mail local parts."""
    text = text.replace("ß", "ss").replace("ø", "o").replace("Ø", "O").replace("æ", "ae")
    text = text.replace("Æ", "AE").replace("ł", "l").replace("Ł", "L").replace("đ", "d")
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def _cf_part(name: str, is_first: bool) -> str:
    letters = [c for c in ascii_fold(name).upper() if c.isalpha()]
    cons = [c for c in letters if c not in "AEIOU"]
    vows = [c for c in letters if c in "AEIOU"]
    if is_first and len(cons) >= 4:
        cons = [cons[0], cons[2], cons[3]]
    return ("".join(cons + vows) + "XXX")[:3]


def _de(r: Random, birth: dt.date, male: bool, first: str, last: str) -> str | None:
    pool = list("0123456789")
    r.shuffle(pool)
    body = [pool[0], pool[0], *pool[1:9]]  # exactly one digit appears twice
    r.shuffle(body)
    if body[0] == "0":
        return None
    number = "".join(body)
    return de_idnr.format(number + mod_11_10.calc_check_digit(number))


def _fr(r: Random, birth: dt.date, male: bool, first: str, last: str) -> str:
    dept = f"{r.choice([*range(1, 20), *range(21, 96), 99]):02d}"
    body = ("1" if male else "2") + birth.strftime("%y%m") + dept
    body += f"{r.randrange(1, 990):03d}{r.randrange(1, 1000):03d}"
    return fr_nir.format(body + fr_nir.calc_check_digits(body))


_CF_MONTHS = "ABCDEHLMPRST"


def _it(r: Random, birth: dt.date, male: bool, first: str, last: str) -> str:
    body = (
        _cf_part(last, False)
        + _cf_part(first, True)
        + birth.strftime("%y")
        + _CF_MONTHS[birth.month - 1]
        + f"{birth.day + (0 if male else 40):02d}"
        + r.choice(IT_COMUNI)
    )
    return body + it_cf.calc_check_digit(body)


def _es(r: Random, birth: dt.date, male: bool, first: str, last: str) -> str:
    if r.random() < 0.15:  # foreign residents carry an NIE
        body = r.choice("XYZ") + _digits(r, 7)
        return body + es_nie.calc_check_digit(body)
    body = f"{r.randrange(1_000_000, 80_000_000):08d}"
    return body + es_dni.calc_check_digit(body)


def _nl(r: Random, birth: dt.date, male: bool, first: str, last: str) -> str | None:
    return _complete(str(r.randrange(1, 7)) + _digits(r, 7), nl_bsn.is_valid)


def _be(r: Random, birth: dt.date, male: bool, first: str, last: str) -> str:
    counter = r.randrange(1, 998)
    if counter % 2 != (1 if male else 0):  # odd for men, even for women
        counter += 1
    body = birth.strftime("%y%m%d") + f"{counter:03d}"
    base = int(("2" if birth.year >= 2000 else "") + body)  # born 2000+: a 2 is prefixed
    return be_nn.format(body + f"{97 - base % 97:02d}")


def _at(r: Random, birth: dt.date, male: bool, first: str, last: str) -> str | None:
    serial = str(r.randrange(100, 1000))
    check = at_vnr.calc_check_digit(serial + "0" + birth.strftime("%d%m%y"))
    return None if len(check) != 1 else serial + check + " " + birth.strftime("%d%m%y")


def _pl(r: Random, birth: dt.date, male: bool, first: str, last: str) -> str:
    month = birth.month + (20 if birth.year >= 2000 else 0)
    sex = r.choice("13579" if male else "02468")
    body = birth.strftime("%y") + f"{month:02d}" + birth.strftime("%d") + _digits(r, 3) + sex
    return body + pl_pesel.calc_check_digit(body)


def _pt(r: Random, birth: dt.date, male: bool, first: str, last: str) -> str:
    body = r.choice("1122223") + _digits(r, 7)
    return body + pt_nif.calc_check_digit(body)


def _se(r: Random, birth: dt.date, male: bool, first: str, last: str) -> str | None:
    serial = _digits(r, 2) + r.choice("13579" if male else "02468")
    full = _complete(birth.strftime("%y%m%d") + serial, luhn.is_valid)
    return None if full is None else full[:6] + "-" + full[6:]


def _dk(r: Random, birth: dt.date, male: bool, first: str, last: str) -> str:
    century = r.choice("0123") if birth.year < 2000 else "4"  # 7th digit encodes the century
    last_digit = r.choice("13579" if male else "02468")
    return birth.strftime("%d%m%y") + "-" + century + _digits(r, 2) + last_digit


_HETU_CHECK = "0123456789ABCDEFHJKLMNPRSTUVWXY"


def _fi(r: Random, birth: dt.date, male: bool, first: str, last: str) -> str:
    individual = r.randrange(2, 899)
    if individual % 2 != (1 if male else 0):
        individual += 1
    digits = birth.strftime("%d%m%y") + f"{individual:03d}"
    sign = "-" if birth.year < 2000 else "A"
    return digits[:6] + sign + digits[6:] + _HETU_CHECK[int(digits) % 31]


def _ie(r: Random, birth: dt.date, male: bool, first: str, last: str) -> str:
    body = _digits(r, 7)
    if r.random() < 0.3:  # PPS numbers issued since 2013 carry a second letter
        return body + ie_vat.calc_check_digit(body + "A") + "A"
    return body + ie_vat.calc_check_digit(body)


def _us(r: Random, birth: dt.date, male: bool, first: str, last: str) -> str:
    return f"{r.randrange(1, 900):03d}-{r.randrange(1, 100):02d}-{r.randrange(1, 10000):04d}"


NATIONAL_ID_BUILDERS: dict[str, Callable[..., str | None]] = {
    "DE": _de,
    "FR": _fr,
    "IT": _it,
    "ES": _es,
    "NL": _nl,
    "BE": _be,
    "AT": _at,
    "PL": _pl,
    "PT": _pt,
    "SE": _se,
    "DK": _dk,
    "FI": _fi,
    "IE": _ie,
    "US": _us,
}

# Which stdnum module validates each country's national id (used here and by the tests).
NATIONAL_ID_VALIDATORS: dict[str, Callable[[str], bool]] = {
    "DE": de_idnr.is_valid,
    "FR": fr_nir.is_valid,
    "IT": it_cf.is_valid,
    "ES": lambda v: es_dni.is_valid(v) or es_nie.is_valid(v),
    "NL": nl_bsn.is_valid,
    "BE": be_nn.is_valid,
    "AT": at_vnr.is_valid,
    "PL": pl_pesel.is_valid,
    "PT": pt_nif.is_valid,
    "SE": se_pnr.is_valid,
    "DK": dk_cpr.is_valid,
    "FI": fi_hetu.is_valid,
    "IE": ie_pps.is_valid,
    "US": us_ssn.is_valid,
}


def national_id(r: Random, cc: str, birth: dt.date, male: bool, first: str, last: str) -> str:
    """The country's national id / tax number, consistent with birth date and sex."""
    build = NATIONAL_ID_BUILDERS[cc]
    return _retry(
        lambda: build(r, birth, male, first, last), NATIONAL_ID_VALIDATORS[cc], f"{cc} national id"
    )


# --- VAT numbers ----------------------------------------------------------------------------


def _vat_body(r: Random, cc: str, nid: str) -> str | None:
    """The national part of a sole trader's VAT number (no country prefix)."""
    if cc == "DE":
        body = _first_nonzero(r, 8)
        return body + mod_11_10.calc_check_digit(body)
    if cc == "FR":
        siren = _first_nonzero(r, 8)
        return fr_siren.to_tva(siren + luhn.calc_check_digit(siren))
    if cc == "IT":
        body = _first_nonzero(r, 7) + f"{r.randrange(1, 101):03d}"
        return body + luhn.calc_check_digit(body)
    if cc in ("ES", "PT"):  # sole traders use their personal tax number
        return nid.replace(" ", "")
    if cc == "NL":
        body = _digits(r, 9) + "B"
        for suffix in range(1, 100):
            candidate = body + f"{suffix:02d}"
            if mod_97_10.is_valid("NL" + candidate):
                return candidate
        return None
    if cc == "BE":
        number = int(_first_nonzero(r, 7))
        return f"0{number:07d}{97 - number % 97:02d}"
    if cc == "AT":
        body = "U" + _first_nonzero(r, 7)
        return body + at_uid.calc_check_digit(body)
    if cc == "PL":
        body = _first_nonzero(r, 9)
        check = sum(w * int(d) for w, d in zip((6, 5, 7, 2, 3, 4, 5, 6, 7), body, strict=True))
        return None if check % 11 == 10 else body + str(check % 11)
    if cc == "SE":  # enskild firma: personnummer + 01
        return nid.replace("-", "") + "01"
    if cc == "DK":
        return _complete(_first_nonzero(r, 7), dk_cvr.is_valid)
    if cc == "FI":
        return _complete(_digits(r, 7), fi_alv.is_valid)
    if cc == "IE":
        body = _digits(r, 7)
        return body + ie_vat.calc_check_digit(body)
    return None


def vat_number(r: Random, cc: str, nid: str) -> str | None:
    """An EU VAT number (with country prefix) for a self-employed customer; None for the US."""
    if cc == "US":
        return None
    return _retry(lambda: _with_prefix(cc, _vat_body(r, cc, nid)), eu_vat.is_valid, f"{cc} VAT")


def _with_prefix(cc: str, body: str | None) -> str | None:
    return None if body is None else cc + body


# --- bank accounts --------------------------------------------------------------------------

_IBAN_LAYOUT = {  # country: (branch digits, account digits) beside the registry's bank code
    "DE": (0, 10),
    "FR": (5, 11),
    "IT": (5, 12),
    "ES": (4, 10),
    "NL": (0, 10),
    "BE": (0, 7),
    "AT": (0, 11),
    "PL": (0, 16),
    "PT": (4, 11),
    "SE": (0, 16),
    "DK": (0, 10),
    "FI": (0, 10),
    "IE": (6, 8),
}
_BANKS: dict[str, list[tuple[str, str, str]]] = {}


def _banks(cc: str) -> list[tuple[str, str, str]]:
    """(bank code, BIC, checksum method) of the registry's banks that have a BIC."""
    if cc not in _BANKS:
        seen: dict[str, tuple[str, str, str]] = {}
        for bank in sorted(
            registry.get_banks_by_country(cc), key=lambda b: (b.bank_code, not b.primary)
        ):
            # Skip foreign institutions listed in the national registry (a Maltese BIC on a
            # Swedish IBAN is real but confuses anyone checking BIC against IBAN country).
            if bank.bic and bank.bic[4:6] == cc and bank.bank_code not in seen:
                seen[bank.bank_code] = (bank.bank_code, bank.bic, bank.checksum_algo)
        _BANKS[cc] = [seen[k] for k in sorted(seen)]
    return _BANKS[cc]


def _assemble_iban(cc: str, comps: dict[Component, str]) -> str:
    """The IBAN for these BBAN components, laid out and check-digited the way schwifty does it.

    Mirrors ``BBAN.from_components`` + ``IBAN.generate`` (which together cost ~35 µs); the result
    is still validated by schwifty afterwards.
    """
    spec = registry.get_iban_spec(cc)
    values = {key: comps.get(key, "").zfill(rng.length) for key, rng in spec.positions.items()}
    algo = algorithms.get(f"{cc}:default")
    if algo is not None:
        values[Component.NATIONAL_CHECKSUM_DIGITS] = algo.compute(
            [values[key] for key in algo.accepts]
        )
    bban = "0" * spec.bban_length
    for key, value in values.items():
        rng = spec.positions[key]
        if not rng.is_empty:
            bban = bban[: rng.start] + value + bban[rng.end :]
    return cc + mod_97_10.calc_check_digits(bban + cc) + bban


def iban_and_bic(r: Random, cc: str) -> tuple[str, str]:
    """A valid IBAN at a real bank of the country, and that bank's BIC from schwifty's registry.

    Built from the registry's bank codes and schwifty's national checksum algorithms rather than
    with ``IBAN.random``, whose regex-driven generation costs ~300 µs a number.
    """
    banks = _banks(cc)
    branch_len, account_len = _IBAN_LAYOUT[cc]
    for _ in range(MAX_TRIES):
        bank_code, bic, method = banks[r.randrange(len(banks))]
        comps = {Component.BANK_CODE: bank_code, Component.ACCOUNT_CODE: _digits(r, account_len)}
        if branch_len:
            comps[Component.BRANCH_CODE] = _digits(r, branch_len)
        algo = algorithms.get(f"{cc}:{method}")
        if cc == "DE" and algo is not None:  # the check digit sits inside the account number
            solved = algo.solve([comps[c] for c in algo.accepts])
            if solved is None:
                continue
            comps.update(zip(algo.accepts, solved, strict=True))
        value = _assemble_iban(cc, comps)
        if iban_valid(value):
            return value, bic
    raise _GenerationError(f"could not build a valid {cc} IBAN in {MAX_TRIES} tries")


def iban_valid(value: str) -> bool:
    """Valid IBAN, national check digits included (spaces allowed)."""
    try:
        with warnings.catch_warnings():
            # Sweden's national check digits have no algorithm in schwifty: nothing to verify.
            warnings.simplefilter("ignore", NationalChecksumNotVerified)
            IBAN(value, validate_bban=True)
    except SchwiftyException:
        return False
    return True


def us_bic(r: Random) -> str:
    """A US bank's BIC (the US has no IBAN)."""
    return _retry(lambda: r.choice(US_BICS), bic_valid, "US BIC")


def bic_valid(value: str) -> bool:
    try:
        BIC(value)
    except SchwiftyException:
        return False
    return True


def us_account_number(r: Random) -> str:
    """A US checking account number (no checksum scheme exists for these)."""
    return _first_nonzero(r, r.choice((9, 10, 12)))


# --- cards ----------------------------------------------------------------------------------


def card_number(r: Random, cc: str) -> str:
    """A Luhn-valid card number with a realistic issuer prefix for its brand."""
    amex_share = 0.12 if cc == "US" else 0.04
    u = r.random()

    def make() -> str:
        if u < amex_share:
            body = r.choice(("34", "37")) + _digits(r, 12)
        elif u < amex_share + 0.4:
            if r.random() < 0.2:
                body = str(r.randrange(2221, 2721)) + _digits(r, 11)
            else:
                body = str(r.randrange(51, 56)) + _digits(r, 13)
        else:
            body = "4" + _digits(r, 14)
        return body + luhn.calc_check_digit(body)

    return _retry(make, card_valid, "card number")


def card_valid(value: str) -> bool:
    """Luhn-valid and shaped like a Visa (16), Mastercard (16) or Amex (15) number."""
    if not value.isdigit() or not luhn.is_valid(value):
        return False
    if value[0] == "4":
        return len(value) == 16
    if value[:2] in ("34", "37"):
        return len(value) == 15
    return len(value) == 16 and ("51" <= value[:2] <= "55" or "2221" <= value[:4] <= "2720")


# --- phones ---------------------------------------------------------------------------------


def phone(r: Random, cc: str) -> phonenumbers.PhoneNumber:
    """A valid mobile or landline number of the country."""
    ranges = BY_CC[cc].phone_ranges
    cum_weights = list(itertools.accumulate(w for _, _, w in ranges))
    calling = phonenumbers.country_code_for_region(cc)

    def make() -> phonenumbers.PhoneNumber | None:
        prefix, length, _ = r.choices(ranges, cum_weights=cum_weights)[0]
        nsn = prefix + _digits(r, length - len(prefix))
        if cc == "US" and (nsn[3] in "01" or nsn[3:6] == "555"):
            return None
        return phonenumbers.PhoneNumber(
            country_code=calling,
            national_number=int(nsn),
            italian_leading_zero=nsn[0] == "0" or None,
        )

    for _ in range(MAX_TRIES):
        number = make()
        if number is not None and phonenumbers.is_valid_number_for_region(number, cc):
            return number
    raise _GenerationError(f"could not build a valid {cc} phone number in {MAX_TRIES} tries")


def phone_formats(number: phonenumbers.PhoneNumber) -> tuple[str, str, str]:
    """(E.164, international, national) renderings of a number."""
    fmt = phonenumbers.PhoneNumberFormat
    return (
        phonenumbers.format_number(number, fmt.E164),
        phonenumbers.format_number(number, fmt.INTERNATIONAL),
        phonenumbers.format_number(number, fmt.NATIONAL),
    )


def phone_valid(value: str, cc: str) -> bool:
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(value, cc))
    except phonenumbers.NumberParseException:
        return False


# --- passports (format only: the numbers carry no check digit of their own) -----------------

_PASSPORT_ALNUM = "CFGHJKLMNPRTVWXYZ0123456789"
_LETTERS = "ABCDEFGHIJKLMNPRSTUVWXYZ"


def passport(r: Random, cc: str) -> str:
    """A passport number in the issuing country's format."""
    if cc in ("DE", "AT"):
        return (
            "C" + "".join(r.choice(_PASSPORT_ALNUM) for _ in range(8))
            if cc == "DE"
            else (r.choice("PU") + _digits(r, 7))
        )
    if cc in ("FR", "BE"):
        return _digits(r, 2) + r.choice(_LETTERS) + r.choice(_LETTERS) + _digits(r, 5)
    if cc in ("IT", "PL", "PT", "IE"):
        return r.choice(_LETTERS) + r.choice(_LETTERS) + _digits(r, 7)
    if cc == "ES":
        return "".join(r.choice(_LETTERS) for _ in range(3)) + _digits(r, 6)
    if cc == "NL":
        return (
            r.choice(_LETTERS)
            + r.choice(_LETTERS)
            + "".join(r.choice(_PASSPORT_ALNUM) for _ in range(6))
            + _digits(r, 1)
        )
    if cc == "US":
        return _first_nonzero(r, 9) if r.random() < 0.5 else r.choice(_LETTERS) + _digits(r, 8)
    return _digits(r, 8)  # SE, DK, FI: eight digits
