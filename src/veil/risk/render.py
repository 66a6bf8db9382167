"""Terminal rendering (Rich) of risk reports and anonymization results.

Nothing here computes a figure: it lays out :class:`~veil.risk.metrics.RiskReport` and
:class:`~veil.risk.gate.GateResult`. Class values are shown masked (first character kept),
as the report already holds them.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from rich.console import Console, Group
from rich.markup import escape
from rich.table import Table

from veil.risk.metrics import RiskReport, class_size_buckets

if TYPE_CHECKING:
    from veil.risk.gate import GateResult, ModelCheck

__all__ = ["render_gate", "render_report"]

BAR = 30


def _pct(x: float) -> str:
    return f"{x:.2%}"


def _num(x: float | None, digits: int = 4) -> str:
    if x is None:
        return "-"
    if not math.isfinite(x):
        return "inf"
    return f"{x:.{digits}g}"


def summary_table(r: RiskReport) -> Table:
    t = Table(show_header=False, box=None, pad_edge=False)
    t.add_row("records", f"{r.records:,}")
    t.add_row("equivalence classes", f"{r.classes:,}")
    t.add_row("k (smallest class)", f"{r.k:,}")
    t.add_row(
        "sample uniqueness", f"{_pct(r.sample_uniqueness)} of records are alone in their class"
    )
    t.add_row(
        "prosecutor risk",
        f"highest {_pct(r.prosecutor_risk_highest)}, average {_pct(r.prosecutor_risk_average)}",
    )
    t.add_row(
        "records at risk",
        f"{_pct(r.records_at_risk)} (risk above "
        f"{_pct(r.risk_threshold)}: classes smaller than "
        f"{_smallest_safe(r.risk_threshold):,})",
    )
    p, a = r.population, r.attacker
    if p is not None:
        chosen = f", by {p.chosen}" if p.model == "dankar" else ""
        t.add_row(
            "population",
            f"{p.population_size:,.0f} records (sampling fraction {_num(p.sampling_fraction)})",
        )
        t.add_row(
            "population uniqueness",
            f"{_pct(p.uniqueness)} estimated ({p.model}{chosen}; "
            f"{p.uniques:,.0f} population uniques)",
        )
    if a is not None:
        t.add_row(
            "journalist risk",
            f"highest {_pct(a.journalist_highest)}, average {_pct(a.journalist_average)}, "
            f"{_pct(a.journalist_at_risk)} of records above {_pct(a.threshold)}",
        )
        t.add_row("marketer risk", f"{_pct(a.marketer)} of records re-identified on average")
    d = r.presence
    if d is not None:
        t.add_row(
            "delta-presence",
            f"delta {_num(d['delta_min'])} to {_num(d['delta_max'])} (sample share of its "
            f"population class); {d['classes_not_in_sample']:,} of "
            f"{d['population_classes']:,} population classes hold no sample record",
        )
    return t


def _smallest_safe(threshold: float) -> int:
    """The smallest class size whose risk 1/size is not above the threshold."""
    return max(1, math.ceil(1.0 / threshold - 1e-9))


def distribution_table(r: RiskReport) -> Table:
    t = Table(
        "class size",
        "classes",
        "records",
        "share of records",
        "",
        title="Equivalence class sizes",
        title_justify="left",
    )
    buckets = class_size_buckets(r.class_size_distribution)
    top = max((b["records"] for b in buckets), default=1)
    for b in buckets:
        bar = "█" * max(1, round(BAR * b["records"] / top)) if b["records"] else ""
        style = (
            "red" if b["max"] is not None and b["max"] < _smallest_safe(r.risk_threshold) else ""
        )
        t.add_row(
            b["label"],
            f"{b['classes']:,}",
            f"{b['records']:,}",
            _pct(b["records"] / r.records),
            f"[{style}]{bar}[/]" if style else bar,
        )
    return t


def sensitive_table(r: RiskReport) -> Table | None:
    if not r.sensitive:
        return None
    t = Table(
        "attribute",
        "distinct l",
        "entropy l",
        "recursive c* (l)",
        "t equal",
        "t ordered",
        "t hierarchical",
        "alpha",
        "delta*",
        "beta (basic)",
        "beta (enh.)",
        title="Sensitive attributes (attribute disclosure)",
        title_justify="left",
    )
    for s in r.sensitive.values():
        t.add_row(
            escape(s.attribute),
            f"{s.distinct_l:,}",
            _num(s.entropy_l)
            + (f" (G {_num(s.entropy_l_grassberger)})" if s.entropy_l_grassberger else ""),
            f"{_num(s.recursive_c)} ({s.recursive_l})",
            _num(s.t_equal),
            _num(s.t_ordered),
            _num(s.t_hierarchical),
            _num(s.alpha),
            _num(s.delta),
            _num(s.beta_basic),
            _num(s.beta_enhanced),
        )
    return t


def contributions_table(r: RiskReport) -> Table | None:
    if not r.qi_contributions:
        return None
    t = Table(
        "quasi-identifier",
        "uniqueness without it",
        "drop",
        title="Which quasi-identifier makes records unique",
        title_justify="left",
    )
    for i, c in enumerate(r.qi_contributions):
        name = escape(c.quasi_identifier)
        t.add_row(
            f"[bold]{name}[/]" if i == 0 and c.drop > 0 else name,
            _pct(c.uniqueness_without),
            _pct(c.drop),
        )
    return t


def riskiest_table(r: RiskReport) -> Table | None:
    if not r.riskiest_classes:
        return None
    t = Table(
        "size",
        "risk",
        *[escape(q) for q in r.quasi_identifiers],
        title="Riskiest classes (values masked)",
        title_justify="left",
    )
    for c in r.riskiest_classes:
        t.add_row(
            f"{c.size:,}", _pct(c.risk), *[escape(c.values.get(q, "")) for q in r.quasi_identifiers]
        )
    return t


def report_group(r: RiskReport, title: str | None = None) -> Group:
    parts: list[object] = []
    if title:
        parts.append(title)
    parts.append(summary_table(r))
    for t in (distribution_table(r), sensitive_table(r), contributions_table(r), riskiest_table(r)):
        if t is not None:
            parts.append(t)
    return Group(*parts)  # type: ignore[arg-type]


def render_report(r: RiskReport, console: Console, source: str | None = None) -> None:
    """Print a risk report: key figures, class sizes, sensitive attributes, which QI makes
    records unique, the riskiest classes (masked)."""
    where = f" of [bold]{escape(source)}[/]" if source else ""
    qis = ", ".join(r.quasi_identifiers) or "none (the whole table is one class)"
    console.print(f"Re-identification risk{where}: quasi-identifiers {escape(qis)}")
    console.print(report_group(r))


def _cell(c: ModelCheck | None) -> str:
    if c is None:
        return "-"
    mark = "[green]ok[/]" if c.passed else "[red]fails[/]"
    return f"{c.figure} = {_num(c.value)} {mark}"


def render_gate(g: GateResult, console: Console, output: str | None = None) -> None:
    """Print what an anonymization (or the gate) did: levels, loss, suppression, checks,
    and the figures before and after."""
    t = g.transformation
    if t is not None:
        into = f" into [bold]{escape(output)}[/]" if output else ""
        console.print(
            f"[green]Anonymized[/]{into}: {g.rows_in:,} records in, {g.rows_out:,} out, "
            f"{t.suppressed_records:,} suppressed ({_pct(t.suppressed_share)} of "
            f"{_pct(t.suppression_limit)} allowed)"
        )
        lv = Table(
            "quasi-identifier",
            "level",
            "of",
            "hierarchy",
            title="Generalization",
            title_justify="left",
        )
        for q, level, h in zip(t.quasi_identifiers, t.node, t.hierarchies, strict=True):
            lv.add_row(
                escape(q), str(level), str(h.height), escape(g.hierarchies.get(q, "value or *"))
            )
        console.print(lv)
        console.print(
            f"information loss ({t.quality_model}): {t.info_loss:.6g}; "
            f"{t.nodes_evaluated:,} of {t.nodes_total:,} lattice nodes evaluated "
            f"exactly in {t.elapsed_seconds:.2f} s"
        )
    checks = Table(
        "model", "requirement", "before", "after", title="Privacy models", title_justify="left"
    )
    for i, c in enumerate(g.checks_before):  # the same models, in the same order
        a = g.checks_after[i] if i < len(g.checks_after) else None
        name = c.model["model"] + (f" of {c.model['attribute']}" if "attribute" in c.model else "")

        checks.add_row(escape(name), c.requirement, _cell(c), _cell(a))
    if g.checks_before:
        console.print(checks)
    if g.before is not None and g.after is not None:
        side = Table("", "before", "after", title="Figures", title_justify="left")
        b, a2 = g.before, g.after
        side.add_row("records", f"{b.records:,}", f"{a2.records:,}")
        side.add_row("classes", f"{b.classes:,}", f"{a2.classes:,}")
        side.add_row("k", f"{b.k:,}", f"{a2.k:,}")
        side.add_row("sample uniqueness", _pct(b.sample_uniqueness), _pct(a2.sample_uniqueness))
        side.add_row(
            "prosecutor risk, highest",
            _pct(b.prosecutor_risk_highest),
            _pct(a2.prosecutor_risk_highest),
        )
        side.add_row(
            "prosecutor risk, average",
            _pct(b.prosecutor_risk_average),
            _pct(a2.prosecutor_risk_average),
        )
        side.add_row("records at risk", _pct(b.records_at_risk), _pct(a2.records_at_risk))
        console.print(side)
