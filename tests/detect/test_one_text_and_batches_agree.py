"""One text per call, a few texts per call and many texts per call give the same spans.

The three paths prefilter differently (per-text Python gates with digit counts and one
context-word lookup, per-group Python gates over a few texts, RE2 over an Arrow array), so
they must agree on varied payment memos: identifiers of many countries, with and without
their context words, few and many digits, names, addresses, text without personal data.
"""

from __future__ import annotations

import random

from veil.detect import find_spans

PIECES = [
    "IBAN DE89 3704 0044 0532 0130 00",
    "GB82 WEST 1234 5698 7654 32",
    "card 4111 1111 1111 1111",
    "4111111111111112",
    "CURP BADD110313HCMLNS09",
    "GSTIN 27AAPFU0939F1ZV",
    "PAN AAPFU0939F",
    "codice fiscale RSSMRA85T10A562S",
    "NIR 1 78 07 62 658 789 33",
    "Steuernummer 21/815/08150",
    "CPF 390.533.447-05",
    "kennitala 450401-3150",
    "SSN 536-90-4399",
    "VAT DE136695976",
    "NL 1012 AB Amsterdam",
    "Tel. 0612345678",
    "call +44 20 7946 0958",
    "anna@example.org",
    "ip 192.168.10.4",
    "DOB: 1985-03-12",
    "12 Baker Street, London",
    "Oluwaseun Adebayo",
    "Maria Garcia",
    "ref 22910",
    "invoice 2024-118",
    "order #99812734",
    "rent",
    "groceries at the market",
    "loan repayment",
    "thanks!",
]


def _texts(n: int, seed: int) -> list[str]:
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        k = rnd.randint(1, 4)
        out.append(
            rnd.choice(["Transfer: ", "Payment ", "", "SEPA "]) + ", ".join(rnd.sample(PIECES, k))
        )
    return out


def test_single_small_and_batched_calls_give_identical_spans() -> None:
    texts = _texts(300, seed=21)
    batched = find_spans(texts)  # many texts: RE2 over the Arrow array
    single = [find_spans([t])[0] for t in texts]  # one text: per-text Python gates
    small = [s for i in range(0, len(texts), 10) for s in find_spans(texts[i : i + 10])]
    assert single == batched
    assert small == batched
    assert sum(map(len, batched)) > len(texts)  # the texts do hold personal data
