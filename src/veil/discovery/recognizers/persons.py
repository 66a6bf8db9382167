"""Person names without a language model.

Evidence, cheapest first: capitalization (a run of capitalized words), first- and last-name
lists (Faker's person providers for the European locales, built once into frozensets on
first use), the words right before the run (titles "Mr", "Frau", "Mme", "Sra."; salutations
"Dear", "Hi", "Hallo"; payee phrases "transfer to", "paid by", "from", "for"), and what
follows (a company suffix such as "GmbH" or "Ltd" means an organization, not a person).
"""

from __future__ import annotations

import importlib
import re
import threading
from collections.abc import Iterator

from veil.discovery.recognizers._common import UPPER, UPPER_CHARS
from veil.discovery.recognizers.dates import MONTHS
from veil.discovery.registry import Recognizer

NAME_LOCALES = (
    "en_US", "en_GB", "en_IE", "en_IN", "de_DE", "de_AT", "de_CH", "fr_FR", "fr_BE", "fr_CH",
    "it_IT", "es_ES", "es_MX", "pt_PT", "pt_BR", "nl_NL", "nl_BE", "pl_PL", "cs_CZ", "sk_SK",
    "sl_SI", "hr_HR", "hu_HU", "ro_RO", "bg_BG", "el_GR", "da_DK", "sv_SE", "no_NO", "fi_FI",
    "et_EE", "lt_LT", "lv_LV", "tr_TR", "uk_UA", "ru_RU",
)

TITLES = frozenset(
    "mr mrs ms miss mx dr prof sir madam dame herr frau hr fr m mme mlle mmes sr sra srta "
    "sig sigra signor signora dott dottssa dhr mevr pan pani don doña dña".split()
)

SALUTATIONS = (
    "dear", "hi", "hello", "hey", "hallo", "liebe", "lieber", "sehr geehrte", "sehr geehrter",
    "bonjour", "cher", "chère", "ciao", "caro", "cara", "gentile", "hola", "querido", "querida",
    "estimado", "estimada", "beste", "geachte", "hej", "kære", "drogi", "droga", "thanks",
    "thank you", "cheers", "greetings", "attn", "attention",
)

PAYEE_WORDS = (
    "to", "from", "by", "for", "payee", "payer", "beneficiary", "recipient", "sender",
    "debtor", "creditor", "name", "customer", "client", "holder", "owner", "an", "von", "für",
    "à", "pour", "par", "de", "a", "da", "per", "para", "aan", "van", "voor", "do", "od",
    "dla", "till", "från", "til", "fra", "with", "via", "and", "und", "et", "y", "e", "&",
    "contact", "signed", "regards", "ordered by", "on behalf of", "zugunsten", "empfänger",
    "auftraggeber", "bénéficiaire", "beneficiario", "ordinante", "begunstigde",
)

COMPANY_WORDS = frozenset(
    """gmbh ag kg ohg ug mbh ltd limited llc llp inc incorporated corp corporation co plc sa
    s.a. sas sarl s.a.r.l. eurl sasu sci snc spa s.p.a. srl s.r.l. sl s.l. slu bv b.v. nv n.v.
    ab a/s aps as oy oyj sp spółka kft zrt nyrt doo d.o.o. ev e.v. eg e.g. kgaa se group
    groupe gruppe grupo gruppo holding holdings bank partners associates associati asociados
    consulting services solutions systems technologies international industries enterprises
    foundation stiftung verein trust fund company compagnie compañía compagnia sons söhne
    figli hijos fils brothers gebrüder hermanos fratelli frères e.k. mbb cie""".split()
)

# Capitalized words common in payment memos that are also in the name lists.
STOPWORDS = frozenset(
    w.lower()
    for w in """Transfer Payment Payments Invoice Inv Salary Rent Refund Order Card Bank Thanks Thank
    Dear Hi Hello Ref Reference Purchase Shopping Grocery Groceries Subscription Insurance
    Loan Mortgage Fee Fees Tax Taxes Cash Withdrawal Deposit Online Store Shop Market
    Supermarket Restaurant Cafe Coffee Hotel Travel Flight Taxi Monthly Weekly Annual Bill
    Bills Utilities Electricity Gas Water Internet Mobile Phone Gift Birthday Dinner Lunch
    Breakfast Holiday Vacation School University Gym Membership Donation Charity Christmas
    Easter New Year Account Savings Credit Debit Direct Standing SEPA Wire Instant Please
    Note Re Fwd Your Our The This That From To For By And With On At In Of Via Per Pay Paid
    Miete Gehalt Rechnung Überweisung Lastschrift Zahlung Einkauf Danke Loyer Salaire Facture
    Virement Paiement Merci Alquiler Nómina Factura Transferencia Pago Gracias Affitto
    Stipendio Fattura Bonifico Pagamento Grazie Huur Salaris Factuur Overboeking Betaling
    Bedankt Visa Mastercard Amex Maestro Paypal Amazon Netflix Spotify Apple Google Uber
    Lidl Aldi Tesco Ikea Shell Total Monday Tuesday Wednesday Thursday Friday Saturday Sunday
    Montag Dienstag Mittwoch Donnerstag Freitag Samstag Sonntag Lundi Mardi Mercredi Jeudi
    Vendredi Samedi Dimanche Paris London Berlin Madrid Rome Roma Milan Milano Amsterdam
    Brussels Vienna Wien Lisbon Lisboa Dublin Warsaw Prague Stockholm Copenhagen Helsinki
    Munich München Hamburg Frankfurt Lyon Marseille Barcelona Valencia Sevilla Napoli Torino
    Florence Firenze Porto Rotterdam Antwerp Zurich Zürich Geneva Europe European Euro EUR
    USD GBP CHF IBAN BIC SWIFT ATM POS Ltd GmbH Inc Street Road Avenue Tel Phone Email Mail
    Contact Address Date Amount Total Balance Service Services Team Support Customer Client
    Dept Department Office Home Work Family Friend Friends Kids Child Children Mom Mum Dad
    Mother Father Brother Sister Uncle Aunt Grandma Grandpa Baby Love Happy Best Good
    Thanks Regards Cheers Kind Many Yours Sincerely Invoice Receipt Contract Policy Claim
    Premium Interest Dividend Pension Bonus Commission Allowance Benefit Benefits Loan Repayment
    Installment Instalment Deposit Security Parking Fuel Petrol Diesel Train Bus Metro Ticket
    Tickets Cinema Theatre Concert Book Books Music Games Game Sport Sports Club Team Medical
    Doctor Hospital Pharmacy Dentist Clinic Health Care Insurance Vet Pet Food Wine Beer Bar
    Pub Pizza Sushi Burger Kebab Bakery Butcher Florist Flowers Garden Home Hardware Electronics
    Fashion Clothes Shoes Jewelry Beauty Salon Spa Wellness Yoga Fitness Golf Tennis Ski
    Summer Winter Spring Autumn Fall Week Weekend Month Day Today Tomorrow Yesterday Morning
    Evening Night Urgent Reminder Final Notice Outstanding Overdue Payable Due Net Gross
    VAT Mr Mrs Ms Dr Prof Herr Frau Mme Mlle Sr Sra Sig Dhr Mevr North South East West
    Central City Town Village Airport Station Port Hall Hill Park Lake River Beach Island
    Royal National General Federal State County International Global United American British
    German French Italian Spanish Dutch Belgian Austrian Polish Portuguese Swedish Danish
    Finnish Irish Swiss Norwegian English Janvier Februar März Marzo Mai Juni Juli Giugno
    Luglio Agosto Settembre Ottobre Novembre Dicembre Gennaio Febbraio Aprile Maggio Enero
    Febrero Abril Mayo Junio Julio Septiembre Octubre Noviembre Diciembre Januar Oktober
    Dezember Juin Juillet Août Septembre Octobre Décembre Février Avril Mars""".split()
) | frozenset(MONTHS)

_lock = threading.Lock()
_NAMES: tuple[frozenset[str], frozenset[str]] | None = None


def name_lists() -> tuple[frozenset[str], frozenset[str]]:
    """(first names, last names) from Faker's person providers; built once, lazily."""
    global _NAMES
    if _NAMES is None:
        with _lock:
            if _NAMES is None:
                first: set[str] = set()
                last: set[str] = set()
                for loc in NAME_LOCALES:
                    try:
                        prov = importlib.import_module(f"faker.providers.person.{loc}").Provider
                    except ImportError:
                        continue
                    for attr in ("first_names", "first_names_male", "first_names_female",
                                 "first_names_nonbinary"):
                        first.update(_names(getattr(prov, attr, ())))
                    for attr in ("last_names", "last_names_male", "last_names_female"):
                        last.update(_names(getattr(prov, attr, ())))
                _NAMES = (frozenset(first), frozenset(last))
    return _NAMES


def _names(values: object) -> Iterator[str]:
    for v in values or ():  # type: ignore[attr-defined]
        if isinstance(v, str) and v and v[0].isupper() and v.lower() not in STOPWORDS:
            yield v
            for part in re.split(r"[\s\-]", v):
                if len(part) > 1 and part[0].isupper() and part.lower() not in STOPWORDS:
                    yield part


# -- text matching ---------------------------------------------------------------------

_LOWER_TAIL = r"(?:[^\W\d_]|['’](?=[^\W\d_]))"
TOKEN = UPPER + _LOWER_TAIL + r"*(?:-" + UPPER + _LOWER_TAIL + r"*)*"
PARTICLE = r"(?:van|von|der|den|de|da|di|del|della|la|le|du|dos|das|ten|ter|zu|y|bin|al|af|av|vom|zur)"
RUN_PATTERN = (
    r"(?<![\w@])" + TOKEN + r"(?:[ ]+(?:" + PARTICLE + r"[ ]+){0,3}" + TOKEN + r"){0,4}(?![\w@])"
)
_TOKEN_SPLIT = re.compile(r"[ ]+")
_TITLE_BEFORE = re.compile(
    r"(?<![\w])(?:mr|mrs|ms|miss|mx|dr|prof|sir|herr|frau|hr|fr|m|mme|mlle|sr|sra|srta|sig|"
    r"sig\.ra|sigra|signor|signora|dott|dott\.ssa|dhr|mevr|pan|pani|don|doña)\.?\s+$",
)
_SALUTE_BEFORE = re.compile(
    r"(?<![\w])(?:" + "|".join(re.escape(w) for w in SALUTATIONS) + r")\s*,?\s+$"
)
_PAYEE_BEFORE = re.compile(
    r"(?<![\w])(?:" + "|".join(re.escape(w) for w in PAYEE_WORDS) + r")\s*[:\-]?\s+$"
)
_COMPANY_AFTER = re.compile(
    r"^(?:\s*(?:&|and|und|et|e|y|en|,)?\s*" + UPPER + r"[\w'’\-]*){0,3}[ ,]*(?:&\s*co\b|"
    + "|".join(re.escape(w) for w in sorted(COMPANY_WORDS, key=len, reverse=True))
    + r")(?![\w])",
    re.IGNORECASE,
)
_PARTICLES = frozenset(PARTICLE[3:-1].split("|"))


def _norm(tok: str) -> str:
    if tok.isupper() and len(tok) > 1:
        return "-".join(p.capitalize() for p in tok.split("-"))
    return tok


def _known(tok: str, names: frozenset[str]) -> bool:
    if tok in names:
        return True
    if "-" in tok:
        parts = tok.split("-")
        return all(p in names for p in parts if p)
    return False


def score_run(tokens: list[str], before: str, after: str) -> tuple[int, int, float] | None:
    """Which tokens of a capitalized run form a person name, and how sure: returns
    (first token index, last token index inclusive, score) or None."""
    first_names, last_names = name_lists()
    before_l = before.lower()
    titled = bool(_TITLE_BEFORE.search(before_l))
    lo, hi = 0, len(tokens) - 1
    # leading title tokens inside the run ("Mr John Smith")
    while lo <= hi and tokens[lo].lower().rstrip(".") in TITLES:
        titled = True
        lo += 1
    while lo <= hi and (tokens[lo].lower() in STOPWORDS or tokens[lo] in _PARTICLES):
        lo += 1
    while hi >= lo and (tokens[hi].lower() in STOPWORDS or tokens[hi] in _PARTICLES):
        hi -= 1
    if lo > hi:
        return None
    if any(t.lower() in COMPANY_WORDS for t in tokens[lo : hi + 1]):
        return None
    if _COMPANY_AFTER.match(after):
        return None
    salute = not titled and bool(_SALUTE_BEFORE.search(before_l)) if lo == 0 else False
    payee = not titled and not salute and lo == 0 and bool(_PAYEE_BEFORE.search(before_l))
    norm = [_norm(t) for t in tokens]
    allcaps = all(t.isupper() for t in tokens[lo : hi + 1])
    known_any = [_known(t, first_names) or _known(t, last_names) for t in norm]
    # drop unknown leading words ("Paid Anna Schmidt") unless a title/salutation precedes
    if not (titled or salute):
        while lo < hi and not known_any[lo]:
            lo += 1
    # trailing unknown words: keep one right after a first name ("Anna Kowalczykowa")
    while hi > lo and not known_any[hi]:
        if hi == lo + 1 and _known(norm[lo], first_names) and not allcaps:
            break
        hi -= 1
    names = [n for n in norm[lo : hi + 1] if n not in _PARTICLES]
    n = len(names)
    if n == 0:
        return None
    if n == 1:
        tok = names[0]
        if titled:
            score = 0.8 if (_known(tok, last_names) or _known(tok, first_names)) else 0.65
        elif salute:
            score = 0.75 if (_known(tok, first_names) or _known(tok, last_names)) else 0.0
        elif payee:
            score = 0.6 if _known(tok, first_names) and not allcaps else 0.0
        else:
            score = 0.0
    else:
        f = _known(names[0], first_names)
        lst = _known(names[-1], last_names)
        k = sum(1 for t in names if _known(t, first_names) or _known(t, last_names))
        if f and lst:
            score = 0.85
        elif f and k >= 1:
            score = 0.7
        elif k == n:
            score = 0.65
        elif k >= 1:
            score = 0.45
        else:
            score = 0.2
        if titled or salute or payee:
            score += 0.15
        if allcaps:
            score -= 0.15 if k < n else 0.05
    if score <= 0.0:
        return None
    return lo, hi, min(score, 1.0)


def person_value_score(value: str) -> float:
    """Score of a whole column value as a person name ("Anna Schmidt", "SCHMIDT, Anna",
    "Dr. Hans Müller"); 0.0 when it is not one. Single names score 0.5 at most."""
    v = value.strip()
    if not v or len(v) > 80 or not v[0].isalpha():
        return 0.0
    if "," in v:
        parts = [p.strip() for p in v.split(",")]
        if len(parts) == 2 and parts[0] and parts[1]:
            v = parts[1] + " " + parts[0]
    tokens = [t for t in re.split(r"[\s]+", v.replace(".", ". ")) if t]
    if len(tokens) > 6:
        return 0.0
    toks = []
    for t in tokens:
        bare = t.rstrip(".")
        if not toks and bare.lower() in TITLES:
            continue
        if bare in _PARTICLES:
            continue
        if not bare or not bare[0].isupper() and bare[0] not in UPPER_CHARS:
            return 0.0
        if not re.fullmatch(r"[^\W\d_]+(?:['’\-][^\W\d_]+)*\.?", bare):
            return 0.0
        toks.append(bare)
    if not toks or any(t.lower() in COMPANY_WORDS for t in toks):
        return 0.0
    first_names, last_names = name_lists()
    norm = [_norm(t) for t in toks]
    if len(norm) == 1:
        t = norm[0]
        if t.lower() in STOPWORDS:
            return 0.0
        return 0.5 if (_known(t, first_names) or _known(t, last_names)) else 0.0
    f = _known(norm[0], first_names)
    lst = _known(norm[-1], last_names)
    if f and lst:
        return 0.9
    if f or (lst and _known(norm[0], last_names)):
        return 0.7 if not any(t.lower() in STOPWORDS for t in norm) else 0.0
    return 0.0


RECOGNIZERS = [
    Recognizer(
        name="person",
        type="person",
        pattern=RUN_PATTERN,
        value_pattern=r"[^0-9@]{2,80}",
        validator=person_value_score,
        validator_name="name lists (Faker) + capitalization + context",
        strength="format",
        score=0.85,
        column_names=(
            r"name|person|customer|client|payee|payer|beneficiary|holder|owner|recipient"
            r"|sender|debtor|creditor|contact|surname|vorname|nachname|nom|prenom|apellido"
            r"|nome|cognome|achternaam|voornaam"
        ),
    ),
]
