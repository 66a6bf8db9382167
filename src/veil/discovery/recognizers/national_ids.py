"""National identity and tax numbers (python-stdnum modules), US SSN, UK NINO.

Each entry: recognizer name, stdnum module, type, core regex (RE2-compatible, used in text
with number boundaries and as the whole-value pattern in columns), context words, whether
context is required in text, base score. Plain digit runs with a weak check (mod 10/11)
could be any invoice number, so they need a context word in text; distinctive formats
(letters, separators, century signs) do not.
"""

from __future__ import annotations

import importlib
import re

from veil.discovery.recognizers._common import ALNUM_L, ALNUM_R, NUM_L, NUM_R
from veil.discovery.registry import Recognizer

GENERIC_ID_CONTEXT = (
    "national id",
    "national identity",
    "identity",
    "id no",
    "id number",
    "id nr",
    "id-nr",
    "id:",
    "id card",
    "personal id",
    "personal number",
    "personal no",
    "identification",
    "tax id",
    "tax no",
    "tax number",
    "taxpayer",
    "tin",
    "social security",
    "citizen",
    "ausweis",
    "identité",
    "identidad",
    "identità",
)

# name, module, type, core, context, context_required, score, column-name regex
_TABLE: list[tuple[str, str, str, str, tuple[str, ...], bool, float, str]] = [
    (
        "de_idnr",
        "de.idnr",
        "national_id",
        r"\d{2}(?: ?\d{3}){3}",
        (
            "steuer-id",
            "steuerid",
            "steuer id",
            "idnr",
            "id-nr",
            "identifikationsnummer",
            "steueridentifikationsnummer",
            "steuer-identifikationsnummer",
        ),
        True,
        0.6,
        r"idnr|steuer.?id|tax.?id",
    ),
    (
        "de_stnr",
        "de.stnr",
        "national_id",
        r"\d{2,3}/\d{3,4}/\d{4,5}|\d{10,13}",
        ("steuernummer", "st.-nr", "st-nr", "stnr", "st.nr", "steuer-nr"),
        True,
        0.6,
        r"stnr|steuernummer",
    ),
    (
        "fr_nir",
        "fr.nir",
        "national_id",
        r"[12] ?\d{2} ?(?:0[1-9]|1[0-2]|[2-9]\d) ?(?:\d{2}|2[AB]) ?\d{3} ?\d{3} ?\d{2}",
        ("nir", "sécurité sociale", "securite sociale", "sécu", "insee", "carte vitale"),
        False,
        0.6,
        r"nir|insee|secu",
    ),
    (
        "fr_nif",
        "fr.nif",
        "national_id",
        r"[0-3]\d(?: ?\d){11}",
        ("nif", "numéro fiscal", "numero fiscal", "spi", "identifiant fiscal"),
        True,
        0.6,
        r"\bnif|fiscal",
    ),
    (
        "it_codicefiscale",
        "it.codicefiscale",
        "national_id",
        r"[A-Z]{6}[0-9LMNPQRSTUV]{2}[A-EHLMPR-T][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z]",
        ("codice fiscale", "cod. fisc", "c.f.", "cf", "tax code"),
        False,
        0.85,
        r"codice|fiscale|\bcf\b",
    ),
    (
        "es_dni",
        "es.dni",
        "national_id",
        r"\d{8}[ \-]?[A-Z]",
        ("dni", "nif", "documento"),
        False,
        0.65,
        r"\bdni|\bnif",
    ),
    (
        "es_nie",
        "es.nie",
        "national_id",
        r"[XYZ][ \-]?\d{7}[ \-]?[A-Z]",
        ("nie", "extranjero"),
        False,
        0.75,
        r"\bnie\b",
    ),
    (
        "nl_bsn",
        "nl.bsn",
        "national_id",
        r"\d{4}\.?\d{2}\.?\d{3}",
        ("bsn", "burgerservicenummer", "sofinummer", "sofi-nummer"),
        True,
        0.6,
        r"bsn|sofi",
    ),
    (
        "be_nn",
        "be.nn",
        "national_id",
        r"\d{2}[ .]?\d{2}[ .]?\d{2}[ .\-]?\d{3}[ .\-]?\d{2}",
        ("rijksregister", "national number", "numéro national", "nn", "insz", "niss", "rrn"),
        True,
        0.6,
        r"rijksregister|insz|niss|rrn|national.?number",
    ),
    (
        "be_bis",
        "be.bis",
        "national_id",
        r"\d{2}[ .]?\d{2}[ .]?\d{2}[ .\-]?\d{3}[ .\-]?\d{2}",
        ("bis", "bis-nummer", "numéro bis", "insz", "niss"),
        True,
        0.6,
        r"\bbis\b",
    ),
    (
        "at_vnr",
        "at.vnr",
        "national_id",
        r"\d{4} ?\d{6}",
        ("versicherungsnummer", "svnr", "sv-nr", "sv-nummer", "sozialversicherung", "vsnr"),
        True,
        0.6,
        r"svnr|vsnr|versicherungsnummer",
    ),
    (
        "at_tin",
        "at.tin",
        "national_id",
        r"\d{2}-?\d{3}/?\d{4}",
        ("steuernummer", "abgabenkonto", "st.nr", "st.-nr"),
        True,
        0.6,
        r"steuernummer|abgabenkonto",
    ),
    ("pl_pesel", "pl.pesel", "national_id", r"\d{11}", ("pesel",), True, 0.6, r"pesel"),
    (
        "pt_nif",
        "pt.nif",
        "national_id",
        r"\d{9}",
        ("nif", "contribuinte", "número fiscal", "numero fiscal"),
        True,
        0.6,
        r"\bnif|contribuinte",
    ),
    (
        "pt_cc",
        "pt.cc",
        "national_id",
        r"\d{8} ?\d ?[A-Z]{2} ?\d",
        ("cartão de cidadão", "cartao de cidadao", "cc"),
        False,
        0.8,
        r"cartao|cidadao|\bcc\b",
    ),
    (
        "se_personnummer",
        "se.personnummer",
        "national_id",
        r"(?:19|20)?\d{6}[\-+]?\d{4}",
        ("personnummer", "personnr", "pnr"),
        True,
        0.6,
        r"personnummer|personnr",
    ),
    (
        "dk_cpr",
        "dk.cpr",
        "national_id",
        r"\d{6}-?\d{4}",
        ("cpr", "personnummer"),
        True,
        0.6,
        r"\bcpr",
    ),
    (
        "fi_hetu",
        "fi.hetu",
        "national_id",
        r"\d{6}[\-+A-FU-Y]\d{3}[0-9A-Y]",
        ("hetu", "henkilötunnus", "henkilotunnus", "personbeteckning"),
        False,
        0.8,
        r"hetu|henkilotunnus",
    ),
    (
        "ie_pps",
        "ie.pps",
        "national_id",
        r"\d{7}[A-W][A-IW]?",
        ("pps", "ppsn", "personal public service"),
        False,
        0.6,
        r"\bpps",
    ),
    (
        "gb_nhs",
        "gb.nhs",
        "national_id",
        r"\d{3}[ \-]?\d{3}[ \-]?\d{4}",
        ("nhs",),
        True,
        0.6,
        r"\bnhs",
    ),
    (
        "ch_ssn",
        "ch.ssn",
        "national_id",
        r"756[. ]?\d{4}[. ]?\d{4}[. ]?\d{2}",
        ("ahv", "avs", "sozialversicherungsnummer", "social security"),
        False,
        0.8,
        r"ahv|avs",
    ),
    (
        "no_fodselsnummer",
        "no.fodselsnummer",
        "national_id",
        r"\d{6} ?\d{5}",
        ("fødselsnummer", "fodselsnummer", "personnummer"),
        True,
        0.6,
        r"fodselsnummer|foedselsnummer",
    ),
    (
        "cz_rc",
        "cz.rc",
        "national_id",
        r"\d{6}/?\d{3,4}",
        ("rodné číslo", "rodne cislo", "rč"),
        True,
        0.6,
        r"rodne|\brc\b",
    ),
    (
        "sk_rc",
        "sk.rc",
        "national_id",
        r"\d{6}/?\d{3,4}",
        ("rodné číslo", "rodne cislo", "rč"),
        True,
        0.6,
        r"rodne|\brc\b",
    ),
    ("bg_egn", "bg.egn", "national_id", r"\d{10}", ("егн", "egn"), True, 0.6, r"\begn"),
    (
        "bg_pnf",
        "bg.pnf",
        "national_id",
        r"\d{4} ?\d{3} ?\d{3}",
        ("лнч", "pnf", "lnch"),
        True,
        0.6,
        r"\bpnf|lnch",
    ),
    ("ee_ik", "ee.ik", "national_id", r"[1-6]\d{10}", ("isikukood",), True, 0.6, r"isikukood"),
    (
        "lt_asmens",
        "lt.asmens",
        "national_id",
        r"[1-6]\d{10}",
        ("asmens kodas", "asmens"),
        True,
        0.6,
        r"asmens",
    ),
    ("ro_cnp", "ro.cnp", "national_id", r"[1-9]\d{12}", ("cnp",), True, 0.6, r"\bcnp"),
    ("si_emso", "si.emso", "national_id", r"\d{13}", ("emšo", "emso"), True, 0.6, r"emso"),
    ("gr_amka", "gr.amka", "national_id", r"\d{11}", ("amka", "αμκα"), True, 0.6, r"amka"),
    (
        "us_ssn",
        "us.ssn",
        "us_ssn",
        r"\d{3}-\d{2}-\d{4}",
        ("ssn", "social security", "ss#", "ss no", "soc sec"),
        False,
        0.6,
        r"ssn|social",
    ),
    (
        "us_ssn_plain",
        "us.ssn",
        "us_ssn",
        r"\d{9}|\d{3} \d{2} \d{4}",
        ("ssn", "social security", "ss#", "ss no", "soc sec"),
        True,
        0.6,
        r"ssn|social",
    ),
    (
        "us_itin",
        "us.itin",
        "national_id",
        r"9\d{2}-?[5-9]\d-?\d{4}",
        ("itin", "taxpayer", "tax id"),
        True,
        0.6,
        r"itin",
    ),
    (
        "us_ein",
        "us.ein",
        "national_id",
        r"\d{2}-\d{7}|\d{9}",
        ("ein", "employer identification", "fein"),
        True,
        0.6,
        r"\bein\b|fein",
    ),
    (
        "us_tin",
        "us.tin",
        "national_id",
        r"\d{3}-\d{2}-\d{4}|\d{2}-\d{7}|\d{9}",
        ("tin", "taxpayer", "tax id"),
        True,
        0.6,
        r"\btin\b|taxpayer",
    ),
]

_NATIONAL_COLUMNS = (
    r"national.?id|nat.?id|\bssn|social|tax.?id|\btin\b|steuer|identity|personal.?(?:id|n[ou])"
    r"|citizen|passport_?n"
)


# UK National Insurance number: python-stdnum has no module for it; this is the published
# format rule of HMRC (prefix letters, excluded pairs, suffix A-D). There is no check digit.
_NINO = re.compile(r"(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]\d{6}[A-D]")


def validate_nino(value: str) -> bool:
    """HMRC format rule of a National Insurance number (no check digit exists)."""
    return bool(_NINO.fullmatch(re.sub(r"\s", "", value).upper()))


# Shapes distinctive enough that a failed check letter means "a mistyped or forged id", not
# another kind of number: such a candidate vetoes every other reading of its characters.
_VETO_SHAPES = {
    "es_dni": re.compile(r"\d{8}-?[A-Z]"),
    "es_nie": re.compile(r"[XYZ]-?\d{7}-?[A-Z]"),
    "ie_pps": re.compile(r"\d{7}[A-W][A-IW]?"),  # check letter(s) after 7 digits
}


def _veto(name: str):  # type: ignore[no-untyped-def]
    shape = _VETO_SHAPES.get(name)
    if shape is None:
        return None
    return lambda value: bool(shape.fullmatch(value.strip()))


def _recognizers() -> list[Recognizer]:
    recs: list[Recognizer] = []
    for name, module, type_, core, ctx, required, score, cols in _TABLE:
        mod = importlib.import_module(f"stdnum.{module}")
        recs.append(
            Recognizer(
                veto=_veto(name),
                name=name,
                type=type_,
                pattern=NUM_L + "(?:" + core + ")" + NUM_R,
                value_pattern=core.replace("[A-Z", "[A-Za-z"),
                validator=mod.is_valid,
                validator_name=f"stdnum.{module}",
                strength="checksum",
                context=ctx + GENERIC_ID_CONTEXT,
                context_required=required,
                score=score,
                column_names=cols + "|" + _NATIONAL_COLUMNS,
            )
        )
    recs.append(
        Recognizer(
            name="uk_nino",
            type="uk_nino",
            pattern=ALNUM_L
            + r"[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]"
            + ALNUM_R,
            value_pattern=r"[A-Za-z]{2} ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-Da-d]",
            prefilter=r"[A-Z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-D]",
            validator=validate_nino,
            validator_name="HMRC NINO format rule",
            strength="format",
            context=("national insurance", "nino", "ni number", "ni no", "nin")
            + GENERIC_ID_CONTEXT,
            score=0.7,
            column_names=r"nino|national.?insurance|\bni_?n",
        )
    )
    return recs


RECOGNIZERS = _recognizers()
