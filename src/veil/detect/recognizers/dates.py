"""Dates of birth: a real calendar date (datetime) in the past, found next to a birth
context word ("born", "DOB", "geb.", "né le", "fecha de nacimiento", ...). A date without
such a word is a transaction date, not personal data of this kind."""

from __future__ import annotations

import datetime as _dt
import re

from veil.detect.registry import Recognizer

MONTHS: dict[str, int] = {}
for _i, _names in enumerate(
    [
        "january jan januar janvier enero gennaio januari janv ene gen stycznia janeiro "
        "styczeń",
        "february feb februar février fevrier febrero febbraio februari févr fevr lutego "
        "fevereiro luty",
        "march mar märz maerz mars marzo maart mrz marca março marzec",
        "april apr avril abril aprile abr kwietnia kwiecień",
        "may mai mayo maggio mei mag maja maio maj",
        "june jun juni juin junio giugno czerwca junho czerwiec",
        "july jul juli juillet julio luglio juil lipca julho lipiec",
        "august aug août aout agosto augustus ago sierpnia sierpień augusti",
        "september sep sept septembre septiembre settembre set września setembro wrzesień",
        "october oct oktober octobre octubre ottobre okt ott października outubro październik",
        "november nov novembre noviembre listopada listopad",
        "december dec dezember décembre decembre diciembre dicembre dic grudnia dezembro grudzień",
    ],
    start=1,
):
    for _n in _names.split():
        MONTHS[_n] = _i

# Turkish month names, in dates only: several are also given names ("Nisan", "Ekim",
# "Kasım"), which the person rules must not take for memo words
ALL_MONTHS: dict[str, int] = dict(MONTHS)
_TURKISH = "ocak şubat mart nisan mayıs haziran temmuz ağustos eylül ekim kasım aralık"
for _i, _n in enumerate(_TURKISH.split(), 1):
    ALL_MONTHS[_n] = _i

_MONTH_RE = "|".join(sorted((re.escape(m) for m in ALL_MONTHS), key=len, reverse=True))

_NUMERIC = (
    r"(?:0?[1-9]|[12]\d|3[01])[./\-](?:0?[1-9]|1[0-2])[./\-](?:19|20)\d{2}"
    r"|(?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01])/(?:19|20)\d{2}"
    r"|(?:19|20)\d{2}[\-/.](?:0?[1-9]|1[0-2])[\-/.](?:0?[1-9]|[12]\d|3[01])"
    r"|(?:0?[1-9]|[12]\d|3[01])\.(?:0?[1-9]|1[0-2])\.\d{2}"
)
_TEXTUAL = (
    r"(?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th|er)?\.? (?:of |de |di )?(?i:" + _MONTH_RE + r")\.?,?"
    r" (?:de |del )?(?:19|20)\d{2}"
    r"|(?i:" + _MONTH_RE + r")\.? (?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?,? (?:19|20)\d{2}"
)

BIRTH_CONTEXT = (
    "born",
    "b.",
    "birth",
    "dob",
    "d.o.b",
    "birthday",
    "geb.",
    "geboren",
    "geburtsdatum",
    "geburtstag",
    "né",
    "née",
    "naissance",
    "nacido",
    "nacida",
    "nacimiento",
    "nato",
    "nata",
    "nascita",
    "geboortedatum",
    "geboren op",
    "urodzony",
    "urodzona",
    "urodzenia",
    "födelsedatum",
    "född",
    "født",
    "fødselsdato",
    "syntymäaika",
    "syntynyt",
    "data de nascimento",
    "nascido",
)

VERSION_WORDS = (
    "version", "versión", "versione", "versão", "wersja", "wersji", "versie", "release",
    "build", "patch", "firmware", "ver.", "rev.", "sdk", "api", "app", "ios", "android",
)  # fmt: skip
"""Words right before a dotted number that make it a software version, not a date
("Version 4.2.17", "build 2025.11.3")."""
_NOT_A_VERSION = r"(?=\d)" + "".join(  # tested only where a number starts
    rf"(?<!(?i:{re.escape(w)}){sep})" for w in VERSION_WORDS for sep in (" ", ": ")
)

_NUM_PARTS = re.compile(r"\d+")


def _plausible(year: int, month: int, day: int) -> bool:
    try:
        d = _dt.date(year, month, day)
    except ValueError:
        return False
    today = _dt.date.today()
    return d <= today and today.year - year <= 120


def validate_birth_date(value: str) -> bool:
    """A real calendar date (day/month order tried both ways), not in the future and at
    most 120 years ago."""
    v = value.strip().lower()
    nums = [int(x) for x in _NUM_PARTS.findall(v)]
    month_name = next(
        (ALL_MONTHS[w] for w in re.findall(r"[^\W\d_]+", v) if w in ALL_MONTHS), None
    )
    if month_name is not None:
        if len(nums) < 2:
            return False
        day, year = (nums[0], nums[-1])
        return _plausible(year, month_name, day)
    if len(nums) != 3:
        return False
    a, b, c = nums
    if a > 1000:  # ISO order
        return _plausible(a, b, c)
    if c < 100:  # two-digit year: the most recent past century
        c += 2000 if 2000 + c <= _dt.date.today().year else 1900
    return _plausible(c, b, a) or _plausible(c, a, b)


def validate_date(value: str) -> bool:
    """A real calendar date between 1900 and 2100 (day/month order tried both ways)."""
    v = value.strip().lower()
    v = _TIME.sub("", v)
    nums = [int(x) for x in _NUM_PARTS.findall(v)]
    month_name = next(
        (ALL_MONTHS[w] for w in re.findall(r"[^\W\d_]+", v) if w in ALL_MONTHS), None
    )
    if month_name is not None:
        return len(nums) >= 2 and _real(nums[-1], month_name, nums[0])
    if len(nums) != 3:
        return False
    a, b, c = nums
    if a > 1000:
        return _real(a, b, c)
    if c < 100:
        c += 2000 if c < 70 else 1900
    return _real(c, b, a) or _real(c, a, b)


def _real(year: int, month: int, day: int) -> bool:
    if not 1900 <= year <= 2100:
        return False
    try:
        _dt.date(year, month, day)
    except ValueError:
        return False
    return True


_TIME = re.compile(r"[t ]\d{1,2}:\d{2}.*$")
_CLOCK = r"(?:[T ](?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d{1,6})?)?(?:Z|[+\-]\d{2}:?\d{2})?)?"

RECOGNIZERS = [
    Recognizer(
        name="date",
        type="date",
        optional=True,
        pattern=r"(?<![\w./\-])(?:"
        + _NOT_A_VERSION
        + "(?:"
        + _NUMERIC
        + ")"
        + _CLOCK
        + "|"
        + _TEXTUAL
        + r")(?![\w]|[./\-:]\d)",
        value_pattern=_NUMERIC.replace("\\d", "[0-9]"),
        prefilter=(
            r"\d{1,4}[./\-]\d{1,2}[./\-]\d{2}|\d(?:st|nd|rd|th|er)?\.? (?:of |de |di )?\pL{3}"
            r"|\pL{3}\.? \d{1,2}(?:st|nd|rd|th)?,? (?:19|20)\d\d"
        ),
        validator=validate_date,
        validator_name="datetime (a real date)",
        strength="format",
        context=("date", "datum", "fecha", "data", "on", "le", "am", "dated", "signed"),
        score=0.6,
        in_columns=False,  # a date column is a transaction date unless a birth date says so
    ),
    Recognizer(
        name="date_of_birth",
        type="date_of_birth",
        pattern=r"(?<![\w./\-])(?:" + _NUMERIC + "|" + _TEXTUAL + r")(?![\w]|[./\-]\d)",
        value_pattern=_NUMERIC.replace("\\d", "[0-9]"),
        validator=validate_birth_date,
        validator_name="datetime (real past date)",
        strength="context",
        context=BIRTH_CONTEXT,
        context_required=True,
        context_window=36,
        score=0.85,
        column_names=r"birth|\bdob\b|geburt|naissance|nacimiento|nascita|geboorte|born",
        name_required=True,
    ),
]
