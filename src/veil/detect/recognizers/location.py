"""Postcodes and street addresses. Both are only personal data next to other address parts,
so they are found by shape *and* surroundings: a postcode followed by a city name or after
a postal context word; a street address as house number + street name with a street word
(the US Postal Service's standard suffixes and the street words of the EU languages, written
out in this module)."""

from __future__ import annotations

import re

from stdnum.nl import postcode as nl_postcode

from veil.detect.recognizers._common import LETTER, NUM_L, NUM_R, UPPER
from veil.detect.registry import Recognizer

POSTAL_CONTEXT = (
    "zip",
    "zip code",
    "postcode",
    "post code",
    "postal",
    "postal code",
    "plz",
    "postleitzahl",
    "code postal",
    "cp",
    "c.p.",
    "cap",
    "postnummer",
    "postinumero",
    "kod pocztowy",
    "código postal",
    "codigo postal",
    "address",
    "adresse",
    "addr",
    "dirección",
    "indirizzo",
    "adres",
    "lives at",
    "living at",
    "ship to",
    "deliver to",
    "delivery to",
)

_CITY_AFTER = re.compile(r"^,? (?:" + UPPER + r"[\w'’\-]+|" + UPPER + r"{2}\b)")
_BEFORE_OK = re.compile(r"(?:^|[,;:\n(]\s*|\b(?:in|at|to|à|en|a|te|w|i)\s+|\d[a-z]?\s+)$")
# the two-letter codes of the US states (and DC) written between a town and its ZIP code
_US_STATE = (
    "(?:A[KLRZ]|C[AOT]|D[CE]|FL|GA|HI|I[ADLN]|K[SY]|LA|M[ADEINOST]|N[CDEHJMVY]|O[HKR]|PA|RI"
    "|S[CD]|T[NX]|UT|V[AT]|W[AIVY])"
)
_CITY_BEFORE = re.compile(
    UPPER + r"[\w'’\-]+(?:, (?:" + _US_STATE + " )?| " + _US_STATE + " )$"
)  # "Springfield, IL 62704"; not "Treasury Ops, GL 2210-450" (a ledger account)
_END_AFTER = re.compile(r"^(?:$|[,.;)\n]|\s+\(|\s+[A-Z]{2}\b)")


def postcode_surroundings(before: str, after: str) -> bool:
    """Address-like surroundings: "..., 75001 Paris", "Madrid, 28001", "Springfield, IL 62704"."""
    a0 = after[:1]
    if (
        a0 in (" ", ",")
        and after[1:3].strip(" ")[:1].isupper()
        and _CITY_AFTER.match(after)
        and _BEFORE_OK.search(before[-24:])
    ):
        return True
    if a0 not in ("", ",", ".", ";", ")", "\n", " "):
        return False
    return bool(_END_AFTER.match(after) and _CITY_BEFORE.search(before[-40:]))


# Street words that follow the street's name ("Baker Street", "Jones Brooks"): the US Postal
# Service's standard suffixes (Publication 28, Appendix C1; public domain) and their common
# abbreviations, and the European words written after the name. Written out here, never
# taken from a fake-data generator (``veil sample`` writes its addresses with Faker).
_USPS_SUFFIXES = [
    "alley",
    "annex",
    "arcade",
    "ave",
    "avenue",
    "bayou",
    "beach",
    "bend",
    "bluff",
    "bluffs",
    "bottom",
    "boulevard",
    "blvd",
    "branch",
    "bridge",
    "brook",
    "brooks",
    "burg",
    "burgs",
    "bypass",
    "camp",
    "canyon",
    "cape",
    "causeway",
    "center",
    "centers",
    "circle",
    "circles",
    "cliff",
    "cliffs",
    "close",
    "club",
    "common",
    "commons",
    "corner",
    "corners",
    "course",
    "court",
    "courts",
    "cove",
    "coves",
    "creek",
    "crescent",
    "crest",
    "crossing",
    "crossroad",
    "ct",
    "curve",
    "dale",
    "dam",
    "divide",
    "dr",
    "drive",
    "drives",
    "estate",
    "estates",
    "expressway",
    "extension",
    "extensions",
    "fall",
    "falls",
    "ferry",
    "field",
    "fields",
    "flat",
    "flats",
    "ford",
    "fords",
    "forest",
    "forge",
    "forges",
    "fork",
    "forks",
    "fort",
    "freeway",
    "garden",
    "gardens",
    "gateway",
    "glen",
    "glens",
    "green",
    "greens",
    "grove",
    "groves",
    "harbor",
    "harbors",
    "haven",
    "heights",
    "highway",
    "hill",
    "hills",
    "hollow",
    "inlet",
    "island",
    "islands",
    "isle",
    "junction",
    "junctions",
    "key",
    "keys",
    "knoll",
    "knolls",
    "lake",
    "lakes",
    "land",
    "landing",
    "lane",
    "light",
    "lights",
    "ln",
    "loaf",
    "lock",
    "locks",
    "lodge",
    "loop",
    "mall",
    "manor",
    "manors",
    "meadow",
    "meadows",
    "mews",
    "mill",
    "mills",
    "mission",
    "motorway",
    "mount",
    "mountain",
    "mountains",
    "neck",
    "orchard",
    "oval",
    "overpass",
    "parade",
    "park",
    "parks",
    "parkway",
    "parkways",
    "pass",
    "passage",
    "path",
    "pike",
    "pine",
    "pines",
    "pl",
    "place",
    "plain",
    "plains",
    "plaza",
    "point",
    "points",
    "port",
    "ports",
    "prairie",
    "radial",
    "ramp",
    "ranch",
    "rapid",
    "rapids",
    "rd",
    "rest",
    "ridge",
    "ridges",
    "river",
    "road",
    "roads",
    "route",
    "row",
    "run",
    "shoal",
    "shoals",
    "shore",
    "shores",
    "skyway",
    "spring",
    "springs",
    "spur",
    "spurs",
    "sq",
    "square",
    "squares",
    "st",
    "station",
    "stravenue",
    "stream",
    "street",
    "streets",
    "summit",
    "terrace",
    "throughway",
    "trace",
    "track",
    "trafficway",
    "trail",
    "tunnel",
    "turnpike",
    "underpass",
    "union",
    "unions",
    "valley",
    "valleys",
    "viaduct",
    "view",
    "views",
    "village",
    "villages",
    "ville",
    "vista",
    "walk",
    "walks",
    "wall",
    "way",
    "ways",
    "well",
    "wells",
]
_EU_SUFFIXES = [
    "straße",
    "strasse",
    "str.",
    "gasse",
    "weg",
    "platz",
    "allee",
    "ring",
    "damm",
    "ufer",
    "hof",
    "steig",
    "pfad",
    "straat",
    "laan",
    "gracht",
    "kade",
    "plein",
    "dijk",
    "baan",
    "dreef",
    "pad",
    "singel",
    "steeg",
    "lei",
    "gatan",
    "vägen",
    "gränd",
    "torget",
    "stigen",
    "vej",
    "gade",
    "stræde",
    "allé",
    "katu",
    "tie",
    "kuja",
    "polku",
    "bulevardi",
    "via",
    "viale",
    "piazza",
    "strada",
    "vicolo",
    "borgo",
    "canale",
    "contrada",
    "corso",
    "largo",
    "rotonda",
    "stretto",
    "incrocio",
]
_EU_PREFIXES = [
    "rue",
    "avenue",
    "boulevard",
    "chemin",
    "allée",
    "impasse",
    "place",
    "quai",
    "route",
    "cours",
    "via",
    "viale",
    "piazza",
    "corso",
    "largo",
    "vicolo",
    "strada",
    "borgo",
    "contrada",
    "calle",
    "avenida",
    "av",
    "plaza",
    "paseo",
    "camino",
    "ronda",
    "rambla",
    "glorieta",
    "cuesta",
    "alameda",
    "pasaje",
    "callejón",
    "urbanización",
    "carretera",
    "travesía",
    "cañada",
    "lungomare",
    "salita",
    "rua",
    "travessa",
    "praça",
    "ulica",
    "ul.",
    "aleja",
    "al.",
    "plac",
    "c/",
    "bd",
    "avda",
]
# Turkish street words, written after the name and before "No:" ("Atatürk Cad. No: 15")
_TR_STREET = ["caddesi", "cad.", "cd.", "sokak", "sokağı", "sok.", "sk.", "bulvarı", "blv."]


def _street_words() -> tuple[list[str], list[str]]:
    """(suffixes, prefixes), longest first (alternations try the longer word first)."""
    suffixes = set(_USPS_SUFFIXES) | set(_EU_SUFFIXES)
    prefixes = set(_EU_PREFIXES)
    return sorted(suffixes, key=len, reverse=True), sorted(prefixes, key=len, reverse=True)


_SUFFIXES, _PREFIXES = _street_words()
_SUF = "|".join(re.escape(s) for s in _SUFFIXES)
_PRE = "|".join(re.escape(p) for p in _PREFIXES)
_WORD = UPPER + r"[\w'’.\-]*"
_NUMBER = r"\d{1,5}(?:\s?[a-zA-Z](?!\w))?"
# a house number with its flat or building part after a slash ("ul. Długa 15/3", "84/92")
_NUMBER_SLASH = r"\d{1,5}(?:/\d{1,4}[a-zA-Z]?(?![\d/])|\s?[a-zA-Z](?![\w:]))?"
_COMPOUND_SUF = (
    "straße|strasse|str\\.|gasse|platz|ring|weg|allee|damm|ufer|straat|laan|gracht|kade|plein|dijk"
    "|baan|dreef|hof|pad|singel|steeg|lei|gatan|vägen|stigen|gränd|torget|gade|stræde|vej|katu"
    "|tie|polku|kuja|bulevardi"
)

_UNIT = r"(?:,?\s(?:Apt\.?|Apartment|Suite|Unit|Flat|Piso|Puerta|Appartamento|Piano)\s?\w{1,5})?"
_POSTCODE_AHEAD = r"(?=,\s(?:\d{4,5}|\d{2}-\d{3}|\d{4}-\d{3}|\d{4}\s?[A-Z]{2})\s+" + UPPER + ")"
_PARTICLES = r"(?:de|la|del|della|di|da|do|dos|das|van|von|der|den|ter|ten|zum|zur)"

STREET_PATTERN = (
    # 12 Baker Street / 48 Jones brooks / 1600 Pennsylvania Avenue NW / 8 Reed Springs Apt 12B
    # (a 5-digit number after a comma is a postcode: "..., 56926 Leipziger Land")
    r"(?<![\w.,/\-])(?!(?<=, )\d{5})"
    + _NUMBER
    + r",?\s(?:"
    + _WORD
    + r"\s){1,3}(?i:"
    + _SUF
    + r")(?!\w)"
    # the dot of an abbreviation ("Park St.", "Blvd. in"), not a full stop ("Crescent.")
    + r"(?:\.(?<![A-Za-z]{4}\.)|\.(?=\s+[a-z]))?"
    + _UNIT
    # Konwaliowa 175, 87-708 ... / Rynek 151, ... : any street name right before a postcode
    + r"|(?<![\w.])"
    + UPPER
    + LETTER
    + r"+(?:[ \-](?:"
    + _PARTICLES
    + r"[ \-])?"
    + UPPER
    + LETTER
    + r"*){0,3}\s\d{1,4}[a-zA-Z]?(?:/\d{1,4}[a-zA-Z]?)?"
    + _POSTCODE_AHEAD
    # 12, rue de la Paix / 5 boulevard Haussmann
    + r"|(?<![\w.,/\-])\d{1,4}(?:\s?(?:bis|ter))?,?\s(?i:"
    + _PRE
    + r")\s(?:(?:de la|de l'|du|des|de|d'|di|del|della|da|do|dos)\s?)?"
    + _WORD
    + r"(?:\s(?:de\s)?"
    + _WORD
    + r"){0,2}"
    # Müllerstraße 5 / Hans-Müller-Allee 3a / Annastraat 12 / Storgatan 4
    + r"|(?<!\w)"
    + UPPER
    + LETTER
    + r"*(?:-"
    + UPPER
    + LETTER
    + r"*)*-?(?i:"
    + _COMPOUND_SUF
    + r")\s"
    + _NUMBER_SLASH
    # Via Roma 12 / Calle de Juan García 5 / Rua Silva, 12 / ulica Polna 3 / chemin des
    # Vignes 4 / Rue du Marché 14 / ul. Nowy Świat 6/12
    + r"|(?<!\w)(?:"
    + "|".join(re.escape(p.capitalize()) for p in _PREFIXES if p not in ("c.", "r."))
    + r"|ulica|ul\.|aleja|al\.|plac|rue|c/|(?<!\d )(?:chemin|avenue|boulevard|allée|impasse"
    + r"|quai))\s(?:(?:de la|de l'|d'|du|des|de|del|della|da|do|dos|das|di)\s?)?"
    + _WORD
    + r"(?:\s(?:(?:de|da|do|dos|das|del|di|la|du|des)\s)?"
    + _WORD
    + r"){0,3}(?:,\s(?!\d{5})|\s)"
    + _NUMBER_SLASH
    # Av. da República 50 / Avda. Diagonal 640 (no comma needed: no initial looks like these)
    + r"|(?<![\w.])(?:Av|Avda|Pza|Bd)\.\s(?:(?:de la|de|del|da|do|dos|das)\s)?"
    + _WORD
    + r"(?:\s(?:(?:de|da|do|dos|das|del)\s)?"
    + _WORD
    + r"){0,3},?\s\d{1,4}(?:[a-zA-Z](?!\w))?(?![\w])"
    # Atatürk Cad. No: 15 / İstiklal Caddesi No:123 / Gül Sok. No: 4/2
    + r"|(?<![\w.])(?:"
    + _WORD
    + r"\s){1,3}(?i:"
    + "|".join(re.escape(w) for w in _TR_STREET)
    + r")\s?(?:No\s?:?\s?)"
    + _NUMBER_SLASH
    # C. de Jonatan Peiró, 395 / R. do Mirante, 127 (Spanish and Portuguese abbreviations)
    + r"|(?<![\w.])(?:C|R|Av|Avda|Pl|Pza)\.\s(?:(?:de la|de|del|da|do|dos|das)\s)?"
    + _WORD
    + r"(?:\s(?:(?:de|da|do|dos|das|del)\s)?"
    + _WORD
    + r"){0,3},\s\d{1,4}(?:[a-zA-Z](?!\w))?(?![\w])"
    # Bertha Pauligin kuja 98 / Lange Straße 5: name words, a separate street word, number
    + r"|(?<![\w.])(?:"
    + _WORD
    + r"\s){1,3}(?i:"
    + _COMPOUND_SUF
    + r")\s"
    + _NUMBER
)

_STREET_RE = re.compile(STREET_PATTERN)


def _re2_alt(words: list[str]) -> str:
    return "|".join(
        "".join("\\" + c if c.isascii() and not c.isalnum() else c for c in w) for w in words
    )


# RE2 prefilter: a street word as a whole word, or a word ending in a compound street word
# ("Hauptstrasse", "Haupt strasse"): what `street_gate` lets through, so batched and one-text
# scans agree
_COMPOUND_WORDS = _COMPOUND_SUF.replace("\\.", ".").split("|")
_STANDALONE = [w for w in _SUFFIXES + _PREFIXES + _TR_STREET if w not in _COMPOUND_WORDS]
STREET_PREFILTER = (
    r"\d{1,4}(?:/\d{1,4})?[a-zA-Z]?, (?:\d{4,5}|\d{2}-\d{3}|\d{4}-\d{3}|\d{4} ?[A-Z]{2}) "
    + r"|(?i:\b(?:"
    + _re2_alt(_STANDALONE)
    + r")(?:\b|[^a-z]))|(?i:(?:"
    + _re2_alt(_COMPOUND_WORDS)
    + r")(?:\b|[^a-z]|$))"
    + r"|\b(?:C|R|Av|Avda|Pl|Pza|Bd)\.\s"  # "R. Augusta 100", "Av. da Liberdade 12"
)
POSTCODE_PREFILTER = (
    r"[AC-FHKNPRTV-Y]\d{2} ?[0-9AC-FHKNPRTV-Y]{4} \p{Lu}|\d{4,5} \p{Lu}|\p{L}, \d{4,5}\b"
    r"|\d{2}-\d{3} \p{Lu}|\d{4}-\d{3} \p{Lu}|\d{3} \d{2} \p{Lu}"
    r"|[A-Z]{2} \d{5}|(?i:zip|post|plz|cap\b|cp\b|c\.p\.|c[oó]digo|addr|adres|indirizzo|direcci)"
)


_STANDALONE_SET = frozenset(w.lower() for w in _STANDALONE)
_GATE_WORDS = re.compile(r"c/|[^\W\d_]+\.?")
_GATE_POSTAL = re.compile(r"\d, (?:\d{4,5}|\d{2}-\d{3}|\d{4}-\d{3}|\d{4} ?[A-Z]{2}) ")
_COMPOUND_ENDS = tuple(w for w in _COMPOUND_WORDS if w)


def street_gate(text: str) -> bool:
    """The street prefilter as set look-ups (a regex alternation of street words is slow in
    Python): a street word, a compound street name, or a number before a postcode."""
    for w in _GATE_WORDS.findall(text.lower()):
        if w in _STANDALONE_SET or w.rstrip(".") in _STANDALONE_SET or w.endswith(_COMPOUND_ENDS):
            return True
    return _GATE_POSTAL.search(text) is not None or _GATE_ABBR.search(text) is not None


_GATE_ABBR = re.compile(r"\b(?:C|R|Av|Avda|Pl|Pza|Bd)\.\s")


_PC_NUM = re.compile(
    r"[AC-FHKNPRTV-Y]\d{2} ?[0-9AC-FHKNPRTV-Y]{4} [^\W\d_]|\d{4,5} [^\W\d_]|[^\W\d_], \d{4,5}\b"
    r"|\d{2}-\d{3} [^\W\d_]|\d{4}-\d{3} [^\W\d_]|\d{3} \d{2} [^\W\d_]|[A-Z]{2} \d{5}"
)
_PC_WORDS = (
    "zip",
    "post",
    "plz",
    "cap",
    "cp",
    "c.p.",
    "codigo",
    "código",
    "addr",
    "adres",
    "indirizzo",
    "direcci",
)


def postcode_gate(text: str) -> bool:
    """The postcode prefilter without its case-insensitive word alternation (slow in Python):
    a number shaped like a postcode next to a word, or a postal word."""
    if _PC_NUM.search(text):
        return True
    low = text.lower()
    return any(w in low for w in _PC_WORDS)


def contains_street_address(value: str) -> bool:
    return bool(_STREET_RE.search(value[:300]))


_UK = r"(?:GIR ?0AA|[A-PR-UWYZ][A-HK-Y]?\d[A-Z\d]? ?\d[ABD-HJLNP-UW-Z]{2})"

RECOGNIZERS = [
    Recognizer(
        name="postcode_uk",
        type="postcode",
        pattern=r"(?<![\w\-])" + _UK + r"(?![\w\-])",
        value_pattern=_UK.replace("\\d", "[0-9]"),
        prefilter=r"[A-Z]\d[A-Z\d]? ?\d[A-Z]{2}",
        strength="context",
        context=POSTAL_CONTEXT,
        score=0.55,
        column_names=r"post.?code|zip|postal|plz|\bcap\b|\bcp\b|postnummer",
        name_required=True,
    ),
    Recognizer(
        name="postcode_ie",
        type="postcode",
        pattern=r"(?<![\w\-])(?:[AC-FHKNPRTV-Y]\d{2}|D6W) ?[0-9AC-FHKNPRTV-Y]{4}(?![\w\-])",
        value_pattern=(
            r"(?:[AC-FHKNPRTV-Yac-fhknprtv-y][0-9]{2}|D6W) ?[0-9AC-FHKNPRTV-Yac-fhknprtv-y]{4}"
        ),
        prefilter=r"[AC-FHKNPRTV-Y]\d{2} ?[0-9AC-FHKNPRTV-Y]{4}",
        strength="context",
        context=POSTAL_CONTEXT + ("eircode",),
        context_fn=postcode_surroundings,
        context_required=True,
        score=0.6,
        column_names=r"post.?code|zip|postal|eircode",
        name_required=True,
    ),
    Recognizer(
        name="postcode_nl",
        type="postcode",
        pattern=NUM_L + r"[1-9]\d{3} ?[A-Z]{2}(?![\w\-])",
        value_pattern=r"[1-9][0-9]{3} ?[A-Za-z]{2}",
        prefilter=r"[1-9]\d{3} ?[A-Z]{2}\b",
        validator=nl_postcode.is_valid,
        validator_name="stdnum.nl.postcode",
        strength="context",
        context=POSTAL_CONTEXT,
        context_fn=postcode_surroundings,
        context_required=True,
        score=0.6,
        column_names=r"post.?code|zip|postal|plz|\bcap\b|\bcp\b|postnummer",
        name_required=True,
    ),
    Recognizer(
        name="postcode",
        type="postcode",
        pattern=NUM_L + r"(?:\d{5}(?:-\d{4})?|\d{4}|\d{2}-\d{3}|\d{4}-\d{3}|\d{3} \d{2})" + NUM_R,
        value_pattern=(
            r"(?:[A-Za-z]{1,2}-)?(?:[0-9]{5}(?:-[0-9]{4})?|[0-9]{4}|[0-9]{2}-[0-9]{3}"
            r"|[0-9]{4}-[0-9]{3}|[0-9]{3} [0-9]{2})"
        ),
        prefilter=POSTCODE_PREFILTER,
        gate=postcode_gate,
        strength="context",
        context=POSTAL_CONTEXT,
        context_fn=postcode_surroundings,
        context_required=True,
        context_window=24,
        score=0.6,
        column_names=r"post.?code|zip|postal|plz|\bcap\b|\bcp\b|postnummer",
        name_required=True,
    ),
    Recognizer(
        name="street_address",
        type="street_address",
        pattern=STREET_PATTERN,
        value_pattern=r".*[0-9].*",
        prefilter=STREET_PREFILTER,
        gate=street_gate,
        validator=contains_street_address,
        validator_name="street pattern",
        validate_in_text=False,
        strength="context",
        context=POSTAL_CONTEXT,
        score=0.6,
        column_names=r"address|street|addr|strasse|straße|rue|calle|via\b|line_?1",
    ),
]
