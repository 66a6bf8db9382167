"""National identity and tax numbers (python-stdnum modules), US SSN, UK NINO.

Each entry of :data:`NATIONAL_IDS` is a :class:`NationalId` record: recognizer name, stdnum
module, type, core regex (RE2-compatible, used in text with number boundaries and as the
whole-value pattern in columns), context words, whether context is required in text, base
score. Plain digit runs with a weak check (mod 10/11) could be any invoice number, so they
need a context word in text; distinctive formats (letters, separators, century signs) do not.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass

from veil.detect.recognizers._common import ALNUM_L, ALNUM_R, NUM_L, NUM_R
from veil.detect.registry import Recognizer

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


@dataclass(frozen=True)
class NationalId:
    """One national identity or tax number checked by a python-stdnum module.

    ``core`` is the number's shape (RE2-compatible: number boundaries are added in text, and
    it is the whole-value pattern in columns); ``context_required`` says whether free text
    needs a context word next to it (plain digit runs with a weak check do); ``column_names``
    is a regex on column names that support the type.
    """

    name: str
    module: str  # stdnum module
    core: str
    context: tuple[str, ...]
    context_required: bool
    column_names: str
    type: str = "national_id"
    score: float = 0.6


NATIONAL_IDS: tuple[NationalId, ...] = (
    NationalId(
        name="de_idnr",
        module="de.idnr",
        core=r"\d{2}(?: ?\d{3}){3}",
        context=(
            "steuer-id",
            "steuerid",
            "steuer id",
            "idnr",
            "id-nr",
            "identifikationsnummer",
            "steueridentifikationsnummer",
            "steuer-identifikationsnummer",
        ),
        context_required=True,
        column_names="idnr|steuer.?id|tax.?id",
    ),
    NationalId(
        name="de_stnr",
        module="de.stnr",
        core=r"\d{2,3}/\d{3,4}/\d{4,5}|\d{10,13}",
        context=("steuernummer", "st.-nr", "st-nr", "stnr", "st.nr", "steuer-nr"),
        context_required=True,
        column_names="stnr|steuernummer",
    ),
    NationalId(
        name="fr_nir",
        module="fr.nir",
        core=r"[12] ?\d{2} ?(?:0[1-9]|1[0-2]|[2-9]\d) ?(?:\d{2}|2[AB]) ?\d{3} ?\d{3} ?\d{2}",
        context=("nir", "sécurité sociale", "securite sociale", "sécu", "insee", "carte vitale"),
        context_required=False,
        column_names="nir|insee|secu",
    ),
    NationalId(
        name="fr_nif",
        module="fr.nif",
        core=r"[0-3]\d(?: ?\d){11}",
        context=("nif", "numéro fiscal", "numero fiscal", "spi", "identifiant fiscal"),
        context_required=True,
        column_names=r"\bnif|fiscal",
    ),
    NationalId(
        name="it_codicefiscale",
        module="it.codicefiscale",
        core="[A-Z]{6}[0-9LMNPQRSTUV]{2}[A-EHLMPR-T][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z]",
        context=("codice fiscale", "cod. fisc", "c.f.", "cf", "tax code"),
        context_required=False,
        score=0.85,
        column_names=r"codice|fiscale|\bcf\b",
    ),
    NationalId(
        name="es_dni",
        module="es.dni",
        core=r"\d{8}[ \-]?[A-Z]",
        context=("dni", "nif", "documento"),
        context_required=False,
        score=0.65,
        column_names=r"\bdni|\bnif",
    ),
    NationalId(
        name="es_nie",
        module="es.nie",
        core=r"[XYZ][ \-]?\d{7}[ \-]?[A-Z]",
        context=("nie", "extranjero"),
        context_required=False,
        score=0.75,
        column_names=r"\bnie\b",
    ),
    NationalId(
        name="nl_bsn",
        module="nl.bsn",
        core=r"\d{4}\.?\d{2}\.?\d{3}",
        context=("bsn", "burgerservicenummer", "sofinummer", "sofi-nummer"),
        context_required=True,
        column_names="bsn|sofi",
    ),
    NationalId(
        name="be_nn",
        module="be.nn",
        core=r"\d{2}[ .]?\d{2}[ .]?\d{2}[ .\-]?\d{3}[ .\-]?\d{2}",
        context=(
            "rijksregister",
            "national number",
            "numéro national",
            "nn",
            "insz",
            "niss",
            "rrn",
        ),
        context_required=True,
        column_names="rijksregister|insz|niss|rrn|national.?number",
    ),
    NationalId(
        name="be_bis",
        module="be.bis",
        core=r"\d{2}[ .]?\d{2}[ .]?\d{2}[ .\-]?\d{3}[ .\-]?\d{2}",
        context=("bis", "bis-nummer", "numéro bis", "insz", "niss"),
        context_required=True,
        column_names=r"\bbis\b",
    ),
    NationalId(
        name="at_vnr",
        module="at.vnr",
        core=r"\d{4} ?\d{6}",
        context=("versicherungsnummer", "svnr", "sv-nr", "sv-nummer", "sozialversicherung", "vsnr"),
        context_required=True,
        column_names="svnr|vsnr|versicherungsnummer",
    ),
    NationalId(
        name="at_tin",
        module="at.tin",
        core=r"\d{2}-?\d{3}/?\d{4}",
        context=("steuernummer", "abgabenkonto", "st.nr", "st.-nr"),
        context_required=True,
        column_names="steuernummer|abgabenkonto",
    ),
    NationalId(
        name="pl_pesel",
        module="pl.pesel",
        core=r"\d{11}",
        context=("pesel",),
        context_required=True,
        column_names="pesel",
    ),
    NationalId(
        name="pt_nif",
        module="pt.nif",
        core=r"\d{9}",
        context=("nif", "contribuinte", "número fiscal", "numero fiscal"),
        context_required=True,
        column_names=r"\bnif|contribuinte",
    ),
    NationalId(
        name="pt_cc",
        module="pt.cc",
        core=r"\d{8} ?\d ?[A-Z]{2} ?\d",
        context=("cartão de cidadão", "cartao de cidadao", "cc"),
        context_required=False,
        score=0.8,
        column_names=r"cartao|cidadao|\bcc\b",
    ),
    NationalId(
        name="se_personnummer",
        module="se.personnummer",
        core=r"(?:19|20)?\d{6}[\-+]?\d{4}",
        context=("personnummer", "personnr", "pnr"),
        context_required=True,
        column_names="personnummer|personnr",
    ),
    NationalId(
        name="dk_cpr",
        module="dk.cpr",
        core=r"\d{6}-?\d{4}",
        context=("cpr", "personnummer"),
        context_required=True,
        column_names=r"\bcpr",
    ),
    NationalId(
        name="fi_hetu",
        module="fi.hetu",
        core=r"\d{6}[\-+A-FU-Y]\d{3}[0-9A-Y]",
        context=("hetu", "henkilötunnus", "henkilotunnus", "personbeteckning"),
        context_required=False,
        score=0.8,
        column_names="hetu|henkilotunnus",
    ),
    NationalId(
        name="ie_pps",
        module="ie.pps",
        core=r"\d{7}[A-W][A-IW]?",
        context=("pps", "ppsn", "personal public service"),
        context_required=False,
        column_names=r"\bpps",
    ),
    NationalId(
        name="gb_nhs",
        module="gb.nhs",
        core=r"\d{3}[ \-]?\d{3}[ \-]?\d{4}",
        context=("nhs",),
        context_required=True,
        column_names=r"\bnhs",
    ),
    NationalId(
        name="ch_ssn",
        module="ch.ssn",
        core=r"756[. ]?\d{4}[. ]?\d{4}[. ]?\d{2}",
        context=("ahv", "avs", "sozialversicherungsnummer", "social security"),
        context_required=False,
        score=0.8,
        column_names="ahv|avs",
    ),
    NationalId(
        name="no_fodselsnummer",
        module="no.fodselsnummer",
        core=r"\d{6} ?\d{5}",
        context=("fødselsnummer", "fodselsnummer", "personnummer"),
        context_required=True,
        column_names="fodselsnummer|foedselsnummer",
    ),
    NationalId(
        name="cz_rc",
        module="cz.rc",
        core=r"\d{6}/?\d{3,4}",
        context=("rodné číslo", "rodne cislo", "rč"),
        context_required=True,
        column_names=r"rodne|\brc\b",
    ),
    NationalId(
        name="sk_rc",
        module="sk.rc",
        core=r"\d{6}/?\d{3,4}",
        context=("rodné číslo", "rodne cislo", "rč"),
        context_required=True,
        column_names=r"rodne|\brc\b",
    ),
    NationalId(
        name="bg_egn",
        module="bg.egn",
        core=r"\d{10}",
        context=("егн", "egn"),
        context_required=True,
        column_names=r"\begn",
    ),
    NationalId(
        name="bg_pnf",
        module="bg.pnf",
        core=r"\d{4} ?\d{3} ?\d{3}",
        context=("лнч", "pnf", "lnch"),
        context_required=True,
        column_names=r"\bpnf|lnch",
    ),
    NationalId(
        name="ee_ik",
        module="ee.ik",
        core=r"[1-6]\d{10}",
        context=("isikukood",),
        context_required=True,
        column_names="isikukood",
    ),
    NationalId(
        name="lt_asmens",
        module="lt.asmens",
        core=r"[1-6]\d{10}",
        context=("asmens kodas", "asmens"),
        context_required=True,
        column_names="asmens",
    ),
    NationalId(
        name="ro_cnp",
        module="ro.cnp",
        core=r"[1-9]\d{12}",
        context=("cnp",),
        context_required=True,
        column_names=r"\bcnp",
    ),
    NationalId(
        name="si_emso",
        module="si.emso",
        core=r"\d{13}",
        context=("emšo", "emso"),
        context_required=True,
        column_names="emso",
    ),
    NationalId(
        name="gr_amka",
        module="gr.amka",
        core=r"\d{11}",
        context=("amka", "αμκα"),
        context_required=True,
        column_names="amka",
    ),
    NationalId(
        name="us_ssn",
        module="us.ssn",
        type="us_ssn",
        core=r"\d{3}-\d{2}-\d{4}",
        context=("ssn", "social security", "ss#", "ss no", "soc sec"),
        context_required=False,
        column_names="ssn|social",
    ),
    NationalId(
        name="us_ssn_plain",
        module="us.ssn",
        type="us_ssn",
        core=r"\d{9}|\d{3} \d{2} \d{4}",
        context=("ssn", "social security", "ss#", "ss no", "soc sec"),
        context_required=True,
        column_names="ssn|social",
    ),
    NationalId(
        name="us_itin",
        module="us.itin",
        core=r"9\d{2}-?[5-9]\d-?\d{4}",
        context=("itin", "taxpayer", "tax id"),
        context_required=True,
        column_names="itin",
    ),
    NationalId(
        name="us_ein",
        module="us.ein",
        core=r"\d{2}-\d{7}|\d{9}",
        context=("ein", "employer identification", "fein"),
        context_required=True,
        column_names=r"\bein\b|fein",
    ),
    NationalId(
        name="us_tin",
        module="us.tin",
        core=r"\d{3}-\d{2}-\d{4}|\d{2}-\d{7}|\d{9}",
        context=("tin", "taxpayer", "tax id"),
        context_required=True,
        column_names=r"\btin\b|taxpayer",
    ),
)

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
    for nid in NATIONAL_IDS:
        mod = importlib.import_module(f"stdnum.{nid.module}")
        recs.append(
            Recognizer(
                veto=_veto(nid.name),
                name=nid.name,
                type=nid.type,
                pattern=NUM_L + "(?:" + nid.core + ")" + NUM_R,
                value_pattern=nid.core.replace("[A-Z", "[A-Za-z"),
                validator=mod.is_valid,
                validator_name=f"stdnum.{nid.module}",
                strength="checksum",
                context=nid.context + GENERIC_ID_CONTEXT,
                context_required=nid.context_required,
                score=nid.score,
                column_names=nid.column_names + "|" + _NATIONAL_COLUMNS,
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
