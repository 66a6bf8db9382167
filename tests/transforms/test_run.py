"""Transforms inside a run: policy-time refusals with file:line, and a policy using several
transforms end to end (source -> plan -> treat -> Parquet), with the run's context built here
as the Treat stage builds it (keys, subject ids, field names)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from schwifty import IBAN
from stdnum import luhn

from tests.transforms.conftest import ALL_FIELDS, write_policy
from veil.errors import PolicyError
from veil.io.readers import open_source
from veil.io.types import arrow_schema
from veil.pipeline.context import RunContext
from veil.pipeline.plan import make_plan
from veil.policy import load_policy
from veil.transforms import REGISTRY, InMemoryTransformKeys, describe_treatments, treat_batch
from veil.transforms.fpe import reverse
from veil.transforms.tokenize import detokenize

FIELDS = {
    "cid": "tokenize",
    "name": "{transform: pseudonymize, prefix: 'p_'}",
    "email": "mask",
    "iban": "{transform: fpe, format: iban}",
    "card": "{transform: fpe, format: card, keep_first: 6}",
    "birth": "{transform: generalize, method: age_band, as_of: '2025-01-01', top: 80}",
    "when": "{transform: date_shift, max_days: 30}",
    "amount": "{transform: noise, mechanism: laplace, epsilon: 1.0, sensitivity: 5}",
    "age": "{transform: generalize, method: bins, edges: [18, 30, 50, 65]}",
    "postcode": "{transform: generalize, method: prefix, length: 2, pad: '*'}",
    "memo": "{transform: redact_text, mode: pseudonym}",
    "national_id": "drop",
}
CARDS = ["4111111111111111", "5500000000000004", "340000000000009", "6011000000000004"]
IBANS = ["DE89370400440532013000", "GB29NWBK60161331926819", "FR1420041010050500013M02606",
         "NL91ABNA0417164300"]


def _csv(path: Path, rows: int) -> None:
    lines = [",".join(ALL_FIELDS)]
    for i in range(rows):
        c = i % 25  # 25 customers, several rows each
        lines.append(",".join([
            f"C{c:04d}", f"Person {c}", f"person{c}@example.com", IBANS[c % 4], CARDS[c % 4],
            f"{1950 + c}-0{1 + c % 9}-1{c % 9}", f"2024-0{1 + i % 9}-1{i % 9}T10:00:00Z",
            f"{i}.25", str(18 + c * 2), f"{10115 + c}",
            f"Transfer to Hans Müller for invoice {i}", f"ID{c}"]))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_policy_check_refuses_misfits_with_field_and_line(tmp_path: Path) -> None:
    cases = {
        "memo": ("{transform: fpe, format: card}", "field 'memo': transform 'fpe' does not "
                 "fit free text"),
        "postcode": ("{transform: generalize, method: bins, width: 10}",
                     "field 'postcode': transform 'generalize' does not fit a field of type "
                     "string: binning needs numbers"),
        "amount": ("pseudonymize", "field 'amount': transform 'pseudonymize' does not fit a "
                   "field of type float"),
        "cid": ("{transform: pseudonymize, length: 4}", "'length' must be in 16..64"),
    }
    for field, (treatment, msg) in cases.items():
        p = write_policy(tmp_path, {field: treatment}, f"{field}.yaml")
        with pytest.raises(PolicyError) as exc:
            make_plan(load_policy(p), "scoring", ALL_FIELDS)
        assert msg in str(exc.value)
        assert exc.value.where is not None and exc.value.where.startswith(f"{p}:")
        line = int(exc.value.where.rsplit(":", 1)[1])
        assert field in p.read_text().splitlines()[line - 1]


def _run(tmp_path: Path, keys: Any, run_id: str, rows: int = 300) -> tuple[pa.Table, dict]:
    policy = load_policy(write_policy(tmp_path, FIELDS))
    src = open_source(tmp_path / "in.csv")
    plan = make_plan(policy, "scoring", src.header())
    ctx = RunContext(run_id=run_id, plan=plan, keys=keys).transforms
    active = [(f.name, REGISTRY[f.treatment.transform], dict(f.treatment.params))
              for f in plan.output if f.treatment.transform != "keep"]
    out_types = {f.name: REGISTRY[f.treatment.transform].output_type(
        plan.dataset.fields[f.name], dict(f.treatment.params)) for f in plan.output}
    schema = arrow_schema([f.name for f in plan.output], out_types)
    batches = []
    for batch in src.batches(plan.read, plan.types, lambda r: None):
        treated = treat_batch(batch, active, ctx)
        batches.append(pa.RecordBatch.from_arrays(
            [treated.column(f.name) for f in plan.output], schema=schema))
    table = pa.Table.from_batches(batches, schema=schema)
    pq.write_table(table, tmp_path / f"{run_id}.parquet")
    return pq.read_table(tmp_path / f"{run_id}.parquet"), describe_treatments(active, ctx)


def test_policy_with_several_transforms_end_to_end(tmp_path: Path) -> None:
    _csv(tmp_path / "in.csv", 300)
    keys = InMemoryTransformKeys()
    t, info = _run(tmp_path, keys, "run-a")
    assert t.num_rows == 300 and "national_id" not in t.column_names
    rows = t.to_pylist()
    raw = (tmp_path / "in.csv").read_text(encoding="utf-8")
    # no direct identifier survives anywhere in the output
    text = repr(rows)
    for secret in ("C0001", "Person 1", "person1@example.com", "Hans Müller", *CARDS, *IBANS):
        assert secret not in text
    assert "Person 1" in raw
    # tokens reverse exactly and join: one token per customer
    assert len({r["cid"] for r in rows}) == 25
    assert detokenize([rows[0]["cid"]], keys, "scoring") == ["C0000"]
    # pseudonyms: stable per customer
    by_token: dict[str, set[str]] = {}
    for r in rows:
        by_token.setdefault(r["cid"], set()).add(r["name"])
    assert all(len(v) == 1 for v in by_token.values())
    # FPE: valid formats, reversible with the receipt's key id
    assert all(luhn.is_valid(r["card"]) for r in rows)
    assert all(IBAN(r["iban"]).validate() for r in rows)
    card_info = info["transformed"]["card"]
    back = reverse(pa.array([rows[1]["card"]]), keys.fpe_key("scoring"),
                   card_info["params"], expected_key_id=card_info["key_id"]).to_pylist()
    assert back == [CARDS[1]]
    # generalizations, date shift per subject, noise, text
    assert {r["age"] for r in rows} <= {"18-29", "30-49", "50-64", ">=65"}
    assert rows[0]["birth"] == "70-79" and rows[0]["postcode"] == "10***"
    src_rows = [line.split(",") for line in raw.splitlines()[1:]]
    shifts: dict[str, set[int]] = {}
    for r, s in zip(rows, src_rows, strict=True):
        orig = dt.datetime.fromisoformat(s[6].replace("Z", "+00:00"))
        shifts.setdefault(s[0], set()).add((r["when"] - orig).days)
    assert all(len(v) == 1 and 0 < abs(next(iter(v))) <= 30 for v in shifts.values())
    assert all(r["memo"].startswith("Transfer to <PERSON_") for r in rows)
    assert t.schema.field("amount").type == pa.float64()
    # the receipt's entries: parameters and key ids, never keys
    assert info["transformed"]["cid"]["key_id"].startswith("token:scoring:")
    assert keys.hmac_key("scoring").hex() not in repr(info)
    # a second run with the same keys: same pseudonyms and tokens, fresh noise
    t2, _ = _run(tmp_path, keys, "run-b")
    assert t2.column("name").equals(t.column("name"))
    assert t2.column("cid").equals(t.column("cid"))
    assert not t2.column("amount").equals(t.column("amount"))
