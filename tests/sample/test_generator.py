"""The sample generator: determinism, schema, identifier validity, exact memo labels, writers."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
import warnings
from pathlib import Path

import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from schwifty import BIC, IBAN
from schwifty.exceptions import NationalChecksumNotVerified, SchwiftyException
from stdnum import luhn
from stdnum.eu import vat as eu_vat
from stdnum.us import ssn as us_ssn

from veil.errors import VeilError
from veil.sample import CATEGORIES, SCHEMA, SPAN_TYPES, generate, write_sample
from veil.sample import generator as gen_mod
from veil.sample.customers import build_pool
from veil.sample.identifiers import NATIONAL_ID_VALIDATORS, card_valid
from veil.sample.locales import COUNTRIES

ROWS = 3000
REGIONS = [c.cc for c in COUNTRIES]


@pytest.fixture(scope="module")
def table() -> pa.Table:
    return pa.Table.from_batches(list(generate(ROWS, seed=7, with_labels=True)))


def _digest(batches) -> bytes:
    sink = pa.BufferOutputStream()
    batches = list(batches)
    with pa.ipc.new_stream(sink, batches[0].schema) as writer:
        for b in batches:
            writer.write_batch(b)
    return sink.getvalue().to_pybytes()


def _iban_ok(value: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NationalChecksumNotVerified)
            IBAN(value).validate(validate_bban=True)
    except SchwiftyException:
        return False
    return True


def _phone_ok(value: str, regions=REGIONS) -> bool:
    for region in [None, *regions]:
        try:
            if phonenumbers.is_valid_number(phonenumbers.parse(value, region)):
                return True
        except phonenumbers.NumberParseException:
            continue
    return False


# --- determinism and shape ------------------------------------------------------------------


def test_same_seed_gives_identical_bytes_and_batch_size_does_not_matter() -> None:
    a = _digest(generate(1500, seed=3))
    b = _digest(generate(1500, seed=3))
    assert a == b
    small = pa.Table.from_batches(list(generate(1500, seed=3, batch_size=400)))
    big = pa.Table.from_batches(list(generate(1500, seed=3)))
    assert small.equals(big)


def test_different_seed_gives_different_data() -> None:
    a = pa.Table.from_batches(list(generate(800, seed=1)))
    b = pa.Table.from_batches(list(generate(800, seed=2)))
    assert a.schema == b.schema
    assert not a.equals(b)
    assert a.column("national_id").to_pylist() != b.column("national_id").to_pylist()


def test_batches_respect_batch_size_and_row_count() -> None:
    batches = list(generate(1000, seed=0, batch_size=300))
    assert [b.num_rows for b in batches] == [300, 300, 300, 100]
    assert list(generate(0)) == []


def test_chunk_boundaries_are_invisible(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gen_mod, "CHUNK", 256)
    batches = list(generate(1000, seed=4, batch_size=300))
    assert sum(b.num_rows for b in batches) == 1000
    table = pa.Table.from_batches(batches)
    assert len(set(table.column("transaction_id").to_pylist())) == 1000
    assert table.equals(pa.Table.from_batches(list(generate(1000, seed=4, batch_size=1000))))


def test_schema_and_categories(table: pa.Table) -> None:
    assert table.schema.remove(table.schema.get_field_index("memo_spans")) == SCHEMA
    assert SCHEMA.field("birth_date").type == pa.date32()
    assert SCHEMA.field("transaction_time").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("memo_spans").type == pa.list_(
        pa.struct([("start", pa.int32()), ("end", pa.int32()), ("type", pa.string())])
    )
    assert set(CATEGORIES) == set(SCHEMA.names)
    from veil.policy import load_policy
    from veil.sample import SAMPLE_POLICY

    declared = load_policy(SAMPLE_POLICY).datasets["transactions"].fields
    assert {k: f.category for k, f in declared.items()} == CATEGORIES
    for name in SCHEMA.names:
        if name not in ("iban", "vat_number"):
            assert table.column(name).null_count == 0, name


def test_bad_arguments_raise_veil_errors(tmp_path: Path) -> None:
    with pytest.raises(VeilError):
        list(generate(-1))
    with pytest.raises(VeilError):
        list(generate(10, batch_size=0))
    with pytest.raises(VeilError):
        list(generate(10, seed=-3))
    with pytest.raises(VeilError):
        write_sample(tmp_path / "out.xlsx", 10)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_write_zero_rows(tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"empty{suffix}"
    assert write_sample(out, 0) == 0
    if suffix == ".csv":
        assert pacsv.read_csv(out).column_names == SCHEMA.names
    elif suffix == ".parquet":
        assert pq.read_schema(out).names == SCHEMA.names
    else:
        assert out.read_text(encoding="utf-8") == ""


# --- identifiers ----------------------------------------------------------------------------


IDENTIFIER_COLUMNS = [
    "customer_id",
    "email",
    "phone",
    "country",
    "national_id",
    "iban",
    "bic",
    "card_number",
    "vat_number",
    "ip_address",
    "employment_status",
    "birth_date",
    "gender",
]


def test_every_identifier_validates(table: pa.Table) -> None:
    _check_identifiers(table.select(IDENTIFIER_COLUMNS).to_pylist())


def test_identifiers_of_three_thousand_customers_validate() -> None:
    """The row test sees a few hundred customers; this one checks a pool of 3,000 directly."""
    pool = build_pool(3000, seed=11)
    customers = pa.table({k: pa.array(v, SCHEMA.field(k).type) for k, v in pool.columns.items()})
    rows = customers.select(IDENTIFIER_COLUMNS).to_pylist()
    _check_identifiers(rows)
    assert len({r["customer_id"] for r in rows}) == 3000
    ibans = [r["iban"] for r in rows if r["iban"]]
    assert len(set(ibans)) == len(ibans)


def _check_identifiers(rows: list[dict]) -> None:
    seen_vat = 0
    for row in rows:
        cc = row["country"]
        assert re.fullmatch(r"CUST-\d{7}", row["customer_id"])
        assert re.fullmatch(r"[a-z0-9._-]+@[a-z0-9.-]+\.[a-z]+", row["email"]), row["email"]
        assert phonenumbers.is_valid_number(phonenumbers.parse(row["phone"], cc)), row
        assert NATIONAL_ID_VALIDATORS[cc](row["national_id"]), row
        if cc == "US":
            assert row["iban"] is None
            assert us_ssn.is_valid(row["national_id"])
        else:
            assert _iban_ok(row["iban"]), row
            assert row["iban"][:2] == cc
            assert BIC(row["bic"]).country_code == cc
        BIC(row["bic"])
        assert card_valid(row["card_number"]) and luhn.is_valid(row["card_number"])
        if row["employment_status"] == "self_employed" and cc != "US":
            assert row["vat_number"] is not None and eu_vat.is_valid(row["vat_number"]), row
            assert row["vat_number"][:2] == cc
            seen_vat += 1
        else:
            assert row["vat_number"] is None
        assert ipaddress.ip_address(row["ip_address"]).is_global
    assert seen_vat > 20
    assert {r["country"] for r in rows} == set(REGIONS)


def test_national_ids_agree_with_birth_date_and_sex(table: pa.Table) -> None:
    from stdnum.it import codicefiscale
    from stdnum.pl import pesel
    from stdnum.se import personnummer

    checked = 0
    for row in table.select(["country", "national_id", "birth_date", "gender"]).to_pylist():
        cc, nid, born, sex = row["country"], row["national_id"], row["birth_date"], row["gender"]
        if cc == "PL":
            assert pesel.get_birth_date(nid) == born
            if sex != "diverse":
                assert pesel.get_gender(nid) == ("M" if sex == "male" else "F")
            checked += 1
        elif cc == "SE":
            assert personnummer.get_birth_date(nid) == born
            checked += 1
        elif cc == "IT":
            assert codicefiscale.get_birth_date(nid).replace(year=born.year) == born
            checked += 1
    assert checked > 100


def test_cards_have_realistic_brand_prefixes(table: pa.Table) -> None:
    cards = table.column("card_number").to_pylist()
    visa = sum(c.startswith("4") for c in cards)
    amex = sum(c[:2] in ("34", "37") for c in cards)
    mc = len(cards) - visa - amex
    assert visa > mc > amex > 0


def test_phone_formats_vary(table: pa.Table) -> None:
    phones = table.column("phone").to_pylist()
    assert any(p.startswith("+") and " " not in p for p in phones)  # E.164
    assert any(p.startswith("+") and " " in p for p in phones)  # international
    assert any(not p.startswith("+") for p in phones)  # national


# --- memos and their labels -----------------------------------------------------------------


def _label_ok(kind: str, text: str) -> bool:
    if kind == "iban":
        return _iban_ok(text.upper())
    if kind == "card":
        return card_valid(re.sub(r"[ -]", "", text))
    if kind == "phone":
        return _phone_ok(text)
    if kind == "email":
        return re.fullmatch(r"[a-z0-9._-]+@[a-z0-9.-]+\.[a-z]+", text) is not None
    if kind == "vat":
        return eu_vat.is_valid(text)
    if kind == "bic":
        BIC(text)
        return True
    if kind == "national_id":
        return any(validate(text) for cc, validate in NATIONAL_ID_VALIDATORS.items() if cc != "US")
    if kind == "us_ssn":
        return us_ssn.is_valid(text)
    if kind == "ip_address":
        return ipaddress.ip_address(text).is_global
    if kind == "date_of_birth":
        return re.search(r"(19|20)?\d\d", text) is not None and any(ch.isdigit() for ch in text)
    if kind == "person":
        return text[0].isupper() and not any(ch.isdigit() for ch in text)
    if kind in ("postcode", "account_number", "passport"):
        return any(ch.isdigit() for ch in text)
    if kind == "street_address":
        return any(ch.isalpha() for ch in text)
    return False


def test_spans_are_exact_and_valid(table: pa.Table) -> None:
    seen: set[str] = set()
    for memo, spans in zip(
        table.column("memo").to_pylist(), table.column("memo_spans").to_pylist(), strict=True
    ):
        previous_end = 0
        for span in spans:
            start, end, kind = span["start"], span["end"], span["type"]
            assert kind in SPAN_TYPES
            assert 0 <= previous_end <= start < end <= len(memo), (memo, spans)
            text = memo[start:end]
            assert text == text.strip() and text, (memo, span)
            assert _label_ok(kind, text), (kind, text, memo)
            seen.add(kind)
            previous_end = end
    assert seen == set(SPAN_TYPES), set(SPAN_TYPES) - seen


def test_memos_without_labels_hold_no_obvious_pii(table: pa.Table) -> None:
    iban_like = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){3,7}(?: ?[A-Z0-9]{1,3})?\b")
    card_like = re.compile(r"\b\d(?:[ -]?\d){14,15}\b")
    for memo, spans in zip(
        table.column("memo").to_pylist(), table.column("memo_spans").to_pylist(), strict=True
    ):
        if spans:
            continue
        assert "@" not in memo, memo
        for m in iban_like.finditer(memo):
            assert not _iban_ok(m.group()), memo
        for m in card_like.finditer(memo):
            assert not card_valid(re.sub(r"[ -]", "", m.group())), memo


def test_share_of_memos_without_pii(table: pa.Table) -> None:
    empty = pc.sum(pc.equal(pc.list_value_length(table.column("memo_spans")), 0)).as_py()
    assert 0.35 <= empty / table.num_rows <= 0.45


def test_memos_mention_people_who_are_not_the_customer(table: pa.Table) -> None:
    others = 0
    for name, memo, spans in zip(
        table.column("full_name").to_pylist(),
        table.column("memo").to_pylist(),
        table.column("memo_spans").to_pylist(),
        strict=True,
    ):
        for span in spans:
            if span["type"] == "person" and memo[span["start"] : span["end"]] != name:
                others += 1
    assert others > 200


def test_memo_wording_is_varied(table: pa.Table) -> None:
    memos = table.column("memo").to_pylist()
    assert len(set(memos)) > 0.7 * len(memos)
    assert any("Überweisung" in m or "Miete" in m for m in memos)
    assert any("Virement" in m or "Loyer" in m for m in memos)
    assert any("Bizum" in m or "Transferencia" in m for m in memos)


# --- realism --------------------------------------------------------------------------------


def test_numbers_look_like_a_bank(table: pa.Table) -> None:
    fraud = pc.mean(table.column("is_fraud").cast(pa.float64())).as_py()
    assert 0.003 <= fraud <= 0.025
    customers = table.group_by("customer_id").aggregate(
        [("loan_default", "max"), ("annual_income", "max"), ("country", "max")]
    )
    default = pc.mean(customers.column("loan_default_max").cast(pa.float64())).as_py()
    assert 0.02 <= default <= 0.09
    # Default correlates with income relative to the country: defaulters earn less.
    median = {c.cc: c.income_median for c in COUNTRIES}
    rel = [
        (r["annual_income_max"] / median[r["country_max"]], r["loan_default_max"])
        for r in customers.to_pylist()
    ]
    bad = sorted(x for x, d in rel if d)
    good = sorted(x for x, d in rel if not d)
    assert len(bad) >= 5 and bad[len(bad) // 2] < good[len(good) // 2]
    amounts = table.column("amount")
    assert pc.min(amounts).as_py() > 0
    assert pc.mean(amounts).as_py() > 1.5 * pc.approximate_median(amounts).as_py()  # skewed
    times = table.column("transaction_time")
    span = pc.max(times).as_py() - pc.min(times).as_py()
    assert dt.timedelta(days=650) < span <= dt.timedelta(days=731)
    us = pc.mean(pc.equal(table.column("country"), "US").cast(pa.float64())).as_py()
    assert 0.12 < us < 0.3
    assert set(table.column("merchant_category").to_pylist()) >= {"5411", "4829", "6011"}
    assert all(re.fullmatch(r"\d{4}", m) for m in table.column("merchant_category").to_pylist())
    assert len(set(table.column("transaction_id").to_pylist())) == table.num_rows


# --- writing --------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_write_sample_each_format(tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"sample{suffix}"
    labels = tmp_path / "labels.jsonl"
    assert write_sample(out, 700, seed=5, labels_path=labels) == 700
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([out.name, labels.name])
    expected = pa.Table.from_batches(list(generate(700, seed=5)))
    if suffix == ".csv":
        got = pacsv.read_csv(out, convert_options=pacsv.ConvertOptions(column_types=SCHEMA))
        assert got.column_names == SCHEMA.names
        assert got.column("memo").to_pylist() == expected.column("memo").to_pylist()
        assert got.column("national_id").to_pylist() == expected.column("national_id").to_pylist()
    elif suffix == ".parquet":
        assert pq.read_table(out).equals(expected)
    else:
        lines = out.read_text(encoding="utf-8").splitlines()
        assert len(lines) == 700
        first = json.loads(lines[0])
        assert list(first) == SCHEMA.names
        assert first["memo"] == expected.column("memo")[0].as_py()
        assert first["birth_date"] == expected.column("birth_date")[0].as_py().isoformat()
    label_rows = [json.loads(line) for line in labels.read_text(encoding="utf-8").splitlines()]
    assert [r["row"] for r in label_rows] == list(range(700))
    memos = expected.column("memo").to_pylist()
    for r in label_rows:
        assert r["memo"] == memos[r["row"]]
        for start, end, kind in r["spans"]:
            assert kind in SPAN_TYPES and r["memo"][start:end]


def test_write_sample_publishes_nothing_on_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = gen_mod._Generator.chunk

    def failing(self, index: int, with_labels: bool):
        if index == 1:
            raise RuntimeError("disk on fire")
        return original(self, index, with_labels)

    monkeypatch.setattr(gen_mod, "CHUNK", 200)
    monkeypatch.setattr(gen_mod._Generator, "chunk", failing)
    out = tmp_path / "sample.parquet"
    with pytest.raises(RuntimeError, match="disk on fire"):
        write_sample(out, 1000, labels_path=tmp_path / "labels.jsonl")
    assert list(tmp_path.iterdir()) == []


def test_write_sample_replaces_existing_file_atomically(tmp_path: Path) -> None:
    out = tmp_path / "sample.csv"
    out.write_text("old", encoding="utf-8")
    assert write_sample(out, 50, fmt="csv") == 50
    assert out.read_text(encoding="utf-8").startswith('"customer_id"')
    assert [p.name for p in tmp_path.iterdir()] == ["sample.csv"]
