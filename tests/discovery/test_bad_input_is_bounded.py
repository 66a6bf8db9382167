"""Bad input given to `veil scan` and the scanners: random bytes, an image, bytes that are not
UTF-8, a line far longer than any limit, 10 MB values in a column. Each ends in one clear error
naming the file, or a result that says what was skipped or cut, never a traceback, and the
memory a scan holds stays bounded by its limits, not by the input (checked at a small scale
with a lowered limit; benchmarks/bench_scan.py --gigabyte measures a real 1 GB line)."""

from __future__ import annotations

import random
import struct
import tracemalloc
import zlib
from pathlib import Path

import pyarrow as pa
import pytest

from veil.cli import scan as scan_cli
from veil.cli.main import app, main
from veil.detect.text import SpanFinder
from veil.discovery import scan_readers, scan_table
from veil.discovery.scan import scan_source
from veil.discovery.scan_text import scan_text_file

if not any(c.name == "scan" for c in app.registered_commands):
    scan_cli.register(app)


_RNG = random.Random(2026)
NOISE = _RNG.randbytes(100_000)


def _png(width: int, height: int) -> bytes:
    """A real (decodable) RGB PNG of random pixels."""
    raw = b"".join(b"\x00" + _RNG.randbytes(width * 3) for _ in range(height))

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("noise.txt", NOISE),
        ("noise.csv", NOISE),
        ("noise.jsonl", NOISE),
        ("noise.parquet", NOISE),
        ("photo.png", _png(48, 48)),
        ("photo.csv", _png(48, 48)),
    ],
)
def test_random_bytes_or_an_image_is_one_clear_error(
    tmp_path: Path, capsys, name: str, content: bytes
) -> None:
    p = tmp_path / name
    p.write_bytes(content)
    assert main(["scan", str(p)]) == 4
    out, err = capsys.readouterr()
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and str(p) in lines[0], err
    assert "Traceback" not in err + out


def test_bytes_that_are_not_utf8_are_skipped_lines_named_by_number(tmp_path: Path) -> None:
    p = tmp_path / "latin.txt"
    high = bytes(_RNG.randrange(0x80, 0x100) for _ in range(5_000))
    p.write_bytes(high + b"\nwrite to jan.kowalski@example.pl\n" + high + b"\n")
    result = scan_text_file(p)
    assert [s.line for s in result.skipped.items] == [1, 3]
    assert "not valid utf-8" in result.skipped.items[0].reason
    assert result.counts == {"email": 1}


@pytest.fixture
def one_mib_lines(monkeypatch) -> int:
    """The line limit lowered from 64 MiB to 1 MiB: a 24 MB line stands for a 1 GB one."""
    monkeypatch.setattr(scan_readers, "MAX_LINE_BYTES", 1024**2)
    return 1024**2


def _long_line_file(path: Path, size: int, after: str) -> None:
    with path.open("wb") as f:  # written in pieces: the test holds no long string
        for _ in range(size // 100_000):
            f.write(b"DE89 3704 0044 0532 0130 00 paid " * 3_000)
        f.write(b"\n" + after.encode() + b"\n")


def test_a_line_over_the_limit_is_skipped_and_listed_in_bounded_memory(
    tmp_path: Path, one_mib_lines: int
) -> None:
    p = tmp_path / "one-line.log"
    _long_line_file(p, 24_000_000, "call +49 30 901820 about it")
    warm = tmp_path / "warm.log"
    warm.write_text("call +49 30 901820 about it\n")
    scan_text_file(warm)  # the finder's word lists load once per process, outside the count
    tracemalloc.start()
    try:
        result = scan_text_file(p)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [(s.line, s.reason) for s in result.skipped.items] == [(1, "line longer than 1 MiB")]
    assert result.lines == 1 and result.counts == {"phone": 1}
    # bounded by the limit (one line read, one 1 MiB chunk drained), not by the 24 MB line
    assert peak < 6 * one_mib_lines


def test_a_csv_row_over_the_limit_is_skipped_and_the_rest_scanned(
    tmp_path: Path, one_mib_lines: int
) -> None:
    p = tmp_path / "rows.csv"
    with p.open("w") as f:
        f.write("name,email\n")
        for i in range(50):
            f.write(f"row {i},person{i}@example.org\n")
    with p.open("ab") as f:
        f.write(b'"' + b"x" * 3_000_000 + b'",nobody@example.org\n')
        f.write(b"last,last@example.org\n")
    result = scan_source(p)
    assert result.skipped.count == 1 and "longer than 1 MiB" in result.skipped.items[0].reason
    assert result.column("email").top_type == "email"


def test_ten_megabyte_values_in_a_column_are_cut_and_reported() -> None:
    digits = "4" * 10_000_000
    text = "Kunde Maria Schneider, IBAN DE89 3704 0044 0532 0130 00. " + "bla " * 2_500_000
    table = pa.table(
        {
            "blob": [digits, "12345", digits] + ["67890"] * 7,
            "memo": [text, "ok"] * 5,
        }
    )
    report = scan_table(table)
    blob, memo = report.columns
    assert blob.truncated_values == 2 and blob.top_type is None
    assert any("longer than 10000 characters" in n for n in blob.notes)
    assert memo.free_text and memo.truncated_values == 5
    assert memo.embedded.get("iban") == 5  # what lies inside the scanned part is found


def test_binary_values_in_text_are_decoded_and_reported() -> None:
    finder = SpanFinder()
    garbage = [_RNG.randbytes(20_000) for _ in range(3)] + [b"mail to a.b@example.com"]
    got = finder.scan(garbage)
    assert got.replaced_bytes == [0, 1, 2]
    assert [s.type for s in got.spans[3]] == ["email"]
