"""Synthetic customer/transaction tables for trying Veil on realistic, entirely fake data.

One row per transaction with the customer's attributes denormalised, like the extracts banks hand
to their ML teams. Identifiers are real formats with valid checksums (so recognizers and validators
see what production holds), memos mix personal data with look-alikes, and the labels give the
exact spans of the personal data in each memo.

Speed: the customer pool is built once (Faker vocabulary + validated identifiers), then rows are
drawn in fixed chunks with numpy; only memo text is a Python loop. Each chunk has its own seeded
generator, so the data depends on (rows, seed) and not on the batch size asked for.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from random import Random

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from veil.errors import InputError
from veil.sample.customers import PERIOD_DAYS, PERIOD_END, Pool, build_pool, random_ip
from veil.sample.locales import COUNTRIES, MERCHANTS_COMMON, MERCHANTS_LOCAL
from veil.sample.memos import TEMPLATES, MemoWriter, assemble, merchant_override, template_ids

CHUNK = 65_536  # rows drawn per seeded chunk; output batches are re-cut from these
MAX_POOL = 200_000
#: The most rows and the largest seed a sample takes (a bigger number is a typing mistake).
MAX_ROWS = 1_000_000_000
MAX_SEED = 2**63 - 1

SCHEMA = pa.schema(
    [
        ("customer_id", pa.string()),
        ("full_name", pa.string()),
        ("email", pa.string()),
        ("phone", pa.string()),
        ("birth_date", pa.date32()),
        ("gender", pa.string()),
        ("country", pa.string()),
        ("national_id", pa.string()),
        ("street_address", pa.string()),
        ("postcode", pa.string()),
        ("city", pa.string()),
        ("iban", pa.string()),
        ("bic", pa.string()),
        ("card_number", pa.string()),
        ("vat_number", pa.string()),
        ("ip_address", pa.string()),
        ("employment_status", pa.string()),
        ("annual_income", pa.float64()),
        ("account_balance", pa.float64()),
        ("transaction_id", pa.string()),
        ("transaction_time", pa.timestamp("us", tz="UTC")),
        ("amount", pa.float64()),
        ("currency", pa.string()),
        ("merchant", pa.string()),
        ("merchant_category", pa.string()),
        ("channel", pa.string()),
        ("memo", pa.string()),
        ("is_fraud", pa.bool_()),
        ("loan_default", pa.bool_()),
    ]
)

SPAN_TYPE = pa.list_(
    pa.struct(
        [
            ("start", pa.int32()),
            ("end", pa.int32()),
            ("type", pa.string()),
        ]
    )
)
LABELED_SCHEMA = SCHEMA.append(pa.field("memo_spans", SPAN_TYPE))

# Data category of each column, for policies and for the discovery team's expectations.
CATEGORIES: dict[str, str] = {
    "customer_id": "direct_identifier",
    "full_name": "direct_identifier",
    "email": "contact",
    "phone": "contact",
    "birth_date": "demographic",
    "gender": "demographic",
    "country": "location",
    "national_id": "government_id",
    "street_address": "location",
    "postcode": "location",
    "city": "location",
    "iban": "account",
    "bic": "account",
    "card_number": "card",
    "vat_number": "government_id",
    "ip_address": "online_identifier",
    "employment_status": "employment",
    "annual_income": "income_credit",
    "account_balance": "income_credit",
    "transaction_id": "transaction",
    "transaction_time": "transaction",
    "amount": "transaction",
    "currency": "transaction",
    "merchant": "transaction",
    "merchant_category": "transaction",
    "channel": "transaction",
    "memo": "free_text",
    "is_fraud": "inferred",
    "loan_default": "inferred",
}

_KINDS = ("purchase", "transfer", "debit", "atm", "refund")
_KIND_P = np.array([0.60, 0.22, 0.10, 0.04, 0.04])
_PII_P = np.array([0.53, 0.90, 0.50, 0.0, 0.80])  # share of memos with personal data, by kind
_HOUR_P = np.array(
    [
        1,
        0.6,
        0.4,
        0.3,
        0.3,
        0.5,
        1.2,
        2.5,
        4,
        5,
        5.5,
        6,
        7,
        6.5,
        6,
        6,
        6.5,
        7,
        7,
        6.5,
        5.5,
        4.5,
        3,
        1.8,
    ]
)
_HOUR_P = _HOUR_P / _HOUR_P.sum()
_FX = {"EUR": 1.0, "USD": 1.08, "GBP": 0.86, "CHF": 0.95, "PLN": 4.3, "SEK": 11.3, "DKK": 7.46}
_FOREIGN = ("EUR", "USD", "GBP", "CHF")
_ATM_NOTES = {
    "EUR": (20, 50, 100, 150, 200, 300),
    "USD": (20, 40, 60, 100, 200, 300),
    "PLN": (50, 100, 200, 300, 500, 1000),
    "SEK": (200, 300, 500, 1000, 2000),
    "DKK": (200, 300, 500, 1000, 2000),
}
_RISKY_MCC = {"7995", "5816", "5818"}
_START_US = int((PERIOD_END.timestamp() - PERIOD_DAYS * 86400) * 1_000_000)


def _merchant_table() -> tuple[
    list[tuple[str, str, float, float, str]],
    list[np.ndarray],
    list[np.ndarray],
    list[np.ndarray],
    list[np.ndarray],
]:
    """All merchants, and per country the candidates (with weights) for purchases and debits."""
    table = list(MERCHANTS_COMMON)
    purchase_ids, purchase_p, debit_ids, debit_p = [], [], [], []
    subscriptions = [i for i, m in enumerate(MERCHANTS_COMMON) if m[1] == "4899"]
    for country in COUNTRIES:
        start = len(table)
        local = MERCHANTS_LOCAL[country.cc]
        table.extend(local)
        shop = [start + j for j, m in enumerate(local) if m[4] != "direct_debit"]
        common = list(range(len(MERCHANTS_COMMON)))
        ids_ = np.array(shop + common)
        w = np.array([3.0] * len(shop) + [1.0] * len(common))
        purchase_ids.append(ids_)
        purchase_p.append(w / w.sum())
        debit = [start + j for j, m in enumerate(local) if m[4] == "direct_debit"] + subscriptions
        debit_ids.append(np.array(debit))
        debit_p.append(np.full(len(debit), 1.0 / len(debit)))
    return table, purchase_ids, purchase_p, debit_ids, debit_p


def _check_args(rows: int, seed: int, batch_size: int = 1) -> None:
    if not isinstance(rows, int) or not 0 <= rows <= MAX_ROWS:
        raise InputError(f"rows must be a whole number from 0 to {MAX_ROWS:,}, got "
                         f"{str(rows)[:40]}")
    if not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise InputError(f"seed must be a whole number from 0 to {MAX_SEED}, got "
                         f"{str(seed)[:40]}")
    if batch_size < 1:
        raise InputError(f"batch_size must be at least 1, got {batch_size!r}")


def pool_size(rows: int) -> int:
    """About eight transactions per customer, capped so the pool builds in bounded time."""
    return max(1, min(rows // 8, MAX_POOL))


class _Generator:
    def __init__(self, rows: int, seed: int) -> None:
        self.rows = rows
        self.seed = seed
        self.pool: Pool = build_pool(pool_size(rows), seed)
        self.customers = pa.table(
            {k: pa.array(v, type=SCHEMA.field(k).type) for k, v in self.pool.columns.items()}
        )
        self.writer = MemoWriter(self.pool)
        (self.merchants, self.purchase_ids, self.purchase_p, self.debit_ids, self.debit_p) = (
            _merchant_table()
        )
        # Payees implied by some memos (tax office, passport office...): one merchant per country.
        self.special: dict[int, np.ndarray] = {}
        for t in range(len(TEMPLATES)):
            if merchant_override(t, "DE") is None:
                continue
            row = []
            for c in COUNTRIES:
                name, code, mu, sd = merchant_override(t, c.cc)  # type: ignore[misc]
                row.append(len(self.merchants))
                self.merchants.append((name, code, mu, sd, "direct_debit"))
            self.special[t] = np.array(row)
        self.m_name = np.array([m[0] for m in self.merchants], dtype=object)
        self.m_mcc = np.array([m[1] for m in self.merchants], dtype=object)
        self.m_mu = np.array([m[2] for m in self.merchants])
        self.m_sd = np.array([m[3] for m in self.merchants])
        self.m_online = np.array([m[4] == "online" for m in self.merchants])
        self.m_risky = np.array([m[1] in _RISKY_MCC for m in self.merchants])
        self.currency = np.array([c.currency for c in COUNTRIES], dtype=object)
        self.rate = np.array([c.eur_rate for c in COUNTRIES])
        self.country_of = self.pool.country_idx
        # Memo language: a third of customers in DE/AT/FR/BE/ES write in their language.
        lang_of_country = [c.lang for c in COUNTRIES]
        self.lang = [
            lang_of_country[ci] if (i * 2654435761 >> 7) % 100 < 35 else "en"
            for i, ci in enumerate(self.country_of.tolist())
        ]
        self.rent_tids = np.array(
            [
                t
                for t, (_, _, fn) in enumerate(TEMPLATES)
                if fn.__name__ in ("_rent_iban", "_rent_plain")
            ]
        )
        self.tids = {
            (kind, pii): template_ids(kind, pii) for kind in _KINDS for pii in (False, True)
        }

    def chunk(self, index: int, with_labels: bool) -> pa.RecordBatch:
        start = index * CHUNK
        n = min(CHUNK, self.rows - start)
        rng = np.random.Generator(
            np.random.PCG64(np.random.SeedSequence([self.seed, 0xC4A2, index]))
        )
        pool = self.pool
        cust = np.minimum(
            np.searchsorted(pool.activity_cdf, rng.random(n), side="right"), pool.size - 1
        )
        country = self.country_of[cust]

        # Payees: mostly someone in the same country, sometimes anyone in the pool.
        payee = rng.integers(0, pool.size, n)
        domestic = rng.random(n) < 0.75
        for ci, members in enumerate(pool.by_country):
            mask = domestic & (country == ci)
            if members.size and mask.any():
                payee[mask] = members[rng.integers(0, members.size, int(mask.sum()))]

        kind = rng.choice(len(_KINDS), size=n, p=_KIND_P)
        # Memo template per row (filled in last): it can decide the payee.
        pii = rng.random(n) < _PII_P[kind]
        pick = rng.integers(0, 1 << 30, n)
        tid = np.empty(n, dtype=np.int64)
        for kk in range(len(_KINDS)):
            for flag in (False, True):
                mask = (kind == kk) & (pii == flag)
                if mask.any():
                    choices = self.tids[(_KINDS[kk], flag)] or self.tids[(_KINDS[kk], not flag)]
                    tid[mask] = np.array(choices)[pick[mask] % len(choices)]
        merchant = np.zeros(n, dtype=np.int64)
        for ci in range(len(COUNTRIES)):
            in_c = country == ci
            for k, ids_, p in (
                (0, self.purchase_ids[ci], self.purchase_p[ci]),
                (4, self.purchase_ids[ci], self.purchase_p[ci]),
                (2, self.debit_ids[ci], self.debit_p[ci]),
            ):
                mask = in_c & (kind == k)
                if mask.any():
                    merchant[mask] = rng.choice(ids_, size=int(mask.sum()), p=p)
        for t, by_country in self.special.items():
            mask = tid == t
            merchant[mask] = by_country[country[mask]]

        # Amounts: log-normal per merchant, rent-like and small transfers, ATM notes.
        rate = self.rate[country]
        eur = np.exp(rng.normal(self.m_mu[merchant], self.m_sd[merchant]))
        is_transfer = kind == 1
        rent = np.isin(tid, self.rent_tids) | (rng.random(n) < 0.05)
        eur[is_transfer] = np.where(
            rent[is_transfer],
            np.exp(rng.normal(6.7, 0.35, int(is_transfer.sum()))),
            np.exp(rng.normal(4.0, 1.1, int(is_transfer.sum()))),
        )
        amount = eur * rate
        currency = self.currency[country].copy()
        foreign = (kind == 0) & (rng.random(n) < 0.04)
        if foreign.any():
            fx = np.array(_FOREIGN, dtype=object)[
                rng.integers(0, len(_FOREIGN), int(foreign.sum()))
            ]
            home = currency[foreign]
            fx = np.where(fx == home, np.where(home == "USD", "EUR", "USD"), fx)
            currency[foreign] = fx
            amount[foreign] = eur[foreign] * np.array([_FX[x] for x in fx])
        is_atm = kind == 3
        if is_atm.any():
            notes = [_ATM_NOTES[c] for c in currency[is_atm]]
            pick = rng.integers(0, 1 << 30, int(is_atm.sum()))
            amount[is_atm] = [
                float(nt[q % len(nt)]) for nt, q in zip(notes, pick.tolist(), strict=True)
            ]
        amount = np.round(amount, 2)
        amount[amount < 0.5] = 0.5

        # Merchant columns for transfers and cash.
        names = self.m_name[merchant].copy()
        mcc = self.m_mcc[merchant].copy()
        us_home = self.currency[country] == "USD"
        names[is_transfer] = np.where(us_home[is_transfer], "ACH Transfer", "SEPA Credit Transfer")
        instant = is_transfer & (rng.random(n) < 0.3)
        names[instant] = np.where(us_home[instant], "Zelle", "SEPA Instant Transfer")
        mcc[is_transfer] = "4829"
        names[is_atm] = "ATM Withdrawal"
        mcc[is_atm] = "6011"

        u = rng.random(n)
        online = self.m_online[merchant]
        channel = np.where(
            online,
            np.where(u < 0.7, "online", "mobile_app"),
            np.where(u < 0.55, "contactless", "pos"),
        ).astype(object)
        channel[is_transfer] = np.where(
            u[is_transfer] < 0.55,
            "mobile_app",
            np.where(u[is_transfer] < 0.95, "online_banking", "branch"),
        )
        channel[kind == 2] = "direct_debit"
        channel[is_atm] = "atm"
        channel[kind == 4] = "online"

        # Times over the two years before PERIOD_END, with a daily rhythm.
        day = rng.integers(0, PERIOD_DAYS, n)
        hour = rng.choice(24, size=n, p=_HOUR_P)
        hour[kind == 2] = rng.integers(1, 6, int((kind == 2).sum()))
        micros = rng.integers(0, 3_600_000_000, n)
        t_us = _START_US + day * 86_400_000_000 + hour * 3_600_000_000 + micros
        t_days = t_us // 86_400_000_000
        ymd = t_days.astype("datetime64[D]")
        year = ymd.astype("datetime64[Y]").astype(int) + 1970
        month = ymd.astype("datetime64[M]").astype(int) % 12

        # Fraud: about 1 %, likelier online, at night, abroad, for large or risky purchases.
        night = hour < 5
        score = (
            0.9 * np.log(eur / 40.0)
            + 1.3 * (channel == "online")
            + 1.2 * night
            + 1.5 * foreign
            + 2.0 * self.m_risky[merchant]
            + 0.8 * is_atm
        )
        eligible = (kind == 0) | is_transfer | is_atm
        fraud_p = _calibrate(score, eligible, 0.01)
        is_fraud = eligible & (rng.random(n) < fraud_p)

        # Memos.
        keys = rng.integers(0, 1 << 62, n)
        memos, offsets, s_start, s_end, s_type = _render(
            self.writer,
            tid,
            cust,
            payee,
            keys,
            month,
            year,
            amount,
            names,
            currency,
            mcc,
            self.lang,
        )

        # Assemble.
        taken = self.customers.take(pa.array(cust))
        ips = taken.column("ip_address")
        if is_fraud.any():
            r = Random(int(rng.integers(0, 1 << 62)))
            fraud_ccs = [
                COUNTRIES[int(x)].cc for x in rng.integers(0, len(COUNTRIES), int(is_fraud.sum()))
            ]
            ips = pc.replace_with_mask(
                ips.combine_chunks(),
                pa.array(is_fraud),
                pa.array([random_ip(r, cc) for cc in fraud_ccs]),
            )
        txn = _transaction_ids(start, n, self.seed)
        arrays = {
            **{name: taken.column(name) for name in taken.column_names},
            "ip_address": ips,
            "transaction_id": pa.array(txn, pa.string()),
            "transaction_time": pa.array(t_us, pa.timestamp("us", tz="UTC")),
            "amount": pa.array(amount, pa.float64()),
            "currency": pa.array(currency, pa.string()),
            "merchant": pa.array(names, pa.string()),
            "merchant_category": pa.array(mcc, pa.string()),
            "channel": pa.array(channel, pa.string()),
            "memo": pa.array(memos, pa.string()),
            "is_fraud": pa.array(is_fraud, pa.bool_()),
        }
        columns = [arrays[f.name] for f in SCHEMA]
        columns = [c.combine_chunks() if isinstance(c, pa.ChunkedArray) else c for c in columns]
        schema = SCHEMA
        if with_labels:
            spans = pa.StructArray.from_arrays(
                [
                    pa.array(s_start, pa.int32()),
                    pa.array(s_end, pa.int32()),
                    pa.array(s_type, pa.string()),
                ],
                fields=list(SPAN_TYPE.value_type),
            )
            columns.append(
                pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), spans, type=SPAN_TYPE)
            )
            schema = LABELED_SCHEMA
        return pa.RecordBatch.from_arrays(columns, schema=schema)


def _calibrate(score: np.ndarray, eligible: np.ndarray, rate: float) -> np.ndarray:
    """Probabilities sigmoid(b + score), b chosen so the expected rate over all rows is `rate`."""
    n = len(score)
    lo, hi = -30.0, 10.0
    for _ in range(40):
        mid = (lo + hi) / 2
        p = 1 / (1 + np.exp(-(mid + score)))
        if (p * eligible).sum() < rate * n:
            lo = mid
        else:
            hi = mid
    return 1 / (1 + np.exp(-(lo + score)))


def _transaction_ids(start: int, n: int, seed: int) -> list[str]:
    """Unique, unordered-looking ids: a bijection of the row number on 48 bits."""
    mask = np.uint64((1 << 48) - 1)
    x = (
        np.arange(start, start + n, dtype=np.uint64)
        + np.uint64((seed * 0x9E3779B1 + 0x5851F42D4C95) & 0xFFFFFFFFFFFF)
    ) & mask
    x = (x * np.uint64(0x5DEECE66D)) & mask
    x ^= x >> np.uint64(21)
    x = (x * np.uint64(0x2545F4914F6D)) & mask
    x ^= x >> np.uint64(17)
    return [f"TX{v:012X}" for v in x.tolist()]


def _render(
    writer: MemoWriter,
    tid: np.ndarray,
    cust: np.ndarray,
    payee: np.ndarray,
    keys: np.ndarray,
    month: np.ndarray,
    year: np.ndarray,
    amount: np.ndarray,
    names: np.ndarray,
    currency: np.ndarray,
    mcc: np.ndarray,
    lang: list[str],
):
    """Fill every row's memo; spans come back flat, with list offsets."""
    memos: list[str] = []
    offsets = [0]
    s_start: list[int] = []
    s_end: list[int] = []
    s_type: list[str] = []
    builders = [t[2] for t in TEMPLATES]
    for t, c, p, k, mo, yr, amt, mer, cur, code in zip(
        tid.tolist(),
        cust.tolist(),
        payee.tolist(),
        keys.tolist(),
        month.tolist(),
        year.tolist(),
        amount.tolist(),
        names.tolist(),
        currency.tolist(),
        mcc.tolist(),
        strict=True,
    ):
        text, spans = assemble(builders[t](writer, c, p, k, mo, yr, amt, mer, cur, lang[c], code))
        for begin, end, kind in spans:
            s_start.append(begin)
            s_end.append(end)
            s_type.append(kind)
        memos.append(text)
        offsets.append(len(s_start))
    return memos, offsets, s_start, s_end, s_type


def generate(
    rows: int, seed: int = 0, batch_size: int = 65_536, with_labels: bool = False
) -> Iterator[pa.RecordBatch]:
    """Yield `rows` synthetic transactions as record batches of at most `batch_size` rows.

    Deterministic in (rows, seed): the same arguments give byte-identical data, whatever the
    batch size. With `with_labels`, each batch has a `memo_spans` column listing the exact
    character spans (start, end, type) of the personal data in that row's memo.
    """
    _check_args(rows, seed, batch_size)
    if rows == 0:
        return
    gen = _Generator(rows, seed)
    # Re-cut the fixed-size chunks into batches of the size asked for: slices are zero-copy,
    # only a batch straddling two chunks is copied into one piece.
    buffer: pa.Table | None = None
    for index in range((rows + CHUNK - 1) // CHUNK):
        chunk = pa.Table.from_batches([gen.chunk(index, with_labels)])
        buffer = chunk if buffer is None else pa.concat_tables([buffer, chunk])
        pos = 0
        while buffer.num_rows - pos >= batch_size:
            yield _one_batch(buffer.slice(pos, batch_size))
            pos += batch_size
        buffer = buffer.slice(pos)
    if buffer is not None and buffer.num_rows:
        yield _one_batch(buffer)


def _one_batch(table: pa.Table) -> pa.RecordBatch:
    batches = table.combine_chunks().to_batches()
    return batches[0]


_FORMATS = {".csv": "csv", ".parquet": "parquet", ".jsonl": "jsonl"}


def write_sample(
    path: str | os.PathLike[str],
    rows: int,
    seed: int = 0,
    fmt: str | None = None,
    labels_path: str | os.PathLike[str] | None = None,
) -> int:
    """Write a sample table (CSV, Parquet or JSON lines) and optionally its memo labels.

    Output goes to temporary files beside the targets and is renamed into place only when
    everything is written: a failed run publishes nothing. Returns the number of rows written.
    """
    target = Path(path)
    fmt = fmt or _FORMATS.get(target.suffix.lower())
    if fmt not in ("csv", "parquet", "jsonl"):
        raise InputError(
            f"cannot tell the output format from {target.name!r}: use .csv, .parquet or "
            ".jsonl, or pass fmt",
            where=str(target),
        )
    _check_args(rows, seed)
    label_target = Path(labels_path) if labels_path is not None else None
    temps: list[Path] = []
    try:
        tmp = _temp_beside(target)
        temps.append(tmp)
        tmp_labels = None
        if label_target is not None:
            tmp_labels = _temp_beside(label_target)
            temps.append(tmp_labels)
        written = _write(tmp, fmt, tmp_labels, rows, seed)
        os.replace(tmp, target)
        temps.remove(tmp)
        if tmp_labels is not None and label_target is not None:
            os.replace(tmp_labels, label_target)
            temps.remove(tmp_labels)
        return written
    finally:
        for leftover in temps:
            leftover.unlink(missing_ok=True)


def _temp_beside(target: Path) -> Path:
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or ".")
    os.close(fd)
    return Path(name)


def _write(tmp: Path, fmt: str, tmp_labels: Path | None, rows: int, seed: int) -> int:
    written = 0
    with contextlib.ExitStack() as stack:
        labels = None
        if tmp_labels is not None:
            labels = stack.enter_context(open(tmp_labels, "w", encoding="utf-8"))
        batches = generate(rows, seed, with_labels=labels is not None)
        if fmt == "csv":
            writer = stack.enter_context(pacsv.CSVWriter(str(tmp), SCHEMA))
            write = writer.write_batch
        elif fmt == "parquet":
            writer = stack.enter_context(pq.ParquetWriter(str(tmp), SCHEMA, compression="zstd"))
            write = writer.write_batch
        else:
            out = stack.enter_context(open(tmp, "w", encoding="utf-8"))

            def write(batch: pa.RecordBatch) -> None:
                _write_jsonl(out, batch)

        for batch in batches:
            written += _emit_labels(labels, batch, written)
            write(batch.select(SCHEMA.names))
    return written


def _emit_labels(out, batch: pa.RecordBatch, first_row: int) -> int:
    if out is not None:
        memos = batch.column("memo").to_pylist()
        spans = batch.column("memo_spans").to_pylist()
        for j, (memo, row_spans) in enumerate(zip(memos, spans, strict=True)):
            out.write(
                json.dumps(
                    {
                        "row": first_row + j,
                        "memo": memo,
                        "spans": [[s["start"], s["end"], s["type"]] for s in row_spans],
                    },
                    ensure_ascii=False,
                )
            )
            out.write("\n")
    return batch.num_rows


def _write_jsonl(out, batch: pa.RecordBatch) -> None:
    """JSON lines with ISO dates and times (pyarrow has a JSON reader but no writer)."""
    cols: dict[str, list] = {}
    for field, column in zip(batch.schema, batch.columns, strict=True):
        if pa.types.is_date(field.type):
            column = pc.strftime(column, format="%Y-%m-%d")
        elif pa.types.is_timestamp(field.type):
            column = pc.strftime(column, format="%Y-%m-%dT%H:%M:%SZ")
        cols[field.name] = column.to_pylist()
    names = list(cols)
    dumps = json.JSONEncoder(ensure_ascii=False).encode
    for values in zip(*cols.values(), strict=True):
        out.write(dumps(dict(zip(names, values, strict=True))))
        out.write("\n")
