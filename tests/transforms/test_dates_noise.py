"""date_shift (per-subject offsets) and noise (calibrated, seeded per run)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.transforms.conftest import Ctx
from veil.errors import InputError
from veil.policy.model import FieldDef
from veil.transforms import REGISTRY, InMemoryTransformKeys
from veil.transforms.dates import offsets

D, N = REGISTRY["date_shift"], REGISTRY["noise"]
KEYS = InMemoryTransformKeys()


def test_same_subject_same_offset_across_fields_batches_and_runs() -> None:
    subjects = [f"C{i % 50}" for i in range(500)]
    base = dt.date(2024, 1, 1)
    dates = pa.array([base + dt.timedelta(days=i % 7) for i in range(500)])
    out = D.apply(dates, {"max_days": 30}, Ctx(KEYS, subject_ids=subjects)).to_pylist()
    shift = [(o - d).days for o, d in zip(out, dates.to_pylist(), strict=True)]
    per: dict[str, set[int]] = {}
    for s, k in zip(subjects, shift, strict=True):
        per.setdefault(s, set()).add(k)
    assert all(len(v) == 1 for v in per.values())  # one offset per subject
    assert all(-30 <= k <= 30 and k != 0 for v in per.values() for k in v)
    assert len({next(iter(v)) for v in per.values()}) > 10  # subjects differ
    ts = pa.array([dt.datetime(2024, 1, 1, 12, tzinfo=dt.UTC)] * 2, pa.timestamp("us", tz="UTC"))
    out2 = D.apply(ts, {"max_days": 30}, Ctx(KEYS, run_id="other", subject_ids=["C3", "C4"]))
    assert [(o - t).days for o, t in zip(out2.to_pylist(), ts.to_pylist(), strict=True)] == \
        [next(iter(per["C3"])), next(iter(per["C4"]))]
    assert out2.type == ts.type
    # another purpose: other offsets
    other = offsets(pa.array([f"C{i}" for i in range(50)]), KEYS.hmac_key("fraud"),
                    {"max_days": 30}).to_pylist()
    assert other != [next(iter(per[f"C{i}"])) for i in range(50)]


@settings(max_examples=50, deadline=None)
@given(st.integers(-100, 100), st.integers(1, 100), st.booleans())
def test_offsets_stay_in_range(lo: int, span: int, zero: bool) -> None:
    hi = lo + span
    params = {"max_days": hi, "min_days": lo, "allow_zero": zero} if hi > 0 else None
    if params is None:
        return
    got = offsets(pa.array([f"s{i}" for i in range(200)] + [None]), b"k" * 32, params)
    vals = [v for v in got.to_pylist() if v is not None]
    assert got[200].as_py() is None and len(vals) == 200
    assert all(lo <= v <= hi for v in vals)
    if not zero:
        assert 0 not in vals


def test_date_shift_needs_subjects() -> None:
    with pytest.raises(InputError, match="subject id"):
        D.apply(pa.array([dt.date(2024, 1, 1)]), {"max_days": 3}, Ctx(KEYS))
    with pytest.raises(InputError, match="not aligned"):
        D.apply(pa.array([dt.date(2024, 1, 1)]), {"max_days": 3},
                Ctx(KEYS, subject_ids=["a", "b"]))
    assert D.needs_subject
    with pytest.raises(ValueError, match="type string"):
        D.check(FieldDef(category="x"), {"max_days": 3})
    with pytest.raises(ValueError, match="must be below"):
        D.check(FieldDef(category="x", type="date"), {"max_days": 3, "min_days": 5})


def test_laplace_noise_is_calibrated_and_reproducible() -> None:
    x = pa.array(np.zeros(200_000))
    p = {"mechanism": "laplace", "epsilon": 0.5, "sensitivity": 2.0}
    a = N.apply(x, p, Ctx(KEYS, field="amount")).to_numpy()
    assert abs(np.mean(np.abs(a)) - 4.0) < 0.1  # E|Laplace(b)| = b = 2 / 0.5
    # the same key, run, field and batch: the same noise; the next batch: fresh noise
    ctx = Ctx(KEYS, field="amount")
    first = N.apply(x[:1000], p, ctx).to_numpy()
    second = N.apply(x[:1000], p, ctx).to_numpy()
    assert np.array_equal(first, a[:1000]) and not np.array_equal(first, second)
    # another field in the same batch: independent noise
    other = N.apply(x[:1000], p, Ctx(KEYS, field="balance")).to_numpy()
    assert abs(np.corrcoef(first, other)[0, 1]) < 0.15
    # another run: other noise
    assert not np.array_equal(N.apply(x[:1000], p, Ctx(KEYS, field="amount", run_id="r9"))
                              .to_numpy(), first)


def test_gaussian_noise_integers_nulls_and_clip() -> None:
    p = {"mechanism": "gaussian", "epsilon": 0.5, "delta": 1e-5, "sensitivity": 1.0,
         "clip": [-1000, 1000]}
    x = pa.array([10, None, 20] * 10_000)
    out = N.apply(x, p, Ctx(KEYS, field="age"))
    assert out.type == pa.int64() and out.null_count == 10_000
    v = np.array([i for i in out.to_pylist() if i is not None])
    sigma = np.sqrt(2 * np.log(1.25 / 1e-5)) / 0.5
    assert abs(np.std(v[::2] - 10) - sigma) < 0.5
    clipped = N.apply(x, {**p, "clip": [0, 15]}, Ctx(KEYS, field="age")).to_pylist()
    assert min(c for c in clipped if c is not None) == 0
    assert max(c for c in clipped if c is not None) == 15
    info = N.info(p, Ctx(KEYS, field="age"))
    assert info["sigma"] == pytest.approx(sigma) and "key_id" in info
    assert "seed" not in info


@pytest.mark.parametrize(("params", "msg"), [
    ({"mechanism": "laplace", "epsilon": 1}, "needs the parameter 'sensitivity'"),
    ({"mechanism": "laplace", "epsilon": -1, "sensitivity": 1}, "positive"),
    ({"mechanism": "gaussian", "epsilon": 2, "delta": 1e-5, "sensitivity": 1}, "epsilon < 1"),
    ({"mechanism": "gaussian", "sigma": 1, "epsilon": 0.5}, "either 'sigma'"),
    ({"mechanism": "uniform"}, "must be one of"),
    ({"mechanism": "laplace", "epsilon": 1, "sensitivity": 1, "clip": [5, 1]}, "lo < hi"),
])
def test_noise_check_refusals(params: dict, msg: str) -> None:
    with pytest.raises(ValueError, match=msg):
        N.check(FieldDef(category="x", type="float"), params)


def test_noise_refuses_text() -> None:
    with pytest.raises(ValueError, match="type string"):
        N.check(FieldDef(category="x"), {"mechanism": "gaussian", "sigma": 1})
