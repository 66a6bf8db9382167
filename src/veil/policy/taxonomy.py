"""The built-in taxonomy of data categories, fit for finance.

A field's category drives the records of processing (Art. 30(1)(c)), the access package,
breach scoping (special categories and financial data are flagged) and the suggestions that
discovery makes. Users add their own categories in the policy file.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Category:
    id: str
    description: str
    personal: bool = True
    special: bool = False  # Art. 9 special category
    criminal: bool = False  # Art. 10 criminal convictions and offences
    financial: bool = False  # flagged in breach assessments


BUILTIN_CATEGORIES: dict[str, Category] = {
    c.id: c
    for c in [
        Category("direct_identifier", "Direct identifiers: name, customer number, login"),
        Category("contact", "Contact details: e-mail, phone, postal address"),
        Category("government_id", "Government identifiers: national ID, tax number, passport"),
        Category("account", "Bank account data: IBAN, BIC, account numbers", financial=True),
        Category("card", "Payment card data: card number, expiry", financial=True),
        Category(
            "transaction",
            "Transactions: amounts, times, merchants, counterparties",
            financial=True,
        ),
        Category(
            "income_credit",
            "Income, balances, debts and creditworthiness",
            financial=True,
        ),
        Category("location", "Location: address, postcode, city, geolocation"),
        Category("online_identifier", "Online identifiers: IP address, device id, cookie id"),
        Category("demographic", "Demographics: birth date, age, gender, nationality"),
        Category("employment", "Employment and education: employer, occupation, status"),
        Category("free_text", "Free text that may hold any personal data (memos, notes)"),
        Category("inferred", "Inferred or derived data: scores, flags, model outputs"),
        Category("racial_ethnic_origin", "Racial or ethnic origin (Art. 9)", special=True),
        Category("political_opinions", "Political opinions (Art. 9)", special=True),
        Category("religious_beliefs", "Religious or philosophical beliefs (Art. 9)", special=True),
        Category("trade_union", "Trade union membership (Art. 9)", special=True),
        Category("genetic", "Genetic data (Art. 9)", special=True),
        Category("biometric", "Biometric data for unique identification (Art. 9)", special=True),
        Category("health", "Data concerning health (Art. 9)", special=True),
        Category("sex_life", "Sex life or sexual orientation (Art. 9)", special=True),
        Category(
            "criminal_offences",
            "Criminal convictions and offences (Art. 10)",
            criminal=True,
        ),
        Category("non_personal", "Not personal data: product codes, aggregates", personal=False),
    ]
}
