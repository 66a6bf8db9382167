"""Which python-stdnum modules Veil recognizes by a generated recognizer, and which not (why).

Every number module python-stdnum ships (``stdnum.util.get_number_modules()``) is one of:

- covered by a hand-written recognizer or named validator (its ``validator_name`` is
  ``stdnum.<module>``, or the module is listed in :data:`COVERED_ELSEWHERE`);
- generated: ``python -m veil.detect.data.build_stdnum`` learns its shape from the module's own
  doctest examples and writes a row of ``veil/detect/data/stdnum_formats.tsv``
  (:mod:`.stdnum_formats` turns the rows into recognizers);
- excluded, with the reason in :data:`EXCLUDED` (not a person's or a firm's identifier, or
  found better another way).

A test checks that every module of the installed python-stdnum is in exactly one place.
"""

from __future__ import annotations

import re

_ALGORITHM = "a check-digit algorithm, not an identifier (offered as a named validator)"
_INSTRUMENT = "identifies a financial instrument or product, not a person or a firm"
_THING = "identifies a thing (chemical, ship, container, book, recording, barcode), not a person"
_PAYMENT_REF = "a payment or document reference: transaction data, not a person's identifier"
_POSTCODE = (
    "a postcode: 4-5 digits prove nothing alone; the postcode recognizer finds them beside an "
    "address"
)
_IBAN = "a country's IBAN: the iban recognizer checks every country's IBAN"

EXCLUDED: dict[str, str] = {
    "damm": _ALGORITHM,
    "verhoeff": _ALGORITHM,
    "iso7064.mod_11_10": _ALGORITHM,
    "iso7064.mod_11_2": _ALGORITHM,
    "iso7064.mod_37_2": _ALGORITHM,
    "iso7064.mod_37_36": _ALGORITHM,
    "iso7064.mod_97_10": _ALGORITHM,
    "cusip": _INSTRUMENT,
    "figi": _INSTRUMENT,
    "cfi": _INSTRUMENT,
    "gb.sedol": _INSTRUMENT,
    "de.wkn": _INSTRUMENT,
    "eu.banknote": "a banknote's serial number, not a person's identifier",
    "it.aic": "identifies a medicine, not a person",
    "casrn": _THING,
    "eu.ecnumber": _THING,
    "imo": _THING,
    "iso6346": _THING,
    "isbn": _THING,
    "issn": _THING,
    "ismn": _THING,
    "isan": _THING,
    "isrc": _THING,
    "grid": _THING,
    "ean": _THING,
    "gs1_128": _THING,
    "isil": "identifies a library or archive, not a person",
    "isni": "a public identifier of published creators (authors, artists), not customer data; "
    "its 16 digits collide with card numbers",
    "nl.brin": "identifies a school, not a person",
    "eu.nace": "a class of economic activity, not an identifier",
    "be.ogm_vcs": _PAYMENT_REF,
    "ch.esr": _PAYMENT_REF,
    "do.ncf": _PAYMENT_REF,
    "de.leitweg": _PAYMENT_REF,
    "at.postleitzahl": _POSTCODE,
    "es.postal_code": _POSTCODE,
    "se.postnummer": _POSTCODE,
    "be.iban": _IBAN,
    "es.iban": _IBAN,
    "no.iban": _IBAN,
    "me.iban": _IBAN,
    "es.cups": "an energy supply point; no bank text format to learn (use validator "
    "stdnum.es.cups in a custom recognizer)",
    "eu.eic": "an energy market party or meter code; use validator stdnum.eu.eic in a custom "
    "recognizer",
    "fr.rcs": "an RCS number is the firm's SIREN after the registry town: fr_siren finds it",
    "mu.nid": "its docstring has no example to learn the shape from (use validator "
    "stdnum.mu.nid in a custom recognizer)",
    "es.referenciacatastral": "a land register reference of a plot or building; use validator "
    "stdnum.es.referenciacatastral in a custom recognizer",
}
"""module -> why no recognizer is generated for it."""

COVERED_ELSEWHERE: dict[str, str] = {
    "luhn": "cards (Luhn + known IIN ranges) and the named validator 'luhn'",
    "isin": "named validator 'isin' (a financial instrument, not personal data)",
    "lei": "named validator 'lei' (a legal entity: offered to custom recognizers)",
    "iso11649": "named validator 'iso11649' (a creditor reference)",
    "us.rtn": "named validator 'us_rtn' (a bank's routing number, not a customer's)",
    "de.handelsregisternummer": "registers.py (de_handelsregister)",
}
"""Modules a hand-written recognizer or named validator covers under another name."""

TEMPLATE_OVERRIDES: dict[str, tuple[str, ...]] = {
    "imei": ("d" * 15, "d" * 16),  # the docstring shows only the 16-digit IMEISV
    "meid": ("X" * 14, "X" * 15, "d" * 18, "d" * 19),  # hex or decimal, check digit optional
}
"""Shapes (d digit, A letter, X either, per position) where the examples show too few forms."""

TYPE_OVERRIDES: dict[str, str] = {
    "imei": "device_id",
    "imsi": "device_id",
    "meid": "device_id",
    "ar.cbu": "account_number",
    "nz.bankaccount": "account_number",
    "in_.pan": "national_id",
    "is_.kennitala": "national_id",
    "kr.brn": "company_id",
    "il.hp": "company_id",
    "eu.at_02": "company_id",
    "eu.excise": "company_id",
    "fr.accise": "company_id",
    "es.cae": "company_id",
    "th.moa": "company_id",
    "fi.associationid": "company_id",
    "li.peid": "national_id",
    "cr.cpj": "company_id",
    "ua.edrpou": "company_id",
    "md.idno": "company_id",
    "ru.ogrn": "company_id",
    "sn.ninea": "company_id",
    "ma.ice": "company_id",
    "ro.cui": "company_id",
    "sg.uen": "company_id",
    "jp.cn": "company_id",
    "au.acn": "company_id",
    "au.abn": "company_id",
    "ca.bn": "company_id",
    "br.cnpj": "company_id",
    "tw.ubn": "company_id",
    "cn.uscc": "company_id",
    "ec.ruc": "company_id",
    "pe.ruc": "company_id",
}
"""Types the docstring's words would get wrong."""

# words of a docstring's first line that say what kind of number a module checks
_KINDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("vat", ("vat", "value added", "goods and services tax", "iva", "tva", "moms")),
    ("account_number", ("bank account",)),
    (
        "company_id",
        (
            "company",
            "business",
            "enterprise",
            "organisation",
            "organization",
            "jurídica",
            "commercial",
            "corporate",
            "entity",
        ),
    ),
)

CONTEXT_STOPWORDS = frozenset(
    [
        "pin",
        "ice",
        "vid",
        "cui",
        "epic",
        "nid",
        "moa",
        "coe",
        "mf",
        "cn",
        "in",
        "ni",
        "ci",
        "cr",
        "bn",
        "id",
        "no",
        "nr",
        "number",
        "code",
        "identity",
        "identifier",
    ]
) | {"tax number"}
"""Short names that are common words (or too generic) to serve as context words."""


def kind_of(module: str, summary: str) -> str:
    """The Veil type of a generated module: an override, else from its docstring's words."""
    if module in TYPE_OVERRIDES:
        return TYPE_OVERRIDES[module]
    low = summary.lower()
    for kind, words in _KINDS:
        if any(re.search(rf"\b{w}", low) for w in words):
            return kind
    return "national_id"
