"""What the column scanner reports: per column the identifier types found (:class:`TypeHit`),
and per table the columns (:class:`ScanReport`). Examples are masked; no value is kept."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class TypeHit:
    """One identifier type found in a column."""

    type: str
    share: float  # of non-null values that matched AND validated
    rows: int  # values (rows) that matched and validated
    confidence: float
    recognizers: list[str]
    validators: list[str]
    examples: list[str]  # masked
    name_support: bool = False


@dataclass
class ColumnReport:
    name: str
    arrow_type: str
    rows: int = 0
    non_null: int = 0  # neither null nor blank (empty or only whitespace)
    blank: int = 0  # empty or whitespace-only strings, counted as missing
    distinct: int | None = None
    types: list[TypeHit] = field(default_factory=list)
    category: str | None = None
    rule: str | None = None
    confidence: float = 0.0
    free_text: bool = False
    embedded: dict[str, int] = field(default_factory=dict)  # free text: values holding a type
    embedded_examples: dict[str, list[str]] = field(default_factory=dict)  # masked, per type
    text_values_scanned: int = 0
    truncated_values: int = 0
    name_hint: str | None = None
    subject_key: bool = False  # named like the data subject's identifier (SUBJECT_ID_NAME)
    notes: list[str] = field(default_factory=list)

    @property
    def pii(self) -> bool:
        """True when the column holds personal data found by value, is free text, or is named
        like the subject's identifier."""
        return bool(self.types) or self.free_text or self.subject_key

    @property
    def top_type(self) -> str | None:
        return self.types[0].type if self.types else ("free_text" if self.free_text else None)


@dataclass
class ScanReport:
    columns: list[ColumnReport]
    rows: int
    sampled: bool
    seconds: float
    notes: list[str] = field(default_factory=list)

    def column(self, name: str) -> ColumnReport:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def pii_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.pii]

    def suggested_rules(self) -> dict[str, str]:
        """column -> suggested policy rule, for columns that hold personal data."""
        return {c.name: c.rule for c in self.columns if c.pii and c.rule}

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for c, d in zip(self.columns, out["columns"], strict=True):
            d["pii"] = c.pii
        return out
