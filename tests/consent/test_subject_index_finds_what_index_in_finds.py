"""The snapshot's hash index finds exactly the ids Arrow's ``index_in`` finds, at the same
positions, for ids of any length and script, sliced arrays and nulls; a run's batches checked
through it give the codes the other methods give."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from veil.consent.bulk import ConsentSnapshot
from veil.consent.subject_index import SubjectIndex

IDS = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"),
              min_size=1, max_size=20)


@settings(max_examples=50, deadline=None)
@given(known=st.sets(IDS, max_size=60), asked=st.lists(st.one_of(IDS, st.none()), max_size=60),
       cut=st.integers(0, 3))
def test_positions_equal_index_in(known, asked, cut) -> None:
    subjects = pa.array(sorted(known), pa.string())
    index = SubjectIndex.build(subjects)
    queries = pa.array(list(known)[:10] + asked, pa.string()).slice(cut)
    if index is None:  # an id over 64 bytes: not indexed (the caller searches instead)
        assert max(len(s.encode()) for s in known) > 64
        return
    found, pos = index.positions(queries)
    want = pc.index_in(queries, value_set=subjects)
    assert found.tolist() == want.is_valid().to_pylist()
    assert pos[found].tolist() == [v for v in want.to_pylist() if v is not None]


def test_one_length_ids_colliding_slots_and_long_ids() -> None:
    known = [f"C{i:07d}" for i in range(5000)]
    index = SubjectIndex.build(pa.array(known))
    assert index is not None
    asked = pa.array(known[::-7] + ["C9999999", "C000000", "C00000000", "x" * 70])
    found, pos = index.positions(asked)
    n = len(known[::-7])
    assert found.tolist() == [True] * n + [False] * 4
    assert [known[p] for p in pos[:n]] == known[::-7]


def test_a_runs_batches_get_the_same_codes_as_index_in() -> None:
    rng = np.random.default_rng(3)
    subjects = pa.array(sorted(f"S-{i}" for i in range(60_000)))
    codes = rng.integers(0, 5, len(subjects)).astype(np.uint8)
    snap = ConsentSnapshot("p", 0, None, subjects, codes)
    asked = pa.array([f"S-{i}" if i % 11 else None for i in rng.integers(0, 70_000, 3000)])
    got = snap.check(asked).codes  # a short batch against a big snapshot: the index
    assert snap.index() is not None
    hit = pc.index_in(asked, value_set=subjects)
    want = np.where(np.asarray(hit.is_valid()), codes[np.asarray(hit.fill_null(0))], 1)
    want[~np.asarray(asked.is_valid())] = 5
    assert got.tolist() == want.tolist()
