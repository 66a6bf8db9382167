"""A small labelled memo corpus for quality and speed checks of ``find_spans``.

Values come from Faker (fixed seed); identifiers with a checksum are kept only when
python-stdnum says they are valid, so the labels are right by construction. Negatives are
built in: invoice numbers, amounts, transaction dates, company names, and card/IBAN numbers
whose checksum was broken on purpose (labelled nothing: they must not be matched).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from faker import Faker
from stdnum import iban as std_iban
from stdnum import luhn

LOCALES = ["en_GB", "de_DE", "fr_FR", "it_IT", "es_ES", "nl_NL", "en_IE", "pl_PL"]


@dataclass
class Memo:
    text: str
    spans: list[tuple[int, int, str]]


def _group4(s: str) -> str:
    return " ".join(s[i : i + 4] for i in range(0, len(s), 4))


class _Gen:
    def __init__(self, seed: int) -> None:
        self.rnd = random.Random(seed)
        self.fakers = {loc: Faker(loc) for loc in LOCALES}
        for i, f in enumerate(self.fakers.values()):
            f.seed_instance(seed + i)

    def fk(self, locales: list[str] | None = None) -> Faker:
        return self.fakers[self.rnd.choice(locales or LOCALES)]

    # -- values ----------------------------------------------------------------------
    def person(self) -> str:
        f = self.fk()
        return f"{f.first_name()} {f.last_name()}"

    def first(self) -> str:
        return self.fk().first_name()

    def last(self) -> str:
        return self.fk().last_name()

    def iban(self) -> str:
        while True:
            v = self.fk(["de_DE", "fr_FR", "it_IT", "nl_NL", "en_GB", "es_ES"]).iban()
            if std_iban.is_valid(v):
                return _group4(v) if self.rnd.random() < 0.5 else v

    def bad_iban(self) -> str:
        while True:
            v = self.fk(["de_DE", "fr_FR", "nl_NL"]).iban()
            i = self.rnd.randrange(4, len(v))
            if not v[i].isdigit():
                continue
            w = v[:i] + str((int(v[i]) + self.rnd.randint(1, 9)) % 10) + v[i + 1 :]
            if not std_iban.is_valid(w):
                return _group4(w) if self.rnd.random() < 0.5 else w

    def card(self) -> str:
        while True:
            v = self.fk().credit_card_number(
                card_type=self.rnd.choice(["visa16", "mastercard", "amex"])
            )
            if luhn.is_valid(v):
                break
        style = self.rnd.random()
        if len(v) == 16 and style < 0.4:
            return " ".join(v[i : i + 4] for i in range(0, 16, 4))
        if len(v) == 16 and style < 0.7:
            return "-".join(v[i : i + 4] for i in range(0, 16, 4))
        return v

    def bad_card(self) -> str:
        v = self.fk().credit_card_number(card_type="visa16")
        w = v[:-1] + str((int(v[-1]) + self.rnd.randint(1, 9)) % 10)
        assert not luhn.is_valid(w)
        return " ".join(w[i : i + 4] for i in range(0, 16, 4)) if self.rnd.random() < 0.5 else w

    def email(self) -> str:
        return self.fk().email()

    def phone(self) -> str:
        return self.fk(["en_GB", "de_DE", "fr_FR", "it_IT", "es_ES", "nl_NL"]).phone_number()

    def vat(self) -> str:
        from stdnum.eu import vat as euvat

        while True:
            cc = self.rnd.choice(["DE", "FR", "IT", "NL", "ES", "AT", "BE"])
            body = {
                "DE": lambda: str(self.rnd.randint(100000000, 999999999)),
                "FR": lambda: f"{self.rnd.randint(10, 99)}{self.rnd.randint(100000000, 999999999)}",
                "IT": lambda: f"{self.rnd.randint(10**10, 10**11 - 1)}",
                "NL": lambda: f"{self.rnd.randint(10**8, 10**9 - 1)}B01",
                "ES": lambda: f"B{self.rnd.randint(10**7, 10**8 - 1)}",
                "AT": lambda: f"U{self.rnd.randint(10**7, 10**8 - 1)}",
                "BE": lambda: f"0{self.rnd.randint(10**8, 10**9 - 1)}",
            }[cc]()
            v = cc + body
            if euvat.is_valid(v):
                return v

    def national_id(self) -> tuple[str, str, str]:
        """(context phrase, number, type)"""
        from stdnum.es import dni
        from stdnum.it import codicefiscale
        from stdnum.nl import bsn
        from stdnum.pl import pesel

        while True:
            kind = self.rnd.choice(["it", "es", "nl", "pl", "ssn"])
            if kind == "it":
                v = self.fakers["it_IT"].ssn()
                if codicefiscale.is_valid(v):
                    return self.rnd.choice(["codice fiscale", "CF", "tax code"]), v, "national_id"
            elif kind == "es":
                v = self.fakers["es_ES"].nif()
                if dni.is_valid(v):
                    return self.rnd.choice(["DNI", "NIF"]), v, "national_id"
            elif kind == "nl":
                v = self.fakers["nl_NL"].ssn()
                if bsn.is_valid(v):
                    return "BSN", v, "national_id"
            elif kind == "pl":
                v = self.fakers["pl_PL"].pesel()
                if pesel.is_valid(v):
                    return "PESEL", v, "national_id"
            else:
                from stdnum.us import ssn

                v = Faker("en_US").ssn()
                if ssn.is_valid(v):
                    return self.rnd.choice(["SSN", "social security no."]), v, "us_ssn"

    def dob(self) -> str:
        d = self.fk().date_of_birth(minimum_age=18, maximum_age=90)
        return self.rnd.choice(
            [d.strftime("%d.%m.%Y"), d.strftime("%d/%m/%Y"), d.isoformat(), d.strftime("%d %B %Y")]
        )

    def date(self) -> str:
        d = self.fk().date_between(start_date="-2y", end_date="today")
        return self.rnd.choice([d.strftime("%d.%m.%Y"), d.isoformat(), d.strftime("%d/%m/%Y")])

    def company(self) -> str:
        return self.fk().company()

    def ip(self) -> str:
        return self.fk().ipv4() if self.rnd.random() < 0.8 else self.fk().ipv6()

    def invoice(self) -> str:
        return self.rnd.choice(
            [
                f"INV-{self.rnd.randint(2020, 2025)}-{self.rnd.randint(1, 99999):05d}",
                str(self.rnd.randint(10**5, 10**10)),
                f"#{self.rnd.randint(1000, 99999999)}",
            ]
        )

    def amount(self) -> str:
        return self.rnd.choice(
            [
                f"{self.rnd.uniform(1, 5000):.2f}",
                f"{self.rnd.randint(1, 9999)},{self.rnd.randint(0, 99):02d}",
            ]
        )

    def street_postcode(self) -> tuple[str, str, str]:
        loc = self.rnd.choice(["de_DE", "fr_FR", "nl_NL", "it_IT"])
        f = self.fakers[loc]
        return f.street_address(), f.postcode(), f.city()

    def passport(self) -> str:
        return self.rnd.choice(
            [
                "C" + "".join(self.rnd.choice("0123456789CFGHJKLMNPRTVWXYZ") for _ in range(8)),
                "".join(self.rnd.choice("0123456789") for _ in range(9)),
                f"{self.rnd.choice(['YA', 'AA', 'XR'])}{self.rnd.randint(1000000, 9999999)}",
            ]
        )


# Templates: {slot} is replaced and labelled; {~slot} is replaced but not labelled (negative).
TEMPLATES = [
    "Transfer to {person} IBAN {iban} ref {~invoice}",
    "SEPA transfer from {person}, {iban}, invoice {~invoice}",
    "Card payment {card} at {~company} order {~invoice}",
    "card no {~bad_card} declined, amount {~amount} EUR",
    "Refund to IBAN {~bad_iban} failed: invalid account",
    "Paid by {person}, contact {email}",
    "Dear {person}, your refund of {~amount} EUR for order {~invoice} has been processed",
    "Salary {~month} from {~company} {~amount} EUR",
    "Rent {~month} {~amount} EUR to {person}",
    "Hi {first}, please call me on {phone}",
    "Customer phone: {phone} email {email}",
    "VAT {vat} - invoice {~invoice} dated {~date}",
    "Supplier {~company}, VAT no. {vat}",
    "KYC check: {nid_ctx} {nid}, born {dob}",
    "Client {person} (DOB {dob}) opened account",
    "Payment of {~amount} on {~date} for invoice {~invoice}",
    "ATM withdrawal {~amount} EUR on {~date}",
    "Login from {ip} for online banking",
    "Delivery to {street}, {postcode} {~city}",
    "Passport number {passport} verified for {person}",
    "Mr {last} requested a new card",
    "Grocery shopping {~company} {~amount}",
    "Standing order {~invoice} monthly rent",
    "Transfer {~amount} EUR from {person} to {person}",
    "Direct debit {~company} mandate {~invoice}",
    "Thank you {first}! Reimbursement for dinner",
    "Invoice {~invoice} paid by card ending {~last4}",
    "Chargeback card {card} customer {person}",
    "Please update IBAN to {iban} for {person}",
    "Subscription {~company} renewal on {~date}",
]

_SLOT = re.compile(r"\{(~?)(\w+)\}")
_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


def make_corpus(n: int = 2000, seed: int = 7) -> list[Memo]:
    g = _Gen(seed)
    out: list[Memo] = []
    for _ in range(n):
        tpl = g.rnd.choice(TEMPLATES)
        text = ""
        spans: list[tuple[int, int, str]] = []
        pos = 0
        nid: tuple[str, str, str] | None = None
        sp: tuple[str, str, str] | None = None
        for m in _SLOT.finditer(tpl):
            text += tpl[pos : m.start()]
            pos = m.end()
            neg, slot = m.group(1), m.group(2)
            typ = slot
            if slot == "nid_ctx":
                nid = g.national_id()
                text += nid[0]
                continue
            if slot == "nid":
                assert nid is not None
                val, typ = nid[1], nid[2]
            elif slot in ("street", "postcode", "city"):
                if sp is None:
                    sp = g.street_postcode()
                val = {"street": sp[0], "postcode": sp[1], "city": sp[2]}[slot]
                typ = "street_address" if slot == "street" else slot
            elif slot == "month":
                val = g.rnd.choice(_MONTHS)
            elif slot == "last4":
                val = f"{g.rnd.randint(0, 9999):04d}"
            elif slot == "first":
                val, typ = g.first(), "person"
            elif slot == "last":
                val, typ = g.last(), "person"
            elif slot == "dob":
                val, typ = g.dob(), "date_of_birth"
            elif slot == "ip":
                val, typ = g.ip(), "ip_address"
            else:
                val = getattr(g, slot)()
            start = len(text)
            text += val
            if not neg:
                spans.append((start, len(text), typ))
        text += tpl[pos:]
        out.append(Memo(text, spans))
    return out


def evaluate(
    memos: list[Memo], predicted: list[list[tuple[int, int, str]]]
) -> dict[str, dict[str, float]]:
    """Exact-span micro precision/recall/F1, overall ("_all") and per type."""
    tp: dict[str, int] = {}
    fp: dict[str, int] = {}
    fn: dict[str, int] = {}
    for memo, pred in zip(memos, predicted, strict=True):
        gold = set(memo.spans)
        got = set(pred)
        for s in got & gold:
            tp[s[2]] = tp.get(s[2], 0) + 1
        for s in got - gold:
            fp[s[2]] = fp.get(s[2], 0) + 1
        for s in gold - got:
            fn[s[2]] = fn.get(s[2], 0) + 1
    out: dict[str, dict[str, float]] = {}
    types = set(tp) | set(fp) | set(fn)
    for t in sorted(types) + ["_all"]:
        a = sum(tp.values()) if t == "_all" else tp.get(t, 0)
        b = sum(fp.values()) if t == "_all" else fp.get(t, 0)
        c = sum(fn.values()) if t == "_all" else fn.get(t, 0)
        p = a / (a + b) if a + b else 1.0
        r = a / (a + c) if a + c else 1.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        out[t] = {"p": round(p, 4), "r": round(r, 4), "f1": round(f, 4), "tp": a, "fp": b, "fn": c}
    return out
