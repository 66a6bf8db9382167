"""Lineage hashed in the workers (`LineageCollector.add_hashed`) records the set one worker
records: the same prefixes, spilled or in memory, whatever mix of hashed and raw batches."""

from __future__ import annotations

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from veil.consent.models import SubjectRef
from veil.lineage import LineageCollector
from veil.lineage.collector import distinct, hash_prefixes

REF = SubjectRef(None)
ids = st.one_of(st.text(max_size=6), st.integers(0, 40).map(lambda i: f"C{i}"))
batches = st.lists(st.tuples(st.lists(st.one_of(ids, st.none()), max_size=30), st.booleans()),
                   max_size=8)


@settings(max_examples=50, deadline=None)
@given(batches, st.integers(1, 6))
def test_prehashed_batches_give_the_same_set(data, budget) -> None:
    reference = LineageCollector()
    mixed = LineageCollector(REF, budget=budget)
    for values, hashed in data:
        arr = pa.array(values, type=pa.string())
        reference.add(arr)
        if hashed:  # as a worker does: its distinct ids, hashed with the run's key
            mixed.add_hashed(hash_prefixes(distinct(arr), REF.key()))
        else:
            mixed.add(arr)
    expected = reference.finish(REF)
    got = mixed.finish()
    assert len(got) == len(expected) == len({v for b, _ in data for v in b if v is not None})
    assert got.to_bytes() == expected.to_bytes()
    assert list(got.buckets()) == list(expected.buckets())


def test_prehashed_batches_spill_past_the_budget() -> None:
    c = LineageCollector(REF, budget=4)
    for i in range(3):
        c.add_hashed(hash_prefixes(pa.array([f"S{i}-{j}" for j in range(5)]), REF.key()))
    assert c.spilled == 3
    assert len(c.finish()) == 15
