"""The span finder the detection rule tests use (every type found in free text) and its spans
of one text as (matched text, type) pairs."""

from __future__ import annotations

from veil.detect import SpanFinder, default_registry


def in_text_finder() -> SpanFinder:
    return SpanFinder(types={r.type for r in default_registry() if r.in_text})


def spans(finder: SpanFinder, text: str) -> set[tuple[str, str]]:
    return {(text[s.start : s.end], s.type) for s in finder.find([text])[0]}
