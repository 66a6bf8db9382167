"""redact_text: the spans discovery finds, replaced by type, mask or pseudonym."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.transforms.conftest import Ctx
from veil.detect.text import Span
from veil.policy.model import FieldDef
from veil.transforms import REGISTRY, InMemoryTransformKeys
from veil.transforms.pseudonymize import pseudonyms
from veil.transforms.text import redact_spans

X = REGISTRY["redact_text"]
KEYS = InMemoryTransformKeys()
MEMO = "Transfer to Hans Müller, IBAN DE89 3704 0044 0532 0130 00, thanks"


def test_type_mode() -> None:
    out = X.apply(pa.array([MEMO, "no personal data here", None]), {}, Ctx(KEYS)).to_pylist()
    assert out[0] == "Transfer to <PERSON>, IBAN <IBAN>, thanks"
    assert out[1:] == ["no personal data here", None]


def test_pseudonym_mode_links_with_pseudonymize() -> None:
    out = X.apply(pa.array([MEMO, "Hans Müller paid"]), {"mode": "pseudonym"},
                  Ctx(KEYS)).to_pylist()
    full = pseudonyms(pa.array(["Hans Müller"]), KEYS.hmac_key("scoring")).to_pylist()[0]
    assert out[0].startswith(f"Transfer to <PERSON_{full[:8]}>, IBAN <IBAN_")
    assert out[1] == f"<PERSON_{full[:8]}> paid"  # the same person, the same pseudonym
    other = X.apply(pa.array(["Hans Müller paid"]), {"mode": "pseudonym", "length": 12},
                    Ctx(KEYS, purpose="fraud")).to_pylist()[0]
    assert other != out[1] and len(other) == len("<PERSON_>") + 12 + len(" paid")


def test_mask_mode_and_types_filter() -> None:
    out = X.apply(pa.array([MEMO]), {"mode": "mask", "types": ["iban"], "char": "#"},
                  Ctx(KEYS)).to_pylist()[0]
    assert "Hans Müller" in out and "DE89" not in out
    assert len(out) == len(MEMO) and "#" * 27 in out


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.text(alphabet="abcdefxyz 0123.,;", max_size=10),
                          st.text(alphabet="GHIJKLMQWXYZ", min_size=4, max_size=12)),
                min_size=1, max_size=5), st.sampled_from(["type", "mask", "pseudonym"]))
def test_spans_never_leak(parts: list[tuple[str, str]], mode: str) -> None:
    text, spans, pos = "", [], 0
    for filler, secret in parts:
        text += filler
        pos = len(text)
        text += secret
        spans.append(Span(pos, len(text), "person", 1.0))
    out = redact_spans([text], [spans], mode=mode, key=b"k" * 32)[0]
    assert out is not None
    for _, secret in parts:  # secrets' letters appear in neither fillers nor labels
        assert secret not in out
    if mode == "mask":
        assert len(out) == len(text)


def test_checks() -> None:
    with pytest.raises(ValueError, match="type integer"):
        X.check(FieldDef(category="free_text", type="integer"), {})
    with pytest.raises(ValueError, match="'length' is for mode: pseudonym"):
        X.check(FieldDef(category="free_text"), {"length": 8})
    with pytest.raises(ValueError, match="must be one of"):
        X.check(FieldDef(category="free_text"), {"mode": "erase"})
    with pytest.raises(ValueError, match="unknown span type"):
        X.apply(pa.array(["x"]), {"types": ["nonsense"]}, Ctx(KEYS))
