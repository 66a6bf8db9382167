"""Identifiers in text: the stdnum modules added for issue 21 (python-stdnum's own docstring
examples, read from the installed package), the German pension number, card lengths and
separators, IBANs wrapped or dotted, URLs, dates, every IPv6 form, phones versus ids."""

from __future__ import annotations

import doctest
import importlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum import luhn

from veil.detect import find_spans
from veil.detect.recognizers.cards import issuer, validate_card
from veil.detect.recognizers.registers import ENTRIES, validate_rvnr
from veil.detect.registry import default_registry

_PARSER = doctest.DocTestParser()


def _stdnum_examples(module: str) -> list[tuple[str, bool]]:
    """(number, valid) from the module's own docstring: ``validate('...')`` lines whose
    expected output is the compact number (valid) or a traceback (invalid)."""
    mod = importlib.import_module(f"stdnum.{module}")
    out = []
    for ex in _PARSER.get_examples(mod.__doc__ or ""):
        src = ex.source.strip()
        if not src.startswith("validate('") or "," in src.split(")")[0]:
            continue
        number = src[len("validate('") :].split("'")[0]
        out.append((number, not ex.want.startswith("Traceback")))
    return out


@pytest.mark.parametrize("entry", [e for e in ENTRIES if e.module], ids=lambda e: e.name)
def test_stdnum_docstring_examples(entry) -> None:  # type: ignore[no-untyped-def]
    rec = default_registry().get(entry.name)
    cases = _stdnum_examples(entry.module)
    assert cases, entry.module
    for number, valid in cases:
        if entry.module == "de.handelsregisternummer":
            continue  # checked on its form in text (the court's name is optional there)
        assert rec.validate(number) is valid, (entry.module, number)


def test_pension_number_check_digit() -> None:
    assert validate_rvnr("15 070649 C 103")  # the example of the Deutsche Rentenversicherung
    assert not validate_rvnr("15 070649 C 104")
    assert not validate_rvnr("15 320649 C 103")  # no 32nd day
    text = "Rentenversicherungsnummer 15 070649 C 103 bitte angeben"
    got = [(text[s.start : s.end], s.type) for s in find_spans([text])[0]]
    assert got == [("15 070649 C 103", "national_id")]


def _luhn_number(prefix: str, length: int) -> str:
    body = prefix + "0" * (length - len(prefix) - 1)
    return body + luhn.calc_check_digit(body)


@pytest.mark.parametrize(
    ("prefix", "length"),
    [
        ("50", 12),
        ("6759", 13),
        ("56", 14),
        ("6304", 15),
        ("1", 15),
        ("34", 15),
        ("37", 15),
        ("36", 14),
        ("4", 13),
        ("4", 16),
        ("4", 19),
        ("51", 16),
        ("2221", 16),
        ("6011", 16),
        ("62", 17),
        ("3528", 18),
        ("50", 19),
    ],
)
def test_every_card_length_with_a_known_issuer(prefix: str, length: int) -> None:
    n = _luhn_number(prefix, length)
    assert issuer(n) and validate_card(n) > 0
    grouped = " ".join(n[i : i + 4] for i in range(0, len(n), 4))
    text = f"paid by card {grouped} yesterday"
    assert (grouped, "card") in {(text[s.start : s.end], s.type) for s in find_spans([text])[0]}


def test_short_plain_card_numbers_need_a_card_word() -> None:
    n = _luhn_number("50", 12)
    assert find_spans([f"invoice {n} paid"]) == [[]]
    assert [s.type for s in find_spans([f"Maestro {n}"])[0]] == ["card"]


@pytest.mark.parametrize(
    "value",
    ["4111-1111-1111-1111", "4111.1111.1111.1111", "4111 1111\n1111 1111", "4111-1111-\n1111-1111"],
)
def test_card_separators(value: str) -> None:
    text = f"card {value} ok"
    assert (value, "card") in {(text[s.start : s.end], s.type) for s in find_spans([text])[0]}


@pytest.mark.parametrize(
    "value",
    [
        "DE89-3704-0044-0532-0130-00",
        "DE89.3704.0044.0532.0130.00",
        "DE89 3704 0044\n0532 0130 00",
        "DE89\u00a03704\u00a00044\u00a00532\u00a00130\u00a000",
    ],
)
def test_iban_separators(value: str) -> None:
    text = f"IBAN {value} thanks"
    assert (value, "iban") in {(text[s.start : s.end], s.type) for s in find_spans([text])[0]}


@pytest.mark.parametrize(
    "value",
    [
        "::ffff:192.0.2.1",
        "64:ff9b::192.0.2.33",
        "2001:db8::/32",
        "fe80::1%eth0",
        "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
        "::1",
        "10.1.2.0/24",
        "192.168.0.7",
    ],
)
def test_ip_forms(value: str) -> None:
    text = f"login from {value} today"
    got = {(text[s.start : s.end], s.type) for s in find_spans([text])[0]}
    assert (value, "ip_address") in got


@pytest.mark.parametrize(
    ("text", "value", "type_"),
    [
        (
            "see https://bank.example.com/c/4711?name=anna.",
            "https://bank.example.com/c/4711?name=anna",
            "url",
        ),
        ("visit www.example.org, thanks", "www.example.org", "url"),
        ("Payment on 12.03.2024 received", "12.03.2024", "date"),
        ("Meeting 2024-03-12T10:15:00Z", "2024-03-12T10:15:00Z", "date"),
        ("le 5 janvier 2023", "5 janvier 2023", "date"),
        ("born 03/04/1985 in Lyon", "03/04/1985", "date_of_birth"),
        ("Tel. 0612345678", "0612345678", "phone"),
        ("call me at +1 (415) 555-0132 x204", "+1 (415) 555-0132 x204", "phone"),
        ("Firmenbuch FN 122119m", "FN 122119m", "company_id"),
        ("UID CHE-100.155.212", "CHE-100.155.212", "company_id"),
    ],
)
def test_urls_dates_phones_registers(text: str, value: str, type_: str) -> None:
    types = default_registry().types()  # dates and URLs are found when asked for
    got = {(text[s.start : s.end], s.type) for s in find_spans([text], types=types)[0]}
    assert (value, type_) in got
    if type_ in ("date", "url"):
        assert not [s for s in find_spans([text])[0] if s.type == type_]


def test_not_a_date_or_url() -> None:
    texts = ["ref 2024-118 v1.2.3 at 31.02.2024", "mail me at http:// nothing"]
    assert find_spans(texts, types=["date", "url"]) == [[], []]


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(["DE", "FR", "BE", "ES", "NO", "GB", "NL", "IT", "XX", "de"]),
    st.text("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ -.", min_size=2, max_size=32),
)
def test_fast_iban_check_agrees_with_stdnum(cc: str, rest: str) -> None:
    from stdnum import iban as std_iban

    from veil.detect.recognizers.banking import _SEPS, validate_iban

    value = cc + rest
    assert validate_iban(value) == bool(std_iban.is_valid(_SEPS.sub("", value)))


@pytest.mark.parametrize(
    "value",
    [
        "DE89370400440532013000",
        "BE32 123-4567890-02",
        "ES91 2100 0418 4502 0005 1332",
        "NO93 8601 1117 947",
        "GB82 WEST 1234 5698 7654 32",
        "FR14 2004 1010 0505 0001 3M02 606",
    ],
)
def test_fast_iban_check_on_valid_numbers(value: str) -> None:
    from stdnum import iban as std_iban

    from veil.detect.recognizers.banking import _SEPS, validate_iban

    assert validate_iban(value) and std_iban.is_valid(_SEPS.sub("", value))
    broken = value[:-1] + str((int(value[-1]) + 1) % 10)
    assert validate_iban(broken) == bool(std_iban.is_valid(_SEPS.sub("", broken)))
