"""Lineage beyond memory: spilled runs merge into exactly the in-memory set, leave no files,
and a run whose subjects spill records the same subjects."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import veil
from veil.consent.models import SubjectRef
from veil.errors import StoreError
from veil.lineage import Lineage, LineageCollector, PseudonymSet
from veil.lineage import collector as collector_mod
from veil.lineage.collector import distinct
from veil.lineage.sets import DTYPE, bucket_edges, bucket_of, sort_unique
from veil.lineage.spill import SortedRuns
from veil.sample import SAMPLE_POLICY, write_sample

REF = SubjectRef(None)
# mostly distinct text and few repeating ids, mixed: the collector switches between its modes
ids = st.one_of(st.text(max_size=8), st.integers(0, 60).map(lambda i: f"C{i}"))
batches = st.lists(st.lists(st.one_of(ids, st.none()), max_size=40), max_size=8)
# prefixes crowded into few buckets, with trailing NULs and 0xff (numpy's bytes edge cases)
prefix = st.one_of(
    st.binary(min_size=16, max_size=16),
    st.tuples(st.sampled_from([b"\x00\x00", b"\x00\x10", b"\xff\xf0", b"\x7f\xff"]),
              st.sampled_from([bytes(14), b"\xff" * 14, b"\x01" + bytes(13)])).map(b"".join))


def _collect(data: list[list[str | None]], **kw) -> LineageCollector:
    c = LineageCollector(**kw)
    for b in data:
        c.add(pa.array(b, type=pa.string()))
    return c


@settings(max_examples=50, deadline=None)
@given(batches, st.integers(1, 6))
def test_spilled_set_equals_in_memory_set(data, budget) -> None:
    memory = _collect(data).finish(REF)
    c = _collect(data, ref=REF, budget=budget)
    spilled = c.finish()
    assert len(spilled) == len(memory) == len({x for b in data for x in b if x is not None})
    assert list(spilled.buckets()) == list(memory.buckets())
    assert spilled.to_bytes() == memory.to_bytes()
    if c.spilled > 1:
        assert type(spilled).__name__ == "SpilledSet"


@settings(max_examples=30, deadline=None)
@given(batches, st.integers(1, 8), st.integers(1, 5))
def test_spilled_set_equals_in_memory_set_in_small_slices(data, budget, slice_) -> None:
    """Batches de-duplicated and hashed in slices smaller than themselves."""
    saved = collector_mod.UNIQUE_SLICE, collector_mod.HASH_SLICE
    collector_mod.UNIQUE_SLICE, collector_mod.HASH_SLICE = slice_, slice_
    try:
        spilled = _collect(data, ref=REF, budget=budget).finish()
    finally:
        collector_mod.UNIQUE_SLICE, collector_mod.HASH_SLICE = saved
    assert spilled.to_bytes() == _collect(data).finish(REF).to_bytes()


def test_many_runs_hold_one_file(tmp_path: Path) -> None:
    fds = Path("/proc/self/fd")
    if not fds.is_dir():
        pytest.skip("no /proc/self/fd here")
    before = len(list(fds.iterdir()))
    r = SortedRuns(tmp_path)
    for i in range(40):
        r.add(sort_unique(np.frombuffer(os.urandom(16 * (i + 1)), dtype=DTYPE)))
    assert len(list(fds.iterdir())) <= before + 1
    merged = r.merge()
    assert len(merged) == sum(range(1, 41)) and len(list(fds.iterdir())) <= before + 1
    merged.close()


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(prefix, max_size=30), max_size=6), st.integers(1, 9))
def test_merge_of_sorted_runs_is_exact(runs, chunk) -> None:
    r = SortedRuns(chunk=chunk)
    for run in runs:
        r.add(sort_unique(np.frombuffer(b"".join(run), dtype=DTYPE)))
    merged = r.merge()
    expect = sorted({p for run in runs for p in run})
    assert len(merged) == len(expect)
    assert merged.to_bytes() == b"".join(expect)
    for b, blob in merged.buckets():
        assert blob and all(bucket_of(blob[i:i + 16].hex()) == b for i in range(0, len(blob), 16))


@settings(max_examples=50, deadline=None)
@given(st.lists(prefix, max_size=60))
def test_sort_unique_and_bucket_edges(values) -> None:
    a = sort_unique(np.frombuffer(b"".join(values), dtype=DTYPE))
    assert a.tobytes() == b"".join(sorted(set(values)))
    e = bucket_edges(a)
    assert e[-1] == len(a)
    for i, p in enumerate(sorted(set(values))):
        b = bucket_of(p.hex())
        assert e[b] <= i < e[b + 1]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=5), st.none()), max_size=50))
def test_distinct_ids(values) -> None:
    assert sorted(distinct(pa.array(values, type=pa.string())).to_pylist()) == sorted(
        {v for v in values if v is not None})


def test_spill_files_have_no_names(tmp_path: Path) -> None:
    folder = tmp_path / "spill"
    folder.mkdir()
    c = _collect([[f"C{i}" for i in range(j, j + 10)] for j in range(0, 100, 10)],
                 ref=REF, spill_dir=folder, budget=10)
    assert c.spilled >= 5 and os.listdir(folder) == []
    s = c.finish()
    assert len(s) == 100 and os.listdir(folder) == []
    c.close()


def test_spill_folder_missing_is_a_clear_error(tmp_path: Path) -> None:
    c = LineageCollector(REF, spill_dir=tmp_path / "gone", budget=2)
    with pytest.raises(StoreError, match="cannot spill") as e:
        c.add(pa.array(["a", "b", "c"]))
    assert e.value.where == str(tmp_path / "gone")


def test_killed_while_spilling_leaves_nothing(tmp_path: Path) -> None:
    code = (f"import os, signal, pyarrow as pa\nfrom pathlib import Path\n"
            "from veil.consent.models import SubjectRef\n"
            "from veil.lineage import LineageCollector\n"
            f"c = LineageCollector(SubjectRef(None), spill_dir=Path({str(tmp_path)!r}), "
            "budget=4)\n"
            "for j in range(5): c.add(pa.array([f'C{j}-{i}' for i in range(10)]))\n"
            "assert c.spilled == 5\n"
            "os.kill(os.getpid(), signal.SIGKILL)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == -signal.SIGKILL, r.stderr
    assert os.listdir(tmp_path) == []


def test_run_whose_subjects_spill_records_them_all(workspace, monkeypatch) -> None:
    write_sample("tx.csv", 400, seed=3)
    monkeypatch.setattr(collector_mod, "BUDGET", 16)
    merges: list[int] = []
    merge = SortedRuns.merge

    def counted(self: SortedRuns):
        merges.append(len(self))
        return merge(self)

    monkeypatch.setattr(SortedRuns, "merge", counted)
    pol = veil.load_policy(SAMPLE_POLICY)
    r = veil.run(pol, "credit_scoring", "tx.csv", "credit.parquet", workspace=workspace)
    lin = Lineage(workspace)
    ids = set(pa.csv.read_csv("tx.csv").column("customer_id").to_pylist())
    expect = PseudonymSet.from_hex([lin.ref.token(x) for x in ids])
    assert r.receipt["lineage"]["subjects"] == lin.output(r.run_id).subject_count == len(ids)
    assert lin.subjects_of(r.run_id) == expect.hex()
    assert merges and merges[0] >= 1  # the subjects went through the spill
    assert [x for x in os.listdir(workspace.root) if "lineage" in x] == []
