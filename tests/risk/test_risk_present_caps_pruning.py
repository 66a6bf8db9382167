"""The monotone parts of non-monotone models (``PresentCaps``) that let the search prune:
never failing a class the model passes, and never changing the optimum, whichever way the
lattice is swept."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.risk.lattices import model_of, tables
from veil.risk.anonymize import Anonymizer
from veil.risk.classes import SensitiveCounts, aggregate
from veil.risk.privacy import (
    KAnonymity,
    PresentCaps,
)

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

KINDS = ["delta", "basic", "enhanced", "equal", "hierarchical"]


@SETTINGS
@given(
    kind=st.sampled_from(KINDS),
    x=st.floats(0.0, 1.0),
    counts=st.lists(st.lists(st.integers(0, 6), min_size=4, max_size=4), min_size=1, max_size=12),
    reference=st.lists(st.integers(1, 20), min_size=4, max_size=4),
)
def test_the_caps_never_fail_a_class_the_model_passes(
    kind: str, x: float, counts: list[list[int]], reference: list[int]
) -> None:
    table = np.array(counts)
    sizes = table.sum(axis=1)
    cls, val = np.nonzero(table)
    ref = np.array(reference, dtype=np.int64)
    sc = SensitiveCounts("s", pa.array(["0", "1", "2", "3"]), cls, val, table[cls, val], ref)
    model = model_of(kind, x)
    caps = model.present_caps(ref / ref.sum())
    if caps is None:
        return
    by_caps = PresentCaps("s", caps).failing(sizes, sc)
    by_model = model.failing(sizes, sc) & (sizes > 0)
    assert not (by_caps & ~by_model).any()


@SETTINGS
@given(
    data=tables(),
    kind=st.sampled_from(KINDS),
    x=st.floats(0.0, 1.0),
    k=st.integers(1, 3),
    limit=st.sampled_from([0.0, 0.1, 0.3]),
)
def test_the_search_finds_the_brute_force_optimum_either_way(
    data: tuple, kind: str, x: float, k: int, limit: float
) -> None:
    table, hs = data
    ec = aggregate(table, list(hs), ["s"])
    models = [KAnonymity(k), model_of(kind, x)]
    brute = Anonymizer(ec, hs, models, suppression_limit=limit).evaluate_all()
    opt = brute.optimum()
    for top_down in (False, True):
        engine = Anonymizer(ec, hs, models, suppression_limit=limit)
        engine.prefers_top_down = lambda t=top_down: t  # type: ignore[method-assign]
        assert any(isinstance(m, PresentCaps) for m in engine.monotone_models) or (
            engine.monotone or models[1].present_caps(np.full(4, 0.25)) is None
        )
        if opt < 0:
            with pytest.raises(Exception, match="no generalization"):
                engine.search()
            continue
        best, _ = engine.search()
        assert best.node == tuple(int(v) for v in brute.nodes[opt])
        assert best.loss == brute.loss[opt]
