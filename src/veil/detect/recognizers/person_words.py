"""Words that tell a person's name from other capitalized words, and the name lists.

First- and last-name lists come from Faker's person providers for the European locales (built
once into frozensets on first use). The word lists are the context around a name: titles
("Mr", "Frau", "Mme", "Sra."), salutations ("Dear", "Hi", "Hallo"), payee phrases ("transfer
to", "paid by", "from", "for"), company suffixes ("GmbH", "Ltd": an organization, not a
person) and capitalized words of payment memos that are also in the name lists.
"""

from __future__ import annotations

import importlib
import re
import threading
from collections.abc import Iterator

from veil.detect.recognizers.dates import MONTHS


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


BANK_WORDS = frozenset(
    _words(
        "ueberweisung überweisung lastschrift gutschrift dauerauftrag eref mref cred svwz abwa "
        "kref sepa ach wire bizum zelle twint swish mobilepay vipps blik"
    )
)
"""Payment-system words that open a memo ("SEPA", "SVWZ+"): never part of a name."""
