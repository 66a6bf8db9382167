"""Person and city detection on hand-written texts from many naming traditions (not from the
sample generator), casing variants, and the capitalized words that are no people."""

from __future__ import annotations

import pathlib
import re

import pytest
from evalset import errors, load, score  # tests/detect/evalset.py (conftest)

from veil.detect import find_spans
from veil.detect.recognizers import lexicon

_FAKER = re.compile(r"^\s*(?:import faker|from faker import)|faker\.providers", re.M)
SRC = pathlib.Path(__file__).resolve().parents[2] / "src" / "veil" / "detect"


def _pred(texts: list[str]) -> list[set[tuple[int, int, str]]]:
    return [{(s.start, s.end, s.type) for s in spans} for spans in find_spans(texts)]


@pytest.mark.parametrize(
    ("name", "floor"), [("names_dev", 0.95), ("names_test", 0.95), ("names_holdout", 0.9)]
)
def test_person_f1_on_hand_written_texts(name: str, floor: float) -> None:
    examples = load(name)
    pred = _pred([e.text for e in examples])
    got = score([e.spans for e in examples], pred)
    assert got["person"].f1 >= floor, "\n".join(errors(examples, pred, "person"))
    # PII-free lines give no person at all
    clean = [p for e, p in zip(examples, pred, strict=True) if not e.spans]
    assert sum(1 for p in clean for s in p if s[2] == "person") <= 1


@pytest.mark.parametrize(
    "text",
    [
        "Lunch at Santa Monica pier",
        "My US account was charged twice",
        "Server IP changed after the migration",
        "Happy New Year",
        "Will transfer it Monday",
        "Concert tickets Royal Albert Hall",
        "Transfer Western Union",
        "Dinner at The Ivy",
    ],
)
def test_capitalized_words_that_are_no_people(text: str) -> None:
    assert not [s for s in find_spans([text])[0] if s.type == "person"]


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("PAYMENT TO MEHMET YILMAZ REF 4411", "MEHMET YILMAZ"),
        ("transfer to john smith thanks", "john smith"),
        ("paid by Ahmed bin Rashid Al Maktoum", "Ahmed bin Rashid Al Maktoum"),
        ("Tuition for Hyun-woo Kim", "Hyun-woo Kim"),
        ("Fee refund to Pieter de Vries", "Pieter de Vries"),
        ("Transfer to O'Connor for plumbing", "O'Connor"),
        ("Gift from Uncle Tunde", "Tunde"),
    ],
)
def test_casing_particles_hyphens(text: str, name: str) -> None:
    spans = [(s.start, s.end) for s in find_spans([text])[0] if s.type == "person"]
    start = text.index(name)
    assert (start, start + len(name)) in spans


def test_city_split_from_a_name_and_alone() -> None:
    text = "Wire to Zhang Wei Shanghai office deposit"
    got = {(text[s.start : s.end], s.type) for s in find_spans([text])[0]}
    assert got == {("Zhang Wei", "person"), ("Shanghai", "city")}
    assert [(s.type) for s in find_spans(["Lunch at Santa Monica pier"])[0]] == ["city"]


def test_lists_come_from_the_data_files_not_from_faker() -> None:
    for path in SRC.rglob("*.py"):
        if path.name == "build.py":
            continue
        src = path.read_text(encoding="utf-8")
        assert not _FAKER.search(src), path
    lex = lexicon.names()
    assert lex.is_first("Oluwaseun") and lex.is_last("Nkosi") and lex.is_weak("Server")
    header = (lexicon.DATA / "names.tsv").read_text(encoding="utf-8").splitlines()[0]
    assert "names-dataset" in header


def test_city_population_threshold_is_configurable() -> None:
    big = lexicon.cities(1_000_000)
    small = lexicon.cities(15_000)
    assert "shanghai" in big and "hamburg" in big
    assert len(small) > len(big)


def test_span_finder_town_threshold() -> None:
    from veil.detect import SpanFinder

    text = "Parking fine in Bamberg"  # about 77,000 people
    assert [s.type for s in SpanFinder().find([text])[0]] == ["city"]
    assert SpanFinder(city_min_population=1_000_000).find([text]) == [[]]
