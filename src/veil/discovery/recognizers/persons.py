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


def _words(text: str, sep: str | None = None) -> list[str]:
    return [w for w in text.split(sep) if w]


NAME_LOCALES = tuple(
    _words(
        "en_US en_GB en_IE en_IN de_DE de_AT de_CH fr_FR fr_BE fr_CH it_IT es_ES es_MX pt_PT "
        "pt_BR nl_NL nl_BE pl_PL cs_CZ sk_SK sl_SI hr_HR hu_HU ro_RO bg_BG el_GR da_DK sv_SE "
        "no_NO fi_FI et_EE lt_LT lv_LV tr_TR uk_UA ru_RU"
    )
)

TITLES = frozenset(
    _words(
        "dame dhr don dott dottssa doña dr dña fr frau herr hr m madam mevr miss mlle mme mmes "
        "mr mrs ms mx pan pani prof sig signor signora sigra sir sr sra srta"
    )
)

SALUTATIONS = tuple(
    _words(
        "dear|hi|hello|hey|hallo|liebe|lieber|sehr geehrte|sehr geehrter|bonjour|cher|chère|"
        "ciao|caro|cara|gentile|hola|querido|querida|estimado|estimada|beste|geachte|hej|kære|"
        "drogi|droga|thanks|thank you|cheers|greetings|attn|attention",
        sep="|",
    )
)

PAYEE_WORDS = tuple(
    _words(
        "to|from|by|for|payee|payer|beneficiary|recipient|sender|debtor|creditor|name|customer|"
        "client|holder|owner|an|von|für|à|pour|par|de|a|da|per|para|aan|van|voor|do|od|dla|till|"
        "från|til|fra|with|via|contact|signed|regards|ordered by|behalf of|zugunsten|empfänger|"
        "auftraggeber|bénéficiaire|beneficiario|ordinante|begunstigde|money|fees|dues|"
        "membership|taschengeld|paga|bizum|zelle|present|gift",
        sep="|",
    )
)

COMPANY_WORDS = frozenset(
    _words(
        "a.s. a/s ab ag aps as asociados associates associati b.v. bank brothers bv c.v. cie co "
        "compagnia compagnie company compañía consulting corp corporation cv d.o.o. doo e.g. "
        "e.k. e.v. eg enterprises eurl ev figli fils foundation fratelli frères fund gebr "
        "gebrüder gmbh groep group groupe grupo gruppe gruppo hermanos hijos holding holdings "
        "inc incorporated industries international kft kg kgaa limited llc llp ltd ltda mbb mbh "
        "n.v. nv nyrt o.y. ohg oy oyj partners plc s.a. s.a.r.l. s.a.s. s.c. s.c.p. s.com. "
        "s.coop. s.e. s.l. s.l.l. s.l.n.e s.l.u. s.n.c. s.p.a. s.r.l. sa sarl sas sasu sci se "
        "services sl slu snc solutions sons sp sp.j. sp.k. spa spółka srl stiftung systems "
        "söhne technologies trust ug v.o.f. verein vof zrt"
    )
)

# Capitalized words common in payment memos that are also in the name lists.
STOPWORDS = frozenset(
    _words(
        "account address affitto airport aldi allowance alquiler amazon american amex amount "
        "amsterdam and annual antwerp apple at atm aunt austrian autumn avenue baby bakery "
        "balance bank bar barcelona beach beauty bedankt beer belgian benefit benefits berlin "
        "best betaling bic bill bills birthday bonifico bonus book books breakfast british "
        "brother brussels burger bus butcher by cafe card care cash central charity cheers chf "
        "child children christmas cinema city claim client clinic clothes club coffee "
        "commission concert contact contract copenhagen county credit customer dad danish danke "
        "date day dear debit dentist department deposit dept dhr dienstag diesel dimanche "
        "dinner direct dividend doctor donation donnerstag dr dublin due dutch east easter "
        "einkauf electricity electronics email english eur euro europe european evening factura "
        "facture factuur fall family fashion father fattura federal fee fees final finnish "
        "firenze fitness flight florence florist flowers food for frankfurt frau freitag french "
        "friday friend friends from fuel fwd game games garden gas gbp gehalt general geneva "
        "german gift global gmbh golf good google gracias grandma grandpa grazie groceries "
        "grocery gross gym hall hamburg happy hardware health hello helsinki herr hi hill "
        "holiday home hospital hotel huur iban ikea in inc installment instalment instant "
        "insurance interest international internet inv invoice irish island italian jeudi "
        "jewelry kebab kids kind lake lastschrift lidl lisboa lisbon loan london love loyer ltd "
        "lunch lundi lyon madrid maestro mail many mardi market marseille mastercard medical "
        "membership merci mercredi metro mevr miete milan milano mittwoch mlle mme mobile mom "
        "monday montag month monthly morning mortgage mother mr mrs ms mum munich music münchen "
        "napoli national net netflix new night north norwegian note notice nómina of office on "
        "online order our outstanding overboeking overdue pagamento pago paid paiement paris "
        "park parking pay payable payment payments paypal pension per pet petrol pharmacy phone "
        "pizza please policy polish port porto portuguese pos prague premium prof pub purchase "
        "re receipt rechnung ref reference refund regards reminder rent repayment restaurant "
        "river road roma rome rotterdam royal salaire salaris salary salon samedi samstag "
        "saturday savings school security sepa service services sevilla shell shoes shop "
        "shopping sig sincerely sister ski sonntag south spa spanish sport sports spotify "
        "spring sr sra standing state station stipendio stockholm store street subscription "
        "summer sunday supermarket support sushi swedish swift swiss tax taxes taxi team tel "
        "tennis tesco thank thanks that the theatre this thursday ticket tickets to today "
        "tomorrow torino total town train transfer transferencia travel tuesday uber uncle "
        "united university urgent usd utilities vacation valencia vat vendredi vet via vienna "
        "village virement visa warsaw water wednesday week weekend weekly wellness west wien "
        "wine winter wire with withdrawal work year yesterday yoga your yours zahlung zurich "
        "zürich überweisung zara aral air france heijn corte ingles inglés esprit "
        "chanel dior lacoste primark decathlon carrefour auchan leclerc rewe edeka kaufland "
        "mercadona eroski continente jumbo hema kruidvat zalando vinted ryanair easyjet "
        "lufthansa iberia renfe sncf"
    )
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
                    for attr in (
                        "first_names",
                        "first_names_male",
                        "first_names_female",
                        "first_names_nonbinary",
                    ):
                        first.update(_names(getattr(prov, attr, ())))
                    for attr in ("last_names", "last_names_male", "last_names_female"):
                        last.update(_names(getattr(prov, attr, ())))
                _NAMES = (frozenset(first), frozenset(last))
    return _NAMES


def _names(values: object) -> Iterator[str]:
    for v in values or ():  # type: ignore[attr-defined]
        if isinstance(v, str) and v and v[0].isupper():
            yield v
            for part in re.split(r"[\s\-]", v):
                if len(part) > 1 and part[0].isupper():
                    yield part


# -- text matching ---------------------------------------------------------------------

_LOWER_TAIL = r"(?:[^\W\d_]|['’](?=[^\W\d_]))"
TOKEN = UPPER + _LOWER_TAIL + r"*(?:-" + UPPER + _LOWER_TAIL + r"*)*"
PARTICLE = (
    r"(?:van|von|der|den|de|da|di|del|della|la|le|du|dos|das|ten|ter|zu|y|bin|al|af|av|vom|zur)"
)
# an initial ("J. Duarte") counts as a token when a capitalized word follows
_INITIAL = UPPER + r"\.(?=[ ]+" + UPPER + ")"
_TOK = "(?:" + _INITIAL + "|" + TOKEN + ")"
RUN_PATTERN = (
    r"(?<![\w@.\-])" + _TOK + r"(?:[ ]+(?:" + PARTICLE + r"[ ]+){0,3}" + _TOK + r"){0,6}(?![\w@])"
)
_TOKEN_SPLIT = re.compile(r"[ ]+")
_JOINERS = frozenset(("&", "and", "und", "et", "e", "y", "en", ","))
_STRIP = ",;:()[]\"'"


def company_follows(after: str) -> bool:
    """A company suffix within the next few capitalized words ("GmbH", "& Co", "S.A.")."""
    for w in after[:60].split()[:5]:
        wl = w.lower().strip(_STRIP)
        if wl in COMPANY_WORDS or wl.rstrip(".") in COMPANY_WORDS:
            return True
        if wl.startswith("&") and wl[1:] in ("co", "co."):
            return True
        if not (w[:1].isupper() or wl in _JOINERS or w == "&"):
            return False
    return False


_PARTICLES = frozenset(PARTICLE[3:-1].split("|"))
# "Smith, Jones and Brown", "Bouvet & Fils": a list of surnames is a firm
_FIRM_AFTER = re.compile(
    r"^(?:(?:,\s*"
    + UPPER
    + r"[\w'’\-]*)+,?\s+(?:and|und|et|e|y|en|&)\s+"
    + UPPER
    + r"|\s*&\s*"
    + UPPER
    + ")"
)
# a capitalized word right after a postcode is a town ("75001 Paris", "1012 AB Amsterdam")
_AFTER_POSTCODE = re.compile(
    r"(?<![\w\-])(?:\d{4,5}|\d{2}-\d{3}|\d{4} ?[A-Z]{2}|[A-Z]\d[A-Z\d]? ?\d[A-Z]{2}"
    r"|[A-Z]\d{2} ?[A-Z0-9]{4})"
    r"\s+$"
)
_JOIN_AFTER = re.compile(r"^,?\s+(?:and|und|et|e|y|en|&)\s+" + UPPER)
_JOIN_BEFORE = re.compile(UPPER + r"[\w'’\-]*(?:,?\s+(?:and|und|et|e|y|en|&)|,)\s+$")


def _in_firm(before: str, after: str) -> bool:
    """A lone name inside "Collins, Howard and Martin" is part of a firm's name."""
    return bool(_JOIN_AFTER.match(after) or _JOIN_BEFORE.search(before[-40:]))


_SALUTE_WORDS = frozenset(w for w in SALUTATIONS if " " not in w)
_PAYEE_SINGLE = frozenset(w for w in PAYEE_WORDS if " " not in w and len(w) > 2)
_BANK_WORDS = frozenset(
    _words(
        "ueberweisung überweisung lastschrift gutschrift dauerauftrag eref mref cred svwz abwa "
        "kref sepa ach wire bizum zelle twint swish mobilepay vipps blik"
    )
)


_TITLE_WORDS = TITLES | {"sig.ra", "dott.ssa"}
# first words of a run that make the rest a name candidate even when unknown ("Dear Xiomara")
RUN_OPENERS = (
    TITLES
    | frozenset(w for w in SALUTATIONS if " " not in w)
    | frozenset(w for w in PAYEE_WORDS if " " not in w and len(w) > 2)
)
_SALUTE_ALL = frozenset(SALUTATIONS)
_PAYEE_ALL = frozenset(PAYEE_WORDS)


def context_before(before_lower: str) -> tuple[bool, bool, bool]:
    """(title, salutation, payee phrase) right before a name, from the last two words."""
    tail = before_lower.rstrip()
    if not tail or (tail[-1:] not in ".:,-" and not tail[-1:].isalpha()):
        return False, False, False
    words = tail.rsplit(None, 2)[-2:]
    last = words[-1].rstrip(":,-")
    if not last:
        if len(words) < 2:
            return False, False, False
        last = words[-2].rstrip(":,-")
        words = words[:-1]
    if last.rstrip(".") in _TITLE_WORDS or last in _TITLE_WORDS:
        return True, False, False
    two = " ".join(w.rstrip(":,-") for w in words) if len(words) == 2 else last
    if last in _SALUTE_ALL or two in _SALUTE_ALL:
        return False, True, False
    if last in _PAYEE_ALL or two in _PAYEE_ALL:
        return False, False, True
    return False, False, False


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


def _first_last(tokens: list[str], i: int, first: frozenset[str], last: frozenset[str]) -> bool:
    """tokens[i] is a first name and the next non-particle token a last name."""
    if i < 0 or i + 1 >= len(tokens) or _norm(tokens[i]) not in first:
        return False
    j = i + 1
    while j < len(tokens) - 1 and tokens[j] in _PARTICLES:
        j += 1
    return _known(_norm(tokens[j]), last)


def score_run(tokens: list[str], before: str, after: str) -> tuple[int, int, float] | None:
    """Which tokens of a capitalized run form a person name, and how sure: returns
    (first token index, last token index inclusive, score) or None."""
    first_names, last_names = name_lists()
    if any(t.lower() in COMPANY_WORDS for t in tokens):
        return None
    before_l = before.lower()
    titled = salute = payee = False
    lo, hi = 0, len(tokens) - 1
    # leading title / salutation / payee / stop words inside the run ("Dear Mr John Smith")
    while lo <= hi:
        low = tokens[lo].lower()
        if low in TITLES or (
            low.endswith(".")
            and low[:-1] in TITLES
            and lo < hi
            and (len(low) > 2 or len(tokens[lo + 1]) == 2 and tokens[lo + 1][1] == ".")
        ):
            titled = True
        elif low in _SALUTE_WORDS:
            salute = True
        elif low in _PAYEE_SINGLE:
            payee = True
        elif not (low in STOPWORDS or low in _BANK_WORDS or tokens[lo] in _PARTICLES):
            break
        elif low in STOPWORDS and _first_last(tokens, lo, first_names, last_names):
            break  # "Milan Vignon", "Sep Huberts": a first name that is also a word
        lo += 1
    if lo == 0:
        titled, salute, payee = context_before(before_l)
    elif titled:  # "Mr van Evelingen": the particle belongs to the surname
        while lo > 0 and tokens[lo - 1] in _PARTICLES:
            lo -= 1
    while hi >= lo and (
        tokens[hi] in _PARTICLES
        or (hi > lo and len(tokens[hi].rstrip(".")) == 1)
        or (hi > lo and tokens[hi].lower() in MONTHS)
        or (
            tokens[hi].lower() in STOPWORDS
            and not _first_last(tokens, hi - 1, first_names, last_names)
            and not (hi > lo and tokens[hi - 1] in _PARTICLES)
        )
    ):
        hi -= 1
    if lo > hi:
        return None
    norm = [_norm(t) for t in tokens]
    part = [t in _PARTICLES for t in tokens]
    allcaps = all(t.isupper() for i, t in enumerate(tokens[lo : hi + 1]) if not part[lo + i])
    initial = [len(t) == 2 and t[1] == "." for t in tokens]
    known = [
        not part[i] and (_known(norm[i], first_names) or _known(norm[i], last_names))
        for i in range(len(tokens))
    ]
    keep = [known[i] or initial[i] for i in range(len(tokens))]
    # drop unknown leading words ("Paid Anna Schmidt") unless a title/salutation precedes
    caps_name = (
        allcaps and hi - lo <= 3 and any(_known(norm[i], first_names) for i in range(lo, hi + 1))
    )
    if not (titled or salute):
        while lo < hi and (part[lo] or not keep[lo]) and not (caps_name and not part[lo]):
            lo += 1
    # trailing unknown word: keep one surname after a known first name or an initial
    # ("Anna Kowalczykowa", "J. Ponci", "Daan van den Velden"); drop the rest
    # ("John Smith Rotterdam"). All-caps runs keep one unknown word next to a known one.
    while hi > lo and not keep[hi]:
        j = hi - 1
        while j > lo and part[j]:
            j -= 1
        unknown_before = any(not keep[i] and not part[i] for i in range(lo, j + 1))
        if (
            not unknown_before
            and keep[j]
            and (allcaps or initial[j] or part[hi - 1] or _known(norm[j], first_names))
        ):
            break
        hi = j
    names = [norm[i] for i in range(lo, hi + 1) if not part[i]]
    initials = [t for t in names if len(t) == 2 and t[1] == "."]
    full = [t for t in names if not (len(t) == 2 and t[1] == ".")]
    n = len(full)
    if n == 0:
        return None
    if initials:
        # "J. Duarte", "M. J. Vranckx", "F. Soares Nascimento"
        lst = _known(full[-1], last_names) or _known(full[-1], first_names)
        score = 0.7 if lst else 0.55
        if titled or salute or payee:
            score += 0.15
    elif n == 1:
        tok = full[0]
        known_first = _known(tok, first_names)
        if titled:
            score = 0.8 if (_known(tok, last_names) or known_first) else 0.65
        elif salute:
            score = 0.75 if (known_first or _known(tok, last_names)) else 0.0
        elif allcaps or len(tok) < 3:
            score = 0.0
        elif known_first and (payee or lo == 0) and not _in_firm(before, after):
            # a lone first name ("Pocket money Tony", "Alma concert tickets"), not the tail
            # of a longer capitalized name ("Air France")
            score = 0.65 if payee else 0.5
        else:
            score = 0.0
    elif allcaps:
        # "SONIA WUDARCZYK", "MANSVELD RAFAEL": order unknown, one known name is enough
        kf = any(_known(t, first_names) for t in full)
        kl = any(_known(t, last_names) for t in full)
        if kf and kl:
            score = 0.7
        elif (kf or kl) and all(len(t) >= 3 and t.lower() not in STOPWORDS for t in full):
            score = 0.55
        else:
            score = 0.0
        if score and (titled or salute or payee):
            score += 0.15
    else:
        f = _known(full[0], first_names)
        lst = _known(full[-1], last_names) or any(part[lo : hi + 1])
        k = sum(1 for t in full if _known(t, first_names) or _known(t, last_names))
        if f and lst:
            score = 0.85
        elif f and k >= 1:
            score = 0.7
        elif k == n:
            score = 0.45
        elif k >= 1:
            score = 0.4
        else:
            score = 0.2
        if titled or salute or payee:
            score += 0.15
    if score <= 0.0:
        return None
    # organizations and towns: "Müller GmbH", "Bouvet et Fils", "Smith, Jones and Brown",
    # "Renaud S.A.", "75001 Paris"
    if company_follows(after) or (after[:1] == "." and company_follows(tokens[-1] + after)):
        return None
    if _FIRM_AFTER.match(after) or _AFTER_POSTCODE.search(before):
        return None
    return lo, hi, min(score, 1.0)


_VALUE_TOKEN = re.compile(r"[^\W\d_]+(?:['’\-][^\W\d_]+)*\.?")


_RUN_RE = re.compile(RUN_PATTERN)


def comma_name(
    joined: str, start: int, end: int, limit: int, before: str
) -> tuple[int, float] | None:
    """ "Brown, Brandon" / "Salas Coronado, Amalia": a surname run at [start, end) followed
    by ", " and first names. Returns (end of the name, score) or None."""
    if joined[end : end + 2] != ", ":
        return None
    first_names, last_names = name_lists()
    surnames = joined[start:end].split()
    if not 1 <= len(surnames) <= 3:
        return None
    for t in surnames:
        low = t.lower()
        if low in STOPWORDS or low in COMPANY_WORDS or low in TITLES or t.endswith("."):
            return None
    m = _RUN_RE.match(joined, end + 2, limit)
    if m is None:
        return None
    given = m.group().split()
    stop = end + 2
    count = 0
    pos = end + 2
    for t in given[:2]:
        if not _known(_norm(t), first_names) or t.lower() in STOPWORDS:
            break
        pos = joined.index(t, pos) + len(t)
        stop = pos
        count += 1
    if count == 0:
        return None
    after = joined[stop : min(limit, stop + 40)]
    if (
        company_follows(after)
        or _FIRM_AFTER.match(after)
        or after.lstrip().startswith(("and ", "& ", "und ", "et ", "y "))
    ):
        return None
    score = 0.75 if _known(_norm(surnames[-1]), last_names) else 0.6
    if any(context_before(before.lower())):
        score += 0.1
    return stop, min(score, 1.0)


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
    tokens = v.replace(".", ". ").split()
    if len(tokens) > 6:
        return 0.0
    toks: list[str] = []
    for t in tokens:
        bare = t.rstrip(".")
        if not toks and bare.lower() in TITLES:
            continue
        if bare in _PARTICLES:
            continue
        if not bare or not bare[0].isupper() and bare[0] not in UPPER_CHARS:
            return 0.0
        if not _VALUE_TOKEN.fullmatch(bare):
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
        value_pattern="[A-Za-zÀ-ɏ][^0-9@&+/:;=_#%]{1,79}",
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
