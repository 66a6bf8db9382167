"""The vectorized column validation answers exactly what the one-value-at-a-time path did:
the twins of :mod:`veil.discovery.validators_vec` against the validators they replace and
python-stdnum's own checks (conformance cases, generated strings), and whole scan reports
of the vectorized path against the reference path (``Matcher.vectorized = False``)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum import iban as stdnum_iban
from stdnum import luhn

from veil.detect.registry import default_registry
from veil.discovery import column_matching, scan_table
from veil.discovery import validators_vec as vv
from veil.sample import generate

REG = {r.name: r for r in default_registry()}
TWINNED = ["card", "iban", "ipv4", "email", "phone_intl", "phone_national", "street_address"]


def _scalar(rec_name: str, values: list[str]) -> np.ndarray:
    rec = REG[rec_name]
    return np.array([rec.score_value(v) for v in values], dtype=float)


def _same(rec_name: str, values: list[str]) -> None:
    got = vv.scores(REG[rec_name], pa.array(values, type=pa.string()))
    want = _scalar(rec_name, values)
    bad = [(v, g, w) for v, g, w in zip(values, got, want, strict=True) if g != w]
    assert not bad, f"{rec_name}: {bad[:5]}"


def test_every_twinned_recognizer_has_a_twin() -> None:
    for name in TWINNED:
        assert vv.twin_of(REG[name]) is not None, name


@pytest.fixture(scope="module")
def stdnum_numbers(conformance_dir: Path) -> dict[str, Any]:
    return json.loads((conformance_dir / "stdnum" / "stdnum_cases.json").read_text())["types"]


def test_twins_agree_on_every_conformance_number(stdnum_numbers: dict[str, Any]) -> None:
    """Every number of python-stdnum's doctests (all modules, valid and invalid), through
    each twin: the same score as the recognizer's own validator."""
    numbers = sorted(
        {
            c["number"]
            for t in stdnum_numbers.values()
            for k in ("valid", "invalid")
            for c in t.get(k, [])
        }
    )
    assert len(numbers) > 500
    for name in TWINNED:
        _same(name, numbers)


def test_iban_twin_agrees_with_stdnum_is_valid(stdnum_numbers: dict[str, Any]) -> None:
    """On the IBAN modules' cases (iban, be.iban, es.iban, no.iban), the twin accepts exactly
    what ``stdnum.iban.is_valid`` accepts."""
    rec = REG["iban"]
    for module in ("iban", "be.iban", "es.iban", "no.iban"):
        cases = stdnum_numbers[module]
        nums = [c["number"] for k in ("valid", "invalid") for c in cases.get(k, [])]
        got = vv.scores(rec, pa.array(nums)) > 0
        want = [bool(stdnum_iban.is_valid(n)) for n in nums]
        assert got.tolist() == want, module


def test_luhn_cases_agree_with_stdnum(stdnum_numbers: dict[str, Any]) -> None:
    nums = [c["number"] for k in ("valid", "invalid") for c in stdnum_numbers["luhn"][k]]
    nums = [n for n in nums if n.isascii() and n.isdigit() and len(n) <= 19]
    assert nums
    _check_luhn(nums)


def _check_luhn(nums: list[str]) -> None:
    width = 19
    mat = vv._fixed_matrix(pa.array(nums), width, "0").astype(np.int64) - 48
    lens = np.array([len(n) for n in nums])
    assert vv._luhn(mat, lens).tolist() == [bool(luhn.is_valid(n)) for n in nums]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text("0123456789", min_size=1, max_size=19), min_size=1, max_size=40))
def test_luhn_matches_stdnum_on_digit_strings(nums: list[str]) -> None:
    _check_luhn(nums)


_SEP = st.sampled_from(["", "", "", " ", "-", ".", "\t", "  ", "/", "x", "\u00a0", "\n"])


@st.composite
def _card_like(draw: Any) -> str:
    digits = draw(st.text("0123456789", min_size=10, max_size=21))
    if draw(st.booleans()):  # make the Luhn check pass half the time
        body = digits[:-1]
        for d in "0123456789":
            if luhn.is_valid(body + d):
                digits = body + d
                break
    out = "".join(d + (draw(_SEP) if i % 4 == 3 else "") for i, d in enumerate(digits))
    return draw(st.sampled_from(["", " ", "\t"])) + out + draw(st.sampled_from(["", " "]))


@settings(max_examples=80, deadline=None)
@given(st.lists(_card_like(), min_size=1, max_size=30))
def test_card_twin_matches_validator(values: list[str]) -> None:
    _same("card", values)


@st.composite
def _iban_like(draw: Any) -> str:
    cc = draw(st.sampled_from(["DE", "FR", "GB", "BE", "ES", "NO", "NL", "IT", "MT", "XX", "de"]))
    body = draw(st.text("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=8, max_size=30))
    if draw(st.booleans()):
        body = draw(st.text("0123456789", min_size=8, max_size=30))
    num = f"{cc.upper()}00{body}"
    check = 98 - int((num[4:] + num[:4]).translate(_LETTERS)) % 97
    digits = (
        f"{check:02d}"
        if draw(st.booleans())
        else draw(st.text("0123456789", min_size=2, max_size=2))
    )
    out = cc + digits + body
    sep = draw(_SEP)
    return sep.join(out[i : i + 4] for i in range(0, len(out), 4))


_LETTERS = {ord(c): str(ord(c) - 55) for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}


@settings(max_examples=80, deadline=None)
@given(st.lists(_iban_like(), min_size=1, max_size=30))
def test_iban_twin_matches_validator_and_stdnum(values: list[str]) -> None:
    _same("iban", values)
    # stdnum strips only " -." (Veil also reads numbers split by tabs, line breaks, no-break
    # spaces and slashes): compare with stdnum where the separators are its own
    plain = [v for v in values if not set(v) & {" ", "\u00a0", "/", "\t", "\n"}]
    got = vv.scores(REG["iban"], pa.array(plain, type=pa.string())) > 0
    assert got.tolist() == [bool(stdnum_iban.is_valid(v)) for v in plain]


@st.composite
def _national_iban(draw: Any) -> str:
    """Spanish and Belgian IBANs with their own national check digits right or wrong."""
    from stdnum.es import ccc

    if draw(st.booleans()):
        head = draw(st.text("0123456789", min_size=8, max_size=8))
        account = draw(st.text("0123456789", min_size=10, max_size=10))
        digits = ccc.calc_check_digits(head + "00" + account)
        if draw(st.booleans()):
            digits = draw(st.text("0123456789", min_size=2, max_size=2))
        bban, cc = head + digits + account, "ES"
    else:
        code = draw(st.sampled_from(["000", "001", "050", "068", "310", "539", "734", "999"]))
        body = code + draw(st.text("0123456789", min_size=7, max_size=7))
        check = int(body) % 97 or 97
        if draw(st.booleans()):
            check = draw(st.integers(0, 99))
        bban, cc = f"{body}{check:02d}", "BE"
    return stdnum_iban.calc_check_digits(f"{cc}00{bban}").join([cc, bban])


@settings(max_examples=60, deadline=None)
@given(st.lists(_national_iban(), min_size=1, max_size=30))
def test_iban_twin_matches_the_national_checks(values: list[str]) -> None:
    _same("iban", values)
    got = vv.scores(REG["iban"], pa.array(values, type=pa.string())) > 0
    assert got.tolist() == [bool(stdnum_iban.is_valid(v)) for v in values]


@settings(max_examples=80, deadline=None)
@given(st.lists(st.text("0123456789./ ", min_size=1, max_size=20), min_size=1, max_size=30))
def test_ipv4_twin_matches_validator(values: list[str]) -> None:
    _same("ipv4", values)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.text("ab.-@_Z9 é", min_size=1, max_size=20), min_size=1, max_size=30))
def test_email_twin_matches_validator(values: list[str]) -> None:
    _same("email", values + [v + "@ex-ample.com" for v in values])


# -- whole reports: vectorized path == reference path -----------------------------------


def _report(data: Any, vectorized: bool, monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    monkeypatch.setattr(column_matching.Matcher, "vectorized", vectorized)
    rep = scan_table(data)
    return rep.to_dict()["columns"]


def _varied(rows: int, seed: int) -> pa.Table:
    """Mostly distinct values, nulls and blanks, separators, mixed columns, invalid check
    digits: what a bank's extract looks like more than the sample does."""
    rng = random.Random(seed)
    base = pa.Table.from_batches(list(generate(rows, seed=seed)))
    cols: dict[str, list[Any]] = {}

    def spoil(v: Any) -> Any:
        r = rng.random()
        if v is None or r < 0.05:
            return None
        if r < 0.08:
            return " "
        if r < 0.2 and isinstance(v, str) and v[-1:].isdigit():
            return v[:-1] + str((int(v[-1]) + 1) % 10)  # a wrong check digit
        return v

    for name in (
        "iban",
        "card_number",
        "email",
        "ip_address",
        "phone",
        "national_id",
        "vat_number",
    ):
        cols[name] = [spoil(v) for v in base.column(name).to_pylist()]
    cols["card_dashed"] = [
        v and "-".join(v[i : i + 4] for i in range(0, len(v), 4)) for v in cols["card_number"]
    ]
    cols["iban_lower"] = [v and v.lower() for v in cols["iban"]]
    cols["mixed"] = [
        rng.choice([a, b, str(rng.randrange(10**15, 10**16)), None])
        for a, b in zip(cols["iban"], cols["card_number"], strict=True)
    ]
    cols["ref_numbers"] = [str(rng.randrange(10**15, 10**16)) for _ in range(rows)]
    cols["cidr"] = [
        f"10.{rng.randrange(256)}.{rng.randrange(300)}.0/{rng.randrange(8, 40)}"
        for _ in range(rows)
    ]
    return pa.table(cols)


def _batches(table: pa.Table, size: int) -> list[pa.RecordBatch]:
    return table.to_batches(max_chunksize=size)


def test_same_report_on_the_sample_table(monkeypatch: pytest.MonkeyPatch) -> None:
    t = pa.Table.from_batches(list(generate(12_000, seed=5))).drop_columns(["memo"])  # free text
    # repeated customers across batches: cache hits, and the 2,000-try abandonment
    data = _batches(t, 3_000)
    assert _report(data, True, monkeypatch) == _report(data, False, monkeypatch)


def test_same_report_on_a_varied_table(monkeypatch: pytest.MonkeyPatch) -> None:
    t = _varied(8_000, seed=11)
    data = _batches(pa.concat_tables([t, t.slice(0, 3_000)]), 2_500)
    assert _report(data, True, monkeypatch) == _report(data, False, monkeypatch)


def test_same_report_when_caches_are_emptied(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tiny cache budgets: caches are emptied in the middle of batches (per recognizer and
    for the whole scan), values validated again count as tried again."""
    monkeypatch.setattr(column_matching, "CACHE_PER_RECOGNIZER", 700)
    monkeypatch.setattr(column_matching, "CACHE_BUDGET", 2_500)
    t = pa.concat_tables(
        [_varied(3_000, seed=12), pa.Table.from_batches(list(generate(3_000, seed=3)))],
        promote_options="default",
    )
    data = _batches(pa.concat_tables([t, t]), 1_700)
    assert _report(data, True, monkeypatch) == _report(data, False, monkeypatch)
