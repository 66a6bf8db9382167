"""Readers: formats, projection, type conversion, rejects with their place, digests."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from veil.errors import InputError
from veil.io.readers import CsvOptions, Reject, open_source, record_number
from veil.io.types import conform
from veil.io.writers import ParquetSink

TYPES = {"id": "string", "n": "integer", "x": "float", "d": "date", "t": "timestamp",
         "b": "boolean"}


def read_all(src, columns, types=TYPES):  # type: ignore[no-untyped-def]
    rejects: list[Reject] = []
    batches = list(src.batches(columns, types, rejects.append))
    table = pa.Table.from_batches(batches) if batches else None
    return table, rejects


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode() if isinstance(text, str) else text)
    return p


CSV = ("id,n,x,d,t,b,secret\n"
       "a,1,1.5,2020-01-02,2024-01-02T03:04:05Z,true,s1\n"
       "b, 2 ,,2021-02-03,2024-01-02 03:04:05,false,s2\n"
       '"c\nmultiline",3,2.5,2022-03-04,2024-05-06T07:08:09+02:00,1,s3\n')


def test_csv_types_projection_and_digest(tmp_path: Path) -> None:
    p = write(tmp_path, "a.csv", CSV)
    src = open_source(p)
    assert src.header() == ["id", "n", "x", "d", "t", "b", "secret"]
    table, rejects = read_all(src, ["id", "n", "x", "d", "t", "b"])
    assert rejects == []
    assert table.column_names == ["id", "n", "x", "d", "t", "b"]  # 'secret' never read
    assert table.column("n").to_pylist() == [1, 2, 3]
    assert table.column("x").to_pylist() == [1.5, None, 2.5]
    assert str(table.column("t").type) == "timestamp[us, tz=UTC]"
    assert table.column("t")[2].as_py().hour == 5
    assert table.column("id")[2].as_py() == "c\nmultiline"
    assert src.digest == hashlib.sha256(p.read_bytes()).hexdigest()


def test_csv_bad_rows_name_their_line_even_after_multiline_values(tmp_path: Path) -> None:
    p = write(tmp_path, "b.csv", CSV + "d,4\n" + "e,notint,1,2020-01-01,,true,s\n")
    table, rejects = read_all(open_source(p), ["id", "n"])
    assert table.column("id").to_pylist() == ["a", "b", "c\nmultiline"]
    by_line = {r.line: r for r in rejects}
    assert set(by_line) == {6, 7}
    assert by_line[6].reason == "expected 7 fields, found 2" and by_line[6].record == 4
    assert by_line[7].column == "n" and by_line[7].reason == "not an integer"
    assert by_line[7].raw["n"] == "notint"  # the rejects file keeps the original value
    assert "notint" not in by_line[7].reason  # messages never carry values


def test_csv_options_and_encoding(tmp_path: Path) -> None:
    p = write(tmp_path, "c.csv", "id;n\n'M\u00fcller;x';5\n".encode("latin-1"))
    src = open_source(p, csv_options=CsvOptions(delimiter=";", quote_char="'",
                                                encoding="latin-1"))
    table, _ = read_all(src, ["id", "n"])
    assert table.column("id").to_pylist() == ["M\u00fcller;x"]
    bad = open_source(p, csv_options=CsvOptions(delimiter=";", quote_char="'"))
    with pytest.raises(InputError, match="c.csv:2: invalid UTF-8"):
        read_all(bad, ["id", "n"])


@pytest.mark.parametrize(("content", "message"), [
    ("", "empty file"),
    ("\n\n", "empty file"),
    ("a,a\n1,2\n", "appears twice"),
    ("a,,b\n", "empty name"),
])
def test_csv_bad_headers(tmp_path: Path, content: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        open_source(write(tmp_path, "h.csv", content)).header()


def test_missing_file_and_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        open_source(tmp_path / "none.csv")
    with pytest.raises(InputError, match="cannot tell the format"):
        open_source(write(tmp_path, "x.dat", "a"))
    with pytest.raises(InputError, match="not a readable Parquet"):
        open_source(write(tmp_path, "x.parquet", "not parquet"))


def test_parquet_source(tmp_path: Path) -> None:
    t = pa.table({"id": ["a", "b"], "n": pa.array([1, 2], pa.int32()), "x": [0.5, None],
                  "secret": ["s", "t"]})
    pq.write_table(t, tmp_path / "p.parquet")
    src = open_source(tmp_path / "p.parquet")
    table, rejects = read_all(src, ["id", "n", "x"])
    assert table.schema.field("n").type == pa.int64() and rejects == []
    assert src.digest == hashlib.sha256((tmp_path / "p.parquet").read_bytes()).hexdigest()


def test_jsonl_source_names_bad_lines(tmp_path: Path) -> None:
    lines = [json.dumps({"id": "a", "n": 1, "x": 2}), "", "{broken", json.dumps([1]),
             json.dumps({"id": "b", "n": "7", "extra": {"k": 1}}),
             json.dumps({"id": "c", "n": "seven"})]
    p = write(tmp_path, "j.jsonl", "\n".join(lines) + "\n")
    src = open_source(p)
    assert src.header() == ["id", "n", "x", "extra"]
    table, rejects = read_all(src, ["id", "n", "x"])
    assert table.column("id").to_pylist() == ["a", "b"]
    assert table.column("n").to_pylist() == [1, 7]
    assert [(r.line, r.column) for r in rejects] == [(3, None), (4, None), (6, "n")]
    assert rejects[0].reason.startswith("invalid JSON")


def test_dataframes(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    pl = pytest.importorskip("polars")
    for frame in (pd.DataFrame({"id": ["a"], "n": [1]}), pl.DataFrame({"id": ["a"], "n": [1]})):
        src = open_source(frame)
        table, _ = read_all(src, ["id", "n"])
        assert table.to_pylist() == [{"id": "a", "n": 1}]
        assert src.digest and len(src.digest) == 64


def test_database_table(tmp_path: Path) -> None:
    import sqlalchemy as sa

    url = f"sqlite:///{tmp_path / 'src.db'}"
    eng = sa.create_engine(url)
    with eng.begin() as c:
        c.execute(sa.text("CREATE TABLE tx (id TEXT PRIMARY KEY, n INTEGER, x REAL)"))
        c.execute(sa.text("INSERT INTO tx VALUES ('b', 2, 1.5), ('a', 1, NULL)"))
    eng.dispose()
    src = open_source(url, table="tx")
    table, _ = read_all(src, ["id", "n", "x"])
    assert table.to_pylist() == [{"id": "a", "n": 1, "x": None}, {"id": "b", "n": 2, "x": 1.5}]
    with pytest.raises(InputError, match="no table 'nope'"):
        open_source(url, table="nope")
    with pytest.raises(InputError, match="needs a table name"):
        open_source(url)


def test_parquet_sink_publishes_only_on_commit(tmp_path: Path) -> None:
    schema = pa.schema([("a", pa.int64())])
    out = tmp_path / "o.parquet"
    with pytest.raises(RuntimeError), ParquetSink(out, schema) as sink:
        sink.write(pa.record_batch([pa.array([1, 2])], schema=schema))
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with ParquetSink(out, schema) as sink:
        sink.write(pa.record_batch([pa.array([1, 2])], schema=schema))
        digest = sink.commit()
    assert pq.read_table(out).column("a").to_pylist() == [1, 2]
    assert digest == hashlib.sha256(out.read_bytes()).hexdigest()
    assert [p.name for p in tmp_path.iterdir()] == ["o.parquet"]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.integers(-10**12, 10**12).map(str), st.text(max_size=6),
                          st.none()), max_size=40))
def test_conform_keeps_good_integers_and_reports_exactly_the_bad(values: list) -> None:
    batch = pa.record_batch([pa.array(values, pa.string())], names=["n"])
    out, bad = conform(batch, {"n": "integer"})
    bad_rows = {b.row for b in bad}
    for i, v in enumerate(values):
        s = None if v is None else v.strip()
        try:
            expected = None if not s else int(s)
            ok = s is None or s == "" or str(expected) == s.lstrip("+") or s.lstrip("-").isdigit()
        except ValueError:
            ok = False
        if i in bad_rows:
            assert not ok or out.column(0)[i].as_py() is None
        else:
            got = out.column(0)[i].as_py()
            assert got == (None if not s else int(s))


@given(st.lists(st.integers(1, 60), unique=True).map(sorted), st.integers(0, 40))
def test_record_number_skips_rejected_records(skipped: list[int], k: int) -> None:
    kept = [r for r in range(1, 200) if r not in set(skipped)]
    assert record_number(k, skipped) == kept[k]


# -- CSV as people make it (issue 25 item 5) ---------------------------------------------------

def test_excel_csv_utf8_with_a_byte_order_mark_and_quoted_header(tmp_path: Path) -> None:
    text = '\ufeff"id","n"\r\n"a","1"\r\n"b","2"\r\n'
    src = open_source(write(tmp_path, "excel.csv", text))
    assert src.header() == ["id", "n"]
    table, rejects = read_all(src, ["id", "n"])
    assert rejects == [] and table.column("id").to_pylist() == ["a", "b"]
    assert table.column("n").to_pylist() == [1, 2]


def test_out_of_range_numbers_and_nul_bytes_are_rejected_with_row_and_column(
        tmp_path: Path) -> None:
    huge = "1" + "0" * 400
    p = write(tmp_path, "odd.csv", f"id,x\na,1.5\nb,{huge}\nc\x00d,2\n")
    table, rejects = read_all(open_source(p), ["id", "x"])
    assert table.column("id").to_pylist() == ["a"]
    by_line = {r.line: r for r in rejects}
    assert by_line[3].column == "x" and "out of range" in by_line[3].reason
    assert by_line[4].column == "id" and "NUL" in by_line[4].reason


def test_a_field_longer_than_a_record_may_be_names_its_line_and_column(tmp_path: Path) -> None:
    big = "x" * (3 << 20)
    p = write(tmp_path, "big.csv", f"id,memo\na,short\nb,{big}\n")
    with pytest.raises(InputError) as err:
        read_all(open_source(p), ["id"])
    assert err.value.where == f"{p}:3" and "column memo" in str(err.value)
    assert "3.1 MB" in str(err.value)


@pytest.mark.parametrize("shift", [-1, 0, 1])
def test_a_quoted_crlf_across_the_readers_block_boundary_keeps_both_bytes(
        tmp_path: Path, shift: int) -> None:
    """Arrow's CSV reader drops the "\\n" of a quoted "\\r\\n" split between two of its blocks
    (apache/arrow#51368); the source hands it reads that never end on a "\\r"."""
    import csv
    import io

    from veil.io.readers import CSV_BLOCK

    body = bytearray(b"id,note\r\n")
    i = 0
    while len(body) < CSV_BLOCK - 200:
        body += b"%07d,plain text of a row\r\n" % i
        i += 1
    cr_at = CSV_BLOCK - 1 + shift  # where the quoted "\r" lands (0: the block's last byte)
    quoted = b'last,"Dear team,'
    body += b"pad," + b"x" * (cr_at - len(body) - len(quoted) - 6) + b"\r\n"
    body += quoted + b'\r\nsee you"\r\ntail,end\r\n'
    assert body.index(b"\r\nsee") == cr_at
    path = write(tmp_path, "straddle.csv", bytes(body))
    want = list(csv.reader(io.StringIO(bytes(body).decode(), newline="")))[1:]
    table, rejects = read_all(open_source(path), ["id", "note"], {"id": "string",
                                                                  "note": "string"})
    assert not rejects and table is not None
    got = [[r["id"], r["note"]] for r in table.to_pylist()]
    assert got == want
    assert got[-2][1] == "Dear team,\r\nsee you"


def test_rejects_are_named_by_their_line_after_blank_lines_and_long_fields(
        tmp_path: Path) -> None:
    """Arrow skips empty lines (no records) and reads fields longer than the csv module's
    128 KiB default: the line of a rejected row is counted the same way."""
    long = "y" * 200_000
    text = f"id,n\na,1\n\n\nb,2\nc,3\ne,{long}\nd,bad\n"  # bad values on lines 7 and 8
    src = write(tmp_path, "lines.csv", text)
    _, rejects = read_all(open_source(src), ["id", "n"], {"id": "string", "n": "integer"})
    assert [(r.record, r.line, r.column) for r in rejects] == [(4, 7, "n"), (5, 8, "n")]
