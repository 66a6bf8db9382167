"""The street-address twin (``validators_vec.street_twin``) only sets aside values the
validator rejects: on the sample generator's addresses, memos and every other column, on
addresses of many countries' shapes, and on random printable text."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from veil.detect.recognizers.location import contains_street_address
from veil.detect.registry import default_registry
from veil.discovery import validators_vec as vv
from veil.sample import generate

REC = {r.name: r for r in default_registry()}["street_address"]


def _check(values: list[str]) -> np.ndarray:
    got = vv.street_twin(pa.array(values, type=pa.string()))
    wrong = [v for v, g in zip(values, got, strict=True) if g == 0.0 and contains_street_address(v)]
    assert not wrong, wrong[:5]
    full = vv.scores(REC, pa.array(values, type=pa.string()))
    assert full.tolist() == [REC.score_value(v) for v in values]
    return got


def test_street_address_uses_the_twin() -> None:
    assert vv.twin_of(REC) is vv.street_twin


def test_every_column_of_the_sample() -> None:
    t = pa.Table.from_batches(list(generate(4_000, seed=9)))
    values = sorted(
        {str(v) for col in t.columns for v in col.to_pylist() if v is not None and str(v)}
    )
    got = _check(values)
    assert (got == 0.0).mean() > 0.5  # most values are set aside without Python
    assert any(contains_street_address(v) for v in values)


_STREETS = [
    "12 High Street",
    "Hauptstraße 5",
    "Sölzerplatz 147",
    "221B Baker St",
    "rue de la Paix 3",
    "3 rue de la Paix",
    "Calle Mayor 10, 28013 Madrid",
    "Via Roma 1",
    "Kerkstraat 12a",
    "ul. Długa 5/7",
    "Av. da Liberdade 110",
    "Storgatan 4",
    "PO Box 12",
    "Flat 2, 10 Elm Rd",
    "44 Blake Tunnel Apt 5B",
    "115 Ortiz Extensions",
    "Rua Augusta 27, 1100-048 Lisboa",
]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from(_STREETS),
            st.builds(
                lambda a, b, c: f"{a}{b}{c}",
                st.sampled_from(["", "Flat 3, ", "c/o Anna, ", "x "]),
                st.sampled_from(_STREETS),
                st.sampled_from(["", ", 10115 Berlin", " 75001", "\t", "  Paris"]),
            ),
            st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40),
            st.text("0123456789 abcdefghijklmnopqrstuvwxyzABCSTR.,/-", max_size=40),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_generated_addresses_and_text(values: list[str]) -> None:
    _check(values)


def test_long_values_look_at_the_first_300_characters() -> None:
    pad = "x" * 295
    values = [pad + "12 High Street", "12 High Street " + pad, pad + " 12 Hi", "ab" * 400]
    _check(values)


def test_compound_street_words_standing_alone_go_to_the_validator() -> None:
    """A compound street word written apart ("Haupt strasse") or without a number after it:
    the prefilter once set these aside though the validator accepts them."""
    values = ["12 Haupt strasse", "221B Baker Weg", "3 Lange gasse", "12 Kerk straat",
              "1016 DV Weg", "Hauptstrasse 12", "plain words only"]
    _check(values)
    assert all(contains_street_address(v) for v in values[:6])
