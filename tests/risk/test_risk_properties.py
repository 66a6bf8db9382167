"""Properties that must hold for any table (hypothesis)."""

from __future__ import annotations

import math

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from veil.errors import PolicyError
from veil.risk import (
    Anonymizer,
    Discernibility,
    DistinctLDiversity,
    EqualDistanceTCloseness,
    Hierarchy,
    KAnonymity,
    Loss,
    NonUniformEntropy,
    aggregate,
    anonymize,
    measure,
)
from veil.risk.metrics import ClassAggregator, report

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def hierarchy(name: str, domain: int) -> Hierarchy:
    # value -> pairs -> quads -> *   (4 levels)
    return Hierarchy(name, [[str(v), f"p{v // 2}", f"q{v // 4}", "*"] for v in range(domain)])


@st.composite
def tables(draw: st.DrawFn) -> tuple[pa.Table, list[str], dict[str, Hierarchy]]:
    n_qis = draw(st.integers(1, 3))
    rows = draw(st.integers(1, 40))
    cols: dict[str, list[int]] = {}
    hs: dict[str, Hierarchy] = {}
    for j in range(n_qis):
        domain = draw(st.integers(1, 8))
        cols[f"q{j}"] = draw(st.lists(st.integers(0, domain - 1), min_size=rows, max_size=rows))
        hs[f"q{j}"] = hierarchy(f"q{j}", domain)
    cols["s"] = draw(st.lists(st.integers(0, 3), min_size=rows, max_size=rows))
    return pa.table(cols), list(hs), hs


@SETTINGS
@given(data=tables(), st_data=st.data())
def test_generalizing_never_lowers_k(data: tuple, st_data: st.DataObject) -> None:
    table, qis, hs = data
    low = [st_data.draw(st.integers(0, 3)) for _ in qis]
    high = [min(3, lv + st_data.draw(st.integers(0, 3))) for lv in low]

    def generalized(levels: list[int]) -> pa.Table:
        return pa.table(
            {q: hs[q].generalize(table[q], lv) for q, lv in zip(qis, levels, strict=True)}
        )

    a, b = measure(generalized(low), qis), measure(generalized(high), qis)
    assert b.k >= a.k
    # and uniqueness never rises, nor does the number of classes
    assert b.sample_uniqueness <= a.sample_uniqueness
    assert b.classes <= a.classes


@SETTINGS
@given(
    data=tables(),
    k=st.integers(1, 4),
    limit=st.sampled_from([0.0, 0.1, 0.25, 0.5]),
    quality=st.sampled_from(["entropy", "loss", "dm"]),
    extra=st.sampled_from([None, "distinct", "tclose"]),
)
def test_search_is_optimal_and_respects_the_limit(
    data: tuple, k: int, limit: float, quality: str, extra: str | None
) -> None:
    table, qis, hs = data
    q = {"entropy": NonUniformEntropy(), "loss": Loss(), "dm": Discernibility()}[quality]
    models: list = [KAnonymity(k)]
    if extra == "distinct":
        models.append(DistinctLDiversity("s", 2))
    elif extra == "tclose":
        models.append(EqualDistanceTCloseness("s", 0.4))
    ec = aggregate(table, qis, ["s"] if extra else [])
    eng = Anonymizer(ec, hs, models, suppression_limit=limit, quality=q)
    brute = eng.evaluate_all()
    opt = brute.optimum()
    if opt < 0:
        with pytest.raises(PolicyError):
            anonymize(table, hs, models, suppression_limit=limit, quality=q)
        return
    res = anonymize(table, hs, models, suppression_limit=limit, quality=q)
    assert res.node == tuple(int(x) for x in brute.nodes[opt])
    assert res.info_loss == brute.loss[opt]
    # suppression within the limit
    assert res.suppressed_records <= math.floor(limit * table.num_rows + 1e-9)
    out = (
        pa.Table.from_batches(list(res.apply(table.to_batches(max_chunksize=7))), schema=None)
        if table.num_rows
        else table
    )
    assert out.num_rows == table.num_rows - res.suppressed_records
    if out.num_rows:
        assert measure(out, qis, contributions=False).k >= k


@SETTINGS
@given(data=tables(), st_data=st.data())
def test_metrics_invariant_to_row_order_and_batches(data: tuple, st_data: st.DataObject) -> None:
    table, qis, _ = data
    n = table.num_rows
    perm = st_data.draw(st.permutations(list(range(n))))
    shuffled = table.take(pa.array(perm, pa.int64()))
    size = st_data.draw(st.integers(1, max(n, 1)))
    ref = measure(table, qis, ["s"], top=50).to_dict()
    # row order + batch splitting
    assert measure(shuffled.to_batches(max_chunksize=size), qis, ["s"], top=50).to_dict() == ref
    # partial aggregates merged through a tiny buffer
    agg = ClassAggregator(qis, ["s"], buffer_rows=2)
    for batch in shuffled.to_batches(max_chunksize=size):
        agg.update(batch)
    assert report(agg.finish(), top=50).to_dict() == ref
