"""Recognizer families: validators from the libraries, shapes, masking."""

from __future__ import annotations

import json
import random
from pathlib import Path

from veil.detect.recognizers import cards, contact, crypto, dates, national_ids, network, persons
from veil.detect.registry import default_registry
from veil.discovery import find_spans, mask


def test_card_issuer_ranges_and_luhn() -> None:
    assert cards.issuer("4111111111111111") == "visa"
    assert cards.issuer("5500000000000004") == "mastercard"
    assert cards.issuer("2221000000000009") == "mastercard"
    assert cards.issuer("378282246310005") == "amex"
    assert cards.issuer("1234567812345678") is None
    assert cards.validate_card("4111 1111 1111 1111")
    assert not cards.validate_card("4111 1111 1111 1112")  # Luhn fails
    assert not cards.validate_card("1234 5678 1234 5670")  # Luhn ok, no issuer range
    assert not cards.validate_card("4111-1111")
    assert cards.looks_like_card("4111 1111 1111 1112")


def test_phone_scores() -> None:
    assert contact.phone_score("+49 30 901820") >= 0.8
    assert contact.phone_score("+44 20 7946 0958") >= 0.8
    assert 0 < contact.phone_score("+44 1632 960123") < 0.5  # possible, not assigned
    assert contact.phone_score("0049 30 901820") >= 0.8
    assert 0 < contact.phone_score("030 901820") < 0.5  # national: needs context
    assert contact.phone_score("12") == 0.0
    assert contact.phone_score("+999 1234 5678 9012 3456") == 0.0


def test_email_shape() -> None:
    assert contact.validate_email("a.b+c@example.co.uk")
    for bad in (
        "a..b@example.org",
        ".a@example.org",
        "a@example",
        "a@-x.org",
        "a@b@c.org",
        "a@x.1",
    ):
        assert not contact.validate_email(bad), bad


def test_network_validators() -> None:
    assert network.validate_ipv4("192.168.1.1") and not network.validate_ipv4("256.1.1.1")
    assert network.validate_ipv6("2001:db8::1") and not network.validate_ipv6("12:30:45")
    reg = default_registry()
    assert reg.get("mac_address").validate("00-1A-2B-3C-4D-5E")
    assert not reg.get("mac_address").validate("00:1A:2B:3C:4D")


def test_crypto() -> None:
    reg = default_registry()
    assert reg.get("bitcoin").validate("1NEDqZPvTWRaoho48qXuLLsrYomMXPABfD")
    assert not reg.get("bitcoin").validate("1NEDqZPvTWRaoho48qXuLLsrYomMXPABfX")
    assert crypto.validate_ethereum("0x52908400098527886E0F7030069857D2E4169EE7")
    assert not crypto.validate_ethereum("0x" + "0" * 40)
    assert not crypto.validate_ethereum("0x1234")


def test_nino_format_rule() -> None:
    assert national_ids.validate_nino("AB 12 34 56 C")
    for bad in ("GB 12 34 56 C", "DA 12 34 56 C", "AB 12 34 56 E", "AB123456"):
        assert not national_ids.validate_nino(bad), bad


def test_birth_dates() -> None:
    v = dates.validate_birth_date
    assert v("12.03.1985") and v("1985-03-12") and v("03/12/1985") and v("12 March 1985")
    assert v("3. März 1961") and v("March 3, 1961")
    assert not v("31.02.1985") and not v("12.03.2999") and not v("12.03.1850")


def test_person_value_scores() -> None:
    first, last = persons.name_lists()
    assert len(first) > 5_000 and len(last) > 5_000
    s = persons.person_value_score
    assert s("Anna Schmidt") >= 0.7 and s("SCHMIDT, Anna") >= 0.7 and s("Dr. Hans Müller") >= 0.7
    assert s("Müller GmbH") == 0.0 and s("Invoice 2024") == 0.0 and s("Tesco Stores") == 0.0
    assert s("Anna") == 0.5  # a single name: decided by the column's share


def test_masking_never_reveals_the_value() -> None:
    rnd = random.Random(1)
    for type_, value in [
        ("iban", "DE89 3704 0044 0532 0130 00"),
        ("card", "4111-1111-1111-1111"),
        ("email", "john.smith@example.com"),
        ("person", "Anna Schmidt"),
        ("us_ssn", "536-90-4399"),
        ("phone", "+49 30 901820"),
        ("postcode", "12345"),
        ("bic", "DEUTDEFF"),
        ("national_id", "RCCMNL83S18D969H"),
        (None, "AB"),
    ]:
        m = mask(value, type_)
        assert m != value and "*" in m
        alnum = [c for c in value if c.isalnum()]
        kept = sum(1 for a, b in zip(value, m, strict=False) if a == b and a.isalnum())
        assert kept <= max(4, len(alnum) // 3), (type_, m)
    assert mask("4111-1111-1111-1111", "card").endswith("1111")
    assert mask("x" * 100).endswith("…")
    assert rnd  # deterministic


def test_context_required_recognizers_do_not_fire_without_context() -> None:
    texts = ["ref 44051401359", "ref 211062-5629", "ref 1112.22.333", "ref 123-45-6789x"]
    assert all(spans == [] for spans in find_spans(texts))
    with_ctx = find_spans(["PESEL 44051401359", "CPR 211062-5629", "BSN 1112.22.333"])
    assert [s[0].type for s in with_ctx] == ["national_id"] * 3


def test_broken_checksums_with_context_are_not_matched(conformance_dir: Path) -> None:
    """Valid numbers from stdnum's doctests, one digit changed so the check fails, placed
    after their own context word: nothing may be reported."""
    cases = json.loads((conformance_dir / "stdnum" / "stdnum_cases.json").read_text())["types"]
    import importlib

    plan = {
        "de.idnr": "Steuer-ID",
        "nl.bsn": "BSN",
        "pl.pesel": "PESEL",
        "es.dni": "DNI",
        "it.codicefiscale": "codice fiscale",
        "fr.nir": "NIR",
        "be.nn": "rijksregister",
        "fi.hetu": "HETU",
        "eu.vat": "VAT",
        "iban": "IBAN",
        "bic": "BIC",
        "ch.ssn": "AHV",
        "se.personnummer": "personnummer",
        "ie.pps": "PPS",
    }
    rnd = random.Random(2)
    texts: list[str] = []
    for module, word in plan.items():
        mod = importlib.import_module(f"stdnum.{module}")
        for case in cases[module]["valid"][:60]:
            if case.get("kwargs"):
                continue
            num = case["number"].strip()
            pos = [i for i, ch in enumerate(num) if ch.isdigit()]
            if not pos:
                continue
            for _ in range(5):
                i = rnd.choice(pos)
                broken = num[:i] + str((int(num[i]) + rnd.randint(1, 9)) % 10) + num[i + 1 :]
                if not mod.is_valid(broken):
                    texts.append(f"{word} {broken} ok")
                    break
    assert len(texts) > 120
    for text, spans in zip(texts, find_spans(texts), strict=True):
        assert spans == [], (text, spans)
