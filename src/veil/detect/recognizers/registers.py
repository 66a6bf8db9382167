"""More numbers python-stdnum checks: personal numbers beyond the national ids (Belgian eID
card, Dutch passport and identity card, Finnish and British taxpayer numbers), bank account
numbers with a national check (Spanish CCC, Norwegian kontonummer, Czech account) and company
registers (German Handelsregister, French SIREN/SIRET, Swiss UID, Austrian Firmenbuch, ...):
a sole trader's company number identifies a person. Plus the German pension insurance number
(Rentenversicherungsnummer), which stdnum lacks: its check digit is computed here.

Every entry reuses :class:`.national_ids.NationalId` (stdnum module, core regex, context words
in the languages where the number is used, whether text needs them).
"""

from __future__ import annotations

import importlib
import re

from veil.detect.recognizers._common import NUM_L, NUM_R
from veil.detect.recognizers.national_ids import GENERIC_ID_CONTEXT, NationalId
from veil.detect.registry import Recognizer

_COMPANY = ("company number", "company no", "registration number", "register", "registre")

ENTRIES: tuple[NationalId, ...] = (
    NationalId(
        "be_eid",
        "be.eid",
        r"\d{3}-?\d{7}-?\d{2}",
        ("eid", "identity card", "carte d'identité", "identiteitskaart", "kaartnummer"),
        True,
        r"\beid|identity.?card",
    ),
    NationalId(
        "nl_idkaart",
        "nl.identiteitskaartnummer",
        r"[A-NP-Z]{2}[A-NP-Z0-9]{6}[0-9]",
        ("paspoort", "paspoortnummer", "identiteitskaart", "id-kaart", "passport", "id card"),
        True,
        r"paspoort|identiteitskaart|passport",
        type="passport",
    ),
    NationalId(
        "fi_veronumero",
        "fi.veronumero",
        r"\d{12}",
        ("veronumero", "tax number", "skattenummer"),
        True,
        "veronumero",
    ),
    NationalId(
        "gb_utr",
        "gb.utr",
        r"\d{5} ?\d{5}",
        ("utr", "unique taxpayer", "taxpayer reference", "self assessment"),
        True,
        r"\butr",
    ),
    NationalId(
        "es_ccc",
        "es.ccc",
        r"\d{4}[ \-]?\d{4}[ \-]?\d{2}[ \-]?\d{10}",
        ("ccc", "cuenta", "código cuenta", "account", "cc"),
        True,
        r"\bccc|cuenta",
        type="account_number",
    ),
    NationalId(
        "no_kontonr",
        "no.kontonr",
        r"\d{4}[ .]?\d{2}[ .]?\d{5}",
        ("kontonummer", "kontonr", "konto", "account"),
        True,
        "kontonr|kontonummer",
        type="account_number",
    ),
    NationalId(
        "cz_bankaccount",
        "cz.bankaccount",
        r"(?:\d{1,6}-)?\d{2,10}/\d{4}",
        ("účet", "číslo účtu", "ucet", "account", "bankovní"),
        True,
        r"ucet|účet|bank.?account",
        type="account_number",
    ),
    NationalId(  # "VAT 12-3456789": the US has no VAT; a form asking for one gets the EIN
        "us_ein_vat",
        "us.ein",
        r"\d{2}-\d{7}",
        ("vat", "vat no", "vat number", "tax id", "tax number"),
        True,
        r"\bein\b",
    ),
    NationalId(
        "de_rvnr",
        "",
        r"\d{2} ?\d{6} ?[A-Z] ?\d{3}",
        (
            "rentenversicherungsnummer",
            "versicherungsnummer",
            "sozialversicherungsnummer",
            "rv-nr",
            "rvnr",
            "sv-nr",
            "svnr",
            "rentenversicherung",
            "pension insurance",
        ),
        False,
        r"rvnr|svnr|versicherungsnummer|rentenvers",
    ),
    NationalId(
        "de_handelsregister",
        "de.handelsregisternummer",
        r"(?:HRA|HRB|GnR|PR|VR) ?\d{1,6}",
        ("handelsregister", "registergericht", "amtsgericht") + _COMPANY,
        True,
        r"handelsregister|\bhrb\b",
        type="company_id",
    ),
    NationalId(
        "fr_siren",
        "fr.siren",
        r"\d{3} ?\d{3} ?\d{3}",
        ("siren", "rcs", "immatriculation") + _COMPANY,
        True,
        r"siren",
        type="company_id",
    ),
    NationalId(
        "fr_siret",
        "fr.siret",
        r"\d{3} ?\d{3} ?\d{3} ?\d{5}",
        ("siret", "établissement") + _COMPANY,
        True,
        r"siret",
        type="company_id",
    ),
    NationalId(
        "ch_uid",
        "ch.uid",
        r"CHE-?\d{3}\.?\d{3}\.?\d{3}",
        ("uid", "unternehmens-identifikationsnummer", "ide", "idi") + _COMPANY,
        False,
        r"\buid\b|\bche\b",
        type="company_id",
    ),
    NationalId(
        "at_firmenbuch",
        "at.businessid",
        r"FN ?\d{1,6} ?[a-z]",
        ("firmenbuch", "firmenbuchnummer", "fn") + _COMPANY,
        False,
        r"firmenbuch",
        type="company_id",
    ),
    NationalId(
        "no_orgnr",
        "no.orgnr",
        r"\d{3} ?\d{3} ?\d{3}",
        ("org.nr", "orgnr", "org nr", "organisasjonsnummer") + _COMPANY,
        True,
        r"orgnr",
        type="company_id",
    ),
    NationalId(
        "se_orgnr",
        "se.orgnr",
        r"\d{6}-?\d{4}",
        ("org.nr", "orgnr", "organisationsnummer") + _COMPANY,
        True,
        r"orgnr|organisations",
        type="company_id",
    ),
    NationalId(
        "pl_regon",
        "pl.regon",
        r"\d{9}|\d{14}",
        ("regon",) + _COMPANY,
        True,
        r"regon",
        type="company_id",
    ),
    NationalId(
        "fi_ytunnus",
        "fi.ytunnus",
        r"\d{7}-\d",
        ("y-tunnus", "ytunnus", "business id", "fo-nummer") + _COMPANY,
        True,
        r"y.?tunnus",
        type="company_id",
    ),
    NationalId(
        "ee_registrikood",
        "ee.registrikood",
        r"[1-9]\d{7}",
        ("registrikood", "registry code") + _COMPANY,
        True,
        r"registrikood",
        type="company_id",
    ),
    NationalId(
        "ro_onrc",
        "ro.onrc",
        r"[JFC]\d{2}/\d{1,5}/\d{4}",
        ("onrc", "registrul comerţului", "registrul comertului", "nr. ord. reg. com.") + _COMPANY,
        False,
        r"onrc",
        type="company_id",
    ),
    NationalId(
        "si_maticna",
        "si.maticna",
        r"\d{7}(?:\d{3})?",
        ("matična", "maticna", "matična številka") + _COMPANY,
        True,
        r"maticn|matičn",
        type="company_id",
    ),
)

_RVNR = re.compile(r"(\d{2})(\d{2})(\d{2})(\d{2})([A-Z])(\d{2})(\d)")
_RVNR_WEIGHTS = (2, 1, 2, 5, 7, 1, 2, 1, 2, 1, 2, 1)


def validate_rvnr(value: str) -> bool:
    """German pension insurance number: area (2 digits), birth date DDMMYY, the first letter
    of the birth name, serial (2 digits), check digit. The letter counts as its position in
    the alphabet (two digits); the 12 digits are weighted 2,1,2,5,7,1,2,1,2,1,2,1, the digit
    sums of the products added, and the check digit is that sum mod 10."""
    m = _RVNR.fullmatch(re.sub(r"\s", "", value).upper())
    if m is None:
        return False
    area, day, month, _year, letter, serial, check = m.groups()
    if not (1 <= int(day) <= 31 and 1 <= int(month) <= 12):
        return False
    digits = area + day + month + _year + f"{ord(letter) - 64:02d}" + serial
    total = sum(sum(map(int, str(int(d) * w))) for d, w in zip(digits, _RVNR_WEIGHTS, strict=True))
    return total % 10 == int(check)


_HR = re.compile(r"(?:HRA|HRB|GnR|PR|VR) ?\d{1,6}")


def validate_handelsregister(value: str) -> bool:
    """A register and number ("HRB 11223"); stdnum needs the court's name, which text often
    leaves out, so the bare number is taken on its form (the recognizer needs context)."""
    from stdnum.de import handelsregisternummer

    return bool(_HR.fullmatch(value.strip())) or handelsregisternummer.is_valid(value)


def _validator(entry: NationalId):  # type: ignore[no-untyped-def]
    if not entry.module:
        return validate_rvnr, "German pension number check digit"
    if entry.module == "de.handelsregisternummer":
        return validate_handelsregister, "format (+ stdnum.de.handelsregisternummer)"
    mod = importlib.import_module(f"stdnum.{entry.module}")
    return mod.is_valid, f"stdnum.{entry.module}"


def _recognizers() -> list[Recognizer]:
    recs = []
    for e in ENTRIES:
        validator, vname = _validator(e)
        recs.append(
            Recognizer(
                name=e.name,
                type=e.type,
                pattern=NUM_L + "(?:" + e.core + ")" + NUM_R,
                value_pattern=e.core.replace("[A-Z", "[A-Za-z"),
                validator=validator,
                validator_name=vname,
                strength="checksum",
                context=e.context + (GENERIC_ID_CONTEXT if e.type == "national_id" else ()),
                context_required=e.context_required,
                score=e.score,
                column_names=e.column_names,
                name_required=e.context_required,
            )
        )
    return recs


RECOGNIZERS = _recognizers()
