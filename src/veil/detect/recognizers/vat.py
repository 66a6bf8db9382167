"""VAT numbers: prefixed EU VAT (every member state, stdnum.eu.vat), other prefixed VAT
numbers (stdnum.vatin), the EU One Stop Shop, and national forms without the country
prefix, per country (for columns named like a VAT number; in free text only the prefixed
forms are used, since a bare number could pass some other country's check by chance)."""

from __future__ import annotations

import importlib

from veil.detect.recognizers._common import ALNUM_L, ALNUM_R
from veil.detect.registry import Recognizer

EU_PREFIXES = (
    "AT",
    "BE",
    "BG",
    "CY",
    "CZ",
    "DE",
    "DK",
    "EE",
    "EL",
    "ES",
    "FI",
    "FR",
    "HR",
    "HU",
    "IE",
    "IT",
    "LT",
    "LU",
    "LV",
    "MT",
    "NL",
    "PL",
    "PT",
    "RO",
    "SE",
    "SI",
    "SK",
    "XI",
)

VAT_CONTEXT = (
    "vat",
    "tva",
    "iva",
    "ust",
    "mwst",
    "btw",
    "moms",
    "alv",
    "dph",
    "dič",
    "dic",
    "nip",
    "nif",
    "cif",
    "pvm",
    "pvn",
    "kmkr",
    "ddv",
    "fpa",
    "φπα",
    "afm",
    "oib",
    "anum",
    "cvr",
    "uid",
    "mva",
    "umsatzsteuer",
    "ust-id",
    "ustid",
    "partita",
    "p.iva",
    "p. iva",
    "tax id",
    "tax no",
    "tax number",
    "vat no",
    "vat number",
    "vat reg",
    "n° tva",
    "numéro de tva",
    "steuernummer",
    "partita iva",
    "btw-nummer",
    "ondernemingsnummer",
)

# country -> stdnum module of its VAT number (national form; module accepts the prefix too)
NATIONAL_VAT_MODULES: dict[str, str] = {
    "at": "at.uid",
    "be": "be.vat",
    "bg": "bg.vat",
    "cy": "cy.vat",
    "cz": "cz.dic",
    "de": "de.vat",
    "dk": "dk.cvr",
    "ee": "ee.kmkr",
    "es": "es.nif",
    "fi": "fi.alv",
    "fr": "fr.tva",
    "gr": "gr.vat",
    "hr": "hr.oib",
    "hu": "hu.anum",
    "ie": "ie.vat",
    "it": "it.iva",
    "lt": "lt.pvm",
    "lu": "lu.tva",
    "lv": "lv.pvn",
    "mt": "mt.vat",
    "nl": "nl.btw",
    "pl": "pl.nip",
    "pt": "pt.nif",
    "ro": "ro.cf",
    "se": "se.vat",
    "si": "si.ddv",
    "sk": "sk.dph",
    "gb": "gb.vat",
    "ch": "ch.vat",
    "no": "no.mva",
}

_PREFIX = "(?:" + "|".join(p if p != "AT" else "ATU?" for p in EU_PREFIXES) + ")"

_NATIONAL_CORE = r"(?:[A-Z]{2,3}[ \-]?)?[0-9A-Z]?[0-9](?:[ .\-]?[0-9A-Z]){6,12}"


def _module(name: str):
    return importlib.import_module(f"stdnum.{name}")


def _recognizers() -> list[Recognizer]:
    eu_vat = _module("eu.vat")
    vatin = _module("vatin")
    oss = _module("eu.oss")
    cif = _module("es.cif")
    recs = [
        Recognizer(
            name="eu_vat",
            type="vat",
            pattern=ALNUM_L + _PREFIX + r"[ \-]?[0-9A-Z](?:[ .\-]?[0-9A-Z]){7,12}" + ALNUM_R,
            value_pattern=_PREFIX + r"[ \-]?[0-9A-Za-z](?:[ .\-]?[0-9A-Za-z]){7,12}",
            prefilter=_PREFIX + r"[ \-]?[0-9A-Z]?[0-9]",
            validator=eu_vat.is_valid,
            validator_name="stdnum.eu.vat",
            strength="checksum",
            context=VAT_CONTEXT,
            score=0.75,
            shrink=True,
            column_names=r"vat|tva|iva|ust|mwst|btw|tax",
        ),
        Recognizer(
            name="vatin",
            type="vat",
            pattern=(
                ALNUM_L
                + r"(?:GB|CHE|NO)[ \-]?\d(?:[ .\-]?\d){7,11}(?: ?(?:MWST|TVA|IVA|MVA))?"
                + ALNUM_R
            ),
            value_pattern=(
                r"(?:GB|CHE|NO|gb|che|no)[ \-]?[0-9](?:[ .\-]?[0-9]){7,11}"
                r"(?: ?(?:MWST|TVA|IVA|MVA))?"
            ),
            prefilter=r"(?:GB|CHE|NO)[ \-]?\d",
            validator=vatin.is_valid,
            validator_name="stdnum.vatin",
            strength="checksum",
            context=VAT_CONTEXT,
            score=0.7,
            shrink=True,
            column_names=r"vat|tva|iva|mwst|mva|tax",
        ),
        Recognizer(
            name="eu_oss",
            type="vat",
            pattern=ALNUM_L + r"(?:EU|IM) ?\d{9,10}" + ALNUM_R,
            value_pattern=r"(?:EU|IM|eu|im) ?[0-9]{9,10}",
            prefilter=r"(?:EU|IM) ?\d{9}",
            validator=oss.is_valid,
            validator_name="stdnum.eu.oss",
            strength="checksum",
            context=VAT_CONTEXT + ("oss", "one stop shop"),
            score=0.6,
            column_names=r"vat|oss|tax",
        ),
        Recognizer(
            name="es_cif",
            type="vat",
            pattern=ALNUM_L + r"[ABCDEFGHJNPQRSUVW][ \-]?\d{7}[ \-]?[0-9A-J]" + ALNUM_R,
            value_pattern=r"[ABCDEFGHJNPQRSUVWabcdefghjnpqrsuvw][ \-]?[0-9]{7}[ \-]?[0-9A-Ja-j]",
            prefilter=r"[A-HJNP-SUVW][ \-]?\d{7}",
            validator=cif.is_valid,
            validator_name="stdnum.es.cif",
            strength="checksum",
            context=VAT_CONTEXT + ("cif",),
            context_required=True,
            score=0.6,
            column_names=r"cif|vat|nif|tax",
            name_required=True,
        ),
    ]
    for cc, module in NATIONAL_VAT_MODULES.items():
        mod = _module(module)
        recs.append(
            Recognizer(
                name=f"vat_{cc}",
                type="vat",
                pattern=ALNUM_L + _NATIONAL_CORE + r"(?: ?(?:MWST|TVA|IVA|MVA))?" + ALNUM_R,
                value_pattern=(
                    r"(?:[A-Za-z]{2,3}[ \-]?)?[0-9A-Za-z]?[0-9](?:[ .\-]?[0-9A-Za-z]){6,12}"
                    r"(?: ?(?:MWST|TVA|IVA|MVA))?"
                ),
                prefilter=r"\d(?:[ .\-]?[0-9A-Z]){6}",
                validator=mod.is_valid,
                validator_name=f"stdnum.{module}",
                strength="checksum",
                context=VAT_CONTEXT,
                context_required=True,
                context_window=16,
                score=0.6,
                shrink=True,
                column_names=r"vat|tva|iva|ust|mwst|btw|moms|nip|nif|cvr|mva|tax",
                name_required=True,
                # in text a bare number after "VAT" could pass some other country's check
                # by chance; prefixed numbers (eu_vat, vatin) cover text
                in_text=False,
            )
        )
    return recs


RECOGNIZERS = _recognizers()
