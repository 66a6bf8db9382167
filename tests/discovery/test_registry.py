"""The registry: one identifier type = one small recognizer, registered by name; user
recognizers from a dict (as a policy file feeds them)."""

from __future__ import annotations

import re

import pytest

from veil.detect.registry import (
    CATEGORIES,
    RULES,
    TYPE_INFO,
    Recognizer,
    Registry,
    default_registry,
    re2_accepts,
    recognizer_from_config,
    validator_by_name,
)
from veil.discovery import find_spans, scan_table
from veil.errors import PolicyError

REQUIRED_TYPES = {
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
    "mac_address",
    "crypto_wallet",
    "uk_nino",
}


def test_builtin_types_cover_the_shared_labels() -> None:
    reg = default_registry()
    assert set(reg.types()) >= REQUIRED_TYPES
    for t in reg.types():
        cat, rule = TYPE_INFO[t]
        assert cat in CATEGORIES and rule in RULES


def test_every_builtin_regex_compiles_in_python_and_re2() -> None:
    for rec in default_registry():
        assert isinstance(rec.regex, re.Pattern)
        if rec.value_pattern is not None:
            assert re2_accepts(rec.value_regex_source), rec.name
            assert rec.value_regex is not None
        if rec.prefilter is not None:
            assert re2_accepts(rec.prefilter), rec.name


def test_eu_vat_covers_every_member_state() -> None:
    from stdnum.eu import vat

    from veil.detect.recognizers.vat import EU_PREFIXES

    assert {p.lower() for p in EU_PREFIXES} - {"el"} >= {s for s in vat.MEMBER_STATES} - {"gr"}


def test_register_get_unregister() -> None:
    reg = Registry()
    rec = Recognizer(name="emp", type="employee_id", pattern=r"EMP-\d{4}")
    reg.register(rec)
    assert reg.get("emp") is rec and "emp" in reg and len(reg) == 1
    with pytest.raises(PolicyError, match="already registered"):
        reg.register(rec)
    reg.register(rec, replace=True)
    reg.unregister("emp")
    with pytest.raises(PolicyError, match="no recognizer named"):
        reg.get("emp")
    with pytest.raises(PolicyError):
        reg.unregister("emp")


def test_user_recognizer_from_config_finds_spans_and_columns() -> None:
    reg = default_registry()
    reg.add_from_config(
        {
            "name": "loyalty_card",
            "type": "loyalty_id",
            "pattern": r"\bLC(?P<value>\d{15})\b",
            "validator": "luhn",
            "context": ["loyalty", "member"],
            "category": "online_identifier",
            "rule": "pseudonymize",
            "column_names": "loyalty",
        }
    )
    # LC + a 15-digit Luhn-valid number; the second one fails Luhn
    good, bad = "LC490154203237518", "LC490154203237519"
    spans = find_spans([f"member {good} ok", f"member {bad} ok"], registry=reg)
    assert [(s.type, s.start) for s in spans[0]] == [("loyalty_id", 7)]
    assert spans[1] == []
    import pyarrow as pa

    rep = scan_table(pa.table({"loyalty": [good] * 10}), registry=reg)
    col = rep.column("loyalty")
    assert col.top_type == "loyalty_id" and col.category == "online_identifier"
    assert col.rule == "pseudonymize"


def test_user_recognizer_with_stdnum_module_validator() -> None:
    rec = recognizer_from_config(
        {"name": "isin", "pattern": r"\b[A-Z]{2}[A-Z0-9]{9}\d\b", "validator": "stdnum.isin"}
    )
    assert rec.validate("US0378331005") and not rec.validate("US0378331006")


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"pattern": "x"}, "'name' is required"),
        ({"name": "a b", "pattern": "x"}, "not an identifier"),
        ({"name": "a"}, "'pattern' is required"),
        ({"name": "a", "pattern": "("}, "not a valid regex"),
        ({"name": "a", "pattern": "x", "validator": "nope"}, "unknown validator"),
        (
            {"name": "a", "pattern": "x", "validator": "stdnum.nosuch.module"},
            "no such python-stdnum",
        ),
        ({"name": "a", "pattern": "x", "validator": "stdnum.../x"}, "not a stdnum module"),
        ({"name": "a", "pattern": "x", "context": "word"}, "list of words"),
        ({"name": "a", "pattern": "x", "score": 3}, "score"),
        ({"name": "a", "pattern": "x", "category": "secret"}, "unknown category"),
        ({"name": "a", "pattern": "x", "rule": "burn"}, "unknown rule"),
        ({"name": "a", "pattern": "x", "colour": "red"}, "unknown field"),
        ({"name": "a", "pattern": "x", "value_pattern": "(?<=a)b"}, "RE2"),
        ({"name": "a", "pattern": "x", "flags": ["multiline"]}, "unknown flag"),
    ],
)
def test_bad_user_recognizers_are_policy_errors(spec: dict, message: str) -> None:
    with pytest.raises(PolicyError, match=re.escape(message) if "(" not in message else message):
        recognizer_from_config(spec)


def test_python_only_pattern_still_works_in_text() -> None:
    rec = recognizer_from_config(
        {"name": "ref", "pattern": r"(?<=REF:)\d{6}", "context": [], "score": 0.9}
    )
    assert rec.value_pattern is None  # look-behind: RE2 cannot run it on columns
    reg = Registry([rec])
    assert [(s.start, s.end) for s in find_spans(["x REF:123456 y"], registry=reg)[0]] == [(6, 12)]


def test_named_validators() -> None:
    assert validator_by_name("iban")("DE89 3704 0044 0532 0130 00")
    assert not validator_by_name("iban")("DE89 3704 0044 0532 0130 01")
    assert validator_by_name("card")("4111 1111 1111 1111")
    assert validator_by_name("email")("a.b@example.org")
    assert validator_by_name("ip")("::1") and not validator_by_name("ipv4")("256.1.1.1")
    assert validator_by_name("mac")("00:1A:2B:3C:4D:5E")
