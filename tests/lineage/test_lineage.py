"""Lineage: the compact pseudonym set (property tests), the run's record, models."""

from __future__ import annotations

import hashlib

import pyarrow as pa
import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

import veil
from veil.consent.models import SubjectRef
from veil.errors import InputError
from veil.lineage import Lineage, LineageCollector, PseudonymSet
from veil.sample import SAMPLE_POLICY, write_sample

prefixes = st.binary(min_size=16, max_size=16)


@settings(max_examples=200, deadline=None)
@given(st.lists(prefixes, max_size=300), st.lists(prefixes, max_size=50))
def test_membership_is_exact(members: list[bytes], others: list[bytes]) -> None:
    s = PseudonymSet.from_hex([m.hex() + "ab" * 16 for m in members])
    assert len(s) == len(set(members))
    assert all(m.hex() in s for m in members)
    assert all((o.hex() in s) == (o in set(members)) for o in others)
    back = PseudonymSet.from_bytes(s.to_bytes())
    assert back.hex() == sorted(m.hex() for m in set(members))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(st.text(min_size=1, max_size=12), max_size=40), max_size=6))
def test_collector_hashes_each_distinct_id(batches: list[list[str]]) -> None:
    ref = SubjectRef(None)
    c = LineageCollector()
    for b in batches:
        c.add(pa.array(b, type=pa.string()))
    s = c.finish(ref)
    distinct = {x for b in batches for x in b}
    assert len(s) == len(distinct)
    assert all(ref.token(x) in s for x in distinct)


def test_bad_pseudonyms() -> None:
    with pytest.raises(InputError):
        PseudonymSet.from_hex(["zz" * 16])
    assert "not-hex" not in PseudonymSet.from_hex([hashlib.sha256(b"a").hexdigest()])


def test_run_records_lineage_and_models(workspace) -> None:
    write_sample("tx.csv", 500, seed=2)
    pol = veil.load_policy(SAMPLE_POLICY)
    r = veil.run(pol, "credit_scoring", "tx.csv", "credit.parquet", workspace=workspace)
    lin = Lineage(workspace)
    o = lin.output(r.run_id)
    assert lin.output("credit.parquet").run_id == r.run_id == lin.output(r.run_id[:8]).run_id
    ids = set(pa.csv.read_csv("tx.csv").column("customer_id").to_pylist())
    assert o.subject_count == len(ids) == r.receipt["lineage"]["subjects"]
    assert o.rows == r.rows_out and "income_credit" in o.categories
    subs = lin.subjects_of(r.run_id)
    assert len(subs) == len(ids) and all(len(x) == 32 for x in subs)
    some = sorted(ids)[0]
    assert lin.ref.token(some)[:32] in subs
    m = lin.register_model("pd.v1", [r.run_id], actor="ml", description="PD model")
    assert [x.name for x in lin.subject(some).models] == [m.name]
    assert lin.subject("nobody").outputs == []
    with pytest.raises(InputError, match="already registered"):
        lin.register_model("pd.v1", [r.run_id], actor="ml")
    with pytest.raises(InputError, match="no recorded run output"):
        lin.register_model("pd.v2", ["missing.parquet"], actor="ml")
    assert [x.name for x in lin.models()] == ["pd.v1"]


def test_failed_run_records_no_lineage(workspace) -> None:
    write_sample("tx.csv", 200, seed=2)
    policy = veil.load_policy(SAMPLE_POLICY)
    from veil.risk.gate import GateResult  # noqa: F401 - the gate is the failing step here

    with pytest.raises(veil.VeilError):
        veil.run(policy, "credit_scoring", "tx.csv", "out.txt", workspace=workspace)
    bad = "tx_bad.csv"
    with open("tx.csv") as f, open(bad, "w") as g:
        lines = f.read().splitlines()
        g.write("\n".join(lines[:50] + [lines[50].replace(",", ";", 3)] + lines[51:]) + "\n")
    with pytest.raises(veil.VeilError):
        veil.run(policy, "credit_scoring", bad, "out.parquet", workspace=workspace)
    from veil.store.schema import lineage_outputs

    with workspace.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(lineage_outputs)).scalar() == 0
