"""Discovery: find personal data in tables (per column) and in free text (spans).

Public entry points::

    from veil.discovery import scan_table, find_spans, default_registry

    report = scan_table(table)              # which columns hold what, with suggested rules
    spans = find_spans(["Transfer to John Smith IBAN DE89 3704 0044 0532 0130 00"])
    result = scan_source("transactions.csv")  # a file, URL or text file, streamed (veil scan)
    draft = draft_policy(result)            # a starter policy section for the dataset
"""

from __future__ import annotations

from veil.detect.masking import mask
from veil.detect.registry import (
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
from veil.detect.text import Span, SpanFinder, TextScan, find_spans, spacy_ner
from veil.discovery.columns import ColumnReport, ScanReport, TypeHit, scan_table
from veil.discovery.policy_draft import draft_policy, write_policy_draft
from veil.discovery.scan import (
    FULL_SCAN_MAX_BYTES,
    Skipped,
    SourceScan,
    TextFileScan,
    TextSpan,
    scan_source,
    scan_text_file,
)

__all__ = [
    "CATEGORIES",
    "FULL_SCAN_MAX_BYTES",
    "RULES",
    "TYPE_INFO",
    "VALIDATORS",
    "ColumnReport",
    "Recognizer",
    "Registry",
    "ScanReport",
    "Skipped",
    "SourceScan",
    "Span",
    "SpanFinder",
    "TextFileScan",
    "TextScan",
    "TextSpan",
    "TypeHit",
    "builtin_recognizers",
    "default_registry",
    "draft_policy",
    "find_spans",
    "mask",
    "recognizer_from_config",
    "scan_source",
    "scan_table",
    "scan_text_file",
    "spacy_ner",
    "validator_by_name",
    "write_policy_draft",
]
