"""The customer pool: a few hundred thousand realistic people the transactions are drawn from.

Faker supplies the locale's vocabulary (names, streets, cities, postcodes); numpy draws the
numeric attributes for the whole pool at once; a Python loop builds the checksummed identifiers,
which cannot be vectorised because each must be validated by its library.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from random import Random

import numpy as np
import phonenumbers
from faker import Faker

from veil.sample import identifiers as ids
from veil.sample.locales import COUNTRIES

EPOCH = dt.date(1970, 1, 1)
# Fixed end of the simulated period: "now" would make the output depend on the day it ran.
PERIOD_END = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
PERIOD_DAYS = 730

EMPLOYMENT = ("employed", "self_employed", "unemployed", "retired", "student")
_EMP_INCOME = np.array([1.0, 1.15, 0.28, 0.62, 0.22])  # income factor by employment status
_EMP_SIGMA = np.array([0.45, 0.8, 0.5, 0.4, 0.6])

_INTL = phonenumbers.PhoneNumberFormat.INTERNATIONAL
_NATIONAL = phonenumbers.PhoneNumberFormat.NATIONAL
_FAKERS: dict[str, Faker] = {}


def _faker(locale: str, seed: int) -> Faker:
    if locale not in _FAKERS:
        _FAKERS[locale] = Faker(locale)
    fake = _FAKERS[locale]
    fake.seed_instance(seed)
    return fake


@dataclass
class Vocabulary:
    """Draws from Faker for one locale; repeats keep Faker's own frequency weighting."""

    first_male: list[str]
    first_female: list[str]
    last: list[str]
    streets: list[str]
    postcodes: list[str]
    cities: list[str]


def vocabulary(locale: str, seed: int, size: int) -> Vocabulary:
    fake = _faker(locale, seed)

    def draw(method: str, n: int = size) -> list[str]:
        fn = getattr(fake, method)
        return [fn() for _ in range(n)]

    small = max(40, size // 2)
    return Vocabulary(
        draw("first_name_male"),
        draw("first_name_female"),
        draw("last_name"),
        draw("street_name", small),
        draw("postcode", small),
        draw("city", small),
    )


def _street_address(r: Random, cc: str, street: str) -> str:
    """House number placement and suffixes as each country writes them."""
    n = r.randrange(1, 180) if r.random() < 0.85 else r.randrange(180, 999)
    if cc in ("FR",):
        return f"{n} {street}" if r.random() < 0.5 else f"{n}, {street}"
    if cc in ("US", "IE"):
        apt = (
            f" Apt {r.randrange(1, 40)}{r.choice('ABCD')}"
            if cc == "US" and r.random() < 0.2
            else ""
        )
        return f"{n} {street}{apt}"
    if cc in ("IT", "ES", "PT"):
        return f"{street}, {n}"
    if cc in ("AT", "PL") and r.random() < 0.3:
        return f"{street} {n}/{r.randrange(1, 30)}"
    if cc in ("DE", "NL") and r.random() < 0.1:
        return f"{street} {n}{r.choice('abc')}"
    return f"{street} {n}"


def _email(r: Random, first: str, last: str, domains: tuple[str, ...], birth_year: int) -> str:
    f = "".join(ch for ch in ids.ascii_fold(first).lower() if ch.isalnum())
    lname = "".join(ch for ch in ids.ascii_fold(last).lower() if ch.isalnum())
    style = r.randrange(8)
    if style == 0:
        local = f"{f}.{lname}"
    elif style == 1:
        local = f"{f}{lname}"
    elif style == 2:
        local = f"{f[:1]}.{lname}"
    elif style == 3:
        local = f"{f}_{lname}{birth_year % 100:02d}"
    elif style == 4:
        local = f"{lname}.{f}"
    elif style == 5:
        local = f"{f}{r.randrange(1, 999)}"
    elif style == 6:
        local = f"{f}.{lname}{r.randrange(1, 99)}"
    else:
        local = f"{f[:1]}{lname}{birth_year}"
    domain = domains[0] if r.random() < 0.3 else r.choice(domains)
    return f"{local}@{domain}"


def _public_ipv4(r: Random, cc: str) -> str:
    while True:
        if cc == "US":
            first = r.choice(
                (24, 50, 66, 67, 68, 69, 71, 73, 75, 76, 96, 98, 99, 104, 107, 108, 174)
            )
        else:
            first = r.choice(
                (
                    2,
                    5,
                    31,
                    37,
                    46,
                    62,
                    77,
                    78,
                    79,
                    80,
                    82,
                    84,
                    85,
                    86,
                    87,
                    88,
                    89,
                    91,
                    93,
                    94,
                    95,
                    176,
                    178,
                    185,
                    188,
                    193,
                    194,
                    195,
                    212,
                    213,
                    217,
                )
            )
        addr = ipaddress.IPv4Address((first << 24) | r.getrandbits(24))
        if addr.is_global:
            return str(addr)


def _public_ipv6(r: Random) -> str:
    while True:
        prefix = r.choice((0x2A02, 0x2A01, 0x2003, 0x2001, 0x2600, 0x2604, 0x2A00))
        # 2001:0000-01ff is IETF special-purpose space; RIR allocations start at 2001:0200.
        second = r.randrange(0x0200, 0x0FFF) if prefix == 0x2001 else r.getrandbits(16)
        addr = ipaddress.IPv6Address((prefix << 112) | (second << 96) | r.getrandbits(96))
        if addr.is_global:
            return addr.compressed


def random_ip(r: Random, cc: str) -> str:
    """A public address: mostly IPv4, about one in ten IPv6."""
    return _public_ipv6(r) if r.random() < 0.1 else _public_ipv4(r, cc)


@dataclass
class Pool:
    """Customer attributes as parallel arrays (index = customer), plus memo helpers."""

    size: int
    columns: dict[str, list | np.ndarray]  # the table's customer columns, in schema order
    country_idx: np.ndarray
    first: list[str]
    last: list[str]
    male: np.ndarray
    birth: list[dt.date]
    phone_e164: list[str]
    us_account: list[str | None]
    activity_cdf: np.ndarray
    self_employed: np.ndarray  # indices of customers with a VAT number
    by_country: list[np.ndarray]  # customer indices per country index


def build_pool(size: int, seed: int) -> Pool:
    """A deterministic pool of `size` customers for `seed`."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, 0x5EED, 1])))
    r = Random(int(rng.integers(0, 2**63)))
    weights = np.array([c.weight for c in COUNTRIES], dtype=float)
    country_idx = rng.choice(len(COUNTRIES), size=size, p=weights / weights.sum())
    vocab_size = int(min(800, max(60, size // 8)))
    vocabs = [vocabulary(c.locale, seed * 131 + i, vocab_size) for i, c in enumerate(COUNTRIES)]

    # Demographics.
    gender_u = rng.random(size)
    gender = np.where(gender_u < 0.01, "diverse", np.where(gender_u < 0.505, "female", "male"))
    male = np.where(gender == "diverse", rng.random(size) < 0.5, gender == "male")
    age = np.clip(rng.normal(46, 17, size), 18, 90)
    end_ord = (PERIOD_END.date() - EPOCH).days
    birth_days = (end_ord - age * 365.25).astype(np.int32)
    age_years = np.floor(age)
    emp = np.empty(size, dtype=np.int8)
    u = rng.random(size)
    young, old = age_years < 25, age_years >= 65
    mid_late = (age_years >= 60) & ~old
    emp[:] = np.select([u < 0.74, u < 0.86, u < 0.92, u < 0.96], [0, 1, 2, 4], default=3)
    emp[young] = np.select([u[young] < 0.45, u[young] < 0.48, u[young] < 0.56], [0, 1, 2], 4)
    emp[mid_late] = np.select(
        [u[mid_late] < 0.55, u[mid_late] < 0.65, u[mid_late] < 0.7], [0, 1, 2], 3
    )
    emp[old] = np.select([u[old] < 0.05, u[old] < 0.12], [0, 1], 3)

    # Income: log-normal around the country's median, shaped by status and an age curve.
    median = np.array([c.income_median for c in COUNTRIES])[country_idx]
    age_curve = np.exp(-(((age - 50) / 28) ** 2)) * 0.45 + 0.7
    income = (
        median * _EMP_INCOME[emp] * age_curve * np.exp(rng.normal(0, 1, size) * _EMP_SIGMA[emp])
    )
    income = np.round(income, -1)
    balance = income * np.exp(rng.normal(-1.8, 1.0, size))
    overdrawn = rng.random(size) < 0.07
    balance[overdrawn] = -income[overdrawn] * 0.03 * np.exp(rng.normal(0, 0.7, overdrawn.sum()))
    balance = np.round(balance, 2)

    # Loan default: about 5 %, more likely with low income, no job, an overdrawn account.
    rel = np.log(income / median)
    score = -1.3 * rel + 1.1 * (emp == 2) + 0.5 * (emp == 4) + 0.9 * overdrawn
    lo, hi = -12.0, 4.0
    for _ in range(50):  # intercept such that the expected default rate is 5 %
        mid = (lo + hi) / 2
        if (1 / (1 + np.exp(-(mid + score)))).mean() < 0.05:
            lo = mid
        else:
            hi = mid
    default = rng.random(size) < 1 / (1 + np.exp(-(lo + score)))

    cust_numbers = rng.choice(10_000_000, size=size, replace=False)
    activity = np.exp(rng.normal(0, 0.9, size))
    activity_cdf = np.cumsum(activity)
    activity_cdf /= activity_cdf[-1]

    # People and their identifiers.
    cols: dict[str, list] = {
        k: []
        for k in (
            "full_name",
            "email",
            "phone",
            "national_id",
            "street_address",
            "postcode",
            "city",
            "iban",
            "bic",
            "card_number",
            "vat_number",
            "ip_address",
        )
    }
    first_l: list[str] = []
    last_l: list[str] = []
    birth_l: list[dt.date] = []
    e164_l: list[str] = []
    us_acct: list[str | None] = []
    country_list = country_idx.tolist()
    male_list = male.tolist()
    emp_list = emp.tolist()
    birth_list = birth_days.tolist()
    for i in range(size):
        ci = country_list[i]
        country = COUNTRIES[ci]
        cc = country.cc
        v = vocabs[ci]
        is_male = male_list[i]
        first = r.choice(v.first_male if is_male else v.first_female)
        if r.random() < 0.07:  # double first names: Anna Lena, Jean-Pierre, Mary Kate
            second = r.choice(v.first_male if is_male else v.first_female)
            if second != first:
                first = f"{first}-{second}" if cc in ("FR", "DE", "AT") else f"{first} {second}"
        last = r.choice(v.last)
        if cc in ("ES", "PT"):  # two surnames
            last = f"{last} {r.choice(v.last)}"
        full = f"{first} {last}"
        if cc == "US" and r.random() < 0.15:
            full = f"{first} {r.choice('ABCDEFGHJKLMNPRSTW')}. {last}"
        birth = EPOCH + dt.timedelta(days=birth_list[i])
        nid = ids.national_id(r, cc, birth, is_male, first, last)
        number = ids.phone(r, cc)
        e164 = f"+{number.country_code}{phonenumbers.national_significant_number(number)}"
        style = r.random()
        if cc == "US":
            iban, bic = None, ids.us_bic(r)
            us_acct.append(ids.us_account_number(r))
        else:
            iban, bic = ids.iban_and_bic(r, cc)
            us_acct.append(None)
        cols["full_name"].append(full)
        cols["email"].append(_email(r, first, last, country.email_domains, birth.year))
        cols["phone"].append(
            e164
            if style < 0.35
            else phonenumbers.format_number(number, _INTL if style < 0.75 else _NATIONAL)
        )
        cols["national_id"].append(nid)
        cols["street_address"].append(_street_address(r, cc, r.choice(v.streets)))
        cols["postcode"].append(r.choice(v.postcodes))
        cols["city"].append(r.choice(v.cities))
        cols["iban"].append(iban)
        cols["bic"].append(bic)
        cols["card_number"].append(ids.card_number(r, cc))
        cols["vat_number"].append(ids.vat_number(r, cc, nid) if emp_list[i] == 1 else None)
        cols["ip_address"].append(random_ip(r, cc))
        first_l.append(first)
        last_l.append(last)
        birth_l.append(birth)
        e164_l.append(e164)

    columns: dict[str, list | np.ndarray] = {
        "customer_id": [f"CUST-{n:07d}" for n in cust_numbers.tolist()],
        "full_name": cols["full_name"],
        "email": cols["email"],
        "phone": cols["phone"],
        "birth_date": birth_days,
        "gender": gender,
        "country": np.array([c.cc for c in COUNTRIES])[country_idx],
        "national_id": cols["national_id"],
        "street_address": cols["street_address"],
        "postcode": cols["postcode"],
        "city": cols["city"],
        "iban": cols["iban"],
        "bic": cols["bic"],
        "card_number": cols["card_number"],
        "vat_number": cols["vat_number"],
        "ip_address": cols["ip_address"],
        "employment_status": np.array(EMPLOYMENT)[emp],
        "annual_income": income,
        "account_balance": balance,
        "loan_default": default,
    }
    vat_present = np.array([v is not None for v in cols["vat_number"]], dtype=bool)
    return Pool(
        size=size,
        columns=columns,
        country_idx=country_idx,
        first=first_l,
        last=last_l,
        male=male,
        birth=birth_l,
        phone_e164=e164_l,
        us_account=us_acct,
        activity_cdf=activity_cdf,
        self_employed=np.flatnonzero(vat_present),
        by_country=[np.flatnonzero(country_idx == k) for k in range(len(COUNTRIES))],
    )
