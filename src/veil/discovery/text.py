"""The span finder in free text, kept at its old path for code that imports it from here (the
benchmarks, which also run against older commits): it lives in :mod:`veil.detect.text`."""

from __future__ import annotations

from veil.detect.text import (
    CONTEXT_BONUS,
    MAX_TEXT_CHARS,
    Span,
    SpanFinder,
    TextScan,
    default_finder,
    find_spans,
    spacy_ner,
)

__all__ = [
    "CONTEXT_BONUS",
    "MAX_TEXT_CHARS",
    "Span",
    "SpanFinder",
    "TextScan",
    "default_finder",
    "find_spans",
    "spacy_ner",
]
