"""Column classification: by values, with the column name as support only."""

from __future__ import annotations

import datetime as dt
import json
import random
import time

import pyarrow as pa
import pytest
from faker import Faker
from stdnum import iban as std_iban

from veil.discovery import scan_table
from veil.errors import InputError


def _valid_ibans(fk: Faker, n: int) -> list[str]:
    out: list[str] = []
    while len(out) < n:
        v = fk.iban()
        if std_iban.is_valid(v):
            out.append(v)
    return out


@pytest.fixture(scope="module")
def table() -> pa.Table:
    fk = Faker(["de_DE", "fr_FR", "en_GB", "nl_NL"])
    fk.seed_instance(11)
    rnd = random.Random(11)
    n, ncust = 3000, 400
    ibans = _valid_ibans(fk, ncust)
    cust = [
        {
            "name": f"{fk.first_name()} {fk.last_name()}",
            "email": fk.email(),
            "iban": ibans[i],
            "phone": f"+49 30 {rnd.randint(100000, 9999999)}",
            "card": fk.credit_card_number(card_type=rnd.choice(["visa16", "mastercard"])),
            "dob": fk.date_of_birth(minimum_age=18, maximum_age=90),
            "street": fk.street_address(),
            "ip": fk.ipv4(),
        }
        for i in range(ncust)
    ]
    rows = [rnd.choice(cust) for _ in range(n)]
    return pa.table(
        {
            "customer_ref": [f"C{rnd.randint(1, 99999):06d}" for _ in range(n)],
            "full_name": [r["name"] for r in rows],
            "email": [r["email"] for r in rows],
            "x1": [r["iban"] for r in rows],  # no helpful name: found by value
            "phone": [round(rnd.uniform(1, 999), 2) for _ in range(n)],  # amounts, named phone
            "iban": [rnd.choice(["groceries", "rent", "salary", "fuel"]) for _ in range(n)],
            "mobile": [r["phone"] for r in rows],
            "card_number": [r["card"] for r in rows],
            "card_int": pa.array([int(r["card"]) for r in rows], pa.int64()),
            "date_of_birth": pa.array([r["dob"] for r in rows], pa.date32()),
            "value_date": pa.array([fk.date_this_year() for _ in range(n)], pa.date32()),
            "address": [r["street"] for r in rows],
            "client_ip": [r["ip"] for r in rows],
            "amount": [round(rnd.uniform(1, 5000), 2) for _ in range(n)],
            "amount_cents": pa.array([rnd.randint(100, 10**7) for _ in range(n)], pa.int64()),
            "mcc": pa.array(
                [rnd.choice([5411, 5812, 4111, 6011, 5999]) for _ in range(n)], pa.int32()
            ),
            "txn_id": [str(rnd.randint(10**15, 10**16 - 1)) for _ in range(n)],
            "txn_no": pa.array([rnd.randint(10**10, 10**12) for _ in range(n)], pa.int64()),
            "txn_uuid": [fk.uuid4() for _ in range(n)],
            "booked_at": pa.array([fk.date_time_this_year() for _ in range(n)], pa.timestamp("us")),
            "currency": [rnd.choice(["EUR", "USD", "GBP"]) for _ in range(n)],
            "merchant": [fk.company() for _ in range(n)],
            "memo": [
                f"Transfer to {r['name']} IBAN {r['iban']} ref {rnd.randint(1000, 99999)}"
                if rnd.random() < 0.5
                else f"Card payment at {fk.company()} order {rnd.randint(10, 9999)}"
                for r in rows
            ],
            "nothing": pa.array([None] * n, pa.string()),
            "counter": pa.array(range(n), pa.int64()),
            "flag": pa.array([rnd.random() < 0.5 for _ in range(n)]),
        }
    )


@pytest.fixture(scope="module")
def report(table: pa.Table):
    return scan_table(table)


EXPECTED = {
    "full_name": ("person", "direct_identifier", "pseudonymize"),
    "email": ("email", "contact", "pseudonymize"),
    "x1": ("iban", "account", "pseudonymize"),
    "mobile": ("phone", "contact", "mask"),
    "card_number": ("card", "card", "mask"),
    "card_int": ("card", "card", "mask"),
    "date_of_birth": ("date_of_birth", "demographic", "generalize"),
    "address": ("street_address", "location", "drop"),
    "client_ip": ("ip_address", "online_identifier", "generalize"),
    "memo": ("free_text", "free_text", "redact_text"),
}
NOT_PII = [
    "phone",
    "iban",
    "value_date",
    "amount",
    "amount_cents",
    "mcc",
    "txn_id",
    "txn_no",
    "txn_uuid",
    "booked_at",
    "currency",
    "merchant",
    "nothing",
    "counter",
    "flag",
]


@pytest.mark.parametrize("column", sorted(EXPECTED))
def test_pii_columns_classified(report, column: str) -> None:
    col = report.column(column)
    t, cat, rule = EXPECTED[column]
    assert col.pii and col.top_type == t, (column, col)
    assert (col.category, col.rule) == (cat, rule)
    assert col.confidence > 0.5
    if not col.free_text:
        assert col.types[0].share >= 0.7
        assert len(col.types[0].examples) == 2


@pytest.mark.parametrize("column", NOT_PII)
def test_non_pii_columns_not_flagged(report, column: str) -> None:
    col = report.column(column)
    assert not col.pii and col.types == [], (column, col.types)


def test_subject_key_flagged_by_name_only(report) -> None:
    """customer_ref matches no recognizer, but a subject's own key is personal data."""
    col = report.column("customer_ref")
    assert col.pii and col.subject_key and col.types == []
    assert (col.category, col.rule) == ("direct_identifier", "pseudonymize")
    assert not report.column("counter").subject_key


def test_name_is_support_only(report) -> None:
    assert report.column("x1").types[0].name_support is False  # found by its values alone
    assert report.column("card_number").types[0].name_support is True
    assert report.column("phone").types == []  # named "phone", holds amounts
    assert report.column("iban").types == []  # named "iban", holds words


def test_non_pii_columns_get_a_category_hint(report) -> None:
    assert report.column("amount").category == "transaction"
    assert report.column("mcc").category == "transaction"
    assert report.column("nothing").notes == ["all values are null"]


def test_free_text_summary(report) -> None:
    memo = report.column("memo")
    assert memo.free_text and memo.embedded.get("person", 0) > 1000
    assert memo.embedded.get("iban", 0) > 1000
    assert "card" not in memo.embedded


def test_report_never_holds_full_identifiers(table: pa.Table, report) -> None:
    text = json.dumps(report.to_dict(), default=str)
    for column in ("full_name", "email", "x1", "mobile", "card_number", "address", "client_ip"):
        for v in set(table.column(column).to_pylist()[:200]):
            assert str(v) not in text, column


def test_shares_are_of_non_null_values() -> None:
    t = pa.table({"email": ["a@example.org", None, "b@example.org", "not an email", None]})
    hit = scan_table(t).column("email").types[0]
    assert hit.rows == 2 and hit.share == pytest.approx(2 / 3, abs=1e-3)


def test_random_16_digit_ids_are_not_cards_real_cards_are() -> None:
    rnd = random.Random(3)
    ids = [str(rnd.randint(4 * 10**15, 5 * 10**15 - 1)) for _ in range(2000)]  # visa-like ids
    rep = scan_table(pa.table({"card": ids}))
    assert rep.column("card").types == []  # ~10% pass Luhn by chance: rejected


def test_streaming_inputs_and_sample_mode(table: pa.Table, report) -> None:
    small = table.select(["full_name", "x1", "amount"])
    batches = small.to_batches(max_chunksize=500)
    by_list = scan_table(batches)
    by_reader = scan_table(pa.RecordBatchReader.from_batches(small.schema, batches))
    for rep in (by_list, by_reader):
        assert rep.rows == table.num_rows and not rep.sampled
        assert rep.column("x1").top_type == "iban" and rep.column("full_name").top_type == "person"
        assert rep.column("x1").types[0].share == report.column("x1").types[0].share
    quick = scan_table(table, sample=200)
    assert quick.sampled and quick.rows == 200
    assert quick.column("x1").top_type == "iban"
    with pytest.raises(InputError):
        scan_table(table, sample=0)


def test_nested_dictionary_and_binary_columns() -> None:
    t = pa.table(
        {
            "contact": pa.array(
                [{"mail": "a@example.org", "n": 1}, {"mail": "b@example.org", "n": 2}] * 5
            ),
            "tags": pa.array([["a@example.org"], ["c@example.org", "d@example.org"]] * 5),
            "dict": pa.array(
                ["DE89370400440532013000", "GB82WEST12345698765432"] * 5
            ).dictionary_encode(),
            "raw": pa.array([b"\xff\xfe\xfa", b"x@example.org"] * 5, pa.binary()),
        }
    )
    rep = scan_table(t)
    assert rep.column("contact.mail").top_type == "email"
    assert rep.column("contact.n").types == []
    assert rep.column("tags[]").top_type == "email"
    assert rep.column("dict").top_type == "iban"
    raw = rep.column("raw")
    assert any("UTF-8" in n for n in raw.notes)


def test_empty_table_and_no_columns() -> None:
    t = pa.table({"a": pa.array([], pa.string()), "b": pa.array([], pa.int64())})
    rep = scan_table(t)
    assert rep.rows == 0 and [c.name for c in rep.columns] == ["a", "b"]
    assert all(c.notes == ["no values"] and not c.pii for c in rep.columns)
    assert "the table has no rows" in rep.notes
    assert scan_table(pa.table({})).columns == []
    with pytest.raises(InputError):
        scan_table(42)


def test_huge_cell_is_bounded_and_reported() -> None:
    big = "x" * 10_000_000
    t = pa.table({"note": [big, "a@example.org", "b@example.org"], "iban": [big, None, None]})
    t0 = time.process_time()  # a hang guard (CPU seconds: a busy machine does not trip it)
    rep = scan_table(t)
    assert time.process_time() - t0 < 30
    assert rep.column("iban").truncated_values == 1
    assert any("longer than" in n for n in rep.column("iban").notes)
    assert rep.column("note").top_type == "email"


def test_dates_of_birth_need_the_name_and_plausible_values() -> None:
    today = dt.date.today()
    births = [dt.date(1950 + i % 50, 1 + i % 12, 1 + i % 28) for i in range(100)]
    rep = scan_table(
        pa.table(
            {
                "birthdate": pa.array(births, pa.date32()),
                "signup": pa.array(births, pa.date32()),
                "born_at": pa.array([dt.datetime(1980, 1, 1, 13, 5)] * 100, pa.timestamp("s")),
                "dob": pa.array([today + dt.timedelta(days=30)] * 100, pa.date32()),
                "dob_text": [b.strftime("%d.%m.%Y") for b in births],
            }
        )
    )
    assert rep.column("birthdate").top_type == "date_of_birth"
    assert rep.column("signup").types == []  # name gives no support: a date is not a birth date
    assert rep.column("born_at").types == []  # has a time of day: an event
    assert rep.column("dob").types == []  # in the future
    assert rep.column("dob_text").top_type == "date_of_birth"


def test_pandas_frames_including_mixed_object_columns() -> None:
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(
        {
            "contact": ["a@example.org", "b@example.org"] * 5,
            "mixed": [1, "DE89370400440532013000"] * 5,
            "maybe": [None, "c@example.org"] * 5,
        }
    )
    rep = scan_table(df)
    assert rep.column("contact").top_type == "email"
    assert rep.column("mixed").top_type == "iban"
    assert rep.column("maybe").non_null == 5
