"""redact, replace, mask."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.transforms.conftest import Ctx, make_ctx
from veil.policy.model import FieldDef
from veil.transforms import REGISTRY, treat_batch
from veil.transforms.basic import mask_value, replace_values

R, RE, M = REGISTRY["redact"], REGISTRY["replace"], REGISTRY["mask"]


def test_redact_keeps_type_and_removes_values() -> None:
    out = R.apply(pa.array([1.5, None, 2.0]), {}, Ctx())
    assert out.type == pa.float64() and out.null_count == 3


def test_replace_value_or_type_name(tmp_path) -> None:  # type: ignore[no-untyped-def]
    f = FieldDef(category="contact")
    assert replace_values(pa.array(["a@b.c", None]), f, {}).to_pylist() == ["<CONTACT>", None]
    assert replace_values(pa.array(["a", None]), f, {"keep_nulls": False}).to_pylist() == \
        ["<CONTACT>", "<CONTACT>"]
    fi = FieldDef(category="demographic", type="integer")
    out = replace_values(pa.array([31, 45]), fi, {"value": -1})
    assert out.type == pa.int64() and out.to_pylist() == [-1, -1]
    # through the Treat body: the field's category comes from the run's plan
    ctx, plan, active = make_ctx(tmp_path, {"name": "replace", "age": "{transform: replace, "
                                            "value: 0}"})
    batch = pa.RecordBatch.from_pydict({"name": ["Hans", None], "age": pa.array([3, 4])})
    out = treat_batch(batch, active, ctx.transforms)
    assert out.column(0).to_pylist() == ["<DIRECT_IDENTIFIER>", None]
    assert out.column(1).to_pylist() == [0, 0]


def test_replace_checks() -> None:
    with pytest.raises(ValueError, match="is not a integer"):
        RE.check(FieldDef(category="demographic", type="integer"), {"value": "n/a"})
    with pytest.raises(ValueError, match="has no parameter"):
        RE.check(FieldDef(category="contact"), {"with": "x"})
    assert RE.output_type(FieldDef(category="x", type="integer"), {}) == "string"
    assert RE.output_type(FieldDef(category="x", type="integer"), {"value": 1}) == "integer"


def test_mask_iban_card_plain() -> None:
    assert mask_value("DE89 3704 0044 0532 0134 56") == "DE** **** **** **** **34 56"
    assert mask_value("DE89370400440532013456") == "DE** **** **** **** **34 56"
    assert mask_value("4111 1111 1111 1111") == "**** **** **** 1111"
    assert mask_value("4111-1111-1111-1111", keep_first=6) == "4111-11**-****-1111"
    assert mask_value("hans.mueller@example.com", "plain", 1, 0) == "h" + "*" * 23
    out = M.apply(pa.array(["DE89370400440532013456", None, "+49 170 1234567"]), {}, Ctx())
    assert out.to_pylist() == ["DE** **** **** **** **34 56", None, "***********4567"]
    plain = M.apply(pa.array(["abcdefghij", "klmnopqrst"]),
                    {"format": "plain", "keep_first": 2, "keep_last": 2, "char": "#"}, Ctx())
    assert plain.to_pylist() == ["ab######ij", "kl######st"]


@settings(max_examples=100, deadline=None)
@given(st.text(min_size=1, max_size=30), st.integers(0, 10), st.integers(0, 10),
       st.sampled_from(["plain", "auto"]))
def test_mask_never_shows_a_whole_value(v: str, first: int, last: int, fmt: str) -> None:
    out = M.apply(pa.array([v]), {"keep_first": first, "keep_last": last, "format": fmt},
                  Ctx()).to_pylist()[0]
    assert len(out) <= max(len(v), 32)
    if len(v.strip()) > 0 and "*" not in v:
        assert v != out and "*" in out


def test_mask_checks() -> None:
    with pytest.raises(ValueError, match="type integer"):
        M.check(FieldDef(category="x", type="integer"), {})
    with pytest.raises(ValueError, match="one character"):
        M.check(FieldDef(category="x"), {"char": "**"})
    with pytest.raises(ValueError, match="must be one of"):
        M.check(FieldDef(category="x"), {"format": "phone"})
