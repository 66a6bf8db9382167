"""E-mail addresses and phone numbers (phonenumbers: international, and national with context)."""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers

from veil.detect.recognizers._common import NUM_R
from veil.detect.registry import Recognizer

_EMAIL_CORE = (
    r"[A-Za-z0-9](?:[A-Za-z0-9._%+\-]{0,63})@[A-Za-z0-9](?:[A-Za-z0-9\-]{0,62}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]{0,62}[A-Za-z0-9])?)*\.[A-Za-z]{2,24}"
)


def validate_email(value: str) -> bool:
    """RFC 5321 shape: local part <= 64, no dot at the ends or doubled, domain labels valid,
    alphabetic top-level domain, total <= 254."""
    value = value.strip()
    if len(value) > 254 or value.count("@") != 1:
        return False
    local, domain = value.split("@")
    if not local or len(local) > 64 or local[0] == "." or local[-1] == "." or ".." in local:
        return False
    labels = domain.split(".")
    if len(labels) < 2 or not labels[-1].isalpha() or len(labels[-1]) < 2:
        return False
    return all(0 < len(lb) <= 63 and lb[0] != "-" and lb[-1] != "-" for lb in labels)


PHONE_CONTEXT = (
    "phone",
    "tel",
    "tel.",
    "telephone",
    "mobile",
    "mob",
    "cell",
    "call",
    "sms",
    "whatsapp",
    "contact",
    "fax",
    "handy",
    "telefon",
    "rufnummer",
    "mobil",
    "tél",
    "téléphone",
    "portable",
    "teléfono",
    "telefono",
    "móvil",
    "movil",
    "cellulare",
    "telefoon",
    "mobiel",
    "telefone",
    "telemóvel",
    "puhelin",
    "ring",
    "reach",
    "bizum",
    "zelle",
    "llamar",
    "rappeler",
    "rückruf",
    "appeler",
    "chiamare",
    "bellen",
    # "number" and fixed-line / mobile words in the languages of a bank's customers
    "de numéro",
    "nouveau numéro",
    "mon numéro",
    "son numéro",
    "votre numéro",
    "mi número",
    "su número",
    "mio numero",
    "suo numero",
    "mijn nummer",
    "nieuwe nummer",
    "meine nummer",
    "neue nummer",
    "mój numer",
    "nowy numer",
    "fixe",
    "fijo",
    "fisso",
    "stacjonarny",
    "komórka",
    "komórkowy",
    "sabit hat",
    "cep",
    "gsm",
    "arayın",
    "ligar",
    "richiamare",
    "oddzwonić",
    "terugbellen",
    # "number", "contact" and "call back" as other languages inflect them
    "kontakt",
    "numerem",
    "numeru",
    "numarası",
    "numaram",
    "numara:",
    "rappel",
    "ring tillbaka",
    "telefonnummer",
    "nummer:",
    # "reachable on" in the languages of a bank's call notes ("joignable au 06 ...")
    "joignable",
    "erreichbar",
    "bereikbaar",
    "raggiungibile",
    "reachable",
    "contactable",
    "localizable",
)

DEFAULT_REGIONS = (
    "DE",
    "FR",
    "GB",
    "IT",
    "ES",
    "NL",
    "BE",
    "AT",
    "PL",
    "PT",
    "SE",
    "DK",
    "FI",
    "IE",
    "CH",
    "TR",
    "US",
)

_NOT_DIGIT = re.compile(r"[^\d+]")


@lru_cache(maxsize=65536)
def phone_score(value: str, regions: tuple[str, ...] = DEFAULT_REGIONS) -> float:
    """phonenumbers: 0.85 for a valid international number, 0.45 if only possible;
    national numbers (tried in ``regions``): 0.4 valid, 0.2 possible (need context)."""
    v = value.strip()
    d = _NOT_DIGIT.sub("", v)
    ndig = len(d.lstrip("+"))
    if ndig < 7 or ndig > 15:
        return 0.0
    if d.startswith(("+", "00")):
        text = "+" + d.lstrip("+")[2:] if d.startswith("00") else v
        try:
            num = phonenumbers.parse(text, None)
        except phonenumbers.NumberParseException:
            return 0.0
        if phonenumbers.is_valid_number(num):
            return 0.85
        return 0.45 if phonenumbers.is_possible_number(num) else 0.0
    best = 0.0
    for region in regions:
        try:
            num = phonenumbers.parse(v, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(num):
            return 0.4
        if best == 0.0 and phonenumbers.is_possible_number(num):
            best = 0.2
    return best


def in_parentheses(before: str, after: str) -> bool:
    """ "Transfer to Anna Berg (0170 3907220)": a number in parentheses after a name."""
    return before.endswith("(") and after.startswith(")") and before[-2:-1] in (" ", "")


def validate_phone(value: str) -> float:
    return phone_score(value)


_PHONE_L = r"(?<![\w@+/.,\-])(?<!\d[ ])"

RECOGNIZERS = [
    Recognizer(
        name="email",
        type="email",
        pattern=r"(?<![\w.%+\-])" + _EMAIL_CORE + r"(?![\w\-]|\.[A-Za-z0-9])",
        value_pattern=r"(?:mailto:)?" + _EMAIL_CORE,
        prefilter=r"@",
        validator=validate_email,
        validator_name="RFC 5321 shape",
        strength="format",
        context=("email", "e-mail", "mail"),
        score=0.9,
        column_names=r"e.?mail|mail",
    ),
    Recognizer(
        name="phone_intl",
        type="phone",
        pattern=(
            _PHONE_L
            + r"(?:\+|00)[1-9]\d{0,2}[ .\-]?(?:\(0\)[ .\-]?)?(?:\(\d{1,5}\)[ .\-]?)?"
            + r"\d(?:[ .\-/]?\d){4,13}(?: ?(?:x|ext\.?) ?\d{1,5})?"
            + NUM_R
        ),
        value_pattern=(
            r"(?:\+|00)[1-9][0-9]{0,2}[ .\-]?(?:\(0\)[ .\-]?)?(?:\([0-9]{1,5}\)[ .\-]?)?"
            r"[0-9](?:[ .\-/]?[0-9]){4,13}(?: ?(?:x|ext\.?) ?[0-9]{1,5})?"
        ),
        prefilter=r"(?:\+|\b00)[1-9]",
        validator=validate_phone,
        validator_name="phonenumbers",
        strength="library",
        context=PHONE_CONTEXT,
        score=0.85,
        column_names=r"phone|tel|mobile|cell|fax|handy|telefon|msisdn",
    ),
    Recognizer(
        name="phone_national",
        type="phone",
        pattern=(
            _PHONE_L
            + r"(?:\(0\d{1,5}\)[ .\-]?\d(?:[ .\-/]?\d){3,10}|0\d{1,5}(?:[ .\-/]?\d){4,11}"
            + r"|\(\d{3}\) ?\d{3}[ .\-]\d{4}|\d{3}[.\-]\d{3}[.\-]\d{4}"
            + r"|[1-9]\d{1,3}(?:[ .\-]\d{2,4}){2,4}|[1-9]\d{7,10})"
            + r"(?: ?(?:x|ext\.?) ?\d{1,5})?"
            + NUM_R
        ),
        value_pattern=(
            r"\(0[0-9]{1,5}\)[ .\-]?[0-9](?:[ .\-/]?[0-9]){3,10}|0[0-9]{1,5}(?:[ .\-/]?[0-9]){4,11}"
            r"|\([0-9]{3}\) ?[0-9]{3}[ .\-][0-9]{4}|[0-9]{3}[.\-][0-9]{3}[.\-][0-9]{4}"
            r"|[1-9][0-9]{1,3}(?:[ .\-][0-9]{2,4}){2,4}|[1-9][0-9]{7,10}"
        ),
        validator=validate_phone,
        validator_name="phonenumbers",
        strength="library",
        context=PHONE_CONTEXT,
        context_fn=in_parentheses,
        context_required=True,
        score=0.4,
        column_names=r"phone|tel|mobile|cell|fax|handy|telefon|msisdn",
        name_required=True,
    ),
]
