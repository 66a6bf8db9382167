"""generalize: bins, age bands, dates, prefixes, hierarchies; refusals at check time."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest

from tests.transforms.conftest import Ctx
from veil.errors import InputError
from veil.policy.model import FieldDef
from veil.risk.hierarchy import Hierarchy
from veil.transforms import REGISTRY, check_treatment

G = REGISTRY["generalize"]
INT = FieldDef(category="demographic", type="integer")


def g(values: pa.Array, **params: object) -> list:
    return G.apply(values, dict(params), Ctx()).to_pylist()


def test_bins_width_and_edges() -> None:
    assert g(pa.array([0, 9, 10, 39, -1, None]), method="bins", width=10) == \
        ["0-9", "0-9", "10-19", "30-39", "-10--1", None]
    assert g(pa.array([1.5, 2.5]), method="bins", width=2.5) == ["[0, 2.5)", "[2.5, 5)"]
    assert g(pa.array([17, 18, 29, 30, 64, 65, 99]), method="bins", edges=[18, 30, 65]) == \
        ["<18", "18-29", "18-29", "30-64", "30-64", ">=65", ">=65"]
    assert g(pa.array([0.5, 3.0]), method="bins", edges=[1, 2],
             labels=["low", "mid", "high"]) == ["low", "high"]


def test_age_band_is_exact_on_birthdays() -> None:
    born = pa.array([dt.date(1990, 6, 15), dt.date(1990, 6, 16), dt.date(1935, 1, 1),
                     dt.date(2030, 1, 1), None])
    assert g(born, method="age_band", as_of="2020-06-15", width=10) == \
        ["30-39", "20-29", "80-89", None, None]
    assert g(born, method="age_band", as_of="2020-06-15", width=10, top=80) == \
        ["30-39", "20-29", "80+", None, None]
    ts = pa.array([dt.datetime(1990, 6, 15, 23, tzinfo=dt.UTC)], pa.timestamp("us", tz="UTC"))
    assert g(ts, method="age_band", as_of="2020-06-15", width=5) == ["30-34"]


def test_age_band_default_as_of_is_fixed_per_run_and_recorded() -> None:
    ctx = Ctx()
    ctx.state.as_of = dt.date(2020, 1, 1)
    out = G.apply(pa.array([dt.date(2000, 1, 2)]), {"method": "age_band"}, ctx)
    assert out.to_pylist() == ["10-19"]
    assert G.info({"method": "age_band"}, ctx)["as_of"] == "2020-01-01"


def test_dates_to_month_quarter_year() -> None:
    d = pa.array([dt.date(2024, 3, 9), None])
    assert g(d, method="month") == ["2024-03", None]
    assert g(d, method="quarter") == ["2024-Q1", None]
    assert g(d, method="year") == ["2024", None]
    ts = pa.array([dt.datetime(2024, 12, 31, 23, 30, tzinfo=dt.UTC)],
                  pa.timestamp("us", tz="UTC"))
    assert g(ts, method="quarter") == ["2024-Q4"]


def test_prefix() -> None:
    v = pa.array(["10115", "8001", None])
    assert g(v, method="prefix", length=3) == ["101", "800", None]
    assert g(v, method="prefix", length=3, pad="*") == ["101**", "800*", None]


def test_hierarchy_from_adult_csv(conformance_dir: Path, tmp_path: Path) -> None:
    path = conformance_dir / "adult" / "adult_hierarchy_education.csv"
    h = Hierarchy.from_csv(path)
    vals = pa.array(["Bachelors", "11th", None, "Bachelors"])
    out = g(vals, method="hierarchy", file=str(path), level=2)
    assert out[:2] == h.generalize(pa.array(["Bachelors", "11th"]), 2).to_pylist()
    assert out[2] is None and out[3] == out[0]
    with pytest.raises(InputError, match="1 distinct value is not in the generalization") as e:
        g(pa.array(["Kindergarten-PhD"]), method="hierarchy", file=str(path), level=1)
    assert "Kindergarten" not in str(e.value)  # never the value
    assert g(pa.array(["Kindergarten-PhD", "11th"]), method="hierarchy", file=str(path),
             level=1, on_missing="root")[0] == "*"
    ages = conformance_dir / "adult" / "adult_hierarchy_age.csv"
    assert g(pa.array([39, 2]), method="hierarchy", file=str(ages), level=1) == ["35-39", "0-4"]
    # relative paths resolve against the policy file's folder
    (tmp_path / "h").mkdir()
    (tmp_path / "h" / "edu.csv").write_bytes(path.read_bytes())
    check_treatment(G, FieldDef(category="employment"),
                    {"method": "hierarchy", "file": "h/edu.csv", "level": 3}, tmp_path)
    with pytest.raises(ValueError, match="above the hierarchy's top level 3"):
        check_treatment(G, FieldDef(category="employment"),
                        {"method": "hierarchy", "file": "h/edu.csv", "level": 4}, tmp_path)
    with pytest.raises(ValueError, match="not found"):
        check_treatment(G, FieldDef(category="employment"),
                        {"method": "hierarchy", "file": "h/missing.csv", "level": 1}, tmp_path)


@pytest.mark.parametrize(("field", "params", "msg"), [
    (FieldDef(category="location"), {"method": "bins", "width": 10},
     "does not fit a field of type string: binning needs numbers"),
    (INT, {"method": "bins"}, "either 'width' or 'edges'"),
    (INT, {"method": "bins", "width": 0}, "positive"),
    (INT, {"method": "bins", "edges": [3, 2]}, "strictly increasing"),
    (INT, {"method": "bins", "edges": [1, 2], "labels": ["a"]}, "3 texts"),
    (INT, {"method": "age_band"}, "type integer"),
    (FieldDef(category="x", type="date"), {"method": "age_band", "as_of": "soon"}, "not a date"),
    (INT, {"method": "month"}, "taken from a date"),
    (INT, {"method": "prefix", "length": 3}, "type integer"),
    (FieldDef(category="x"), {"method": "prefix"}, "needs the parameter 'length'"),
    (FieldDef(category="x"), {"method": "round"}, "must be one of"),
    (FieldDef(category="x"), {"method": "year", "width": 1}, "has no parameter width"),
])
def test_check_refusals(field: FieldDef, params: dict, msg: str) -> None:
    with pytest.raises(ValueError, match=msg):
        G.check(field, params)


def test_vectorized_on_a_large_array() -> None:
    import numpy as np

    vals = pa.array(np.random.default_rng(1).integers(0, 100, 200_000))
    out = G.apply(vals, {"method": "bins", "width": 10}, Ctx())
    assert len(out) == 200_000 and len(out.unique()) == 10
