"""An event's canonical bytes (written by Veil's fast path when it holds no float) equal what
the reference ``rfc8785`` package writes for the same JSON object, whatever the text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from veil.audit.event import AuditEvent

TEXT = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=12)
KEYS = st.one_of(TEXT, st.sampled_from(["a", "B", "rows_in", "é", "\U0001f600", "\ufb01"]))
SCALARS = st.one_of(st.none(), st.booleans(), TEXT, st.integers(-(2**53) + 1, 2**53 - 1))
PSEUDO = st.from_regex(r"[a-z]{1,8}:[A-Za-z0-9_-]{32,40}", fullmatch=True)


@settings(max_examples=50, deadline=None)
@given(
    actor=TEXT,
    purpose=TEXT,
    details=st.dictionaries(KEYS, SCALARS, max_size=4),
    counts=st.dictionaries(KEYS, st.integers(0, 2**53 - 1), max_size=3),
    digests=st.dictionaries(KEYS, TEXT, max_size=2),
    cats=st.lists(TEXT, max_size=3),
    subjects=st.lists(PSEUDO, max_size=3),
    us=st.integers(0, 10**15),
)
def test_fast_bytes_equal_the_reference(
    actor, purpose, details, counts, digests, cats, subjects, us
) -> None:
    e = AuditEvent(
        time=datetime(1990, 1, 1, tzinfo=UTC) + timedelta(microseconds=us),
        actor=actor if actor.strip() else "x",
        action="a.b",
        purpose=purpose if purpose.strip() else "p",
        legal_basis="consent",
        outcome="success",
        data_categories=cats,
        counts=counts,
        subjects=subjects,
        digests=digests,
        details=details,
    )
    assert e.canonical_bytes() == rfc8785.dumps(e.to_json_obj())
    assert AuditEvent.from_canonical_bytes(e.canonical_bytes()) == e


def test_control_characters_and_old_years_match_the_reference() -> None:
    e = AuditEvent(
        time=datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC),
        actor='a\x00\x1f\x7f\u2028"\\',
        action="x",
        purpose="p\n\t\r\b\f",
        legal_basis="b",
        outcome="o",
        details={"k": "\x0b", "n": None, "t": True, "i": -5},
    )
    assert e.canonical_bytes() == rfc8785.dumps(e.to_json_obj())
    assert b'"time":"0999-01-02T03:04:05.000000Z"' in e.canonical_bytes()


def test_a_lone_surrogate_is_named() -> None:
    import pytest

    from veil.errors import AuditError

    with pytest.raises(AuditError, match="details is not valid Unicode"):
        AuditEvent(
            time=datetime(2024, 1, 1, tzinfo=UTC),
            actor="a",
            action="x",
            purpose="p",
            legal_basis="b",
            outcome="o",
            details={"k": "\ud800"},
        )
