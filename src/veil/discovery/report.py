"""Render scan results for people (a Rich table) and machines (JSON).

Everything printed comes from the result objects, whose examples are already masked: no
renderer ever sees a full identifier.
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from veil.discovery.columns import ColumnReport
from veil.discovery.scan import ScanResult, SourceScan, TextFileScan, skipped_summary

SKIPPED_SHOWN = 20
SPANS_SHOWN = 200


def to_json(result: ScanResult, *, indent: int | None = 2) -> str:
    """The result as JSON (schema: ``veil_scan`` version, ``kind`` "table" or "text")."""
    return json.dumps(result.to_dict(), indent=indent, ensure_ascii=False, default=str)


def render(result: ScanResult, console: Console, *, spans_shown: int = SPANS_SHOWN) -> None:
    """Print a scan result: a table per column (tables) or spans by line (text files)."""
    if isinstance(result, TextFileScan):
        _render_text(result, console, spans_shown)
    else:
        _render_table(result, console)


def _pct(x: float) -> str:
    if x >= 0.999:
        return "100%"
    return f"{x * 100:.1f}%" if x < 0.1 else f"{x * 100:.0f}%"


def _types_cell(c: ColumnReport) -> Text:
    if c.free_text:
        t = Text("free text", style="bold")
        scanned = max(c.text_values_scanned, 1)
        if c.embedded:
            parts = [f"{k} {_pct(v / scanned)}" for k, v in list(c.embedded.items())[:6]]
            t.append(": " + ", ".join(parts))
            if len(c.embedded) > 6:
                t.append(f", +{len(c.embedded) - 6} more")
        else:
            t.append(": nothing found")
        return t
    if not c.types:
        if c.subject_key:
            return Text("subject identifier (by column name)", style="bold")
        return Text("-", style="dim")
    return Text(", ".join(f"{h.type} {_pct(h.share)}" for h in c.types), style="bold")


def _examples_cell(c: ColumnReport) -> str:
    if c.free_text:
        ex = []
        for t, xs in c.embedded_examples.items():
            if xs:
                ex.append(f"{t}: {xs[0]}")
            if len(ex) == 2:
                break
        return "\n".join(ex)
    if c.types:
        return "\n".join(c.types[0].examples[:2])
    return ""


def _render_table(r: SourceScan, console: Console) -> None:
    rep = r.report
    rate = f", {rep.rows / r.seconds:,.0f} rows/s" if r.seconds > 0 and rep.rows >= 10_000 else ""
    mode = "full scan" if r.mode == "full" else f"sample of the first {rep.rows:,} rows"
    console.print(
        f"[bold]{r.source}[/] ({r.format}): {rep.rows:,} rows, {len(rep.columns)} columns, "
        f"{mode} in {r.seconds:.1f} s{rate}",
        highlight=False,
    )
    t = Table(show_lines=False, header_style="bold")
    t.add_column("column", no_wrap=True)
    t.add_column("found (share of values)")
    t.add_column("conf.", justify="right")
    t.add_column("examples (masked)", no_wrap=True)
    t.add_column("category")
    t.add_column("suggested rule")
    for c in rep.columns:
        style = None if c.pii else "dim"
        conf = f"{c.confidence:.2f}" if c.pii else ""
        cat = c.category or ("?" if not c.pii else "")
        t.add_row(
            Text(c.name, style=style or "bold"),
            _types_cell(c),
            conf,
            _examples_cell(c),
            Text(cat, style=style or ""),
            Text(c.rule or "", style=style or "green"),
        )
    console.print(t)
    pii = rep.pii_columns
    console.print(
        f"{len(pii)} of {len(rep.columns)} columns hold personal data"
        + (f": {', '.join(pii)}" if pii else ""),
        highlight=False,
    )
    if r.user_recognizers:
        console.print(f"user recognizers: {', '.join(r.user_recognizers)}", highlight=False)
    _render_skipped(r, console)
    notes = list(r.notes) + [n for n in rep.notes if not n.endswith("rows/s")]
    for c in rep.columns:
        notes.extend(f"{c.name}: {n}" for n in c.notes if n != "list elements scanned")
    for n in notes:
        console.print(f"[yellow]note:[/] {n}", highlight=False, soft_wrap=True)


def _render_skipped(r: ScanResult, console: Console) -> None:
    if not r.skipped.count:
        return
    console.print(
        f"[yellow]skipped {r.skipped.count:,} unreadable row(s); the scan went on with the "
        "rest:[/]",
        highlight=False,
    )
    for line in skipped_summary(r, SKIPPED_SHOWN):
        console.print(f"  {line}", highlight=False, markup=False, soft_wrap=True)


def _render_text(r: TextFileScan, console: Console, spans_shown: int) -> None:
    console.print(
        f"[bold]{r.source}[/] (text): {r.lines:,} lines, {r.spans_total:,} spans of personal "
        f"data in {r.seconds:.1f} s",
        highlight=False,
    )
    width = max((len(f"{s.line}:{s.col}") for s in r.spans[:spans_shown]), default=4)
    tw = max((len(s.type) for s in r.spans[:spans_shown]), default=4)
    for s in r.spans[:spans_shown]:
        place = f"{s.line}:{s.col}"
        console.print(
            f"{place:<{width}}  {s.type:<{tw}}  {s.masked}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    if len(r.spans) > spans_shown:
        console.print(
            f"... {r.spans_total - spans_shown:,} more (--json lists up to {len(r.spans):,})",
            highlight=False,
        )
    if r.counts:
        console.print(
            "by type: " + ", ".join(f"{k} {v:,}" for k, v in r.counts.items()), highlight=False
        )
    if r.user_recognizers:
        console.print(f"user recognizers: {', '.join(r.user_recognizers)}", highlight=False)
    _render_skipped(r, console)
    for n in r.notes:
        console.print(f"[yellow]note:[/] {n}", highlight=False, soft_wrap=True)


def summary(result: ScanResult) -> dict[str, Any]:
    """A short machine summary (pii columns or span counts), for logs."""
    if isinstance(result, TextFileScan):
        return {"kind": "text", "lines": result.lines, "counts": result.counts}
    return {
        "kind": "table",
        "rows": result.report.rows,
        "pii_columns": result.report.pii_columns,
        "skipped": result.skipped.count,
    }
