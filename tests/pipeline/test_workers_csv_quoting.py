"""CSV with quoted line breaks, doubled and stray quotes, bad rows after multi-line records and
a record longer than a block: with ``workers > 1`` the output, the rejects (their records and
lines) and a failing run's error are the single-core run's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import veil
import veil.io.readers
from tests.pipeline.single_core import helpers
from veil.sample import SAMPLE_POLICY

_h = helpers
_spoil, assert_same, head, run_twice = _h._spoil, _h.assert_same, _h.head, _h.run_twice
sample, sample_file = _h.sample, _h.sample_file


@pytest.fixture(autouse=True, params=[2, 3], ids=["split", "parent-parses"])
def split_from(request, monkeypatch) -> None:
    """Each test twice: the workers read their own chunks, and the parent parses."""
    import veil.pipeline.parallel

    monkeypatch.setattr(veil.pipeline.parallel, "SPLIT_MIN_WORKERS", request.param)


def _quarantine(tmp_path: Path) -> Path:
    policy = Path(SAMPLE_POLICY).read_text().replace("on_bad_rows: fail",
                                                     "on_bad_rows: quarantine")
    (tmp_path / "policy.yaml").write_text(policy)
    return tmp_path / "policy.yaml"


def _tricky(sample: Path) -> list[str]:
    """200 rows: values with line breaks and doubled quotes (quoted), an unquoted value with
    a stray quote, a row with a field too many (data row 70) and a bad number (row 90)."""
    quoted = {"XM1X": '"first line\nsecond line"', "XM2X": '"say ""hi""\r\nand\n""bye"""',
              "XM3X": '"""quoted"", with a comma"', "XSTRAYX": 'Par"is'}  # the last unquoted
    lines = _spoil(head(sample, 200), {10: ("memo", "XM1X"), 30: ("memo", "XM2X"),
                                       31: ("city", "XSTRAYX"), 40: ("memo", "XM3X"),
                                       90: ("amount", "not a number")})
    for i in (10, 30, 31, 40):
        for mark, text in quoted.items():
            lines[i] = lines[i].replace(mark, text)
    lines[70] = lines[70].replace(",", ",oops,", 1)
    return lines


@pytest.mark.parametrize("block", [1 << 10, 3 << 10])
def test_quoted_line_breaks_and_stray_quotes(block: int, sample: Path, workspace,
                                             tmp_path: Path, monkeypatch) -> None:
    """Records cut between blocks, never inside quotes: the same output and rejects; the
    bad rows after multi-line records are named by their physical line."""
    monkeypatch.setattr(veil.io.readers, "CSV_BLOCK", block)
    src = tmp_path / "tricky.csv"
    src.write_text("\n".join(_tricky(sample)) + "\n")
    one, two = run_twice(_quarantine(tmp_path), "credit_scoring", src, tmp_path)
    assert_same(one, two, workspace)
    assert one.rejects_path.read_text() == two.rejects_path.read_text()
    rejects = [json.loads(x) for x in two.rejects_path.read_text().splitlines()]
    # data row n is on line n + 1, plus the 1 + 2 line breaks inside rows 10 and 30
    assert [(r["record"], r["line"]) for r in rejects] == [(70, 74), (90, 94)]


def test_a_record_longer_than_a_block_fails_as_one_worker_does(sample: Path, workspace,
                                                               tmp_path: Path,
                                                               monkeypatch) -> None:
    """A chunk that cannot be cut or parsed: the run fails with the single-core error (its
    line and column), and nothing is published."""
    monkeypatch.setattr(veil.io.readers, "CSV_BLOCK", 1 << 10)
    src = tmp_path / "long.csv"
    src.write_text("\n".join(_spoil(head(sample, 120), {100: ("memo", "x" * 3000)})) + "\n")
    errors = []
    for n in (1, 2):
        out = tmp_path / f"w{n}.parquet"
        with pytest.raises(veil.InputError) as info:
            veil.run(SAMPLE_POLICY, "credit_scoring", src, out, workers=n)
        errors.append(str(info.value))
        assert not out.exists()
    assert errors[0] == errors[1] and ":101" in errors[0]
