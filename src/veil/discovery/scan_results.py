"""What a scan of a file or table returns: findings, and what could not be read.

Results never hold a value: examples and spans are masked, skipped rows are named by place
(line, record, column) and reason only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from veil.discovery.columns import ScanReport

MAX_LISTED = 1_000  # skipped rows / long cells listed one by one (all are counted)
SCHEMA_VERSION = 1


# -- what could not be read ------------------------------------------------------------


@dataclass
class Skipped:
    """A row (or line) the scan could not read: where, and why. Never holds a value."""

    line: int | None  # 1-based physical line, when known
    record: int | None  # 1-based data record (header excluded), when known
    reason: str
    column: str | None = None

    def place(self, source: str) -> str:
        if self.line:
            where = f"{source}:{self.line}"
        elif self.record:
            where = f"{source}: record {self.record}"
        else:
            where = source
        return where + (f", column '{self.column}'" if self.column else "")


@dataclass
class SkipLog:
    """Skipped rows: all counted, the first :data:`MAX_LISTED` listed."""

    count: int = 0
    items: list[Skipped] = field(default_factory=list)
    limit: int = MAX_LISTED

    def add(self, item: Skipped) -> None:
        self.count += 1
        if len(self.items) < self.limit:
            self.items.append(item)

    def clear(self) -> None:
        self.count = 0
        self.items.clear()

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "listed": len(self.items),
            "rows": [asdict(s) for s in self.items],
        }


# -- results ----------------------------------------------------------------------------


@dataclass
class SourceScan:
    """The result of scanning a table (file or database): per-column findings and what was
    skipped. ``field_types`` are the policy field types the values fit (for drafts)."""

    source: str
    format: str
    size: int | None
    mode: str  # "full" | "sample"
    sample: int | None
    report: ScanReport
    skipped: SkipLog
    field_types: dict[str, str]
    notes: list[str] = field(default_factory=list)
    user_recognizers: list[str] = field(default_factory=list)
    sha256: str | None = None
    seconds: float = 0.0
    kind: str = "table"

    @property
    def rows(self) -> int:
        return self.report.rows

    def column(self, name: str):  # type: ignore[no-untyped-def]
        return self.report.column(name)

    def to_dict(self) -> dict[str, Any]:
        rep = self.report
        columns = []
        for c in rep.columns:
            d = asdict(c)
            d["pii"] = c.pii
            d["top_type"] = c.top_type
            d["field_type"] = self.field_types.get(c.name, "string")
            columns.append(d)
        return {
            "veil_scan": SCHEMA_VERSION,
            "kind": "table",
            "source": {
                "ref": self.source,
                "format": self.format,
                "size_bytes": self.size,
                "sha256": self.sha256,
            },
            "mode": self.mode,
            "sample_rows": self.sample,
            "rows_scanned": rep.rows,
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(rep.rows / self.seconds) if self.seconds > 0 else None,
            "pii_columns": rep.pii_columns,
            "suggested_rules": rep.suggested_rules(),
            "columns": columns,
            "skipped": self.skipped.to_dict(),
            "notes": self.notes + rep.notes,
            "user_recognizers": self.user_recognizers,
        }


@dataclass
class TextSpan:
    """A span of personal data in a text file: 1-based line and column (in characters),
    ``length`` characters long. ``masked`` is the value masked, never the value."""

    line: int
    col: int
    length: int
    type: str
    score: float
    masked: str
    recognizer: str = ""


@dataclass
class TextFileScan:
    """The result of scanning a plain text file line by line."""

    source: str
    size: int | None
    lines: int
    spans: list[TextSpan]
    counts: dict[str, int]
    skipped: SkipLog
    truncated: SkipLog
    notes: list[str] = field(default_factory=list)
    spans_total: int = 0
    sampled: bool = False
    user_recognizers: list[str] = field(default_factory=list)
    seconds: float = 0.0
    kind: str = "text"
    format: str = "text"

    def to_dict(self) -> dict[str, Any]:
        return {
            "veil_scan": SCHEMA_VERSION,
            "kind": "text",
            "source": {"ref": self.source, "format": "text", "size_bytes": self.size},
            "mode": "sample" if self.sampled else "full",
            "lines_scanned": self.lines,
            "seconds": round(self.seconds, 3),
            "counts": self.counts,
            "spans_total": self.spans_total,
            "spans": [asdict(s) for s in self.spans],
            "skipped": self.skipped.to_dict(),
            "long_lines": self.truncated.to_dict(),
            "notes": self.notes,
            "user_recognizers": self.user_recognizers,
        }


ScanResult = SourceScan | TextFileScan


def skipped_summary(result: ScanResult, limit: int = 20) -> list[str]:
    """One line per skipped row (up to ``limit``): place and reason, never a value."""
    out = [s.place(result.source) + ": " + s.reason for s in result.skipped.items[:limit]]
    more = result.skipped.count - len(out)
    if more > 0:
        out.append(f"... and {more:,} more")
    return out
