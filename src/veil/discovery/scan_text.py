"""Plain text files (``.txt``, ``.log``, ``.md``): spans of personal data line by line."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from veil.detect.masking import mask
from veil.detect.registry import Registry, registry_for
from veil.detect.text import SpanFinder, default_finder
from veil.discovery.columns import MAX_VALUE_CHARS
from veil.discovery.scan_readers import physical_lines
from veil.discovery.scan_results import SkipLog, Skipped, TextFileScan, TextSpan

MAX_SPANS = 10_000  # spans of a text file listed one by one (all are counted)
TEXT_BATCH_LINES = 20_000


def scan_text_file(
    path: str | Path,
    *,
    registry: Registry | None = None,
    policy: Any = None,
    sample: int | None = None,
    max_line_chars: int = MAX_VALUE_CHARS,
    encoding: str = "utf-8",
    max_spans: int = MAX_SPANS,
    user_recognizers: Sequence[str] = (),
) -> TextFileScan:
    """Find spans of personal data in each line of a text file (``sample=N``: the first N
    lines). Lines that are not valid text are skipped and listed; lines longer than
    ``max_line_chars`` are scanned up to that length and listed."""
    p = Path(path)
    started = time.perf_counter()
    added = list(user_recognizers)
    if policy is not None:
        registry, more = registry_for(policy, registry)
        added += more
    if registry is None:
        finder = default_finder(max_chars=max_line_chars)
    else:
        finder = SpanFinder(registry, max_chars=max_line_chars)
    skipped = SkipLog()
    long_lines = SkipLog()
    spans: list[TextSpan] = []
    counts: dict[str, int] = {}
    total = 0
    lines = 0
    sampled = False
    batch_no: list[int] = []
    batch_text: list[str] = []

    def flush() -> None:
        nonlocal total
        if not batch_text:
            return
        found = finder.find(batch_text)
        for n, text, ss in zip(batch_no, batch_text, found, strict=True):
            for s in ss:
                total += 1
                counts[s.type] = counts.get(s.type, 0) + 1
                if len(spans) < max_spans:
                    spans.append(
                        TextSpan(
                            n,
                            s.start + 1,
                            s.end - s.start,
                            s.type,
                            s.score,
                            mask(text[s.start : s.end], s.type),
                            s.recognizer,
                        )
                    )
        batch_no.clear()
        batch_text.clear()

    for n, text in physical_lines(p, encoding, skipped):
        if sample is not None and lines >= sample:
            sampled = True
            break
        lines += 1
        text = text.rstrip("\r\n")
        if len(text) > max_line_chars:
            long_lines.add(Skipped(n, None, f"{len(text):,} characters"))
            text = text[:max_line_chars]
        batch_no.append(n)
        batch_text.append(text)
        if len(batch_text) >= TEXT_BATCH_LINES:
            flush()
    flush()
    notes: list[str] = []
    if skipped.count:
        notes.append(f"{skipped.count:,} line(s) skipped: not readable (listed with their line)")
    if long_lines.count:
        first = long_lines.items[0]
        notes.append(
            f"{long_lines.count:,} line(s) longer than {max_line_chars:,} characters were "
            f"scanned up to that length (first: {first.place(str(p))}, {first.reason})"
        )
    if total > len(spans):
        notes.append(f"{total - len(spans):,} more span(s) found but not listed (max_spans)")
    if sampled:
        notes.append(f"sample mode: the first {lines:,} lines were scanned")
    return TextFileScan(
        source=str(p),
        size=p.stat().st_size,
        lines=lines,
        spans=spans,
        counts=dict(sorted(counts.items(), key=lambda kv: -kv[1])),
        skipped=skipped,
        truncated=long_lines,
        notes=notes,
        spans_total=total,
        sampled=sampled,
        user_recognizers=added,
        seconds=time.perf_counter() - started,
    )
