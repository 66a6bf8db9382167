"""Hierarchies: loading, validation, generalization, and the errors a user can make."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from veil.errors import InputError, PolicyError
from veil.risk import Hierarchy, KAnonymity, anonymize, load_hierarchies, measure


def adult_hierarchy(conformance_dir: Path, column: str) -> Hierarchy:
    return Hierarchy.from_csv(conformance_dir / "adult" / f"adult_hierarchy_{column}.csv")


def test_load_adult_hierarchies(conformance_dir: Path) -> None:
    hs = load_hierarchies(sorted((conformance_dir / "adult").glob("adult_hierarchy_*.csv")))
    levels = {c: h.levels for c, h in hs.items()}
    assert levels == {
        "age": 5,
        "education": 4,
        "marital-status": 3,
        "native-country": 3,
        "occupation": 3,
        "race": 2,
        "salary-class": 2,
        "sex": 2,
        "workclass": 3,
    }
    # 5*4*3*3*3*2*2*2*3 = 12,960 lattice nodes
    assert int(np.prod(list(levels.values()))) == 12960
    age = hs["age"]
    assert len(age.values) == 100 and age.height == 4
    assert age.domain_size(4) == 1 and age.labels(4).to_pylist() == ["*"]
    assert age.rows()[38] == ("39", "35-39", "30-39", "20-39", "*")
    # leaf counts: every decade label at level 2 covers 10 ages, the root all 100
    assert age.leaf_counts(4).tolist() == [100]
    assert set(age.leaf_counts(2).tolist()) == {10}


def test_generalize_is_vectorized_and_typed(conformance_dir: Path) -> None:
    age = adult_hierarchy(conformance_dir, "age")
    arr = pa.array([39, 17, 39, None][:3], type=pa.int64())
    assert age.generalize(arr, 1).to_pylist() == ["35-39", "15-19", "35-39"]
    assert age.generalize(arr, 3).to_pylist() == ["20-39", "0-19", "20-39"]
    assert age.generalize(arr, 4).to_pylist() == ["*", "*", "*"]
    assert age.generalize(arr, 0).to_pylist() == ["39", "17", "39"]
    chunked = pa.chunked_array([[39], [17, 17]])
    assert age.generalize(chunked, 2).to_pylist() == ["30-39", "10-19", "10-19"]
    assert age.encode(pa.array([], pa.int64())).tolist() == []
    with pytest.raises(PolicyError, match="levels 0..4, not level 5"):
        age.generalize(arr, 5)


def test_duplicate_identical_rows_are_harmless() -> None:
    h = Hierarchy("x", [["a", "A", "*"], ["a", "A", "*"], ["b", "A", "*"]])
    assert h.values.to_pylist() == ["a", "b"]


def test_rows_of_different_lengths(tmp_path: Path) -> None:
    p = tmp_path / "h_hierarchy_city.csv"
    p.write_text("Berlin;DE;*\nParis;FR\n")
    with pytest.raises(PolicyError) as err:
        Hierarchy.from_csv(p)
    msg = str(err.value)
    assert "column 'city'" in msg and "row 2" in msg and "'Paris'" in msg
    assert "has 2 levels, expected 3" in msg


def test_value_with_two_parents() -> None:
    rows = [
        ["Berlin", "DE", "EU", "*"],
        ["Munich", "DE", "EU", "*"],
        ["Vienna", "AT", "EU", "*"],
        ["Bonn", "DE", "Europe", "*"],
    ]
    with pytest.raises(PolicyError) as err:
        Hierarchy("city", rows)
    msg = str(err.value)
    assert "column 'city'" in msg
    assert "value 'DE' at level 1 has two different parents at level 2: 'EU' and 'Europe'" in msg


def test_value_listed_twice_with_different_generalizations() -> None:
    with pytest.raises(
        PolicyError, match="value 'a' at level 0 has two different parents at level 1: 'A' and 'B'"
    ):
        Hierarchy("x", [["a", "A", "*"], ["a", "B", "*"]])


def test_empty_hierarchy(tmp_path: Path) -> None:
    p = tmp_path / "x_hierarchy_zip.csv"
    p.write_text("")
    with pytest.raises(PolicyError, match="hierarchy for column 'zip'.* is empty"):
        Hierarchy.from_csv(p)
    with pytest.raises(PolicyError, match="cannot read hierarchy"):
        Hierarchy.from_csv(tmp_path / "missing.csv", "zip")


def test_missing_value_in_data_names_column_value_and_row() -> None:
    h = Hierarchy("city", [["Berlin", "DE", "*"], ["Paris", "FR", "*"]])
    with pytest.raises(InputError) as err:
        h.encode(pa.array(["Paris", "Berlin", "Rome", "Oslo", "Rome"]))
    assert str(err.value) == (
        "column 'city': value 'Rome' at row 2 (0-based) is not in its generalization hierarchy"
    )
    with pytest.raises(InputError, match=r"column 'city': missing value \(null\) at row 1"):
        h.encode(pa.array(["Paris", None]))


def _batches(rows: list[tuple[str, int]], size: int, log: list[int]) -> Iterator[pa.RecordBatch]:
    for i in range(0, len(rows), size):
        chunk = rows[i : i + size]
        log.append(i)
        yield pa.record_batch({"city": [c for c, _ in chunk], "n": [n for _, n in chunk]})


def test_missing_value_is_reported_before_any_work() -> None:
    h = Hierarchy("city", [["Berlin", "DE", "*"], ["Paris", "FR", "*"]])
    rows = [("Paris", 1)] * 4 + [("Rome", 2)] + [("Paris", 3)] * 4
    read: list[int] = []
    with pytest.raises(InputError) as err:
        anonymize(_batches(rows, 3, read), {"city": h}, [KAnonymity(2)])
    # named while reading the second batch: global row 4; the third batch is never read
    assert "column 'city': value 'Rome' at row 4 (0-based)" in str(err.value)
    assert read == [0, 3]


def test_unknown_column_and_missing_hierarchy() -> None:
    h = Hierarchy("city", [["Berlin", "DE", "*"]])
    t = pa.table({"town": ["Berlin"]})
    with pytest.raises(InputError, match="column 'city' is not in the data"):
        anonymize(t, {"city": h}, [KAnonymity(1)])
    with pytest.raises(PolicyError, match="quasi-identifier 'town' has no generalization"):
        anonymize(t, {"city": h}, [KAnonymity(1)], quasi_identifiers=["town"])


def test_empty_table() -> None:
    h = Hierarchy("city", [["Berlin", "DE", "*"]])
    empty = pa.table({"city": pa.array([], pa.string())})
    with pytest.raises(InputError, match="empty table"):
        anonymize(empty, {"city": h}, [KAnonymity(2)])
    with pytest.raises(InputError, match="empty table"):
        measure(empty, ["city"])


def test_numbers_match_by_string_form() -> None:
    h = Hierarchy("n", [["1", "low", "*"], ["2", "low", "*"], ["10", "high", "*"]])
    assert h.generalize(pa.array([10, 1, 2], pa.int32()), 1).to_pylist() == ["high", "low", "low"]
    with pytest.raises(InputError, match="value '3'"):
        h.generalize(pa.array([3]), 1)
