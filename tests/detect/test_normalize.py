"""Normalization before matching (NFKC, zero-width characters, special spaces) and spans that
map back to the caller's offsets exactly; long texts scanned whole, in linear time."""

from __future__ import annotations

import time
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from veil.detect import find_spans
from veil.detect.normalize import SPACES, ZERO_WIDTH, normalize
from veil.detect.text import TextTruncated

IBAN = "DE89 3704 0044 0532 0130 00"
CARD = "4111 1111 1111 1111"


def _found(text: str) -> set[tuple[str, str]]:
    return {(text[s.start : s.end], s.type) for s in find_spans([text])[0]}


@pytest.mark.parametrize(
    ("text", "value", "type_"),
    [
        (f"IBAN {IBAN.replace(' ', chr(0xA0))} rent", IBAN.replace(" ", chr(0xA0)), "iban"),
        (f"IBAN {IBAN.replace(' ', chr(0x202F))}", IBAN.replace(" ", chr(0x202F)), "iban"),
        (
            "card 4111\u200b1111\u200b1111\u200b1111 ok",
            "4111\u200b1111\u200b1111\u200b1111",
            "card",
        ),
        (
            "card ４１１１ １１１１ １１１１ １１１１ ok",
            "４１１１ １１１１ １１１１ １１１１",
            "card",
        ),
        ("mail ａｎｎａ@example.org now", "ａｎｎａ@example.org", "email"),
        ("Transfer to\u00a0Kwame\u00a0Mensah today", "Kwame\u00a0Mensah", "person"),
    ],
)
def test_special_characters_inside_identifiers(text: str, value: str, type_: str) -> None:
    assert (value, type_) in _found(text)


def test_identity_for_plain_text() -> None:
    for t in ["plain ascii", "Müller café, naïve", ""]:
        n = normalize(t)
        assert n.text == t and n.identity


_ALPHABET = st.sampled_from(
    list("abc XYZ019-.,") + list(ZERO_WIDTH) + list(SPACES) + ["\u0301", "ﬁ", "①", "５", "é"]
)


@settings(max_examples=300, deadline=None)
@given(st.text(_ALPHABET, max_size=40), st.data())
def test_spans_map_back_to_the_original(text: str, data: st.DataObject) -> None:
    n = normalize(text)
    if not n.text:
        return
    s = data.draw(st.integers(0, len(n.text) - 1))
    e = data.draw(st.integers(s + 1, len(n.text)))
    a, b = n.span(s, e)
    assert 0 <= a < b <= len(text)
    # the original slice normalizes to the normalized slice (whole clusters at the ends)
    assert n.text[s:e] in normalize(text[a:b]).text
    # nothing outside the slice belongs to it: one character less on either side loses it
    if b - a > 1 and text[a] not in ZERO_WIDTH:
        assert normalize(text[a + 1 : b]).text != normalize(text[a:b]).text


_PII = [f"IBAN {IBAN}", f"card {CARD}", "mail anna.schmidt@example.org", "Dear Mr Kwame Mensah"]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from(_PII + ["rent", "thanks", "ok 42"]), min_size=1, max_size=5), st.data()
)
def test_zero_width_characters_change_nothing(parts: list[str], data: st.DataObject) -> None:
    clean = " ".join(parts)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(clean)), max_size=6)))
    noisy, pos = [], 0
    for c in cuts:
        noisy.append(clean[pos:c])
        noisy.append("\u200b")
        pos = c
    noisy.append(clean[pos:])
    text = "".join(noisy)
    got = sorted(
        (text[s.start : s.end].replace("\u200b", ""), s.type) for s in find_spans([text])[0]
    )
    want = sorted((clean[s.start : s.end], s.type) for s in find_spans([clean])[0])
    assert got == want
    spans = find_spans([text])[0]
    assert all(a.end <= b.start for a, b in zip(spans, spans[1:], strict=False))


def test_long_text_scanned_whole_and_limit_reported() -> None:
    filler = "nothing to see here. " * 10_000  # 210,000 characters
    text = filler + f"card {CARD} end"
    spans = find_spans([text])[0]
    assert [(text[s.start : s.end], s.type) for s in spans] == [(CARD, "card")]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert find_spans([text], max_chars=1_000) == [[]]
    assert any(issubclass(w.category, TextTruncated) for w in caught)


def test_a_span_across_a_piece_boundary_is_found_once() -> None:
    from veil.detect.pieces import PIECE

    text = "x" * (PIECE - 10) + f" card {CARD} " + "y" * PIECE
    spans = find_spans([text])[0]
    assert [(text[s.start : s.end], s.type) for s in spans] == [(CARD, "card")]


def test_time_is_linear_in_length() -> None:
    unit = f"Paid Kwame Mensah IBAN {IBAN} and call anna.schmidt@example.org. Nothing else. "
    find_spans([unit * 10])

    def cost(k: int) -> float:
        text = unit * k
        best = float("inf")
        for _ in range(2):
            t = time.process_time()
            find_spans([text])
            best = min(best, time.process_time() - t)
        return best

    small, big = cost(600), cost(2_400)  # ~50,000 and ~200,000 characters
    assert big / small < 6.0, (small, big)


def test_one_text_and_many_texts_give_the_same_spans() -> None:
    """The small-input path (Python gates) and the batch path (RE2 over Arrow) agree: the
    gates are supersets of the RE2 prefilters."""
    from evalset import load

    texts = [e.text for name in ("names_dev", "names_test") for e in load(name)]
    texts += [
        f"IBAN {IBAN}",
        f"card {CARD}",
        "Delivery to 12 Baker Street, London",
        "zip 75001 Paris",
        "Lieferung an Müllerstraße 5, 10115 Berlin",
        "DOB: 1985-03-12",
        "d.o.b 03/04/1985",
        "NIR 1 78 07 62 658 789 33",
        "Steuernummer 21/815/08150",
        "ip 64:ff9b::192.0.2.33",
        "see https://example.org/x",
        "Tel. 0612345678",
        "codice fiscale RSSMRA85T10A562S",
    ]
    batch = find_spans(texts)  # more than 16 texts: pyarrow's RE2 prefilters
    single = [find_spans([t])[0] for t in texts]  # one at a time: the Python gates
    assert batch == single
