"""Detect: find personal data in text, the core that discovery and the audit log share.

The recognizers (one small module per identifier family), their registry, the columnar span
finder and masking for reports live here, in the services layer, so that the audit log can
screen its own free-text fields (``veil.audit.screen``) without importing discovery, which
scans sources and columns on top of this core and re-exports these names::

    from veil.detect import find_spans

    spans = find_spans(["Transfer to John Smith IBAN DE89 3704 0044 0532 0130 00"])
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
    registry_for,
    validator_by_name,
)
from veil.detect.text import (
    Span,
    SpanFinder,
    TextScan,
    TextTruncated,
    default_finder,
    find_spans,
    spacy_ner,
)

__all__ = [
    "CATEGORIES",
    "RULES",
    "TYPE_INFO",
    "VALIDATORS",
    "Recognizer",
    "Registry",
    "Span",
    "SpanFinder",
    "TextScan",
    "TextTruncated",
    "builtin_recognizers",
    "default_finder",
    "default_registry",
    "find_spans",
    "mask",
    "recognizer_from_config",
    "registry_for",
    "spacy_ner",
    "validator_by_name",
]
