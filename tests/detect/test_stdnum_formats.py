"""Every identifier python-stdnum validates: each module is covered by a hand-written recognizer,
generated, or excluded with a reason; the generated recognizers find their module's own doctest
examples (tests/detect/data/stdnum_doctests.json, written with its provenance by
``python -m veil.detect.data.build_stdnum``) in text beside a context word and as a column, and
never an invalid one; weak formats stay quiet without context."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from stdnum.util import get_number_modules

from veil.detect.data.build_stdnum import build, covered_modules
from veil.detect.recognizers.stdnum_catalog import COVERED_ELSEWHERE, EXCLUDED
from veil.detect.recognizers.stdnum_formats import StdnumFormat, load_formats
from veil.detect.registry import default_registry
from veil.detect.text import SpanFinder
from veil.discovery import scan_table

CASES = Path(__file__).parent / "data" / "stdnum_doctests.json"
FORMATS = {f.module: f for f in load_formats()}

# doctest numbers written in a way the generated shape does not take, each with the reason
KNOWN_MISSES = {
    ("br.cnpj", "12. ABC.345 /01DE–35"): "separators of two characters and an en dash",
    ("kr.brn", " 116 - 82 - 00276  "): "separators of three characters (' - ')",
}
# invalid doctest numbers whose leading part is itself a valid number of the module
VALID_PREFIX = {
    ("meid", "29360 87365 0070 3710 1"): "the first 18 digits are a MEID without check digit",
    ("sn.ninea", "1234567 0AZ"): "the first 7 digits are a NINEA without its COFI suffix",
}


@pytest.fixture(scope="module")
def doc_cases() -> dict[str, Any]:
    data = json.loads(CASES.read_text(encoding="utf-8"))
    assert data["source"]["package"] == "python-stdnum"
    return dict(data["types"])


@pytest.fixture(scope="module")
def finder() -> SpanFinder:
    return SpanFinder()


def test_every_stdnum_module_is_covered_generated_or_excluded_with_a_reason() -> None:
    modules = {m.__name__.removeprefix("stdnum.") for m in get_number_modules()}
    covered, generated, excluded = covered_modules(), set(FORMATS), set(EXCLUDED)
    assert not covered & generated and not covered & excluded and not generated & excluded
    missing = modules - covered - generated - excluded
    assert not missing, f"python-stdnum modules neither covered, generated nor excluded: {missing}"
    assert (excluded | generated | set(COVERED_ELSEWHERE)) <= modules  # no stale names
    assert all(len(reason) > 20 for reason in EXCLUDED.values())
    assert len(generated) >= 100


def test_the_generated_table_is_what_the_installed_stdnum_gives() -> None:
    rows, meta = build()
    path = Path(__file__).resolve().parents[2] / "src/veil/detect/data/stdnum_formats.tsv"
    assert path.read_text(encoding="utf-8").splitlines() == rows
    assert json.loads(CASES.read_text(encoding="utf-8"))["types"] == meta["types"]


def test_every_generated_recognizer_is_registered_with_its_country_and_module() -> None:
    reg = default_registry()
    for fmt in FORMATS.values():
        rec = reg.get(fmt.name)
        assert rec.validator_name == f"stdnum.{fmt.module}"
        assert rec.country == fmt.country
        assert rec.context, fmt.module  # every one can be found beside a word
        assert rec.context_required != fmt.alone_in_text


def _core_span(text: str, number: str) -> tuple[int, int]:
    at = text.index(number)
    lead = len(number) - len(number.lstrip())
    trail = len(number) - len(number.rstrip())
    return at + lead, at + len(number) - trail


@pytest.mark.parametrize("module", sorted(FORMATS))
def test_doctest_examples_in_text(
    module: str, doc_cases: dict[str, Any], finder: SpanFinder
) -> None:
    fmt: StdnumFormat = FORMATS[module]
    rec = default_registry().get(fmt.name)
    entry = doc_cases[module]
    assert entry["source"] == f"stdnum/{module.replace('.', '/')}.py (docstring)"
    wrong = []
    for case in entry["cases"]:
        number = case["number"]
        assert rec.validate(number) == case["valid"], (module, number)
        text = f"Per {fmt.context[0]}: {number} ."
        spans = finder.find([text])[0]
        a, b = _core_span(text, number)
        if case["valid"] and (module, number) not in KNOWN_MISSES:
            # found: a span covering the number's digits (the prefix "MK", "УНП" may stay out)
            if not any(s.start < b and a < s.end and s.end >= b for s in spans):
                wrong.append(f"valid not found: {number!r}")
        elif (
            not case["valid"]
            and (module, number) not in VALID_PREFIX
            and any(s.recognizer == fmt.name for s in spans)
        ):
            wrong.append(f"invalid found: {number!r} ({case['error'] or 'is_valid False'})")
    assert not wrong, f"{module} ({entry['source']}):\n" + "\n".join(wrong)


def test_weak_formats_need_their_context_word(finder: SpanFinder) -> None:
    cpf = "390.533.447-05"  # stdnum.br.cpf's own example
    assert [s.recognizer for s in finder.find([f"CPF {cpf}"])[0]] == ["br_cpf"]
    assert finder.find([f"Payment ref {cpf} received"])[0] == []
    curp = "BOXW310820HNERXN09"  # distinctive: letters, 18 characters, a check
    assert [s.recognizer for s in finder.find([f"client ref {curp} ok"])[0]] == ["mx_curp"]


def test_random_reference_numbers_in_text_stay_quiet(finder: SpanFinder) -> None:
    rng = random.Random(7)
    texts = [
        f"Invoice {rng.randrange(10**8, 10**14)} paid, order {rng.randrange(10**8, 10**12)}"
        for _ in range(300)
    ]
    flagged = [t for t, spans in zip(texts, finder.find(texts), strict=True) if spans]
    assert flagged == []


@pytest.mark.parametrize("module", ["br.cpf", "tr.tckimlik", "mx.curp", "in_.aadhaar", "ar.dni"])
def test_a_column_of_valid_numbers_is_flagged_with_the_type(
    module: str, doc_cases: dict[str, Any]
) -> None:
    fmt = FORMATS[module]
    valid = [c["number"] for c in doc_cases[module]["cases"] if c["valid"]]
    name = fmt.context[0].replace(" ", "_")  # ar.dni (no check digit) needs a column name
    report = scan_table(pa.table({name: valid * 20, "other": ["x"] * (20 * len(valid))}))
    col = report.columns[0]
    assert col.top_type == fmt.type, (module, col.types)
    assert fmt.name in col.types[0].recognizers


def test_a_column_of_random_digits_is_not_a_foreign_national_id() -> None:
    rng = random.Random(3)
    big = pa.table(
        {
            f"ref{n}": [str(rng.randrange(10 ** (n - 1), 10**n)) for _ in range(500)]
            for n in (8, 9, 10, 11, 12, 13)
        }
    )
    tiny = pa.table({"tiny": [str(rng.randrange(10**8, 10**9)) for _ in range(12)]})
    generated = {f.name for f in FORMATS.values()}
    for table in (big, tiny):
        for col in scan_table(table).columns:
            for hit in col.types:
                assert not generated & set(hit.recognizers), (col.name, hit)


def test_a_column_named_dni_of_dates_is_not_flagged_without_the_name() -> None:
    dates = [f"2024{m:02d}{d:02d}" for m in range(1, 13) for d in range(1, 29)]
    report = scan_table(pa.table({"booking": dates, "dni": dates}))
    assert report.columns[0].top_type is None
    assert report.columns[1].top_type == "national_id"  # the name says so: ar.dni's format
