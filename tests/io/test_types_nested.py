"""A column whose type no value of could convert (a list or a struct in a Parquet file where
the policy declares a number or text) is refused with one error naming the column and both
types, on one worker or two, and nothing is published (was Arrow's own error, "internal
error", exit 1)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

import veil
from veil.errors import InputError
from veil.io.types import conform
from veil.sample import SAMPLE_POLICY, write_sample


@pytest.mark.parametrize(("values", "kind", "shown"), [
    ([[1, 2], [3]], "float", "list<"),
    ([{"a": 1}, {"a": 2}], "string", "struct<"),
    ([[1], None], "integer", "list<"),
])
def test_conform_refuses_a_column_of_another_shape(values, kind: str, shown: str) -> None:
    batch = pa.RecordBatch.from_arrays([pa.array(values)], names=["income"])
    with pytest.raises(InputError) as err:
        conform(batch, {"income": kind})
    assert err.value.where == "column income" and shown in str(err.value)


def test_conform_still_reads_binary_text_and_names_bad_values() -> None:
    batch = pa.RecordBatch.from_arrays([pa.array([b"1.5", b"x"])], names=["n"])
    out, bad = conform(batch, {"n": "float"})
    assert out.column(0).to_pylist() == [1.5, None] and [b.row for b in bad] == [1]


@pytest.mark.parametrize("workers", [1, 2])
def test_a_run_refuses_a_list_column_and_publishes_nothing(workspace, tmp_path: Path,
                                                           workers: int) -> None:
    csv = tmp_path / "tx.csv"
    write_sample(csv, 30, seed=5)
    table = pacsv.read_csv(csv)
    i = table.column_names.index("annual_income")
    table = table.set_column(i, "annual_income", pa.array([[1, 2]] * table.num_rows))
    src = tmp_path / "nested.parquet"
    pq.write_table(table, src)
    out = tmp_path / "out.parquet"
    with pytest.raises(InputError, match="cannot be read as a number") as err:
        veil.run(SAMPLE_POLICY, "credit_scoring", src, out, workers=workers)
    assert "annual_income" in str(err.value)
    assert not out.exists()
