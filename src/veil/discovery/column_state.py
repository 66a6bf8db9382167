"""What the column scanner remembers about one column between batches."""

from __future__ import annotations

from dataclasses import dataclass, field

from veil.detect.registry import Recognizer
from veil.discovery.column_memo import Memo
from veil.discovery.column_report import ColumnReport


@dataclass
class TypeAcc:
    """Counts for one identifier type in one column (``_text:<type>`` for free text)."""

    rows: int = 0
    candidates: int = 0
    recognizers: set[str] = field(default_factory=set)
    validators: set[str] = field(default_factory=set)
    examples: list[str] = field(default_factory=list)
    distinct_validated: int = 0


class ColumnState:
    """One column's report in the making, its validation caches and its counters."""

    def __init__(self, name: str, arrow_type: str, recs: list[Recognizer]) -> None:
        self.report = ColumnReport(name=name, arrow_type=arrow_type)
        self.name_support = {r.name: r.supports_column(name) for r in recs}
        self.types: dict[str, TypeAcc] = {}
        self.memos: dict[str, Memo] = {}  # recognizer -> validated values and scores
        self.cache: dict[str, dict[int, float]] = {}  # the same, for Matcher.validate_each
        self.force_text = False
        self.abandoned: set[str] = set()
        self.tried: dict[str, int] = {}
        self.passed: dict[str, int] = {}
        self.batches = 0
        self.distinct_sum = 0  # exact with one batch, an upper bound with more
        self.text_mode: bool | None = None
        self.text_seen = 0
        self.dob_rows = 0
        self.dob_ok = 0
        self.kind = "string"

    def acc(self, type_: str) -> TypeAcc:
        a = self.types.get(type_)
        if a is None:
            a = self.types[type_] = TypeAcc()
        return a

    def supported(self, recs: list[Recognizer], type_: str) -> bool:
        """The column's name supports some recognizer of ``type_``."""
        return any(self.name_support.get(r.name) for r in recs if r.type == type_)
