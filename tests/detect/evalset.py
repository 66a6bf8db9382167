"""The hand-written evaluation texts in ``data/`` and exact-span scoring.

A line ``Transfer to [[Kwame Mensah]] for rent`` is the text without the brackets and a
``person`` span over "Kwame Mensah"; ``[[Lyon|city]]`` is a ``city`` span. The benchmark
(``benchmarks/bench_scan.py``) reads the same files.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
_MARK = re.compile(r"\[\[(.+?)(?:\|(\w+))?\]\]")


@dataclass(frozen=True)
class Example:
    text: str
    spans: frozenset[tuple[int, int, str]]
    line: int


def parse_line(line: str) -> tuple[str, frozenset[tuple[int, int, str]]]:
    out: list[str] = []
    spans: set[tuple[int, int, str]] = set()
    pos = 0
    n = 0
    for m in _MARK.finditer(line):
        out.append(line[pos : m.start()])
        n += m.start() - pos
        value = m.group(1)
        spans.add((n, n + len(value), m.group(2) or "person"))
        out.append(value)
        n += len(value)
        pos = m.end()
    out.append(line[pos:])
    return "".join(out), frozenset(spans)


def load(name: str) -> list[Example]:
    """The examples of ``data/<name>.txt`` (``names_dev``, ``names_test``)."""
    out = []
    for i, raw in enumerate((DATA / f"{name}.txt").read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip() or raw.startswith("#"):
            continue
        text, spans = parse_line(raw)
        out.append(Example(text, spans, i))
    return out


@dataclass
class Scores:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def score(
    gold: Sequence[Iterable[tuple[int, int, str]]],
    pred: Sequence[Iterable[tuple[int, int, str]]],
    types: Iterable[str] = ("person", "city"),
) -> dict[str, Scores]:
    """Exact-span scores per type and micro-averaged (``"all"``), over ``types`` only."""
    wanted = set(types)
    out: dict[str, Scores] = {t: Scores() for t in [*wanted, "all"]}
    for g, p in zip(gold, pred, strict=True):
        gs = {s for s in g if s[2] in wanted}
        ps = {s for s in p if s[2] in wanted}
        for s in gs & ps:
            out[s[2]].tp += 1
        for s in ps - gs:
            out[s[2]].fp += 1
        for s in gs - ps:
            out[s[2]].fn += 1
    for t in wanted:
        out["all"].tp += out[t].tp
        out["all"].fp += out[t].fp
        out["all"].fn += out[t].fn
    return out


def errors(
    examples: Sequence[Example], pred: Sequence[Iterable[tuple[int, int, str]]], type_: str
) -> list[str]:
    """Readable misses and false spans of ``type_`` (for a failing test's message)."""
    lines = []
    for ex, p in zip(examples, pred, strict=True):
        g = {s for s in ex.spans if s[2] == type_}
        ps = {s for s in p if s[2] == type_}
        for s in sorted(g - ps):
            lines.append(f"line {ex.line}: missed {ex.text[s[0] : s[1]]!r} in {ex.text!r}")
        for s in sorted(ps - g):
            lines.append(f"line {ex.line}: false {ex.text[s[0] : s[1]]!r} in {ex.text!r}")
    return lines
