"""The workers read their own byte ranges of a CSV file (`veil.pipeline.csv_split`): the parent's
cuts give pyarrow's streaming reader's batches, one for one, whatever the block size, quoting
(line breaks and doubled or stray quotes in values), line ends (CRLF, a CR and its LF in two
blocks) or blank lines; a header alone, or fewer batches than workers, give the single-core
output; bad rows are named by their file line; a file changed while it is read fails the run."""

from __future__ import annotations

import csv
import io
import json
import os
import pickle
from pathlib import Path
from typing import Any

import pytest

import veil
import veil.io.readers
from tests.pipeline.single_core import helpers
from veil.errors import InputError
from veil.io.readers import CsvSource
from veil.pipeline.csv_split import chunks, parse, splittable
from veil.sample import SAMPLE_POLICY

_h = helpers
_spoil, assert_same, head, run_twice = _h._spoil, _h.assert_same, _h.head, _h.run_twice
sample, sample_file = _h.sample, _h.sample_file


@pytest.fixture(autouse=True)
def split_with_two_workers(monkeypatch) -> None:
    """The split is kept for 3 workers and more; these tests run it with 2."""
    import veil.pipeline.parallel

    monkeypatch.setattr(veil.pipeline.parallel, "SPLIT_MIN_WORKERS", 2)

TRICKY = (b'id,name,memo\r\n'
          b'1,Ann,"two\r\nlines"\r\n'
          b'2,"Bo ""B"" Smith",plain\r\n'
          b'\r\n'
          b'3,Par"is,"a, b"\r\n'  # a stray quote inside an unquoted value
          b'4,Cy,"""quoted"", then\nmore"\r\n'
          b'5,Di,\r\n'
          b'6,"Ed\rEd",x\r\n'
          b'7,Fay,last')  # no line end at the end


def _split(path: Path) -> list[Any]:
    source = CsvSource(path)
    digest: list[str] = []
    out = [parse(c).batch for c in chunks(source, source.header(), digest)]
    assert digest == [CsvSource(path).digest or _digest_of(path)]
    return out


def _digest_of(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def _serial(path: Path) -> list[Any]:
    source = CsvSource(path)
    return [r.batch for r in source.raw_batches(source.header(), {}, lambda r: None)]


@pytest.mark.parametrize("block", list(range(24, 120, 5)))
def test_cuts_are_the_streaming_readers_batches(block: int, tmp_path: Path,
                                                monkeypatch) -> None:
    """Every block size from smaller than a record to the whole file, CRLF line ends, a CR
    and its LF in two blocks, blank lines, quoted line breaks, doubled and stray quotes."""
    monkeypatch.setattr(veil.io.readers, "CSV_BLOCK", block)
    src = tmp_path / "tricky.csv"
    src.write_bytes(TRICKY * 3)  # the later copies' header lines are data rows
    if not splittable(CsvSource(src)):
        return  # the first block holds no complete record: the parent parses, as before
    try:
        serial = _serial(src)
    except InputError:  # a record longer than pyarrow accepts at this block size
        with pytest.raises(InputError):
            veil.run(SAMPLE_POLICY, "credit_scoring", src, tmp_path / "o.parquet", workers=2)
        return
    split = _split(src)
    assert [b.num_rows for b in split] == [b.num_rows for b in serial]
    assert all(a.equals(b) for a, b in zip(split, serial, strict=True))


@pytest.mark.parametrize("quoted", [False, True])
@pytest.mark.parametrize("shift", [-1, 0, 1])
def test_a_crlf_across_a_block_boundary_gives_the_serial_batches(
        quoted: bool, shift: int, tmp_path: Path, monkeypatch) -> None:
    """A record's CRLF (or a quoted value's) whose CR ends a block: the serial reader holds
    the CR back for the next block (apache/arrow#51368), and the split's cuts do the same."""
    block = 256
    monkeypatch.setattr(veil.io.readers, "CSV_BLOCK", block)
    data = bytearray(b"id,name,memo\r\n")
    i = 0
    while len(data) < block - 40:
        data += b"%d,n%d,plain\r\n" % (i, i)
        i += 1
    cr_at = block - 1 + shift
    tail = b'x,"a\r\nb",z\r\n' if quoted else b"x,y,z\r\n"
    lead = tail.index(b"\r")
    data += b"p,q," + b"m" * (cr_at - len(data) - lead - 4 - 2) + b"\r\n" + tail
    assert data[cr_at:cr_at + 2] == b"\r\n"
    while len(data) < 3 * block:
        data += b"%d,n%d,plain\r\n" % (i, i)
        i += 1
    src = tmp_path / "boundary.csv"
    src.write_bytes(bytes(data))
    serial, split = _serial(src), _split(src)
    assert [b.num_rows for b in split] == [b.num_rows for b in serial]
    assert all(a.equals(b) for a, b in zip(split, serial, strict=True))
    want = list(csv.reader(io.StringIO(bytes(data).decode(), newline="")))[1:]
    assert [list(r.values()) for b in serial for r in b.to_pylist()] == want


def test_a_chunk_is_a_place_in_the_file_not_its_bytes(tmp_path: Path, monkeypatch) -> None:
    """What crosses the pipe to a worker is the chunk's offset and length, never its rows."""
    monkeypatch.setattr(veil.io.readers, "CSV_BLOCK", 64 << 10)
    src = tmp_path / "big.csv"
    src.write_bytes(b"id,memo\n" + b"".join(b"%d,%s\n" % (i, b"x" * 90) for i in range(5000)))
    source = CsvSource(src)
    parts = list(chunks(source, ["id", "memo"], []))
    assert len(parts) > 5
    assert all(len(pickle.dumps(c)) < 400 < c.length for c in parts)
    assert sum(parse(c).batch.num_rows for c in parts) == 5000


def test_a_file_changed_while_read_fails(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(veil.io.readers, "CSV_BLOCK", 1 << 10)
    src = tmp_path / "in.csv"
    src.write_bytes(b"id,memo\n" + b"".join(b"%d,abc\n" % i for i in range(2000)))
    it = chunks(CsvSource(src), ["id"], [])
    next(it)
    with open(src, "ab") as f:
        f.write(b"9999,new\n")
    os.utime(src, ns=(1, 1))
    with pytest.raises(InputError, match="changed while the run read it"):
        list(it)


def test_a_file_changed_after_the_parents_last_read_fails_the_run(
        sample: Path, workspace, tmp_path: Path, monkeypatch) -> None:
    """The workers read their chunks after the parent has read the last block: a change then
    is caught after their last read; the run publishes nothing."""
    import veil.pipeline.csv_split as cs

    src = tmp_path / "in.csv"
    src.write_text("\n".join(head(sample, 200)) + "\n")
    real = cs.unchanged

    def then_change(source, before, after):  # the parent's own check passes, then a writer
        real(source, before, after)
        with open(src, "a") as f:
            f.write(head(sample, 201)[-1] + "\n")

    monkeypatch.setattr(cs, "unchanged", then_change)
    out = tmp_path / "o.parquet"
    with pytest.raises(InputError, match="changed while the run read it"):
        veil.run(SAMPLE_POLICY, "credit_scoring", src, out, workers=2)
    assert not out.exists()


@pytest.mark.parametrize("text", ["\n", "\r\n"])
def test_a_header_alone(text: str, sample: Path, workspace, tmp_path: Path) -> None:
    src = tmp_path / "empty.csv"
    src.write_text(head(sample, 0)[0] + text)
    one, two = run_twice(SAMPLE_POLICY, "credit_scoring", src, tmp_path)
    assert one.rows_out == two.rows_out == 0
    assert one.receipt["input"]["sha256"] == two.receipt["input"]["sha256"] is not None


def test_a_header_without_a_line_end_fails_as_one_worker_does(sample: Path, workspace,
                                                              tmp_path: Path) -> None:
    src = tmp_path / "empty.csv"
    src.write_text(head(sample, 0)[0])
    assert not splittable(CsvSource(src))  # the parent reads it, as one worker does
    errors = []
    for n in (1, 2):
        with pytest.raises(InputError) as info:
            veil.run(SAMPLE_POLICY, "credit_scoring", src, tmp_path / f"o{n}.parquet",
                     workers=n)
        errors.append(str(info.value))
    assert errors[0] == errors[1]


def test_fewer_batches_than_workers(sample: Path, workspace, tmp_path: Path) -> None:
    src = tmp_path / "three.csv"
    src.write_text("\r\n".join(head(sample, 3)))  # CRLF, no line end after the last row
    assert splittable(CsvSource(src))
    one, two = run_twice(SAMPLE_POLICY, "credit_scoring", src, tmp_path)
    assert_same(one, two, workspace)
    assert two.rows_out == 3


def test_bad_rows_named_by_line_in_a_crlf_file(sample: Path, workspace, tmp_path: Path,
                                               monkeypatch) -> None:
    """CRLF line ends and quoted line breaks before the bad rows: the same rejects (records,
    lines) as one worker's, with the physical line of each."""
    monkeypatch.setattr(veil.io.readers, "CSV_BLOCK", 2 << 10)
    policy = Path(SAMPLE_POLICY).read_text().replace("on_bad_rows: fail",
                                                     "on_bad_rows: quarantine")
    (tmp_path / "policy.yaml").write_text(policy)
    lines = _spoil(head(sample, 120), {20: ("memo", "XBREAKX"), 95: ("amount", "n/a")})
    lines[20] = lines[20].replace("XBREAKX", '"one\r\ntwo\r\nthree"')
    lines[60] = lines[60].replace(",", ",extra,", 1)
    src = tmp_path / "crlf.csv"
    src.write_bytes("\r\n".join(lines).encode() + b"\r\n")
    assert splittable(CsvSource(src))
    one, two = run_twice(tmp_path / "policy.yaml", "credit_scoring", src, tmp_path)
    assert_same(one, two, workspace)
    rejects = [json.loads(x) for x in two.rejects_path.read_text().splitlines()]
    assert one.rejects_path.read_text() == two.rejects_path.read_text()
    # data row n is on line n + 1, plus the two line breaks inside row 20
    assert [(r["record"], r["line"]) for r in rejects] == [(60, 63), (95, 98)]
