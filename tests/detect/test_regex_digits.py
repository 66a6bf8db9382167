"""The digit bound read from a regex never exceeds the digits of a real match (skipping a
group on it can never lose a span), and is tight on plain shapes."""

from __future__ import annotations

import re

import pytest
from test_one_text_and_batches_agree import PIECES

from veil.detect.regex_digits import min_digits
from veil.detect.registry import builtin_recognizers


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (r"\d{3}-\d{2}-\d{4}", 9),
        (r"[A-Z]{2}\d{2}(?:[ ]?[0-9]{4}){2,}", 10),
        (r"(?:\d{8}|[A-Z]\d{2})", 2),
        (r"[0-9a-f]{4}", 0),
        (r"(?=\d{5})x\d?", 0),
        (r"[^\d]5", 1),
        (r"(?i:ab)(?P<value>\d{3})", 3),
        (r"(", 0),  # unreadable: no bound
    ],
)
def test_bound_on_plain_shapes(pattern: str, expected: int) -> None:
    assert min_digits(pattern) == expected


def test_bound_never_exceeds_a_real_match() -> None:
    texts = PIECES + [" ".join(PIECES)]
    checked = 0
    for rec in builtin_recognizers():
        bound = min_digits(rec.pattern, rec.flags)
        for text in texts:
            for m in re.finditer(rec.pattern, text, rec.flags):
                assert len(re.findall(r"\d", m.group())) >= bound, (rec.name, m.group())
                checked += 1
    assert checked > 50
