"""The vectorized phone twin (:mod:`veil.discovery.phone_vec`) answers exactly what
``contact.phone_score`` answers, on every example number phonenumbers has (every region,
every number type, three formats and the 00 form) and on mutations of them: digits
changed, dropped or added, separators, national prefixes, ``+`` and ``00`` prefixes,
another calling code, stray characters."""

from __future__ import annotations

import random
import re
from functools import lru_cache
from typing import Any

import numpy as np
import phonenumbers
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from veil.detect.recognizers.contact import phone_score
from veil.detect.registry import default_registry
from veil.discovery import validators_vec as vv
from veil.discovery.phone_vec import phone_twin

REG = {r.name: r for r in default_registry()}
_PLAIN = re.compile(r"[\t\n\f\r ]*\+?[0-9(][0-9 .\-/()]*[0-9][\t\n\f\r ]*")


@lru_cache(maxsize=1)
def examples() -> tuple[str, ...]:
    """phonenumbers' example number of every region and non-geographic code and type, as
    E.164, international, national, and with 00 instead of +."""
    types = [getattr(PhoneNumberType, t) for t in dir(PhoneNumberType) if t.isupper()]
    nums = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        nums += [phonenumbers.example_number_for_type(region, t) for t in types]
    for cc in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS):
        nums.append(phonenumbers.example_number_for_non_geo_entity(cc))
    out = set()
    for num in nums:
        if num is None:
            continue
        for fmt in (PhoneNumberFormat.E164, PhoneNumberFormat.INTERNATIONAL):
            s = phonenumbers.format_number(num, fmt)
            out |= {s, "00" + s[1:]}
        out.add(phonenumbers.format_number(num, PhoneNumberFormat.NATIONAL))
    return tuple(sorted(out))


def _check(values: list[str]) -> np.ndarray:
    """The twin never contradicts ``phone_score``; the full path (twin, then the scalar
    validator where it is undecided) equals ``score_value`` for both phone recognizers."""
    got = phone_twin(pa.array(values, type=pa.string()))
    want = np.array([phone_score(v) for v in values])
    bad = [(v, g, w) for v, g, w in zip(values, got, want, strict=True) if g == g and g != w]
    assert not bad, bad[:5]
    for name in ("phone_intl", "phone_national"):
        rec = REG[name]
        full = vv.scores(rec, pa.array(values, type=pa.string()))
        assert full.tolist() == [rec.score_value(v) for v in values], name
    return got


def test_both_phone_recognizers_use_the_twin() -> None:
    for name in ("phone_intl", "phone_national"):
        assert vv.twin_of(REG[name]) is phone_twin


def test_every_example_number_of_every_region_and_type() -> None:
    values = list(examples())
    assert len(values) > 3000
    got = _check(values)
    plain = np.array([_PLAIN.fullmatch(v) is not None for v in values])
    # the twin decides nearly all plain values itself, and both ways
    assert np.isnan(got[plain]).mean() < 0.05
    decided = set(got[~np.isnan(got)].tolist())
    assert {0.85, 0.4, 0.0} <= decided


def _mutate(rng: random.Random, v: str) -> str:
    k = rng.randrange(11)
    pos = [i for i, c in enumerate(v) if c.isdigit()]
    if k == 0 and pos:  # a digit changed
        i = rng.choice(pos)
        return v[:i] + str(rng.randrange(10)) + v[i + 1 :]
    if k == 1 and pos:  # a digit dropped
        i = rng.choice(pos)
        return v[:i] + v[i + 1 :]
    if k == 2 and pos:  # a digit added
        i = rng.choice(pos)
        return v[:i] + str(rng.randrange(10)) + v[i:]
    if k == 3:
        return v.replace(" ", rng.choice(["-", ".", "/", "", "  ", " - ", "\t"]))
    if k == 4:  # + <-> 00, or a national prefix
        return "00" + v[1:] if v.startswith("+") else "0" + v
    if k == 5:
        return v.lstrip("+")
    if k == 6:
        return rng.choice(["+", "00", "0", "(0)", " ", "+1", "011", "1", "49"]) + v
    if k == 7:  # a stray character
        i = rng.randrange(len(v) + 1)
        return v[:i] + rng.choice(" -./()+x#;,a") + v[i:]
    if k == 8:  # digits only, any length
        return "".join(rng.choice("0123456789") for _ in range(rng.randrange(5, 18)))
    if k == 9:  # "+<another calling code> <digits>" and "(0)" after the code
        digits = "".join(c for c in v if c.isdigit())[rng.randrange(4) :]
        cc = rng.choice(sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE))
        return f"+{cc} {rng.choice(['', '(0)', '0'])}{digits}"
    return v + rng.choice([" x12", " ext. 7", "#", " "])


def test_mutated_example_numbers() -> None:
    rng = random.Random(7)
    base = examples()
    values = set()
    for _ in range(40_000):
        v = rng.choice(base)
        for _ in range(rng.randrange(1, 4)):
            v = _mutate(rng, v)
        values.add(v)
    got = _check(sorted(values))
    assert {0.85, 0.45, 0.4, 0.2, 0.0} <= set(got[~np.isnan(got)].tolist())


@st.composite
def _phone_like(draw: Any) -> str:
    v = draw(st.sampled_from(examples()))
    rng = random.Random(draw(st.integers(0, 2**32)))
    for _ in range(draw(st.integers(0, 3))):
        v = _mutate(rng, v)
    return v


@settings(max_examples=60, deadline=None)
@given(st.lists(_phone_like(), min_size=1, max_size=60))
def test_twin_matches_phone_score_on_generated_numbers(values: list[str]) -> None:
    _check(values)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text("0123456789 +-./()", min_size=0, max_size=24), min_size=1, max_size=40))
def test_twin_matches_phone_score_on_arbitrary_digit_strings(values: list[str]) -> None:
    _check(values)


def test_large_groups_take_the_re2_path() -> None:
    """Groups of many numbers are matched with RE2 over the array, few with Python's re:
    both give phonenumbers' answers (the same values, once in a big array)."""
    rng = random.Random(3)
    base = [v for v in examples() if v.startswith(("+49", "+33", "+1 ", "+44", "0"))]
    values = [_mutate(rng, rng.choice(base)) for _ in range(6_000)]
    big = _check(values)
    small = np.concatenate([phone_twin(pa.array(values[i : i + 50])) for i in range(0, 600, 50)])
    assert np.array_equal(big[:600], small, equal_nan=True)
