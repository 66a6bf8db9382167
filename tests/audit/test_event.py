"""AuditEvent: validation, RFC 8785 canonical bytes, strict round trip."""

from __future__ import annotations

import json
import struct
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from veil.audit.event import AuditEvent, canonical_json, format_time, parse_time
from veil.audit.merkle import leaf_hash
from veil.errors import AuditError

PSEUDO = "cust:" + "Qm9ndXMtcHNldWRvbnltLWZvci10ZXN0cw0"  # 35 base64url chars
PSEUDO2 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


def make(**kw: object) -> AuditEvent:
    base: dict[str, object] = {
        "time": datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC),
        "actor": "svc:pipeline",
        "action": "run.publish",
        "purpose": "credit_scoring",
        "legal_basis": "art6_1_b_contract",
        "outcome": "success",
        "data_categories": ["financial", "contact"],
        "counts": {"rows_in": 1000, "rows_out": 990, "dropped_no_consent": 10},
        "subjects": [PSEUDO2, PSEUDO],
        "digests": {"input": "sha256:" + "ab" * 32},
        "details": {"policy_version": "3", "k": 5, "epsilon": 0.5, "dry_run": False, "note": None},
    }
    base.update(kw)
    return AuditEvent(**base)  # type: ignore[arg-type]


def test_canonical_bytes_exact() -> None:
    e = make(details={"z": 1, "a": "é", "m": 1e21, "f": 0.1}, subjects=[PSEUDO2])
    expected = (
        '{"action":"run.publish","actor":"svc:pipeline",'
        '"counts":{"dropped_no_consent":10,"rows_in":1000,"rows_out":990},'
        '"data_categories":["contact","financial"],'
        '"details":{"a":"é","f":0.1,"m":1e+21,"z":1},'
        f'"digests":{{"input":"sha256:{"ab" * 32}"}},'
        '"legal_basis":"art6_1_b_contract","outcome":"success","purpose":"credit_scoring",'
        f'"subjects":["{PSEUDO2}"],"time":"2024-05-01T12:00:00.123456Z","v":1}}'
    ).encode()
    assert e.canonical_bytes() == expected
    assert e.leaf_hash() == leaf_hash(expected)


def test_same_event_same_bytes_regardless_of_input_order_and_zone() -> None:
    a = make()
    b = make(
        time=datetime(2024, 5, 1, 14, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2))),
        data_categories=["contact", "financial", "contact"],
        counts={"dropped_no_consent": 10, "rows_out": 990, "rows_in": 1000},
        subjects=[PSEUDO, PSEUDO2, PSEUDO],
    )
    assert a == b and hash(a) == hash(b)
    assert a.canonical_bytes() == b.canonical_bytes()
    assert b.time.tzinfo is UTC


def test_round_trip_and_immutability() -> None:
    e = make()
    back = AuditEvent.from_canonical_bytes(e.canonical_bytes())
    assert back == e and back.canonical_bytes() == e.canonical_bytes()
    with pytest.raises(AttributeError):
        e.actor = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        e.counts["rows_in"] = 0  # type: ignore[index]


@pytest.mark.parametrize(
    "kw, fragment",
    [
        ({"time": datetime(2024, 1, 1)}, "timezone-aware"),
        ({"time": "2024-01-01T00:00:00Z"}, "datetime"),
        ({"actor": ""}, "actor"),
        ({"purpose": 3}, "purpose"),
        ({"subjects": ["Jane Doe"]}, "pseudonym"),
        ({"subjects": ["jane.doe@example.com"]}, "pseudonym"),
        ({"subjects": ["DE89370400440532013000"]}, "pseudonym"),  # an IBAN
        ({"subjects": ["+4930123456789"]}, "pseudonym"),
        ({"subjects": "abc"}, "list"),
        ({"counts": {"rows": -1}}, "counts"),
        ({"counts": {"rows": True}}, "counts"),
        ({"counts": {"rows": 2**60}}, "counts"),
        ({"counts": {"": 1}}, "keys"),
        ({"details": {"nested": {"a": 1}}}, "scalar"),
        ({"details": {"x": float("nan")}}, "canonicalized"),
        ({"details": {"x": 2**60}}, "canonicalized"),
        ({"details": {"x": -(2**53)}}, "canonicalized"),
        ({"details": {"x": "\ud800"}}, "Unicode"),
        ({"digests": {"input": 5}}, "digests"),
        ({"data_categories": [""]}, "data_categories"),
    ],
)
def test_invalid_events_are_refused(kw: dict[str, object], fragment: str) -> None:
    with pytest.raises(AuditError, match=fragment):
        make(**kw)


def test_parse_is_strict() -> None:
    good = make().canonical_bytes()
    obj = json.loads(good)
    variants = {
        "pretty": json.dumps(obj, indent=1).encode(),
        "unsorted": json.dumps(dict(reversed(list(obj.items()))), separators=(",", ":")).encode(),
        "ascii-escaped": make(details={"a": "é"})
        .canonical_bytes()
        .replace(b"\xc3\xa9", b"\\u00e9"),
        "duplicate": good[:-1] + b',"v":1}',
        "extra field": good[:-1] + b',"w":1}',
        "missing field": json.dumps({k: v for k, v in obj.items() if k != "purpose"}).encode(),
        "version 2": good.replace(b'"v":1', b'"v":2'),
        "time without micros": good.replace(b".123456Z", b"Z"),
        "time with offset": good.replace(b".123456Z", b".123456+00:00"),
        "unsorted set": good.replace(b'["contact","financial"]', b'["financial","contact"]'),
        "not utf-8": good.replace(b"svc", b"\xff\xfe"),
        "NaN": good.replace(b'"k":5', b'"k":NaN'),
        "not an object": b"[1]",
    }
    for name, data in variants.items():
        assert data != good, name
        with pytest.raises(AuditError):
            AuditEvent.from_canonical_bytes(data)


# RFC 8785 Appendix B: IEEE 754 bit patterns and their canonical text.
RFC8785_NUMBERS = [
    ("0000000000000000", "0"),
    ("8000000000000000", "0"),
    ("0000000000000001", "5e-324"),
    ("8000000000000001", "-5e-324"),
    ("7fefffffffffffff", "1.7976931348623157e+308"),
    ("ffefffffffffffff", "-1.7976931348623157e+308"),
    ("4340000000000000", "9007199254740992"),
    ("c340000000000000", "-9007199254740992"),
    ("4430000000000000", "295147905179352830000"),
    ("44b52d02c7e14af5", "9.999999999999997e+22"),
    ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"),
    ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"),
    ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"),
    ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"),
    ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"),
    ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),
]


@pytest.mark.parametrize("bits, text", RFC8785_NUMBERS)
def test_rfc8785_number_serialization(bits: str, text: str) -> None:
    (x,) = struct.unpack(">d", bytes.fromhex(bits))
    assert canonical_json(x) == text.encode()


def test_rfc8785_key_order_is_utf16() -> None:
    # RFC 8785 section 3.2.3 sorting example (keys compared as UTF-16 code units)
    obj = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    keys = list(json.loads(canonical_json(obj)).keys())
    assert keys == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


def test_large_integral_floats_round_trip() -> None:
    for x in (2.0**53, 1e20, -(2.0**60), 1e21):
        e = make(details={"x": x})
        back = AuditEvent.from_canonical_bytes(e.canonical_bytes())
        assert back.details["x"] == x and isinstance(back.details["x"], float)
    e = make(details={"x": 5.0})
    assert b'"x":5' in e.canonical_bytes()
    assert AuditEvent.from_canonical_bytes(e.canonical_bytes()) == e


def test_time_format() -> None:
    t = datetime(2024, 2, 29, 23, 59, 59, 1, tzinfo=timezone(timedelta(hours=-5)))
    assert format_time(t) == "2024-03-01T04:59:59.000001Z"
    assert parse_time("2024-03-01T04:59:59.000001Z") == t
    assert format_time(datetime(999, 1, 1, tzinfo=UTC)) == "0999-01-01T00:00:00.000000Z"
    for bad in (
        "2024-02-30T00:00:00.000000Z",
        "2024-03-01 04:59:59.000001Z",
        "２024-03-01T04:59:59.000001Z",
    ):
        with pytest.raises(AuditError):
            parse_time(bad)


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53) + 1, 2**53 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(st.characters(exclude_categories=["Cs"])),
)
names = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=12)
pseudonyms = st.from_regex(r"\A(?:[a-z][a-z0-9_.-]{0,8}:)?[A-Za-z0-9_-]{32,64}\Z")
times = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)


@settings(max_examples=100, deadline=None)
@given(
    time=times,
    actor=names.filter(str.strip),
    cats=st.lists(names, max_size=5),
    counts=st.dictionaries(names, st.integers(0, 2**53 - 1), max_size=5),
    subjects=st.lists(pseudonyms, max_size=4),
    details=st.dictionaries(names, scalars, max_size=6),
)
def test_canonical_round_trip_property(
    time: datetime,
    actor: str,
    cats: list[str],
    counts: dict[str, int],
    subjects: list[str],
    details: dict[str, object],
) -> None:
    e = make(
        time=time,
        actor=actor,
        data_categories=cats,
        counts=counts,
        subjects=subjects,
        details=details,
    )
    b = e.canonical_bytes()
    assert (
        b
        == make(
            time=time,
            actor=actor,
            data_categories=list(reversed(cats)),
            counts=dict(reversed(list(counts.items()))),
            subjects=list(reversed(subjects)),
            details=dict(reversed(list(details.items()))),
        ).canonical_bytes()
    )
    back = AuditEvent.from_canonical_bytes(b)
    assert back == e
    assert back.canonical_bytes() == b
    assert set(json.loads(b.decode("utf-8"))) == set(e.to_json_obj())  # plain JSON readers cope
