"""Spans in free text: tricky memos, bad input, quality on the labelled corpus."""

from __future__ import annotations

import itertools
import random
import time

import pyarrow as pa
from stdnum import iban as std_iban
from stdnum import luhn

from veil.discovery import Span, SpanFinder, find_spans


def found(text: str, **kw: object) -> list[tuple[str, str]]:
    return [(text[s.start : s.end], s.type) for s in find_spans([text], **kw)[0]]


def test_grouped_iban_with_spaces_and_name_after_to() -> None:
    t = "Transfer to John Smith IBAN DE89 3704 0044 0532 0130 00 ref INV-2024-0012"
    assert found(t) == [("John Smith", "person"), ("DE89 3704 0044 0532 0130 00", "iban")]


def test_iban_followed_by_words_is_cut_at_the_right_group() -> None:
    t = "IBAN GB82 WEST 1234 5698 7654 32 REF 77 thanks"
    assert ("GB82 WEST 1234 5698 7654 32", "iban") in found(t)


def test_card_with_dashes_and_spaces() -> None:
    assert found("Card payment 4111-1111-1111-1111 at Lidl") == [("4111-1111-1111-1111", "card")]
    assert found("paid with 5500 0000 0000 0004 exp 12/27") == [("5500 0000 0000 0004", "card")]


def test_names_after_from_and_titles_and_salutations() -> None:
    assert ("Anna Schmidt", "person") in found("Payment received from Anna Schmidt for rent")
    assert found("Dear Mr Dupont, your refund is processed") == [("Dupont", "person")]
    assert found("Hallo Frau Müller, danke") == [("Müller", "person")]
    assert found("Hi Sophie, see you") == [("Sophie", "person")]


def test_company_names_are_not_persons() -> None:
    for t in (
        "Salary from Müller GmbH for March",
        "Subscription Hubert Bouvet et Fils renewal",
        "Direct debit Collins, Howard and Martin mandate 7",
        "Grocery shopping Renaud S.A. 23.10",
    ):
        assert [x for x in found(t) if x[1] == "person"] == [], t


def test_invoice_numbers_and_amounts_are_not_matched() -> None:
    for t in (
        "Invoice 123456789 due 12.03.2024",
        "Invoice INV-2024-00012 amount 1234.56 EUR",
        "Order #40212769 shipped, ref 5073462370",
        "Standing order 4111111111 monthly",
        "Payment 4500,00 EUR txn 9876543210123456",
    ):
        assert found(t) == [], t


def test_dates_are_birth_dates_only_with_birth_context() -> None:
    # general dates are no personal data by themselves: found only when asked for ("date")
    assert found("Payment on 12.03.1985 for order 7") == []
    assert found("ATM withdrawal 200 EUR on 2024-01-15") == []
    t = "ATM withdrawal 200 EUR on 2024-01-15"
    assert [(t[s.start : s.end], s.type) for s in find_spans([t], types=["date"])[0]] == [
        ("2024-01-15", "date")
    ]
    assert found("Client born 12.03.1985") == [("12.03.1985", "date_of_birth")]
    assert found("DOB: 1985-03-12, new account") == [("1985-03-12", "date_of_birth")]
    assert found("geboren am 3. März 1961") == [("3. März 1961", "date_of_birth")]
    assert found("born 31.02.1985") == []  # not a calendar date
    assert found("born 12.03.2099") == []  # in the future


def test_checksummed_identifiers_need_no_context_weak_ones_do() -> None:
    assert found("RCCMNL83S18D969H") == [("RCCMNL83S18D969H", "national_id")]
    assert found("VAT DE136695976") == [("DE136695976", "vat")]
    assert found("Steuer-ID 36 574 261 809") == [("36 574 261 809", "national_id")]
    assert found("ref 36574261809") == []  # valid IdNr shape, but no context: an invoice no.
    assert found("SSN 536-90-4399") == [("536-90-4399", "us_ssn")]
    assert found("NINO AB 12 34 56 C") == [("AB 12 34 56 C", "uk_nino")]
    assert found("passport C01X00T47 checked") == [("C01X00T47", "passport")]
    assert found("code C01X00T47 checked") == []


def test_other_types() -> None:
    t = "login from 192.168.1.20 and 2001:db8::1 device 00:1A:2B:3C:4D:5E"
    assert found(t) == [
        ("192.168.1.20", "ip_address"),
        ("2001:db8::1", "ip_address"),
        ("00:1A:2B:3C:4D:5E", "mac_address"),
    ]
    assert found("btc 1NEDqZPvTWRaoho48qXuLLsrYomMXPABfD")[0][1] == "crypto_wallet"
    assert found("send to 0x52908400098527886E0F7030069857D2E4169EE7")[0][1] == "crypto_wallet"
    assert found("mail me: anna.schmidt+bank@example.co.uk") == [
        ("anna.schmidt+bank@example.co.uk", "email")
    ]
    assert found("call +49 30 901820 now") == [("+49 30 901820", "phone")]
    assert found("Tel. 030 901820") == [("030 901820", "phone")]
    assert found("account no. 12345678 closed") == [("12345678", "account_number")]
    assert found("BIC DEUTDEFF") == [("DEUTDEFF", "bic")]
    assert found("CUSTOMER SERVICE") == []  # 8 letters that look like a BIC, no context
    assert ("10115", "postcode") in found("Hauptstraße 5, 10115 Berlin")
    assert ("Hauptstraße 5", "street_address") in found("Hauptstraße 5, 10115 Berlin")
    assert ("12 rue de la Paix", "street_address") in found("12 rue de la Paix, 75002 Paris")
    assert ("SW1A 1AA", "postcode") in found("10 Downing Street, London SW1A 1AA")


def _flip(num: str, rnd: random.Random) -> str:
    digits = [i for i, ch in enumerate(num) if ch.isdigit()]
    i = rnd.choice(digits[2:] if len(digits) > 2 else digits)
    return num[:i] + str((int(num[i]) + rnd.randint(1, 9)) % 10) + num[i + 1 :]


def test_numbers_whose_checksum_fails_are_never_matched() -> None:
    from faker import Faker

    fk = Faker(["de_DE", "fr_FR", "en_GB", "nl_NL"])
    fk.seed_instance(5)
    rnd = random.Random(5)
    texts, bad = [], []
    while len(bad) < 300:
        kind = rnd.choice(["card", "iban"])
        if kind == "card":
            v = _flip(
                fk.credit_card_number(card_type=rnd.choice(["visa16", "mastercard", "amex"])), rnd
            )
            if luhn.is_valid(v):
                continue
            if rnd.random() < 0.5 and len(v) == 16:
                v = " ".join(v[i : i + 4] for i in range(0, 16, 4))
        else:
            v = _flip(fk.iban(), rnd)
            if std_iban.is_valid(v):
                continue
            if rnd.random() < 0.5:
                v = " ".join(v[i : i + 4] for i in range(0, len(v), 4))
        ctx = rnd.choice(["card", "IBAN", "account", "Tel", "ref", "SSN", "VAT", "passport", ""])
        texts.append(f"{ctx} {v} thanks")
        bad.append(v)
    for text, v, spans in zip(texts, bad, find_spans(texts), strict=True):
        start = text.index(v)
        overlapping = [s for s in spans if s.start < start + len(v) and start < s.end]
        assert overlapping == [], (text, overlapping)


def test_bad_input_never_crashes() -> None:
    texts = [None, "", b"\xff\xfe Transfer to Jane Doe", "x\x00y John Smith", "😀" * 10, 42]
    spans = find_spans(texts)  # type: ignore[arg-type]
    assert len(spans) == len(texts)
    assert spans[0] == spans[1] == []
    assert [s.type for s in spans[2]] == ["person"]
    finder = SpanFinder()
    scan = finder.scan(texts)  # type: ignore[arg-type]
    assert scan.replaced_bytes == [2]
    assert find_spans([]) == []
    assert find_spans(pa.array([None, None], pa.string())) == [[], []]
    assert (
        find_spans(pa.array([b"\xc3\x28", b"IBAN DE89370400440532013000"], pa.binary()))[1][0].type
        == "iban"
    )
    assert find_spans(pa.array(["Dear Anna Schmidt"]).dictionary_encode())[0][0].type == "person"


def test_huge_text_is_bounded_and_reported() -> None:
    huge = ("Transfer to John Smith " + "lorem ipsum 12345 " * 600_000)[:10_000_000]
    finder = SpanFinder(max_chars=100_000)
    t0 = time.process_time()  # a hang guard (CPU seconds: a busy machine does not trip it)
    scan = finder.scan([huge, "IBAN DE89 3704 0044 0532 0130 00"])
    assert time.process_time() - t0 < 30
    assert scan.truncated == [0]
    assert (scan.spans[0][0].type, scan.spans[0][0].start) == ("person", 12)
    assert scan.spans[1][0].type == "iban"


def test_spans_are_sorted_and_disjoint(memo_corpus) -> None:
    for spans in find_spans([m.text for m in memo_corpus[:500]]):
        for a, b in itertools.pairwise(spans):
            assert a.end <= b.start
        for s in spans:
            assert isinstance(s, Span) and 0 < s.score <= 1


def test_quality_on_labelled_corpus(memo_corpus, corpus_mod) -> None:
    pred = [
        [(s.start, s.end, s.type) for s in spans]
        for spans in find_spans([m.text for m in memo_corpus])
    ]
    ev = corpus_mod.evaluate(memo_corpus, pred)
    assert ev["_all"]["f1"] >= 0.90, ev["_all"]
    for t in ("card", "iban", "vat", "national_id", "us_ssn"):
        assert ev[t]["f1"] >= 0.99, (t, ev[t])
    assert ev["person"]["f1"] >= 0.75, ev["person"]


class _Ent:
    def __init__(self, start: int, end: int, label: str) -> None:
        self.start_char, self.end_char, self.label_ = start, end, label


class _Doc:
    def __init__(self, ents: list[_Ent]) -> None:
        self.ents = ents


class _FakeNlp:
    """Stands in for a loaded spaCy pipeline: tags "Zyxwa Qorblat" as PERSON (in no name list)."""

    def pipe(self, texts):  # noqa: ANN001, ANN201
        for t in texts:
            i = t.find("Zyxwa Qorblat")
            yield _Doc([_Ent(i, i + 13, "PERSON"), _Ent(0, 3, "ORG")] if i >= 0 else [])


def test_optional_ner_hook_adds_spans_but_not_over_checksums() -> None:
    from veil.discovery import spacy_ner

    texts = ["paid Zyxwa Qorblat today", "IBAN DE89370400440532013000"]
    plain = SpanFinder().find(texts)
    assert plain[0] == []  # unknown names without context: no list evidence
    hooked = SpanFinder(ner=spacy_ner(_FakeNlp())).find(texts)
    assert [(s.type, s.recognizer) for s in hooked[0]] == [("person", "spacy")]
    assert [s.type for s in hooked[1]] == ["iban"]


def test_spanish_ids_with_a_failed_check_letter_veto_other_readings() -> None:
    texts = ["Payment passport 48693243Y thank you", "passport Y3969601X ok", "DNI 12345678Z ok"]
    got = [
        [(t[s.start : s.end], s.type) for s in ss]
        for t, ss in zip(texts, find_spans(texts), strict=True)
    ]
    assert got == [[], [], [("12345678Z", "national_id")]]
    assert find_spans(["passport AAA123456 ok"])[0][0].type == "passport"  # other shapes still are
