"""The batched span finder (prefilters, digit counts, context-word look-ups, the memo of texts
already scanned) gives exactly the spans of a plain reference: every group's regex run over
every text alone, with no prefilter and no memo.

Varied texts: payment memos of many countries (the pieces of the one-text-and-batches test),
the sample's generated memos, the hand-written held-out texts, texts in other scripts and in
full-width forms, with zero-width and no-break spaces, repeated texts (memo hits) and random
mixes of all of these (hypothesis).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from evalset import DATA, parse_line
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_one_text_and_batches_agree import PIECES, _texts

from veil.detect.normalize import normalize
from veil.detect.text import SMALL_TEXTS, Span, SpanFinder

_ONE = np.zeros(1, dtype=np.int64)
_WIDE = str.maketrans("0123456789", "０１２３４５６７８９")
EXTRA = [
    "Steueridentifikationsnummer 86095742719",
    "Überweisung an Jürgen Weißmüller, IBAN DE51 1141 7075 3645 5681 51",
    "رقم ٣٤٥٦٧٨٩٠١٢ للعميل",
    "Zahlung an Frau Dr. Anna\u00a0Schmidt, Tel.\u00a0+49\u00a030\u00a0123456",
    "karta 4111\u200b1111 1111 1111",
    "Cafe\u0301 de Flore, Paris 75006",
    "Transfer to john smith for rent",
    "",
    "x",
]


def reference(finder: SpanFinder, text: str) -> list[Span]:
    """Every group over one normalized text: no prefilter, no digit count, no memo."""
    norm = normalize(text.replace("\x00", " "))
    t = norm.text
    cands: dict = {}
    vetoes: dict = {}
    for group in finder.groups:
        finder._scan_group(group, t, [0], _ONE, [t], cands, vetoes)
    got = finder._resolved([t], cands, vetoes, [[]])[0]
    return [Span(*norm.span(s.start, s.end), s.type, s.score, s.recognizer) for s in got]


def _corpus() -> list[str]:
    from veil.sample.generator import generate

    memos = [m for b in generate(400, seed=5) for m in b.column("memo").to_pylist() if m]
    held = []
    for name in ("names_dev.txt", "names_test.txt", "names_holdout.txt"):
        for line in (DATA / name).read_text(encoding="utf-8").splitlines():
            if line and not line.startswith("#"):
                held.append(parse_line(line)[0])
    base = _texts(300, seed=33) + memos + held + EXTRA
    wide = [t.translate(_WIDE) for t in base[:60]]
    spaced = [t.replace(" ", "\u00a0", 2) for t in base[60:120]]
    return base + wide + spaced + base[:50]  # the last 50 again: memo hits in the same batch


FINDER = SpanFinder()
CORPUS = _corpus()
EXPECTED = {t: reference(FINDER, t) for t in set(CORPUS)}


def test_batched_spans_equal_the_reference_on_a_varied_corpus() -> None:
    assert len(CORPUS) > 1000
    got = SpanFinder().find(pa.array(CORPUS))  # fresh: no memo yet
    assert got == [EXPECTED[t] for t in CORPUS]
    assert sum(map(len, got)) > len(CORPUS) // 2  # the texts do hold personal data
    again = FINDER.find(CORPUS[::-1])  # memo hits, in another order
    assert again == [EXPECTED[t] for t in CORPUS[::-1]]


def test_a_few_texts_and_one_text_equal_the_reference() -> None:
    finder = SpanFinder()
    few = CORPUS[:SMALL_TEXTS]
    assert finder.find(few) == [EXPECTED[t] for t in few]
    for t in CORPUS[200:260]:
        assert SpanFinder().find([t])[0] == EXPECTED[t]


_PIECE = st.sampled_from(sorted(set(PIECES + EXTRA + CORPUS[300:700])))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.lists(_PIECE, min_size=1, max_size=4).map(
            lambda ps: ", ".join(p.translate(_WIDE) if len(p) % 7 == 0 else p for p in ps)
        ),
        min_size=SMALL_TEXTS + 1,
        max_size=60,
    )
)
def test_random_mixes_of_pieces_equal_the_reference(texts: list[str]) -> None:
    got = FINDER.find(texts)
    assert got == [reference(FINDER, t) for t in texts]
