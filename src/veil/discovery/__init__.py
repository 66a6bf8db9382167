"""Discovery: find personal data in tables (per column) and in free text (spans).

Public entry points::

    from veil.discovery import scan_table, find_spans, default_registry

    report = scan_table(table)              # which columns hold what, with suggested rules
    spans = find_spans(["Transfer to John Smith IBAN DE89 3704 0044 0532 0130 00"])
"""

from __future__ import annotations

from veil.discovery.columns import ColumnReport, ScanReport, TypeHit, scan_table
from veil.discovery.masking import mask
from veil.discovery.registry import (
    CATEGORIES,
    RULES,
    TYPE_INFO,
    VALIDATORS,
    Recognizer,
    Registry,
    builtin_recognizers,
    default_registry,
    recognizer_from_config,
    validator_by_name,
)
from veil.discovery.text import Span, SpanFinder, TextScan, find_spans, spacy_ner

__all__ = [
    "CATEGORIES",
    "RULES",
    "TYPE_INFO",
    "VALIDATORS",
    "ColumnReport",
    "Recognizer",
    "Registry",
    "ScanReport",
    "Span",
    "SpanFinder",
    "TextScan",
    "TypeHit",
    "builtin_recognizers",
    "default_registry",
    "find_spans",
    "mask",
    "recognizer_from_config",
    "scan_table",
    "spacy_ner",
    "validator_by_name",
]
