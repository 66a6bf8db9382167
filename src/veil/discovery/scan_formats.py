"""Which format to read a file with, from its first bytes and its name; a clear error for
binary, compressed or empty files (nothing to scan)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from veil.errors import InputError
from veil.io.readers import CsvOptions

TEXT_SUFFIXES = (".txt", ".log", ".text", ".md")
_SNIFF_BYTES = 64 * 1024


@dataclass(frozen=True)
class Compression:
    """A compressed file starts with ``magic``: it must be decompressed before a scan."""

    name: str
    magic: bytes


COMPRESSIONS: tuple[Compression, ...] = (
    Compression("gzip", b"\x1f\x8b"),
    Compression("zip", b"PK\x03\x04"),
    Compression("bzip2", b"BZh"),
    Compression("xz", b"\xfd7zXZ\x00"),
    Compression("zstd", b"\x28\xb5\x2f\xfd"),
)

FORMATS_BY_SUFFIX = {
    **{suffix: "text" for suffix in TEXT_SUFFIXES},
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".tsv": "csv",
}


def sniff_format(path: Path, csv_options: CsvOptions | None) -> str:
    """The format to read ``path`` with; a clear error for binary, compressed or empty files."""
    size = path.stat().st_size
    if size == 0:
        raise InputError("empty file (0 bytes): nothing to scan", where=str(path))
    with open(path, "rb") as f:
        head = f.read(_SNIFF_BYTES)
    suffix = path.suffix.lower()
    if head.startswith(b"PAR1") or suffix in (".parquet", ".pq"):
        return "parquet"  # the reader says what is wrong with a bad one
    _refuse_compressed(head, path)
    _refuse_binary(head, path, csv_options)
    if suffix in FORMATS_BY_SUFFIX:
        return FORMATS_BY_SUFFIX[suffix]
    if head.lstrip().startswith(b"{"):
        return "jsonl"
    raise InputError(
        "cannot tell the format from the file name (use --format csv, parquet, jsonl or text)",
        where=str(path),
    )


def _refuse_compressed(head: bytes, path: Path) -> None:
    for c in COMPRESSIONS:
        if head.startswith(c.magic):
            raise InputError(
                f"a {c.name}-compressed file: decompress it first, then scan the result",
                where=str(path),
            )


def _refuse_binary(head: bytes, path: Path, csv_options: CsvOptions | None) -> None:
    """NUL bytes in a file that is not UTF-16/32 text: binary data, nothing to scan."""
    encoding = (csv_options or CsvOptions()).encoding.lower().replace("-", "").replace("_", "")
    if encoding.startswith("utf16") or encoding.startswith("utf32"):
        return
    nul = head.find(b"\x00")
    if nul >= 0 and (_binary_share(head) > 0.05 or head.count(b"\x00") > len(head) // 100):
        hint = " (UTF-16 text? use --encoding utf-16)" if _looks_utf16(head) else ""
        raise InputError(
            f"binary data, not text: NUL byte at byte {nul + 1}{hint}; nothing scanned "
            "(veil scan reads CSV, Parquet, JSON lines and plain text)",
            where=str(path),
        )


def _binary_share(head: bytes) -> float:
    """Share of bytes that never occur in text (NUL and most C0 controls)."""
    if not head:
        return 0.0
    text_controls = {9, 10, 12, 13, 27}
    bad = sum(1 for b in head if b < 32 and b not in text_controls)
    return bad / len(head)


def _looks_utf16(head: bytes) -> bool:
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return True
    odd = head[1::2]
    return len(odd) > 16 and odd.count(0) / len(odd) > 0.8
