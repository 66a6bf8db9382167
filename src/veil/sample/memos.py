"""Free-text transaction memos, with the exact character span of every piece of personal data.

A memo is assembled from parts: literal text, or a (type, value) pair for personal data. The
assembler tracks offsets, so labels are exact by construction rather than found afterwards by a
regex (which would share the blind spots of the recognizers these labels are meant to test).

Templates come in two kinds. PII templates embed names (the customer's or a payee's: another
customer of the pool, from any locale), contact details, account and card numbers, government ids
and birth dates, written the many ways people write them. Clean templates hold no personal data but
plenty that looks like it: order and invoice numbers, masked cards, amounts, and dates that are not
birth dates.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from random import Random

import phonenumbers

from veil.sample import identifiers as ids
from veil.sample.customers import Pool
from veil.sample.locales import COUNTRIES, MONTHS, US_ROUTING

Span = tuple[int, int, str]
Part = str | tuple[str, str]

SPAN_TYPES = (
    "person",
    "email",
    "phone",
    "iban",
    "bic",
    "card",
    "vat",
    "national_id",
    "us_ssn",
    "date_of_birth",
    "ip_address",
    "postcode",
    "street_address",
    "account_number",
    "passport",
)

_FMT = phonenumbers.PhoneNumberFormat
_CCS = [c.cc for c in COUNTRIES]


def assemble(parts: list[Part]) -> tuple[str, list[Span]]:
    """Join parts into the memo text; (type, value) parts become spans over their value."""
    out: list[str] = []
    spans: list[Span] = []
    pos = 0
    for part in parts:
        if isinstance(part, str):
            out.append(part)
            pos += len(part)
        else:
            kind, value = part
            out.append(value)
            spans.append((pos, pos + len(value), kind))
            pos += len(value)
    return "".join(out), spans


class MemoWriter:
    """Fills memo templates from the customer pool; one instance per generated table."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        cols = pool.columns
        self.full = cols["full_name"]
        self.email = cols["email"]
        self.iban = cols["iban"]
        self.bic = cols["bic"]
        self.card = cols["card_number"]
        self.vat = cols["vat_number"]
        self.nid = cols["national_id"]
        self.street = cols["street_address"]
        self.postcode = cols["postcode"]
        self.city = cols["city"]
        self.ip = cols["ip_address"]
        self.cc = [_CCS[k] for k in pool.country_idx.tolist()]
        self.male = pool.male.tolist()
        self._phones: dict[tuple[int, int], str] = {}

    # -- renderings of one value, the ways people write it --------------------------------

    def person(self, i: int, k: int) -> list[Part]:
        """A name as written in a memo; honorifics stay outside the span."""
        first, last = self.pool.first[i], self.pool.last[i]
        lang = "de" if self.cc[i] in ("DE", "AT") else "fr" if self.cc[i] in ("FR", "BE") else "en"
        style = k % 9
        if style <= 2:
            return [("person", self.full[i])]
        if style == 3:
            return [("person", f"{last}, {first}")]
        if style == 4:
            return [("person", f"{first[0]}. {last}")]
        if style == 5:
            title = {"de": ("Herr", "Frau"), "fr": ("M.", "Mme")}.get(lang, ("Mr.", "Ms."))
            return [title[0] if self.male[i] else title[1], " ", ("person", f"{first[0]}. {last}")]
        if style == 6:
            return [("person", ids.ascii_fold(f"{last} {first}").upper())]
        if style == 7:
            return [("person", first)]
        return [("person", self.full[i].upper())]

    def _formatted(self, i: int, fmt: int) -> str:
        key = (i, fmt)
        text = self._phones.get(key)
        if text is None:
            e164 = self.pool.phone_e164[i]
            calling = phonenumbers.country_code_for_region(self.cc[i])
            nsn = e164[len(str(calling)) + 1 :]
            number = phonenumbers.PhoneNumber(
                country_code=calling,
                national_number=int(nsn),
                italian_leading_zero=nsn[0] == "0" or None,
            )
            text = self._phones[key] = phonenumbers.format_number(number, fmt)
        return text

    def phone(self, i: int, k: int) -> str:
        """The number in one of the ways people write it (E.164, international, national...)."""
        e164 = self.pool.phone_e164[i]
        style = k % 6
        if style == 0:
            return e164
        if style == 1 or (style == 4 and self.cc[i] == "US"):
            return self._formatted(i, _FMT.INTERNATIONAL)
        if style == 2:
            return self._formatted(i, _FMT.NATIONAL)
        if style == 3:
            return (
                "00" + e164[1:]
                if self.cc[i] != "US"
                else (self._formatted(i, _FMT.INTERNATIONAL).replace(" ", "."))
            )
        if style == 4:
            return self._formatted(i, _FMT.INTERNATIONAL).replace(" ", "-")
        return self._formatted(i, _FMT.NATIONAL).replace(" ", "")

    @staticmethod
    def iban_text(value: str, k: int) -> str:
        if k % 3 == 0:
            return value
        grouped = " ".join(value[j : j + 4] for j in range(0, len(value), 4))
        return grouped if k % 3 == 1 else grouped.lower() if k % 7 == 0 else grouped

    @staticmethod
    def card_text(value: str, k: int) -> str:
        style = k % 4
        if style == 0:
            return value
        if len(value) == 15:  # Amex groups 4-6-5
            groups = [value[:4], value[4:10], value[10:]]
        else:
            groups = [value[j : j + 4] for j in range(0, 16, 4)]
        return ("-" if style == 3 else " ").join(groups)

    @staticmethod
    def dob_text(born: dt.date, k: int, cc: str) -> str:
        style = k % 5
        if cc == "US":
            return (
                born.strftime("%m/%d/%Y")
                if style < 3
                else f"{MONTHS['en'][born.month - 1]} {born.day}, {born.year}"
            )
        if style == 0:
            return born.strftime("%d/%m/%Y")
        if style == 1:
            return born.strftime("%d.%m.%Y")
        if style == 2:
            return born.isoformat()
        if style == 3:
            return f"{born.day} {MONTHS['en'][born.month - 1]} {born.year}"
        return born.strftime("%d.%m.%y")

    @staticmethod
    def vat_text(value: str, k: int) -> str:
        return value if k % 3 else f"{value[:2]} {value[2:]}"

    def nid_parts(self, i: int, k: int) -> list[Part]:
        """A government id with the label people put before it, in the customer's context."""
        cc, value = self.cc[i], self.nid[i]
        if k % 3 == 0 and cc in ("DE", "FR", "BE", "NL"):
            value = value.replace(" ", "").replace(".", "").replace("-", "")
        label = {
            "DE": "Steuer-ID",
            "FR": "NIR",
            "IT": "Codice fiscale",
            "ES": "DNI",
            "NL": "BSN",
            "BE": "Rijksregisternr.",
            "AT": "SVNR",
            "PL": "PESEL",
            "PT": "NIF",
            "SE": "personnr",
            "DK": "CPR",
            "FI": "HETU",
            "IE": "PPSN",
            "US": "SSN",
        }[cc]
        kind = "us_ssn" if cc == "US" else "national_id"
        return [label, " ", (kind, value)]


def _month(lang: str, month: int) -> str:
    return MONTHS.get(lang, MONTHS["en"])[month]


def _pick(options: tuple[str, ...], k: int) -> str:
    return options[k % len(options)]


def _r(k: int) -> Random:
    return Random(k)


# Templates whose memo implies who was paid: (payee by country, default payee, MCC, log-mean
# and log-sd of the EUR amount). The row's merchant, category and amount follow the memo.
MERCHANT_OVERRIDES: dict[str, tuple[dict[str, str], str, str, float, float]] = {
    "_tax_id": (
        {
            "DE": "Finanzamt",
            "FR": "DGFiP Impots",
            "IT": "Agenzia delle Entrate",
            "ES": "AEAT",
            "NL": "Belastingdienst",
            "BE": "SPF Finances",
            "AT": "Finanzamt Oesterreich",
            "PL": "Urzad Skarbowy",
            "PT": "Autoridade Tributaria",
            "SE": "Skatteverket",
            "DK": "Skattestyrelsen",
            "FI": "Verohallinto",
            "IE": "Revenue Commissioners",
            "US": "IRS USATAXPYMT",
        },
        "Tax office",
        "9311",
        6.3,
        0.9,
    ),
    "_passport": (
        {"DE": "Buergeramt", "AT": "Magistrat Passamt", "US": "US Department of State"},
        "Passport Office",
        "9399",
        4.3,
        0.2,
    ),
    "_membership": ({}, "Club membership", "7997", 3.4, 0.5),
    "_kyc_dob": ({}, "Bank service fee", "6012", 1.8, 0.4),
}


def merchant_override(tid: int, cc: str) -> tuple[str, str, float, float] | None:
    """(merchant, MCC, log-mean, log-sd) that the memo of template `tid` implies, if any."""
    name = TEMPLATES[tid][2].__name__
    if name not in MERCHANT_OVERRIDES:
        return None
    names, default, mcc, mu, sd = MERCHANT_OVERRIDES[name]
    return names.get(cc, default), mcc, mu, sd


# Each template: (kind, has_pii, builder). Kinds: purchase, transfer, debit, atm, refund.
# Builder signature: (writer, customer, payee, k, month, year, amount, merchant, currency, lang).
Builder = Callable[..., list[Part]]
TEMPLATES: list[tuple[str, bool, Builder]] = []


def template(kind: str, pii: bool) -> Callable[[Builder], Builder]:
    def register(fn: Builder) -> Builder:
        TEMPLATES.append((kind, pii, fn))
        return fn

    return register


# ---- transfers with personal data ----


@template("transfer", True)
def _transfer_to(w: MemoWriter, c, p, k, mo, yr, amt, mer, cur, lang, mcc="") -> list[Part]:
    lead = {"de": "Überweisung an ", "fr": "Virement à ", "es": "Transferencia a "}.get(
        lang, _pick(("Transfer to ", "Payment to ", "Sent to ", "To "), k >> 4)
    )
    return [lead, *w.person(p, k >> 8)]


@template("transfer", True)
def _rent_iban(w: MemoWriter, c, p, k, mo, yr, amt, mer, cur, lang, mcc="") -> list[Part]:
    if w.iban[p] is None:
        return _transfer_to(w, c, p, k, mo, yr, amt, mer, cur, lang)
    word = {"de": "Miete", "fr": "Loyer", "es": "Alquiler"}.get(lang, "Rent")
    sep = _pick((" - IBAN ", " IBAN: ", ", IBAN ", " to "), k >> 3)
    return [f"{word} {_month(lang, mo)}{sep}", ("iban", w.iban_text(w.iban[p], k >> 6))]


@template("transfer", True)
def _pay_mr(w: MemoWriter, c, p, k, mo, yr, amt, mer, cur, lang, mcc="") -> list[Part]:
    who = w.person(p, 5 + 9 * (k >> 9)) if k % 2 else w.person(p, 4)
    return [_pick(("pay ", "Pay ", "payment for ", "for "), k >> 2), *who]


@template("transfer", True)
def _dinner(w: MemoWriter, c, p, k, mo, yr, amt, mer, cur, lang, mcc="") -> list[Part]:
    who = w.person(p, 7 + 9 * (k >> 5)) if k % 3 else w.person(p, k >> 5)
    tail = _pick(
        (
            " - thanks for dinner",
            " concert tickets",
            " your share of the Airbnb",
            " - birthday gift",
            ", cheers!",
            " for the football tickets",
        ),
        k >> 11,
    )
    return [*who, tail]


@template("transfer", True)
def _invoice_vat(w: MemoWriter, c, p, k, mo, yr, amt, mer, cur, lang, mcc="") -> list[Part]:
    se = w.pool.self_employed
    if len(se) == 0:
        return _transfer_to(w, c, p, k, mo, yr, amt, mer, cur, lang)
    q = int(se[p % len(se)])
    inv = f"{yr}-{(k >> 4) % 400 + 1:03d}"
    word = {"de": "Rechnung", "fr": "Facture"}.get(lang, "Invoice")
    if k % 2:
        return [f"{word} {inv}, VAT ", ("vat", w.vat_text(w.vat[q], k >> 2))]
    return [f"{word} {inv} ", *w.person(q, k >> 6), " - ", ("vat", w.vat_text(w.vat[q], k >> 2))]


@template("transfer", True)
def _gift_born(w: MemoWriter, c, p, k, mo, yr, amt, mer, cur, lang, mcc="") -> list[Part]:
    born = w.pool.birth[p]
    lead = _pick(("Gift for ", "Birthday present for ", "For "), k >> 3)
    mid = _pick((", born ", " (born ", ", DOB ", " b. "), k >> 5)
    tail = ")" if mid == " (born " else ""
    return [
        lead,
        ("person", w.pool.first[p]),
        mid,
        ("date_of_birth", w.dob_text(born, k >> 7, w.cc[p])),
        tail,
    ]


@template("transfer", True)
def _to_iban_bic(w: MemoWriter, c, p, k, mo, yr, amt, mer, cur, lang, mcc="") -> list[Part]:
    if w.iban[p] is None:
        return _us_account(w, c, p, k, mo, yr, amt, mer, cur, lang)
    return [
        *w.person(p, k >> 3),
        " ",
        ("iban", w.iban_text(w.iban[p], k >> 7)),
        _pick((" BIC ", " / ", " (BIC: "), k >> 10),
        ("bic", w.bic[p]),
        ")" if (k >> 10) % 3 == 2 else "",
    ]


@template("transfer", True)
def _us_account(w: MemoWriter, c, p, k, mo, yr, amt, mer, cur, lang, mcc="") -> list[Part]:
    us = w.pool.by_country[_CCS.index("US")]
    if len(us) == 0:
        return _transfer_to(w, c, p, k, mo, yr, amt, mer, cur, lang)
    q = int(us[p % len(us)])
    routing = US_ROUTING[(k >> 3) % len(US_ROUTING)]
    acct = w.pool.us_account[q] or ""
    return [
        _pick(("Wire to ", "ACH to ", "Loan repayment "), k >> 6),
        *w.person(q, k >> 9),
        " acct ",
        ("account_number", acct),
        f" routing {routing}",
    ]


@template("transfer", True)
def _phone_transfer(w: MemoWriter, c, p, k, mo, yr, amt, mer, cur, lang, mcc="") -> list[Part]:
    if lang == "es" or w.cc[c] == "ES":
        return ["Bizum a ", *w.person(p, k >> 4), " ", ("phone", w.phone(p, k >> 8))]
    if w.cc[c] == "US":
        return [
            "Zelle to ",
            *w.person(p, k >> 4),
            " ",
            ("phone", w.phone(p, k >> 8)) if k % 2 else ("email", w.email[p]),
        ]
    return ["Transfer to ", *w.person(p, k >> 4), " (", ("phone", w.phone(p, k >> 8)), ")"]


@template("transfer", True)
def _sepa_upper(w: MemoWriter, c, p, k, mo, yr, amt, mer, cur, lang, mcc="") -> list[Part]:
    if w.iban[p] is None:
        return _transfer_to(w, c, p, k, mo, yr, amt, mer, cur, lang)
    name = ids.ascii_fold(f"{w.pool.last[p]} {w.pool.first[p]}").upper()
    return [
        "SEPA UEBERWEISUNG ",
        ("person", name),
        " IBAN ",
        ("iban", w.iban[p]),
        f" EREF {yr}{mo + 1:02d}{(k >> 5) % 100000:05d}",
    ]


@template("transfer", True)
def _pocket_money(w: MemoWriter, c, p, k, mo, yr, amt, mer, cur, lang, mcc="") -> list[Part]:
    word = {"de": "Taschengeld ", "fr": "Argent de poche ", "es": "Paga "}.get(
        lang, "Pocket money "
    )
    return [word, ("person", w.pool.first[p]), f" {_month(lang, mo)}"]


@template("transfer", True)
def _own_account(w: MemoWriter, c, p, k, mo, yr, amt, mer, cur, lang, mcc="") -> list[Part]:
    return ["Own transfer ", *w.person(c, k >> 2), " to savings"]


# ---- transfers without personal data ----


@template("transfer", False)
def _rent_plain(w: MemoWriter, c, p, k, mo, yr, amt, mer, cur, lang, mcc="") -> list[Part]:
    if lang == "de":
        return [f"Miete {mo + 1:02d}/{yr}"]
    if lang == "fr":
        return [f"Loyer {_month(lang, mo)} {yr}"]
    return [
        _pick(
            (
                f"{_month('en', mo)} rent {mo + 1:02d}/{yr}",
                f"Rent {mo + 1:02d}/{yr}",
                f"rent {_month('en', mo)}",
            ),
            k,
        )
    ]


@template("transfer", False)
def _savings(w: MemoWriter, c, p, k, mo, yr, amt, mer, cur, lang, mcc="") -> list[Part]:
    return [
        _pick(
            (
                "Savings",
                "Transfer to savings",
                "Umbuchung Sparkonto",
                "Monthly savings plan",
                f"Savings plan {mo + 1:02d}/{yr}",
                "ETF Sparplan",
                "Investment top-up",
            ),
            k,
        )
    ]


@template("transfer", False)
def _invoice_plain(w: MemoWriter, c, p, k, mo, yr, amt, mer, cur, lang, mcc="") -> list[Part]:
    n = (k >> 3) % 90000 + 10000
    return [
        _pick(
            (
                f"Invoice {yr}-{n % 1000:03d}",
                f"Rechnung Nr. {n}",
                f"Facture F-{yr}-{n % 10000:04d}",
                f"Inv. {n} dated {(k >> 5) % 28 + 1:02d}/{mo + 1:02d}/{yr}",
                f"Order {n}{(k >> 7) % 100:02d} deposit",
            ),
            k,
        )
    ]


# ---- card purchases ----


@template("purchase", False)
def _merchant_plain(w: MemoWriter, c, p, k, mo, yr, amt, mer, cur, lang, mcc="") -> list[Part]:
    day = (k >> 4) % 28 + 1
    return [
        _pick(
            (
                mer,
                f"{mer.upper()} {(k >> 6) % 9000 + 1000}",
                f"Card payment {mer} {day:02d}.{mo + 1:02d}.{yr}",
                f"POS {day:02d}.{mo + 1:02d}.{yr} {(k >> 9) % 24:02d}:{(k >> 12) % 60:02d} {mer}",
                f"{mer} {amt:.2f} {cur}",
                f"{mer} card ending {(k >> 14) % 9000 + 1000}",
            ),
            k,
        )
    ]


_PHRASES = {
    "5411": (
        "Groceries",
        "Weekly shop",
        "Einkauf",
        "Courses",
        "Compra supermercado",
        "groceries + drinks",
    ),
    "5499": ("Snacks", "Zakupy", "Drinks"),
    "5541": ("Fuel", "Tanken", "Carburant", "fuel + car wash"),
    "5814": ("Coffee", "Lunch", "Lunch with team", "Breakfast", "Kaffee"),
    "4899": ("Monthly subscription", "Subscription renewal", "Family plan"),
    "5818": ("App purchase", "iCloud storage", "In-app purchase"),
    "5816": ("Game purchase", "Gift card top-up"),
    "4112": ("Train ticket", "Bahnticket", "Billet de train", "Monthly pass", "Commute"),
    "4511": ("Flight", "Flights for holiday", "Baggage fee", "Seat upgrade"),
    "7011": ("Hotel", "Holiday booking", "2 nights", "Hotel deposit"),
    "5912": ("Pharmacy", "Apotheke", "Pharmacie", "Drugstore"),
    "5651": ("Clothes", "New jacket", "Kids clothes", "Shoes"),
    "5732": ("Electronics", "New headphones", "Phone case", "Laptop charger"),
    "4121": ("Taxi to airport", "Ride home", "Uber ride"),
    "5712": ("Furniture", "Shelves", "Kitchen stuff"),
    "7995": ("Bet", "Deposit", "Top-up"),
}
_DEFAULT_PHRASES = ("Shopping", "Online order", "Purchase", "Books", "Concert tickets", "Gift")


@template("purchase", False)
def _everyday(w: MemoWriter, c, p, k, mo, yr, amt, mer, cur, lang, mcc="") -> list[Part]:
    phrases = _PHRASES.get(mcc, _DEFAULT_PHRASES)
    return [_pick((*phrases, f"{_pick(phrases, k >> 5)} {amt:.2f} {cur}"), k)]


def _num(k: int, shift: int, low: int, high: int) -> int:
    """A number in [low, high) taken from the bits of the row's random key."""
    return low + (k >> shift) % (high - low)


@template("purchase", False)
def _order_numbers(w: MemoWriter, c, p, k, mo, yr, amt, mer, cur, lang, mcc="") -> list[Part]:
    style = (k >> 2) % 7
    if style == 0:
        return [
            f"{mer} order {_num(k, 5, 100, 999)}-{_num(k, 15, 10**6, 10**7)}-"
            f"{_num(k, 39, 10**6, 10**7)}"
        ]
    if style == 1:
        return [f"Order #A-{_num(k, 5, 100000, 999999)}"]
    if style == 2:
        return [
            f"Order {_num(k, 5, 10**6, 10**8)} shipped {_num(k, 35, 1, 29):02d}.{mo + 1:02d}.{yr}"
        ]
    if style == 3:
        return [f"Tracking 1Z{_num(k, 5, 10**15, 10**16)}"]
    if style == 4:
        return [f"Ref {yr}{mo + 1:02d}{_num(k, 5, 1, 29):02d}-{_num(k, 10, 1, 9999):04d}"]
    if style == 5:
        return [f"Booking {'ABCDEFGHJKLMNPQRSTUVWXYZ'[(k >> 5) % 24]}{_num(k, 10, 10000, 99999)}"]
    contract = f"{_num(k, 9, 10, 99)}-{_num(k, 16, 1000, 9999)}-{_num(k, 30, 10, 99)}"
    return [f"Payment {_num(k, 5, 2, 12)} of 12, contract {contract}"]


@template("purchase", True)
def _delivery(w: MemoWriter, c, p, k, mo, yr, amt, mer, cur, lang, mcc="") -> list[Part]:
    who = c if k % 4 else p
    parts: list[Part] = [_pick(("Delivery to ", "Ship to ", "Lieferung an "), k >> 2)]
    if (k >> 4) % 2:
        parts += [*w.person(who, k >> 6), ", "]
    parts += [
        ("street_address", w.street[who]),
        ", ",
        ("postcode", w.postcode[who]),
        " ",
        w.city[who],
    ]
    return parts


@template("purchase", True)
def _login_ip(w: MemoWriter, c, p, k, mo, yr, amt, mer, cur, lang, mcc="") -> list[Part]:
    return [
        _pick(("Login from ", "New device ", "3DS challenge from IP "), k >> 2),
        ("ip_address", w.ip[c]),
        _pick(("", f" - {mer}", " approved"), k >> 5),
    ]


@template("purchase", True)
def _email_ref(w: MemoWriter, c, p, k, mo, yr, amt, mer, cur, lang, mcc="") -> list[Part]:
    who = c if k % 2 else p
    lead = _pick(("ref. ", "PayPal payment from ", "receipt sent to ", "Vinted sale "), k >> 2)
    return [lead, ("email", w.email[who])]


@template("purchase", True)
def _order_for(w: MemoWriter, c, p, k, mo, yr, amt, mer, cur, lang, mcc="") -> list[Part]:
    lead = "Gift card for " if mcc in ("4899", "5818", "5816") else f"{mer} order for "
    return [lead, *w.person(p, k >> 2), ", tel. ", ("phone", w.phone(p, k >> 6))]


# ---- direct debits ----


@template("debit", False)
def _debit_plain(w: MemoWriter, c, p, k, mo, yr, amt, mer, cur, lang, mcc="") -> list[Part]:
    style = (k >> 1) % 8
    if style == 0:
        return [f"Mandate ref. MNDT-{yr}-{_num(k, 5, 1, 99999):05d}"]
    if style == 1:
        return [
            f"{mer} contract no. {_num(k, 5, 10, 99)}-{_num(k, 12, 1000, 9999)}-"
            f"{_num(k, 26, 10, 99)}"
        ]
    if style == 2:
        return [f"Policy {_num(k, 5, 10**6, 10**7)} premium {mo + 1:02d}/{yr}"]
    return [
        (
            f"Electricity bill Q{mo // 3 + 1}/{yr}",
            f"Phone bill {mo + 1:02d}/{yr}",
            f"{mer} {_month('en', mo)} {yr}",
            f"Abschlag {_month('de', mo)} {yr}",
            f"Kindergarten fees {_month('en', mo)}",
        )[style - 3]
    ]


@template("debit", True)
def _tax_id(w: MemoWriter, c, p, k, mo, yr, amt, mer, cur, lang, mcc="") -> list[Part]:
    tail = _pick((" for the tax office", f" tax {yr - 1}", " - quarterly prepayment", ""), k >> 4)
    if w.cc[c] == "US":
        return ["IRS payment ", *w.nid_parts(c, k), tail]
    return [*w.nid_parts(c, k), tail]


@template("debit", True)
def _membership(w: MemoWriter, c, p, k, mo, yr, amt, mer, cur, lang, mcc="") -> list[Part]:
    lead = _pick(("Gym membership ", "Kindergarten fees ", "Music school ", "Club dues "), k >> 2)
    return [lead, *w.person(c if k % 3 else p, k >> 5), f" {_month(lang, mo)}"]


@template("debit", True)
def _passport(w: MemoWriter, c, p, k, mo, yr, amt, mer, cur, lang, mcc="") -> list[Part]:
    lead = {"de": "Reisepass Gebühr Nr. "}.get(
        lang, _pick(("Passport renewal fee - ", "Visa application, passport "), k)
    )
    return [lead, ("passport", ids.passport(_r(k), w.cc[c]))]


@template("debit", True)
def _kyc_dob(w: MemoWriter, c, p, k, mo, yr, amt, mer, cur, lang, mcc="") -> list[Part]:
    return [
        "KYC update ",
        *w.person(c, k >> 2),
        ", DOB ",
        ("date_of_birth", w.dob_text(w.pool.birth[c], k >> 6, w.cc[c])),
    ]


@template("debit", True)
def _callback(w: MemoWriter, c, p, k, mo, yr, amt, mer, cur, lang, mcc="") -> list[Part]:
    lead = {"de": "Rückruf unter ", "fr": "Rappeler au ", "es": "Llamar al "}.get(
        lang, _pick(("Call back on ", "Contact: ", "questions? call "), k >> 2)
    )
    return [lead, ("phone", w.phone(c if k % 2 else p, k >> 5))]


# ---- cash and refunds ----


@template("atm", False)
def _atm(w: MemoWriter, c, p, k, mo, yr, amt, mer, cur, lang, mcc="") -> list[Part]:
    return [
        _pick(
            (
                "ATM withdrawal",
                "Cash withdrawal",
                "Geldautomat",
                "Retrait DAB",
                f"ATM {(k >> 3) % 24:02d}:{(k >> 8) % 60:02d} {amt:.0f} {cur}",
            ),
            k,
        )
    ]


@template("refund", True)
def _refund_card(w: MemoWriter, c, p, k, mo, yr, amt, mer, cur, lang, mcc="") -> list[Part]:
    lead = {"de": "Erstattung auf Karte ", "fr": "Remboursement carte "}.get(
        lang, _pick(("refund to card ", "Refund to card ", "Chargeback card "), k >> 2)
    )
    return [lead, ("card", w.card_text(w.card[c], k >> 4)), f" - {mer}"]


@template("refund", False)
def _refund_plain(w: MemoWriter, c, p, k, mo, yr, amt, mer, cur, lang, mcc="") -> list[Part]:
    return [
        _pick(
            (
                f"Refund order {(k >> 2) % 900000 + 100000}",
                f"{mer} refund",
                f"Refund card ending {(k >> 5) % 9000 + 1000}",
            ),
            k,
        )
    ]


def template_ids(kind: str, pii: bool) -> list[int]:
    return [i for i, (kd, has, _) in enumerate(TEMPLATES) if kd == kind and has == pii]
