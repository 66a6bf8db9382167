"""Discovery against the project's synthetic data generator (veil.sample), whose memo labels
are exact by construction: the quality bars of the discovery core, measured on its output."""

from __future__ import annotations

import pyarrow as pa
import pytest

generator = pytest.importorskip("veil.sample.generator")

from veil.discovery import find_spans, scan_table  # noqa: E402


@pytest.fixture(scope="module")
def sample() -> pa.Table:
    return pa.Table.from_batches(list(generator.generate(4000, seed=5, with_labels=True)))


def _f1(gold: list[set], pred: list[set], types: set[str] | None = None) -> float:
    tp = fp = fn = 0
    for g, p in zip(gold, pred, strict=True):
        if types is not None:
            g = {s for s in g if s[2] in types}
            p = {s for s in p if s[2] in types}
        tp += len(g & p)
        fp += len(p - g)
        fn += len(g - p)
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def test_memo_span_quality(sample: pa.Table) -> None:
    gold = [
        {(s["start"], s["end"], s["type"]) for s in (spans or [])}
        for spans in sample.column("memo_spans").to_pylist()
    ]
    pred = [
        {(s.start, s.end, s.type) for s in spans} for spans in find_spans(sample.column("memo"))
    ]
    assert _f1(gold, pred) >= 0.90
    assert _f1(gold, pred, {"card", "iban", "vat", "national_id", "us_ssn"}) >= 0.99
    assert _f1(gold, pred, {"person"}) >= 0.75


def test_columns_of_the_sample_table(sample: pa.Table) -> None:
    rep = scan_table(sample.drop_columns(["memo_spans"]))
    expected = {
        "full_name": "person",
        "email": "email",
        "phone": "phone",
        "birth_date": "date_of_birth",
        "national_id": "national_id",
        "street_address": "street_address",
        "postcode": "postcode",
        "iban": "iban",
        "bic": "bic",
        "card_number": "card",
        "vat_number": "vat",
        "ip_address": "ip_address",
        "memo": "free_text",
    }
    for name, t in expected.items():
        assert rep.column(name).top_type == t, name
    assert rep.column("customer_id").subject_key  # personal by its name, not by its values
    for name in (
        "transaction_id",
        "amount",
        "account_balance",
        "annual_income",
        "transaction_time",
        "merchant",
        "merchant_category",
        "currency",
        "is_fraud",
    ):
        assert not rep.column(name).pii, name
